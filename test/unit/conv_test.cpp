// Convolutions against the reference's NCHW loops over random geometries.
#include "megalide/layers/conv.h"
#include "test_util.h"

namespace megalide::test {
namespace {

using layers::Conv2DParams;

// Halide (c, x, y, n) is NHWC in memory; the reference wants NCHW.
ref::Array nchw(const Halide::Buffer<float> &b) { return ref::transpose(to_array(b), {0, 3, 1, 2}); }
ref::Array nhwc(const ref::Array &a) { return ref::transpose(a, {0, 2, 3, 1}); }
// Halide weights (co, ci, kx, ky) are (ky, kx, ci, co) in memory; ONNX wants OIHW.
ref::Array oihw(const Halide::Buffer<float> &w) { return ref::transpose(to_array(w), {3, 2, 0, 1}); }

struct Geometry {
    int width, height, kernel_x, kernel_y;
    Conv2DParams p;
    std::string str() const {
        std::ostringstream s;
        s << "in " << width << "x" << height << " kernel " << kernel_x << "x" << kernel_y
          << " stride " << p.stride_x << "," << p.stride_y << " pads l" << p.pad_left << " r"
          << p.pad_right << " t" << p.pad_top << " b" << p.pad_bottom << " dilation "
          << p.dilation_x << "," << p.dilation_y << " groups " << p.groups;
        return s.str();
    }
};

// A random valid geometry: odd sizes, 1x1 images and strides larger than the kernel occur.
Geometry random_geometry(Seeded &s) {
    for (;;) {
        Geometry g{s.uniform_int(1, 9), s.uniform_int(1, 9), s.uniform_int(1, 4), s.uniform_int(1, 4), {}};
        g.p.stride_x = s.uniform_int(1, 3);
        g.p.stride_y = s.uniform_int(1, 3);
        g.p.pad_left = s.uniform_int(0, 2);
        g.p.pad_right = s.uniform_int(0, 2);
        g.p.pad_top = s.uniform_int(0, 2);
        g.p.pad_bottom = s.uniform_int(0, 2);
        g.p.dilation_x = s.uniform_int(1, 2);
        g.p.dilation_y = s.uniform_int(1, 2);
        const int span_x = g.p.dilation_x * (g.kernel_x - 1) + 1;
        const int span_y = g.p.dilation_y * (g.kernel_y - 1) + 1;
        if (span_x <= g.width + g.p.pad_left + g.p.pad_right &&
            span_y <= g.height + g.p.pad_top + g.p.pad_bottom) {
            return g;
        }
    }
}

ref::ConvAttrs attrs(const Geometry &g) {
    ref::ConvAttrs a;
    a.stride_h = g.p.stride_y, a.stride_w = g.p.stride_x;
    a.pad_top = g.p.pad_top, a.pad_left = g.p.pad_left;
    a.pad_bottom = g.p.pad_bottom, a.pad_right = g.p.pad_right;
    a.dilation_h = g.p.dilation_y, a.dilation_w = g.p.dilation_x;
    a.group = g.p.groups;
    return a;
}

TEST(Conv2D, MatchesReferenceOnRandomGeometries) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 12; ++trial) {
        Geometry g = random_geometry(s);
        g.p.groups = s.uniform_int(1, 3);
        const int cin = g.p.groups * s.uniform_int(1, 4), cout = g.p.groups * s.uniform_int(1, 5);
        const int batch = s.uniform_int(1, 2);
        const bool with_bias = trial % 3 != 0;
        SCOPED_TRACE(g.str() + " cin " + std::to_string(cin) + " cout " + std::to_string(cout));

        auto x = random_buffer(s, {cin, g.width, g.height, batch});
        auto w = random_buffer(s, {cout, cin / g.p.groups, g.kernel_x, g.kernel_y});
        auto b = random_buffer(s, {cout});
        Tensor out = layers::conv2d("conv", input("x", x), input("w", w),
                                    with_bias ? std::optional<Tensor>(input("b", b)) : std::nullopt, g.p);
        ref::Array want = ref::conv(nchw(x), oihw(w), with_bias ? to_array(b) : ref::Array(), attrs(g));
        ASSERT_EQ(out.shape, (Shape{want.shape[1], want.shape[3], want.shape[2], want.shape[0]}));
        const double tol = reduction_tolerance(cin / g.p.groups * g.kernel_x * g.kernel_y + 1);
        expect_close(realize(out), nhwc(want), tol, tol, "conv2d");
    }
}

// Edge geometries that random draws may miss: a 1x1 image under a padded 3x3 kernel, a
// stride larger than the kernel, a kernel as large as the padded input, asymmetric pads.
TEST(Conv2D, EdgeGeometries) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto make = [](int w, int h, int kx, int ky, int sx, int sy, int pl, int pr, int pt, int pb) {
        Geometry g{w, h, kx, ky, {}};
        g.p.stride_x = sx, g.p.stride_y = sy;
        g.p.pad_left = pl, g.p.pad_right = pr, g.p.pad_top = pt, g.p.pad_bottom = pb;
        return g;
    };
    const Geometry cases[] = {
        make(1, 1, 3, 3, 1, 1, 1, 1, 1, 1),  // 1x1 image, "same" padding
        make(1, 1, 1, 1, 1, 1, 0, 0, 0, 0),  // 1x1 image, 1x1 kernel
        make(7, 5, 1, 1, 3, 2, 0, 0, 0, 0),  // stride larger than the kernel
        make(8, 8, 2, 2, 4, 4, 0, 1, 1, 0),  // stride 2x kernel, asymmetric pads
        make(3, 2, 5, 4, 1, 1, 1, 1, 1, 1),  // kernel spans the whole padded input
    };
    for (const Geometry &g : cases) {
        SCOPED_TRACE(g.str());
        auto x = random_buffer(s, {5, g.width, g.height, 1});
        auto w = random_buffer(s, {3, 5, g.kernel_x, g.kernel_y});
        Tensor out = layers::conv2d("conv", input("x", x), input("w", w), std::nullopt, g.p);
        ref::Array want = ref::conv(nchw(x), oihw(w), ref::Array(), attrs(g));
        const double tol = reduction_tolerance(5 * g.kernel_x * g.kernel_y);
        expect_close(realize(out), nhwc(want), tol, tol, "conv2d");
    }
}

TEST(DepthwiseConv2D, MatchesGroupedReference) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 10; ++trial) {
        Geometry g = random_geometry(s);
        const int channels = s.uniform_int(1, 7), multiplier = s.uniform_int(1, 2);
        g.p.groups = channels;
        SCOPED_TRACE(g.str() + " multiplier " + std::to_string(multiplier));

        auto x = random_buffer(s, {channels, g.width, g.height, 1});
        auto w = random_buffer(s, {channels * multiplier, g.kernel_x, g.kernel_y});
        auto b = random_buffer(s, {channels * multiplier});
        Tensor out = layers::depthwise_conv2d("dw", input("x", x), input("w", w), input("b", b), g.p);
        // The reference sees it as an ONNX grouped conv with group = C: weights (C*M, 1, KH, KW).
        ref::Array w_ref = ref::transpose(to_array(w), {2, 0, 1});
        w_ref.shape = {channels * multiplier, 1, g.kernel_y, g.kernel_x};
        ref::Array want = ref::conv(nchw(x), w_ref, to_array(b), attrs(g));
        const double tol = reduction_tolerance(g.kernel_x * g.kernel_y + 1);
        expect_close(realize(out), nhwc(want), tol, tol, "depthwise_conv2d");
    }
}

TEST(PointwiseConv2D, MatchesOneByOneReference) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 6; ++trial) {
        const int cin = s.uniform_int(1, 40), cout = s.uniform_int(1, 20);
        const int width = s.uniform_int(1, 7), height = s.uniform_int(1, 7), batch = s.uniform_int(1, 2);
        auto x = random_buffer(s, {cin, width, height, batch});
        auto w = random_buffer(s, {cout, cin});
        Tensor out = layers::pointwise_conv2d("pw", input("x", x), input("w", w), std::nullopt);
        ref::Array w_ref = ref::transpose(to_array(w), {1, 0});
        w_ref.shape = {cout, cin, 1, 1};
        ref::Array want = ref::conv(nchw(x), w_ref, ref::Array(), {});
        const double tol = reduction_tolerance(cin);
        expect_close(realize(out), nhwc(want), tol, tol, "pointwise_conv2d");
    }
}

}  // namespace
}  // namespace megalide::test
