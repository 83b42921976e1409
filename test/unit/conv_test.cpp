// Convolutions against the reference's NCHW loops over random geometries; 1-D, 3-D and
// transposed convolutions against the N-D loops below, as layers and through the op
// registry's lowering under the schedules the conformance suite runs.
#include <numeric>

#include "megalide/error.h"
#include "megalide/layers/conv.h"
#include "megalide/lower/lower.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"
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

// ---- 1-D, 3-D and transposed convolutions -----------------------------------------------

// N-D references: plain loops over ONNX-order arrays (N, C, spatial...), written from the ONNX
// operator docs, accumulating in double. The transposed one scatters (each input pixel adds
// into the outputs its taps reach), the opposite direction from the layer's gather.
struct Window {
    std::vector<int> strides, dilations, pad_begin, pad_end;  // one per spatial axis, ONNX order
    int group = 1;
    std::string str() const {
        std::ostringstream s;
        auto list = [&](const char *what, const std::vector<int> &v) {
            s << what;
            for (int e : v) s << " " << e;
            s << ";";
        };
        list(" strides", strides), list(" dilations", dilations), list(" pad_begin", pad_begin), list(" pad_end", pad_end);
        s << " group " << group;
        return s.str();
    }
};

std::vector<int> tail(const std::vector<int> &v, size_t from) { return std::vector<int>(v.begin() + static_cast<long>(from), v.end()); }

long long volume(const std::vector<int> &shape) {
    return std::accumulate(shape.begin(), shape.end(), 1LL, [](long long a, int b) { return a * b; });
}

// ONNX Conv: x (N, C, spatial...), w (M, C/group, kernel...), b (M) or empty.
ref::Array naive_conv(const ref::Array &x, const ref::Array &w, const ref::Array &b, const Window &a) {
    const size_t spatial = static_cast<size_t>(x.rank() - 2);
    const std::vector<int> kernel = tail(w.shape, 2);
    std::vector<int> shape = {x.shape[0], w.shape[0]};
    for (size_t i = 0; i < spatial; ++i) {
        const int span = a.dilations[i] * (kernel[i] - 1) + 1;
        shape.push_back((x.shape[2 + i] + a.pad_begin[i] + a.pad_end[i] - span) / a.strides[i] + 1);
    }
    ref::Array y(shape);
    const int cin_per_group = w.shape[1], cout_per_group = w.shape[0] / a.group;
    for (long long f = 0; f < y.size(); ++f) {
        const std::vector<int> o = ref::unravel(f, y.shape);
        const int m = o[1], g = m / cout_per_group;
        double sum = b.size() ? b.data[static_cast<size_t>(m)] : 0.0;
        for (int c = 0; c < cin_per_group; ++c) {
            for (long long t = 0; t < volume(kernel); ++t) {
                const std::vector<int> k = ref::unravel(t, kernel);
                std::vector<int> xi = {o[0], g * cin_per_group + c}, wi = {m, c};
                bool inside = true;
                for (size_t i = 0; i < spatial; ++i) {
                    const int at = o[2 + i] * a.strides[i] + k[i] * a.dilations[i] - a.pad_begin[i];
                    inside = inside && at >= 0 && at < x.shape[2 + i];
                    xi.push_back(at);
                    wi.push_back(k[i]);
                }
                if (inside) sum += x.at(xi) * w.at(wi);
            }
        }
        y.data[static_cast<size_t>(f)] = sum;
    }
    return y;
}

// ONNX ConvTranspose with explicit pads: x (N, C, spatial...), w (C, M/group, kernel...),
// b (M) or empty; the output's spatial extents given.
ref::Array naive_conv_transpose(const ref::Array &x, const ref::Array &w, const ref::Array &b, const Window &a,
                                const std::vector<int> &out_spatial) {
    const size_t spatial = static_cast<size_t>(x.rank() - 2);
    const std::vector<int> kernel = tail(w.shape, 2);
    const int cin_per_group = x.shape[1] / a.group, cout_per_group = w.shape[1];
    std::vector<int> shape = {x.shape[0], cout_per_group * a.group};
    shape.insert(shape.end(), out_spatial.begin(), out_spatial.end());
    ref::Array y(shape);
    for (long long f = 0; f < x.size(); ++f) {
        const std::vector<int> in = ref::unravel(f, x.shape);
        const int c = in[1], g = c / cin_per_group;
        for (int m = 0; m < cout_per_group; ++m) {
            for (long long t = 0; t < volume(kernel); ++t) {
                const std::vector<int> k = ref::unravel(t, kernel);
                std::vector<int> yi = {in[0], g * cout_per_group + m}, wi = {c, m};
                bool inside = true;
                for (size_t i = 0; i < spatial; ++i) {
                    const int at = in[2 + i] * a.strides[i] + k[i] * a.dilations[i] - a.pad_begin[i];
                    inside = inside && at >= 0 && at < out_spatial[i];
                    yi.push_back(at);
                    wi.push_back(k[i]);
                }
                if (inside) y.at(yi) += x.data[static_cast<size_t>(f)] * w.at(wi);
            }
        }
    }
    if (b.size()) {
        for (long long f = 0; f < y.size(); ++f) y.data[static_cast<size_t>(f)] += b.data[static_cast<size_t>(ref::unravel(f, y.shape)[1])];
    }
    return y;
}

// ONNX's ConvTranspose output extent along one axis from explicit pads.
int transpose_extent(int in, int kernel, int stride, int dilation, int output_padding, int pad_begin, int pad_end) {
    return stride * (in - 1) + output_padding + dilation * (kernel - 1) + 1 - pad_begin - pad_end;
}

// Permutations between a Halide buffer's NumPy view and ONNX's order, S spatial axes.
// Activations: Halide (c, x..., n) is NumPy (n, ...x, c); ONNX wants (n, c, ...x).
std::vector<int> activation_to_onnx(int s) {
    std::vector<int> p = {0, s + 1};
    for (int i = 1; i <= s; ++i) p.push_back(i);
    return p;
}
std::vector<int> activation_from_onnx(int s) {
    std::vector<int> p = {0};
    for (int i = 2; i <= s + 1; ++i) p.push_back(i);
    p.push_back(1);
    return p;
}
// Conv weights: Halide (co, ci, kx...) is NumPy (...kx, ci, co); ONNX wants (co, ci, ...kx).
// Transposed conv weights: Halide (co, ci, kx...); ONNX wants (ci, co, ...kx).
std::vector<int> weights_to_onnx(int s, bool transposed) {
    std::vector<int> p = transposed ? std::vector<int>{s, s + 1} : std::vector<int>{s + 1, s};
    for (int i = 0; i < s; ++i) p.push_back(i);
    return p;
}

// A random window along `spatial` axes whose (padded) input holds the kernel span.
Window random_window(Seeded &s, const std::vector<int> &in, const std::vector<int> &kernel, int max_stride) {
    for (;;) {
        Window w;
        bool fits = true;
        for (size_t i = 0; i < in.size(); ++i) {
            w.strides.push_back(s.uniform_int(1, max_stride));
            w.dilations.push_back(s.uniform_int(1, 2));
            w.pad_begin.push_back(s.uniform_int(0, 2));
            w.pad_end.push_back(s.uniform_int(0, 2));
            fits = fits && w.dilations[i] * (kernel[i] - 1) + 1 <= in[i] + w.pad_begin[i] + w.pad_end[i];
        }
        if (fits) return w;
    }
}

std::string dims_text(const std::vector<int> &v) {
    std::string s;
    for (int e : v) s += (s.empty() ? "" : "x") + std::to_string(e);
    return s;
}

TEST(Conv3D, MatchesNaiveLoopsOnRandomGeometries) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 10; ++trial) {
        const std::vector<int> in = {s.uniform_int(1, 6), s.uniform_int(1, 6), s.uniform_int(1, 6)};  // D, H, W
        const std::vector<int> kernel = {s.uniform_int(1, 3), s.uniform_int(1, 3), s.uniform_int(1, 3)};
        Window win = random_window(s, in, kernel, 3);
        win.group = s.uniform_int(1, 3);
        const int cin = win.group * s.uniform_int(1, 3), cout = win.group * s.uniform_int(1, 3), batch = s.uniform_int(1, 2);
        const bool with_bias = trial % 3 != 0;
        SCOPED_TRACE("in " + dims_text(in) + " kernel " + dims_text(kernel) + win.str() + " cin " + std::to_string(cin) +
                     " cout " + std::to_string(cout));
        auto x = random_buffer(s, {cin, in[2], in[1], in[0], batch});
        auto w = random_buffer(s, {cout, cin / win.group, kernel[2], kernel[1], kernel[0]});
        auto b = random_buffer(s, {cout});
        layers::Conv3DParams p;
        for (size_t j = 0; j < 3; ++j) {  // Halide axis j is ONNX spatial axis 2 - j
            p.strides[j] = win.strides[2 - j], p.dilations[j] = win.dilations[2 - j];
            p.pad_begin[j] = win.pad_begin[2 - j], p.pad_end[j] = win.pad_end[2 - j];
        }
        p.groups = win.group;
        Tensor out = layers::conv3d("conv3d", input("x", x), input("w", w),
                                    with_bias ? std::optional<Tensor>(input("b", b)) : std::nullopt, p);
        const ref::Array want = naive_conv(ref::transpose(to_array(x), activation_to_onnx(3)),
                                           ref::transpose(to_array(w), weights_to_onnx(3, false)),
                                           with_bias ? to_array(b) : ref::Array(), win);
        ASSERT_EQ(out.shape, (Shape{want.shape[1], want.shape[4], want.shape[3], want.shape[2], want.shape[0]}));
        const double tol = reduction_tolerance(cin / win.group * kernel[0] * kernel[1] * kernel[2] + 1);
        expect_close(realize(out), ref::transpose(want, activation_from_onnx(3)), tol, tol, "conv3d");
    }
}

// The layer over 1, 2 and 3 spatial axes against the scatter; strides up to 3 (so most taps
// miss a given pixel), output_padding, pads on both sides, dilations and groups.
TEST(ConvTranspose, MatchesNaiveScatterOnRandomGeometries) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int spatial = 1; spatial <= 3; ++spatial) {
        for (int trial = 0; trial < (spatial == 2 ? 14 : 6); ++trial) {
            std::vector<int> in, kernel, output_padding, out;
            Window win;
            for (int i = 0; i < spatial; ++i) {
                in.push_back(s.uniform_int(1, spatial == 3 ? 4 : 6));
                kernel.push_back(s.uniform_int(1, 3));
                win.strides.push_back(s.uniform_int(1, 3));
                win.dilations.push_back(s.uniform_int(1, 2));
                output_padding.push_back(s.uniform_int(0, std::max(win.strides.back(), win.dilations.back()) - 1));
                const int natural = transpose_extent(in.back(), kernel.back(), win.strides.back(), win.dilations.back(),
                                                     output_padding.back(), 0, 0);
                // Pads that leave at least one output pixel.
                win.pad_begin.push_back(std::min(s.uniform_int(0, 2), natural - 1));
                win.pad_end.push_back(std::min(s.uniform_int(0, 2), natural - 1 - win.pad_begin.back()));
                out.push_back(natural - win.pad_begin.back() - win.pad_end.back());
            }
            win.group = s.uniform_int(1, 3);
            const int cin = win.group * s.uniform_int(1, 3), cout_per_group = s.uniform_int(1, 3), batch = s.uniform_int(1, 2);
            const bool with_bias = trial % 2 == 0;
            SCOPED_TRACE(std::to_string(spatial) + "-D in " + dims_text(in) + " kernel " + dims_text(kernel) + win.str() +
                         " output_padding " + dims_text(output_padding) + " cin " + std::to_string(cin) + " cout/group " +
                         std::to_string(cout_per_group));
            Shape x_shape = {cin}, w_shape = {cout_per_group, cin};
            layers::ConvTransposeParams p;
            p.groups = win.group;
            for (int j = 0; j < spatial; ++j) {  // Halide axis j is ONNX spatial axis spatial - 1 - j
                const size_t a = static_cast<size_t>(spatial - 1 - j);
                x_shape.push_back(in[a]);
                w_shape.push_back(kernel[a]);
                p.strides.push_back(win.strides[a]);
                p.dilations.push_back(win.dilations[a]);
                p.pad_begin.push_back(win.pad_begin[a]);
                p.output_extents.push_back(out[a]);
            }
            x_shape.push_back(batch);
            auto x = random_buffer(s, x_shape);
            auto w = random_buffer(s, w_shape);
            auto b = random_buffer(s, {cout_per_group * win.group});
            Tensor y = layers::conv_transpose("convt", input("x", x), input("w", w),
                                              with_bias ? std::optional<Tensor>(input("b", b)) : std::nullopt, p);
            const ref::Array want = naive_conv_transpose(ref::transpose(to_array(x), activation_to_onnx(spatial)),
                                                         ref::transpose(to_array(w), weights_to_onnx(spatial, true)),
                                                         with_bias ? to_array(b) : ref::Array(), win, out);
            const int taps = static_cast<int>(volume(kernel));
            const double tol = reduction_tolerance(cin / win.group * taps + 1);
            expect_close(realize(y), ref::transpose(want, activation_from_onnx(spatial)), tol, tol, "conv_transpose");
        }
    }
}

TEST(ConvTranspose, RejectsInconsistentOperands) {
    auto x = Halide::Buffer<float>(4, 5, 5, 1);
    auto w = Halide::Buffer<float>(3, 4, 3, 3);
    layers::ConvTransposeParams p;
    p.strides = {1, 1}, p.dilations = {1, 1}, p.pad_begin = {0, 0}, p.output_extents = {7, 7};
    p.groups = 3;  // 4 input channels do not split into 3 groups
    expect_throws_with<Error>([&] { layers::conv_transpose("convt", input("x", x), input("w", w), std::nullopt, p); },
                              {"conv_transpose 'convt'", "channel mismatch"});
    p.groups = 1;
    p.strides = {1};
    expect_throws_with<Error>([&] { layers::conv_transpose("convt", input("x", x), input("w", w), std::nullopt, p); },
                              {"one entry per spatial axis"});
}

// ---- Through the op registry: lowering, then the schedules the conformance suite runs ----

HostArray random_onnx(Seeded &s, const std::vector<int> &shape) {
    std::vector<double> v(static_cast<size_t>(volume(shape)));
    for (double &e : v) e = s.uniform(-1.0f, 1.0f);
    return HostArray::from_doubles(DType::Float32, std::vector<int64_t>(shape.begin(), shape.end()), v);
}

ref::Array to_ref(const HostArray &a) { return to_array(a); }

std::vector<int64_t> ints(const std::vector<int> &v) { return std::vector<int64_t>(v.begin(), v.end()); }

// Lowers a graph with one node `op` (inputs x, w and optionally b) and runs it with every stage
// at root (Halide's defaults: no schedule) or under a strategy ("per_op", "megakernel").
HostArray run_node(const std::string &op, const HostArray &x, const HostArray &w, const std::optional<HostArray> &b,
                   bool constant_weights, const std::map<std::string, Attribute> &attrs, const std::string &strategy) {
    Graph g;
    g.add_input("x", DType::Float32, x.shape);
    if (constant_weights) g.add_constant("w", w); else g.add_input("w", DType::Float32, w.shape);
    std::vector<std::string> inputs = {"x", "w"};
    if (b) {
        g.add_constant("b", *b);
        inputs.push_back("b");
    }
    g.add_node(op, inputs, {"y"}, attrs, "node");
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    LoweredGraph lowered = lower(g);
    if (!strategy.empty()) {
        const TargetSpec target = host_target_spec(2);
        apply(make_schedule(strategy, g, lowered, target), g, lowered, target);
    }
    std::vector<HostArray> run_inputs = {x};
    if (!constant_weights) run_inputs.push_back(w);
    return run(lowered, run_inputs).at(0);
}

void expect_matches(const HostArray &got, const ref::Array &want, double tol, const std::string &what) {
    ASSERT_EQ(std::vector<int>(got.shape.begin(), got.shape.end()), want.shape) << what;
    const std::vector<double> g = got.to_doubles();
    int bad = 0;
    size_t worst = 0;
    for (size_t i = 0; i < g.size(); ++i) {
        if (std::abs(g[i] - want.data[i]) > tol + tol * std::abs(want.data[i])) {
            if (bad++ == 0 || std::abs(g[i] - want.data[i]) > std::abs(g[worst] - want.data[worst])) worst = i;
        }
    }
    EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << g.size() << " elements differ; worst at flat index " << worst << ": got "
                      << g[worst] << ", want " << want.data[worst] << " (tolerance " << tol << ")";
}

std::map<std::string, Attribute> window_attrs(const Window &w) {
    std::vector<int> pads = w.pad_begin;
    pads.insert(pads.end(), w.pad_end.begin(), w.pad_end.end());
    return {{"strides", Attribute::of(ints(w.strides))}, {"dilations", Attribute::of(ints(w.dilations))},
            {"pads", Attribute::of(ints(pads))}, {"group", Attribute::of(static_cast<int64_t>(w.group))}};
}

const char *const kStrategies[] = {"", "per_op", "megakernel"};
std::string strategy_name(const std::string &s) { return s.empty() ? "root" : s; }

// 1-D Conv lowers through the 2-D layers (a unit y axis): the dense, grouped, depthwise and
// pointwise paths, constant and runtime weights, each schedule.
TEST(ConvOps, Conv1DMatchesNaiveLoops) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    struct Case {
        const char *what;
        int cin, cout, group, width, kernel;
    };
    const Case cases[] = {
        {"dense", 5, 7, 1, 13, 3},     {"grouped", 6, 4, 2, 9, 2},     {"depthwise", 8, 8, 8, 11, 3},
        {"pointwise", 12, 20, 1, 10, 1}, {"wide", 32, 40, 1, 37, 5},
    };
    for (const Case &c : cases) {
        for (bool constant_weights : {true, false}) {
            Window win = random_window(s, {c.width}, {c.kernel}, 2);
            win.group = c.group;
            if (std::string(c.what) == "pointwise") win = {{1}, {1}, {0}, {0}, 1};
            const HostArray x = random_onnx(s, {2, c.cin, c.width}), w = random_onnx(s, {c.cout, c.cin / c.group, c.kernel});
            const HostArray b = random_onnx(s, {c.cout});
            const ref::Array want = naive_conv(to_ref(x), to_ref(w), to_ref(b), win);
            const double tol = reduction_tolerance(c.cin / c.group * c.kernel + 1);
            for (const std::string strategy : kStrategies) {
                SCOPED_TRACE(std::string(c.what) + win.str() + (constant_weights ? ", constant" : ", runtime") + " weights, " +
                             strategy_name(strategy));
                expect_matches(run_node("Conv", x, w, b, constant_weights, window_attrs(win), strategy), want, tol, "Conv 1-D");
            }
        }
    }
}

// 3-D Conv and ConvTranspose in 1, 2 and 3 dimensions with enough channels and pixels that
// the schedules tile them (register tiles of channels and rows, sections in megakernel).
TEST(ConvOps, Conv3DAndConvTransposeUnderSchedules) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    struct Case {
        const char *op;
        std::vector<int> x, w;
        Window win;
        std::vector<int> output_padding;
    };
    const Case cases[] = {
        {"Conv", {1, 8, 5, 6, 7}, {16, 8, 3, 3, 3}, {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1}, {}},
        {"Conv", {2, 6, 6, 5, 9}, {12, 3, 3, 2, 3}, {{2, 1, 2}, {1, 2, 1}, {1, 0, 2}, {0, 1, 1}, 2}, {}},
        {"ConvTranspose", {1, 16, 7, 9}, {16, 12, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, {1, 1}, 2}, {1, 1}},
        {"ConvTranspose", {2, 24, 5, 6}, {24, 16, 4, 2}, {{3, 1}, {1, 2}, {0, 1}, {2, 0}, 1}, {2, 0}},
        {"ConvTranspose", {1, 20, 17}, {20, 24, 5}, {{2}, {2}, {2}, {1}, 1}, {1}},
        {"ConvTranspose", {1, 8, 3, 4, 5}, {8, 6, 3, 3, 2}, {{2, 2, 1}, {1, 1, 2}, {1, 0, 1}, {0, 1, 0}, 2}, {1, 0, 0}},
    };
    for (const Case &c : cases) {
        const bool transposed = std::string(c.op) == "ConvTranspose";
        const HostArray x = random_onnx(s, c.x), w = random_onnx(s, c.w);
        const int cout = transposed ? c.w[1] * c.win.group : c.w[0];
        const HostArray b = random_onnx(s, {cout});
        std::map<std::string, Attribute> attrs = window_attrs(c.win);
        ref::Array want;
        const std::vector<int> kernel = tail(c.w, 2);
        if (transposed) {
            attrs["output_padding"] = Attribute::of(ints(c.output_padding));
            std::vector<int> out;
            for (size_t i = 0; i < kernel.size(); ++i) {
                out.push_back(transpose_extent(c.x[2 + i], kernel[i], c.win.strides[i], c.win.dilations[i], c.output_padding[i],
                                               c.win.pad_begin[i], c.win.pad_end[i]));
            }
            want = naive_conv_transpose(to_ref(x), to_ref(w), to_ref(b), c.win, out);
        } else {
            want = naive_conv(to_ref(x), to_ref(w), to_ref(b), c.win);
        }
        const int cin_per_group = transposed ? c.x[1] / c.win.group : c.w[1];
        const double tol = reduction_tolerance(cin_per_group * volume(kernel) + 1);
        for (bool constant_weights : {true, false}) {
            for (const std::string strategy : kStrategies) {
                SCOPED_TRACE(std::string(c.op) + " x " + dims_text(c.x) + " w " + dims_text(c.w) + c.win.str() +
                             (constant_weights ? ", constant" : ", runtime") + " weights, " + strategy_name(strategy));
                expect_matches(run_node(c.op, x, w, b, constant_weights, attrs, strategy), want, tol, c.op);
            }
        }
    }
}

// Where output_shape and auto_pad put the padding: SAME_UPPER begins with total / 2, the others
// with total - total / 2; an output_shape beyond the natural extent extends the end (begin 0).
TEST(ConvOps, ConvTransposeOutputShapeAndAutoPad) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    struct Case {
        const char *what;
        std::string auto_pad;
        std::vector<int64_t> output_shape;
        int kernel, stride, output_padding;
        int want_extent, want_pad_begin;
    };
    // Input extent 5 along both axes: natural extent stride * 4 + output_padding + kernel.
    const Case cases[] = {
        {"SAME_UPPER, even total", "SAME_UPPER", {}, 4, 2, 0, 10, 1},   // total 12 - 10 = 2
        {"SAME_UPPER, odd total", "SAME_UPPER", {}, 3, 2, 0, 10, 0},    // total 1: the extra at the end
        {"SAME_LOWER, odd total", "SAME_LOWER", {}, 3, 2, 0, 10, 1},    // total 1: the extra at the start
        {"output_shape, smaller", "", {9, 9}, 4, 2, 1, 9, 2},          // total 13 - 9 = 4
        {"output_shape, odd total", "", {10, 10}, 4, 2, 1, 10, 2},     // total 3: 3 - 3 / 2 = 2
        {"output_shape, larger", "", {15, 15}, 3, 2, 1, 15, 0},        // total 12 - 15 = -3
        {"output_shape, larger, SAME_UPPER", "SAME_UPPER", {17, 17}, 3, 3, 0, 17, 0},  // total 15 - 17 = -2
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.what);
        const HostArray x = random_onnx(s, {1, 3, 5, 5}), w = random_onnx(s, {3, 2, c.kernel, c.kernel});
        std::map<std::string, Attribute> attrs = {{"strides", Attribute::of(std::vector<int64_t>{c.stride, c.stride})},
                                                  {"output_padding", Attribute::of(std::vector<int64_t>{c.output_padding, c.output_padding})}};
        if (!c.auto_pad.empty()) attrs["auto_pad"] = Attribute::of(c.auto_pad);
        if (!c.output_shape.empty()) attrs["output_shape"] = Attribute::of(c.output_shape);
        const Window win{{c.stride, c.stride}, {1, 1}, {c.want_pad_begin, c.want_pad_begin}, {0, 0}, 1};
        const ref::Array want = naive_conv_transpose(to_ref(x), to_ref(w), ref::Array(), win, {c.want_extent, c.want_extent});
        expect_matches(run_node("ConvTranspose", x, w, std::nullopt, true, attrs, ""), want,
                       reduction_tolerance(3 * c.kernel * c.kernel), "ConvTranspose");
    }
}

// The integer convolutions stay 2-D: a 1-D one is refused by name at shape inference.
TEST(ConvOps, IntegerConvolutionsRefuseOtherThan2D) {
    Graph g;
    g.add_input("x", DType::UInt8, {1, 2, 8});
    g.add_constant("w", HostArray::from_doubles(DType::UInt8, {3, 2, 3}, std::vector<double>(18, 1.0)));
    g.add_node("ConvInteger", {"x", "w"}, {"y"}, {}, "conv1d_int");
    g.add_output("y");
    g.sort();
    expect_throws_with<Error>([&] { g.infer_shapes(); }, {"ConvInteger 'conv1d_int'", "2-D"});
}

}  // namespace
}  // namespace megalide::test
