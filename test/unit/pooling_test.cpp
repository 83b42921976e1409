// Max, average and global pooling against NCHW reference loops over random windows,
// including ceil mode, count_include_pad and strides larger than the window; 1-D and 3-D
// pooling and MaxPool's Indices against the N-D loops below.
#include "megalide/layers/pooling.h"

#include <cstdint>
#include <limits>

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

// 1-D, 3-D and argmax pooling: naive loops over (N, C, spatial...) in ONNX order, written
// from the ONNX operator description (and its reference implementation's window order and
// tie rule) independently of the layers.

// One ONNX spatial axis of a window.
struct NaiveWindow {
    int kernel = 1, stride = 1, pad_before = 0, pad_after = 0, dilation = 1;
};

struct NaivePool {
    std::vector<NaiveWindow> axes;  // ONNX order: D1 (outermost) first
    bool ceil_mode = false, count_include_pad = false;
    bool column_major = false;  // Indices' storage_order 1
};

int naive_out_extent(int in, const NaiveWindow &w, bool ceil_mode) {
    const int span = w.dilation * (w.kernel - 1) + 1;
    const int room = in + w.pad_before + w.pad_after - span;
    int out = (ceil_mode ? (room + w.stride - 1) / w.stride : room / w.stride) + 1;
    // PyTorch's (and ONNX opset 19's) rule: no window starts in the trailing padding.
    if (ceil_mode && (out - 1) * w.stride >= in + w.pad_before) --out;
    return out;
}

// Pools x (N, C, spatial...); Y and, for max, the flat indices (-1 where a window holds no
// input element).
struct NaiveResult {
    ref::Array values, indices;
};

NaiveResult naive_pool(const ref::Array &x, const NaivePool &p, bool is_max) {
    const int spatial = x.rank() - 2;
    std::vector<int> out_shape{x.shape[0], x.shape[1]};
    for (int i = 0; i < spatial; ++i)
        out_shape.push_back(naive_out_extent(x.shape[2 + i], p.axes[i], p.ceil_mode));
    NaiveResult r{ref::Array(out_shape), ref::Array(out_shape)};
    long long plane = 1;
    for (int i = 0; i < spatial; ++i)
        plane *= x.shape[2 + i];
    std::vector<int> kernel_shape;
    for (const NaiveWindow &w : p.axes)
        kernel_shape.push_back(w.kernel);
    long long window_size = 1;
    for (int k : kernel_shape)
        window_size *= k;
    for (long long o = 0; o < r.values.size(); ++o) {
        const std::vector<int> out = ref::unravel(o, out_shape);
        bool found = false;
        double best = 0, sum = 0;
        long long best_index = -1, count = 0;
        // Window elements in row-major order over the kernel: D1 outermost, as ONNX's loops.
        for (long long k = 0; k < window_size; ++k) {
            const std::vector<int> offset = ref::unravel(k, kernel_shape);
            std::vector<int> at{out[0], out[1]};
            bool inside = true, in_padded = true;
            for (int i = 0; i < spatial; ++i) {
                const NaiveWindow &w = p.axes[i];
                const int pos = out[2 + i] * w.stride + offset[i] * w.dilation - w.pad_before;
                inside = inside && pos >= 0 && pos < x.shape[2 + i];
                in_padded = in_padded && pos < x.shape[2 + i] + w.pad_after;
                at.push_back(pos);
            }
            if (p.count_include_pad ? in_padded : inside) ++count;
            if (!inside) continue;
            const double v = x.at(at);
            sum += v;
            if (!found || v > best) {
                found = true, best = v;
                long long flat = 0, stride = 1;
                for (int i = spatial; i-- > 0;) {  // row major: the last axis fastest
                    const int axis = p.column_major ? spatial - 1 - i : i;
                    flat += at[2 + axis] * stride;
                    stride *= x.shape[2 + axis];
                }
                best_index = (static_cast<long long>(out[0]) * x.shape[1] + out[1]) * plane + flat;
            }
        }
        r.values.data[o] = is_max ? (found ? best : std::numeric_limits<float>::lowest())
                                  : sum / static_cast<double>(count);
        r.indices.data[o] = static_cast<double>(best_index);
    }
    return r;
}

// A random valid window along an axis of `extent`: pads below the window (as ONNX Runtime
// and PyTorch require), strides up to beyond the window.
NaiveWindow random_window(Seeded &s, int extent, bool allow_dilation) {
    for (;;) {
        NaiveWindow w;
        w.kernel = s.uniform_int(1, 4), w.stride = s.uniform_int(1, 4);
        w.pad_before = s.uniform_int(0, w.kernel - 1), w.pad_after = s.uniform_int(0, w.kernel - 1);
        if (allow_dilation) w.dilation = s.uniform_int(1, 2);
        if (w.dilation * (w.kernel - 1) + 1 <= extent + w.pad_before + w.pad_after) return w;
    }
}

NaivePool random_naive_pool(Seeded &s, const std::vector<int> &extents, bool allow_dilation) {
    NaivePool p;
    for (int e : extents)
        p.axes.push_back(random_window(s, e, allow_dilation));
    p.ceil_mode = s.uniform_int(0, 1);
    p.count_include_pad = s.uniform_int(0, 1);
    p.column_major = s.uniform_int(0, 1);
    return p;
}

std::string describe(const NaivePool &p, const std::vector<int> &extents) {
    std::ostringstream s;
    for (size_t i = 0; i < p.axes.size(); ++i) {
        const NaiveWindow &w = p.axes[i];
        s << "D" << i + 1 << ": in " << extents[i] << " kernel " << w.kernel << " stride "
          << w.stride << " pads " << w.pad_before << "+" << w.pad_after << " dilation "
          << w.dilation << "; ";
    }
    s << "ceil " << p.ceil_mode << " include_pad " << p.count_include_pad << " column_major "
      << p.column_major;
    return s.str();
}

layers::PoolWindow layer_window(const NaiveWindow &w) {
    return {w.kernel, w.stride, w.pad_before, w.pad_after, w.dilation};
}

layers::Pool1DParams params_1d(const NaivePool &p) {
    layers::Pool1DParams q;
    q.x = layer_window(p.axes[0]);
    q.ceil_mode = p.ceil_mode, q.count_include_pad = p.count_include_pad;
    return q;
}

layers::Pool2DParams params_2d(const NaivePool &p) {
    layers::Pool2DParams q;
    q.kernel_y = p.axes[0].kernel, q.stride_y = p.axes[0].stride, q.dilation_y = p.axes[0].dilation;
    q.pad_top = p.axes[0].pad_before, q.pad_bottom = p.axes[0].pad_after;
    q.kernel_x = p.axes[1].kernel, q.stride_x = p.axes[1].stride, q.dilation_x = p.axes[1].dilation;
    q.pad_left = p.axes[1].pad_before, q.pad_right = p.axes[1].pad_after;
    q.ceil_mode = p.ceil_mode, q.count_include_pad = p.count_include_pad;
    return q;
}

layers::Pool3DParams params_3d(const NaivePool &p) {
    layers::Pool3DParams q;
    q.z = layer_window(p.axes[0]), q.y = layer_window(p.axes[1]), q.x = layer_window(p.axes[2]);
    q.ceil_mode = p.ceil_mode, q.count_include_pad = p.count_include_pad;
    return q;
}

layers::IndexOrder order_of(const NaivePool &p) {
    return p.column_major ? layers::IndexOrder::ColumnMajor : layers::IndexOrder::RowMajor;
}

// Halide (c, spatial innermost first..., n) <-> ONNX (N, C, spatial outermost first...), as
// NumPy-order permutations: to ONNX from the buffer's reversed shape (n, D1.., c), and back.
std::vector<int> to_onnx_perm(int rank) {
    std::vector<int> perm{0, rank - 1};
    for (int a = 1; a < rank - 1; ++a)
        perm.push_back(a);
    return perm;
}
std::vector<int> from_onnx_perm(int rank) {
    std::vector<int> perm{0};
    for (int a = 2; a < rank; ++a)
        perm.push_back(a);
    perm.push_back(1);
    return perm;
}

ref::Array onnx_of(const Halide::Buffer<float> &b) {
    return ref::transpose(to_array(b), to_onnx_perm(b.dimensions()));
}
ref::Array halide_order(const ref::Array &a) {
    return ref::transpose(a, from_onnx_perm(a.rank()));
}

// Random values from {-2, ..., 2}: every window of a few elements holds ties.
Halide::Buffer<float> tied_buffer(Seeded &s, const Shape &shape) {
    Halide::Buffer<float> b(shape);
    b.for_each_value([&](float &v) { v = static_cast<float>(s.uniform_int(-2, 2)); });
    return b;
}

// Compares int64 indices exactly (Halide order buffer, ONNX-order reference).
void expect_indices(const Halide::Buffer<int64_t> &got, const ref::Array &want_onnx) {
    const ref::Array want = halide_order(want_onnx);
    ASSERT_EQ(static_cast<long long>(got.number_of_elements()), want.size());
    int mismatches = 0;
    for (long long i = 0; i < want.size(); ++i) {
        const int64_t g = got.data()[i],
                      w = static_cast<int64_t>(want.data[static_cast<size_t>(i)]);
        if (g != w && ++mismatches <= 5)
            ADD_FAILURE() << "indices element " << i << " (memory order): got " << g << ", want "
                          << w;
    }
    EXPECT_EQ(mismatches, 0) << "indices mismatches";
}

Halide::Buffer<int64_t> realize_indices(const Tensor &t) {
    EXPECT_EQ(t.type, Halide::Int(64));
    Halide::Func f = t.func;
    return f.realize(std::vector<int>(t.shape.begin(), t.shape.end()));
}

Shape halide_shape_of(const std::vector<int> &onnx_shape) {
    const std::vector<int> perm = from_onnx_perm(static_cast<int>(onnx_shape.size()));
    Shape numpy;  // (n, spatial outermost first..., c)
    for (int a : perm)
        numpy.push_back(onnx_shape[static_cast<size_t>(a)]);
    return Shape(numpy.rbegin(), numpy.rend());
}

TEST(Pool1D, RandomWindows) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 16; ++trial) {
        const int length = s.uniform_int(1, 12);
        const bool is_max = trial % 2 == 0;
        const NaivePool p = random_naive_pool(s, {length}, is_max);
        SCOPED_TRACE(std::string(is_max ? "max " : "avg ") + describe(p, {length}));
        auto x = random_buffer(s, {3, length, 2});
        Tensor out = is_max ? layers::max_pool1d("pool1d", input("x", x), params_1d(p))
                            : layers::avg_pool1d("pool1d", input("x", x), params_1d(p));
        const NaiveResult want = naive_pool(onnx_of(x), p, is_max);
        ASSERT_EQ(out.shape, halide_shape_of(want.values.shape));
        // A max is exact; a mean sums `kernel` terms then divides once.
        const double tol = is_max ? 0 : reduction_tolerance(p.axes[0].kernel + 1);
        expect_close(realize(out), halide_order(want.values), tol, tol,
                     is_max ? "max_pool1d" : "avg_pool1d");
    }
}

TEST(Pool3D, RandomWindows) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 16; ++trial) {
        const std::vector<int> extents{s.uniform_int(1, 6), s.uniform_int(1, 6),
                                       s.uniform_int(1, 6)};  // D, H, W
        const bool is_max = trial % 2 == 0;
        const NaivePool p = random_naive_pool(s, extents, is_max);
        SCOPED_TRACE(std::string(is_max ? "max " : "avg ") + describe(p, extents));
        auto x = random_buffer(s, {2, extents[2], extents[1], extents[0], 2});
        Tensor out = is_max ? layers::max_pool3d("pool3d", input("x", x), params_3d(p))
                            : layers::avg_pool3d("pool3d", input("x", x), params_3d(p));
        const NaiveResult want = naive_pool(onnx_of(x), p, is_max);
        ASSERT_EQ(out.shape, halide_shape_of(want.values.shape));
        const double tol =
            is_max
                ? 0
                : reduction_tolerance(p.axes[0].kernel * p.axes[1].kernel * p.axes[2].kernel + 1);
        expect_close(realize(out), halide_order(want.values), tol, tol,
                     is_max ? "max_pool3d" : "avg_pool3d");
    }
}

// Indices with ties everywhere: the first maximum in window order wins, in both storage
// orders, for 1-D, 2-D and 3-D windows (values and indices exact).
TEST(MaxPoolIndices, TiesAndStorageOrders) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 24; ++trial) {
        const int spatial = 1 + trial % 3;
        std::vector<int> extents;
        for (int i = 0; i < spatial; ++i)
            extents.push_back(s.uniform_int(1, spatial == 3 ? 6 : 9));
        const NaivePool p = random_naive_pool(s, extents, true);
        SCOPED_TRACE(std::to_string(spatial) + "-D " + describe(p, extents));
        std::vector<int> onnx_shape{2, 3};
        onnx_shape.insert(onnx_shape.end(), extents.begin(), extents.end());
        auto x = tied_buffer(s, halide_shape_of(onnx_shape));
        layers::PoolWithIndices out;
        if (spatial == 1) {
            out = layers::max_pool1d_with_indices("mp", "mp_indices", input("x", x), params_1d(p));
        } else if (spatial == 2) {
            out = layers::max_pool2d_with_indices("mp", "mp_indices", input("x", x), params_2d(p),
                                                  order_of(p));
        } else {
            out = layers::max_pool3d_with_indices("mp", "mp_indices", input("x", x), params_3d(p),
                                                  order_of(p));
        }
        // 1-D indices are the same in both orders (ONNX's reference ignores storage_order there).
        const NaiveResult want = naive_pool(onnx_of(x), p, true);
        ASSERT_EQ(out.values.shape, halide_shape_of(want.values.shape));
        ASSERT_EQ(out.indices.shape, out.values.shape);
        expect_close(realize(out.values), halide_order(want.values), 0, 0, "max pool values");
        expect_indices(realize_indices(out.indices), want.indices);
    }
}

// 8-bit values pool natively (no float round trip) with the same indices.
TEST(MaxPoolIndices, Uint8) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    const std::vector<int> extents{5, 7};
    const NaivePool p = random_naive_pool(s, extents, true);
    SCOPED_TRACE(describe(p, extents));
    Halide::Buffer<uint8_t> x8(3, extents[1], extents[0], 2);
    Halide::Buffer<float> xf(3, extents[1], extents[0], 2);
    x8.for_each_element([&](int c, int w, int h, int n) {
        // Near the type's top (padding must not win against 255) and tied.
        x8(c, w, h, n) = static_cast<uint8_t>(s.uniform_int(250, 255));
        xf(c, w, h, n) = x8(c, w, h, n);
    });
    layers::PoolWithIndices out = layers::max_pool2d_with_indices(
        "mp8", "mp8_indices", tensor_from_buffer("x8", x8), params_2d(p), order_of(p));
    ASSERT_EQ(out.values.type, Halide::UInt(8));
    const NaiveResult want = naive_pool(onnx_of(xf), p, true);
    Halide::Buffer<uint8_t> got =
        out.values.func.realize(std::vector<int>(out.values.shape.begin(), out.values.shape.end()));
    const ref::Array want_values = halide_order(want.values);
    for (long long i = 0; i < want_values.size(); ++i) {
        ASSERT_EQ(static_cast<double>(got.data()[i]), want_values.data[static_cast<size_t>(i)])
            << "values element " << i;
    }
    expect_indices(realize_indices(out.indices), want.indices);
}

TEST(GlobalPoolND, Ranks3And5) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (const Shape &shape : {Shape{5, 7, 2}, Shape{3, 4, 3, 2, 2}, Shape{4, 1, 1, 1, 1}}) {
        SCOPED_TRACE("shape " + to_string(shape));
        auto x = random_buffer(s, shape);
        const ref::Array onnx = onnx_of(x);
        // The whole plane as one window, no padding.
        NaivePool p;
        std::vector<int> out_shape{onnx.shape[0], onnx.shape[1]};
        for (int a = 2; a < onnx.rank(); ++a) {
            p.axes.push_back({onnx.shape[static_cast<size_t>(a)], 1, 0, 0, 1});
            out_shape.push_back(1);
        }
        long long plane = 1;
        for (size_t d = 1; d + 1 < shape.size(); ++d)
            plane *= shape[d];
        Tensor gmax = layers::global_max_pool("gmax", input("x", x)),
               gavg = layers::global_avg_pool("gavg", input("x", x));
        ASSERT_EQ(gmax.shape, halide_shape_of(out_shape));
        ASSERT_EQ(gavg.shape, halide_shape_of(out_shape));
        expect_close(realize(gmax), halide_order(naive_pool(onnx, p, true).values), 0, 0,
                     "global_max_pool");
        const double tol = reduction_tolerance(plane + 1);
        expect_close(realize(gavg), halide_order(naive_pool(onnx, p, false).values), tol, tol,
                     "global_avg_pool");
    }
}

}  // namespace
}  // namespace megalide::test
