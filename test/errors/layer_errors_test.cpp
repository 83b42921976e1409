// Inconsistent layer construction throws megalide::Error naming the layer and the offending
// shapes, before Halide sees anything.
#include "megalide/error.h"
#include "megalide/layers.h"
#include "test_util.h"

namespace megalide::test {
namespace {

using namespace layers;

Tensor zeros(const std::string &name, const Shape &shape) {
    Halide::Buffer<float> b(shape);
    b.fill(0.0f);
    return input(name, b);
}

// Runs `build` and checks it throws megalide::Error whose message contains every fragment.
template <typename Build>
void expect_error(Build build, const std::vector<std::string> &fragments) {
    expect_throws_with<Error>(build, fragments);
}

TEST(LayerErrors, ConvChannelMismatch) {
    expect_error([] { conv2d("stem", zeros("x", {3, 8, 8, 1}), zeros("w", {16, 4, 3, 3}), std::nullopt, {}); },
                 {"conv2d 'stem'", "channel mismatch", "[3, 8, 8, 1]", "[16, 4, 3, 3]"});
    Conv2DParams grouped;
    grouped.groups = 2;
    expect_error([&] { conv2d("g", zeros("x", {6, 8, 8, 1}), zeros("w", {5, 3, 3, 3}), std::nullopt, grouped); },
                 {"conv2d 'g'", "groups=2"});
    expect_error([] { pointwise_conv2d("pw", zeros("x", {8, 4, 4, 1}), zeros("w", {16, 7}), std::nullopt); },
                 {"pointwise_conv2d 'pw'", "[8, 4, 4, 1]", "[16, 7]"});
    expect_error([] { depthwise_conv2d("dw", zeros("x", {8, 4, 4, 1}), zeros("w", {12, 3, 3}), std::nullopt, {}); },
                 {"depthwise_conv2d 'dw'", "[12, 3, 3]"});
    expect_error([] { conv2d("b", zeros("x", {3, 8, 8, 1}), zeros("w", {4, 3, 1, 1}), zeros("bias", {5}), {}); },
                 {"conv2d 'b'", "bias", "[5]"});
}

TEST(LayerErrors, NegativePadding) {
    Conv2DParams p;
    p.pad_left = -1;
    expect_error([&] { conv2d("c", zeros("x", {3, 8, 8, 1}), zeros("w", {4, 3, 3, 3}), std::nullopt, p); },
                 {"conv2d 'c'", "padding along x must be non-negative", "(-1, 0)"});
    Pool2DParams pool;
    pool.kernel_x = pool.kernel_y = 2;
    pool.pad_bottom = -2;
    expect_error([&] { max_pool2d("mp", zeros("x", {3, 8, 8, 1}), pool); },
                 {"max_pool2d 'mp'", "padding along y must be non-negative"});
    expect_error([] { pad("p", zeros("x", {3, 4}), {0, -1}, {0, 0}); },
                 {"pad 'p'", "negative padding", "[3, 4]"});
}

TEST(LayerErrors, WindowLargerThanPaddedInput) {
    Pool2DParams pool;
    pool.kernel_x = 5, pool.kernel_y = 2, pool.pad_left = 1;
    expect_error([&] { avg_pool2d("ap", zeros("x", {3, 2, 4, 1}), pool); },
                 {"avg_pool2d 'ap'", "window of 5 along x is larger than the padded input", "2 + pads 1+0 = 3"});
    Conv2DParams dilated;
    dilated.dilation_y = 3;
    expect_error([&] { conv2d("d", zeros("x", {3, 8, 5, 1}), zeros("w", {4, 3, 3, 3}), std::nullopt, dilated); },
                 {"conv2d 'd'", "window of 7 along y"});
}

TEST(LayerErrors, NonBroadcastableOperands) {
    expect_error([] { add("sum", zeros("a", {4, 3}), zeros("b", {5, 3})); },
                 {"add 'sum'", "[4, 3]", "[5, 3]", "do not broadcast"});
    expect_error([] { matmul("mm", zeros("a", {5, 3, 2}), zeros("b", {4, 5, 3})); },
                 {"matmul 'mm'", "batch dimensions do not broadcast"});
    expect_error([] { matmul("mm", zeros("a", {5, 3}), zeros("b", {4, 6})); },
                 {"matmul 'mm'", "inner dimensions differ", "[5, 3]", "[4, 6]"});
    expect_error([] { gemm("fc", zeros("a", {5, 3}), zeros("b", {4, 6}), std::nullopt, {}); },
                 {"gemm 'fc'", "inner dimensions differ"});
    expect_error([] { gemm("fc", zeros("a", {5, 3}), zeros("b", {4, 5}), zeros("c", {3, 3}), {}); },
                 {"gemm 'fc'", "C [3, 3]"});
    expect_error([] { dense("fc", zeros("x", {6, 2}), zeros("w", {4, 5}), std::nullopt); },
                 {"dense 'fc'", "[6, 2]", "[4, 5]"});
}

TEST(LayerErrors, ShapeOperations) {
    expect_error([] { concat("cat", {zeros("a", {4, 3}), zeros("b", {5, 2})}, 0); },
                 {"concat 'cat'", "input 1 [5, 2]"});
    expect_error([] { reshape("r", zeros("a", {4, 3}), {5, 2}); },
                 {"reshape 'r'", "12 elements", "[5, 2]"});
    expect_error([] { transpose("t", zeros("a", {4, 3}), {0, 0}); }, {"transpose 't'", "[0, 0]"});
    expect_error([] { pad("p", zeros("x", {3, 4}), {3, 0}, {0, 0}, PadMode::Reflect); },
                 {"pad 'p'", "reflect padding"});
    expect_error([] { reduce_sum("rs", zeros("x", {3, 4}), {2}); }, {"reduce_sum 'rs'", "dimension 2 is out of range"});
    expect_error([] { softmax("sm", zeros("x", {3, 4}), 5); }, {"softmax 'sm'", "out of range"});
}

TEST(LayerErrors, NormAndActivationParameters) {
    expect_error([] { layernorm("ln", zeros("x", {8, 4}), zeros("g", {4}), std::nullopt); },
                 {"layernorm 'ln'", "gamma must have shape [8], got [4]"});
    expect_error([] { batchnorm("bn", zeros("x", {8, 4}), zeros("s", {8}), zeros("b", {8}), zeros("m", {7}), zeros("v", {8})); },
                 {"batchnorm 'bn'", "mean must have shape [8], got [7]"});
    expect_error([] { clip("clip", zeros("x", {8}), 2.0f, 1.0f); }, {"clip 'clip'", "greater than max"});
    expect_error([] { scaled_dot_product_attention("attn", zeros("q", {8, 4}), zeros("k", {6, 4}), zeros("v", {8, 4})); },
                 {"scaled_dot_product_attention 'attn'", "k must be (8, Tk, batch...)"});
}

}  // namespace
}  // namespace megalide::test
