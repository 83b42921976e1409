// Batch, layer and RMS normalization against double-precision loops, including data whose
// mean (1e4) dwarfs its spread (1), where E[x^2] - E[x]^2 would lose every digit.
#include "megalide/layers/norm.h"
#include "test_util.h"

namespace megalide::test {
namespace {

TEST(BatchNorm, MatchesReferenceNCHW) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    const int c = 6;
    auto x = random_buffer(s, {c, 5, 3, 2});
    auto scale = random_buffer(s, {c}), bias = random_buffer(s, {c}), mean = random_buffer(s, {c});
    auto var = random_buffer(s, {c}, 0.1f, 2.0f);
    Tensor out = layers::batchnorm("bn", input("x", x), input("scale", scale), input("bias", bias),
                                   input("mean", mean), input("var", var), 1e-5f);
    ref::Array want = ref::batchnorm(ref::transpose(to_array(x), {0, 3, 1, 2}), to_array(scale),
                                     to_array(bias), to_array(mean), to_array(var), 1e-5);
    expect_close(realize(out), ref::transpose(want, {0, 2, 3, 1}), 1e-6, 1e-5, "batchnorm");
}

// Normalized outputs are O(1); the float32 sums over K elements carry ~K u relative error in
// mean and variance, so tolerances follow reduction_tolerance of the row length.
TEST(LayerNorm, OneAndTwoNormalizedDimensions) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int norm_dims = 1; norm_dims <= 2; ++norm_dims) {
        auto x = random_buffer(s, {33, 7, 3});
        Shape affine_shape = norm_dims == 1 ? Shape{33} : Shape{33, 7};
        auto gamma = random_buffer(s, affine_shape), beta = random_buffer(s, affine_shape);
        Tensor out = layers::layernorm("ln", input("x", x), input("g", gamma), input("b", beta), norm_dims, 1e-5f);
        ref::Array want = ref::layernorm(to_array(x), to_array(gamma), to_array(beta), 3 - norm_dims, 1e-5);
        const double tol = 8 * reduction_tolerance(norm_dims == 1 ? 33 : 33 * 7);
        expect_close(realize(out), want, tol, tol, "layernorm norm_dims " + std::to_string(norm_dims));
    }
}

TEST(LayerNorm, LargeCommonOffset) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {512, 4}, -1.0f, 1.0f);
    for (size_t i = 0; i < x.number_of_elements(); ++i) x.data()[i] += 1e4f;
    auto gamma = random_buffer(s, {512}, 0.5f, 1.5f);
    Tensor out = layers::layernorm("ln", input("x", x), input("g", gamma), std::nullopt, 1, 1e-5f);
    ref::Array want = ref::layernorm(to_array(x), to_array(gamma), ref::Array(), 1, 1e-5);
    // The inputs themselves are float32 values near 1e4, so the reference sees the same
    // rounded data; what remains is float32 arithmetic on deviations of size 1: 1e-4 covers
    // it, while the one-pass formula is off by O(1) here.
    expect_close(realize(out), want, 1e-4, 1e-4, "layernorm with mean 1e4");
}

TEST(RMSNorm, MatchesReference) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {64, 5});
    auto gamma = random_buffer(s, {64});
    Tensor out = layers::rmsnorm("rms", input("x", x), input("g", gamma), 1, 1e-6f);
    ref::Array want = ref::layernorm(to_array(x), to_array(gamma), ref::Array(), 1, 1e-6, /*rms=*/true);
    const double tol = 8 * reduction_tolerance(64);
    expect_close(realize(out), want, tol, tol, "rmsnorm");
}

}  // namespace
}  // namespace megalide::test
