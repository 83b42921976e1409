// B3: pre-norm transformer MLP, x + fc2(gelu(fc1(layernorm(x)))), 256 tokens x 512 with a
// 2048-wide hidden layer (DESIGN.md's benchmark suite; the graph is
// blocks::transformer_mlp_graph). Inputs: x, ln_gamma, ln_beta, fc1_w, fc1_b, fc2_w, fc2_b;
// output y.
#include "graph_generator.h"
#include "megalide/blocks/block_graphs.h"

namespace {

class B3TransformerMlp : public megalide::GraphGenerator<B3TransformerMlp> {
public:
    GeneratorParam<int> features{"features", 512};
    GeneratorParam<int> hidden{"hidden", 2048};
    GeneratorParam<int> tokens{"tokens", 256};

    megalide::Graph build_graph() const { return megalide::blocks::transformer_mlp_graph(features, hidden, tokens); }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(B3TransformerMlp, b3_transformer_mlp)
