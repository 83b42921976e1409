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

Expr outside_value(const Conv2DParams &p) { return p.padding.defined() ? p.padding : Expr(0.0f); }

}  // namespace

Tensor conv2d(const std::string &name, const Tensor &input, const Tensor &weights,
              const std::optional<Tensor> &bias, const Conv2DParams &p) {
    const std::string label = layer_label("conv2d", name);
    require_rank(label, "input (c, x, y, n)", input, 4);
    require_rank(label, "weights (co, ci, kx, ky)", weights, 4);
    require(p.groups >= 1, label, "groups must be >= 1, got " + std::to_string(p.groups));
    const int cin = input.dim(0), cout = weights.dim(0), cin_per_group = weights.dim(1);
    if (cout % p.groups != 0 || cin_per_group * p.groups != cin) {
        fail(label, "channel mismatch: " + describe("input", input) + " has " +
                        std::to_string(cin) + " channels but " + describe("weights", weights) +
                        " with groups=" + std::to_string(p.groups) + " expect " +
                        std::to_string(cin_per_group * p.groups) + " (and output channels " +
                        std::to_string(cout) + " divisible by groups)");
    }
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
    return {out, {cout, input.dim(1), input.dim(2), input.dim(3)}, acc};
}

}  // namespace megalide::layers
