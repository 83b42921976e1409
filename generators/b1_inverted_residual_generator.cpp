// B1: MobileNetV2's inverted residual block, 56x56x24 -> 144 -> 24, stride 1, + input
// (DESIGN.md's benchmark suite; the graph is blocks::inverted_residual_graph). Weights are
// inputs: x, expand_w, expand_b, dw_w, dw_b, project_w, project_b; output y.
#include "graph_generator.h"
#include "megalide/blocks/block_graphs.h"

namespace {

class B1InvertedResidual : public megalide::GraphGenerator<B1InvertedResidual> {
public:
    GeneratorParam<int> channels{"channels", 24};
    GeneratorParam<int> expansion{"expansion", 6};
    GeneratorParam<int> size{"size", 56};

    megalide::Graph build_graph() const {
        const int c = channels, e = expansion, n = size;
        return megalide::blocks::inverted_residual_graph({c, c * e, c, n, n, 1});
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(B1InvertedResidual, b1_inverted_residual)
