// include/megalide/io/output_dir.h: the output directory's checks and creation.
#include "megalide/io/output_dir.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "megalide/error.h"

namespace megalide {

namespace fs = std::filesystem;

void check_output_dir(const std::string &dir) {
    const fs::path path(dir);
    std::error_code ec;
    if (fs::exists(path, ec)) {
        if (!fs::is_directory(path, ec)) throw Error("output directory '" + dir + "' exists and is not a directory");
        if (::access(dir.c_str(), W_OK) != 0) throw Error("output directory '" + dir + "' is not writable (" + std::strerror(errno) + ")");
        return;
    }
    // The nearest existing ancestor; "." above a relative path's first component.
    fs::path parent = path.parent_path();
    while (!parent.empty() && !fs::exists(parent, ec)) parent = parent.parent_path();
    if (parent.empty()) parent = ".";
    if (!fs::is_directory(parent, ec) || ::access(parent.c_str(), W_OK) != 0) {
        throw Error("output directory '" + dir + "' cannot be created ('" + parent.string() + "' is not a writable directory)");
    }
}

bool create_output_dir(const std::string &dir) {
    std::error_code ec;
    const bool existed = fs::exists(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) throw Error("output directory '" + dir + "': cannot create it (" + ec.message() + ")");
    return !existed;
}

}  // namespace megalide
