// Q1: B1 quantized — MobileNetV2's inverted residual, 56x56x24 -> 144 -> 24, + input, with
// uint8 activations, int8 per-channel weights and int32 biases (DESIGN.md's benchmark suite;
// the graph is blocks::quantized_inverted_residual_graph). Every quantization parameter is
// an input (its header lists them in order); the output y is uint8.
#include "graph_generator.h"
#include "megalide/blocks/block_graphs.h"

namespace {

class Q1QuantizedInvertedResidual : public megalide::GraphGenerator<Q1QuantizedInvertedResidual> {
public:
    GeneratorParam<int> channels{"channels", 24};
    GeneratorParam<int> expansion{"expansion", 6};
    GeneratorParam<int> size{"size", 56};

    megalide::Graph build_graph() const {
        const int c = channels, e = expansion, n = size;
        return megalide::blocks::quantized_inverted_residual_graph({c, c * e, c, n, n, 1});
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(Q1QuantizedInvertedResidual, q1_quantized_inverted_residual)
