// Hexagon HVX programs built and run on this machine: a scheduled pipeline is compiled by
// Halide to a Hexagon object, linked with megalide's freestanding runtime and driver
// (src/target/hexagon/: start code, Linux system calls, an allocator, the libc subset and the
// QuRT / HAP entry points Halide's NoOS runtime calls) into a static ELF by clang-19 and
// ld.lld-19, and run under qemu-hexagon-static (QEMU's Linux user mode), which reads inputs
// from and writes outputs to files. What `megalide run --target hexagon-hvx-v66` does.
//
// Recipes and pitfalls verified on this kind of machine: ../shared/targets/HEXAGON.md
// (QEMU 7.2 runs v65-v67 ELFs only, so hexagon-hvx-v68 is compile-only).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/host_array.h"
#include "megalide/lower/lower.h"
#include "megalide/target/target.h"

namespace megalide {

/// The programs a Hexagon build and run needs, found on PATH.
struct HexagonTools {
    std::string clang, lld, qemu;  ///< empty where not found
    /// Throws Error naming each missing tool and the Debian package that holds it; `run`:
    /// the emulator is needed too.
    void require(bool run) const;
};

HexagonTools find_hexagon_tools();

/// A linked Hexagon program: the pipeline's object and the static ELF around it.
struct HexagonProgram {
    std::string object, elf;
};

/// Compiles `lowered` (scheduled for `target`, a Hexagon TargetSpec) to `files` with entry
/// function `function_name`, after checking that the VTCM buffers the schedule asks for
/// (store_in vtcm) fit the target's VTCM all at once: throws Error naming them and their sizes
/// if they do not, or if a size is not a compile-time constant. Nothing is written then.
void compile_for_hexagon(LoweredGraph &lowered, const TargetSpec &target, const std::string &function_name,
                         const std::map<Halide::OutputFileType, std::string> &files);

/// Compiles `lowered` (scheduled for `target`, a Hexagon TargetSpec) to `dir`/pipeline.o and
/// links a program around it (dir must exist). Throws Error if the tools are missing or a step
/// fails (the tool's output in the message).
HexagonProgram build_hexagon_program(LoweredGraph &lowered, const TargetSpec &target, const std::string &dir);

/// The functions a failed link names as undefined (ld.lld's "undefined symbol: NAME" lines),
/// each once, in the order first named. link_hexagon_program() turns them into an error that
/// says which C library functions the model's code needs and what to do.
std::vector<std::string> undefined_symbols(const std::string &linker_output);

/// Links `object` (a Halide object or static library for `target` whose entry function is
/// `entry`, with its `entry`_argv) and any further `libraries` (e.g. the Halide runtime of a
/// library built with -no_runtime, as a Generator's CMake rule makes for a non-host target) with
/// the freestanding runtime and driver into `dir`/`entry`.elf.
HexagonProgram link_hexagon_program(const std::string &object, const std::string &entry, const TargetSpec &target,
                                    const std::string &dir, const std::vector<std::string> &libraries = {});

struct EmulatedRun {
    std::vector<HostArray> outputs;  ///< graph order
    int64_t heap_peak_bytes = 0;     ///< the allocator's high-water mark in the program
    int64_t packets = -1;            ///< dynamic packets executed, where counted
    int64_t hvx_instructions = -1;   ///< of which, dynamic HVX (vector) instructions, where counted
};

/// What a run executed, from QEMU's `-d in_asm,exec,nochain` log.
struct ExecutionCounts {
    int64_t packets = 0;           ///< dynamic packets
    int64_t hvx_instructions = 0;  ///< dynamic HVX instructions (naming V, Q or O registers, or vmem)
};

/// Counts the dynamic packets and HVX instructions in the QEMU log at `log_path`: per
/// translation block (listed once after "IN:"), its packets and HVX instructions times its
/// executions ("Trace" lines). Throws Error if the file cannot be read.
ExecutionCounts count_executions(const std::string &log_path);

/// Runs `program` under qemu-hexagon-static on `inputs` (graph order; types and shapes checked
/// as by run()), files in `dir`. `count_packets`: also count the dynamic packets from QEMU's
/// execution log (slower; deterministic from run to run). Throws Error if the program fails
/// (its exit status and output in the message) or the target does not run here.
EmulatedRun run_hexagon_program(const HexagonProgram &program, const LoweredGraph &lowered, const TargetSpec &target,
                                const std::vector<HostArray> &inputs, const std::string &dir, bool count_packets = false);

/// Whether any value of `graph` is quantized (its results then must match the host bit for bit).
bool is_quantized(const Graph &graph);

/// Checks an emulated run's outputs against the host's (same pipeline and schedule, JIT):
/// identical where `exact`, else within 1e-4 of each output's range (float reassociation).
/// Returns the largest |error|; throws Error naming `what`, the output, how many elements
/// differ and the first of them.
double check_against_host(const std::vector<HostArray> &got, const std::vector<HostArray> &want, const std::vector<std::string> &names,
                          bool exact, const std::string &what);

/// A fresh temporary directory for a Hexagon build, removed with everything in it when the
/// object goes (kept, and its path printed, when MEGALIDE_KEEP_SCRATCH is set: the program,
/// its object, sources and QEMU's log can then be inspected).
class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    ScratchDir(const ScratchDir &) = delete;
    ScratchDir &operator=(const ScratchDir &) = delete;
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

}  // namespace megalide
