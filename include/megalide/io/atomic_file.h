// Writing a file so that a crash or a kill at any moment leaves either the old file or the
// complete new one at its path, never a partial one.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace megalide {

/// One piece of a file's contents (not owned).
struct Bytes {
    const void *data;
    size_t size;
    Bytes(const std::string &s) : data(s.data()), size(s.size()) {}  // NOLINT: implicit by design
    Bytes(const void *d, size_t n) : data(d), size(n) {}
};

/// Writes the pieces, in order, to a new file beside `path` (same directory, so the same file
/// system), syncs it, renames it over `path` and syncs the directory. On failure the temporary
/// file is removed, `path` is untouched, and Error names `path` and the reason. A process
/// killed before the rename leaves `path` as it was (and a `path.tmp.*` file behind).
void write_file_atomically(const std::string &path, const std::vector<Bytes> &pieces);

}  // namespace megalide
