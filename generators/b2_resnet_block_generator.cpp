// B2: ResNet basic block, relu(x + conv3x3(relu(conv3x3(x)))) at 56x56x64 (DESIGN.md's
// benchmark suite; the graph is blocks::resnet_basic_block_graph). Inputs: x, conv1_w,
// conv1_b, conv2_w, conv2_b; output y.
#include "graph_generator.h"
#include "megalide/blocks/block_graphs.h"

namespace {

class B2ResnetBlock : public megalide::GraphGenerator<B2ResnetBlock> {
public:
    GeneratorParam<int> channels{"channels", 64};
    GeneratorParam<int> size{"size", 56};

    megalide::Graph build_graph() const { return megalide::blocks::resnet_basic_block_graph(channels, size, size); }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(B2ResnetBlock, b2_resnet_block)
