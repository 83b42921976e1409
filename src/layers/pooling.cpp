#include "megalide/layers/pooling.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "checks.h"
#include "window.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Tuple;
using Halide::Var;

namespace {

struct PoolGeometry {
    int out_width, out_height;
};

PoolGeometry check_pool(const std::string &label, const Tensor &input, const Pool2DParams &p) {
    require_rank(label, "input (c, x, y, n)", input, 4);
    const int ow = window_output_extent(label,
                                        {"x", input.dim(1), p.pad_left, p.pad_right, p.kernel_x,
                                         p.stride_x, p.dilation_x},
                                        p.ceil_mode);
    const int oh = window_output_extent(label,
                                        {"y", input.dim(2), p.pad_top, p.pad_bottom, p.kernel_y,
                                         p.stride_y, p.dilation_y},
                                        p.ceil_mode);
    return {ow, oh};
}

bool has_padding(const Tensor &input, const Pool2DParams &p, const PoolGeometry &g) {
    // Ceil mode can make the last window run past the input even without explicit pads.
    const bool overhang_x =
        (g.out_width - 1) * p.stride_x + p.dilation_x * (p.kernel_x - 1) >= input.dim(1) + p.pad_left;
    const bool overhang_y =
        (g.out_height - 1) * p.stride_y + p.dilation_y * (p.kernel_y - 1) >= input.dim(2) + p.pad_top;
    return p.pad_left || p.pad_right || p.pad_top || p.pad_bottom || overhang_x || overhang_y;
}

}  // namespace

Tensor max_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &p) {
    const std::string label = layer_label("max_pool2d", name);
    const PoolGeometry g = check_pool(label, input, p);
    const float lowest = std::numeric_limits<float>::lowest();
    Func padded = has_padding(input, p, g) ? pad_spatial(name + "_pad", input, lowest) : input.func;

    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, p.kernel_x, 0, p.kernel_y, name + "_r");
    Expr in_x = x * p.stride_x + r.x * p.dilation_x - p.pad_left;
    Expr in_y = y * p.stride_y + r.y * p.dilation_y - p.pad_top;
    Func out(name);
    out(c, x, y, n) = lowest;
    out(c, x, y, n) = Halide::max(out(c, x, y, n), padded(c, in_x, in_y, n));
    record_stage(out, StageRole::Reduction);
    return {out, {input.dim(0), g.out_width, g.out_height, input.dim(3)}};
}

Tensor avg_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &p) {
    const std::string label = layer_label("avg_pool2d", name);
    require(p.dilation_x == 1 && p.dilation_y == 1, label,
            "average pooling supports dilation 1 only, got (" + std::to_string(p.dilation_x) +
                ", " + std::to_string(p.dilation_y) + ")");
    const PoolGeometry g = check_pool(label, input, p);
    Func padded = has_padding(input, p, g) ? pad_spatial(name + "_pad", input, 0.0f) : input.func;

    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, p.kernel_x, 0, p.kernel_y, name + "_r");
    Func sum(name + "_sum");
    sum(c, x, y, n) = 0.0f;
    sum(c, x, y, n) += padded(c, x * p.stride_x + r.x - p.pad_left, y * p.stride_y + r.y - p.pad_top, n);
    record_stage(sum, StageRole::Reduction);

    // The divisor per output position: the window clipped to the input (or, with
    // count_include_pad, clipped to the padded input).
    auto window_count = [&](Expr out_pos, int stride, int pad_before, int pad_after, int kernel,
                            int extent) {
        Expr start = out_pos * stride - pad_before;
        if (p.count_include_pad) {
            return Halide::min(start + kernel, extent + pad_after) - start;
        }
        return Halide::min(start + kernel, extent) - Halide::max(start, 0);
    };
    Expr count_x = window_count(x, p.stride_x, p.pad_left, p.pad_right, p.kernel_x, input.dim(1));
    Expr count_y = window_count(y, p.stride_y, p.pad_top, p.pad_bottom, p.kernel_y, input.dim(2));
    Func out(name);
    out(c, x, y, n) = sum(c, x, y, n) / Halide::cast<float>(count_x * count_y);
    return {out, {input.dim(0), g.out_width, g.out_height, input.dim(3)}};
}

namespace {

Tensor global_pool(const char *kind, bool is_max, const std::string &name, const Tensor &input) {
    const std::string label = layer_label(kind, name);
    require_rank(label, "input (c, x, y, n)", input, 4);
    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, input.dim(1), 0, input.dim(2), name + "_r");
    Func acc(is_max ? name : name + "_sum");
    if (is_max) {
        acc(c, x, y, n) = std::numeric_limits<float>::lowest();
        acc(c, x, y, n) = Halide::max(acc(c, x, y, n), input({c, r.x, r.y, n}));
        record_stage(acc, StageRole::Reduction);
        return {acc, {input.dim(0), 1, 1, input.dim(3)}};
    }
    acc(c, x, y, n) = 0.0f;
    acc(c, x, y, n) += input({c, r.x, r.y, n});
    record_stage(acc, StageRole::Reduction);
    Func out(name);
    out(c, x, y, n) = acc(c, x, y, n) * (1.0f / static_cast<float>(input.dim(1) * input.dim(2)));
    return {out, {input.dim(0), 1, 1, input.dim(3)}};
}

}  // namespace

Tensor global_avg_pool2d(const std::string &name, const Tensor &input) {
    return global_pool("global_avg_pool2d", false, name, input);
}

Tensor global_max_pool2d(const std::string &name, const Tensor &input) {
    return global_pool("global_max_pool2d", true, name, input);
}

// 1-D, 3-D and argmax pooling: one implementation over any number of spatial dimensions of
// (c, spatial..., n), the spatial dimensions innermost first (x, y, z). The 2-D max and
// average layers above keep their own Funcs (schedules name them).

namespace {

// One spatial dimension of a window over the input, checked, with its output extent.
struct WindowDim {
    PoolWindow w;
    int in_extent = 1, out_extent = 1;
};

const char *const kAxisNames[] = {"x", "y", "z"};

std::vector<WindowDim> check_windows(const std::string &label, const Tensor &input,
                                     const std::vector<PoolWindow> &windows, bool ceil_mode) {
    const int spatial = static_cast<int>(windows.size());
    static const char *const kLayouts[] = {"", "input (c, x, n)", "input (c, x, y, n)",
                                           "input (c, x, y, z, n)"};
    require_rank(label, kLayouts[spatial], input, spatial + 2);
    std::vector<WindowDim> dims(windows.size());
    for (int i = 0; i < spatial; ++i) {
        const PoolWindow &w = windows[static_cast<size_t>(i)];
        WindowDim &d = dims[static_cast<size_t>(i)];
        d.w = w;
        d.in_extent = input.dim(i + 1);
        d.out_extent = window_output_extent(
            label,
            {kAxisNames[i], d.in_extent, w.pad_before, w.pad_after, w.kernel, w.stride, w.dilation},
            ceil_mode);
    }
    return dims;
}

// True when some window reaches outside the input (explicit pads, or a ceil-mode overhang).
bool reaches_outside(const std::vector<WindowDim> &dims) {
    for (const WindowDim &d : dims) {
        const int last =
            (d.out_extent - 1) * d.w.stride + d.w.dilation * (d.w.kernel - 1) - d.w.pad_before;
        if (d.w.pad_before > 0 || last >= d.in_extent) return true;
    }
    return false;
}

// Output Vars (c, x[, y[, z]], n).
std::vector<Var> pool_vars(int spatial) {
    std::vector<Var> v{Var("c")};
    for (int i = 0; i < spatial; ++i)
        v.emplace_back(kAxisNames[i]);
    v.emplace_back("n");
    return v;
}

Shape pooled_shape(const Tensor &input, const std::vector<WindowDim> &dims) {
    Shape s{input.dim(0)};
    for (const WindowDim &d : dims)
        s.push_back(d.out_extent);
    s.push_back(input.dim(input.rank() - 1));
    return s;
}

// The input position each window element reads: one coordinate per input dimension.
std::vector<Expr> window_coords(const std::vector<Var> &v, const RDom &r,
                                const std::vector<WindowDim> &dims) {
    std::vector<Expr> at{v.front()};
    for (size_t i = 0; i < dims.size(); ++i) {
        const PoolWindow &w = dims[i].w;
        at.push_back(v[i + 1] * w.stride + r[static_cast<int>(i)] * w.dilation - w.pad_before);
    }
    at.push_back(v.back());
    return at;
}

RDom window_domain(const std::string &name, const std::vector<WindowDim> &dims) {
    Halide::Region extents;
    for (const WindowDim &d : dims)
        extents.emplace_back(0, d.w.kernel);
    return RDom(extents, name);
}

// The input extended beyond its spatial edges by `outside`, in the input's own coordinates
// (c, spatial..., n). Reads are clamped so bounds inference never asks the input for
// elements it does not have.
Func pad_spatial_nd(const std::string &name, const Tensor &input,
                    const std::vector<WindowDim> &dims, Expr outside) {
    const std::vector<Var> v = pool_vars(static_cast<int>(dims.size()));
    std::vector<Expr> at{v.front()};
    Expr inside = Halide::Internal::const_true();
    for (size_t i = 0; i < dims.size(); ++i) {
        inside = inside && v[i + 1] >= 0 && v[i + 1] < dims[i].in_extent;
        at.push_back(Halide::clamp(v[i + 1], 0, dims[i].in_extent - 1));
    }
    at.push_back(v.back());
    Func padded(name);
    padded(v) = Halide::select(inside, input(at), Halide::cast(input.type, outside));
    record_stage(padded, StageRole::Padding);
    return padded;
}

// The smallest finite value of a type: padding and the initial maximum.
Expr lowest_of(Halide::Type t) {
    if (!t.is_float()) return t.min();
    const double lowest = t.bits() == 64 ? std::numeric_limits<double>::lowest()
                                         : std::numeric_limits<float>::lowest();
    return Halide::Internal::make_const(t, lowest);
}

Tensor max_pool_nd(const std::string &name, const Tensor &input,
                   const std::vector<WindowDim> &dims) {
    const Expr lowest = lowest_of(input.type);
    Func padded =
        reaches_outside(dims) ? pad_spatial_nd(name + "_pad", input, dims, lowest) : input.func;
    const std::vector<Var> v = pool_vars(static_cast<int>(dims.size()));
    RDom r = window_domain(name + "_r", dims);
    Func out(name);
    out(v) = lowest;
    out(v) = Halide::max(out(v), padded(window_coords(v, r, dims)));
    record_stage(out, StageRole::Reduction);
    return {out, pooled_shape(input, dims), input.type};
}

Tensor avg_pool_nd(const std::string &label, const std::string &name, const Tensor &input,
                   const std::vector<WindowDim> &dims, bool count_include_pad) {
    require(input.type.is_float(), label, "average pooling needs a float input");
    for (const WindowDim &d : dims)
        require(d.w.dilation == 1, label, "average pooling supports dilation 1 only");
    Func padded =
        reaches_outside(dims) ? pad_spatial_nd(name + "_pad", input, dims, Expr(0)) : input.func;
    const std::vector<Var> v = pool_vars(static_cast<int>(dims.size()));
    RDom r = window_domain(name + "_r", dims);
    Func sum(name + "_sum");
    sum(v) = Halide::cast(input.type, 0);
    sum(v) += padded(window_coords(v, r, dims));
    record_stage(sum, StageRole::Reduction);

    // The divisor: the window clipped to the input (with count_include_pad, to the padded
    // input), per spatial dimension.
    Expr count = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
        const PoolWindow &w = dims[i].w;
        Expr start = v[i + 1] * w.stride - w.pad_before;
        count *= count_include_pad
                     ? Halide::min(start + w.kernel, dims[i].in_extent + w.pad_after) - start
                     : Halide::min(start + w.kernel, dims[i].in_extent) - Halide::max(start, 0);
    }
    Func out(name);
    out(v) = sum(v) / Halide::cast(input.type, count);
    return {out, pooled_shape(input, dims), input.type};
}

PoolWithIndices argmax_pool_nd(const std::string &label, const std::string &name,
                               const std::string &indices_name, const Tensor &input,
                               const std::vector<WindowDim> &dims, IndexOrder order) {
    long long plane = 1;
    for (const WindowDim &d : dims)
        plane *= d.in_extent;
    require(plane <= std::numeric_limits<int32_t>::max(), label,
            "a (c, n) plane of " + std::to_string(plane) +
                " elements does not fit the int32 in-plane position");
    const bool outside = reaches_outside(dims);
    const std::vector<Var> v = pool_vars(static_cast<int>(dims.size()));
    RDom r = window_domain(name + "_r", dims);

    // The window element each update reads: its number in window order (x fastest), whether
    // it lies in the input, and its value (read clamped: padding is skipped, not read).
    std::vector<Expr> at = window_coords(v, r, dims);
    Expr element = 0, inside = Halide::Internal::const_true();
    for (size_t i = dims.size(); i-- > 0;) {
        element = element * dims[i].w.kernel + r[static_cast<int>(i)];
        if (outside) {
            inside = inside && at[i + 1] >= 0 && at[i + 1] < dims[i].in_extent;
            at[i + 1] = Halide::clamp(at[i + 1], 0, dims[i].in_extent - 1);
        }
    }
    Expr value = input(at);

    // (maximum, its window element; -1: none yet). The first input element is taken, then
    // only a strictly larger one: the first maximum wins, as ONNX's reference loop.
    Func argmax(name + "_argmax");
    argmax(v) = Tuple(lowest_of(input.type), Expr(-1));
    Expr best = argmax(v)[0], best_element = argmax(v)[1];
    Expr take = inside && (best_element < 0 || value > best);
    argmax(v) =
        Tuple(Halide::select(take, value, best), Halide::select(take, element, best_element));
    record_stage(argmax, StageRole::Reduction);

    Func values(name);
    values(v) = argmax(v)[0];

    // The winner's input position: its window element decoded, then flattened with the
    // spatial strides `order` gives (row major: x fastest; column major: the outermost
    // spatial dimension fastest), after (n * C + c) planes.
    Expr e = argmax(v)[1], position = 0;
    std::vector<int> stride(dims.size());
    int s = 1;
    for (size_t k = 0; k < dims.size(); ++k) {
        const size_t i = order == IndexOrder::RowMajor ? k : dims.size() - 1 - k;
        stride[i] = s;
        s *= dims[i].in_extent;
    }
    int kernel_stride = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
        const PoolWindow &w = dims[i].w;
        Expr offset = (e / kernel_stride) % w.kernel;
        kernel_stride *= w.kernel;
        position += (v[i + 1] * w.stride + offset * w.dilation - w.pad_before) * stride[i];
    }
    Expr plane_index = Halide::cast<int64_t>(v.back() * input.dim(0) + v.front());
    Func indices(indices_name);
    indices(v) = Halide::select(e < 0, Halide::cast<int64_t>(-1),
                                plane_index * Expr(static_cast<int64_t>(plane)) +
                                    Halide::cast<int64_t>(position));
    const Shape shape = pooled_shape(input, dims);
    return {{values, shape, input.type}, {indices, shape, Halide::Int(64)}};
}

std::vector<PoolWindow> windows_of(const Pool2DParams &p) {
    return {{p.kernel_x, p.stride_x, p.pad_left, p.pad_right, p.dilation_x},
            {p.kernel_y, p.stride_y, p.pad_top, p.pad_bottom, p.dilation_y}};
}

std::vector<PoolWindow> windows_of(const Pool3DParams &p) {
    return {p.x, p.y, p.z};
}

// 1-D pooling as 2-D: the window along x, the unit window along a unit y.
Pool2DParams as_2d(const Pool1DParams &p) {
    Pool2DParams q;
    q.kernel_x = p.x.kernel, q.stride_x = p.x.stride, q.dilation_x = p.x.dilation;
    q.pad_left = p.x.pad_before, q.pad_right = p.x.pad_after;
    q.ceil_mode = p.ceil_mode, q.count_include_pad = p.count_include_pad;
    return q;
}

// (c, x, n) relabeled (c, x, 1, n): no arithmetic.
Tensor with_unit_y(const std::string &label, const std::string &name, const Tensor &input) {
    require_rank(label, "input (c, x, n)", input, 3);
    Var c("c"), x("x"), y("y"), n("n");
    Func f(name);
    f(c, x, y, n) = input({c, x, n});
    record_stage(f, StageRole::Relayout);
    return {f, {input.dim(0), input.dim(1), 1, input.dim(2)}, input.type};
}

// (c, x, 1, n) read as (c, x, n): the layer's output, named `name`.
Tensor without_unit_y(const std::string &name, const Tensor &t) {
    Var c("c"), x("x"), n("n");
    Func f(name);
    f(c, x, n) = t({c, x, 0, n});
    return {f, {t.dim(0), t.dim(1), t.dim(3)}, t.type};
}

}  // namespace

Tensor max_pool1d(const std::string &name, const Tensor &input, const Pool1DParams &p) {
    const std::string label = layer_label("max_pool1d", name);
    Tensor x = with_unit_y(label, name + "_in2d", input);
    return without_unit_y(name, max_pool2d(name + "_2d", x, as_2d(p)));
}

Tensor avg_pool1d(const std::string &name, const Tensor &input, const Pool1DParams &p) {
    const std::string label = layer_label("avg_pool1d", name);
    Tensor x = with_unit_y(label, name + "_in2d", input);
    return without_unit_y(name, avg_pool2d(name + "_2d", x, as_2d(p)));
}

Tensor max_pool3d(const std::string &name, const Tensor &input, const Pool3DParams &p) {
    const std::string label = layer_label("max_pool3d", name);
    return max_pool_nd(name, input, check_windows(label, input, windows_of(p), p.ceil_mode));
}

Tensor avg_pool3d(const std::string &name, const Tensor &input, const Pool3DParams &p) {
    const std::string label = layer_label("avg_pool3d", name);
    return avg_pool_nd(label, name, input, check_windows(label, input, windows_of(p), p.ceil_mode),
                       p.count_include_pad);
}

PoolWithIndices max_pool1d_with_indices(const std::string &name, const std::string &indices_name,
                                        const Tensor &input, const Pool1DParams &p) {
    const std::string label = layer_label("max_pool1d_with_indices", name);
    // With a unit y both orders flatten (c, x, n) alike: (n * C + c) * X + x, ONNX's 1-D index.
    Tensor x = with_unit_y(label, name + "_in2d", input);
    PoolWithIndices pooled = max_pool2d_with_indices(name + "_2d", indices_name + "_2d", x,
                                                     as_2d(p), IndexOrder::RowMajor);
    return {without_unit_y(name, pooled.values), without_unit_y(indices_name, pooled.indices)};
}

PoolWithIndices max_pool2d_with_indices(const std::string &name, const std::string &indices_name,
                                        const Tensor &input, const Pool2DParams &p,
                                        IndexOrder order) {
    const std::string label = layer_label("max_pool2d_with_indices", name);
    return argmax_pool_nd(label, name, indices_name, input,
                          check_windows(label, input, windows_of(p), p.ceil_mode), order);
}

PoolWithIndices max_pool3d_with_indices(const std::string &name, const std::string &indices_name,
                                        const Tensor &input, const Pool3DParams &p,
                                        IndexOrder order) {
    const std::string label = layer_label("max_pool3d_with_indices", name);
    return argmax_pool_nd(label, name, indices_name, input,
                          check_windows(label, input, windows_of(p), p.ceil_mode), order);
}

namespace {

Tensor global_pool_nd(const char *kind, bool is_max, const std::string &name, const Tensor &input) {
    const std::string label = layer_label(kind, name);
    require(input.rank() >= 3, label,
            "input (c, spatial..., n) must have rank >= 3, got shape " + to_string(input.shape));
    const int spatial = input.rank() - 2;
    std::vector<Var> v = make_vars(input.rank());
    Halide::Region extents;
    for (int i = 0; i < spatial; ++i)
        extents.emplace_back(0, input.dim(i + 1));
    RDom r(extents, name + "_r");
    std::vector<Expr> at{v.front()};
    for (int i = 0; i < spatial; ++i)
        at.push_back(r[i]);
    at.push_back(v.back());
    Shape shape(static_cast<size_t>(input.rank()), 1);
    shape.front() = input.dim(0), shape.back() = input.dim(input.rank() - 1);
    Func acc(is_max ? name : name + "_sum");
    if (is_max) {
        acc(v) = lowest_of(input.type);
        acc(v) = Halide::max(acc(v), input(at));
        record_stage(acc, StageRole::Reduction);
        return {acc, shape, input.type};
    }
    require(input.type.is_float(), label, "average pooling needs a float input");
    acc(v) = Halide::cast(input.type, 0);
    acc(v) += input(at);
    record_stage(acc, StageRole::Reduction);
    long long count = 1;
    for (int i = 0; i < spatial; ++i)
        count *= input.dim(i + 1);
    Func out(name);
    out(v) = acc(v) * Halide::Internal::make_const(input.type, 1.0 / static_cast<double>(count));
    return {out, shape, input.type};
}

}  // namespace

Tensor global_avg_pool(const std::string &name, const Tensor &input) {
    if (input.rank() == 4) return global_avg_pool2d(name, input);
    return global_pool_nd("global_avg_pool", false, name, input);
}

Tensor global_max_pool(const std::string &name, const Tensor &input) {
    if (input.rank() == 4) return global_max_pool2d(name, input);
    return global_pool_nd("global_max_pool", true, name, input);
}

}  // namespace megalide::layers
