// The C math functions Halide's Hexagon code calls for scalar float work (HVX v66 has no float
// vectors, so float stages run on the scalar FPU) and that a freestanding program has no libm
// for: floorf (Halide's exp and everything built on it: Sigmoid, Softmax, GELU's tanh form),
// tanhf (Tanh) and __hexagon_sqrtf (the compiler-rt routine LLVM calls for a float square root:
// Sqrt, LayerNormalization). Written for this runtime; each is checked through the models that
// use it against the host (test/targets/check_hexagon.py). No float division by a variable is
// used where a multiply will do; LLVM expands the rest inline on Hexagon.
#include <stdint.h>

typedef union {
    float f;
    uint32_t u;
} megalide_bits;

// Round toward -infinity, exactly: clear the fraction bits below the binary point, after
// stepping a negative non-integer down by one unit of the integer part.
float floorf(float x) {
    megalide_bits v = {x};
    const int exponent = (int)((v.u >> 23) & 0xff) - 127;
    if (exponent >= 23) return x;  // already an integer, or inf / NaN
    if (exponent < 0) {            // |x| < 1
        if ((v.u << 1) == 0) return x;             // +0 or -0
        return (v.u >> 31) ? -1.0f : 0.0f;
    }
    const uint32_t fraction = 0x007fffffu >> exponent;
    if ((v.u & fraction) == 0) return x;
    if (v.u >> 31) v.u += fraction;
    v.u &= ~fraction;
    return v.f;
}

// e^t for |t| <= 88: t = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so n ln2 is exact to
// float precision), e^r by its Taylor series to r^7 (remainder below 6e-9 relative), and 2^n
// put into the exponent field.
static float megalide_expf(float t) {
    if (t > 88.0f) t = 88.0f;
    if (t < -87.0f) return 0.0f;
    const float n = floorf(t * 1.44269504f + 0.5f);
    const float r = (t - n * 0.693145752f) - n * 1.42860677e-06f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    megalide_bits scale = {0};
    scale.u = (uint32_t)((int)n + 127) << 23;
    return p * scale.f;
}

// tanh x = 1 - 2 / (e^{2|x|} + 1) with the sign of x. Near 0 the subtraction loses relative
// precision but not absolute (below 1e-7); for |x| > 9, tanh rounds to +-1 in float.
float tanhf(float x) {
    if (x != x) return x;  // NaN
    const float a = x < 0 ? -x : x;
    const float t = a > 9.0f ? 1.0f : 1.0f - 2.0f / (megalide_expf(2.0f * a) + 1.0f);
    return x < 0 ? -t : t;
}

// sqrt x: an estimate of 1/sqrt(x) from the exponent bits, three Newton steps on it (each
// squares the relative error: 3e-2, 1e-3, 2e-6, below float's 6e-8 after rounding), then
// sqrt x = x / sqrt(x) as x * (1/sqrt x) with one correction step.
float __hexagon_sqrtf(float x) {
    megalide_bits v = {x};
    if (x != x || x == 0.0f) return x;  // NaN, +0, -0
    if (v.u >> 31) {                      // negative: NaN
        v.u = 0x7fc00000u;
        return v.f;
    }
    if (v.u == 0x7f800000u) return x;  // +inf
    // Subnormals: scale up by 2^64 first, and the result down by 2^32.
    float unscale = 1.0f;
    if ((v.u >> 23) == 0) {
        x *= 18446744073709551616.0f;
        unscale = 1.0f / 4294967296.0f;
        v.f = x;
    }
    megalide_bits y = {0};
    y.u = 0x5f3759dfu - (v.u >> 1);
    float r = y.f;
    for (int i = 0; i < 3; ++i) r = r * (1.5f - 0.5f * x * r * r);
    float s = x * r;
    s = s + 0.5f * r * (x - s * s);
    return s * unscale;
}

float sqrtf(float x) { return __hexagon_sqrtf(x); }
