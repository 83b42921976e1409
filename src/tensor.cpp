#include "megalide/tensor.h"

#include <cstring>
#include <sstream>

#include "megalide/error.h"
#include "megalide/stage_role.h"

namespace megalide {

std::string to_string(const Shape &shape) {
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
}

long long element_count(const Shape &shape) {
    long long count = 1;
    for (int extent : shape) count *= extent;
    return count;
}

Halide::Expr Tensor::operator()(const std::vector<Halide::Expr> &coords) const {
    return func(coords);
}

std::vector<Halide::Var> make_vars(int rank, const std::string &prefix) {
    std::vector<Halide::Var> vars;
    vars.reserve(static_cast<size_t>(rank));
    for (int i = 0; i < rank; ++i) vars.emplace_back(prefix + std::to_string(i));
    return vars;
}

std::vector<Halide::Expr> as_exprs(const std::vector<Halide::Var> &vars) {
    return {vars.begin(), vars.end()};
}

Halide::Buffer<> constant_buffer(Halide::Type type, const std::vector<int> &extents) {
    std::vector<int> padded = extents;
    if (!padded.empty()) {
        int64_t bytes = type.bytes();
        for (int e : padded) bytes *= e;
        if (bytes > 0 && bytes < 64) {
            const int64_t outer_bytes = bytes / padded.back();
            padded.back() = static_cast<int>((64 + outer_bytes - 1) / outer_bytes);
        }
    }
    Halide::Buffer<> b(type, padded);
    if (b.size_in_bytes()) std::memset(b.data(), 0, b.size_in_bytes());
    return b;
}

Tensor tensor_from_buffer(const std::string &name, const Halide::Buffer<> &buffer, const Shape &shape) {
    Tensor t = tensor_from_buffer(name, buffer);
    t.shape = shape;
    return t;
}

Tensor tensor_from_buffer(const std::string &name, const Halide::Buffer<> &buffer) {
    Shape shape;
    for (int i = 0; i < buffer.dimensions(); ++i) {
        if (buffer.dim(i).min() != 0) {
            throw Error("tensor '" + name + "': buffer dimension " + std::to_string(i) +
                        " starts at " + std::to_string(buffer.dim(i).min()) + ", expected 0");
        }
        shape.push_back(buffer.dim(i).extent());
    }
    std::vector<Halide::Var> vars = make_vars(buffer.dimensions());
    Halide::Func func(name);
    func(vars) = buffer(as_exprs(vars));
    record_stage(func, StageRole::Constant);
    return {func, shape, buffer.type()};
}

Tensor tensor_from_param(const Halide::ImageParam &param, const Shape &shape) {
    if (static_cast<int>(shape.size()) != param.dimensions()) {
        throw Error("tensor '" + param.name() + "': shape " + to_string(shape) + " has rank " +
                    std::to_string(shape.size()) + " but the parameter has rank " +
                    std::to_string(param.dimensions()));
    }
    std::vector<Halide::Var> vars = make_vars(param.dimensions());
    Halide::Func func(param.name() + "_in");
    func(vars) = param(as_exprs(vars));
    record_stage(func, StageRole::Input);
    return {func, shape, param.type()};
}

}  // namespace megalide
