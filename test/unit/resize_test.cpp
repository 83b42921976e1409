// Nearest and linear resize against ONNX's reference algorithm written again here as a naive
// loop (onnx/reference/ops/op_resize.py): per axis, the source coordinate in double, the two
// elements of the edge-padded row nearest to it (ties to the lower index) and their
// coefficients, every axis interpolated (resized or not), in NumPy order. The layer instead
// clamps indices and skips identity axes, so agreement checks those shortcuts too. Random
// shapes and scales, float32 scales (as ONNX stores them) as well as sizes, every coordinate
// and rounding mode; seeds printed on failure.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "megalide/error.h"
#include "megalide/layers/resize.h"
#include "test_util.h"

namespace megalide::test {
namespace {

using layers::NearestRounding;
using layers::ResizeCoordinates;
using layers::ResizeInterpolation;

// The reference: one axis.
struct Tap {
    int index;     // into the unpadded row (edge padding read as the end element)
    double coeff;
};

double ref_source(ResizeCoordinates mode, int x, double scale, int in) {
    const double out_width = scale * in;  // not rounded: the reference's output_width
    if (mode == ResizeCoordinates::AlignCorners) return out_width == 1 ? 0.0 : x * (in - 1) / (out_width - 1);
    if (mode == ResizeCoordinates::Asymmetric) return x / scale;
    if (mode == ResizeCoordinates::PytorchHalfPixel && out_width == 1) return -0.5;
    if (mode == ResizeCoordinates::TfHalfPixelForNN) return (x + 0.5) / scale;
    return (x + 0.5) / scale - 0.5;  // half_pixel, pytorch_half_pixel
}

std::vector<Tap> ref_taps(double x_ori, int in, ResizeInterpolation interp, NearestRounding rounding) {
    // The two nearest indices of the padded row [edge, row..., edge] to x_ori + 1.
    const int pad = 1, limit = in + 2 * pad;
    const double x = x_ori + pad;
    std::vector<int> idx(static_cast<size_t>(limit));
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return std::abs(x - a) < std::abs(x - b); });
    idx.resize(2);
    std::sort(idx.begin(), idx.end());
    const bool integral = x_ori == std::floor(x_ori);
    const double ratio = integral ? 1.0 : x_ori - std::floor(x_ori);
    double c0, c1;
    if (interp == ResizeInterpolation::Linear) {
        c0 = 1 - ratio, c1 = ratio;
    } else if (integral) {
        c0 = 0, c1 = 1;
    } else {
        bool upper = false;
        switch (rounding) {
        case NearestRounding::RoundPreferFloor: upper = ratio > 0.5; break;
        case NearestRounding::RoundPreferCeil: upper = ratio >= 0.5; break;
        case NearestRounding::Floor: upper = false; break;
        case NearestRounding::Ceil: upper = true; break;
        }
        c0 = upper ? 0 : 1, c1 = upper ? 1 : 0;
    }
    auto unpadded = [&](int i) { return std::min(std::max(i - pad, 0), in - 1); };
    return {{unpadded(idx[0]), c0}, {unpadded(idx[1]), c1}};
}

struct RefCase {
    ResizeInterpolation interp;
    ResizeCoordinates coordinates;
    NearestRounding rounding;
    std::vector<int> out_shape;  // NumPy order
    std::vector<double> scales;  // NumPy order
};

ref::Array ref_resize(const ref::Array &x, const RefCase &c) {
    ref::Array out(c.out_shape);
    const int rank = x.rank();
    for (long long f = 0; f < out.size(); ++f) {
        const std::vector<int> o = ref::unravel(f, out.shape);
        std::vector<std::vector<Tap>> taps(static_cast<size_t>(rank));
        for (int a = 0; a < rank; ++a) {
            const size_t s = static_cast<size_t>(a);
            taps[s] = ref_taps(ref_source(c.coordinates, o[s], c.scales[s], x.shape[s]), x.shape[s], c.interp, c.rounding);
        }
        // Sum over every combination of one tap per axis.
        double sum = 0;
        for (int combo = 0; combo < (1 << rank); ++combo) {
            std::vector<int> at(static_cast<size_t>(rank));
            double w = 1;
            for (int a = 0; a < rank; ++a) {
                const Tap &t = taps[static_cast<size_t>(a)][static_cast<size_t>((combo >> a) & 1)];
                at[static_cast<size_t>(a)] = t.index, w *= t.coeff;
            }
            if (w != 0) sum += w * x.at(at);
        }
        out.data[static_cast<size_t>(f)] = sum;
    }
    return out;
}

const char *name_of(ResizeCoordinates m) {
    switch (m) {
    case ResizeCoordinates::HalfPixel: return "half_pixel";
    case ResizeCoordinates::PytorchHalfPixel: return "pytorch_half_pixel";
    case ResizeCoordinates::AlignCorners: return "align_corners";
    case ResizeCoordinates::Asymmetric: return "asymmetric";
    case ResizeCoordinates::TfHalfPixelForNN: return "tf_half_pixel_for_nn";
    }
    return "?";
}

// A random extent pair and scale for one Halide dimension: ONNX's two ways of giving them.
// With `keep`, the dimension is not resized (scale 1), as N and C usually are.
void random_axis(Seeded &s, int in, bool keep, int &out, double &scale) {
    if (keep) {
        out = in, scale = 1.0;
        return;
    }
    if (s.uniform_int(0, 1)) {  // sizes: the scale is out / in in double
        out = s.uniform_int(1, 3 * in + 2);
        scale = static_cast<double>(out) / in;
        return;
    }
    // scales: float32 values (some not exact in binary), out = floor(in * scale) in double
    static const float kScales[] = {0.5f, 0.6f, 0.75f, 0.8f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 1.0f / 3, 0.7f, 1.3f, 2.2f};
    for (;;) {
        const float f = s.uniform_int(0, 3) ? kScales[s.uniform_int(0, 12)] : s.uniform(0.3f, 3.5f);
        scale = static_cast<double>(f);
        out = static_cast<int>(std::floor(scale * in));
        if (out >= 1) return;
    }
}

struct Trial {
    layers::ResizeParams params;
    Shape in_shape;
    std::string text;
};

Trial random_trial(Seeded &s, const Shape &in_shape, const std::vector<bool> &keep, ResizeInterpolation interp,
                   ResizeCoordinates coordinates, NearestRounding rounding) {
    Trial t;
    t.in_shape = in_shape;
    t.params.interpolation = interp, t.params.coordinates = coordinates, t.params.rounding = rounding;
    std::ostringstream text;
    text << name_of(coordinates) << " rounding " << static_cast<int>(rounding) << " in " << to_string(in_shape) << " scales";
    for (size_t d = 0; d < in_shape.size(); ++d) {
        int out;
        double scale;
        random_axis(s, in_shape[d], keep[d], out, scale);
        t.params.out_shape.push_back(out), t.params.scales.push_back(scale);
        text << " " << scale;
    }
    text << " out " << to_string(t.params.out_shape);
    t.text = text.str();
    return t;
}

RefCase ref_case(const Trial &t) {
    RefCase c{t.params.interpolation, t.params.coordinates, t.params.rounding, {}, {}};
    c.out_shape.assign(t.params.out_shape.rbegin(), t.params.out_shape.rend());
    c.scales.assign(t.params.scales.rbegin(), t.params.scales.rend());
    return c;
}

const ResizeCoordinates kCoordinates[] = {ResizeCoordinates::HalfPixel, ResizeCoordinates::PytorchHalfPixel,
                                          ResizeCoordinates::AlignCorners, ResizeCoordinates::Asymmetric,
                                          ResizeCoordinates::TfHalfPixelForNN};
const NearestRounding kRoundings[] = {NearestRounding::RoundPreferFloor, NearestRounding::RoundPreferCeil,
                                      NearestRounding::Floor, NearestRounding::Ceil};

// Activations (c, x, y, n), x and y resized: nearest reads an element, so results are exact.
TEST(ResizeNearest, SpatialEveryCoordinateAndRoundingMode) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (ResizeCoordinates coordinates : kCoordinates) {
        for (NearestRounding rounding : kRoundings) {
            for (int trial = 0; trial < 2; ++trial) {
                const Shape in_shape = {s.uniform_int(1, 3), s.uniform_int(1, 7), s.uniform_int(1, 7), s.uniform_int(1, 2)};
                Trial t = random_trial(s, in_shape, {true, false, false, true}, ResizeInterpolation::Nearest, coordinates, rounding);
                SCOPED_TRACE(t.text);
                auto x = random_buffer(s, in_shape);
                Tensor out = layers::resize("resize", input("x", x), t.params);
                ASSERT_EQ(out.shape, t.params.out_shape);
                expect_close(realize(out), ref_resize(to_array(x), ref_case(t)), 0, 0, "nearest resize");
            }
        }
    }
}

// Every dimension resized, the innermost included (a plain-layout tensor).
TEST(ResizeNearest, EveryDimension) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 8; ++trial) {
        const ResizeCoordinates coordinates = kCoordinates[s.uniform_int(0, 4)];
        const NearestRounding rounding = kRoundings[s.uniform_int(0, 3)];
        const Shape in_shape = {s.uniform_int(1, 6), s.uniform_int(1, 5), s.uniform_int(1, 4)};
        Trial t = random_trial(s, in_shape, {false, false, false}, ResizeInterpolation::Nearest, coordinates, rounding);
        SCOPED_TRACE(t.text);
        auto x = random_buffer(s, in_shape);
        expect_close(realize(layers::resize("resize", input("x", x), t.params)), ref_resize(to_array(x), ref_case(t)), 0, 0,
                     "nearest resize");
    }
}

// Coordinates exactly halfway between two elements: asymmetric upsampling by 2 puts every
// odd output at .5, where the rounding modes part; half_pixel downsampling by 0.5 at .5 too.
TEST(ResizeNearest, TiesFollowTheRoundingMode) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (NearestRounding rounding : kRoundings) {
        for (const auto &[coordinates, scale] : {std::make_pair(ResizeCoordinates::Asymmetric, 2.0),
                                                 std::make_pair(ResizeCoordinates::HalfPixel, 0.5)}) {
            layers::ResizeParams p;
            p.coordinates = coordinates, p.rounding = rounding;
            p.out_shape = {static_cast<int>(8 * scale)}, p.scales = {scale};
            SCOPED_TRACE(std::string(name_of(coordinates)) + " rounding " + std::to_string(static_cast<int>(rounding)));
            auto x = random_buffer(s, {8});
            Trial t{p, {8}, ""};
            expect_close(realize(layers::resize("resize", input("x", x), p)), ref_resize(to_array(x), ref_case(t)), 0, 0,
                         "nearest resize at ties");
        }
    }
}

// Linear: float32 weights. Each output blends 2^k elements (|x| <= 1) with weights that are
// products of k factors w or 1 - w, each rounded to float32 once (w from double, 1 - w in
// float32), so every term carries at most (k + 2) u relative error and the sum of 2^k terms
// (2^k - 1) u more: within reduction_tolerance(2^k (k + 2)), while a wrong index or weight
// errs by O(1 / extent).
TEST(ResizeLinear, SpatialEveryCoordinateMode) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (ResizeCoordinates coordinates : kCoordinates) {
        for (int trial = 0; trial < 4; ++trial) {
            const Shape in_shape = {s.uniform_int(1, 3), s.uniform_int(1, 7), s.uniform_int(1, 7), s.uniform_int(1, 2)};
            Trial t = random_trial(s, in_shape, {true, false, false, true}, ResizeInterpolation::Linear, coordinates,
                                   NearestRounding::RoundPreferFloor);
            SCOPED_TRACE(t.text);
            auto x = random_buffer(s, in_shape);
            Tensor out = layers::resize("resize", input("x", x), t.params);
            const double tol = reduction_tolerance(4 * (2 + 2));
            expect_close(realize(out), ref_resize(to_array(x), ref_case(t)), tol, tol, "bilinear resize");
        }
    }
}

TEST(ResizeLinear, EveryDimensionTrilinear) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 8; ++trial) {
        const ResizeCoordinates coordinates = kCoordinates[s.uniform_int(0, 3)];
        const Shape in_shape = {s.uniform_int(1, 6), s.uniform_int(1, 5), s.uniform_int(1, 4)};
        Trial t = random_trial(s, in_shape, {false, false, false}, ResizeInterpolation::Linear, coordinates,
                               NearestRounding::RoundPreferFloor);
        SCOPED_TRACE(t.text);
        auto x = random_buffer(s, in_shape);
        const double tol = reduction_tolerance(8 * (3 + 2));
        expect_close(realize(layers::resize("resize", input("x", x), t.params)), ref_resize(to_array(x), ref_case(t)), tol, tol,
                     "trilinear resize");
    }
}

// Indices come from host tables, which bounds inference cannot see through; the layer clamps
// them to a window around o * in / out, so a tile of outputs needs only the input it reads
// (what a fused schedule computes per tile), not the whole dimension. Upsampling x by 2 from
// 64, outputs 40..47 read inputs 19..24 (half_pixel: (o + 0.5) / 2 - 0.5 and the next one).
TEST(ResizeBounds, ATileReadsOnlyItsWindow) {
    for (ResizeInterpolation interp : {ResizeInterpolation::Nearest, ResizeInterpolation::Linear}) {
        SCOPED_TRACE(interp == ResizeInterpolation::Linear ? "linear" : "nearest");
        Halide::ImageParam in(Halide::Float(32), 4, "resize_bounds_in");
        layers::ResizeParams p;
        p.interpolation = interp;
        p.out_shape = {3, 128, 128, 1}, p.scales = {1.0, 2.0, 2.0, 1.0};
        Tensor out = layers::resize("resize_bounds", tensor_from_param(in, {3, 64, 64, 1}), p);
        Halide::Buffer<float> tile(3, 8, 8, 1);
        tile.set_min(0, 40, 40, 0);
        out.func.infer_input_bounds(tile);
        const Halide::Buffer<> needed = in.get();
        for (int d : {1, 2}) {
            EXPECT_GE(needed.dim(d).min(), 19) << "dimension " << d;
            EXPECT_LE(needed.dim(d).max(), 24) << "dimension " << d;
        }
    }
}

TEST(ResizeLinear, RefusesIntegerInput) {
    Halide::Buffer<uint8_t> b(4, 4);
    b.fill(1);
    Tensor x = tensor_from_buffer("x_u8", b);
    layers::ResizeParams p;
    p.interpolation = ResizeInterpolation::Linear;
    p.out_shape = {8, 8}, p.scales = {2.0, 2.0};
    expect_throws_with<Error>([&] { layers::resize("resize_u8", x, p); }, {"resize 'resize_u8'", "floating-point"});
}

}  // namespace
}  // namespace megalide::test
