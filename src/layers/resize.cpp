#include "megalide/layers/resize.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "checks.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::Var;

double resize_source_coordinate(ResizeCoordinates mode, int o, double scale, int in_extent) {
    const double x = o;
    // ONNX's reference compares and divides by scale * in, not by the integral output extent
    // (floor(scale * in)): align_corners downsampling by 0.6 from 4 divides by 2.4 - 1.
    const double out_width = scale * in_extent;
    switch (mode) {
    case ResizeCoordinates::HalfPixel: return (x + 0.5) / scale - 0.5;
    case ResizeCoordinates::PytorchHalfPixel: return out_width == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case ResizeCoordinates::AlignCorners: return out_width == 1 ? 0.0 : x * (in_extent - 1) / (out_width - 1);
    case ResizeCoordinates::Asymmetric: return x / scale;
    case ResizeCoordinates::TfHalfPixelForNN: return (x + 0.5) / scale;
    }
    return x;
}

int resize_nearest_index(double s, NearestRounding rounding, int in_extent) {
    const double lower = std::floor(s);
    const double ratio = s - lower;  // exact: s and floor(s) share their leading bits
    double index = lower;
    if (ratio != 0) {
        switch (rounding) {
        case NearestRounding::RoundPreferFloor: index = ratio <= 0.5 ? lower : lower + 1; break;
        case NearestRounding::RoundPreferCeil: index = ratio < 0.5 ? lower : lower + 1; break;
        case NearestRounding::Floor: index = lower; break;
        case NearestRounding::Ceil: index = lower + 1; break;
        }
    }
    // The reference reads an edge-padded input: beyond either end is the end element.
    return static_cast<int>(std::clamp(index, 0.0, static_cast<double>(in_extent - 1)));
}

namespace {

// One resized dimension of a linear resize: the two input indices around each output
// index's source point and the weight of the upper one.
struct LinearAxis {
    int dim;
    Expr lower, upper, weight;
};

// table(o) for the output index `v` of a dimension resized from `in` to `out` elements; the
// table holds one entry per output index, and a schedule may evaluate v beyond them (a
// rounded-up vector), so o is clamped first. Bounds inference cannot see through a lookup,
// so the index is also clamped to a window around o * in / out that the table provably stays
// in (measured here; the clamp never changes a value): a tile of outputs then needs only the
// input rows its window spans, not the whole input, when a schedule fuses the producer.
Expr windowed_lookup(const Halide::Buffer<int32_t> &table, const Var &v, int in, int out) {
    Expr o = Halide::clamp(v, 0, out - 1);
    if (static_cast<int64_t>(in) * out > std::numeric_limits<int32_t>::max()) return Halide::clamp(table(o), 0, in - 1);
    int below = std::numeric_limits<int>::max(), above = std::numeric_limits<int>::min();
    for (int i = 0; i < out; ++i) {
        const int base = static_cast<int>(static_cast<int64_t>(i) * in / out);
        below = std::min(below, table(i) - base), above = std::max(above, table(i) - base);
    }
    Expr base = o * in / out;
    return Halide::clamp(table(o), Halide::max(base + below, 0), Halide::min(base + above, in - 1));
}

}  // namespace

Tensor resize(const std::string &name, const Tensor &input, const ResizeParams &params) {
    const std::string label = layer_label("resize", name);
    require_valid_shape(label, "input", input);
    const int rank = input.rank();
    require(static_cast<int>(params.out_shape.size()) == rank && static_cast<int>(params.scales.size()) == rank, label,
            "output shape " + to_string(params.out_shape) + " and " + std::to_string(params.scales.size()) +
                " scales do not match the input " + to_string(input.shape));
    for (int d = 0; d < rank; ++d) {
        const double scale = params.scales[static_cast<size_t>(d)];
        require(params.out_shape[static_cast<size_t>(d)] >= 1, label, "output shape " + to_string(params.out_shape) + " has an empty dimension");
        require(std::isfinite(scale) && scale > 0, label, "scale " + std::to_string(scale) + " of dimension " + std::to_string(d) + " is not positive");
    }
    const bool linear = params.interpolation == ResizeInterpolation::Linear;
    if (linear && !input.type.is_float()) {
        std::ostringstream type;
        type << input.type;
        fail(label, "linear interpolation needs a floating-point input, got " + type.str());
    }

    std::vector<Var> vars = make_vars(rank);
    std::vector<Expr> coords = as_exprs(vars);  // nearest: the input element each output reads
    std::vector<LinearAxis> blended;            // linear: the dimensions blended, outermost first
    for (int d = rank - 1; d >= 0; --d) {
        const int in = input.dim(d), out = params.out_shape[static_cast<size_t>(d)];
        const double scale = params.scales[static_cast<size_t>(d)];
        const std::string stem = name + "_dim" + std::to_string(d);
        // Embedded in the pipeline: constant_buffer() pads short tables (tensor.h).
        Halide::Buffer<int32_t> lower = constant_buffer(Halide::Int(32), {out});
        Halide::Buffer<int32_t> upper = constant_buffer(Halide::Int(32), {out});
        Halide::Buffer<float> weight = constant_buffer(Halide::Float(32), {out});
        bool identity = in == out;
        for (int o = 0; o < out; ++o) {
            const double s = resize_source_coordinate(params.coordinates, o, scale, in);
            if (!linear) {
                lower(o) = resize_nearest_index(s, params.rounding, in);
                identity = identity && lower(o) == o;
                continue;
            }
            // Edge-clamped neighbours floor(s) and floor(s) + 1, as the reference's padded read.
            const double below = std::floor(s);
            lower(o) = static_cast<int32_t>(std::clamp(below, 0.0, static_cast<double>(in - 1)));
            upper(o) = static_cast<int32_t>(std::clamp(below + 1, 0.0, static_cast<double>(in - 1)));
            weight(o) = lower(o) == upper(o) ? 0.0f : static_cast<float>(s - below);
            identity = identity && lower(o) == o && weight(o) == 0.0f;
        }
        if (identity) continue;
        const Var &v = vars[static_cast<size_t>(d)];
        if (linear) {
            Expr w = weight(Halide::clamp(v, 0, out - 1));
            blended.push_back({d, windowed_lookup(lower, v, in, out), windowed_lookup(upper, v, in, out), Halide::cast(input.type, w)});
        } else {
            coords[static_cast<size_t>(d)] = windowed_lookup(lower, v, in, out);
        }
    }

    Func f(name);
    if (!linear) {
        f(vars) = input(coords);
        return {f, params.out_shape, input.type};
    }
    // (1 - w) a + w b per blended dimension, the innermost blended first, as the reference's
    // recursion over ONNX axes does for a plain layout.
    std::function<Expr(size_t, std::vector<Expr>)> blend = [&](size_t k, std::vector<Expr> at) -> Expr {
        if (k == blended.size()) return input(at);
        const LinearAxis &axis = blended[k];
        std::vector<Expr> at_upper = at;
        at[static_cast<size_t>(axis.dim)] = axis.lower;
        at_upper[static_cast<size_t>(axis.dim)] = axis.upper;
        const Expr one = Halide::cast(input.type, 1);
        return (one - axis.weight) * blend(k + 1, at) + axis.weight * blend(k + 1, at_upper);
    };
    f(vars) = blend(0, as_exprs(vars));
    return {f, params.out_shape, input.type};
}

}  // namespace megalide::layers
