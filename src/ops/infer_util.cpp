#include "infer_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace megalide::ops {

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

bool inputs_constant(const Graph &g, const Node &n) {
    for (const std::string &in : n.inputs) {
        if (!in.empty() && !g.is_constant(in)) return false;
    }
    return true;
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

// The output shape of a 1-D, 2-D or 3-D convolution of x by w (bias at input `bias`, if
// any); records the group attribute.
Dims conv_output(Node &n, const Value &x, const Value &w, size_t bias, const Graph &g) {
    if (x.shape.size() < 3 || x.shape.size() > 5 || w.shape.size() != x.shape.size()) {
        fail(n, "only 1-D, 2-D and 3-D convolution are supported (input and weights of rank 3 to 5, the same): input " +
                    dims_str(x.shape) + ", weights " + dims_str(w.shape));
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
    Dims out = window_op(n, x.shape, n.get_ints("kernel_shape", Dims(w.shape.begin() + 2, w.shape.end())), false);
    out[1] = w.shape[0];
    n.attrs["group"] = Attribute::of(group);
    return out;
}

// ConvTranspose's geometry (ONNX operator docs): along each spatial axis
//   out = stride * (in - 1) + output_padding + dilation * (kernel - 1) + 1 - pad_begin - pad_end,
// or, given output_shape (or auto_pad SAME_*, which asks for out = in * stride), the pads from
//   total = stride * (in - 1) + output_padding + dilation * (kernel - 1) + 1 - out:
// SAME_UPPER begins with total / 2 (the odd one at the end), the others with total - total / 2.
// An output_shape beyond the natural extent (total < 0) is extended at the end, as
// output_padding does: pad_begin 0, pad_end total (what ONNX's reference implementation and
// ONNX Runtime compute; the formula's division is unspecified for negative totals).
Dims conv_transpose_output(Node &n, const Value &x, const Value &w, size_t bias, const Graph &g) {
    if (x.shape.size() < 3 || x.shape.size() > 5 || w.shape.size() != x.shape.size()) {
        fail(n, "only 1-D, 2-D and 3-D transposed convolution are supported (input and weights of rank 3 to 5, the same): input " +
                    dims_str(x.shape) + ", weights " + dims_str(w.shape));
    }
    const size_t spatial = x.shape.size() - 2;
    const int64_t group = n.get_int("group", 1);
    if (group < 1 || x.shape[1] != w.shape[0] || w.shape[0] % group) {
        fail(n, "channel mismatch: input " + dims_str(x.shape) + " has " + std::to_string(x.shape[1]) +
                    " channels, weights " + dims_str(w.shape) + " (C, M/group, kernel...) with group " + std::to_string(group) +
                    " expect " + std::to_string(w.shape[0]) + ", divisible by the group");
    }
    const int64_t cout = w.shape[1] * group;
    if (bias != SIZE_MAX && has_input(n, bias) && input(g, n, bias).shape != Dims{cout}) {
        fail(n, "bias must have shape [" + std::to_string(cout) + "]");
    }
    const Dims kernel = n.get_ints("kernel_shape", Dims(w.shape.begin() + 2, w.shape.end()));
    if (kernel != Dims(w.shape.begin() + 2, w.shape.end())) {
        fail(n, "kernel_shape " + dims_str(kernel) + " differs from the weights' spatial extents " + dims_str(w.shape));
    }
    const Dims strides = n.get_ints("strides", Dims(spatial, 1));
    const Dims dilations = n.get_ints("dilations", Dims(spatial, 1));
    const Dims output_padding = n.get_ints("output_padding", Dims(spatial, 0));
    Dims pads = n.get_ints("pads", Dims(2 * spatial, 0));
    if (strides.size() != spatial || dilations.size() != spatial || output_padding.size() != spatial || pads.size() != 2 * spatial) {
        fail(n, "strides, dilations, output_padding and pads must have " + std::to_string(spatial) + ", " + std::to_string(spatial) +
                    ", " + std::to_string(spatial) + " and " + std::to_string(2 * spatial) + " entries");
    }
    const std::string auto_pad = n.get_string("auto_pad", "NOTSET");
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if (!same && auto_pad != "NOTSET" && auto_pad != "VALID") fail(n, "unknown auto_pad '" + auto_pad + "'");
    Dims output_shape = n.get_ints("output_shape", {});
    // (Some exporters write the whole output shape, batch and channels included.)
    if (output_shape.size() == spatial + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
    if (!output_shape.empty() && output_shape.size() != spatial) {
        fail(n, "output_shape " + dims_str(output_shape) + " must have " + std::to_string(spatial) + " entries");
    }
    Dims out = {x.shape[0], cout};
    for (size_t i = 0; i < spatial; ++i) {
        const int64_t in = x.shape[2 + i], s = strides[i], d = dilations[i], k = kernel[i], op = output_padding[i];
        if (s < 1 || d < 1 || k < 1) fail(n, "kernel, strides and dilations must be positive");
        if (op < 0 || (op >= s && op >= d)) {
            fail(n, "output_padding " + dims_str(output_padding) + " must be non-negative and less than the stride or the dilation");
        }
        const int64_t natural = s * (in - 1) + op + d * (k - 1) + 1;
        if (auto_pad == "VALID") pads[i] = pads[i + spatial] = 0;
        if (!output_shape.empty() || same) {
            const int64_t wanted = !output_shape.empty() ? output_shape[i] : in * s;
            if (wanted < 1) fail(n, "output_shape " + dims_str(output_shape) + " must be positive");
            const int64_t total = natural - wanted;
            const int64_t begin = total < 0 ? 0 : auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
            pads[i] = begin;
            pads[i + spatial] = total - begin;
        }
        const int64_t o = natural - pads[i] - pads[i + spatial];
        if (o < 1) {
            fail(n, "pads " + dims_str(pads) + " leave no output along spatial axis " + std::to_string(i) + " (" +
                        std::to_string(natural) + " before padding)");
        }
        out.push_back(o);
    }
    // Canonical from here on: explicit pads (pad_end negative where output_shape extends the
    // output), so lowering and a second inference never see auto_pad or output_shape.
    n.attrs.erase("auto_pad");
    n.attrs.erase("output_shape");
    n.attrs["kernel_shape"] = Attribute::of(kernel);
    n.attrs["strides"] = Attribute::of(strides);
    n.attrs["dilations"] = Attribute::of(dilations);
    n.attrs["output_padding"] = Attribute::of(output_padding);
    n.attrs["pads"] = Attribute::of(pads);
    n.attrs["group"] = Attribute::of(group);
    return out;
}

// A quantization's scale (input `scale`) and zero point (input `zero_point`; SIZE_MAX: none):
// float32 scales, 8-bit zero points, each per tensor or with `channels` entries; constant
// scales must be positive and finite. `prefix` names them as ONNX does ("w_" -> w_scale).
void check_quant_params(const Graph &g, const Node &n, size_t scale, size_t zero_point, int64_t channels, const std::string &prefix,
                        bool int32_zero_point) {
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
    megalide::check_quant_params(q, out.dtype, channels, n.label());
    out.quant = q;
}

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


void same_as_input(Graph &g, const Node &n) {
    const Value &x = input(g, n, 0);
    set_output(g, n, 0, x.dtype, x.shape);
}

}  // namespace megalide::ops
