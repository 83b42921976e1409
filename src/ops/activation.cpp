// Elementwise activations and math functions: output type and shape are the input's.
#include "megalide/ops/registry.h"

#include <algorithm>
#include <cmath>

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

// An op whose value is fn(x) elementwise, for any element type.
void lower_map(Lowerer &L, const Node &n, const std::function<Expr(Expr)> &fn) {
    Lowered x = L.get(n.input(0));
    Tensor t = layers::map_elements(n.op, L.stage(n), x.t, fn);
    t.type = x.t.type;
    L.define(n, t, x.dim_of_axis);
}

// A float activation from the layer library.
using FloatLayer = std::function<Tensor(const std::string &, const Tensor &, const Node &)>;

OpDef activation(const char *name, const char *summary, FloatLayer layer, std::vector<AttributeSpec> attributes = {}) {
    OpDef op;
    op.name = name;
    op.summary = summary;
    op.attributes = std::move(attributes);
    op.infer = [](Graph &g, Node &n) { same_as_input(g, n); };
    op.lower = [layer](Lowerer &L, const Node &n) {
        L.float_only(n);
        Lowered x = L.get(n.input(0));
        L.define(n, layer(L.stage(n), x.t, n), x.dim_of_axis);
    };
    return op;
}

}  // namespace

void register_activation_ops(std::vector<OpDef> &ops) {
    OpDef relu;
    relu.name = "Relu";
    relu.summary = "max(x, 0), any element type";
    relu.infer = [](Graph &g, Node &n) { same_as_input(g, n); };
    relu.lower = [](Lowerer &L, const Node &n) { lower_map(L, n, [](Expr v) { return Halide::max(v, Halide::cast(v.type(), 0)); }); };
    relu.quantized = QuantizedForm::PassThrough;
    ops.push_back(relu);

    OpDef clip;
    clip.name = "Clip";
    clip.summary = "clamp(x, min, max); the bounds must be constants";
    clip.attributes = {{"min", K::Float, "lower bound before opset 11 (then input 1)"},
                       {"max", K::Float, "upper bound before opset 11 (then input 2)"}};
    clip.infer = [](Graph &g, Node &n) { same_as_input(g, n); };
    clip.lower = [](Lowerer &L, const Node &n) {
        const Halide::Type type = halide_type(L.info(n.input(0)).dtype);
        const double lo_default = type.is_float() ? -INFINITY : static_cast<double>(std::numeric_limits<int64_t>::min());
        const double hi_default = type.is_float() ? INFINITY : static_cast<double>(std::numeric_limits<int64_t>::max());
        const float lo = L.clip_bound(n, 1, "min", static_cast<float>(lo_default));
        const float hi = L.clip_bound(n, 2, "max", static_cast<float>(hi_default));
        lower_map(L, n, [=](Expr v) {
            if (v.type().is_float()) return Halide::min(Halide::max(v, Halide::cast(v.type(), lo)), Halide::cast(v.type(), hi));
            // Integers clamp in their own type (no float arithmetic: HVX v66 has none), the
            // bounds first brought into its range.
            const double type_min = v.type().is_uint() ? 0.0 : -std::ldexp(1.0, v.type().bits() - 1);
            const double type_max = v.type().is_uint() ? std::ldexp(1.0, v.type().bits()) - 1 : std::ldexp(1.0, v.type().bits() - 1) - 1;
            const double l = std::ceil(std::clamp(static_cast<double>(lo), type_min, type_max));
            const double h = std::floor(std::clamp(static_cast<double>(hi), type_min, type_max));
            return Halide::min(Halide::max(v, Halide::cast(v.type(), Expr(static_cast<int64_t>(l)))), Halide::cast(v.type(), Expr(static_cast<int64_t>(h))));
        });
    };
    clip.quantized = QuantizedForm::PassThrough;
    clip.constant_inputs = {1, 2};
    ops.push_back(clip);

    ops.push_back(activation("Sigmoid", "1 / (1 + exp(-x))", [](const std::string &s, const Tensor &x, const Node &) { return layers::sigmoid(s, x); }));
    ops.push_back(activation("Tanh", "tanh(x)", [](const std::string &s, const Tensor &x, const Node &) { return layers::tanh(s, x); }));
    ops.push_back(activation("Sqrt", "sqrt(x)", [](const std::string &s, const Tensor &x, const Node &) { return layers::sqrt(s, x); }));
    ops.push_back(activation("Exp", "exp(x)", [](const std::string &s, const Tensor &x, const Node &) { return layers::exp(s, x); }));
    ops.push_back(activation("Erf", "the error function", [](const std::string &s, const Tensor &x, const Node &) { return layers::erf(s, x); }));
    ops.push_back(activation(
        "LeakyRelu", "x >= 0 ? x : alpha * x",
        [](const std::string &s, const Tensor &x, const Node &n) { return layers::leaky_relu(s, x, static_cast<float>(n.get_float("alpha", 0.01))); },
        {{"alpha", K::Float, "slope for x < 0 (default 0.01)"}}));
    ops.push_back(activation(
        "HardSigmoid", "clamp(alpha * x + beta, 0, 1)",
        [](const std::string &s, const Tensor &x, const Node &n) {
            return layers::hardsigmoid(s, x, static_cast<float>(n.get_float("alpha", 0.2)), static_cast<float>(n.get_float("beta", 0.5)));
        },
        {{"alpha", K::Float, "default 0.2"}, {"beta", K::Float, "default 0.5"}}));
    ops.push_back(activation("HardSwish", "x * clamp(x / 6 + 1/2, 0, 1)",
                             [](const std::string &s, const Tensor &x, const Node &) { return layers::hardswish(s, x); }));

    // Made by the recognize_gelu rewrite from Erf / Tanh patterns (ONNX opset 20's Gelu has the
    // same attribute; megalide imports opsets that lack it, so the fused form is its own op).
    OpDef gelu = activation(
        "Gelu", "x * Phi(x), exact (erf) or tanh-approximated",
        [](const std::string &s, const Tensor &x, const Node &n) {
            return n.get_string("approximate", "none") == "tanh" ? layers::gelu_tanh(s, x) : layers::gelu_erf(s, x);
        },
        {{"approximate", K::String, "\"none\" (default: erf) or \"tanh\""}});
    gelu.domain = kMegalideDomain;
    gelu.importable = false;
    ops.push_back(gelu);
}

}  // namespace megalide::ops
