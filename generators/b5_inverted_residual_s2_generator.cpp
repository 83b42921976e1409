// B5: MobileNetV2's stride-2 inverted residual block, 112x112x16 -> 96 -> 24, no residual
// (DESIGN.md's benchmark suite; the graph is blocks::inverted_residual_graph with stride 2).
// Inputs: x, expand_w, expand_b, dw_w, dw_b, project_w, project_b; output y (56x56x24).
#include "graph_generator.h"
#include "megalide/blocks/block_graphs.h"

namespace {

class B5InvertedResidualS2 : public megalide::GraphGenerator<B5InvertedResidualS2> {
public:
    GeneratorParam<int> channels_in{"channels_in", 16};
    GeneratorParam<int> hidden{"hidden", 96};
    GeneratorParam<int> channels_out{"channels_out", 24};
    GeneratorParam<int> size{"size", 112};

    megalide::Graph build_graph() const {
        const int n = size;
        return megalide::blocks::inverted_residual_graph({channels_in, hidden, channels_out, n, n, 2});
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(B5InvertedResidualS2, b5_inverted_residual_s2)
