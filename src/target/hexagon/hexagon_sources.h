// The freestanding runtime and driver of megalide's Hexagon programs (src/target/hexagon/),
// embedded in the library at build time by embed_sources.cmake.
#pragma once

#include <string>
#include <vector>

namespace megalide::hexagon {

struct SourceFile {
    std::string path;  ///< relative: "runtime_shim.c", "driver.c", "include/string.h"
    std::string text;
};

const std::vector<SourceFile> &freestanding_sources();

}  // namespace megalide::hexagon
