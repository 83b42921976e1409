// Graph executors: how a graph transform that needs values (post-training quantization's
// calibration and evaluation) gets a graph run without lowering, scheduling or compiling
// anything itself. The transform asks an executor to prepare a graph once and then calls the
// prepared run on each sample; which pipeline, schedule and machine run it is the caller's.
#pragma once

#include <functional>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/host_array.h"

namespace megalide {

/// Prepares graphs for running. prepare() may throw Error (an op it cannot run); the callable
/// it returns takes the graph's inputs in graph order (C-order host arrays of their types and
/// shapes) and returns its outputs in graph order.
class GraphExecutor {
public:
    using Run = std::function<std::vector<HostArray>(const std::vector<HostArray> &inputs)>;
    virtual ~GraphExecutor() = default;
    virtual Run prepare(const Graph &g) const = 0;
};

/// Runs graphs on this machine as `megalide run --schedule per_op` does: the whole graph
/// lowered to one Halide pipeline, each op scheduled on its own, JIT-compiled for the host,
/// `threads` workers.
class HostExecutor : public GraphExecutor {
public:
    explicit HostExecutor(int threads = 1) : threads_(threads) {}
    Run prepare(const Graph &g) const override;

private:
    int threads_;
};

}  // namespace megalide
