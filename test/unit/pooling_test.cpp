// Max, average and global pooling against NCHW reference loops over random windows,
// including ceil mode, count_include_pad and strides larger than the window.
#include "megalide/layers/pooling.h"
#include "test_util.h"

namespace megalide::test {
namespace {

ref::Array nchw(const Halide::Buffer<float> &b) { return ref::transpose(to_array(b), {0, 3, 1, 2}); }
ref::Array nhwc(const ref::Array &a) { return ref::transpose(a, {0, 2, 3, 1}); }

layers::Pool2DParams random_pool(Seeded &s, int width, int height, bool allow_dilation) {
    for (;;) {
        layers::Pool2DParams p;
        p.kernel_x = s.uniform_int(1, 4), p.kernel_y = s.uniform_int(1, 4);
        p.stride_x = s.uniform_int(1, 5), p.stride_y = s.uniform_int(1, 5);
        // Pads below the window, as ONNX Runtime and PyTorch require.
        p.pad_left = s.uniform_int(0, p.kernel_x - 1), p.pad_right = s.uniform_int(0, p.kernel_x - 1);
        p.pad_top = s.uniform_int(0, p.kernel_y - 1), p.pad_bottom = s.uniform_int(0, p.kernel_y - 1);
        if (allow_dilation) p.dilation_x = s.uniform_int(1, 2), p.dilation_y = s.uniform_int(1, 2);
        p.ceil_mode = s.uniform_int(0, 1);
        p.count_include_pad = s.uniform_int(0, 1);
        if (p.dilation_x * (p.kernel_x - 1) + 1 <= width + p.pad_left + p.pad_right &&
            p.dilation_y * (p.kernel_y - 1) + 1 <= height + p.pad_top + p.pad_bottom) {
            return p;
        }
    }
}

ref::PoolAttrs attrs(const layers::Pool2DParams &p) {
    ref::PoolAttrs a;
    a.kernel_h = p.kernel_y, a.kernel_w = p.kernel_x, a.stride_h = p.stride_y, a.stride_w = p.stride_x;
    a.pad_top = p.pad_top, a.pad_left = p.pad_left, a.pad_bottom = p.pad_bottom, a.pad_right = p.pad_right;
    a.dilation_h = p.dilation_y, a.dilation_w = p.dilation_x;
    a.ceil_mode = p.ceil_mode, a.count_include_pad = p.count_include_pad;
    return a;
}

std::string describe(const layers::Pool2DParams &p, int w, int h) {
    std::ostringstream s;
    s << "in " << w << "x" << h << " kernel " << p.kernel_x << "x" << p.kernel_y << " stride "
      << p.stride_x << "," << p.stride_y << " pads l" << p.pad_left << " r" << p.pad_right << " t"
      << p.pad_top << " b" << p.pad_bottom << " dilation " << p.dilation_x << "," << p.dilation_y
      << " ceil " << p.ceil_mode << " include_pad " << p.count_include_pad;
    return s.str();
}

TEST(MaxPool2D, RandomWindows) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 12; ++trial) {
        const int w = s.uniform_int(1, 9), h = s.uniform_int(1, 9);
        layers::Pool2DParams p = random_pool(s, w, h, true);
        SCOPED_TRACE(describe(p, w, h));
        auto x = random_buffer(s, {3, w, h, 2});
        Tensor out = layers::max_pool2d("maxpool", input("x", x), p);
        ref::Array want = ref::max_pool(nchw(x), attrs(p));
        ASSERT_EQ(out.shape, (Shape{want.shape[1], want.shape[3], want.shape[2], want.shape[0]}));
        expect_close(realize(out), nhwc(want), 0, 0, "max_pool2d");  // a max is exact
    }
}

TEST(AvgPool2D, RandomWindows) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 12; ++trial) {
        const int w = s.uniform_int(1, 9), h = s.uniform_int(1, 9);
        layers::Pool2DParams p = random_pool(s, w, h, false);
        SCOPED_TRACE(describe(p, w, h));
        auto x = random_buffer(s, {3, w, h, 1});
        Tensor out = layers::avg_pool2d("avgpool", input("x", x), p);
        ref::Array want = ref::avg_pool(nchw(x), attrs(p));
        ASSERT_EQ(out.shape, (Shape{want.shape[1], want.shape[3], want.shape[2], want.shape[0]}));
        const double tol = reduction_tolerance(p.kernel_x * p.kernel_y + 1);
        expect_close(realize(out), nhwc(want), tol, tol, "avg_pool2d");
    }
}

TEST(GlobalPool2D, AverageAndMax) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (const Shape &shape : {Shape{5, 7, 3, 2}, Shape{4, 1, 1, 1}, Shape{16, 14, 14, 1}}) {
        SCOPED_TRACE("shape " + to_string(shape));
        auto x = random_buffer(s, shape);
        expect_close(realize(layers::global_max_pool2d("gmax", input("x", x))),
                     nhwc(ref::global_max_pool(nchw(x))), 0, 0, "global_max_pool2d");
        const double tol = reduction_tolerance(shape[1] * shape[2] + 1);
        expect_close(realize(layers::global_avg_pool2d("gavg", input("x", x))),
                     nhwc(ref::global_avg_pool(nchw(x))), tol, tol, "global_avg_pool2d");
    }
}

}  // namespace
}  // namespace megalide::test
