// Convolutions: float Conv in 1-D, 2-D and 3-D (and its fused form with bias and activation),
// ConvTranspose in 1-D, 2-D and 3-D, and the integer forms ConvInteger and QLinearConv (2-D).
// Activations are channels innermost inside (lowerer.h): (c, x, n), (c, x, y, n), (c, x, y, z, n).
#include "megalide/ops/registry.h"

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

const std::vector<AttributeSpec> kWindowAttributes = {
    {"kernel_shape", K::Ints, "the window (default: the weights' spatial extents)"},
    {"strides", K::Ints, "default 1 per spatial axis"},
    {"dilations", K::Ints, "default 1 per spatial axis"},
    {"pads", K::Ints, "begin and end per spatial axis, default 0"},
    {"auto_pad", K::String, "NOTSET (default), SAME_UPPER, SAME_LOWER or VALID"},
    {"group", K::Int, "input channels split into groups (default 1; = channels: depthwise)"},
};

// ONNX OIHW weights as the conv layers read them, (co, ci, kx, ky): O -> dimension 0,
// I -> 1, H -> 3, W -> 2.
const std::vector<int> kConvWeightLayout = {0, 1, 3, 2};
// 1-D: OIW as (co, ci, kx). 3-D: OIDHW as (co, ci, kx, ky, kz).
const std::vector<int> kConv1DWeightLayout = {0, 1, 2};
const std::vector<int> kConv3DWeightLayout = {0, 1, 4, 3, 2};

// ConvTranspose's weights (C, M/group, spatial...) as layers::conv_transpose reads them,
// (co, ci, kx[, ky[, kz]]): M/group -> dimension 0, C -> 1, the spatial axes reversed.
std::vector<int> transpose_weight_layout(int rank) {
    std::vector<int> m = {1, 0};
    for (int a = 2; a < rank; ++a) m.push_back(rank + 1 - a);
    return m;
}

// A 1-D convolution's operand, (c, x, n) or (co, ci, kx), as the 2-D layers read it, with a
// unit dimension inserted at `unit` ((c, x, 1, n), (co, ci, kx, 1)): a relabeling, which the
// schedulers inline into its reader, so no data moves.
Tensor with_unit_dim(Lowerer &L, const Tensor &t, int unit, const std::string &stem) {
    std::vector<Var> v = make_vars(t.rank() + 1);
    std::vector<Expr> at;
    for (int d = 0; d <= t.rank(); ++d) {
        if (d != unit) at.push_back(v[static_cast<size_t>(d)]);
    }
    Func f(L.func_name(stem));
    f(v) = t(at);
    record_stage(f, StageRole::Relayout);
    Shape shape = t.shape;
    shape.insert(shape.begin() + unit, 1);
    return {f, shape, t.type};
}

// The accumulation of a convolution reading x, w (and bias) from the given inputs; x_map
// and w_map (value, output channel) turn 8-bit operands into zero-point-free int32 ones.
// `bias_padded`: bias_override is defined (zero) as far as dot-packed weights are padded.
Tensor conv_accumulation(Lowerer &L, const Node &n, size_t x_input, size_t w_input, size_t bias_input,
                         const std::function<Expr(Expr)> &x_map, const std::function<Expr(Expr, Expr)> &w_map,
                         Halide::Type accumulator = Halide::Type(), Expr padding = Expr(),
                         const std::optional<Tensor> &bias_override = std::nullopt, bool bias_padded = false) {
    const Value &xv = L.info(n.input(x_input)), &wv = L.info(n.input(w_input));
    Dims k = n.get_ints("kernel_shape", {}), s = n.get_ints("strides", {}), d = n.get_ints("dilations", {}),
         p = n.get_ints("pads", {});
    // A 1-D convolution (N, C, W) is the 2-D one of (N, C, 1, W): the same attributes with a
    // unit H axis (kernel 1, stride 1, dilation 1, no pads).
    const bool one_d = xv.shape.size() == 3;
    if (one_d) k = {1, k[0]}, s = {1, s[0]}, d = {1, d[0]}, p = {0, p[0], 0, p[1]};
    const int64_t group = n.get_int("group", 1);
    layers::Conv2DParams params;
    params.stride_y = static_cast<int>(s[0]), params.stride_x = static_cast<int>(s[1]);
    params.dilation_y = static_cast<int>(d[0]), params.dilation_x = static_cast<int>(d[1]);
    params.pad_top = static_cast<int>(p[0]), params.pad_left = static_cast<int>(p[1]);
    params.pad_bottom = static_cast<int>(p[2]), params.pad_right = static_cast<int>(p[3]);
    params.groups = static_cast<int>(group);
    Tensor x = one_d ? with_unit_dim(L, L.as_layout(L.get(n.input(x_input)), channels_innermost_layout(3)).t, 2,
                                     L.stage(n) + "_x2d")
                     : L.as_layout(L.get(n.input(x_input)), channels_innermost_layout(4)).t;
    if (x_map) {
        x = layers::map_elements("widen", L.func_name(L.stage(n) + "_x"), x, x_map);
        x.type = Halide::Int(32);
    }
    std::optional<Tensor> bias = bias_override;
    if (!bias && !n.input(bias_input).empty()) bias = L.operand_in_layout(n.input(bias_input), plain_layout(1));
    params.accumulator = accumulator;
    params.padding = padding;
    // OIHW weights as (co, ci, kx, ky), zero points removed where there are any.
    const int64_t cin_per_group = wv.shape[1];
    const bool byte_dot = accumulator == Halide::Int(32) && !x_map && !w_map && wv.constant && item_size(wv.dtype) == 1 &&
                          item_size(xv.dtype) == 1 && cin_per_group % 4 == 0;
    auto weights = [&]() {
        if (byte_dot) return L.dot_packed_weights(n.input(w_input));
        // Dense 2-D float weights as cache-line panels of output channels (lowerer.h).
        if (!one_d && !w_map && wv.constant && group == 1 && !L.values_.count(n.input(w_input))) {
            if (auto w = L.panel_packed_weights(n.input(w_input), kConvWeightLayout)) return *w;
        }
        Tensor w = one_d ? with_unit_dim(L, L.operand_in_layout(n.input(w_input), kConv1DWeightLayout), 3, L.stage(n) + "_w2d")
                         : L.operand_in_layout(n.input(w_input), kConvWeightLayout);
        if (!w_map) return w;
        std::vector<Var> v = make_vars(4);
        Func f(L.func_name(L.stage(n) + "_wq"));
        f(v) = w_map(w(as_exprs(v)), v[0]);
        return Tensor{f, w.shape, Halide::Int(32)};
    };
    const int64_t cin = xv.shape[1], cout = wv.shape[0];
    const std::string name = L.stage(n);
    Tensor out;
    const bool pointwise = k == Dims{1, 1} && s == Dims{1, 1} && p == Dims{0, 0, 0, 0} && group == 1;
    if (group == cin && wv.shape[1] == 1 && cout % cin == 0 && group > 1) {
        // Depthwise: OIHW (C*M, 1, KH, KW) read as (co, kx, ky).
        Tensor w3 = weights();  // (co, 1, kx, ky)
        std::vector<Var> vars = make_vars(3);
        Func wf(L.func_name(name + "_w"));
        wf(vars) = w3({vars[0], 0, vars[1], vars[2]});
        Tensor wt{wf, {static_cast<int>(cout), static_cast<int>(k[1]), static_cast<int>(k[0])}, w3.type};
        out = layers::depthwise_conv2d(name + "_acc", x, wt, bias, params);
    } else if (pointwise) {
        Tensor w4 = weights();  // (co, ci, 1, 1)
        std::vector<Var> vars = make_vars(2);
        Func wf(L.func_name(name + "_w"));
        wf(vars) = w4({vars[0], vars[1], 0, 0});
        out = layers::pointwise_conv2d(name + "_acc", x, {wf, {static_cast<int>(cout), static_cast<int>(cin)}, w4.type}, bias, accumulator);
    } else {
        out = layers::conv2d(name + "_acc", x, weights(), bias, params);
    }
    // Output channels past cout read zero weights (and a zero or no bias) and, with one group,
    // only the input channels every output reads: whole vectors may be computed there.
    if (byte_dot && group == 1 && (!bias || (bias_override && bias_padded))) {
        L.facts_[out.func.name()].padded_channels = Lowerer::dot_padded_channels(cout);
    }
    return out;
}

// For a QLinearConv of uint8 x and int8 weights with zero points 0 (the symmetric scheme
// megalide quantize writes), the bias that makes sum(x * w) equal sum((x - zx) * w):
// B(c) - zx * sum(w(c, ...)), precomputed on the host when x's zero point, the weights and
// the bias are constants (`padded`: zero beyond the channels, as the packed weights are),
// else a per-channel reduction. nullopt when the op does not qualify.
struct ByteConvBias {
    Tensor bias;
    bool padded = false;
};

std::optional<ByteConvBias> byte_conv_bias(Lowerer &L, const Node &n) {
    const Value &x = L.info(n.input(0)), &w = L.info(n.input(3));
    if (x.dtype != DType::UInt8 || w.dtype != DType::Int8) return std::nullopt;
    if (!n.input(5).empty()) {
        if (!L.info(n.input(5)).constant) return std::nullopt;
        for (double z : L.info(n.input(5)).constant->to_doubles()) if (z != 0) return std::nullopt;
    }
    const int64_t cout = w.shape[0], per_channel = w.shape[1] * w.shape[2] * w.shape[3];
    const std::string xz = n.input(2), b = n.input(8);
    const bool constant = (xz.empty() || L.info(xz).constant) && w.constant && (b.empty() || L.info(b).constant);
    if (constant) {
        const double zx = xz.empty() ? 0 : L.info(xz).constant->to_doubles().at(0);
        const std::vector<double> wv = w.constant->to_doubles();
        const std::vector<double> bv = b.empty() ? std::vector<double>(static_cast<size_t>(cout), 0) : L.info(b).constant->to_doubles();
        // Zero beyond the channels, as far as the packed weights go (StageFacts::padded_channels).
        Halide::Buffer<int32_t> folded = constant_buffer(Halide::Int(32), {Lowerer::dot_padded_channels(cout)});
        for (int64_t c = 0; c < cout; ++c) {
            double sum = 0;
            for (int64_t k = 0; k < per_channel; ++k) sum += wv[static_cast<size_t>(c * per_channel + k)];
            folded(static_cast<int>(c)) = static_cast<int32_t>(bv[static_cast<size_t>(c)] - zx * sum);
        }
        return ByteConvBias{tensor_from_buffer(L.func_name(L.stage(n) + "_bias"), folded, {static_cast<int>(cout)}), true};
    }
    Tensor wt = L.operand_in_layout(n.input(3), kConvWeightLayout);  // (co, ci, kx, ky)
    Halide::RDom r(0, wt.dim(1), 0, wt.dim(2), 0, wt.dim(3));
    Var c("c");
    Func wsum(L.func_name(L.stage(n) + "_wsum")), folded(L.func_name(L.stage(n) + "_bias"));
    wsum(c) = 0;
    wsum(c) += Halide::cast<int32_t>(wt({c, r.x, r.y, r.z}));
    Expr zx = Halide::cast<int32_t>(L.qparam(xz, {}, 0, Expr(0)));
    Expr bias = b.empty() ? Expr(0) : L.operand_in_layout(b, plain_layout(1))({c});
    folded(c) = bias - zx * wsum(c);
    return ByteConvBias{Tensor{folded, {static_cast<int>(cout)}, Halide::Int(32)}, false};
}

// The output stage of a 1-D convolution computed by the 2-D layers: Lowerer::epilogue's stage
// (the fused activation; the bias is in the accumulator) reading the accumulator's unit y at
// 0, so the node's output is (c, x, n). Paired with the accumulator as epilogue() pairs them,
// so the schedulers tile the two together as for 2-D.
Tensor epilogue_dropping_unit_y(Lowerer &L, const Node &n, const Tensor &acc) {
    std::vector<Var> v = make_vars(3);
    Expr e = L.activation(n, acc({v[0], v[1], 0, v[2]}));
    Func out(L.stage(n));
    out(v) = e;
    L.accumulators_[out.name()] = acc.func.name();
    return {out, {acc.dim(0), acc.dim(1), acc.dim(3)}, e.type()};
}

// A 3-D convolution's accumulation (bias included), (co, x, y, z, n).
Tensor conv3d_accumulation(Lowerer &L, const Node &n) {
    const Dims s = n.get_ints("strides", {}), d = n.get_ints("dilations", {}), p = n.get_ints("pads", {});
    layers::Conv3DParams params;
    // ONNX's spatial axes are (D, H, W); the layer's (x, y, z) = (W, H, D).
    for (size_t i = 0; i < 3; ++i) {
        params.strides[i] = static_cast<int>(s[2 - i]);
        params.dilations[i] = static_cast<int>(d[2 - i]);
        params.pad_begin[i] = static_cast<int>(p[2 - i]);
        params.pad_end[i] = static_cast<int>(p[5 - i]);
    }
    params.groups = static_cast<int>(n.get_int("group", 1));
    Tensor x = L.as_layout(L.get(n.input(0)), channels_innermost_layout(5)).t;
    Tensor w = L.operand_in_layout(n.input(1), kConv3DWeightLayout);
    std::optional<Tensor> bias;
    if (!n.input(2).empty()) bias = L.operand_in_layout(n.input(2), plain_layout(1));
    return layers::conv3d(L.stage(n) + "_acc", x, w, bias, params);
}

void lower_conv(Lowerer &L, const Node &n) {
    L.float_only(n);
    switch (L.info(n.input(0)).shape.size()) {
    case 3: L.define(n, epilogue_dropping_unit_y(L, n, conv_accumulation(L, n, 0, 1, 2, {}, {})), channels_innermost_layout(3)); return;
    case 5: L.define(n, L.epilogue(n, conv3d_accumulation(L, n)), channels_innermost_layout(5)); return;
    default: L.define(n, L.epilogue(n, conv_accumulation(L, n, 0, 1, 2, {}, {})), channels_innermost_layout(4)); return;
    }
}

// ConvTranspose: the gather of layers::conv_transpose, geometry from the canonical attributes
// (conv_transpose_output) and the output's shape; the bias is added in the epilogue.
void lower_conv_transpose(Lowerer &L, const Node &n) {
    L.float_only(n);
    const int rank = static_cast<int>(L.info(n.input(0)).shape.size());
    const Dims &out = L.info(n.outputs.at(0)).shape;
    const Dims s = n.get_ints("strides", {}), d = n.get_ints("dilations", {}), p = n.get_ints("pads", {});
    layers::ConvTransposeParams params;
    params.groups = static_cast<int>(n.get_int("group", 1));
    for (int i = 0; i < rank - 2; ++i) {
        const size_t a = static_cast<size_t>(rank - 3 - i);  // Halide axis i (x first) is ONNX spatial axis a
        params.strides.push_back(static_cast<int>(s[a]));
        params.dilations.push_back(static_cast<int>(d[a]));
        params.pad_begin.push_back(static_cast<int>(p[a]));
        params.output_extents.push_back(static_cast<int>(out[2 + a]));
    }
    Tensor x = L.as_layout(L.get(n.input(0)), channels_innermost_layout(rank)).t;
    Tensor w = L.operand_in_layout(n.input(1), transpose_weight_layout(rank));
    std::optional<Tensor> bias;
    if (!n.input(2).empty()) bias = L.operand_in_layout(n.input(2), plain_layout(1));
    Tensor acc = layers::conv_transpose(L.stage(n) + "_acc", x, w, std::nullopt, params);
    L.define(n, L.epilogue(n, acc, bias), channels_innermost_layout(rank));
}

// ConvInteger(x, w, x_zero_point, w_zero_point); QLinearConv(x, x_scale, x_zero_point, w,
// w_scale, w_zero_point, y_scale, y_zero_point, B) when `qlinear`.
void lower_integer_conv(Lowerer &L, const Node &n, bool qlinear) {
    using Post = Lowerer::Post;
    const std::string xz = n.input(qlinear ? 2 : 2), wz = n.input(qlinear ? 5 : 3);
    Expr x_zp = L.qparam(xz, {}, 0, Expr(0));
    Tensor acc;
    if (std::optional<ByteConvBias> bias = qlinear ? byte_conv_bias(L, n) : std::nullopt) {
        // uint8 x int8 with symmetric weights: the products of the raw bytes accumulate in
        // int32 (a VNNI dot product), the input's zero point leaves through the bias, and
        // padding reads the zero point, as (x - zx) = 0 there.
        acc = conv_accumulation(L, n, 0, 3, 8, {}, {}, Halide::Int(32), x_zp, bias->bias, bias->padded);
    } else {
        auto x_map = [=](Expr v) { return Halide::cast<int32_t>(v) - Halide::cast<int32_t>(x_zp); };
        auto w_map = [&, wz](Expr v, Expr co) {
            return Halide::cast<int32_t>(v) - Halide::cast<int32_t>(L.qparam(wz, {co}, 0, Expr(0)));
        };
        acc = conv_accumulation(L, n, 0, qlinear ? 3 : 1, qlinear ? 8 : 99, x_map, w_map);
    }
    Post post;
    if (qlinear) {
        post = [&](Expr v, const std::vector<Var> &vars) {
            return L.requantize(n, v, as_exprs(vars), 0, n.input(1), n.input(4), n.input(6), n.input(7));
        };
    }
    L.define(n, L.epilogue(n, acc, std::nullopt, post), channels_innermost_layout(4));
}

void infer_integer_conv(Graph &g, Node &n, bool q) {
    const Value &x = input(g, n, 0), &w = input(g, n, q ? 3 : 1);
    if (x.shape.size() != 4 || w.shape.size() != 4) {
        fail(n, n.op + " supports 2-D convolution only (input and weights of rank 4): input " + dims_str(x.shape) +
                    ", weights " + dims_str(w.shape));
    }
    const int64_t cout = w.shape.empty() ? 0 : w.shape[0];
    check_integer_operands(g, n, q, x, w, cout, "x_", "w_", "B");
    if (!q) {
        check_quant_params(g, n, SIZE_MAX, has_input(n, 2) ? 2 : SIZE_MAX, 1, "x_");
        check_quant_params(g, n, SIZE_MAX, has_input(n, 3) ? 3 : SIZE_MAX, cout, "w_");
    }
    set_output(g, n, 0, q ? input(g, n, 7).dtype : DType::Int32, conv_output(n, x, w, SIZE_MAX, g));
    if (q) record_quant(g, n, 6, 7, 1);
}

}  // namespace

void register_conv_ops(std::vector<OpDef> &ops) {
    OpDef conv;
    conv.name = "Conv";
    conv.summary = "1-D, 2-D and 3-D convolution (grouped, depthwise, pointwise), float";
    conv.attributes = kWindowAttributes;
    conv.infer = [](Graph &g, Node &n) {
        set_output(g, n, 0, input(g, n, 0).dtype, conv_output(n, input(g, n, 0), input(g, n, 1), 2, g));
    };
    conv.lower = lower_conv;
    conv.quantized = QuantizedForm::Accumulating;
    ops.push_back(conv);

    OpDef transpose;
    transpose.name = "ConvTranspose";
    transpose.summary = "1-D, 2-D and 3-D transposed convolution (grouped), float";
    transpose.attributes = kWindowAttributes;
    transpose.attributes.push_back({"output_padding", K::Ints, "added to the output's end per spatial axis, default 0"});
    transpose.attributes.push_back({"output_shape", K::Ints, "the output's spatial extents; the pads follow from it"});
    transpose.infer = [](Graph &g, Node &n) {
        set_output(g, n, 0, input(g, n, 0).dtype, conv_transpose_output(n, input(g, n, 0), input(g, n, 1), 2, g));
    };
    transpose.lower = lower_conv_transpose;
    ops.push_back(transpose);

    OpDef conv_integer;
    conv_integer.name = "ConvInteger";
    conv_integer.summary = "2-D convolution of 8-bit values with zero points, int32 result";
    conv_integer.attributes = kWindowAttributes;
    conv_integer.infer = [](Graph &g, Node &n) { infer_integer_conv(g, n, false); };
    conv_integer.lower = [](Lowerer &L, const Node &n) { lower_integer_conv(L, n, false); };
    ops.push_back(conv_integer);

    OpDef qlinear = conv_integer;
    qlinear.name = "QLinearConv";
    qlinear.summary = "2-D convolution of quantized 8-bit values, requantized to the output's scale";
    qlinear.infer = [](Graph &g, Node &n) { infer_integer_conv(g, n, true); };
    qlinear.lower = [](Lowerer &L, const Node &n) { lower_integer_conv(L, n, true); };
    ops.push_back(qlinear);
}

}  // namespace megalide::ops
