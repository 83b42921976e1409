// Element types of graph tensors and host arrays.
#pragma once

#include <cstddef>
#include <string>

namespace megalide {

enum class DType { Float32, Float64, Int8, UInt8, Int32, Int64, Bool };

/// "float32", "float64", "int8", "uint8", "int32", "int64", "bool" (NumPy's names).
std::string to_string(DType dtype);

/// Bytes per element.
size_t item_size(DType dtype);

}  // namespace megalide
