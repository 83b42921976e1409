#include "megalide/layers/quantize.h"

#include <algorithm>
#include <cmath>

#include "megalide/error.h"

namespace megalide::layers {

using Halide::Expr;

std::string to_string(Requantization mode) { return mode == Requantization::Onnx ? "onnx" : "fixed_point"; }

Requantization requantization_from_string(const std::string &name) {
    if (name == "onnx") return Requantization::Onnx;
    if (name == "fixed_point") return Requantization::FixedPoint;
    throw Error("unknown requantization mode '" + name + "' (known: onnx, fixed_point)");
}

FixedPointMultiplier fixed_point_multiplier(double m, const std::string &what) {
    if (!(m > 0) || !std::isfinite(m)) throw Error(what + ": requantization multiplier " + std::to_string(m) + " is not positive and finite");
    int exponent = 0;
    const double fraction = std::frexp(m, &exponent);  // m = fraction * 2^exponent, fraction in [0.5, 1)
    int64_t q = std::llround(fraction * 2147483648.0);  // fraction in Q31
    if (q == (int64_t{1} << 31)) q /= 2, ++exponent;      // rounded up to 1.0
    FixedPointMultiplier f;
    f.multiplier = static_cast<int32_t>(q);
    f.shift = -exponent;
    if (f.shift < -31 || f.shift > 62) {
        throw Error(what + ": requantization multiplier " + std::to_string(m) + " is out of the fixed-point range");
    }
    return f;
}

int quantize_scalar(float x, float scale, int zero_point, bool is_signed) {
    const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
    if (std::isinf(x)) return static_cast<int>(x > 0 ? hi : lo);
    const float q = std::nearbyint(x / scale) + static_cast<float>(zero_point);  // half to even
    return static_cast<int>(std::min(std::max(q, lo), hi));
}

Expr quantize_value(Expr x, Expr scale, Expr zero_point, Halide::Type type) {
    // strict_float: the division stays a division (ONNX divides; a reciprocal multiply can
    // round differently) and the rounding sees exactly the quotient.
    Expr q = Halide::strict_float(Halide::round(x / scale)) + Halide::cast<float>(zero_point);
    return Halide::saturating_cast(type, q);
}

Expr quantize_by_reciprocal(Expr x, Expr inverse_scale, Expr zero_point, Halide::Type type) {
    // strict_float: the same bits whatever the schedule (no contraction into fused multiply-adds).
    return Halide::saturating_cast(type, Halide::strict_float(Halide::round(x * inverse_scale)) + Halide::cast<float>(zero_point));
}

Expr dequantize_value(Expr q, Expr scale, Expr zero_point) {
    return Halide::cast<float>(Halide::cast<int32_t>(q) - Halide::cast<int32_t>(zero_point)) * scale;
}

Expr requantize_onnx(Expr acc, Expr multiplier, Expr zero_point, Halide::Type type) {
    Expr scaled = Halide::strict_float(Halide::round(Halide::cast<float>(acc) * multiplier));
    // Saturate in float before converting, so huge accumulators cannot overflow int32.
    return Halide::saturating_cast(type, Halide::cast<int32_t>(Halide::clamp(scaled, -65536.0f, 65536.0f)) +
                                             Halide::cast<int32_t>(zero_point));
}

Expr requantize_fixed_point(Expr acc, Expr multiplier, Expr shift, Expr zero_point, Halide::Type type) {
    // rounding_shift_right by a negative amount is a saturating left shift.
    Expr widened = Halide::rounding_shift_right(acc, Halide::min(shift, 0));
    Expr high = Halide::rounding_mul_shift_right(widened, multiplier, 31);
    Expr scaled = Halide::rounding_shift_right(high, Halide::max(shift, 0));
    return Halide::saturating_cast(type, Halide::saturating_add(scaled, Halide::cast<int32_t>(zero_point)));
}

}  // namespace megalide::layers
