// Fuzz harness: ONNX bytes -> import_onnx (which validates and infers shapes) ->
// rewrite_to_fixpoint(default_rules()) -> lower(). No JIT compilation: lowering builds the
// Halide Funcs, which is where a bad shape or attribute would first reach Halide.
// A 64 MiB memory limit makes shape inference refuse huge tensors before anything is
// allocated, so a few bytes claiming a 2^40-element tensor cost nothing.
#include <cstdint>

#include "fuzz_support.h"
#include "megalide/error.h"
#include "megalide/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string path = megalide::fuzz::write_scratch_file("model.onnx", data, size);
    try {
        megalide::ImportOptions options;
        options.limits.max_memory = megalide::fuzz::kMaxMemory;
        megalide::Graph g = megalide::import_onnx(path, options);
        megalide::fuzz::rewrite_and_lower(g);
    } catch (const megalide::Error &) {
        // The expected answer to a malformed or unsupported model.
    } catch (...) {
        megalide::fuzz::fail_on_unexpected_exception("onnx_import");
    }
    return 0;
}
