// HostArray: a dense C-order array in host memory with its element type. Graph constants
// (ONNX initializers), .npy files and pipeline inputs and outputs travel as HostArrays.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "megalide/dtype.h"

namespace megalide {

/// NumPy order: `shape` lists dimensions outermost first ({} is a scalar); `bytes` holds
/// element_count() elements, little-endian, C order.
struct HostArray {
    DType dtype = DType::Float32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;

    int64_t element_count() const;

    /// bytes viewed as elements of T, unchecked (the caller knows the dtype).
    template <typename T> const T *data() const { return reinterpret_cast<const T *>(bytes.data()); }
    template <typename T> T *data() { return reinterpret_cast<T *>(bytes.data()); }
    /// bytes viewed as elements of T; throws Error unless T is dtype's type.
    template <typename T> const T *as() const {
        check_element_type(dtype_of<T>());
        return data<T>();
    }
    template <typename T> T *as() {
        check_element_type(dtype_of<T>());
        return data<T>();
    }

    /// Every element converted to double / to int64 (any dtype), for attributes and folding.
    std::vector<double> to_doubles() const;
    std::vector<int64_t> to_int64s() const;

    static HostArray from_floats(std::vector<int64_t> shape, const std::vector<float> &values);
    static HostArray from_int64s(std::vector<int64_t> shape, const std::vector<int64_t> &values);
    /// Values converted from double into `dtype` (rounding toward zero for integers).
    static HostArray from_doubles(DType dtype, std::vector<int64_t> shape,
                                  const std::vector<double> &values);

private:
    void check_element_type(DType requested) const;
};

/// "float32[1, 3, 224, 224]".
std::string describe(DType dtype, const std::vector<int64_t> &shape);

}  // namespace megalide
