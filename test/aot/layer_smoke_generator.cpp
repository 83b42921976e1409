// A toolchain check, not a model block: proves that megalide's layers build inside a Halide
// Generator and that add_halide_generator / add_halide_library work with the Halide wheel.
// gelu(layernorm(x)) over (d, t), the shape of a transformer MLP's first stages.
#include "Halide.h"
#include "megalide/layers.h"

namespace {

class LayerSmoke : public Halide::Generator<LayerSmoke> {
public:
    GeneratorParam<int> features{"features", 64};
    GeneratorParam<int> tokens{"tokens", 8};

    Input<Halide::Buffer<float, 2>> x{"x"};
    Input<Halide::Buffer<float, 1>> gamma{"gamma"};
    Output<Halide::Buffer<float, 2>> out{"out"};

    void generate() {
        // The algorithm.
        using namespace megalide;
        const Shape shape = {features, tokens};
        Halide::Var d, t;
        Halide::Func xf("x_in"), gf("gamma_in");
        xf(d, t) = x(d, t);
        gf(d) = gamma(d);
        Tensor normed = layers::layernorm("ln", {xf, shape}, {gf, {features}}, std::nullopt);
        Tensor act = layers::gelu_erf("gelu", normed);
        out(d, t) = act({d, t});

        // Estimates.
        x.set_estimates({{0, features}, {0, tokens}});
        gamma.set_estimates({{0, features}});
        out.set_estimates({{0, features}, {0, tokens}});

        // The schedule: vectorize over features; statistics inline per token.
        out.vectorize(d, 8, Halide::TailStrategy::GuardWithIf);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(LayerSmoke, layer_smoke)
