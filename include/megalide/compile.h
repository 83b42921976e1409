// Ahead-of-time compilation: an ONNX model becomes a static library with one entry function
// and a C header, for a target from target_names() (what `megalide compile` does).
//
// The entry function follows Halide's calling convention: `int NAME(halide_buffer_t *...)`
// with the graph inputs, then the graph outputs, in graph order; every buffer is dense and
// C-ordered, so its Halide dimension 0 is the ONNX shape's last axis (lower/lower.h's
// boundary layout). It returns 0, or a Halide error code after printing the message.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/layers/quantize.h"

namespace megalide {

struct CompileOptions {
    std::string target = "host";          ///< a name from target_names()
    std::string schedule = "megakernel";  ///< a strategy name or a saved schedule .json
    std::string name;                     ///< entry function; empty: c_identifier(model stem)
    int threads = 0;                      ///< threads the schedule is planned for; 0: one per core
    bool rewrite = true;                  ///< run the graph rewrites before lowering
    layers::Requantization requantization = layers::Requantization::Onnx;  ///< int8 ops (layers/quantize.h)
    int timing_runs = 50;                 ///< runs timed for the report where the code runs here
    ResourceLimits limits;                ///< the model is refused when it needs more
    std::function<void(const std::string &)> progress;  ///< called at each step, may be empty
};

struct CompiledLibrary {
    std::string name;                ///< the entry function
    std::vector<std::string> files;  ///< every file written, inside the output directory
    std::string report;              ///< the text of NAME.report.txt
    /// Measured on this machine (JIT of the same pipeline, schedule and target); negative
    /// where the target's code does not run here or timing_runs is 0.
    double median_ms = -1, min_ms = -1, max_ms = -1;
};

/// Compiles `model_path` into `outdir` (created if missing): NAME.a (pipeline and Halide
/// runtime), NAME.h (the prototype, with each argument's name, type and shape documented),
/// NAME.schedule.json and NAME.schedule.cpp (the schedule as data and as Halide C++),
/// NAME.stmt (Halide's lowered statement), NAME.s (assembly) and NAME.report.txt (per-stage
/// placement, timings). Throws Error for an unknown target, a name that is not a C
/// identifier, an output directory that cannot be written, an unsupported op; files are
/// built in a staging directory and moved into `outdir` only when all of them exist, so a
/// failure leaves nothing of this call behind.
CompiledLibrary compile_model(const std::string &model_path, const std::string &outdir, const CompileOptions &options);

/// `stem` made a C identifier: characters outside [A-Za-z0-9_] become '_', and a leading
/// digit (or an empty stem) gets a "model_" prefix. "mobilenet-v2.1" -> "mobilenet_v2_1".
std::string c_identifier(const std::string &stem);

}  // namespace megalide
