// Reading and writing NumPy .npy files: the format of np.save and np.load.
//
// Only plain little-endian, C-order arrays of seven dtypes are supported; everything else is
// rejected with a megalide::Error that names the file and says what is wrong. Plain C++17 and
// POSIX; no Halide. Assumes a little-endian host (checked at compile time in npy.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "megalide/error.h"
#include "megalide/host_array.h"

namespace megalide::npy {

/// An .npy file's array: megalide's HostArray (dtype, C-order shape, little-endian bytes).
/// Bool elements are bytes 0 or 1.
using Array = HostArray;

/// Loads an .npy file (format version 1.0, 2.0 or 3.0). Accepted descrs: '<f4', '<f8', '|i1',
/// '|u1', '<i4', '<i8', '|b1' ('<' or '=' for multi-byte types; any byte-order mark for
/// one-byte types). Throws Error, its message starting with path, if the file cannot be read
/// or is not such an array: bad magic, unsupported version, malformed header, other dtype,
/// big-endian data, Fortran order (unless the layout equals C order: at most one extent > 1),
/// fewer data bytes than the shape needs, or a bool byte other than 0 or 1.
/// Bytes after the data are ignored, as np.load ignores them.
Array read(const std::string &path);

/// Saves array byte for byte as np.save would: version 1.0 (2.0 if the header exceeds 65535
/// bytes), header padded with spaces and '\n' so the data starts at a multiple of 64.
/// Atomic: writes a temporary file beside path, then renames it over path; on failure no file
/// is left. Throws Error (message starting with path, with strerror for OS failures) if a
/// shape extent is negative, the size overflows, bytes.size() != element_count() * item_size,
/// a bool byte is not 0 or 1, or the file cannot be written.
void write(const std::string &path, const Array &array);

}  // namespace megalide::npy
