// Activations against their defining formulas in double precision, over ordinary values
// and over +-1e4, where naive formulas overflow.
#include <cmath>

#include "megalide/layers/activation.h"
#include "test_util.h"

namespace megalide::test {
namespace {

struct Case {
    const char *name;
    std::function<Tensor(const Tensor &)> layer;
    std::function<double(double)> formula;
};

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

std::vector<Case> cases() {
    return {
        {"relu", [](const Tensor &x) { return layers::relu("relu", x); }, [](double v) { return std::max(v, 0.0); }},
        {"relu6", [](const Tensor &x) { return layers::relu6("relu6", x); },
         [](double v) { return std::min(std::max(v, 0.0), 6.0); }},
        {"clip", [](const Tensor &x) { return layers::clip("clip", x, -0.5f, 2.0f); },
         [](double v) { return std::min(std::max(v, -0.5), 2.0); }},
        {"leaky_relu", [](const Tensor &x) { return layers::leaky_relu("lrelu", x, 0.1f); },
         [](double v) { return v >= 0 ? v : 0.1f * v; }},
        {"sigmoid", [](const Tensor &x) { return layers::sigmoid("sigmoid", x); }, sigmoid},
        {"tanh", [](const Tensor &x) { return layers::tanh("tanh_act", x); }, [](double v) { return std::tanh(v); }},
        {"gelu_erf", [](const Tensor &x) { return layers::gelu_erf("gelu", x); },
         [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }},
        {"gelu_tanh", [](const Tensor &x) { return layers::gelu_tanh("gelu_t", x); },
         [](double v) {
             return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
         }},
        {"silu", [](const Tensor &x) { return layers::silu("silu", x); }, [](double v) { return v * sigmoid(v); }},
        {"hardswish", [](const Tensor &x) { return layers::hardswish("hswish", x); },
         [](double v) { return v * std::min(std::max(v / 6.0 + 0.5, 0.0), 1.0); }},
        {"hardsigmoid", [](const Tensor &x) { return layers::hardsigmoid("hsig", x, 0.2f, 0.5f); },
         [](double v) { return std::min(std::max(0.2 * v + 0.5, 0.0), 1.0); }},
    };
}

TEST(Activation, MatchesFormulaOnRandomValues) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {9, 5, 3}, -8.0f, 8.0f);
    for (const Case &c : cases()) {
        // Transcendentals (Halide's exp, erf, tanh) are accurate to a few ulps; 2e-6 relative
        // plus 1e-6 absolute (for results near zero) covers them and the float inputs'
        // rounding through the formula.
        expect_close(realize(c.layer(input("x", x))), ref::unary(to_array(x), c.formula), 1e-6, 2e-6, c.name);
    }
}

TEST(Activation, FiniteAndCorrectAtExtremes) {
    Halide::Buffer<float> x(6);
    const float values[] = {-1e4f, -100.0f, -1e-3f, 0.0f, 100.0f, 1e4f};
    for (int i = 0; i < 6; ++i) x(i) = values[i];
    for (const Case &c : cases()) {
        expect_close(realize(c.layer(input("x", x))), ref::unary(to_array(x), c.formula), 1e-6, 2e-6, c.name);
    }
}

}  // namespace
}  // namespace megalide::test
