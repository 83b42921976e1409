// The AOT-compiled layer_smoke library gives the same output as the JIT-compiled layers.
#include "layer_smoke.h"
#include "megalide/layers.h"
#include "test_util.h"

namespace megalide::test {
namespace {

TEST(Aot, LayerSmokeMatchesJit) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {64, 8}, -3, 3);
    auto gamma = random_buffer(s, {64});
    Halide::Buffer<float> aot(64, 8);
    ASSERT_EQ(layer_smoke(x.raw_buffer(), gamma.raw_buffer(), aot.raw_buffer()), 0);
    Tensor jit = layers::gelu_erf("gelu", layers::layernorm("ln", input("x", x), input("g", gamma), std::nullopt));
    // Same algorithm, different schedule and compilation: only float reassociation differs.
    const double tol = 8 * reduction_tolerance(64);
    expect_close(aot, to_array(realize(jit)), tol, tol, "AOT vs JIT");
}

}  // namespace
}  // namespace megalide::test
