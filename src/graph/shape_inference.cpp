#include "megalide/graph/shape_inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>

#include "megalide/error.h"

namespace megalide {

int64_t check_tensor_size(const ResourceLimits &limits, const std::string &what, DType dtype, const std::vector<int64_t> &shape) {
    const std::string shape_text = describe(dtype, shape);
    // Multiply in double: the exact product of absurd extents would overflow int64.
    double elements = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] < 0) throw Error(what + " has a negative extent in dimension " + std::to_string(d) + " (" + shape_text + ")");
        if (shape[d] > ResourceLimits::kMaxExtent) {
            throw Error(what + ": dimension " + std::to_string(d) + " is " + std::to_string(shape[d]) +
                        ", over the largest extent megalide compiles (2^31 - 1: Halide addresses buffers with 32-bit offsets)");
        }
        elements *= static_cast<double>(shape[d]);
    }
    const double bytes = elements * static_cast<double>(item_size(dtype));
    if (elements > ResourceLimits::kMaxExtent || bytes > ResourceLimits::kMaxExtent) {
        std::ostringstream count;
        count << std::setprecision(elements < 1e15 ? 15 : 3) << elements;
        throw Error(what + " would hold " + count.str() + " elements (" +
                    ResourceLimits::format_size(bytes) + ", " + shape_text + "); megalide compiles tensors under 2^31 elements and 2 GiB");
    }
    if (bytes > static_cast<double>(limits.max_memory)) {
        throw Error(what + " would take " + ResourceLimits::format_size(bytes) + " (" + shape_text + "), over the memory limit of " +
                    ResourceLimits::format_size(static_cast<double>(limits.max_memory)) + " (raise it with --max-memory)");
    }
    return static_cast<int64_t>(bytes);
}

const std::set<std::string> &supported_ops() {
    static const std::set<std::string> ops = {
        "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv",
        "ConvInteger", "DequantizeLinear", "Div", "DynamicQuantizeLinear", "Erf", "Exp", "Flatten",
        "Gather", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish",
        "Identity", "LayerNormalization", "LeakyRelu", "LogSoftmax", "MatMul", "MatMulInteger",
        "MaxPool", "Mod", "Mul", "Pad", "Pow", "QLinearAdd", "QLinearAveragePool", "QLinearConv",
        "QLinearGlobalAveragePool", "QLinearMatMul", "QuantizeLinear", "ReduceMax", "Requantize", "ReduceMean", "ReduceSum", "Relu", "Reshape", "Shape", "Sigmoid", "Slice",
        "Softmax", "Sqrt", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze"};
    return ops;
}

namespace {

using Dims = std::vector<int64_t>;

std::string dims_str(const Dims &d) { return describe(DType::Float32, d).substr(7); }

[[noreturn]] void fail(const Node &n, const std::string &what) { throw Error(n.label() + ": " + what); }

const Value &input(const Graph &g, const Node &n, size_t i) {
    const std::string &name = n.input(i);
    if (name.empty()) fail(n, "input " + std::to_string(i) + " is missing");
    const Value &v = g.value(name);
    if (!v.shape_known) fail(n, "the shape of input '" + name + "' is unknown");
    return v;
}

bool has_input(const Node &n, size_t i) { return !n.input(i).empty(); }

std::vector<int64_t> constant_ints(const Graph &g, const Node &n, size_t i, const std::string &role) {
    const Value &v = input(g, n, i);
    if (!v.constant) {
        fail(n, role + " (input " + std::to_string(i) + ", '" + v.name +
                    "') must be a constant: megalide compiles static shapes; freeze it with a value");
    }
    return v.constant->to_int64s();
}

void set_output(Graph &g, const Node &n, size_t i, DType dtype, Dims shape) {
    if (i >= n.outputs.size() || n.outputs[i].empty()) return;
    // Before anything is evaluated or allocated: a shape that implies absurd memory stops here.
    check_tensor_size(g.limits, n.label() + ": output '" + n.outputs[i] + "'", dtype, shape);
    Value &v = g.value(n.outputs[i]);
    v.dtype = dtype;
    v.shape = std::move(shape);
    v.shape_known = true;
}

int64_t normalize_axis(const Node &n, int64_t axis, int64_t rank) {
    const int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
        fail(n, "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    }
    return a;
}

int64_t product(const Dims &d, size_t begin, size_t end) {
    int64_t p = 1;
    for (size_t i = begin; i < end && i < d.size(); ++i) p *= d[i];
    return p;
}

DType dtype_of_onnx(const Node &n, int64_t code) {
    switch (code) {
    case 1: return DType::Float32;
    case 2: return DType::UInt8;
    case 3: return DType::Int8;
    case 6: return DType::Int32;
    case 7: return DType::Int64;
    case 9: return DType::Bool;
    case 11: return DType::Float64;
    default: fail(n, "unsupported target type (ONNX TensorProto type " + std::to_string(code) + ")");
    }
}

// Sliding-window geometry of Conv / MaxPool / AveragePool, canonicalized into explicit
// attributes (kernel_shape, strides, dilations, pads) so lowering never sees auto_pad.
Dims window_op(Node &n, const Dims &x, const Dims &kernel, bool is_pool) {
    const size_t spatial = x.size() - 2;
    if (kernel.size() != spatial) {
        fail(n, "kernel_shape " + dims_str(kernel) + " does not match the " + std::to_string(spatial) +
                    " spatial dimensions of input " + dims_str(x));
    }
    Dims strides = n.get_ints("strides", Dims(spatial, 1));
    Dims dilations = n.get_ints("dilations", Dims(spatial, 1));
    Dims pads = n.get_ints("pads", Dims(2 * spatial, 0));
    if (strides.size() != spatial || dilations.size() != spatial || pads.size() != 2 * spatial) {
        fail(n, "strides, dilations and pads must have " + std::to_string(spatial) + ", " +
                    std::to_string(spatial) + " and " + std::to_string(2 * spatial) + " entries");
    }
    const std::string auto_pad = n.get_string("auto_pad", "NOTSET");
    const bool ceil_mode = is_pool && n.get_int("ceil_mode", 0) != 0;
    Dims out(x.begin(), x.begin() + 2);
    for (size_t i = 0; i < spatial; ++i) {
        const int64_t in = x[2 + i], s = strides[i], d = dilations[i], k = kernel[i];
        if (s < 1 || d < 1 || k < 1) fail(n, "kernel, strides and dilations must be positive");
        const int64_t span = d * (k - 1) + 1;
        if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
            const int64_t o = (in + s - 1) / s;
            const int64_t total = std::max<int64_t>((o - 1) * s + span - in, 0);
            const int64_t small = total / 2, large = total - small;
            pads[i] = auto_pad == "SAME_UPPER" ? small : large;
            pads[i + spatial] = auto_pad == "SAME_UPPER" ? large : small;
        } else if (auto_pad == "VALID") {
            pads[i] = pads[i + spatial] = 0;
        } else if (auto_pad != "NOTSET") {
            fail(n, "unknown auto_pad '" + auto_pad + "'");
        }
        const int64_t pb = pads[i], pe = pads[i + spatial];
        if (pb < 0 || pe < 0) fail(n, "negative pads " + dims_str(pads) + " are not supported");
        const int64_t padded = in + pb + pe;
        if (span > padded) {
            fail(n, "window of " + std::to_string(span) + " is larger than the padded input (" +
                        std::to_string(in) + " + pads " + std::to_string(pb) + "+" + std::to_string(pe) + ")");
        }
        int64_t o = ceil_mode ? (padded - span + s - 1) / s + 1 : (padded - span) / s + 1;
        if (ceil_mode && (o - 1) * s >= in + pb) --o;
        out.push_back(o);
    }
    n.attrs.erase("auto_pad");
    n.attrs["kernel_shape"] = Attribute::of(kernel);
    n.attrs["strides"] = Attribute::of(strides);
    n.attrs["dilations"] = Attribute::of(dilations);
    n.attrs["pads"] = Attribute::of(pads);
    return out;
}

Dims reduce_axes(const Graph &g, const Node &n, int64_t rank) {
    Dims axes;
    if (n.op == "ReduceSum" && g.opset >= 13) {
        if (has_input(n, 1)) axes = constant_ints(g, n, 1, "axes");
    } else {
        axes = n.get_ints("axes", {});
    }
    for (int64_t &a : axes) a = normalize_axis(n, a, rank);
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) fail(n, "axes repeat");
    return axes;
}

struct SliceSpec {
    Dims starts, steps, out;  // per dimension of the input
};

SliceSpec slice_spec(const Graph &g, const Node &n, const Dims &x) {
    Dims starts, ends, axes, steps;
    if (g.opset >= 10) {
        starts = constant_ints(g, n, 1, "starts");
        ends = constant_ints(g, n, 2, "ends");
        if (has_input(n, 3)) axes = constant_ints(g, n, 3, "axes");
        if (has_input(n, 4)) steps = constant_ints(g, n, 4, "steps");
    } else {
        starts = n.get_ints("starts", {});
        ends = n.get_ints("ends", {});
        axes = n.get_ints("axes", {});
    }
    if (axes.empty()) {
        axes.resize(starts.size());
        std::iota(axes.begin(), axes.end(), 0);
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
        fail(n, "starts, ends, axes and steps must have the same length");
    }
    const int64_t rank = static_cast<int64_t>(x.size());
    SliceSpec spec{Dims(x.size(), 0), Dims(x.size(), 1), x};
    for (size_t i = 0; i < starts.size(); ++i) {
        const int64_t a = normalize_axis(n, axes[i], rank), dim = x[a], step = steps[i];
        if (step == 0) fail(n, "a slice step is 0");
        auto clampi = [](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
        int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
        int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
        if (ends[i] == std::numeric_limits<int64_t>::min()) end = -1;
        if (step > 0) {
            start = clampi(start, 0, dim);
            end = clampi(end, 0, dim);
        } else {
            start = clampi(start, 0, dim - 1);
            end = clampi(end, -1, dim - 1);
        }
        const int64_t count = step > 0 ? std::max<int64_t>(0, (end - start + step - 1) / step)
                                       : std::max<int64_t>(0, (start - end + (-step) - 1) / (-step));
        spec.starts[a] = start, spec.steps[a] = step, spec.out[a] = count;
    }
    return spec;
}

Dims squeeze_axes(const Graph &g, const Node &n, size_t rank, bool unsqueeze) {
    Dims axes = g.opset >= 13 ? (has_input(n, 1) ? constant_ints(g, n, 1, "axes") : Dims{})
                              : n.get_ints("axes", {});
    const int64_t r = static_cast<int64_t>(rank) + (unsqueeze ? static_cast<int64_t>(axes.size()) : 0);
    for (int64_t &a : axes) a = normalize_axis(n, a, r);
    std::sort(axes.begin(), axes.end());
    return axes;
}

Dims reshape_target(const Graph &g, const Node &n, const Dims &x) {
    Dims target = constant_ints(g, n, 1, "shape");
    const bool allow_zero = n.get_int("allowzero", 0) != 0;
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < target.size(); ++i) {
        if (target[i] == 0 && !allow_zero) {
            if (i >= x.size()) fail(n, "shape " + dims_str(target) + " copies a dimension the input lacks");
            target[i] = x[i];
        }
        if (target[i] == -1) {
            if (infer >= 0) fail(n, "shape " + dims_str(target) + " has more than one -1");
            infer = static_cast<int64_t>(i);
        } else if (target[i] < 0) {
            fail(n, "shape " + dims_str(target) + " has a negative extent");
        } else {
            known *= target[i];
        }
    }
    const int64_t total = product(x, 0, x.size());
    if (infer >= 0) {
        if (known == 0 || total % known) fail(n, "cannot reshape " + dims_str(x) + " to " + dims_str(target));
        target[infer] = total / known;
    }
    if (product(target, 0, target.size()) != total) {
        fail(n, "cannot reshape " + dims_str(x) + " (" + std::to_string(total) + " elements) to " + dims_str(target));
    }
    return target;
}

// --- Constant evaluation: data movement by element index, arithmetic through doubles.

Dims strides_of(const Dims &shape) {
    Dims s(shape.size(), 1);
    for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
    return s;
}

// out element at flat index f comes from input flat index source(out_index).
HostArray gather_elements(const HostArray &in, const Dims &out_shape,
                          const std::function<int64_t(const Dims &)> &source) {
    HostArray out;
    out.dtype = in.dtype;
    out.shape = out_shape;
    const size_t size = item_size(in.dtype);
    const int64_t count = product(out_shape, 0, out_shape.size());
    out.bytes.resize(static_cast<size_t>(count) * size);
    Dims index(out_shape.size(), 0);
    for (int64_t f = 0; f < count; ++f) {
        int64_t rest = f;
        for (size_t d = out_shape.size(); d-- > 0;) {
            index[d] = rest % out_shape[d];
            rest /= out_shape[d];
        }
        std::memcpy(&out.bytes[static_cast<size_t>(f) * size], &in.bytes[static_cast<size_t>(source(index)) * size], size);
    }
    return out;
}

}  // namespace

std::vector<int64_t> broadcast_shape(const std::string &label, const Dims &a, const Dims &b) {
    const size_t r = std::max(a.size(), b.size());
    Dims out(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t ea = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int64_t eb = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (ea != eb && ea != 1 && eb != 1) {
            throw Error(label + ": shapes " + dims_str(a) + " and " + dims_str(b) + " do not broadcast");
        }
        out[i] = std::max(ea, eb);
    }
    return out;
}

std::optional<HostArray> evaluate_constant(const Graph &g, const Node &n) {
    if (n.op == "Constant") {
        if (n.has("value")) return *n.attrs.at("value").tensor;
        if (n.has("value_float")) return HostArray::from_floats({}, {static_cast<float>(n.get_float("value_float", 0))});
        if (n.has("value_int")) return HostArray::from_int64s({}, {n.get_int("value_int", 0)});
        if (n.has("value_ints")) {
            Dims v = n.get_ints("value_ints", {});
            return HostArray::from_int64s({static_cast<int64_t>(v.size())}, v);
        }
        if (n.has("value_floats")) {
            const auto &f = n.attrs.at("value_floats").floats;
            return HostArray::from_doubles(DType::Float32, {static_cast<int64_t>(f.size())}, f);
        }
        fail(n, "has no supported value attribute");
    }
    if (n.op == "Shape") {
        const Value &x = input(g, n, 0);
        const int64_t rank = static_cast<int64_t>(x.shape.size());
        int64_t start = n.get_int("start", 0), end = n.get_int("end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = std::clamp<int64_t>(start, 0, rank), end = std::clamp<int64_t>(end, start, rank);
        Dims dims(x.shape.begin() + start, x.shape.begin() + end);
        return HostArray::from_int64s({static_cast<int64_t>(dims.size())}, dims);
    }
    static const std::set<std::string> foldable = {"Identity", "Cast", "Reshape", "Flatten", "Squeeze",
                                                   "Unsqueeze", "Transpose", "Concat", "Gather", "Slice",
                                                   "Add", "Sub", "Mul", "Div", "Mod"};
    if (!foldable.count(n.op)) return std::nullopt;
    for (const std::string &in : n.inputs) {
        if (!in.empty() && !g.is_constant(in)) return std::nullopt;
    }
    const HostArray &x = *g.value(n.input(0)).constant;
    const Value &out = g.value(n.outputs.at(0));
    if (n.op == "Identity") return x;
    if (n.op == "Cast") return HostArray::from_doubles(out.dtype, x.shape, x.to_doubles());
    if (n.op == "Reshape" || n.op == "Flatten" || n.op == "Squeeze" || n.op == "Unsqueeze") {
        HostArray r = x;
        r.shape = out.shape;
        return r;
    }
    if (n.op == "Transpose") {
        Dims perm = n.get_ints("perm", {});
        if (perm.empty()) for (size_t i = x.shape.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
        const Dims in_strides = strides_of(x.shape);
        return gather_elements(x, out.shape, [&](const Dims &o) {
            int64_t f = 0;
            for (size_t d = 0; d < perm.size(); ++d) f += o[d] * in_strides[perm[d]];
            return f;
        });
    }
    if (n.op == "Concat") {
        const int64_t axis = normalize_axis(n, n.get_int("axis", 0), static_cast<int64_t>(x.shape.size()));
        HostArray r;
        r.dtype = x.dtype;
        r.shape = out.shape;
        const int64_t outer = product(x.shape, 0, static_cast<size_t>(axis));
        const size_t size = item_size(x.dtype);
        for (int64_t o = 0; o < outer; ++o) {
            for (const std::string &in : n.inputs) {
                const HostArray &p = *g.value(in).constant;
                const int64_t chunk = product(p.shape, static_cast<size_t>(axis), p.shape.size()) * static_cast<int64_t>(size);
                r.bytes.insert(r.bytes.end(), p.bytes.begin() + o * chunk, p.bytes.begin() + (o + 1) * chunk);
            }
        }
        return r;
    }
    if (n.op == "Gather") {
        const HostArray &idx = *g.value(n.input(1)).constant;
        const Dims indices = idx.to_int64s();
        const int64_t axis = normalize_axis(n, n.get_int("axis", 0), static_cast<int64_t>(x.shape.size()));
        const Dims in_strides = strides_of(x.shape), idx_strides = strides_of(idx.shape);
        const size_t q = idx.shape.size();
        return gather_elements(x, out.shape, [&](const Dims &o) {
            int64_t flat_idx = 0;
            for (size_t d = 0; d < q; ++d) flat_idx += o[static_cast<size_t>(axis) + d] * idx_strides[d];
            int64_t i = indices[static_cast<size_t>(flat_idx)];
            if (i < 0) i += x.shape[static_cast<size_t>(axis)];
            if (i < 0 || i >= x.shape[static_cast<size_t>(axis)]) fail(n, "index " + std::to_string(i) + " is out of range");
            int64_t f = i * in_strides[static_cast<size_t>(axis)];
            for (int64_t d = 0; d < axis; ++d) f += o[static_cast<size_t>(d)] * in_strides[static_cast<size_t>(d)];
            for (size_t d = static_cast<size_t>(axis) + 1; d < x.shape.size(); ++d) f += o[d + q - 1] * in_strides[d];
            return f;
        });
    }
    if (n.op == "Slice") {
        const SliceSpec spec = slice_spec(g, n, x.shape);
        const Dims in_strides = strides_of(x.shape);
        return gather_elements(x, out.shape, [&](const Dims &o) {
            int64_t f = 0;
            for (size_t d = 0; d < o.size(); ++d) f += (spec.starts[d] + o[d] * spec.steps[d]) * in_strides[d];
            return f;
        });
    }
    // Add, Sub, Mul, Div, Mod in double, broadcast; integer division truncates as ONNX does.
    const HostArray &y = *g.value(n.input(1)).constant;
    const std::vector<double> a = x.to_doubles(), b = y.to_doubles();
    const Dims sa = strides_of(x.shape), sb = strides_of(y.shape);
    const int64_t count = product(out.shape, 0, out.shape.size());
    std::vector<double> r(static_cast<size_t>(count));
    const bool integral = out.dtype != DType::Float32 && out.dtype != DType::Float64;
    for (int64_t f = 0; f < count; ++f) {
        int64_t rest = f, ia = 0, ib = 0;
        for (size_t d = out.shape.size(); d-- > 0;) {
            const int64_t i = rest % out.shape[d];
            rest /= out.shape[d];
            const size_t da = d + x.shape.size(), db = d + y.shape.size();
            if (da >= out.shape.size() && x.shape[da - out.shape.size()] != 1) ia += i * sa[da - out.shape.size()];
            if (db >= out.shape.size() && y.shape[db - out.shape.size()] != 1) ib += i * sb[db - out.shape.size()];
        }
        const double p = a[static_cast<size_t>(ia)], q = b[static_cast<size_t>(ib)];
        double v = n.op == "Add" ? p + q : n.op == "Sub" ? p - q : n.op == "Mul" ? p * q : p / q;
        if (n.op == "Mod") {
            if (q == 0) fail(n, "modulo by zero");
            // fmod=1: C fmod (sign of the dividend); fmod=0: the sign of the divisor.
            v = std::fmod(p, q);
            if (!n.get_int("fmod", 0) && v != 0 && ((v < 0) != (q < 0))) v += q;
        }
        if (integral && n.op == "Div") {
            if (q == 0) fail(n, "integer division by zero");
            v = std::trunc(v);
        }
        r[static_cast<size_t>(f)] = v;
    }
    return HostArray::from_doubles(out.dtype, out.shape, r);
}

// The output shape of a 2-D convolution of x by w (bias at input `bias`, if any); records
// the group attribute.
Dims conv_output(Node &n, const Value &x, const Value &w, size_t bias, const Graph &g) {
    if (x.shape.size() != 4 || w.shape.size() != 4) {
        fail(n, "only 2-D convolution is supported: input " + dims_str(x.shape) + ", weights " + dims_str(w.shape));
    }
    const int64_t group = n.get_int("group", 1);
    if (group < 1 || x.shape[1] != w.shape[1] * group || w.shape[0] % group) {
        fail(n, "channel mismatch: input " + dims_str(x.shape) + " has " + std::to_string(x.shape[1]) +
                    " channels, weights " + dims_str(w.shape) + " with group " + std::to_string(group) +
                    " expect " + std::to_string(w.shape[1] * group));
    }
    if (bias != SIZE_MAX && has_input(n, bias) && input(g, n, bias).shape != Dims{w.shape[0]}) {
        fail(n, "bias must have shape [" + std::to_string(w.shape[0]) + "]");
    }
    Dims out = window_op(n, x.shape, n.get_ints("kernel_shape", {w.shape[2], w.shape[3]}), false);
    out[1] = w.shape[0];
    n.attrs["group"] = Attribute::of(group);
    return out;
}

// A quantization's scale (input `scale`) and zero point (input `zero_point`; SIZE_MAX: none):
// float32 scales, 8-bit zero points, each per tensor or with `channels` entries; constant
// scales must be positive and finite. `prefix` names them as ONNX does ("w_" -> w_scale).
void check_quant_params(const Graph &g, const Node &n, size_t scale, size_t zero_point, int64_t channels, const std::string &prefix,
                        bool int32_zero_point = false) {
    auto count_ok = [&](const Value &v) {
        const int64_t count = v.shape.empty() ? 1 : v.shape.size() == 1 ? v.shape[0] : -1;
        return count == 1 || count == channels;
    };
    auto count_error = [&](const Value &v, const std::string &what) {
        fail(n, what + " '" + v.name + "' has shape " + dims_str(v.shape) + ": it must be a scalar or have one entry per channel (" +
                    std::to_string(channels) + ")");
    };
    if (scale != SIZE_MAX) {
        const Value &s = input(g, n, scale);
        if (s.dtype != DType::Float32) fail(n, prefix + "scale '" + s.name + "' must be float32, got " + to_string(s.dtype));
        if (!count_ok(s)) count_error(s, prefix + "scale");
        if (s.constant) {
            for (double v : s.constant->to_doubles()) {
                if (!(v > 0) || !std::isfinite(v)) {
                    fail(n, prefix + "scale '" + s.name + "' must be positive and finite, got " + std::to_string(v));
                }
            }
        }
    }
    if (zero_point != SIZE_MAX && has_input(n, zero_point)) {
        const Value &z = input(g, n, zero_point);
        if (z.dtype != DType::UInt8 && z.dtype != DType::Int8 && !(int32_zero_point && z.dtype == DType::Int32)) {
            fail(n, prefix + "zero_point '" + z.name + "' must be uint8 or int8, got " + to_string(z.dtype));
        }
        if (!count_ok(z)) count_error(z, prefix + "zero_point");
    }
}

// The operands of an integer convolution or matrix product (ConvInteger / MatMulInteger and
// the QLinear forms): 8-bit values `lhs`, `rhs`; for a QLinear form also its three
// quantizations (inputs 1-2 per tensor, 4-5 per output channel, 6-7 per tensor; ONNX's names
// `lhs_prefix`, `rhs_prefix`, "y_") and an optional int32 bias (input 8) of `channels` entries.
void check_integer_operands(const Graph &g, const Node &n, bool qlinear, const Value &lhs, const Value &rhs, int64_t channels,
                            const std::string &lhs_prefix, const std::string &rhs_prefix, const std::string &bias_name) {
    for (const Value *v : {&lhs, &rhs}) {
        if (v->dtype != DType::UInt8 && v->dtype != DType::Int8) fail(n, "'" + v->name + "' must be uint8 or int8, got " + to_string(v->dtype));
    }
    if (!qlinear) return;
    check_quant_params(g, n, 1, 2, 1, lhs_prefix);
    check_quant_params(g, n, 4, 5, channels, rhs_prefix);
    check_quant_params(g, n, 6, 7, 1, "y_");
    if (has_input(n, 8) && (input(g, n, 8).dtype != DType::Int32 || input(g, n, 8).shape != Dims{channels})) {
        fail(n, bias_name + " must be int32 of shape [" + std::to_string(channels) + "]");
    }
}

// Records the quantization of a quantizing op's output (constant scale at input `scale`,
// zero point at `zero_point` or none) in the IR, checked.
void record_quant(Graph &g, const Node &n, size_t scale, size_t zero_point, int axis) {
    Value &out = g.value(n.outputs[0]);
    if (!g.is_constant(n.input(scale)) || (has_input(n, zero_point) && !g.is_constant(n.input(zero_point)))) return;
    QuantParams q;
    for (double v : g.value(n.input(scale)).constant->to_doubles()) q.scales.push_back(static_cast<float>(v));
    if (has_input(n, zero_point)) {
        for (double v : g.value(n.input(zero_point)).constant->to_doubles()) q.zero_points.push_back(static_cast<int32_t>(v));
    } else {
        q.zero_points.assign(q.scales.size(), 0);
    }
    // A per-tensor scale or zero point pairs with every channel of the other.
    if (q.zero_points.size() == 1 && q.scales.size() > 1) q.zero_points.assign(q.scales.size(), q.zero_points[0]);
    if (q.scales.size() == 1 && q.zero_points.size() > 1) q.scales.assign(q.zero_points.size(), q.scales[0]);
    q.axis = q.scales.size() > 1 ? axis : -1;
    const int64_t channels = q.scales.size() > 1 ? out.shape.at(static_cast<size_t>(axis)) : 1;
    check_quant_params(q, out.dtype, channels, n.label());
    out.quant = q;
}

void infer_node(Graph &g, Node &n) {
    const std::string &op = n.op;
    if (!supported_ops().count(op)) fail(n, "unsupported op type '" + op + "'");
    auto same_as_input = [&] {
        const Value &x = input(g, n, 0);
        set_output(g, n, 0, x.dtype, x.shape);
    };
    static const std::set<std::string> unary = {"Identity", "Sqrt", "Exp", "Erf", "Tanh", "Sigmoid",
                                                "Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid",
                                                "Gelu", "Softmax", "LogSoftmax"};
    static const std::set<std::string> binary = {"Add", "Sub", "Mul", "Div", "Pow", "Mod"};
    if (n.outputs.empty()) fail(n, "has no outputs");

    if (op == "Constant") {
        HostArray c = *evaluate_constant(g, n);
        Value &v = g.value(n.outputs[0]);
        v.dtype = c.dtype, v.shape = c.shape, v.shape_known = true;
        v.constant = std::make_shared<const HostArray>(std::move(c));
        return;
    } else if (unary.count(op)) {
        same_as_input();
        if (op == "Softmax" || op == "LogSoftmax") {
            normalize_axis(n, n.get_int("axis", g.opset >= 13 ? -1 : 1), static_cast<int64_t>(input(g, n, 0).shape.size()));
        }
    } else if (binary.count(op)) {
        const Value &a = input(g, n, 0), &b = input(g, n, 1);
        set_output(g, n, 0, a.dtype, broadcast_shape(n.label(), a.shape, b.shape));
    } else if (op == "Cast") {
        set_output(g, n, 0, dtype_of_onnx(n, n.get_int("to", 1)), input(g, n, 0).shape);
    } else if (op == "Shape") {
        const Dims d = evaluate_constant(g, n)->shape;
        set_output(g, n, 0, DType::Int64, d);
    } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
        const Value &x = input(g, n, 0);
        const int64_t rank = static_cast<int64_t>(x.shape.size());
        // The axis matters (and must be valid) only for per-axis parameters.
        const Dims &scale_shape = input(g, n, 1).shape;
        const bool per_axis = std::accumulate(scale_shape.begin(), scale_shape.end(), int64_t{1}, std::multiplies<int64_t>()) > 1;
        const int64_t axis = per_axis ? normalize_axis(n, n.get_int("axis", 1), rank) : 0;
        check_quant_params(g, n, 1, has_input(n, 2) ? 2 : SIZE_MAX, per_axis ? x.shape[static_cast<size_t>(axis)] : 1,
                           op == "QuantizeLinear" ? "y_" : "x_", op == "DequantizeLinear" && x.dtype == DType::Int32);
        if (op == "DequantizeLinear") {
            if (x.dtype != DType::UInt8 && x.dtype != DType::Int8 && x.dtype != DType::Int32) fail(n, "x must be uint8, int8 or int32, got " + to_string(x.dtype));
            set_output(g, n, 0, DType::Float32, x.shape);
        } else {
            if (x.dtype != DType::Float32 && x.dtype != DType::Int32) fail(n, "x must be float32 or int32, got " + to_string(x.dtype));
            set_output(g, n, 0, has_input(n, 2) ? input(g, n, 2).dtype : DType::UInt8, x.shape);
            record_quant(g, n, 1, 2, static_cast<int>(axis));
        }
    } else if (op == "DynamicQuantizeLinear") {
        const Value &x = input(g, n, 0);
        if (x.dtype != DType::Float32) fail(n, "x must be float32, got " + to_string(x.dtype));
        set_output(g, n, 0, DType::UInt8, x.shape);
        set_output(g, n, 1, DType::Float32, {});
        set_output(g, n, 2, DType::UInt8, {});
    } else if (op == "ConvInteger" || op == "QLinearConv") {
        const bool q = op == "QLinearConv";
        const Value &x = input(g, n, 0), &w = input(g, n, q ? 3 : 1);
        const int64_t cout = w.shape.empty() ? 0 : w.shape[0];
        check_integer_operands(g, n, q, x, w, cout, "x_", "w_", "B");
        if (!q) {
            check_quant_params(g, n, SIZE_MAX, has_input(n, 2) ? 2 : SIZE_MAX, 1, "x_");
            check_quant_params(g, n, SIZE_MAX, has_input(n, 3) ? 3 : SIZE_MAX, cout, "w_");
        }
        set_output(g, n, 0, q ? input(g, n, 7).dtype : DType::Int32, conv_output(n, x, w, SIZE_MAX, g));
        if (q) record_quant(g, n, 6, 7, 1);
    } else if (op == "MatMulInteger" || op == "QLinearMatMul") {
        const bool q = op == "QLinearMatMul";
        const Value &a = input(g, n, 0), &b = input(g, n, q ? 3 : 1);
        for (const Value *v : {&a, &b}) {
            if (v->shape.size() < 2) fail(n, "'" + v->name + "' must have rank >= 2");
        }
        const int64_t rows = a.shape[a.shape.size() - 2], cols = b.shape.back();
        check_integer_operands(g, n, q, a, b, cols, "a_", "b_", "bias");
        if (!q) {
            check_quant_params(g, n, SIZE_MAX, has_input(n, 2) ? 2 : SIZE_MAX, rows, "a_");
            check_quant_params(g, n, SIZE_MAX, has_input(n, 3) ? 3 : SIZE_MAX, cols, "b_");
        }
        if (a.shape.back() != b.shape[b.shape.size() - 2]) fail(n, "inner dimensions differ: " + dims_str(a.shape) + " and " + dims_str(b.shape));
        Dims out = broadcast_shape(n.label(), Dims(a.shape.begin(), a.shape.end() - 2), Dims(b.shape.begin(), b.shape.end() - 2));
        out.push_back(rows);
        out.push_back(cols);
        set_output(g, n, 0, q ? input(g, n, 7).dtype : DType::Int32, out);
        if (q) record_quant(g, n, 6, 7, -1);
    } else if (op == "QLinearAdd") {
        const Value &a = input(g, n, 0), &b = input(g, n, 3);
        check_quant_params(g, n, 1, 2, 1, "A_");
        check_quant_params(g, n, 4, 5, 1, "B_");
        check_quant_params(g, n, 6, 7, 1, "C_");
        set_output(g, n, 0, input(g, n, 7).dtype, broadcast_shape(n.label(), a.shape, b.shape));
        record_quant(g, n, 6, 7, -1);
    } else if (op == "Requantize") {
        check_quant_params(g, n, 1, 2, 1, "x_");
        check_quant_params(g, n, 3, 4, 1, "y_");
        set_output(g, n, 0, input(g, n, 4).dtype, input(g, n, 0).shape);
        record_quant(g, n, 3, 4, -1);
    } else if (op == "QLinearAveragePool" || op == "QLinearGlobalAveragePool") {
        const Value &x = input(g, n, 0);
        if (x.shape.size() != 4) fail(n, "only 2-D pooling is supported, input " + dims_str(x.shape));
        check_quant_params(g, n, 1, 2, 1, "x_");
        check_quant_params(g, n, 3, 4, 1, "y_");
        Dims out = {x.shape[0], x.shape[1], 1, 1};
        if (op == "QLinearAveragePool") {
            if (!n.has("kernel_shape")) fail(n, "kernel_shape is required");
            out = window_op(n, x.shape, n.get_ints("kernel_shape", {}), true);
        }
        set_output(g, n, 0, input(g, n, 4).dtype, out);
        record_quant(g, n, 3, 4, -1);
    } else if (op == "Conv") {
        set_output(g, n, 0, input(g, n, 0).dtype, conv_output(n, input(g, n, 0), input(g, n, 1), 2, g));
    } else if (op == "MaxPool" || op == "AveragePool") {
        const Value &x = input(g, n, 0);
        if (x.shape.size() != 4) fail(n, "only 2-D pooling is supported, input " + dims_str(x.shape));
        if (n.outputs.size() > 1 && !n.outputs[1].empty()) fail(n, "the Indices output is not supported");
        if (!n.has("kernel_shape")) fail(n, "kernel_shape is required");
        Dims out = window_op(n, x.shape, n.get_ints("kernel_shape", {}), true);
        set_output(g, n, 0, x.dtype, out);
    } else if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
        const Value &x = input(g, n, 0);
        if (x.shape.size() != 4) fail(n, "only 4-D (NCHW) input is supported, got " + dims_str(x.shape));
        set_output(g, n, 0, x.dtype, {x.shape[0], x.shape[1], 1, 1});
    } else if (op == "BatchNormalization") {
        const Value &x = input(g, n, 0);
        if (x.shape.size() < 2) fail(n, "input must have rank >= 2");
        for (size_t i = 1; i <= 4; ++i) {
            if (input(g, n, i).shape != Dims{x.shape[1]}) fail(n, "scale, B, mean and var must have shape [" + std::to_string(x.shape[1]) + "]");
        }
        if (n.outputs.size() > 1) fail(n, "training-mode outputs are not supported");
        same_as_input();
    } else if (op == "Gemm") {
        const Value &a = input(g, n, 0), &b = input(g, n, 1);
        if (a.shape.size() != 2 || b.shape.size() != 2) fail(n, "A and B must be matrices, got " + dims_str(a.shape) + " and " + dims_str(b.shape));
        const bool ta = n.get_int("transA", 0), tb = n.get_int("transB", 0);
        const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
        const int64_t kb = tb ? b.shape[1] : b.shape[0], nn = tb ? b.shape[0] : b.shape[1];
        if (k != kb) fail(n, "inner dimensions differ: A " + dims_str(a.shape) + ", B " + dims_str(b.shape));
        if (has_input(n, 2) && broadcast_shape(n.label(), input(g, n, 2).shape, {m, nn}) != Dims{m, nn}) {
            fail(n, "C " + dims_str(input(g, n, 2).shape) + " does not broadcast to [" + std::to_string(m) + ", " + std::to_string(nn) + "]");
        }
        set_output(g, n, 0, a.dtype, {m, nn});
    } else if (op == "MatMul") {
        Dims a = input(g, n, 0).shape, b = input(g, n, 1).shape;
        if (a.empty() || b.empty()) fail(n, "operands must have rank >= 1");
        // transA / transB (set by fold_transpose_into_matmul): the operand's last two axes swap.
        if (n.get_int("transA", 0) && a.size() >= 2) std::swap(a[a.size() - 1], a[a.size() - 2]);
        if (n.get_int("transB", 0) && b.size() >= 2) std::swap(b[b.size() - 1], b[b.size() - 2]);
        const bool av = a.size() == 1, bv = b.size() == 1;
        if (av) a.insert(a.begin(), 1);
        if (bv) b.push_back(1);
        if (a.back() != b[b.size() - 2]) fail(n, "inner dimensions differ: " + dims_str(input(g, n, 0).shape) + " and " + dims_str(input(g, n, 1).shape));
        Dims out = broadcast_shape(n.label(), Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2));
        if (!av) out.push_back(a[a.size() - 2]);
        if (!bv) out.push_back(b.back());
        set_output(g, n, 0, input(g, n, 0).dtype, out);
    } else if (op == "LayerNormalization") {
        const Value &x = input(g, n, 0);
        const int64_t axis = normalize_axis(n, n.get_int("axis", -1), static_cast<int64_t>(x.shape.size()));
        const Dims normalized(x.shape.begin() + axis, x.shape.end());
        if (input(g, n, 1).shape != normalized) fail(n, "Scale must have shape " + dims_str(normalized) + ", got " + dims_str(input(g, n, 1).shape));
        if (has_input(n, 2) && input(g, n, 2).shape != normalized) fail(n, "B must have shape " + dims_str(normalized));
        same_as_input();
        Dims stats(x.shape.begin(), x.shape.begin() + axis);
        stats.resize(x.shape.size(), 1);
        set_output(g, n, 1, x.dtype, stats);  // Mean
        set_output(g, n, 2, x.dtype, stats);  // InvStdDev
    } else if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax") {
        const Value &x = input(g, n, 0);
        Dims axes = reduce_axes(g, n, static_cast<int64_t>(x.shape.size()));
        if (axes.empty() && n.get_int("noop_with_empty_axes", 0)) {
            same_as_input();
        } else {
            const bool keep = n.get_int("keepdims", 1) != 0;
            Dims out;
            for (size_t d = 0; d < x.shape.size(); ++d) {
                const bool reduced = axes.empty() || std::count(axes.begin(), axes.end(), static_cast<int64_t>(d));
                if (!reduced) out.push_back(x.shape[d]);
                else if (keep) out.push_back(1);
            }
            set_output(g, n, 0, x.dtype, out);
        }
    } else if (op == "Transpose") {
        const Value &x = input(g, n, 0);
        Dims perm = n.get_ints("perm", {});
        if (perm.empty()) for (size_t i = x.shape.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
        Dims sorted = perm;
        std::sort(sorted.begin(), sorted.end());
        for (size_t i = 0; i < sorted.size(); ++i) {
            if (sorted[i] != static_cast<int64_t>(i) || perm.size() != x.shape.size()) fail(n, "perm " + dims_str(perm) + " is not a permutation of rank " + std::to_string(x.shape.size()));
        }
        Dims out;
        for (int64_t p : perm) out.push_back(x.shape[static_cast<size_t>(p)]);
        set_output(g, n, 0, x.dtype, out);
    } else if (op == "Reshape") {
        set_output(g, n, 0, input(g, n, 0).dtype, reshape_target(g, n, input(g, n, 0).shape));
    } else if (op == "Flatten") {
        const Value &x = input(g, n, 0);
        const int64_t rank = static_cast<int64_t>(x.shape.size());
        int64_t axis = n.get_int("axis", 1);
        if (axis < 0) axis += rank;
        if (axis < 0 || axis > rank) fail(n, "axis " + std::to_string(n.get_int("axis", 1)) + " is out of range");
        set_output(g, n, 0, x.dtype, {product(x.shape, 0, static_cast<size_t>(axis)), product(x.shape, static_cast<size_t>(axis), x.shape.size())});
    } else if (op == "Concat") {
        const Value &first = input(g, n, 0);
        const int64_t axis = normalize_axis(n, n.get_int("axis", 0), static_cast<int64_t>(first.shape.size()));
        Dims out = first.shape;
        out[axis] = 0;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            const Dims &s = input(g, n, i).shape;
            bool ok = s.size() == first.shape.size();
            for (size_t d = 0; ok && d < s.size(); ++d) ok = static_cast<int64_t>(d) == axis || s[d] == first.shape[d];
            if (!ok) fail(n, "input " + std::to_string(i) + " " + dims_str(s) + " does not match input 0 " + dims_str(first.shape));
            out[axis] += s[axis];
        }
        set_output(g, n, 0, first.dtype, out);
    } else if (op == "Pad") {
        const Value &x = input(g, n, 0);
        Dims pads = g.opset >= 11 ? constant_ints(g, n, 1, "pads") : n.get_ints("pads", {});
        if (pads.size() != 2 * x.shape.size()) fail(n, "pads " + dims_str(pads) + " must have " + std::to_string(2 * x.shape.size()) + " entries");
        const std::string mode = n.get_string("mode", "constant");
        if (mode != "constant" && mode != "edge" && mode != "reflect") fail(n, "unsupported mode '" + mode + "'");
        Dims out = x.shape;
        for (size_t d = 0; d < out.size(); ++d) {
            if (pads[d] < 0 || pads[d + out.size()] < 0) fail(n, "negative pads " + dims_str(pads) + " are not supported");
            out[d] += pads[d] + pads[d + out.size()];
        }
        set_output(g, n, 0, x.dtype, out);
    } else if (op == "Gather") {
        const Value &x = input(g, n, 0), &idx = input(g, n, 1);
        const int64_t axis = normalize_axis(n, n.get_int("axis", 0), static_cast<int64_t>(x.shape.size()));
        Dims out(x.shape.begin(), x.shape.begin() + axis);
        out.insert(out.end(), idx.shape.begin(), idx.shape.end());
        out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
        set_output(g, n, 0, x.dtype, out);
    } else if (op == "Slice") {
        set_output(g, n, 0, input(g, n, 0).dtype, slice_spec(g, n, input(g, n, 0).shape).out);
    } else if (op == "Unsqueeze") {
        const Value &x = input(g, n, 0);
        Dims axes = squeeze_axes(g, n, x.shape.size(), true);
        Dims out = x.shape;
        for (int64_t a : axes) out.insert(out.begin() + a, 1);
        set_output(g, n, 0, x.dtype, out);
    } else if (op == "Squeeze") {
        const Value &x = input(g, n, 0);
        Dims axes = squeeze_axes(g, n, x.shape.size(), false);
        Dims out;
        for (size_t d = 0; d < x.shape.size(); ++d) {
            const bool listed = std::count(axes.begin(), axes.end(), static_cast<int64_t>(d)) != 0;
            if (listed && x.shape[d] != 1) fail(n, "cannot squeeze axis " + std::to_string(d) + " of extent " + std::to_string(x.shape[d]));
            if (!(listed || (axes.empty() && x.shape[d] == 1))) out.push_back(x.shape[d]);
        }
        set_output(g, n, 0, x.dtype, out);
    } else {
        fail(n, "no shape inference rule");
    }

    if (std::optional<HostArray> folded = evaluate_constant(g, n)) {
        g.value(n.outputs[0]).constant = std::make_shared<const HostArray>(std::move(*folded));
    }
}

}  // namespace megalide
