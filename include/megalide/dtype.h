// Element types of graph tensors and host arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace megalide {

enum class DType { Float32, Float64, Int8, UInt8, Int32, Int64, Bool };

/// "float32", "float64", "int8", "uint8", "int32", "int64", "bool" (NumPy's names).
std::string to_string(DType dtype);

/// Bytes per element.
size_t item_size(DType dtype);

/// The DType whose elements are a T: float, double, int8_t, uint8_t, int32_t, int64_t, bool.
/// Any other T does not compile.
template <typename T>
constexpr DType dtype_of() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> ||
                      std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t> ||
                      std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                      std::is_same_v<T, bool>,
                  "no DType for this element type");
    if constexpr (std::is_same_v<T, float>) return DType::Float32;
    else if constexpr (std::is_same_v<T, double>) return DType::Float64;
    else if constexpr (std::is_same_v<T, int8_t>) return DType::Int8;
    else if constexpr (std::is_same_v<T, uint8_t>) return DType::UInt8;
    else if constexpr (std::is_same_v<T, int32_t>) return DType::Int32;
    else if constexpr (std::is_same_v<T, int64_t>) return DType::Int64;
    else return DType::Bool;
}

}  // namespace megalide
