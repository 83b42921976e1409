// Resize: nearest and (N-)linear interpolation of any axes (ONNX Resize, opsets 11 to 17, with
// opset 18's axes and keep_aspect_ratio_policy read as well). This file reads the ONNX
// attributes and operands; the interpolation is layers::resize (layers/resize.h).
#include "megalide/ops/registry.h"

#include <algorithm>
#include <cmath>

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

// A Resize node's operands and attributes, checked: the output shape and the scale of each
// axis (ONNX order) and the layer's modes.
struct ResizeSpec {
    Dims out;
    std::vector<double> scales;
    layers::ResizeParams params;
};

// An operand given with at least one element (opsets 11-12 pass an empty tensor for the one
// of scales / sizes not used). A given one must be a constant: it fixes the output shape.
bool given(const Graph &g, const Node &n, size_t i, const std::string &role) {
    if (i >= n.inputs.size() || !has_input(n, i)) return false;
    const Value &v = input(g, n, i);
    if (product(v.shape, 0, v.shape.size()) == 0) return false;
    if (!v.constant) {
        fail(n, role + " (input " + std::to_string(i) + ", '" + v.name +
                    "') must be a constant: megalide compiles static shapes; freeze it with a value");
    }
    return true;
}

layers::ResizeCoordinates coordinates_of(const Node &n) {
    const std::string m = n.get_string("coordinate_transformation_mode", "half_pixel");
    if (m == "half_pixel") return layers::ResizeCoordinates::HalfPixel;
    if (m == "pytorch_half_pixel") return layers::ResizeCoordinates::PytorchHalfPixel;
    if (m == "align_corners") return layers::ResizeCoordinates::AlignCorners;
    if (m == "asymmetric") return layers::ResizeCoordinates::Asymmetric;
    if (m == "tf_half_pixel_for_nn") return layers::ResizeCoordinates::TfHalfPixelForNN;  // opsets 11-12
    if (m == "tf_crop_and_resize") {
        fail(n, "coordinate_transformation_mode 'tf_crop_and_resize' is not supported (half_pixel, pytorch_half_pixel, "
                "align_corners, asymmetric and tf_half_pixel_for_nn are)");
    }
    fail(n, "unknown or unsupported coordinate_transformation_mode '" + m + "'");
}

layers::NearestRounding rounding_of(const Node &n) {
    const std::string m = n.get_string("nearest_mode", "round_prefer_floor");
    if (m == "round_prefer_floor") return layers::NearestRounding::RoundPreferFloor;
    if (m == "round_prefer_ceil") return layers::NearestRounding::RoundPreferCeil;
    if (m == "floor") return layers::NearestRounding::Floor;
    if (m == "ceil") return layers::NearestRounding::Ceil;
    fail(n, "unknown nearest_mode '" + m + "' (round_prefer_floor, round_prefer_ceil, floor or ceil)");
}

ResizeSpec resize_spec(const Graph &g, const Node &n) {
    if (g.opset < 11) {
        fail(n, "Resize before opset 11 (scales as input 1, no coordinate_transformation_mode) is not supported; "
                "the model has opset " + std::to_string(g.opset));
    }
    const Value &x = input(g, n, 0);
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    ResizeSpec spec;
    const std::string mode = n.get_string("mode", "nearest");
    if (mode == "cubic") fail(n, "mode 'cubic' is not supported (nearest and linear are)");
    if (mode != "nearest" && mode != "linear") fail(n, "unknown mode '" + mode + "' (nearest, linear or cubic)");
    spec.params.interpolation = mode == "linear" ? layers::ResizeInterpolation::Linear : layers::ResizeInterpolation::Nearest;
    spec.params.coordinates = coordinates_of(n);
    spec.params.rounding = rounding_of(n);
    if (n.get_int("antialias", 0) != 0) fail(n, "antialias=1 is not supported");
    if (mode == "linear" && x.dtype != DType::Float32 && x.dtype != DType::Float64) {
        fail(n, "linear resize of a " + to_string(x.dtype) + " input is not supported (float only)");
    }
    // exclude_outside, cubic_coeff_a: cubic only. extrapolation_value: tf_crop_and_resize only.
    // roi: tf_crop_and_resize only, so never read.

    Dims axes = n.get_ints("axes", {});
    if (axes.empty()) {
        for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
    }
    for (int64_t &a : axes) a = normalize_axis(n, a, rank);
    Dims sorted_axes = axes;
    std::sort(sorted_axes.begin(), sorted_axes.end());
    if (std::adjacent_find(sorted_axes.begin(), sorted_axes.end()) != sorted_axes.end()) fail(n, "axes " + dims_str(axes) + " repeat an axis");

    const bool has_scales = given(g, n, 2, "scales"), has_sizes = given(g, n, 3, "sizes");
    if (has_scales == has_sizes) fail(n, "exactly one of scales (input 2) and sizes (input 3) must be given");
    spec.out = x.shape;
    spec.scales.assign(static_cast<size_t>(rank), 1.0);
    const size_t count = axes.size();
    if (has_scales) {
        // Output extent floor(in * scale) in double, as ONNX's reference (a float32 scale times
        // an int64 extent is a float64 product); the scale itself, widened, maps coordinates.
        const std::vector<double> scales = g.value(n.input(2)).constant->to_doubles();
        if (scales.size() != count) fail(n, "scales has " + std::to_string(scales.size()) + " entries for " + std::to_string(count) + " axes");
        for (size_t i = 0; i < count; ++i) {
            const size_t a = static_cast<size_t>(axes[i]);
            if (!(scales[i] > 0) || !std::isfinite(scales[i])) fail(n, "scale " + std::to_string(scales[i]) + " is not positive");
            spec.scales[a] = scales[i];
            spec.out[a] = static_cast<int64_t>(std::floor(scales[i] * static_cast<double>(x.shape[a])));
            if (spec.out[a] < 1) {
                fail(n, "scale " + std::to_string(scales[i]) + " leaves axis " + std::to_string(a) + " of extent " +
                            std::to_string(x.shape[a]) + " empty");
            }
        }
    } else {
        const Dims sizes = constant_ints(g, n, 3, "sizes");
        if (sizes.size() != count) fail(n, "sizes has " + std::to_string(sizes.size()) + " entries for " + std::to_string(count) + " axes");
        for (size_t i = 0; i < count; ++i) {
            const size_t a = static_cast<size_t>(axes[i]);
            if (sizes[i] < 1) fail(n, "sizes " + dims_str(sizes) + " has an extent below 1");
            spec.out[a] = sizes[i];
            spec.scales[a] = static_cast<double>(sizes[i]) / static_cast<double>(x.shape[a]);
        }
        // keep_aspect_ratio_policy (opset 18): one scale for every listed axis, the smallest
        // (not_larger) or largest (not_smaller), extents rounded half up.
        const std::string policy = n.get_string("keep_aspect_ratio_policy", "stretch");
        if (policy == "not_larger" || policy == "not_smaller") {
            double scale = spec.scales[static_cast<size_t>(axes[0])];
            for (int64_t a : axes) {
                const double s = spec.scales[static_cast<size_t>(a)];
                scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
            }
            for (int64_t a : axes) {
                spec.scales[static_cast<size_t>(a)] = scale;
                spec.out[static_cast<size_t>(a)] = static_cast<int64_t>(scale * static_cast<double>(x.shape[static_cast<size_t>(a)]) + 0.5);
            }
        } else if (policy != "stretch") {
            fail(n, "unknown keep_aspect_ratio_policy '" + policy + "' (stretch, not_larger or not_smaller)");
        }
    }
    return spec;
}

void lower_resize(Lowerer &L, const Node &n) {
    ResizeSpec spec = resize_spec(L.g_, n);
    // Any layout: the layer resizes Halide dimensions, so the input's is kept.
    Lowered x = L.get(n.input(0));
    spec.params.out_shape = halide_shape(spec.out, x.dim_of_axis);
    spec.params.scales.assign(spec.scales.size(), 1.0);
    for (size_t a = 0; a < spec.scales.size(); ++a) spec.params.scales[static_cast<size_t>(x.dim_of_axis[a])] = spec.scales[a];
    Tensor t = layers::resize(L.stage(n), x.t, spec.params);
    L.define(n, t, x.dim_of_axis);
}

}  // namespace

void register_resize_ops(std::vector<OpDef> &ops) {
    OpDef resize;
    resize.name = "Resize";
    resize.summary = "nearest or N-linear interpolation of any axes (scales or sizes: constants)";
    resize.attributes = {
        {"mode", K::String, "nearest (default) or linear; cubic is refused"},
        {"coordinate_transformation_mode", K::String,
         "half_pixel (default), pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn; tf_crop_and_resize is refused"},
        {"nearest_mode", K::String, "round_prefer_floor (default), round_prefer_ceil, floor, ceil"},
        {"axes", K::Ints, "the axes scales and sizes list (opset 18; default: all)"},
        {"keep_aspect_ratio_policy", K::String, "with sizes: stretch (default), not_larger, not_smaller (opset 18)"},
        {"antialias", K::Int, "0 only (opset 18)"},
        {"exclude_outside", K::Int, "ignored: it changes cubic only (linear renormalized in range equals the edge-clamped read)"},
        {"cubic_coeff_a", K::Float, "ignored: cubic only"},
        {"extrapolation_value", K::Float, "ignored: tf_crop_and_resize only"},
    };
    resize.infer = [](Graph &g, Node &n) { set_output(g, n, 0, input(g, n, 0).dtype, resize_spec(g, n).out); };
    resize.lower = lower_resize;
    resize.constant_inputs = {1, 2, 3};  // roi, scales, sizes
    ops.push_back(resize);
}

}  // namespace megalide::ops
