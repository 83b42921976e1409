// Rule fold_qdq: see rewrite/rules.h.
#include <algorithm>
#include <cmath>
#include <optional>

#include "megalide/layers/quantize.h"
#include "megalide/ops/registry.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

namespace {

// A value produced by DequantizeLinear(q, scale, zero_point) with constant parameters.
struct Dequantized {
    std::string q, scale, zero_point;  // zero_point may be ""
    int64_t axis = 1;
};

std::optional<Dequantized> dequantized(const Graph &g, const std::string &value) {
    const int p = producer_index(g, value);
    if (p < 0) return std::nullopt;
    const Node &n = g.nodes[static_cast<size_t>(p)];
    if (n.op != "DequantizeLinear" || !g.is_constant(n.input(1))) return std::nullopt;
    if (!n.input(2).empty() && !g.is_constant(n.input(2))) return std::nullopt;
    const DType t = g.value(n.input(0)).dtype;
    if (t != DType::UInt8 && t != DType::Int8 && t != DType::Int32) return std::nullopt;
    return Dequantized{n.input(0), n.input(1), n.input(2), n.get_int("axis", 1)};
}

// The zero point as a value, made (0 of the quantized type) where the DequantizeLinear or
// QuantizeLinear omitted it.
std::string zero_point_of(Graph &g, const std::string &zero_point, DType type) {
    if (!zero_point.empty()) return zero_point;
    const std::string name = g.unique_name("zero_point");
    g.add_constant(name, HostArray::from_doubles(type, {}, {0.0}));
    return name;
}

bool same_params(const Graph &g, const Dequantized &d, const Node &q) {
    if (constant_values(g, d.scale) != constant_values(g, q.input(1))) return false;
    const std::vector<double> dz = d.zero_point.empty() ? std::vector<double>{0.0} : constant_values(g, d.zero_point);
    const std::vector<double> qz = q.input(2).empty() ? std::vector<double>{0.0} : constant_values(g, q.input(2));
    const DType dt = g.value(d.q).dtype, qt = q.input(2).empty() ? DType::UInt8 : g.value(q.input(2)).dtype;
    return dz == qz && dt == qt;
}

// The int32 bias of a quantized Conv or matrix product with input scale sx and weight scales
// sw (per channel or one): an int32 DequantizeLinear whose scale is sx * sw and zero point 0
// is used as is; a float constant is quantized to round(b / (sx * sw)). "" when neither.
std::optional<std::string> int32_bias(Graph &g, const std::string &bias, const std::vector<double> &sx, const std::vector<double> &sw,
                                      int64_t channels) {
    if (bias.empty()) return std::string();
    auto scale = [&](int64_t c) { return sx[0] * sw[sw.size() == 1 ? 0 : static_cast<size_t>(c)]; };
    if (auto d = dequantized(g, bias)) {
        if (g.value(d->q).dtype != DType::Int32 || !g.is_constant(d->q)) return std::nullopt;
        const std::vector<double> s = constant_values(g, d->scale), z = constant_values(g, d->zero_point);
        for (double v : z) if (v != 0) return std::nullopt;
        for (int64_t c = 0; c < channels; ++c) {
            const double want = scale(c), got = s[s.size() == 1 ? 0 : static_cast<size_t>(c)];
            if (std::abs(got - want) > 1e-6 * want) return std::nullopt;
        }
        return d->q;
    }
    const std::vector<double> b = constant_values(g, bias);
    if (b.size() != static_cast<size_t>(channels)) return std::nullopt;
    std::vector<double> q(b.size());
    for (int64_t c = 0; c < channels; ++c) {
        q[static_cast<size_t>(c)] = std::nearbyint(b[static_cast<size_t>(c)] / scale(c));
        // A bias that is not finite or does not fit int32 at this scale stays a float op
        // (found by test/fuzz/quant: converting it was undefined behaviour).
        if (!(std::abs(q[static_cast<size_t>(c)]) <= 2147483647.0)) return std::nullopt;
    }
    const std::string name = g.unique_name(bias + "_int32");
    g.add_constant(name, HostArray::from_doubles(DType::Int32, {channels}, q));
    return name;
}

void copy_activation(const Node &from, std::map<std::string, Attribute> &attrs) {
    for (const char *a : {"activation", "activation_min", "activation_max"}) {
        if (from.has(a)) attrs[a] = from.attrs.at(a);
    }
}

// Weights: a DequantizeLinear of a constant 8-bit tensor, per tensor or per channel along
// `axis` (the output-channel axis of the op reading it).
std::optional<Dequantized> constant_weights(const Graph &g, const std::string &w, int64_t axis) {
    auto d = dequantized(g, w);
    if (!d || !g.is_constant(d->q) || g.value(d->q).dtype == DType::Int32) return std::nullopt;
    const size_t count = constant_values(g, d->scale).size();
    const int64_t rank = static_cast<int64_t>(g.value(d->q).shape.size());
    if (count > 1 && (d->axis < 0 ? d->axis + rank : d->axis) != axis) return std::nullopt;
    return d;
}

// Q(Conv(DQ x, DQ w, bias)) -> QLinearConv.
bool fold_conv(Graph &g, size_t qi, size_t pi) {
    const Node &q = g.nodes[qi], &conv = g.nodes[pi];
    auto x = dequantized(g, conv.input(0));
    auto w = constant_weights(g, conv.input(1), 0);
    if (!x || !w || g.value(x->q).dtype == DType::Int32 || constant_values(g, x->scale).size() != 1) return false;
    const int64_t cout = g.value(w->q).shape[0];
    auto bias = int32_bias(g, conv.input(2), constant_values(g, x->scale), constant_values(g, w->scale), cout);
    if (!bias) return false;
    std::map<std::string, Attribute> attrs;
    for (const char *a : {"kernel_shape", "strides", "pads", "dilations", "group"}) {
        if (conv.has(a)) attrs[a] = conv.attrs.at(a);
    }
    copy_activation(conv, attrs);
    const std::string xz = zero_point_of(g, x->zero_point, g.value(x->q).dtype), wz = zero_point_of(g, w->zero_point, g.value(w->q).dtype);
    const std::string yz = zero_point_of(g, q.input(2), DType::UInt8);
    const std::vector<std::string> inputs = {x->q, x->scale, xz, w->q, w->scale, wz, q.input(1), yz, *bias};
    // With a fused activation it is megalide's fused form (ONNX's QLinearConv has none).
    const std::string op = attrs.count("activation") ? "com.megalide.FusedQLinearConv" : "QLinearConv";
    replace_with_node(g, {qi, pi}, std::string(q.outputs[0]), op, inputs, attrs, std::string(conv.name));
    return true;
}

// Q(Gemm(DQ a, DQ w, bias)) or Q(MatMul(DQ a, DQ w[, bias])) -> QLinearMatMul with bias
// (weights transposed on the host for Gemm's transB).
bool fold_matmul(Graph &g, size_t qi, size_t pi) {
    const Node &q = g.nodes[qi], &mm = g.nodes[pi];
    const bool gemm = unfused_op(mm) == "Gemm";
    if (mm.get_int("transA", 0) || (gemm && (mm.get_float("alpha", 1.0) != 1.0 || mm.get_float("beta", 1.0) != 1.0))) return false;
    if (!gemm && mm.get_int("transB", 0)) return false;
    const bool trans_b = gemm && mm.get_int("transB", 0);
    auto a = dequantized(g, mm.input(0));
    auto w = constant_weights(g, mm.input(1), trans_b ? 0 : 1);
    if (!a || !w || g.value(a->q).dtype == DType::Int32 || constant_values(g, a->scale).size() != 1) return false;
    if (g.value(w->q).shape.size() != 2) return false;
    std::string wq = w->q;
    const std::vector<int64_t> ws = g.value(wq).shape;
    const int64_t cols = trans_b ? ws[0] : ws[1];
    if (trans_b) {
        const HostArray &c = *g.value(wq).constant;
        std::vector<double> v = c.to_doubles(), t(v.size());
        for (int64_t r = 0; r < ws[0]; ++r)
            for (int64_t k = 0; k < ws[1]; ++k) t[static_cast<size_t>(k * ws[0] + r)] = v[static_cast<size_t>(r * ws[1] + k)];
        wq = g.unique_name(w->q + "_t");
        g.add_constant(wq, HostArray::from_doubles(c.dtype, {ws[1], ws[0]}, t));
    }
    auto bias = int32_bias(g, mm.input(2), constant_values(g, a->scale), constant_values(g, w->scale), cols);
    if (!bias) return false;
    std::map<std::string, Attribute> attrs;
    copy_activation(mm, attrs);
    const std::string az = zero_point_of(g, a->zero_point, g.value(a->q).dtype), wz = zero_point_of(g, w->zero_point, g.value(w->q).dtype);
    const std::string yz = zero_point_of(g, q.input(2), DType::UInt8);
    const std::vector<std::string> inputs = {a->q, a->scale, az, wq, w->scale, wz, q.input(1), yz, *bias};
    // A bias (and maybe an activation): megalide's fused form (ONNX's QLinearMatMul has neither).
    replace_with_node(g, {qi, pi}, std::string(q.outputs[0]), "com.megalide.FusedQLinearMatMul", inputs, attrs, std::string(mm.name));
    return true;
}

// Q(Add(DQ a, DQ b)) -> QLinearAdd; Q(AveragePool(DQ x)) -> QLinearAveragePool;
// Q(GlobalAveragePool(DQ x)) -> QLinearGlobalAveragePool.
bool fold_elementwise(Graph &g, size_t qi, size_t pi) {
    const Node &q = g.nodes[qi], &p = g.nodes[pi];
    const std::string yz = zero_point_of(g, q.input(2), DType::UInt8);
    if (p.op == "Add") {
        auto a = dequantized(g, p.input(0)), b = dequantized(g, p.input(1));
        if (!a || !b || g.value(a->q).dtype == DType::Int32 || g.value(b->q).dtype == DType::Int32) return false;
        if (constant_values(g, a->scale).size() != 1 || constant_values(g, b->scale).size() != 1) return false;
        const std::string az = zero_point_of(g, a->zero_point, g.value(a->q).dtype), bz = zero_point_of(g, b->zero_point, g.value(b->q).dtype);
        replace_with_node(g, {qi, pi}, std::string(q.outputs[0]), "com.microsoft.QLinearAdd", {a->q, a->scale, az, b->q, b->scale, bz, q.input(1), yz}, {}, std::string(p.name));
        return true;
    }
    auto x = dequantized(g, p.input(0));
    if (!x || g.value(x->q).dtype == DType::Int32 || constant_values(g, x->scale).size() != 1) return false;
    const std::string xz = zero_point_of(g, x->zero_point, g.value(x->q).dtype);
    replace_with_node(g, {qi, pi}, std::string(q.outputs[0]), "com.microsoft.QLinear" + p.op, {x->q, x->scale, xz, q.input(1), yz}, p.attrs, std::string(p.name));
    return true;
}

// Q(op(DQ x)) with the same quantization on both sides, for ops that commute with a
// monotonic affine map: the op runs on the quantized values (Relu and Clip with their
// bounds quantized).
bool fold_order_preserving(Graph &g, size_t qi, size_t pi) {
    const Node &q = g.nodes[qi], &p = g.nodes[pi];
    auto x = dequantized(g, p.input(0));
    if (!x || g.value(x->q).dtype == DType::Int32 || !same_params(g, *x, q)) return false;
    const std::vector<double> s = constant_values(g, x->scale);
    if (s.size() != 1) return false;
    std::vector<std::string> inputs = p.inputs;
    inputs[0] = x->q;
    std::string op = p.op;
    if (p.op == "Relu" || p.op == "Clip") {
        // Q(clamp(r, lo, hi)) = clamp(Q(r), Q(lo), Q(hi)): rounding and saturation are monotonic.
        const DType t = g.value(x->q).dtype;
        const double z = x->zero_point.empty() ? 0.0 : constant_values(g, x->zero_point)[0];
        double lo = 0, hi = INFINITY;
        if (p.op == "Clip") {
            if ((!p.input(1).empty() && !g.is_constant(p.input(1))) || (!p.input(2).empty() && !g.is_constant(p.input(2)))) return false;
            lo = p.input(1).empty() ? -INFINITY : constant_values(g, p.input(1))[0];
            hi = p.input(2).empty() ? INFINITY : constant_values(g, p.input(2))[0];
        }
        auto quantize = [&](double v) {
            return static_cast<double>(layers::quantize_scalar(static_cast<float>(v), static_cast<float>(s[0]), static_cast<int>(z), t == DType::Int8));
        };
        const std::string lo_name = g.unique_name(p.name + "_qmin"), hi_name = g.unique_name(p.name + "_qmax");
        g.add_constant(lo_name, HostArray::from_doubles(t, {}, {quantize(lo)}));
        g.add_constant(hi_name, HostArray::from_doubles(t, {}, {quantize(hi)}));
        inputs = {x->q, lo_name, hi_name};
        op = "Clip";
    }
    std::map<std::string, Attribute> attrs = op == p.op ? p.attrs : std::map<std::string, Attribute>{};
    replace_with_node(g, {qi, pi}, std::string(q.outputs[0]), op, inputs, attrs, std::string(p.name));
    return true;
}

}  // namespace

bool fold_qdq(Graph &g) {
    for (size_t qi = 0; qi < g.nodes.size(); ++qi) {
        const Node &q = g.nodes[qi];
        if (q.op != "QuantizeLinear" || !g.is_constant(q.input(1)) || constant_values(g, q.input(1)).size() != 1) continue;
        if (!q.input(2).empty() && !g.is_constant(q.input(2))) continue;
        const int p = producer_index(g, q.input(0));
        if (p < 0 || !single_use(g, q.input(0))) continue;
        const size_t pi = static_cast<size_t>(p);
        // The op's 8-bit form, as its registry entry declares it.
        const Node &p_node = g.nodes[pi];
        const OpDef *def = find_op(p_node.domain, p_node.op);
        const QuantizedForm form = def ? def->quantized : QuantizedForm::None;
        bool folded = false;
        if (form == QuantizedForm::Accumulating) {
            folded = unfused_op(p_node) == "Conv" ? fold_conv(g, qi, pi) : fold_matmul(g, qi, pi);
        } else if (form == QuantizedForm::Requantizing) {
            folded = fold_elementwise(g, qi, pi);
        } else if (form == QuantizedForm::PassThrough) {
            folded = fold_order_preserving(g, qi, pi);
        }
        if (folded) return true;
    }
    return false;
}

}  // namespace megalide::rules
