#include "megalide/layers/shape_ops.h"

#include <algorithm>

#include "checks.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::Var;

Tensor concat(const std::string &name, const std::vector<Tensor> &inputs, int dim) {
    const std::string label = layer_label("concat", name);
    require(!inputs.empty(), label, "needs at least one input");
    const int rank = inputs[0].rank();
    const int d = normalize_dim(label, dim, rank);
    Shape shape = inputs[0].shape;
    shape[static_cast<size_t>(d)] = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor &t = inputs[i];
        bool compatible = t.rank() == rank;
        for (int k = 0; compatible && k < rank; ++k) {
            compatible = k == d || t.dim(k) == inputs[0].dim(k);
        }
        if (!compatible) {
            fail(label, "input " + std::to_string(i) + " " + to_string(t.shape) +
                            " does not match input 0 " + to_string(inputs[0].shape) +
                            " outside the concatenated dimension " + std::to_string(d));
        }
        shape[static_cast<size_t>(d)] += t.dim(d);
    }

    std::vector<Var> vars = make_vars(rank);
    const Expr along = vars[static_cast<size_t>(d)];
    // Select from the last input backwards; reads are clamped for bounds inference.
    Expr value;
    int offset = shape[static_cast<size_t>(d)];
    for (size_t i = inputs.size(); i-- > 0;) {
        const Tensor &t = inputs[i];
        offset -= t.dim(d);
        std::vector<Expr> coords = as_exprs(vars);
        coords[static_cast<size_t>(d)] = Halide::clamp(along - offset, 0, t.dim(d) - 1);
        value = value.defined() ? Halide::select(along >= offset + t.dim(d), value, t(coords))
                                : t(coords);
    }
    Func out(name);
    out(vars) = value;
    return {out, shape};
}

Tensor pad(const std::string &name, const Tensor &x, const std::vector<int> &before,
           const std::vector<int> &after, PadMode mode, float value) {
    const std::string label = layer_label("pad", name);
    require_valid_shape(label, "input", x);
    require(static_cast<int>(before.size()) == x.rank() &&
                static_cast<int>(after.size()) == x.rank(),
            label, "needs one pad pair per dimension of " + describe("input", x) + ", got " +
                       std::to_string(before.size()) + " and " + std::to_string(after.size()));
    Shape shape = x.shape;
    for (int d = 0; d < x.rank(); ++d) {
        const int b = before[static_cast<size_t>(d)], a = after[static_cast<size_t>(d)];
        require(b >= 0 && a >= 0, label,
                "negative padding (" + std::to_string(b) + ", " + std::to_string(a) +
                    ") on dimension " + std::to_string(d) + " of " + describe("input", x));
        if (mode == PadMode::Reflect) {
            require(b < x.dim(d) && a < x.dim(d), label,
                    "reflect padding (" + std::to_string(b) + ", " + std::to_string(a) +
                        ") must be smaller than extent " + std::to_string(x.dim(d)) +
                        " of dimension " + std::to_string(d));
        }
        shape[static_cast<size_t>(d)] += b + a;
    }

    std::vector<Var> vars = make_vars(x.rank());
    std::vector<Expr> coords;
    Expr inside = Halide::Internal::const_true();
    for (int d = 0; d < x.rank(); ++d) {
        const int extent = x.dim(d);
        Expr i = vars[static_cast<size_t>(d)] - before[static_cast<size_t>(d)];
        inside = inside && i >= 0 && i < extent;
        if (mode == PadMode::Reflect) {
            i = Halide::select(i < 0, -i, i);
            i = Halide::select(i > extent - 1, 2 * (extent - 1) - i, i);
        }
        coords.push_back(Halide::clamp(i, 0, extent - 1));
    }
    Func out(name);
    out(vars) = mode == PadMode::Constant ? Halide::select(inside, x(coords), value) : x(coords);
    return {out, shape};
}

Tensor transpose(const std::string &name, const Tensor &x, const std::vector<int> &perm) {
    const std::string label = layer_label("transpose", name);
    std::vector<int> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    bool valid = static_cast<int>(perm.size()) == x.rank();
    for (int i = 0; valid && i < x.rank(); ++i) valid = sorted[static_cast<size_t>(i)] == i;
    if (!valid) {
        std::string p;
        for (int v : perm) p += (p.empty() ? "" : ", ") + std::to_string(v);
        fail(label, "perm [" + p + "] is not a permutation of the dimensions of " +
                        describe("input", x));
    }
    std::vector<Var> vars = make_vars(x.rank());
    std::vector<Expr> coords(perm.size());
    Shape shape(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) {
        coords[static_cast<size_t>(perm[i])] = vars[i];
        shape[i] = x.dim(perm[i]);
    }
    Func out(name);
    out(vars) = x(coords);
    return {out, shape};
}

Tensor reshape(const std::string &name, const Tensor &x, const Shape &shape) {
    const std::string label = layer_label("reshape", name);
    for (int extent : shape) {
        require(extent >= 1, label, "target shape " + to_string(shape) + " has an extent < 1");
    }
    if (element_count(shape) != element_count(x.shape)) {
        fail(label, "cannot reshape " + describe("input", x) + " (" +
                        std::to_string(element_count(x.shape)) + " elements) to " +
                        to_string(shape) + " (" + std::to_string(element_count(shape)) +
                        " elements)");
    }
    // Dimensions fall into groups whose extents multiply to the same count on both sides
    // (e.g. 512 <- 64 x 8, then 256 <- 256). Within a group: the linear index of the output
    // coordinate (innermost fastest), then the input coordinate with that index. Groups keep
    // bounds tight: a tile of rows of the output reads only those rows of the input.
    std::vector<Var> vars = make_vars(static_cast<int>(shape.size()));
    std::vector<Expr> coords;
    size_t i = 0, j = 0;
    const size_t n_out = shape.size(), n_in = static_cast<size_t>(x.rank());
    while (i < n_out || j < n_in) {
        const size_t i0 = i, j0 = j;
        long long p_out = 1, p_in = 1;
        if (i < n_out) p_out *= shape[i++];
        if (j < n_in) p_in *= x.dim(static_cast<int>(j++));
        while (p_out != p_in && (i < n_out || j < n_in)) {
            if ((p_out < p_in && i < n_out) || j >= n_in) p_out *= shape[i++];
            else p_in *= x.dim(static_cast<int>(j++));
        }
        Expr linear = 0;
        long long stride = 1;
        for (size_t d = i0; d < i; ++d) {
            linear += vars[d] * static_cast<int>(stride);
            stride *= shape[d];
        }
        stride = 1;
        for (size_t d = j0; d < j; ++d) {
            Expr c = linear / static_cast<int>(stride);
            if (d + 1 < j) c = c % x.dim(static_cast<int>(d));
            coords.push_back(c);
            stride *= x.dim(static_cast<int>(d));
        }
    }
    Func out(name);
    out(vars) = x(coords);
    return {out, shape};
}

Tensor flatten(const std::string &name, const Tensor &x, int inner_dims) {
    const std::string label = layer_label("flatten", name);
    require(inner_dims >= 0 && inner_dims <= x.rank(), label,
            "inner_dims " + std::to_string(inner_dims) + " is out of range for " +
                describe("input", x));
    const Shape inner(x.shape.begin(), x.shape.begin() + inner_dims);
    const Shape outer(x.shape.begin() + inner_dims, x.shape.end());
    return reshape(name, x, {static_cast<int>(element_count(inner)),
                             static_cast<int>(element_count(outer))});
}

}  // namespace megalide::layers
