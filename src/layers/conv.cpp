#include "megalide/layers/conv.h"

#include "checks.h"
#include "window.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

namespace {

struct ConvGeometry {
    int out_width, out_height;
};

ConvGeometry check_geometry(const std::string &label, const Tensor &input, int kernel_x,
                            int kernel_y, const Conv2DParams &p) {
    const int ow = window_output_extent(
        label, {"x", input.dim(1), p.pad_left, p.pad_right, kernel_x, p.stride_x, p.dilation_x},
        false);
    const int oh = window_output_extent(
        label, {"y", input.dim(2), p.pad_top, p.pad_bottom, kernel_y, p.stride_y, p.dilation_y},
        false);
    return {ow, oh};
}

void check_bias(const std::string &label, const std::optional<Tensor> &bias, int channels) {
    if (bias) require_shape(label, "bias", *bias, {channels});
}

bool has_padding(const Conv2DParams &p) {
    return p.pad_left || p.pad_right || p.pad_top || p.pad_bottom;
}

Halide::Type accumulator_of(const Tensor &input, const Conv2DParams &p) {
    return p.accumulator.bits() ? p.accumulator : input.type;
}

// weight * input in the accumulator type (a widening multiply for 8-bit operands).
Expr product(const Expr &w, const Expr &x, const Halide::Type &acc) {
    return w.type() == acc && x.type() == acc ? w * x : Halide::cast(acc, w) * Halide::cast(acc, x);
}

// Products of two 8-bit operands summed into int32 over `channels` input channels, the
// innermost reduction: 4 of them per lane make one dot-product instruction.
bool byte_dot(const Tensor &input, const Tensor &weights, const Halide::Type &acc, int channels) {
    return acc == Halide::Int(32) && input.type.bits() == 8 && weights.type.bits() == 8 && channels % 4 == 0;
}

Expr outside_value(const Conv2DParams &p) { return p.padding.defined() ? p.padding : Expr(0.0f); }

}  // namespace

namespace {

// Input channels split into `groups` groups of weights.dim(1) channels; output channels too.
void check_groups(const std::string &label, const Tensor &input, const Tensor &weights, int groups) {
    require(groups >= 1, label, "groups must be >= 1, got " + std::to_string(groups));
    const int cin = input.dim(0), cout = weights.dim(0), cin_per_group = weights.dim(1);
    if (cout % groups != 0 || cin_per_group * groups != cin) {
        fail(label, "channel mismatch: " + describe("input", input) + " has " +
                        std::to_string(cin) + " channels but " + describe("weights", weights) +
                        " with groups=" + std::to_string(groups) + " expect " +
                        std::to_string(cin_per_group * groups) + " (and output channels " +
                        std::to_string(cout) + " divisible by groups)");
    }
}

}  // namespace

Tensor conv2d(const std::string &name, const Tensor &input, const Tensor &weights,
              const std::optional<Tensor> &bias, const Conv2DParams &p) {
    const std::string label = layer_label("conv2d", name);
    require_rank(label, "input (c, x, y, n)", input, 4);
    require_rank(label, "weights (co, ci, kx, ky)", weights, 4);
    check_groups(label, input, weights, p.groups);
    const int cout = weights.dim(0), cin_per_group = weights.dim(1);
    check_bias(label, bias, cout);
    const ConvGeometry g = check_geometry(label, input, weights.dim(2), weights.dim(3), p);

    Func padded = has_padding(p) ? pad_spatial(name + "_pad", input, outside_value(p)) : input.func;
    const Halide::Type acc = accumulator_of(input, p);
    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, cin_per_group, 0, weights.dim(2), 0, weights.dim(3), name + "_r");
    const int cout_per_group = cout / p.groups;
    Expr ci = p.groups == 1 ? Expr(r.x) : (c / cout_per_group) * cin_per_group + r.x;
    Expr in_x = x * p.stride_x + r.y * p.dilation_x - p.pad_left;
    Expr in_y = y * p.stride_y + r.z * p.dilation_y - p.pad_top;

    Func out(name);
    out(c, x, y, n) = bias ? (*bias)({c}) : Halide::cast(acc, 0);
    out(c, x, y, n) += product(weights({c, r.x, r.y, r.z}), padded(ci, in_x, in_y, n), acc);
    record_stage(out, StageRole::Accumulator).byte_dot = byte_dot(input, weights, acc, cin_per_group);
    return {out, {cout, g.out_width, g.out_height, input.dim(3)}, acc};
}

Tensor depthwise_conv2d(const std::string &name, const Tensor &input, const Tensor &weights,
                        const std::optional<Tensor> &bias, const Conv2DParams &p) {
    const std::string label = layer_label("depthwise_conv2d", name);
    require_rank(label, "input (c, x, y, n)", input, 4);
    require_rank(label, "weights (c, kx, ky)", weights, 3);
    const int channels = input.dim(0), cout = weights.dim(0);
    if (cout % channels != 0) {
        fail(label, "channel mismatch: " + describe("weights", weights) + " has " +
                        std::to_string(cout) + " output channels, not a multiple of the " +
                        std::to_string(channels) + " channels of " + describe("input", input));
    }
    check_bias(label, bias, cout);
    const ConvGeometry g = check_geometry(label, input, weights.dim(1), weights.dim(2), p);

    Func padded = has_padding(p) ? pad_spatial(name + "_pad", input, outside_value(p)) : input.func;
    const Halide::Type acc = accumulator_of(input, p);
    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, weights.dim(1), 0, weights.dim(2), name + "_r");
    const int multiplier = cout / channels;
    Expr ci = multiplier == 1 ? Expr(c) : c / multiplier;
    Expr in_x = x * p.stride_x + r.x * p.dilation_x - p.pad_left;
    Expr in_y = y * p.stride_y + r.y * p.dilation_y - p.pad_top;

    Func out(name);
    out(c, x, y, n) = bias ? (*bias)({c}) : Halide::cast(acc, 0);
    out(c, x, y, n) += product(weights({c, r.x, r.y}), padded(ci, in_x, in_y, n), acc);
    record_stage(out, StageRole::Accumulator);  // a window per channel: no channel dot product
    return {out, {cout, g.out_width, g.out_height, input.dim(3)}, acc};
}

Tensor pointwise_conv2d(const std::string &name, const Tensor &input, const Tensor &weights,
                        const std::optional<Tensor> &bias,
                        Halide::Type accumulator) {
    const std::string label = layer_label("pointwise_conv2d", name);
    require_rank(label, "input (c, x, y, n)", input, 4);
    require_rank(label, "weights (co, ci)", weights, 2);
    if (weights.dim(1) != input.dim(0)) {
        fail(label, "channel mismatch: " + describe("input", input) + " has " +
                        std::to_string(input.dim(0)) + " channels but " +
                        describe("weights", weights) + " expect " +
                        std::to_string(weights.dim(1)));
    }
    const int cout = weights.dim(0);
    check_bias(label, bias, cout);

    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, input.dim(0), name + "_r");
    Func out(name);
    const Halide::Type acc = accumulator.bits() ? accumulator : input.type;
    out(c, x, y, n) = bias ? (*bias)({c}) : Halide::cast(acc, 0);
    out(c, x, y, n) += product(weights({c, r.x}), input({r.x, x, y, n}), acc);
    record_stage(out, StageRole::Accumulator).byte_dot = byte_dot(input, weights, acc, input.dim(0));
    return {out, {cout, input.dim(1), input.dim(2), input.dim(3)}, acc};
}

// 3-D convolution: conv2d's algorithm with a z axis, written apart so that the 2-D Funcs
// (which saved schedules name) stay exactly as they are.
Tensor conv3d(const std::string &name, const Tensor &input, const Tensor &weights,
              const std::optional<Tensor> &bias, const Conv3DParams &p) {
    const std::string label = layer_label("conv3d", name);
    require_rank(label, "input (c, x, y, z, n)", input, 5);
    require_rank(label, "weights (co, ci, kx, ky, kz)", weights, 5);
    check_groups(label, input, weights, p.groups);
    const int cout = weights.dim(0), cin_per_group = weights.dim(1);
    check_bias(label, bias, cout);
    static const char *const kAxes[] = {"x", "y", "z"};
    Shape shape{cout};
    bool padding = false;
    for (size_t i = 0; i < 3; ++i) {
        shape.push_back(window_output_extent(
            label,
            {kAxes[i], input.dim(static_cast<int>(i) + 1), p.pad_begin[i], p.pad_end[i],
             weights.dim(static_cast<int>(i) + 2), p.strides[i], p.dilations[i]},
            false));
        padding = padding || p.pad_begin[i] || p.pad_end[i];
    }
    shape.push_back(input.dim(4));

    Func padded = padding ? pad_spatial(name + "_pad", input, 0.0f) : input.func;
    const Halide::Type acc = input.type;
    Var c("c"), x("x"), y("y"), z("z"), n("n");
    RDom r({{0, cin_per_group}, {0, weights.dim(2)}, {0, weights.dim(3)}, {0, weights.dim(4)}},
           name + "_r");
    const int cout_per_group = cout / p.groups;
    Expr ci = p.groups == 1 ? Expr(r[0]) : (c / cout_per_group) * cin_per_group + r[0];
    const Var spatial[] = {x, y, z};
    std::vector<Expr> at{ci};
    for (size_t i = 0; i < 3; ++i) {
        at.push_back(spatial[i] * p.strides[i] + r[static_cast<int>(i) + 1] * p.dilations[i] -
                     p.pad_begin[i]);
    }
    at.push_back(n);

    Func out(name);
    out(c, x, y, z, n) = bias ? (*bias)({c}) : Halide::cast(acc, 0);
    out(c, x, y, z, n) += product(weights({c, r[0], r[1], r[2], r[3]}), padded(at), acc);
    record_stage(out, StageRole::Accumulator);
    return {out, shape, acc};
}

Tensor conv_transpose(const std::string &name, const Tensor &input, const Tensor &weights,
                      const std::optional<Tensor> &bias, const ConvTransposeParams &p) {
    const std::string label = layer_label("conv_transpose", name);
    const int spatial = input.rank() - 2;
    require(spatial >= 1 && spatial <= 3, label,
            "input must be (c, x, n), (c, x, y, n) or (c, x, y, z, n), got shape " +
                to_string(input.shape));
    require_rank(label, "weights (co, ci, kx, ...)", weights, spatial + 2);
    const size_t axes = static_cast<size_t>(spatial);
    require(p.strides.size() == axes && p.dilations.size() == axes && p.pad_begin.size() == axes &&
                p.output_extents.size() == axes,
            label, "strides, dilations, pad_begin and output_extents need one entry per spatial axis (" +
                       std::to_string(spatial) + ")");
    require(p.groups >= 1, label, "groups must be >= 1, got " + std::to_string(p.groups));
    const int cin = input.dim(0), cout_per_group = weights.dim(0);
    if (weights.dim(1) != cin || cin % p.groups != 0) {
        fail(label, "channel mismatch: " + describe("input", input) + " has " +
                        std::to_string(cin) + " channels but " + describe("weights", weights) +
                        " expect " + std::to_string(weights.dim(1)) + " (divisible by groups=" +
                        std::to_string(p.groups) + ")");
    }
    const int cin_per_group = cin / p.groups, cout = cout_per_group * p.groups;
    check_bias(label, bias, cout);
    static const char *const kAxes[] = {"x", "y", "z"};
    for (size_t i = 0; i < axes; ++i) {
        const std::string axis = kAxes[i];
        require(p.strides[i] >= 1, label, "stride along " + axis + " must be >= 1, got " + std::to_string(p.strides[i]));
        require(p.dilations[i] >= 1, label, "dilation along " + axis + " must be >= 1, got " + std::to_string(p.dilations[i]));
        require(p.output_extents[i] >= 1, label,
                "output extent along " + axis + " must be >= 1, got " + std::to_string(p.output_extents[i]));
    }

    std::vector<Var> v{Var("c")};
    for (size_t i = 0; i < axes; ++i) v.emplace_back(kAxes[i]);
    v.emplace_back("n");
    Halide::Region taps{{0, cin_per_group}};
    for (size_t i = 0; i < axes; ++i) taps.emplace_back(0, weights.dim(static_cast<int>(i) + 2));
    RDom r(taps, name + "_r");
    const Var &c = v.front();
    Expr ci = p.groups == 1 ? Expr(r[0]) : (c / cout_per_group) * cin_per_group + r[0];
    Expr co = p.groups == 1 ? Expr(c) : c % cout_per_group;
    std::vector<Expr> in_at{ci}, w_at{co, ci};
    // Which taps reach an output pixel. Along an axis of stride 1 every tap lands on an input
    // position, and those outside the input read the zero padding, as conv2d's do: no
    // condition, and with stride 1 throughout the loop is a plain convolution's. Along an axis
    // of stride s > 1 only every s-th tap lands on an input pixel: there where-conditions on
    // the reduction domain (divisible by s, and inside the input) say which, rather than a
    // select. They do not involve the output channel, the dimension the schedules vectorize,
    // so each is a scalar branch around whole vector multiply-adds, and Halide places each
    // axis' guard at the outermost loop where its variables are defined: the y guard (y, ky)
    // outside the kx and channel loops, the x guard of each output column unrolled in a
    // register tile around that column's multiply-add. A select would do every tap's
    // multiply-add for every pixel, s^S times the useful work. What remains: each pixel still
    // tests all taps and skips all but about 1/s^S of them (a stride-phase decomposition
    // would not test them).
    // Measured, A/B of the two forms per axis (shared 2-core AMD EPYC, AVX2, 1 thread, best of
    // 50, 64 -> 64 channels; Conv 3x3 on 56x56: 2.75 ms): ConvTranspose 3x3 stride 1 on 56x56
    // padded 2.7-3.1 ms, guarded 4.4-4.6 ms (a branch per multiply-add); 4x4 stride 2,
    // 28x28 -> 56x56, guarded 1.8-1.9 ms (24-28 GMAC/s of useful multiply-adds), padded
    // 2.2-3.4 ms (megakernel, per_op).
    bool outside = false;  // a stride-1 axis reads beyond the input
    for (size_t i = 0; i < axes; ++i) {
        const int kernel = weights.dim(static_cast<int>(i) + 2);
        const int first = p.pad_begin[i] - (kernel - 1) * p.dilations[i], last = p.output_extents[i] - 1 + p.pad_begin[i];
        outside = outside || (p.strides[i] == 1 && (first < 0 || last >= input.dim(static_cast<int>(i) + 1)));
    }
    Func padded = outside ? pad_spatial(name + "_pad", input, Halide::cast(input.type, 0)) : input.func;
    for (size_t i = 0; i < axes; ++i) {
        const int stride = p.strides[i], last = (input.dim(static_cast<int>(i) + 1) - 1) * stride;
        // Input pixel ix and tap k scatter to ix*stride + k*dilation - pad_begin; read backwards.
        Expr t = v[i + 1] + p.pad_begin[i] - r[static_cast<int>(i) + 1] * p.dilations[i];
        if (stride > 1) {
            // 0 <= t <= last as one unsigned comparison, which Halide's solver does not turn
            // into bounds of the output's loops (solving it for x, Halide widened the region
            // the update writes to pixels outside the output: a layer realized as an output
            // failed its bounds check). The read is clamped as well, so the bounds Halide
            // infers for it stay inside the input.
            r.where(Halide::cast<uint32_t>(t) <= Halide::cast<uint32_t>(last));
            r.where(t % stride == 0);
            in_at.push_back(Halide::clamp(t, 0, last) / stride);
        } else {
            in_at.push_back(t);
        }
        w_at.push_back(r[static_cast<int>(i) + 1]);
    }
    in_at.push_back(v.back());

    Func out(name);
    out(v) = bias ? (*bias)({c}) : Halide::cast(input.type, 0);
    out(v) += product(weights(w_at), padded(in_at), input.type);
    record_stage(out, StageRole::Accumulator);
    Shape shape{cout};
    shape.insert(shape.end(), p.output_extents.begin(), p.output_extents.end());
    shape.push_back(input.dim(input.rank() - 1));
    return {out, shape, input.type};
}

}  // namespace megalide::layers
