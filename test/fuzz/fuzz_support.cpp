#include "fuzz_support.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <new>
#include <set>
#include <typeinfo>

#include "Halide.h"
#include "megalide/error.h"
#include "megalide/lower/lower.h"
#include "megalide/rewrite/rewrite.h"

namespace megalide::fuzz {

std::string write_scratch_file(const std::string &stem, const uint8_t *data, size_t size) {
    static const std::string dir = [] {
        std::error_code ec;
        if (std::filesystem::is_directory("/dev/shm", ec)) return std::string("/dev/shm");
        return std::filesystem::temp_directory_path().string();
    }();
    const std::string path = dir + "/megalide_fuzz_" + std::to_string(getpid()) + "_" + stem;
    // Removed when the process exits normally (a crash leaves it, next to the evidence).
    static std::set<std::string> made;
    if (made.insert(path).second && made.size() == 1) {
        std::atexit([] {
            for (const std::string &p : made) std::remove(p.c_str());
        });
    }
    FILE *f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || (size != 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
        std::fprintf(stderr, "fuzz harness: cannot write scratch file %s: %s\n", path.c_str(), std::strerror(errno));
        std::abort();
    }
    return path;
}

void fail_on_unexpected_exception(const char *harness) {
    const char *kind = "unknown exception";
    std::string message;
    try {
        throw;
    } catch (const InternalError &e) {
        kind = "megalide::InternalError";
        message = e.what();
    } catch (const Halide::Error &e) {
        kind = "Halide::Error (or a subclass)";
        message = e.what();
    } catch (const std::bad_alloc &e) {
        kind = "std::bad_alloc";
        message = e.what();
    } catch (const std::exception &e) {
        kind = typeid(e).name();
        message = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "\n== %s harness: unexpected %s escaped megalide (a finding): %s\n", harness, kind, message.c_str());
    std::abort();
}

float ByteReader::raw_float() {
    const uint32_t bits = u32();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

void rewrite_and_lower(Graph &graph) {
    rewrite_to_fixpoint(graph, default_rules());
    const LoweredGraph lowered = lower(graph);
    (void)lowered;
}

}  // namespace megalide::fuzz
