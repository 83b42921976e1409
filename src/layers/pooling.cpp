#include "megalide/layers/pooling.h"

#include <limits>

#include "checks.h"
#include "window.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

namespace {

struct PoolGeometry {
    int out_width, out_height;
};

PoolGeometry check_pool(const std::string &label, const Tensor &input, const Pool2DParams &p) {
    require_rank(label, "input (c, x, y, n)", input, 4);
    const int ow = window_output_extent(label,
                                        {"x", input.dim(1), p.pad_left, p.pad_right, p.kernel_x,
                                         p.stride_x, p.dilation_x},
                                        p.ceil_mode);
    const int oh = window_output_extent(label,
                                        {"y", input.dim(2), p.pad_top, p.pad_bottom, p.kernel_y,
                                         p.stride_y, p.dilation_y},
                                        p.ceil_mode);
    return {ow, oh};
}

bool has_padding(const Tensor &input, const Pool2DParams &p, const PoolGeometry &g) {
    // Ceil mode can make the last window run past the input even without explicit pads.
    const bool overhang_x =
        (g.out_width - 1) * p.stride_x + p.dilation_x * (p.kernel_x - 1) >= input.dim(1) + p.pad_left;
    const bool overhang_y =
        (g.out_height - 1) * p.stride_y + p.dilation_y * (p.kernel_y - 1) >= input.dim(2) + p.pad_top;
    return p.pad_left || p.pad_right || p.pad_top || p.pad_bottom || overhang_x || overhang_y;
}

}  // namespace

Tensor max_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &p) {
    const std::string label = layer_label("max_pool2d", name);
    const PoolGeometry g = check_pool(label, input, p);
    const float lowest = std::numeric_limits<float>::lowest();
    Func padded = has_padding(input, p, g) ? pad_spatial(name + "_pad", input, lowest) : input.func;

    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, p.kernel_x, 0, p.kernel_y, name + "_r");
    Expr in_x = x * p.stride_x + r.x * p.dilation_x - p.pad_left;
    Expr in_y = y * p.stride_y + r.y * p.dilation_y - p.pad_top;
    Func out(name);
    out(c, x, y, n) = lowest;
    out(c, x, y, n) = Halide::max(out(c, x, y, n), padded(c, in_x, in_y, n));
    return {out, {input.dim(0), g.out_width, g.out_height, input.dim(3)}};
}

Tensor avg_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &p) {
    const std::string label = layer_label("avg_pool2d", name);
    require(p.dilation_x == 1 && p.dilation_y == 1, label,
            "average pooling supports dilation 1 only, got (" + std::to_string(p.dilation_x) +
                ", " + std::to_string(p.dilation_y) + ")");
    const PoolGeometry g = check_pool(label, input, p);
    Func padded = has_padding(input, p, g) ? pad_spatial(name + "_pad", input, 0.0f) : input.func;

    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, p.kernel_x, 0, p.kernel_y, name + "_r");
    Func sum(name + "_sum");
    sum(c, x, y, n) = 0.0f;
    sum(c, x, y, n) += padded(c, x * p.stride_x + r.x - p.pad_left, y * p.stride_y + r.y - p.pad_top, n);

    // The divisor per output position: the window clipped to the input (or, with
    // count_include_pad, clipped to the padded input).
    auto window_count = [&](Expr out_pos, int stride, int pad_before, int pad_after, int kernel,
                            int extent) {
        Expr start = out_pos * stride - pad_before;
        if (p.count_include_pad) {
            return Halide::min(start + kernel, extent + pad_after) - start;
        }
        return Halide::min(start + kernel, extent) - Halide::max(start, 0);
    };
    Expr count_x = window_count(x, p.stride_x, p.pad_left, p.pad_right, p.kernel_x, input.dim(1));
    Expr count_y = window_count(y, p.stride_y, p.pad_top, p.pad_bottom, p.kernel_y, input.dim(2));
    Func out(name);
    out(c, x, y, n) = sum(c, x, y, n) / Halide::cast<float>(count_x * count_y);
    return {out, {input.dim(0), g.out_width, g.out_height, input.dim(3)}};
}

namespace {

Tensor global_pool(const char *kind, bool is_max, const std::string &name, const Tensor &input) {
    const std::string label = layer_label(kind, name);
    require_rank(label, "input (c, x, y, n)", input, 4);
    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, input.dim(1), 0, input.dim(2), name + "_r");
    Func acc(is_max ? name : name + "_sum");
    if (is_max) {
        acc(c, x, y, n) = std::numeric_limits<float>::lowest();
        acc(c, x, y, n) = Halide::max(acc(c, x, y, n), input({c, r.x, r.y, n}));
        return {acc, {input.dim(0), 1, 1, input.dim(3)}};
    }
    acc(c, x, y, n) = 0.0f;
    acc(c, x, y, n) += input({c, r.x, r.y, n});
    Func out(name);
    out(c, x, y, n) = acc(c, x, y, n) * (1.0f / static_cast<float>(input.dim(1) * input.dim(2)));
    return {out, {input.dim(0), 1, 1, input.dim(3)}};
}

}  // namespace

Tensor global_avg_pool2d(const std::string &name, const Tensor &input) {
    return global_pool("global_avg_pool2d", false, name, input);
}

Tensor global_max_pool2d(const std::string &name, const Tensor &input) {
    return global_pool("global_max_pool2d", true, name, input);
}

}  // namespace megalide::layers
