// The run-time half: JIT-compiling a lowered, scheduled graph for this machine and running it
// on host arrays or on buffers without copies. Lowering (lower/lower.h) builds the pipeline;
// a strategy (schedule/strategy.h) schedules it; this runs it.
#pragma once

#include <cstdint>
#include <vector>

#include "megalide/host_array.h"
#include "megalide/lower/lower.h"

namespace megalide {

class WorkerPool;

/// JIT-compiles the scheduled pipeline for the host into lowered.callable (once; later calls
/// return at once). Thread-safe: compilations in one process run one at a time.
void compile_jit(LoweredGraph &lowered);

/// JIT-compiles (once) and runs: inputs in graph order, C-order host arrays of the graph's
/// input types and shapes; returns the outputs in graph order. Throws Error naming the
/// input whose type or shape is wrong. Parallel loops run on `pool`'s threads, or with no pool
/// on Halide's process-wide one (HL_NUM_THREADS threads, else one per core).
std::vector<HostArray> run(LoweredGraph &lowered, const std::vector<HostArray> &inputs, WorkerPool *pool = nullptr);

/// As run(), without copies: `inputs` and `outputs` are dense buffers whose Halide shape is
/// the reversed ONNX shape (C-order memory), e.g. views of NumPy arrays; outputs are written
/// in place. Types and shapes are checked as in run(). Once compiled, any number of threads may
/// run the same LoweredGraph at once (each call passes its own buffers), with one pool or
/// several.
void run_buffers(LoweredGraph &lowered, const std::vector<Halide::Buffer<>> &inputs,
                 std::vector<Halide::Buffer<>> &outputs, WorkerPool *pool = nullptr);

/// Buffers for the graph's inputs (reversed ONNX shapes, C-order memory), seeded and
/// replicable: float inputs uniform in [-1, 1), integer inputs zero (shape operands are frozen
/// at import, so integer inputs are indices or masks). What the tuner and `megalide compile`
/// time on.
std::vector<Halide::Buffer<>> random_input_buffers(const LoweredGraph &lowered, uint32_t seed = 1);

/// Buffers for the graph's outputs, shaped as run_buffers() wants them.
std::vector<Halide::Buffer<>> output_buffers(const LoweredGraph &lowered);

}  // namespace megalide
