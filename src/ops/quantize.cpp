// Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, and the 8-bit ops
// that dequantize, compute in float and quantize again in one stage: ONNX Runtime's contrib
// QLinearAdd, QLinearAveragePool, QLinearGlobalAveragePool, and megalide's Requantize.
#include "megalide/ops/registry.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

layers::Pool2DParams pool_params(const Node &n);  // pool.cpp

namespace {

using K = Attribute::Kind;

void lower_quantize_linear(Lowerer &L, const Node &n) {
    const std::string &op = n.op;
    const std::string name = L.stage(n);
    Lowered x = L.get(n.input(0));
    const int rank = x.rank();
    // A dequantized graph output is made in the output's own layout: the 8-bit value is
    // relabeled (read across its layout) instead of the float result being transposed in
    // a pass of its own.
    if (op == "DequantizeLinear" && std::count(L.g_.outputs.begin(), L.g_.outputs.end(), n.outputs[0])) {
        x = L.as_layout(x, plain_layout(rank));
    }
    // A quantized image input is made channels-innermost, the order convolutions read:
    // the relabeling happens as it is quantized, not in a pass over the bytes of its own.
    if (op == "QuantizeLinear" && rank == 4 && std::count(L.g_.inputs.begin(), L.g_.inputs.end(), n.input(0))) {
        x = L.as_layout(x, channels_innermost_layout(4));
    }
    int64_t axis = n.get_int("axis", 1);
    if (axis < 0) axis += rank;
    // The axis matters only for per-axis parameters, which shape inference validated; a
    // per-tensor node may carry any axis (found by test/fuzz/quant).
    const int dim = axis >= 0 && axis < rank ? x.dim_of_axis[static_cast<size_t>(axis)] : 0;
    std::vector<Var> vars = make_vars(rank);
    const std::vector<Expr> coords = as_exprs(vars);
    Expr scale = L.qparam(n.input(1), coords, dim, Expr(1.0f));
    Expr zp = L.qparam(n.input(2), coords, dim, Halide::cast<uint8_t>(0));
    const Halide::Type type = halide_type(L.info(n.outputs[0]).dtype);
    Func f(name);
    Expr v = x.t(coords);
    Expr e = op == "QuantizeLinear" ? layers::quantize_value(Halide::cast<float>(v), scale, zp, type) : layers::dequantize_value(v, scale, zp);
    if (rank) f(vars) = e; else f() = e;
    L.define(n, Tensor{f, x.t.shape, type}, x.dim_of_axis);
}

void lower_dynamic_quantize(Lowerer &L, const Node &n) {
    const std::string name = L.stage(n);
    // y_scale = (max(0, max x) - min(0, min x)) / 255, y_zero_point = saturate(round(-min / y_scale)),
    // y = saturate(round(x / y_scale) + y_zero_point), all uint8 (ONNX's definition).
    Lowered x = L.get(n.input(0));
    std::vector<Halide::Range> ranges;
    for (int e : x.t.shape) ranges.emplace_back(0, e);
    Halide::RDom r(ranges);
    std::vector<Expr> at;
    for (int d = 0; d < r.dimensions(); ++d) at.push_back(r[d]);
    Func lo(L.func_name(name + "_min")), hi(L.func_name(name + "_max")), scale(L.func_name(name + "_scale")), zp(L.func_name(name + "_zero_point"));
    lo() = Halide::min(0.0f, Halide::minimum(x.t(at)));
    hi() = Halide::max(0.0f, Halide::maximum(x.t(at)));
    scale() = Halide::strict_float((hi() - lo()) / 255.0f);
    zp() = Halide::saturating_cast<uint8_t>(Halide::strict_float(Halide::round(Halide::clamp(0.0f - lo() / scale(), 0.0f, 255.0f))));
    std::vector<Var> vars = make_vars(x.rank());
    Func y(name);
    y(vars) = layers::quantize_value(x.t(as_exprs(vars)), scale(), zp(), Halide::UInt(8));
    L.define(n, Tensor{y, x.t.shape, Halide::UInt(8)}, x.dim_of_axis);
    if (n.outputs.size() > 1 && !n.outputs[1].empty()) L.values_[n.outputs[1]] = {Tensor{scale, {}, Halide::Float(32)}, {}};
    if (n.outputs.size() > 2 && !n.outputs[2].empty()) L.values_[n.outputs[2]] = {Tensor{zp, {}, Halide::UInt(8)}, {}};
}

// QLinearAdd in integers only, for the fixed_point mode (HVX v66 has no float vectors), as
// gemmlowp / TFLite add 8-bit tensors: each operand's offset value is shifted left by 20 bits,
// scaled by its share of twice the larger input scale (a fixed-point multiplier below 1), the
// two summed in int32, and the sum requantized to the output scale:
//   y = zy + round(2^-20 (round(2^20 (a - za) sa / S) + round(2^20 (b - zb) sb / S)) S / sy),
//   S = 2 max(sa, sb).
// 2^20 x 255 fits int32 with room for the sum; each rounding is at most half a unit of 2^-20,
// so y is within one step of the float form. Needs constant per-tensor scales and zero
// points; returns false (the float form is used) otherwise.
bool lower_fixed_point_add(Lowerer &L, const Node &n) {
    auto constant_scalar = [&](size_t i, double *out) {
        const std::string &v = n.input(i);
        if (v.empty() || !L.info(v).constant) return false;
        const std::vector<double> d = L.info(v).constant->to_doubles();
        if (d.size() != 1) return false;
        *out = d[0];
        return true;
    };
    double sa, za, sb, zb, sy, zy;
    if (!constant_scalar(1, &sa) || !constant_scalar(2, &za) || !constant_scalar(4, &sb) || !constant_scalar(5, &zb) ||
        !constant_scalar(6, &sy) || !constant_scalar(7, &zy)) {
        return false;
    }
    constexpr int kLeftShift = 20;
    const double twice = 2 * std::max(sa, sb);
    const layers::FixedPointMultiplier ma = layers::fixed_point_multiplier(sa / twice, n.label());
    const layers::FixedPointMultiplier mb = layers::fixed_point_multiplier(sb / twice, n.label());
    const layers::FixedPointMultiplier my = layers::fixed_point_multiplier(twice / (std::ldexp(1.0, kLeftShift) * sy), n.label());
    Lowered a = L.get(n.input(0)), b = L.get(n.input(3));
    const int rank = std::max(a.rank(), b.rank());
    std::vector<int> layout = plain_layout(rank);
    if (rank == 4 && (a.dim_of_axis == channels_innermost_layout(4) || b.dim_of_axis == channels_innermost_layout(4))) {
        layout = channels_innermost_layout(4);
    }
    a = L.as_layout(L.expand_rank(a, rank), layout);
    b = L.as_layout(L.expand_rank(b, rank), layout);
    const Halide::Type type = halide_type(L.info(n.outputs[0]).dtype);
    auto scaled = [&](const Lowered &x, double zero_point, const layers::FixedPointMultiplier &m, const std::vector<Var> &vars) {
        std::vector<Expr> at;
        for (size_t d = 0; d < vars.size(); ++d) at.push_back(x.t.shape[d] == 1 ? Expr(0) : Expr(vars[d]));
        Expr offset = (Halide::cast<int32_t>(x.t(at)) - static_cast<int>(zero_point)) << kLeftShift;
        return layers::scale_fixed_point(offset, m.multiplier, m.shift);
    };
    std::vector<Var> vars = make_vars(rank);
    Shape shape(static_cast<size_t>(rank));
    for (int d = 0; d < rank; ++d) shape[static_cast<size_t>(d)] = std::max(a.t.shape[static_cast<size_t>(d)], b.t.shape[static_cast<size_t>(d)]);
    Func f(L.stage(n));
    f(vars) = layers::requantize_fixed_point(scaled(a, za, ma, vars) + scaled(b, zb, mb, vars), my.multiplier, my.shift,
                                             static_cast<int>(zy), type);
    L.define(n, Tensor{f, shape, type}, layout);
    return true;
}

// Requantize in integers only, for the fixed_point mode: y = zy + round((x - zx) sx / sy) with
// sx / sy as a fixed-point multiplier (within one step of the float form, as a convolution's
// requantization). Needs constant per-tensor parameters; returns false (the float form is
// used) otherwise.
bool lower_fixed_point_requantize(Lowerer &L, const Node &n) {
    double p[4];
    for (size_t i = 1; i <= 4; ++i) {
        const std::string &v = n.input(i);
        if (v.empty() || !L.info(v).constant) return false;
        const std::vector<double> d = L.info(v).constant->to_doubles();
        if (d.size() != 1) return false;
        p[i - 1] = d[0];
    }
    const double sx = p[0], zx = p[1], sy = p[2], zy = p[3];
    const layers::FixedPointMultiplier m = layers::fixed_point_multiplier(sx / sy, n.label());
    const Lowered x = L.get(n.input(0));
    std::vector<Var> vars = make_vars(x.rank());
    Func f(L.stage(n));
    const Halide::Type type = halide_type(L.info(n.outputs[0]).dtype);
    f(vars) = layers::requantize_fixed_point(Halide::cast<int32_t>(x.t(as_exprs(vars))) - static_cast<int>(zx), m.multiplier,
                                             m.shift, static_cast<int>(zy), type);
    L.define(n, Tensor{f, x.t.shape, type}, x.dim_of_axis);
    return true;
}

// dequantize, the float op, quantize (by the output scale's reciprocal)
void lower_requantizing(Lowerer &L, const Node &n) {
    const std::string &op = n.op;
    const std::string name = L.stage(n);
    // megalide's quantized ops (rules.h): dequantize, the float op, quantize (by the output
    // scale's reciprocal) — the arithmetic of the DequantizeLinear -> op -> QuantizeLinear
    // they replace up to a tie rounded the other way; the floats live in registers only.
    const bool add = op == "QLinearAdd";
    const size_t ys = add ? 6 : 3, yz = add ? 7 : 4;
    const Halide::Type type = halide_type(L.info(n.outputs[0]).dtype);
    auto dequantized = [&](const Lowered &x, size_t i, const std::string &suffix) {
        std::vector<Var> vars = make_vars(x.rank());
        Func f(L.func_name(name + suffix));
        // strict_float: no contraction of the scaling into the op's adds (a fused
        // multiply-add in one schedule and not another would round differently).
        f(vars) = Halide::strict_float(layers::dequantize_value(x.t(as_exprs(vars)), L.qparam(n.input(i + 1), {}, 0, Expr(1.0f)),
                                                                L.qparam(n.input(i + 2), {}, 0, Expr(0))));
        return Lowered{Tensor{f, x.t.shape, Halide::Float(32)}, x.dim_of_axis};
    };
    if (L.options_.requantization == layers::Requantization::FixedPoint) {
        if (add && lower_fixed_point_add(L, n)) return;
        if (op == "Requantize" && lower_fixed_point_requantize(L, n)) return;
    }
    Lowered real;
    if (add) {
        // The bytes are relabeled (sharing the relayout other readers of the value use),
        // then dequantized.
        Lowered a = L.get(n.input(0)), b = L.get(n.input(3));
        const int rank = std::max(a.rank(), b.rank());
        std::vector<int> layout = plain_layout(rank);
        if (rank == 4 && (a.dim_of_axis == channels_innermost_layout(4) || b.dim_of_axis == channels_innermost_layout(4))) {
            layout = channels_innermost_layout(4);
        }
        a = dequantized(L.as_layout(L.expand_rank(a, rank), layout), 0, "_a");
        b = dequantized(L.as_layout(L.expand_rank(b, rank), layout), 3, "_b");
        real = {layers::add(name + "_real", a.t, b.t), layout};
    } else if (op == "Requantize") {
        real = dequantized(L.get(n.input(0)), 0, "_real");
    } else {
        Lowered x = dequantized(L.get(n.input(0)), 0, "_x");
        Tensor xc = L.as_layout(x, channels_innermost_layout(4)).t;
        if (op == "QLinearGlobalAveragePool") {
            real = {layers::global_avg_pool2d(name + "_real", xc), channels_innermost_layout(4)};
        } else {
            real = {layers::avg_pool2d(name + "_real", xc, pool_params(n)), channels_innermost_layout(4)};
        }
    }
    std::vector<Var> vars = make_vars(real.rank());
    Func f(name);
    // The output scale's reciprocal is loop-invariant: one division per call, not per element.
    Expr inverse = 1.0f / L.qparam(n.input(ys), {}, 0, Expr(1.0f));
    Expr q = layers::quantize_by_reciprocal(real.t(as_exprs(vars)), inverse, L.qparam(n.input(yz), {}, 0, Expr(0)), type);
    // fixed_point is the mode for every target (HVX, SME) to agree bit for bit with the host:
    // the float sum and its scaling stay strict there, so no code generator contracts them
    // into a fused multiply-add (B1's QLinearAdd under per_op on HVX v66 rounded 5% of its
    // outputs one step the other way before this).
    if (L.options_.requantization == layers::Requantization::FixedPoint) q = Halide::strict_float(q);
    f(vars) = q;
    L.define(n, Tensor{f, real.t.shape, type}, real.dim_of_axis);
}

void infer_quantize_linear(Graph &g, Node &n) {
    const std::string &op = n.op;
    const Value &x = input(g, n, 0);
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    // The axis matters (and must be valid) only for per-axis parameters.
    const Dims &scale_shape = input(g, n, 1).shape;
    const bool per_axis = std::accumulate(scale_shape.begin(), scale_shape.end(), int64_t{1}, std::multiplies<int64_t>()) > 1;
    const int64_t axis = per_axis ? normalize_axis(n, n.get_int("axis", 1), rank) : 0;
    check_quant_params(g, n, 1, has_input(n, 2) ? 2 : SIZE_MAX, per_axis ? x.shape[static_cast<size_t>(axis)] : 1,
                       op == "QuantizeLinear" ? "y_" : "x_", op == "DequantizeLinear" && x.dtype == DType::Int32);
    if (op == "DequantizeLinear") {
        if (x.dtype != DType::UInt8 && x.dtype != DType::Int8 && x.dtype != DType::Int32) fail(n, "x must be uint8, int8 or int32, got " + to_string(x.dtype));
        set_output(g, n, 0, DType::Float32, x.shape);
    } else {
        if (x.dtype != DType::Float32 && x.dtype != DType::Int32) fail(n, "x must be float32 or int32, got " + to_string(x.dtype));
        set_output(g, n, 0, has_input(n, 2) ? input(g, n, 2).dtype : DType::UInt8, x.shape);
        record_quant(g, n, 1, 2, static_cast<int>(axis));
    }
}

}  // namespace

void register_quantized_ops(std::vector<OpDef> &ops) {
    OpDef quantize;
    quantize.name = "QuantizeLinear";
    quantize.summary = "saturate(round(x / scale) + zero_point), per tensor or per axis";
    quantize.attributes = {{"axis", K::Int, "the channel axis of per-axis parameters (default 1)"}};
    quantize.infer = infer_quantize_linear;
    quantize.lower = lower_quantize_linear;
    ops.push_back(quantize);

    OpDef dequantize = quantize;
    dequantize.name = "DequantizeLinear";
    dequantize.summary = "(x - zero_point) * scale, per tensor or per axis";
    ops.push_back(dequantize);

    OpDef dynamic;
    dynamic.name = "DynamicQuantizeLinear";
    dynamic.summary = "uint8 quantization with scale and zero point computed from x's range";
    dynamic.infer = [](Graph &g, Node &n) {
        const Value &x = input(g, n, 0);
        if (x.dtype != DType::Float32) fail(n, "x must be float32, got " + to_string(x.dtype));
        set_output(g, n, 0, DType::UInt8, x.shape);
        set_output(g, n, 1, DType::Float32, {});
        set_output(g, n, 2, DType::UInt8, {});
    };
    dynamic.lower = lower_dynamic_quantize;
    ops.push_back(dynamic);

    OpDef add;
    add.domain = kMicrosoftDomain;
    add.name = "QLinearAdd";
    add.summary = "A + B on quantized values, requantized to C's scale (ONNX Runtime's signature)";
    add.infer = [](Graph &g, Node &n) {
        const Value &a = input(g, n, 0), &b = input(g, n, 3);
        check_quant_params(g, n, 1, 2, 1, "A_");
        check_quant_params(g, n, 4, 5, 1, "B_");
        check_quant_params(g, n, 6, 7, 1, "C_");
        set_output(g, n, 0, input(g, n, 7).dtype, broadcast_shape(n.label(), a.shape, b.shape));
        record_quant(g, n, 6, 7, -1);
    };
    add.lower = lower_requantizing;
    ops.push_back(add);

    OpDef pool;
    pool.domain = kMicrosoftDomain;
    pool.name = "QLinearAveragePool";
    pool.summary = "AveragePool on quantized values (ONNX Runtime's signature)";
    pool.attributes = {{"kernel_shape", K::Ints, "as AveragePool"}, {"strides", K::Ints, "as AveragePool"},
                       {"pads", K::Ints, "as AveragePool"}, {"auto_pad", K::String, "as AveragePool"},
                       {"ceil_mode", K::Int, "as AveragePool"}, {"count_include_pad", K::Int, "as AveragePool"}};
    pool.infer = [](Graph &g, Node &n) {
        const Value &x = input(g, n, 0);
        if (x.shape.size() != 4) fail(n, "only 2-D pooling is supported, input " + dims_str(x.shape));
        check_quant_params(g, n, 1, 2, 1, "x_");
        check_quant_params(g, n, 3, 4, 1, "y_");
        Dims out = {x.shape[0], x.shape[1], 1, 1};
        if (n.op == "QLinearAveragePool") {
            if (!n.has("kernel_shape")) fail(n, "kernel_shape is required");
            out = window_op(n, x.shape, n.get_ints("kernel_shape", {}), true);
        }
        set_output(g, n, 0, input(g, n, 4).dtype, out);
        record_quant(g, n, 3, 4, -1);
    };
    pool.lower = lower_requantizing;
    ops.push_back(pool);

    OpDef global = pool;
    global.name = "QLinearGlobalAveragePool";
    global.summary = "GlobalAveragePool on quantized values (ONNX Runtime's signature)";
    global.attributes = {};
    ops.push_back(global);

    // Made by fold_requantize from DequantizeLinear -> QuantizeLinear.
    OpDef requantize;
    requantize.domain = kMegalideDomain;
    requantize.name = "Requantize";
    requantize.summary = "8-bit values from one scale and zero point to another";
    requantize.importable = false;
    requantize.infer = [](Graph &g, Node &n) {
        check_quant_params(g, n, 1, 2, 1, "x_");
        check_quant_params(g, n, 3, 4, 1, "y_");
        set_output(g, n, 0, input(g, n, 4).dtype, input(g, n, 0).shape);
        record_quant(g, n, 3, 4, -1);
    };
    requantize.lower = lower_requantizing;
    ops.push_back(requantize);
}

}  // namespace megalide::ops
