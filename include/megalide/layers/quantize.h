// Affine quantization, algorithm only: real = scale * (q - zero_point), q an 8-bit integer
// (uint8 or int8). Expr helpers with one contract each, used by the lowering of ONNX's
// QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ... and by the quantized ops
// the QDQ rewrites introduce.
//
// Requantization (an int32 accumulator of integer products becomes an 8-bit output) comes in
// two modes:
//   onnx         float32 multiplier, round half to even, saturate: bit-exact with the ONNX
//                specification and ONNX Runtime (the default);
//   fixed_point  an int32 multiplier in Q31 and a power-of-two shift, rounding half up, as
//                TFLite and gemmlowp do: integer-only, the fast path on HVX. At most 1 LSB from
//                onnx mode (two roundings of at most half an LSB each, plus the multiplier's
//                2^-31 relative error), checked over large random ranges by the unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <string>

#include "Halide.h"

namespace megalide::layers {

enum class Requantization { Onnx, FixedPoint };

/// "onnx" or "fixed_point".
std::string to_string(Requantization mode);
/// Parses "onnx" / "fixed_point"; throws Error naming the value otherwise.
Requantization requantization_from_string(const std::string &name);

/// A positive real multiplier m as m = multiplier * 2^-(31 + shift), multiplier in [2^30, 2^31).
/// A negative shift (m >= 1) shifts left.
struct FixedPointMultiplier {
    int32_t multiplier = 0;
    int shift = 0;
};

/// The fixed-point form of `m`; throws Error mentioning `what` if m is not positive and
/// finite, or so large or small that the shift leaves [-31, 62].
FixedPointMultiplier fixed_point_multiplier(double m, const std::string &what);

/// quantize_value on the host for one value of an 8-bit type (`is_signed`: int8, else
/// uint8), in the same float32 arithmetic; infinities saturate. For constants such as clamp
/// bounds that rewrites and lowering move into the quantized domain.
int quantize_scalar(float x, float scale, int zero_point, bool is_signed);

/// q = saturate(round_half_even(x / scale) + zero_point) as `type` (ONNX QuantizeLinear).
Halide::Expr quantize_value(Halide::Expr x, Halide::Expr scale, Halide::Expr zero_point, Halide::Type type);

/// saturate(round_half_even(x * inverse_scale) + zero_point) as `type`, clamped to [lo, hi]
/// (values of `type`; undefined: the type's range): quantize_value with the division
/// replaced by a multiply by a loop-invariant reciprocal; the product may round a tie the
/// other way (1 LSB). For megalide's fused quantized ops (x finite), not for QuantizeLinear.
Halide::Expr quantize_by_reciprocal(Halide::Expr x, Halide::Expr inverse_scale, Halide::Expr zero_point, Halide::Type type,
                                    Halide::Expr lo = Halide::Expr(), Halide::Expr hi = Halide::Expr());

/// (int32(q) - zero_point) * scale in float32 (ONNX DequantizeLinear).
Halide::Expr dequantize_value(Halide::Expr q, Halide::Expr scale, Halide::Expr zero_point);

/// onnx mode: saturate(round_half_even(float32(acc) * multiplier) + zero_point) as `type`,
/// clamped to [lo, hi] (values of `type`, e.g. a fused ReLU6's quantized bounds; undefined:
/// the type's range).
Halide::Expr requantize_onnx(Halide::Expr acc, Halide::Expr multiplier, Halide::Expr zero_point, Halide::Type type,
                             Halide::Expr lo = Halide::Expr(), Halide::Expr hi = Halide::Expr());

/// The accumulators whose onnx-mode requantization with multiplier m (before the zero point)
/// lands in [lo, hi]: every acc <= min gives lo, every acc >= max gives hi. nullopt unless
/// 0 < m < 1 and both ends are reached within int32 (then found exactly, on the host).
struct AccumulatorBounds {
    int32_t min = 0, max = 0;
};
std::optional<AccumulatorBounds> accumulator_bounds(float m, int lo, int hi);

/// requantize_onnx for a constant multiplier, with the clamp moved onto the accumulator:
/// clamp(acc, acc_min, acc_max) from accumulator_bounds(m, lo - zero_point, hi - zero_point)
/// gives the same result as requantize_onnx(acc, m, zero_point, type, lo, hi) with integer
/// min/max instead of float ones (they issue beside the float conversion and multiply).
Halide::Expr requantize_onnx_clamped_accumulator(Halide::Expr acc, Halide::Expr multiplier, Halide::Expr acc_min, Halide::Expr acc_max,
                                                 Halide::Expr zero_point, Halide::Type type);

/// fixed_point_multiplier() computed by the pipeline, for a float32 multiplier `m` known only
/// at run time (a Generator's scale inputs): {Q31 fraction, shift}, equal to the host's for
/// every positive normal float32 in its range. They come from m's bits, exactly: the 24-bit
/// significand times 2^7 is the fraction, the biased exponent gives the shift. For any other m
/// the fraction fails the pipeline with an error naming `what`.
std::pair<Halide::Expr, Halide::Expr> fixed_point_multiplier(Halide::Expr m, const std::string &what);

/// An int32 `x` times the real multiplier of (multiplier, shift) (fixed_point_multiplier()),
/// rounded: rounding_shift_right(rounding_mul_shift_right(x', M, 31), shift') with x' and
/// shift' as in requantize_fixed_point (integer only).
Halide::Expr scale_fixed_point(Halide::Expr x, Halide::Expr multiplier, Halide::Expr shift);

/// fixed_point mode: saturate(rounding_shift_right(rounding_mul_shift_right(acc', M, 31),
/// shift') + zero_point) as `type`, where a negative shift is applied (saturating, to the
/// left) to acc first: acc' = acc << -shift, shift' = 0; clamped to [lo, hi] as above.
/// M, shift: fixed_point_multiplier().
Halide::Expr requantize_fixed_point(Halide::Expr acc, Halide::Expr multiplier, Halide::Expr shift, Halide::Expr zero_point,
                                    Halide::Type type, Halide::Expr lo = Halide::Expr(), Halide::Expr hi = Halide::Expr());

}  // namespace megalide::layers
