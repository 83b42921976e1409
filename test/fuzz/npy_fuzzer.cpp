// Fuzz harness: .npy bytes -> megalide::npy::read. A bad file must be a megalide::Error; a
// file read successfully must describe itself consistently (bytes == elements * item size).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_support.h"
#include "megalide/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string path = megalide::fuzz::write_scratch_file("input.npy", data, size);
    try {
        const megalide::npy::Array a = megalide::npy::read(path);
        const size_t want = static_cast<size_t>(a.element_count()) * megalide::item_size(a.dtype);
        if (a.bytes.size() != want) {
            std::fprintf(stderr, "npy harness: read() returned %zu bytes for %s (%zu expected)\n", a.bytes.size(),
                         megalide::describe(a.dtype, a.shape).c_str(), want);
            std::abort();
        }
    } catch (const megalide::Error &) {
        // The expected answer to a malformed file.
    } catch (...) {
        megalide::fuzz::fail_on_unexpected_exception("npy");
    }
    return 0;
}
