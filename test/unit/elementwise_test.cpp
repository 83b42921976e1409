// Broadcasting arithmetic and pointwise math against double-precision loops.
#include <cmath>

#include "megalide/layers/elementwise.h"
#include "test_util.h"

namespace megalide::test {
namespace {

Shape halide_shape(std::vector<int> numpy_shape) { return Shape(numpy_shape.rbegin(), numpy_shape.rend()); }

using BinaryLayer = Tensor (*)(const std::string &, const Tensor &, const Tensor &);

struct BinaryCase {
    const char *name;
    BinaryLayer layer;
    double (*op)(double, double);
    float lo, hi;  // operand range (positive for div's divisor and pow's base)
};

TEST(Binary, NumPyBroadcasting) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    const BinaryCase ops[] = {
        {"add", layers::add, [](double a, double b) { return a + b; }, -1, 1},
        {"sub", layers::sub, [](double a, double b) { return a - b; }, -1, 1},
        {"mul", layers::mul, [](double a, double b) { return a * b; }, -1, 1},
        {"div", layers::div, [](double a, double b) { return a / b; }, 0.5f, 2},
        {"pow", layers::pow, [](double a, double b) { return std::pow(a, b); }, 0.5f, 2},
    };
    // NumPy shape pairs: equal, scalar, trailing-axis broadcast, both-sided broadcast.
    const std::vector<std::pair<std::vector<int>, std::vector<int>>> shapes = {
        {{2, 3, 5}, {2, 3, 5}}, {{2, 3, 5}, {1}},       {{2, 3, 5}, {5}},
        {{4, 1, 7}, {3, 1}},    {{1, 6}, {5, 1}},      {{3, 1, 1, 2}, {1, 4, 1}},
    };
    for (const BinaryCase &op : ops) {
        for (const auto &[as, bs] : shapes) {
            SCOPED_TRACE(std::string(op.name) + " A " + to_string(as) + " B " + to_string(bs));
            auto a = random_buffer(s, halide_shape(as), op.lo, op.hi);
            auto b = random_buffer(s, halide_shape(bs), op.lo, op.hi);
            Tensor out = op.layer(op.name, input("a", a), input("b", b));
            ref::Array want = ref::binary(to_array(a), to_array(b), op.op);
            ASSERT_EQ(out.shape, halide_shape(want.shape));
            // One rounding for + - * /; Halide's pow is accurate to a few ulps.
            expect_close(realize(out), want, 1e-6, 4e-6, op.name);
        }
    }
}

TEST(Binary, PowOfNegativeBaseWithIntegralExponent) {
    Halide::Buffer<float> base(4), exponent(4);
    const float bases[] = {-2.0f, -1.5f, -3.0f, 0.0f}, exps[] = {2.0f, 3.0f, 0.0f, 2.0f};
    for (int i = 0; i < 4; ++i) base(i) = bases[i], exponent(i) = exps[i];
    Tensor out = layers::pow("pow", input("a", base), input("b", exponent));
    ref::Array want = ref::binary(to_array(base), to_array(exponent),
                                  [](double a, double b) { return std::pow(a, b); });
    expect_close(realize(out), want, 1e-6, 4e-6, "pow");
}

TEST(Unary, SqrtExpErfAndBiasAdd) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto positive = random_buffer(s, {7, 3, 2}, 0.0f, 50.0f);
    auto x = random_buffer(s, {7, 3, 2}, -6.0f, 6.0f);
    expect_close(realize(layers::sqrt("sqrt", input("x", positive))),
                 ref::unary(to_array(positive), [](double v) { return std::sqrt(v); }), 0, 2e-7, "sqrt");
    // Halide's exp and erf are accurate to the last few mantissa bits.
    expect_close(realize(layers::exp("exp", input("x", x))),
                 ref::unary(to_array(x), [](double v) { return std::exp(v); }), 0, 1e-6, "exp");
    expect_close(realize(layers::erf("erf", input("x", x))),
                 ref::unary(to_array(x), [](double v) { return std::erf(v); }), 1e-7, 1e-6, "erf");
    auto bias = random_buffer(s, {7});
    expect_close(realize(layers::bias_add("bias", input("x", x), input("b", bias))),
                 ref::binary(to_array(x), to_array(bias), [](double p, double q) { return p + q; }),
                 1e-6, 1e-6, "bias_add");
}

}  // namespace
}  // namespace megalide::test
