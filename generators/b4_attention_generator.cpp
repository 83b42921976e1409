// B4: pre-norm multi-head self-attention, x + out(softmax(QK^T / sqrt(64)) V) over
// layernorm(x), 256 tokens x 512, 8 heads of 64 (DESIGN.md's benchmark suite; the graph is
// blocks::attention_graph). Inputs: x, ln_gamma, ln_beta, qkv_w, qkv_b, out_w, out_b;
// output y.
#include "graph_generator.h"
#include "megalide/blocks/block_graphs.h"

namespace {

class B4Attention : public megalide::GraphGenerator<B4Attention> {
public:
    GeneratorParam<int> features{"features", 512};
    GeneratorParam<int> heads{"heads", 8};
    GeneratorParam<int> tokens{"tokens", 256};

    megalide::Graph build_graph() const { return megalide::blocks::attention_graph(features, heads, tokens); }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(B4Attention, b4_attention)
