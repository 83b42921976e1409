#include "megalide/layers/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

std::pair<Expr, Expr> fixed_point_multiplier(Expr m, const std::string &what) {
    Expr bits = Halide::reinterpret<int32_t>(Halide::cast<float>(m));
    Expr shift = 126 - ((bits >> 23) & 0xff);  // m = fraction * 2^(biased exponent - 126)
    Expr valid = bits > 0x007fffff && bits < 0x7f800000 && shift >= -31 && shift <= 62;
    Expr fraction = Halide::require(valid, ((bits & 0x7fffff) | 0x800000) << 7, what + ": the requantization multiplier", m,
                                    "is not a positive normal float in the fixed-point range");
    return {fraction, shift};
}

int quantize_scalar(float x, float scale, int zero_point, bool is_signed) {
    const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
    if (std::isinf(x)) return static_cast<int>(x > 0 ? hi : lo);
    const float q = std::nearbyint(x / scale) + static_cast<float>(zero_point);  // half to even
    return static_cast<int>(std::min(std::max(q, lo), hi));
}

namespace {

// The bounds of a result of `type`: [lo, hi] where given, else the type's range, as int32.
std::pair<Expr, Expr> bounds_of(Halide::Type type, Expr lo, Expr hi) {
    return {Halide::cast<int32_t>(lo.defined() ? lo : type.min()), Halide::cast<int32_t>(hi.defined() ? hi : type.max())};
}

Expr round_in_range(Expr y, Expr zp, Halide::Type type);

// round_half_even(y) + zero_point clamped to [lo, hi] (integers), as `type`, for a finite
// float32 y. The bounds are integers, so clamping y to [lo - zp, hi - zp] first gives the
// same result (rounding is monotonic and keeps integers), and keeps |y| <= 2^16. Adding
// 1.5 * 2^23 then rounds y to an integer in the float unit (round to nearest even, the default
// mode; the constant is even, so parity is kept) and leaves it in the low mantissa bits: one
// add and an integer subtract of the constant's bits (zero point included) instead of a round
// and a conversion, and the clamps replace the saturations. strict_float: the add must stay.
Expr round_clamped(Expr y, Expr zero_point, Halide::Type type, Expr lo, Expr hi) {
    auto [lo32, hi32] = bounds_of(type, lo, hi);
    Expr zp = Halide::cast<int32_t>(zero_point);
    Expr clamped = Halide::clamp(y, Halide::cast<float>(lo32 - zp), Halide::cast<float>(hi32 - zp));
    return round_in_range(clamped, zp, type);
}

// round_half_even(y) + zp as `type`, for y already within the type's range (see above).
Expr round_in_range(Expr y, Expr zp, Halide::Type type) {
    Expr biased = Halide::strict_float(y + 12582912.0f);  // 1.5 * 2^23: its bits are 0x4B400000
    return Halide::cast(type, Halide::reinterpret<int32_t>(biased) - (0x4B400000 - zp));
}

// round_half_even(float32(acc) * m) in float32 arithmetic, as the pipeline computes it.
double rounded_product(int64_t acc, float m) {
    volatile float y = static_cast<float>(acc) * m;  // one float32 rounding, as strict_float keeps it
    return std::nearbyint(y);
}

}  // namespace

Expr quantize_value(Expr x, Expr scale, Expr zero_point, Halide::Type type) {
    // strict_float: the division stays a division (ONNX divides; a reciprocal multiply can
    // round differently) and the rounding sees exactly the quotient.
    return round_clamped(Halide::strict_float(x / scale), zero_point, type, Expr(), Expr());
}

Expr quantize_by_reciprocal(Expr x, Expr inverse_scale, Expr zero_point, Halide::Type type, Expr lo, Expr hi) {
    // strict_float: the same bits whatever the schedule (no contraction into fused multiply-adds).
    return round_clamped(Halide::strict_float(x * inverse_scale), zero_point, type, lo, hi);
}

Expr dequantize_value(Expr q, Expr scale, Expr zero_point) {
    return Halide::cast<float>(Halide::cast<int32_t>(q) - Halide::cast<int32_t>(zero_point)) * scale;
}

Expr requantize_onnx(Expr acc, Expr multiplier, Expr zero_point, Halide::Type type, Expr lo, Expr hi) {
    return round_clamped(Halide::strict_float(Halide::cast<float>(acc) * multiplier), zero_point, type, lo, hi);
}

std::optional<AccumulatorBounds> accumulator_bounds(float m, int lo, int hi) {
    if (!(m > 0 && m < 1) || lo > hi) return std::nullopt;
    const int64_t first = std::numeric_limits<int32_t>::min(), last = std::numeric_limits<int32_t>::max();
    if (!(rounded_product(first, m) < lo && rounded_product(last, m) > hi)) return std::nullopt;
    // rounded_product is non-decreasing in acc: the first accumulator reaching lo, the last
    // not passing hi.
    auto first_reaching = [&](double target) {
        int64_t below = first, at = last;  // rounded_product(below) < target <= rounded_product(at)
        while (at - below > 1) {
            const int64_t mid = below + (at - below) / 2;
            (rounded_product(mid, m) < target ? below : at) = mid;
        }
        return at;
    };
    AccumulatorBounds b;
    b.min = static_cast<int32_t>(first_reaching(lo));
    b.max = static_cast<int32_t>(first_reaching(hi + 1) - 1);
    // A multiplier below 1 moves the rounded product by at most 1 per step, so the ends land
    // exactly on lo and hi; checked rather than assumed.
    if (rounded_product(b.min, m) != lo || rounded_product(b.max, m) != hi) return std::nullopt;
    return b;
}

Expr requantize_onnx_clamped_accumulator(Expr acc, Expr multiplier, Expr acc_min, Expr acc_max, Expr zero_point, Halide::Type type) {
    Expr y = Halide::strict_float(Halide::cast<float>(Halide::clamp(acc, acc_min, acc_max)) * multiplier);
    return round_in_range(y, Halide::cast<int32_t>(zero_point), type);
}

Expr scale_fixed_point(Expr x, Expr multiplier, Expr shift) {
    // rounding_shift_right by a negative amount is a saturating left shift.
    Expr widened = Halide::rounding_shift_right(x, Halide::min(shift, 0));
    Expr high = Halide::rounding_mul_shift_right(widened, multiplier, 31);
    return Halide::rounding_shift_right(high, Halide::max(shift, 0));
}

Expr requantize_fixed_point(Expr acc, Expr multiplier, Expr shift, Expr zero_point, Halide::Type type, Expr lo, Expr hi) {
    Expr scaled = scale_fixed_point(acc, multiplier, shift);
    auto [lo32, hi32] = bounds_of(type, lo, hi);
    return Halide::cast(type, Halide::clamp(Halide::saturating_add(scaled, Halide::cast<int32_t>(zero_point)), lo32, hi32));
}

}  // namespace megalide::layers
