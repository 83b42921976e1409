// The graphs the schedule harness checks schedules against: small versions of two benchmark
// blocks (include/megalide/blocks/block_graphs.h), rewritten as the CLI rewrites them, so
// that their Funcs cover a convolution with an accumulator and a fused epilogue, a depthwise
// convolution, matrix products, LayerNormalization and Gelu.
#pragma once

#include <vector>

#include "megalide/blocks/block_graphs.h"
#include "megalide/rewrite/rewrite.h"

namespace megalide::fuzz {

inline std::vector<Graph> schedule_fuzz_graphs() {
    blocks::InvertedResidualShape s;
    s.cin = 8;
    s.hidden = 16;
    s.cout = 8;
    s.height = 8;
    s.width = 8;
    std::vector<Graph> graphs = {blocks::inverted_residual_graph(s), blocks::transformer_mlp_graph(16, 32, 8)};
    for (Graph &g : graphs) rewrite_to_fixpoint(g, default_rules());
    return graphs;
}

}  // namespace megalide::fuzz
