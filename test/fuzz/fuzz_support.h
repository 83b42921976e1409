// What the fuzz harnesses share: a per-process scratch file for the entry points that read a
// path, and the verdict on an exception that escaped megalide.
//
// Contract of every harness (LLVMFuzzerTestOneInput): megalide::Error is the expected answer
// to a bad input and is swallowed; any other exception (megalide::InternalError, Halide's
// errors, std::out_of_range, std::bad_alloc...) is a finding: fail_on_unexpected_exception()
// prints it and aborts, so that libFuzzer saves the input and the replay test fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "megalide/graph/graph.h"

namespace megalide::fuzz {

/// The memory limit the harnesses import and infer shapes under: huge shapes are refused
/// quickly instead of slowing every execution.
constexpr int64_t kMaxMemory = int64_t(64) << 20;

/// The path after import or shape inference, shared by the harnesses: the default rewrites,
/// then lowering to Halide Funcs (no JIT compilation).
void rewrite_and_lower(Graph &graph);

/// Writes `data` to this process's scratch file named after `stem` (in /dev/shm when it
/// exists, else the temporary directory; replaced on every call, removed at exit) and
/// returns its path.
/// Aborts if the file cannot be written: that is the machine's fault, not the input's.
std::string write_scratch_file(const std::string &stem, const uint8_t *data, size_t size);

/// Call inside `catch (...)`: prints the harness, the exception's type and message to stderr,
/// and aborts.
[[noreturn]] void fail_on_unexpected_exception(const char *harness);

/// Reads the fuzz input front to back; past the end every read yields 0 (so every input
/// means something and short inputs pick the first choices).
class ByteReader {
public:
    ByteReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}
    uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
    uint32_t u32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= uint32_t(u8()) << (8 * i);
        return v;
    }
    /// Any float bit pattern: NaNs, infinities, negatives, denormals included.
    float raw_float();
    /// One of `n` choices (n > 0).
    int pick(int n) { return static_cast<int>(u8() % static_cast<unsigned>(n)); }
    size_t left() const { return size_ - pos_; }

private:
    const uint8_t *data_;
    size_t size_;
    size_t pos_ = 0;
};

}  // namespace megalide::fuzz
