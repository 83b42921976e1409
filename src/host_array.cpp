#include "megalide/host_array.h"

#include <sstream>

#include "megalide/error.h"

namespace megalide {

std::string to_string(DType dtype) {
    switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    }
    return "unknown";
}

size_t item_size(DType dtype) {
    switch (dtype) {
    case DType::Float32: case DType::Int32: return 4;
    case DType::Float64: case DType::Int64: return 8;
    case DType::Int8: case DType::UInt8: case DType::Bool: return 1;
    }
    return 0;
}

void HostArray::check_element_type(DType requested) const {
    if (requested != dtype) {
        throw Error("array " + describe(dtype, shape) + " holds " + to_string(dtype) +
                    " elements, not " + to_string(requested));
    }
}

int64_t HostArray::element_count() const {
    int64_t n = 1;
    for (int64_t e : shape) n *= e;
    return n;
}

namespace {

template <typename Out, typename Fn>
std::vector<Out> convert(const HostArray &a, Fn cast) {
    const int64_t n = a.element_count();
    if (static_cast<int64_t>(a.bytes.size()) != n * static_cast<int64_t>(item_size(a.dtype))) {
        throw Error("array " + describe(a.dtype, a.shape) + " holds " +
                    std::to_string(a.bytes.size()) + " bytes, expected " +
                    std::to_string(n * static_cast<int64_t>(item_size(a.dtype))));
    }
    std::vector<Out> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        switch (a.dtype) {
        case DType::Float32: out[i] = cast(a.data<float>()[i]); break;
        case DType::Float64: out[i] = cast(a.data<double>()[i]); break;
        case DType::Int8: out[i] = cast(a.data<int8_t>()[i]); break;
        case DType::UInt8: out[i] = cast(a.data<uint8_t>()[i]); break;
        case DType::Bool: out[i] = cast(a.data<uint8_t>()[i] != 0); break;
        case DType::Int32: out[i] = cast(a.data<int32_t>()[i]); break;
        case DType::Int64: out[i] = cast(a.data<int64_t>()[i]); break;
        }
    }
    return out;
}

}  // namespace

std::vector<double> HostArray::to_doubles() const {
    return convert<double>(*this, [](auto v) { return static_cast<double>(v); });
}

std::vector<int64_t> HostArray::to_int64s() const {
    return convert<int64_t>(*this, [](auto v) { return static_cast<int64_t>(v); });
}

HostArray HostArray::from_doubles(DType dtype, std::vector<int64_t> shape,
                                  const std::vector<double> &values) {
    HostArray a;
    a.dtype = dtype;
    a.shape = std::move(shape);
    a.bytes.resize(values.size() * item_size(dtype));
    for (size_t i = 0; i < values.size(); ++i) {
        const double v = values[i];
        switch (dtype) {
        case DType::Float32: a.data<float>()[i] = static_cast<float>(v); break;
        case DType::Float64: a.data<double>()[i] = v; break;
        case DType::Int8: a.data<int8_t>()[i] = static_cast<int8_t>(v); break;
        case DType::UInt8: a.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
        case DType::Bool: a.data<uint8_t>()[i] = v != 0; break;
        case DType::Int32: a.data<int32_t>()[i] = static_cast<int32_t>(v); break;
        case DType::Int64: a.data<int64_t>()[i] = static_cast<int64_t>(v); break;
        }
    }
    return a;
}

namespace {

// A HostArray holding `values` as they are (T is the dtype's element type).
template <typename T>
HostArray copy_of(std::vector<int64_t> shape, const std::vector<T> &values) {
    HostArray a;
    a.dtype = dtype_of<T>();
    a.shape = std::move(shape);
    a.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
    return a;
}

}  // namespace

HostArray HostArray::from_floats(std::vector<int64_t> shape, const std::vector<float> &values) {
    return copy_of(std::move(shape), values);
}

HostArray HostArray::from_int64s(std::vector<int64_t> shape, const std::vector<int64_t> &values) {
    return copy_of(std::move(shape), values);
}

std::string describe(DType dtype, const std::vector<int64_t> &shape) {
    std::ostringstream out;
    out << to_string(dtype) << '[';
    for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
}

}  // namespace megalide
