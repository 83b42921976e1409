#include "megalide/lower/lower.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "megalide/error.h"
#include "megalide/layers.h"
#include "megalide/layers/quantize.h"

namespace megalide {

Halide::Type halide_type(DType dtype) {
    switch (dtype) {
    case DType::Float32: return Halide::Float(32);
    case DType::Float64: return Halide::Float(64);
    case DType::Int8: return Halide::Int(8);
    case DType::UInt8: return Halide::UInt(8);
    case DType::Int32: return Halide::Int(32);
    case DType::Int64: return Halide::Int(64);
    case DType::Bool: return Halide::UInt(8);
    }
    return Halide::Float(32);
}

namespace {

using Halide::Expr;
using Halide::Func;
using Halide::Var;
using Dims = std::vector<int64_t>;

// A lowered value: a Tensor plus where each ONNX axis lives among its Halide dimensions.
struct Lowered {
    Tensor t;
    std::vector<int> dim_of_axis;  // dim_of_axis[onnx axis] = Halide dimension
    int rank() const { return static_cast<int>(dim_of_axis.size()); }
};

std::vector<int> plain_layout(int rank) {
    std::vector<int> m(static_cast<size_t>(rank));
    for (int a = 0; a < rank; ++a) m[static_cast<size_t>(a)] = rank - 1 - a;
    return m;
}

// Channels innermost: axis 1 (C) -> dim 0, axis 0 (N) -> outermost, spatial axes reversed
// in between; for rank 4 that is (c, x, y, n).
std::vector<int> channels_innermost_layout(int rank) {
    std::vector<int> m(static_cast<size_t>(rank));
    m[0] = rank - 1;
    m[1] = 0;
    for (int a = 2; a < rank; ++a) m[static_cast<size_t>(a)] = rank - a;
    return m;
}

Shape halide_shape(const Dims &onnx_shape, const std::vector<int> &layout) {
    Shape s(onnx_shape.size());
    for (size_t a = 0; a < onnx_shape.size(); ++a) s[static_cast<size_t>(layout[a])] = static_cast<int>(onnx_shape[a]);
    return s;
}

class Lowerer {
public:
    Lowerer(const Graph &g, const LowerOptions &options) : g_(g), options_(options) {}

    LoweredGraph run() {
        LoweredGraph out;
        if (!options_.inputs.empty() && options_.inputs.size() != g_.inputs.size()) {
            throw Error("lowering was given " + std::to_string(options_.inputs.size()) + " input parameters for a graph with " +
                        std::to_string(g_.inputs.size()) + " inputs");
        }
        for (const std::string &name : g_.inputs) {
            const Value &v = g_.value(name);
            Halide::ImageParam p = given_input(out.inputs.size(), v);
            out.input_names.push_back(name);
            out.inputs.push_back(p);
            out.input_dtypes.push_back(v.dtype);
            out.input_shapes.push_back(v.shape);
            const Shape shape = halide_shape(v.shape, plain_layout(static_cast<int>(v.shape.size())));
            set_dense_shape(p, shape);
            Tensor t = tensor_from_param(p, shape);
            t.type = halide_type(v.dtype);
            values_[name] = {t, plain_layout(static_cast<int>(v.shape.size()))};
        }
        for (const Node &n : g_.nodes) {
            const bool all_constant = std::all_of(n.outputs.begin(), n.outputs.end(), [&](const std::string &o) {
                return o.empty() || g_.is_constant(o);
            });
            if (all_constant) continue;
            try {
                lower_node(n);
            } catch (const Halide::Error &e) {
                throw Error(n.label() + ": Halide rejected the lowered layer: " + e.what());
            }
            const std::string &o = n.outputs.at(0);
            out.stages[o] = values_.at(o).t.func;
            out.shapes[values_.at(o).t.name()] = values_.at(o).t.shape;
        }
        std::vector<Func> funcs;
        for (const std::string &name : g_.outputs) {
            const Value &v = g_.value(name);
            Lowered l = as_layout(get(name), plain_layout(static_cast<int>(v.shape.size())));
            std::vector<Var> vars = make_vars(l.t.rank());
            Func f(func_name("out_" + name));
            Expr e = l.t(as_exprs(vars));
            f(vars) = Halide::cast(halide_type(v.dtype), v.dtype == DType::Bool ? Expr(e != Halide::cast(e.type(), 0)) : e);
            out.output_names.push_back(name);
            set_dense_shape(f.output_buffer(), l.t.shape);
            out.outputs.push_back(f);
            out.output_dtypes.push_back(v.dtype);
            out.output_shapes.push_back(v.shape);
            out.shapes[f.name()] = l.t.shape;
            funcs.push_back(f);
        }
        out.pipeline = Halide::Pipeline(funcs);
        out.accumulators = accumulators_;
        for (const auto &[stage_name, acc] : accumulators_) {
            for (const auto &[value, f] : out.stages) {
                if (f.name() == stage_name) out.shapes[acc] = out.shapes[stage_name];
            }
        }
        return out;
    }

private:
    const Graph &g_;
    const LowerOptions &options_;
    std::map<std::string, Lowered> values_;
    std::map<std::pair<std::string, std::vector<int>>, Lowered> relayouts_;
    std::set<std::string> used_names_;
    std::map<std::string, std::string> stage_names_;
    std::map<std::string, std::string> accumulators_;  // epilogue stage -> accumulator Func

    // Shapes are static: every buffer argument is the value's shape, dense (Halide checks
    // this on entry). Constant extents and strides let the code generator fold the
    // addressing and drop the ragged-edge cases no call can reach.
    static void set_dense_shape(Halide::OutputImageParam p, const Shape &shape) {
        int stride = 1;
        for (size_t d = 0; d < shape.size(); ++d) {
            p.dim(static_cast<int>(d)).set_bounds(0, shape[d]).set_stride(stride);
            stride *= shape[d];
        }
    }

    // The parameter input `index` reads from: the caller's, checked, or a new one.
    Halide::ImageParam given_input(size_t index, const Value &v) {
        const int rank = static_cast<int>(v.shape.size());
        if (options_.inputs.empty()) return Halide::ImageParam(halide_type(v.dtype), rank, func_name("in_" + v.name));
        const Halide::ImageParam &p = options_.inputs[index];
        if (p.type() != halide_type(v.dtype) || p.dimensions() != rank) {
            std::ostringstream msg;
            msg << "input '" << v.name << "' is " << halide_type(v.dtype) << " with " << rank << " dimensions, but its parameter '"
                << p.name() << "' is " << p.type() << " with " << p.dimensions();
            throw Error(msg.str());
        }
        used_names_.insert(p.name());
        return p;
    }

    // Halide names: letters, digits and '_' only, unique, never starting with a digit.
    std::string func_name(const std::string &stem) {
        std::string s;
        for (char c : stem) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
        if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "v_" + s;
        std::string name = s;
        for (int i = 1; used_names_.count(name); ++i) name = s + "_" + std::to_string(i);
        used_names_.insert(name);
        return name;
    }

    // A Func's name without the "$N" Halide appends when a process lowers a graph again:
    // names derived from it stay the same from one lowering to the next, so saved
    // schedules find them.
    static std::string stem_of(const std::string &name) { return name.substr(0, name.find('$')); }

    [[noreturn]] void fail(const Node &n, const std::string &what) { throw Error(n.label() + ": " + what); }

    Lowered constant(const std::string &name, const HostArray &c) {
        const int rank = static_cast<int>(c.shape.size());
        Halide::Buffer<> b(halide_type(c.dtype), halide_shape(c.shape, plain_layout(rank)));
        // An empty constant has no bytes (and may have no storage): nothing to copy.
        if (!c.bytes.empty()) std::memcpy(b.data(), c.bytes.data(), c.bytes.size());
        Tensor t = tensor_from_buffer(func_name("const_" + name), b);
        return {t, plain_layout(rank)};
    }

    Lowered get(const std::string &name) {
        auto it = values_.find(name);
        if (it != values_.end()) return it->second;
        const Value &v = g_.value(name);
        if (!v.constant) throw Error("value '" + name + "' is used before it is defined");
        Lowered l = constant(name, *v.constant);
        values_[name] = l;
        return l;
    }

    const Value &info(const std::string &name) const { return g_.value(name); }

    // Relabels dimensions so that axis a sits at Halide dimension layout[a].
    Lowered as_layout(const Lowered &v, const std::vector<int> &layout) {
        if (v.dim_of_axis == layout) return v;
        // One relabeling per value and layout: readers share it, so a schedule that stores
        // it (packing) serves them all.
        const auto key = std::make_pair(v.t.name(), layout);
        if (auto it = relayouts_.find(key); it != relayouts_.end()) return it->second;
        std::vector<int> perm(layout.size());
        for (size_t a = 0; a < layout.size(); ++a) perm[static_cast<size_t>(layout[a])] = v.dim_of_axis[a];
        Tensor t = layers::transpose(func_name(stem_of(v.t.name()) + "_relayout"), v.t, perm);
        t.type = v.t.type;
        return relayouts_[key] = {t, layout};
    }

    // A host-side permuted copy of a constant, for weights that a layer reads in its own layout.
    Tensor constant_in_layout(const std::string &name, const std::vector<int> &layout) {
        const HostArray &c = *info(name).constant;
        const Dims &shape = c.shape;
        Halide::Buffer<> b(halide_type(c.dtype), halide_shape(shape, layout));
        const size_t size = item_size(c.dtype);
        const int rank = static_cast<int>(shape.size());
        std::vector<int64_t> index(static_cast<size_t>(rank), 0);
        for (int64_t f = 0; f < c.element_count(); ++f) {
            int64_t rest = f;
            for (int a = rank; a-- > 0;) {
                index[static_cast<size_t>(a)] = rest % shape[static_cast<size_t>(a)];
                rest /= shape[static_cast<size_t>(a)];
            }
            int64_t dst = 0, stride = 1;
            for (int d = 0; d < rank; ++d) {
                const int a = static_cast<int>(std::find(layout.begin(), layout.end(), d) - layout.begin());
                dst += index[static_cast<size_t>(a)] * stride;
                stride *= shape[static_cast<size_t>(a)];
            }
            std::memcpy(static_cast<uint8_t *>(b.data()) + dst * static_cast<int64_t>(size), c.bytes.data() + f * static_cast<int64_t>(size), size);
        }
        return tensor_from_buffer(func_name("const_" + name), b);
    }

    // Constant 8-bit conv weights (ONNX OIHW) as the conv layers read them, (co, ci, kx, ky),
    // stored for a byte dot product: 4 consecutive input channels of one output channel per
    // 32-bit lane, output channels next, as P(ci % 4, co, ci / 4, kx, ky). A VNNI dot
    // product then loads a weight vector as it is; from (co, ci, ...) it interleaves four
    // rows per load.
    Tensor dot_packed_weights(const std::string &name) {
        const HostArray &c = *info(name).constant;
        const int co = static_cast<int>(c.shape[0]), ci = static_cast<int>(c.shape[1]);
        const int kh = static_cast<int>(c.shape[2]), kw = static_cast<int>(c.shape[3]);
        Halide::Buffer<> b(halide_type(c.dtype), {4, co, ci / 4, kw, kh});
        for (int o = 0; o < co; ++o)
            for (int i = 0; i < ci; ++i)
                for (int y = 0; y < kh; ++y)
                    for (int x = 0; x < kw; ++x) {
                        const size_t to = static_cast<size_t>(i % 4 + 4 * o + 4 * co * (i / 4) + co * ci * (x + kw * y));
                        static_cast<uint8_t *>(b.data())[to] = c.bytes[static_cast<size_t>(((o * ci + i) * kh + y) * kw + x)];
                    }
        Tensor packed = tensor_from_buffer(func_name("const_" + name + "_dot"), b);
        std::vector<Var> v = make_vars(4);
        Func w(func_name(name + "_dot"));
        w(v) = packed({v[1] % 4, v[0], v[1] / 4, v[2], v[3]});
        return Tensor{w, {co, ci, kw, kh}, packed.type};
    }

    Tensor operand_in_layout(const std::string &name, const std::vector<int> &layout) {
        if (info(name).constant && !values_.count(name)) return constant_in_layout(name, layout);
        return as_layout(get(name), layout).t;
    }

    // Gives a plain-layout value `rank` dimensions by adding leading unit ONNX axes.
    Lowered expand_rank(const Lowered &v, int rank) {
        if (v.rank() >= rank) return v;
        Lowered p = as_layout(v, plain_layout(v.rank()));
        Shape shape = p.t.shape;
        shape.resize(static_cast<size_t>(rank), 1);
        std::vector<Var> vars = make_vars(rank);
        Func f(func_name(stem_of(v.t.name()) + "_rank" + std::to_string(rank)));
        f(vars) = p.t(std::vector<Expr>(vars.begin(), vars.begin() + p.rank()));
        Tensor t{f, shape, v.t.type};
        return {t, plain_layout(rank)};
    }

    void define(const Node &n, Tensor t, std::vector<int> layout) {
        values_[n.outputs.at(0)] = {std::move(t), std::move(layout)};
    }

    // The Func name of a node's output stage (made once per node).
    std::string stage(const Node &n) {
        auto it = stage_names_.find(n.outputs.at(0));
        if (it != stage_names_.end()) return it->second;
        return stage_names_[n.outputs.at(0)] = func_name(n.outputs.at(0));
    }

    Expr activation(const Node &n, Expr v) {
        const std::string act = n.get_string("activation", "");
        if (act.empty()) return v;
        if (act == "Relu") return Halide::max(v, 0.0f);
        if (act == "Clip") {
            return Halide::clamp(v, static_cast<float>(n.get_float("activation_min", -INFINITY)),
                                 static_cast<float>(n.get_float("activation_max", INFINITY)));
        }
        fail(n, "unknown fused activation '" + act + "'");
    }

    // The pure stage after an accumulation (conv, gemm, matmul): optional bias along the
    // innermost dimension, then the fused activation. It carries the node's stage name, so
    // a schedule can tile it and compute the accumulator per tile.
    // `post` (requantization with the fused activation in the quantized domain) maps the value
    // after the bias, given the stage's vars; without it the fused activation applies.
    using Post = std::function<Expr(Expr, const std::vector<Var> &)>;
    Tensor epilogue(const Node &n, const Tensor &acc, const std::optional<Tensor> &bias = std::nullopt, const Post &post = {}) {
        std::vector<Var> vars = make_vars(acc.rank());
        Expr v = acc(as_exprs(vars));
        if (bias) v += (*bias)({vars[0]});
        v = post ? post(v, vars) : activation(n, v);  // a quantized op's post applies its own
        Func out(stage(n));
        out(vars) = v;
        Func acc_func = acc.func;
        if (acc_func.has_update_definition()) accumulators_[out.name()] = acc_func.name();
        return {out, acc.shape, v.type()};
    }

    // A quantization parameter (scale or zero point) as read at `coords`: a rank-0 tensor is
    // per tensor; a rank-1 tensor is per channel along Halide dimension `dim`. An omitted
    // one is `fallback`. A constant per-tensor one is a literal, which the code generator
    // folds into the arithmetic instead of loading it.
    Expr qparam(const std::string &name, const std::vector<Expr> &coords, int dim, Expr fallback) {
        if (name.empty()) return fallback;
        const Value &v = info(name);
        if (v.constant && v.constant->to_doubles().size() == 1) {
            const double c = v.constant->to_doubles()[0];
            const Halide::Type t = halide_type(v.dtype);
            return t.is_float() ? Halide::cast(t, Expr(static_cast<float>(c))) : Halide::cast(t, Expr(static_cast<int32_t>(c)));
        }
        Lowered p = get(name);
        if (p.rank() == 0) return p.t({});
        if (p.t.shape[0] == 1) return p.t({0});  // one entry: per tensor
        return p.t({coords.at(static_cast<size_t>(dim))});
    }

    // The output bounds [lo, hi] of a quantized op with a fused activation (Relu, Clip):
    // Q(clamp(r, a, b)) = clamp(Q(r), Q(a), Q(b)) since rounding and saturation are monotonic.
    // Undefined Exprs (the type's range) without one.
    std::pair<Expr, Expr> activation_bounds(const Node &n, Halide::Type type, const std::string &y_scale,
                                            const std::string &y_zero_point) {
        const auto range = fused_activation_range(n);
        if (!range) return {};
        if (auto b = constant_activation_bounds(n, type, y_scale, y_zero_point)) {
            return {Halide::cast(type, b->first), Halide::cast(type, b->second)};
        }
        Expr sy = qparam(y_scale, {}, 0, Expr(1.0f)), zy = qparam(y_zero_point, {}, 0, Expr(0));
        return {layers::quantize_value(range->first, sy, zy, type), layers::quantize_value(range->second, sy, zy, type)};
    }

    // The real range a quantized op's fused activation (Relu, Clip) keeps; nullopt without one.
    std::optional<std::pair<float, float>> fused_activation_range(const Node &n) {
        const std::string act = n.get_string("activation", "");
        if (act.empty()) return std::nullopt;
        if (act != "Relu" && act != "Clip") fail(n, "unknown fused activation '" + act + "'");
        const float lo = act == "Relu" ? 0.0f : static_cast<float>(n.get_float("activation_min", -INFINITY));
        const float hi = act == "Relu" ? INFINITY : static_cast<float>(n.get_float("activation_max", INFINITY));
        return std::make_pair(lo, hi);
    }

    // The output bounds as integers when the output's parameters are constants: computed on
    // the host (the same float32 division and rounding as quantize_value), not a division
    // per row. The type's range without a fused activation.
    std::optional<std::pair<int, int>> constant_activation_bounds(const Node &n, Halide::Type type, const std::string &y_scale,
                                                                  const std::string &y_zero_point) {
        if (!info(y_scale).constant || !info(y_zero_point).constant) return std::nullopt;
        if (info(y_scale).constant->to_doubles().size() != 1 || info(y_zero_point).constant->to_doubles().size() != 1) return std::nullopt;
        const auto range = fused_activation_range(n);
        if (!range) return std::make_pair(type.is_int() ? -128 : 0, type.is_int() ? 127 : 255);
        const float sy = static_cast<float>(info(y_scale).constant->to_doubles().at(0));
        const int zy = static_cast<int>(info(y_zero_point).constant->to_doubles().at(0));
        return std::make_pair(layers::quantize_scalar(range->first, sy, zy, type.is_int()),
                              layers::quantize_scalar(range->second, sy, zy, type.is_int()));
    }

    // Requantization of an int32 accumulator read at `coords` (channel along `dim`) to the
    // type of `y_zero_point`: multiplier (a_scale * b_scale) / y_scale, in the lowering's
    // mode, with the node's fused activation. fixed_point needs the scales as constants (its
    // multipliers are made on the host).
    Expr requantize(const Node &n, Expr acc, const std::vector<Expr> &coords, int dim, const std::string &a_scale,
                    const std::string &b_scale, const std::string &y_scale, const std::string &y_zero_point) {
        const Halide::Type type = halide_type(info(y_zero_point).dtype);
        Expr zp = qparam(y_zero_point, coords, dim, Expr(0));
        const auto [lo, hi] = activation_bounds(n, type, y_scale, y_zero_point);
        const bool constant = info(a_scale).constant && info(b_scale).constant && info(y_scale).constant;
        if (!constant) {
            if (options_.requantization == layers::Requantization::FixedPoint) {
                fail(n, "fixed_point requantization needs constant scales (one is computed at run time)");
            }
            Expr m = (qparam(a_scale, coords, dim, Expr(1.0f)) * qparam(b_scale, coords, dim, Expr(1.0f))) /
                     qparam(y_scale, coords, dim, Expr(1.0f));
            return layers::requantize_onnx(acc, Halide::strict_float(m), zp, type, lo, hi);
        }
        // Constant scales: the per-channel multipliers once, on the host, in onnx mode's float32
        // operations ((a * b) / y); a multiply per element instead of a division.
        const std::vector<double> sa = info(a_scale).constant->to_doubles(), sb = info(b_scale).constant->to_doubles(),
                                  sy = info(y_scale).constant->to_doubles();
        const size_t channels = std::max({sa.size(), sb.size(), sy.size()});
        std::vector<float> m(channels);
        for (size_t c = 0; c < channels; ++c) {
            auto at = [&](const std::vector<double> &v) { return static_cast<float>(v[v.size() == 1 ? 0 : c]); };
            volatile float product = at(sa) * at(sb);  // rounded to float32 before the division
            m[c] = product / at(sy);
        }
        Expr channel = channels == 1 ? Expr(0) : coords.at(static_cast<size_t>(dim));
        if (options_.requantization == layers::Requantization::Onnx) {
            if (auto clamped = clamped_accumulator_requantization(n, acc, channel, m, type, y_scale, y_zero_point)) return *clamped;
            if (channels == 1) return layers::requantize_onnx(acc, m[0], zp, type, lo, hi);
            Halide::Buffer<float> mult(static_cast<int>(channels));
            for (size_t c = 0; c < channels; ++c) mult(static_cast<int>(c)) = m[c];
            return layers::requantize_onnx(acc, mult(channel), zp, type, lo, hi);
        }
        Halide::Buffer<int32_t> mult(static_cast<int>(channels)), shift(static_cast<int>(channels));
        for (size_t c = 0; c < channels; ++c) {
            const layers::FixedPointMultiplier f = layers::fixed_point_multiplier(m[c], n.label());
            mult(static_cast<int>(c)) = f.multiplier, shift(static_cast<int>(c)) = f.shift;
        }
        return layers::requantize_fixed_point(acc, mult(channel), shift(channel), zp, type, lo, hi);
    }

    // onnx-mode requantization with constant multipliers below 1, a constant zero point and
    // bounds: the output range becomes a clamp of the int32 accumulator (per channel, found on
    // the host), exact by construction (layers::accumulator_bounds). nullopt where it does not
    // apply.
    std::optional<Expr> clamped_accumulator_requantization(const Node &n, Expr acc, Expr channel, const std::vector<float> &m,
                                                           Halide::Type type, const std::string &y_scale,
                                                           const std::string &y_zero_point) {
        const auto bounds = constant_activation_bounds(n, type, y_scale, y_zero_point);
        if (!bounds) return std::nullopt;
        const int zy = static_cast<int>(info(y_zero_point).constant->to_doubles().at(0));
        const int channels = static_cast<int>(m.size());
        Halide::Buffer<float> mult(channels);
        Halide::Buffer<int32_t> lo(channels), hi(channels);
        for (int c = 0; c < channels; ++c) {
            auto b = layers::accumulator_bounds(m[static_cast<size_t>(c)], bounds->first - zy, bounds->second - zy);
            if (!b) return std::nullopt;
            mult(c) = m[static_cast<size_t>(c)], lo(c) = b->min, hi(c) = b->max;
        }
        if (channels == 1) return layers::requantize_onnx_clamped_accumulator(acc, m[0], lo(0), hi(0), zy, type);
        return layers::requantize_onnx_clamped_accumulator(acc, mult(channel), lo(channel), hi(channel), zy, type);
    }

    // Clip bounds from inputs (opset >= 11) or attributes; must be constants.
    float clip_bound(const Node &n, size_t input, const char *attr, float fallback) {
        if (g_.opset < 11) return static_cast<float>(n.get_float(attr, fallback));
        const std::string &name = n.input(input);
        if (name.empty()) return fallback;
        if (!info(name).constant) fail(n, std::string(attr) + " must be a constant");
        return static_cast<float>(info(name).constant->to_doubles().at(0));
    }

    void lower_node(const Node &n);
    void lower_binary(const Node &n);
    void lower_conv(const Node &n);
    Tensor conv_accumulation(const Node &n, size_t x_input, size_t w_input, size_t bias_input,
                             const std::function<Expr(Expr)> &x_map, const std::function<Expr(Expr, Expr)> &w_map,
                             Halide::Type accumulator = Halide::Type(), Expr padding = Expr(),
                             const std::optional<Tensor> &bias_override = std::nullopt);
    std::optional<Tensor> byte_conv_bias(const Node &n);
    void lower_quantized(const Node &n);
    Tensor matmul_accumulation(const Node &n, size_t a_input, size_t b_input, const std::string &a_zero_point,
                               const std::string &b_zero_point);
    void lower_pool(const Node &n);
    void lower_gather(const Node &n);
    void lower_slice(const Node &n);
};

// ONNX (C) integer division truncates toward zero; Halide's is Euclidean (the remainder is
// never negative), so adjust the quotient where the dividend is negative and inexact.
Expr truncating_div(const Expr &p, const Expr &q) {
    Expr e = p / q;
    Expr inexact = p - e * q != 0;
    return Halide::select(p < 0 && inexact, Halide::select(q > 0, e + 1, e - 1), e);
}

void Lowerer::lower_binary(const Node &n) {
    Lowered a = get(n.input(0)), b = get(n.input(1));
    const int rank = std::max(a.rank(), b.rank());
    // Keep channels-innermost when an operand already is; broadcast the other into it.
    std::vector<int> layout = plain_layout(rank);
    if (rank >= 3 && (a.dim_of_axis == channels_innermost_layout(rank) || b.dim_of_axis == channels_innermost_layout(rank))) {
        layout = channels_innermost_layout(rank);
    }
    a = as_layout(expand_rank(a, rank), layout);
    b = as_layout(expand_rank(b, rank), layout);
    const Halide::Type type = halide_type(info(n.outputs[0]).dtype);
    const bool integral = !type.is_float();
    Tensor t;
    const std::string name = stage(n);
    if (n.op == "Add") t = layers::add(name, a.t, b.t);
    else if (n.op == "Sub") t = layers::sub(name, a.t, b.t);
    else if (n.op == "Mul") t = layers::mul(name, a.t, b.t);
    else if (n.op == "Div" && !integral) t = layers::div(name, a.t, b.t);
    else if (n.op == "Mod") {
        // fmod=1: sign of the dividend (C fmod); fmod=0: sign of the divisor (Python %).
        const bool c_fmod = n.get_int("fmod", 0) != 0;
        Shape shape = layers::broadcast_shapes(name, a.t.shape, b.t.shape);
        std::vector<Var> vars = make_vars(static_cast<int>(shape.size()));
        Expr p = layers::broadcast_access(a.t, as_exprs(vars)), q = layers::broadcast_access(b.t, as_exprs(vars));
        Expr r = integral ? p - truncating_div(p, q) * q : p - Halide::trunc(p / q) * q;  // sign of p
        if (!c_fmod) r = Halide::select(r != 0 && (r < 0) != (q < 0), r + q, r);
        Func f(name);
        f(vars) = r;
        t = {f, shape};
    }
    else if (n.op == "Div") {
        Shape shape = layers::broadcast_shapes(name, a.t.shape, b.t.shape);
        std::vector<Var> vars = make_vars(static_cast<int>(shape.size()));
        Func f(name);
        f(vars) = truncating_div(layers::broadcast_access(a.t, as_exprs(vars)), layers::broadcast_access(b.t, as_exprs(vars)));
        t = {f, shape};
    } else {
        // Pow: computed in float (double for float64), cast back to the base's type.
        Shape shape = layers::broadcast_shapes(name, a.t.shape, b.t.shape);
        std::vector<Var> vars = make_vars(static_cast<int>(shape.size()));
        const Halide::Type ft = type == Halide::Float(64) ? Halide::Float(64) : Halide::Float(32);
        Expr p = Halide::cast(ft, layers::broadcast_access(a.t, as_exprs(vars)));
        Expr q = Halide::cast(ft, layers::broadcast_access(b.t, as_exprs(vars)));
        Func f(name);
        f(vars) = Halide::cast(type, Halide::pow(p, q));
        t = {f, shape};
    }
    t.type = type;
    define(n, t, layout);
}

// A pooling node's window (attributes normalized by shape inference).
layers::Pool2DParams pool_params(const Node &n) {
    const Dims k = n.get_ints("kernel_shape", {}), s = n.get_ints("strides", {}), d = n.get_ints("dilations", {}),
               p = n.get_ints("pads", {});
    layers::Pool2DParams params;
    params.kernel_y = static_cast<int>(k[0]), params.kernel_x = static_cast<int>(k[1]);
    params.stride_y = static_cast<int>(s[0]), params.stride_x = static_cast<int>(s[1]);
    params.dilation_y = static_cast<int>(d[0]), params.dilation_x = static_cast<int>(d[1]);
    params.pad_top = static_cast<int>(p[0]), params.pad_left = static_cast<int>(p[1]);
    params.pad_bottom = static_cast<int>(p[2]), params.pad_right = static_cast<int>(p[3]);
    params.ceil_mode = n.get_int("ceil_mode", 0) != 0;
    params.count_include_pad = n.get_int("count_include_pad", 0) != 0;
    return params;
}

// ONNX OIHW weights as the conv layers read them, (co, ci, kx, ky): O -> dimension 0,
// I -> 1, H -> 3, W -> 2.
const std::vector<int> kConvWeightLayout = {0, 1, 3, 2};

void Lowerer::lower_conv(const Node &n) {
    define(n, epilogue(n, conv_accumulation(n, 0, 1, 2, {}, {})), channels_innermost_layout(4));
}

// The accumulation of a convolution reading x, w (and bias) from the given inputs; x_map
// and w_map (value, output channel) turn 8-bit operands into zero-point-free int32 ones.
Tensor Lowerer::conv_accumulation(const Node &n, size_t x_input, size_t w_input, size_t bias_input,
                                  const std::function<Expr(Expr)> &x_map, const std::function<Expr(Expr, Expr)> &w_map,
                                  Halide::Type accumulator, Expr padding, const std::optional<Tensor> &bias_override) {
    const Value &xv = info(n.input(x_input)), &wv = info(n.input(w_input));
    const Dims k = n.get_ints("kernel_shape", {}), s = n.get_ints("strides", {}), d = n.get_ints("dilations", {}),
               p = n.get_ints("pads", {});
    const int64_t group = n.get_int("group", 1);
    layers::Conv2DParams params;
    params.stride_y = static_cast<int>(s[0]), params.stride_x = static_cast<int>(s[1]);
    params.dilation_y = static_cast<int>(d[0]), params.dilation_x = static_cast<int>(d[1]);
    params.pad_top = static_cast<int>(p[0]), params.pad_left = static_cast<int>(p[1]);
    params.pad_bottom = static_cast<int>(p[2]), params.pad_right = static_cast<int>(p[3]);
    params.groups = static_cast<int>(group);
    Tensor x = as_layout(get(n.input(x_input)), channels_innermost_layout(4)).t;
    if (x_map) {
        x = layers::map_elements("widen", func_name(stage(n) + "_x"), x, x_map);
        x.type = Halide::Int(32);
    }
    std::optional<Tensor> bias = bias_override;
    if (!bias && !n.input(bias_input).empty()) bias = operand_in_layout(n.input(bias_input), plain_layout(1));
    params.accumulator = accumulator;
    params.padding = padding;
    // OIHW weights as (co, ci, kx, ky), zero points removed where there are any.
    const int64_t cin_per_group = wv.shape[1];
    const bool byte_dot = accumulator == Halide::Int(32) && !x_map && !w_map && wv.constant && item_size(wv.dtype) == 1 &&
                          item_size(xv.dtype) == 1 && cin_per_group % 4 == 0;
    auto weights = [&]() {
        if (byte_dot) return dot_packed_weights(n.input(w_input));
        Tensor w = operand_in_layout(n.input(w_input), kConvWeightLayout);
        if (!w_map) return w;
        std::vector<Var> v = make_vars(4);
        Func f(func_name(stage(n) + "_wq"));
        f(v) = w_map(w(as_exprs(v)), v[0]);
        return Tensor{f, w.shape, Halide::Int(32)};
    };
    const int64_t cin = xv.shape[1], cout = wv.shape[0];
    const std::string name = stage(n);
    Tensor out;
    const bool pointwise = k == Dims{1, 1} && s == Dims{1, 1} && p == Dims{0, 0, 0, 0} && group == 1;
    if (group == cin && wv.shape[1] == 1 && cout % cin == 0 && group > 1) {
        // Depthwise: OIHW (C*M, 1, KH, KW) read as (co, kx, ky).
        Tensor w3 = weights();  // (co, 1, kx, ky)
        std::vector<Var> vars = make_vars(3);
        Func wf(func_name(name + "_w"));
        wf(vars) = w3({vars[0], 0, vars[1], vars[2]});
        Tensor wt{wf, {static_cast<int>(cout), static_cast<int>(k[1]), static_cast<int>(k[0])}, w3.type};
        out = layers::depthwise_conv2d(name + "_acc", x, wt, bias, params);
    } else if (pointwise) {
        Tensor w4 = weights();  // (co, ci, 1, 1)
        std::vector<Var> vars = make_vars(2);
        Func wf(func_name(name + "_w"));
        wf(vars) = w4({vars[0], vars[1], 0, 0});
        out = layers::pointwise_conv2d(name + "_acc", x, {wf, {static_cast<int>(cout), static_cast<int>(cin)}, w4.type}, bias, accumulator);
    } else {
        out = layers::conv2d(name + "_acc", x, weights(), bias, params);
    }
    return out;
}

// Quantized ops (layers/quantize.h). Integer products accumulate in int32 with the zero
// points subtracted from the widened operands; padding reads the zero point (0 after the
// subtraction), as ONNX specifies.
void Lowerer::lower_quantized(const Node &n) {
    const std::string &op = n.op;
    const std::string name = stage(n);
    if (op == "QuantizeLinear" || op == "DequantizeLinear") {
        Lowered x = get(n.input(0));
        const int rank = x.rank();
        // A dequantized graph output is made in the output's own layout: the 8-bit value is
        // relabeled (read across its layout) instead of the float result being transposed in
        // a pass of its own.
        if (op == "DequantizeLinear" && std::count(g_.outputs.begin(), g_.outputs.end(), n.outputs[0])) {
            x = as_layout(x, plain_layout(rank));
        }
        // A quantized image input is made channels-innermost, the order convolutions read:
        // the relabeling happens as it is quantized, not in a pass over the bytes of its own.
        if (op == "QuantizeLinear" && rank == 4 && std::count(g_.inputs.begin(), g_.inputs.end(), n.input(0))) {
            x = as_layout(x, channels_innermost_layout(4));
        }
        int64_t axis = n.get_int("axis", 1);
        if (axis < 0) axis += rank;
        // The axis matters only for per-axis parameters, which shape inference validated; a
        // per-tensor node may carry any axis (found by test/fuzz/quant).
        const int dim = axis >= 0 && axis < rank ? x.dim_of_axis[static_cast<size_t>(axis)] : 0;
        std::vector<Var> vars = make_vars(rank);
        const std::vector<Expr> coords = as_exprs(vars);
        Expr scale = qparam(n.input(1), coords, dim, Expr(1.0f));
        Expr zp = qparam(n.input(2), coords, dim, Halide::cast<uint8_t>(0));
        const Halide::Type type = halide_type(info(n.outputs[0]).dtype);
        Func f(name);
        Expr v = x.t(coords);
        Expr e = op == "QuantizeLinear" ? layers::quantize_value(Halide::cast<float>(v), scale, zp, type) : layers::dequantize_value(v, scale, zp);
        if (rank) f(vars) = e; else f() = e;
        define(n, Tensor{f, x.t.shape, type}, x.dim_of_axis);
    } else if (op == "ConvInteger" || op == "QLinearConv") {
        // ConvInteger(x, w, x_zero_point, w_zero_point); QLinearConv(x, x_scale, x_zero_point,
        // w, w_scale, w_zero_point, y_scale, y_zero_point, B).
        const bool qlinear = op == "QLinearConv";
        const std::string xz = n.input(qlinear ? 2 : 2), wz = n.input(qlinear ? 5 : 3);
        Expr x_zp = qparam(xz, {}, 0, Expr(0));
        Tensor acc;
        if (std::optional<Tensor> bias = qlinear ? byte_conv_bias(n) : std::nullopt) {
            // uint8 x int8 with symmetric weights: the products of the raw bytes accumulate in
            // int32 (a VNNI dot product), the input's zero point leaves through the bias, and
            // padding reads the zero point, as (x - zx) = 0 there.
            acc = conv_accumulation(n, 0, 3, 8, {}, {}, Halide::Int(32), x_zp, bias);
        } else {
            auto x_map = [=](Expr v) { return Halide::cast<int32_t>(v) - Halide::cast<int32_t>(x_zp); };
            auto w_map = [&, wz](Expr v, Expr co) {
                return Halide::cast<int32_t>(v) - Halide::cast<int32_t>(qparam(wz, {co}, 0, Expr(0)));
            };
            acc = conv_accumulation(n, 0, qlinear ? 3 : 1, qlinear ? 8 : 99, x_map, w_map);
        }
        Post post;
        if (qlinear) {
            post = [&](Expr v, const std::vector<Var> &vars) {
                return requantize(n, v, as_exprs(vars), 0, n.input(1), n.input(4), n.input(6), n.input(7));
            };
        }
        define(n, epilogue(n, acc, std::nullopt, post), channels_innermost_layout(4));
    } else if (op == "MatMulInteger" || op == "QLinearMatMul") {
        // MatMulInteger(a, b, a_zero_point, b_zero_point); QLinearMatMul(a, a_scale,
        // a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point).
        const bool qlinear = op == "QLinearMatMul";
        Tensor acc = matmul_accumulation(n, 0, qlinear ? 3 : 1, n.input(2), n.input(qlinear ? 5 : 3));
        Post post;
        if (qlinear) {
            post = [&](Expr v, const std::vector<Var> &vars) {
                return requantize(n, v, as_exprs(vars), 0, n.input(1), n.input(4), n.input(6), n.input(7));
            };
        }
        // megalide's QLinearMatMul may carry an int32 bias per column (input 8, see rules.h).
        std::optional<Tensor> bias;
        if (qlinear && !n.input(8).empty()) bias = operand_in_layout(n.input(8), plain_layout(1));
        define(n, epilogue(n, acc, bias, post), plain_layout(static_cast<int>(info(n.outputs[0]).shape.size())));
    } else if (op == "QLinearAdd" || op == "Requantize" || op == "QLinearAveragePool" || op == "QLinearGlobalAveragePool") {
        // megalide's quantized ops (rules.h): dequantize, the float op, quantize (by the output
        // scale's reciprocal) — the arithmetic of the DequantizeLinear -> op -> QuantizeLinear
        // they replace up to a tie rounded the other way; the floats live in registers only.
        const bool add = op == "QLinearAdd";
        const size_t ys = add ? 6 : 3, yz = add ? 7 : 4;
        const Halide::Type type = halide_type(info(n.outputs[0]).dtype);
        auto dequantized = [&](const Lowered &x, size_t i, const std::string &suffix) {
            std::vector<Var> vars = make_vars(x.rank());
            Func f(func_name(name + suffix));
            // strict_float: no contraction of the scaling into the op's adds (a fused
            // multiply-add in one schedule and not another would round differently).
            f(vars) = Halide::strict_float(layers::dequantize_value(x.t(as_exprs(vars)), qparam(n.input(i + 1), {}, 0, Expr(1.0f)),
                                                                    qparam(n.input(i + 2), {}, 0, Expr(0))));
            return Lowered{Tensor{f, x.t.shape, Halide::Float(32)}, x.dim_of_axis};
        };
        Lowered real;
        if (add) {
            // The bytes are relabeled (sharing the relayout other readers of the value use),
            // then dequantized.
            Lowered a = get(n.input(0)), b = get(n.input(3));
            const int rank = std::max(a.rank(), b.rank());
            std::vector<int> layout = plain_layout(rank);
            if (rank == 4 && (a.dim_of_axis == channels_innermost_layout(4) || b.dim_of_axis == channels_innermost_layout(4))) {
                layout = channels_innermost_layout(4);
            }
            a = dequantized(as_layout(expand_rank(a, rank), layout), 0, "_a");
            b = dequantized(as_layout(expand_rank(b, rank), layout), 3, "_b");
            real = {layers::add(name + "_real", a.t, b.t), layout};
        } else if (op == "Requantize") {
            real = dequantized(get(n.input(0)), 0, "_real");
        } else {
            Lowered x = dequantized(get(n.input(0)), 0, "_x");
            Tensor xc = as_layout(x, channels_innermost_layout(4)).t;
            if (op == "QLinearGlobalAveragePool") {
                real = {layers::global_avg_pool2d(name + "_real", xc), channels_innermost_layout(4)};
            } else {
                real = {layers::avg_pool2d(name + "_real", xc, pool_params(n)), channels_innermost_layout(4)};
            }
        }
        std::vector<Var> vars = make_vars(real.rank());
        Func f(name);
        // The output scale's reciprocal is loop-invariant: one division per call, not per element.
        Expr inverse = 1.0f / qparam(n.input(ys), {}, 0, Expr(1.0f));
        f(vars) = layers::quantize_by_reciprocal(real.t(as_exprs(vars)), inverse, qparam(n.input(yz), {}, 0, Expr(0)), type);
        define(n, Tensor{f, real.t.shape, type}, real.dim_of_axis);
    } else if (op == "DynamicQuantizeLinear") {
        // y_scale = (max(0, max x) - min(0, min x)) / 255, y_zero_point = saturate(round(-min / y_scale)),
        // y = saturate(round(x / y_scale) + y_zero_point), all uint8 (ONNX's definition).
        Lowered x = get(n.input(0));
        std::vector<Halide::Range> ranges;
        for (int e : x.t.shape) ranges.emplace_back(0, e);
        Halide::RDom r(ranges);
        std::vector<Expr> at;
        for (int d = 0; d < r.dimensions(); ++d) at.push_back(r[d]);
        Func lo(func_name(name + "_min")), hi(func_name(name + "_max")), scale(func_name(name + "_scale")), zp(func_name(name + "_zero_point"));
        lo() = Halide::min(0.0f, Halide::minimum(x.t(at)));
        hi() = Halide::max(0.0f, Halide::maximum(x.t(at)));
        scale() = Halide::strict_float((hi() - lo()) / 255.0f);
        zp() = Halide::saturating_cast<uint8_t>(Halide::strict_float(Halide::round(Halide::clamp(0.0f - lo() / scale(), 0.0f, 255.0f))));
        std::vector<Var> vars = make_vars(x.rank());
        Func y(name);
        y(vars) = layers::quantize_value(x.t(as_exprs(vars)), scale(), zp(), Halide::UInt(8));
        define(n, Tensor{y, x.t.shape, Halide::UInt(8)}, x.dim_of_axis);
        if (n.outputs.size() > 1 && !n.outputs[1].empty()) values_[n.outputs[1]] = {Tensor{scale, {}, Halide::Float(32)}, {}};
        if (n.outputs.size() > 2 && !n.outputs[2].empty()) values_[n.outputs[2]] = {Tensor{zp, {}, Halide::UInt(8)}, {}};
    }
}

// For a QLinearConv of uint8 x and int8 weights with zero points 0 (the symmetric scheme
// megalide quantize writes), the bias that makes sum(x * w) equal sum((x - zx) * w):
// B(c) - zx * sum(w(c, ...)), precomputed on the host when x's zero point, the weights and
// the bias are constants, else a per-channel reduction. nullopt when the op does not qualify.
std::optional<Tensor> Lowerer::byte_conv_bias(const Node &n) {
    const Value &x = info(n.input(0)), &w = info(n.input(3));
    if (x.dtype != DType::UInt8 || w.dtype != DType::Int8) return std::nullopt;
    if (!n.input(5).empty()) {
        if (!info(n.input(5)).constant) return std::nullopt;
        for (double z : info(n.input(5)).constant->to_doubles()) if (z != 0) return std::nullopt;
    }
    const int64_t cout = w.shape[0], per_channel = w.shape[1] * w.shape[2] * w.shape[3];
    const std::string xz = n.input(2), b = n.input(8);
    const bool constant = (xz.empty() || info(xz).constant) && w.constant && (b.empty() || info(b).constant);
    if (constant) {
        const double zx = xz.empty() ? 0 : info(xz).constant->to_doubles().at(0);
        const std::vector<double> wv = w.constant->to_doubles();
        const std::vector<double> bv = b.empty() ? std::vector<double>(static_cast<size_t>(cout), 0) : info(b).constant->to_doubles();
        Halide::Buffer<int32_t> folded(static_cast<int>(cout));
        for (int64_t c = 0; c < cout; ++c) {
            double sum = 0;
            for (int64_t k = 0; k < per_channel; ++k) sum += wv[static_cast<size_t>(c * per_channel + k)];
            folded(static_cast<int>(c)) = static_cast<int32_t>(bv[static_cast<size_t>(c)] - zx * sum);
        }
        return tensor_from_buffer(func_name(stage(n) + "_bias"), folded);
    }
    Tensor wt = operand_in_layout(n.input(3), kConvWeightLayout);  // (co, ci, kx, ky)
    Halide::RDom r(0, wt.dim(1), 0, wt.dim(2), 0, wt.dim(3));
    Var c("c");
    Func wsum(func_name(stage(n) + "_wsum")), folded(func_name(stage(n) + "_bias"));
    wsum(c) = 0;
    wsum(c) += Halide::cast<int32_t>(wt({c, r.x, r.y, r.z}));
    Expr zx = Halide::cast<int32_t>(qparam(xz, {}, 0, Expr(0)));
    Expr bias = b.empty() ? Expr(0) : operand_in_layout(b, plain_layout(1))({c});
    folded(c) = bias - zx * wsum(c);
    return Tensor{folded, {static_cast<int>(cout)}, Halide::Int(32)};
}

// The int32 accumulation of a matrix product of 8-bit operands with their zero points
// subtracted: a's per row (its second-to-last axis) or per tensor, b's per column.
Tensor Lowerer::matmul_accumulation(const Node &n, size_t a_input, size_t b_input, const std::string &a_zero_point,
                                    const std::string &b_zero_point) {
    Tensor a = as_layout(get(n.input(a_input)), plain_layout(get(n.input(a_input)).rank())).t;
    Tensor b = as_layout(get(n.input(b_input)), plain_layout(get(n.input(b_input)).rank())).t;
    auto widen = [&](const Tensor &t, const std::string &zero_point, int dim, const std::string &suffix) {
        std::vector<Var> vars = make_vars(t.rank());
        const std::vector<Expr> coords = as_exprs(vars);
        Func f(func_name(stage(n) + suffix));
        f(vars) = Halide::cast<int32_t>(t(coords)) - Halide::cast<int32_t>(qparam(zero_point, coords, std::min(dim, t.rank() - 1), Expr(0)));
        return Tensor{f, t.shape, Halide::Int(32)};
    };
    return layers::matmul(stage(n) + "_acc", widen(a, a_zero_point, 1, "_a"), widen(b, b_zero_point, 0, "_b"));
}

void Lowerer::lower_pool(const Node &n) {
    const layers::Pool2DParams params = pool_params(n);
    Tensor x = as_layout(get(n.input(0)), channels_innermost_layout(4)).t;
    if (!x.type.is_float()) {
        if (n.op != "MaxPool") fail(n, "average pooling needs a float input");
        // Integer max pooling: pool in float (exact for 8-bit values), cast back.
        Tensor xf = layers::map_elements("cast", stage(n) + "_f32", x, [](Expr v) { return Halide::cast<float>(v); });
        Tensor pooled = layers::max_pool2d(stage(n) + "_pool", xf, params);
        Tensor back = layers::map_elements("cast", stage(n), pooled, [&](Expr v) { return Halide::cast(x.type, v); });
        back.type = x.type;
        define(n, back, channels_innermost_layout(4));
        return;
    }
    Tensor out = n.op == "MaxPool" ? layers::max_pool2d(stage(n), x, params) : layers::avg_pool2d(stage(n), x, params);
    define(n, out, channels_innermost_layout(4));
}

void Lowerer::lower_gather(const Node &n) {
    const Value &xv = info(n.input(0)), &iv = info(n.input(1));
    const int rank = static_cast<int>(xv.shape.size()), q = static_cast<int>(iv.shape.size());
    const int axis = static_cast<int>(n.get_int("axis", 0) < 0 ? n.get_int("axis", 0) + rank : n.get_int("axis", 0));
    Tensor x = as_layout(get(n.input(0)), plain_layout(rank)).t;
    Tensor idx = as_layout(get(n.input(1)), plain_layout(q)).t;
    const Value &ov = info(n.outputs[0]);
    const int out_rank = static_cast<int>(ov.shape.size());
    std::vector<Var> vars = make_vars(out_rank);
    // Output ONNX axes: data[:axis], indices..., data[axis+1:]; Halide dims are reversed.
    auto var_of_axis = [&](int a) { return Expr(vars[static_cast<size_t>(out_rank - 1 - a)]); };
    std::vector<Expr> idx_coords(static_cast<size_t>(q));
    for (int j = 0; j < q; ++j) idx_coords[static_cast<size_t>(q - 1 - j)] = var_of_axis(axis + j);
    const int extent = static_cast<int>(xv.shape[static_cast<size_t>(axis)]);
    Expr i = Halide::cast<int>(idx(idx_coords));
    i = Halide::clamp(Halide::select(i < 0, i + extent, i), 0, extent - 1);
    std::vector<Expr> coords(static_cast<size_t>(rank));
    for (int a = 0; a < rank; ++a) {
        Expr c = a < axis ? var_of_axis(a) : a == axis ? i : var_of_axis(a + q - 1);
        coords[static_cast<size_t>(rank - 1 - a)] = c;
    }
    Func f(stage(n));
    f(vars) = x(coords);
    Tensor t{f, halide_shape(ov.shape, plain_layout(out_rank)), x.type};
    define(n, t, plain_layout(out_rank));
}

void Lowerer::lower_slice(const Node &n) {
    // Recover start and step per axis from the constant operands (shape inference validated them).
    const Value &xv = info(n.input(0)), &ov = info(n.outputs[0]);
    const int rank = static_cast<int>(xv.shape.size());
    Dims starts, ends, axes, steps;
    auto ints = [&](size_t i) { return info(n.input(i)).constant->to_int64s(); };
    if (g_.opset >= 10) {
        starts = ints(1), ends = ints(2);
        if (!n.input(3).empty()) axes = ints(3);
        if (!n.input(4).empty()) steps = ints(4);
    } else {
        starts = n.get_ints("starts", {}), ends = n.get_ints("ends", {}), axes = n.get_ints("axes", {});
    }
    if (axes.empty()) for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    Dims start(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
    for (size_t i = 0; i < starts.size(); ++i) {
        const int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i], dim = xv.shape[static_cast<size_t>(a)];
        int64_t st = starts[i] < 0 ? starts[i] + dim : starts[i];
        st = steps[i] > 0 ? std::clamp<int64_t>(st, 0, dim) : std::clamp<int64_t>(st, 0, dim - 1);
        start[static_cast<size_t>(a)] = st, step[static_cast<size_t>(a)] = steps[i];
    }
    Tensor x = as_layout(get(n.input(0)), plain_layout(rank)).t;
    std::vector<Var> vars = make_vars(rank);
    std::vector<Expr> coords(static_cast<size_t>(rank));
    for (int a = 0; a < rank; ++a) {
        const size_t d = static_cast<size_t>(rank - 1 - a);
        coords[d] = static_cast<int>(start[static_cast<size_t>(a)]) + vars[d] * static_cast<int>(step[static_cast<size_t>(a)]);
    }
    Func f(stage(n));
    f(vars) = x(coords);
    define(n, {f, halide_shape(ov.shape, plain_layout(rank)), x.type}, plain_layout(rank));
}

void Lowerer::lower_node(const Node &n) {
    const std::string &op = n.op;
    const std::string name = stage(n);
    const Value &out = info(n.outputs.at(0));
    const int out_rank = static_cast<int>(out.shape.size());
    auto unary = [&](const std::function<Expr(Expr)> &fn) {
        Lowered x = get(n.input(0));
        Tensor t = layers::map_elements(op, name, x.t, fn);
        t.type = x.t.type;
        define(n, t, x.dim_of_axis);
    };
    auto float_only = [&] {
        if (!halide_type(info(n.input(0)).dtype).is_float()) {
            fail(n, "input type " + to_string(info(n.input(0)).dtype) + " is not supported (float only)");
        }
    };
    if (op == "Identity") {
        define(n, get(n.input(0)).t, get(n.input(0)).dim_of_axis);
    } else if (op == "Relu") {
        unary([](Expr v) { return Halide::max(v, Halide::cast(v.type(), 0)); });
    } else if (op == "Clip") {
        const Halide::Type type = halide_type(info(n.input(0)).dtype);
        const double lo_default = type.is_float() ? -INFINITY : static_cast<double>(std::numeric_limits<int64_t>::min());
        const double hi_default = type.is_float() ? INFINITY : static_cast<double>(std::numeric_limits<int64_t>::max());
        const float lo = clip_bound(n, 1, "min", static_cast<float>(lo_default)), hi = clip_bound(n, 2, "max", static_cast<float>(hi_default));
        unary([=](Expr v) {
            if (v.type().is_float()) return Halide::min(Halide::max(v, Halide::cast(v.type(), lo)), Halide::cast(v.type(), hi));
            Expr wide = Halide::cast<double>(v);
            return Halide::cast(v.type(), Halide::min(Halide::max(wide, Expr(static_cast<double>(lo))), Expr(static_cast<double>(hi))));
        });
    } else if (op == "Sigmoid" || op == "Tanh" || op == "Sqrt" || op == "Exp" || op == "Erf" || op == "LeakyRelu" ||
               op == "HardSigmoid" || op == "HardSwish" || op == "Gelu") {
        float_only();
        Lowered x = get(n.input(0));
        Tensor t;
        if (op == "Sigmoid") t = layers::sigmoid(name, x.t);
        else if (op == "Tanh") t = layers::tanh(name, x.t);
        else if (op == "Sqrt") t = layers::sqrt(name, x.t);
        else if (op == "Exp") t = layers::exp(name, x.t);
        else if (op == "Erf") t = layers::erf(name, x.t);
        else if (op == "LeakyRelu") t = layers::leaky_relu(name, x.t, static_cast<float>(n.get_float("alpha", 0.01)));
        else if (op == "HardSigmoid") t = layers::hardsigmoid(name, x.t, static_cast<float>(n.get_float("alpha", 0.2)), static_cast<float>(n.get_float("beta", 0.5)));
        else if (op == "HardSwish") t = layers::hardswish(name, x.t);
        else t = n.get_string("approximate", "none") == "tanh" ? layers::gelu_tanh(name, x.t) : layers::gelu_erf(name, x.t);
        define(n, t, x.dim_of_axis);
    } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Mod") {
        lower_binary(n);
    } else if (op == "Cast") {
        const Halide::Type to = halide_type(out.dtype);
        const bool to_bool = out.dtype == DType::Bool;
        unary([=](Expr v) { return to_bool ? Halide::cast(to, v != Halide::cast(v.type(), 0)) : Halide::cast(to, v); });
        values_[n.outputs[0]].t.type = to;
    } else if (op == "Conv") {
        float_only();
        lower_conv(n);
    } else if (op == "MaxPool" || op == "AveragePool") {
        lower_pool(n);
    } else if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
        float_only();
        Tensor x = as_layout(get(n.input(0)), channels_innermost_layout(4)).t;
        define(n, op == "GlobalMaxPool" ? layers::global_max_pool2d(name, x) : layers::global_avg_pool2d(name, x),
               channels_innermost_layout(4));
    } else if (op == "BatchNormalization") {
        float_only();
        const int rank = static_cast<int>(info(n.input(0)).shape.size());
        Tensor x = as_layout(get(n.input(0)), channels_innermost_layout(rank)).t;
        auto param = [&](size_t i) { return operand_in_layout(n.input(i), plain_layout(1)); };
        define(n, layers::batchnorm(name, x, param(1), param(2), param(3), param(4), static_cast<float>(n.get_float("epsilon", 1e-5))),
               channels_innermost_layout(rank));
    } else if (op == "Gemm") {
        float_only();
        Tensor a = as_layout(get(n.input(0)), plain_layout(2)).t;
        layers::GemmParams p{n.get_int("transA", 0) != 0, n.get_int("transB", 0) != 0,
                             static_cast<float>(n.get_float("alpha", 1.0)), static_cast<float>(n.get_float("beta", 1.0))};
        Tensor b;
        if (p.trans_b && info(n.input(1)).constant && !values_.count(n.input(1))) {
            // A constant B^T (PyTorch's Linear weight) is transposed once on the host, so the
            // product reads output features contiguously.
            b = constant_in_layout(n.input(1), {0, 1});
            p.trans_b = false;
        } else {
            b = as_layout(get(n.input(1)), plain_layout(2)).t;
        }
        std::optional<Tensor> c;
        if (!n.input(2).empty()) c = as_layout(get(n.input(2)), plain_layout(info(n.input(2)).shape.size())).t;
        Tensor g = layers::gemm(name + "_gemm", a, b, c, p);
        Tensor out = epilogue(n, g);
        accumulators_[out.name()] = name + "_gemm_acc";
        define(n, out, plain_layout(2));
    } else if (op == "QuantizeLinear" || op == "DequantizeLinear" || op == "ConvInteger" || op == "QLinearConv" ||
               op == "MatMulInteger" || op == "QLinearMatMul" || op == "DynamicQuantizeLinear" || op == "QLinearAdd" ||
               op == "Requantize" || op == "QLinearAveragePool" || op == "QLinearGlobalAveragePool") {
        lower_quantized(n);
    } else if (op == "MatMul") {
        float_only();
        Lowered a = get(n.input(0)), b = get(n.input(1));
        // transA / transB swap an operand's last two axes: a relabeling, no data moves.
        auto swap_last_two = [](Lowered v) {
            std::swap(v.dim_of_axis[v.dim_of_axis.size() - 1], v.dim_of_axis[v.dim_of_axis.size() - 2]);
            return v;
        };
        if (n.get_int("transA", 0) && a.rank() >= 2) a = swap_last_two(a);
        if (n.get_int("transB", 0) && b.rank() >= 2) b = swap_last_two(b);
        Tensor t = layers::matmul(name + "_acc", as_layout(a, plain_layout(a.rank())).t, as_layout(b, plain_layout(b.rank())).t);
        std::optional<Tensor> bias;  // fused by fuse_bias_activation: along the last axis
        if (!n.input(2).empty()) bias = operand_in_layout(n.input(2), plain_layout(1));
        define(n, epilogue(n, t, bias), plain_layout(out_rank));
    } else if (op == "Softmax" || op == "LogSoftmax") {
        float_only();
        Lowered x = get(n.input(0));
        const int rank = x.rank();
        int64_t axis = n.get_int("axis", g_.opset >= 13 ? -1 : 1);
        if (axis < 0) axis += rank;
        const bool log_form = op == "LogSoftmax";
        if (g_.opset >= 13 || axis == rank - 1) {
            Tensor t = log_form ? layers::log_softmax(name, x.t, x.dim_of_axis[static_cast<size_t>(axis)])
                                : layers::softmax(name, x.t, x.dim_of_axis[static_cast<size_t>(axis)]);
            define(n, t, x.dim_of_axis);
        } else {
            // Before opset 13: softmax over all axes from `axis` on, as one flattened axis.
            Tensor p = as_layout(x, plain_layout(rank)).t;
            Tensor flat = layers::flatten(name + "_flat", p, rank - static_cast<int>(axis));
            Tensor s = log_form ? layers::log_softmax(name + "_2d", flat, 0) : layers::softmax(name + "_2d", flat, 0);
            define(n, layers::reshape(name, s, p.shape), plain_layout(rank));
        }
    } else if (op == "LayerNormalization") {
        float_only();
        Lowered x = get(n.input(0));
        const int rank = x.rank();
        int64_t axis = n.get_int("axis", -1);
        if (axis < 0) axis += rank;
        const int norm_dims = rank - static_cast<int>(axis);
        Tensor xp = as_layout(x, plain_layout(rank)).t;
        Tensor gamma = as_layout(get(n.input(1)), plain_layout(norm_dims)).t;
        std::optional<Tensor> beta;
        if (!n.input(2).empty()) beta = as_layout(get(n.input(2)), plain_layout(norm_dims)).t;
        const float epsilon = static_cast<float>(n.get_float("epsilon", 1e-5));
        define(n, layers::layernorm(name, xp, gamma, beta, norm_dims, epsilon), plain_layout(rank));
        if (n.outputs.size() > 1) {
            // The optional Mean and InvStdDev outputs (keepdims), from their own reductions.
            std::vector<int> dims(static_cast<size_t>(norm_dims));
            for (int d = 0; d < norm_dims; ++d) dims[static_cast<size_t>(d)] = d;
            Tensor mean = layers::reduce_mean(func_name(n.outputs[1]), xp, dims, true);
            values_[n.outputs[1]] = {mean, plain_layout(rank)};
            if (n.outputs.size() > 2 && !n.outputs[2].empty()) {
                Tensor dev = layers::sub(name + "_dev", xp, mean);
                Tensor sq = layers::mul(name + "_dev2", dev, dev);
                Tensor var = layers::reduce_mean(name + "_var_out", sq, dims, true);
                Tensor inv = layers::map_elements("LayerNormalization", func_name(n.outputs[2]), var,
                                                  [=](Expr v) { return 1.0f / Halide::sqrt(v + epsilon); });
                values_[n.outputs[2]] = {inv, plain_layout(rank)};
            }
        }
    } else if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax") {
        Lowered x = get(n.input(0));
        const int rank = x.rank();
        if (out.shape == info(n.input(0)).shape && n.get_int("noop_with_empty_axes", 0)) {
            define(n, x.t, x.dim_of_axis);
            return;
        }
        Dims axes = op == "ReduceSum" && g_.opset >= 13 ? (n.input(1).empty() ? Dims{} : info(n.input(1)).constant->to_int64s())
                                                        : n.get_ints("axes", {});
        std::vector<int> dims;
        for (int64_t a : axes) dims.push_back(rank - 1 - static_cast<int>(a < 0 ? a + rank : a));
        const bool keep = n.get_int("keepdims", 1) != 0;
        Tensor xp = as_layout(x, plain_layout(rank)).t;
        if (!xp.type.is_float()) {
            if (op != "ReduceSum" && op != "ReduceMax") fail(n, "integer input is supported for ReduceSum and ReduceMax only");
        }
        Tensor t = op == "ReduceMean" ? layers::reduce_mean(name, xp, dims, keep)
                   : op == "ReduceSum" ? layers::reduce_sum(name, xp, dims, keep)
                                       : layers::reduce_max(name, xp, dims, keep);
        if (!xp.type.is_float()) fail(n, "integer reductions are not supported");
        define(n, t, plain_layout(out_rank));
    } else if (op == "Transpose") {
        Lowered x = get(n.input(0));
        Dims perm = n.get_ints("perm", {});
        if (perm.empty()) for (int i = x.rank(); i-- > 0;) perm.push_back(i);
        std::vector<int> layout(perm.size());
        for (size_t i = 0; i < perm.size(); ++i) layout[i] = x.dim_of_axis[static_cast<size_t>(perm[i])];
        define(n, x.t, layout);  // a relabeling: no data moves
    } else if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") {
        Lowered x = get(n.input(0));
        Tensor xp = as_layout(x, plain_layout(x.rank())).t;
        Tensor t = layers::reshape(name, xp, halide_shape(out.shape, plain_layout(out_rank)));
        t.type = xp.type;
        define(n, t, plain_layout(out_rank));
    } else if (op == "Concat") {
        Lowered first = get(n.input(0));
        int64_t axis = n.get_int("axis", 0);
        if (axis < 0) axis += first.rank();
        std::vector<Tensor> parts;
        for (const std::string &in : n.inputs) parts.push_back(as_layout(get(in), first.dim_of_axis).t);
        Tensor t = layers::concat(name, parts, first.dim_of_axis[static_cast<size_t>(axis)]);
        t.type = first.t.type;
        define(n, t, first.dim_of_axis);
    } else if (op == "Pad") {
        const int rank = out_rank;
        Dims pads = g_.opset >= 11 ? info(n.input(1)).constant->to_int64s() : n.get_ints("pads", {});
        float value = static_cast<float>(n.get_float("value", 0.0));
        if (g_.opset >= 11 && !n.input(2).empty()) {
            if (!info(n.input(2)).constant) fail(n, "constant_value must be a constant");
            value = static_cast<float>(info(n.input(2)).constant->to_doubles().at(0));
        }
        std::vector<int> before(static_cast<size_t>(rank)), after(static_cast<size_t>(rank));
        for (int a = 0; a < rank; ++a) {
            before[static_cast<size_t>(rank - 1 - a)] = static_cast<int>(pads[static_cast<size_t>(a)]);
            after[static_cast<size_t>(rank - 1 - a)] = static_cast<int>(pads[static_cast<size_t>(a + rank)]);
        }
        const std::string mode = n.get_string("mode", "constant");
        const layers::PadMode m = mode == "edge" ? layers::PadMode::Edge : mode == "reflect" ? layers::PadMode::Reflect : layers::PadMode::Constant;
        Tensor xp = as_layout(get(n.input(0)), plain_layout(rank)).t;
        Tensor t = layers::pad(name, xp, before, after, m, value);
        if (!xp.type.is_float()) {
            Tensor cast = layers::map_elements("pad", name + "_typed", t, [&](Expr v) { return Halide::cast(xp.type, v); });
            t = cast;
        }
        t.type = xp.type;
        define(n, t, plain_layout(rank));
    } else if (op == "Gather") {
        lower_gather(n);
    } else if (op == "Slice") {
        lower_slice(n);
    } else {
        fail(n, "no lowering for op '" + op + "'");
    }
}

}  // namespace

LoweredGraph lower(const Graph &graph, const LowerOptions &options) { return Lowerer(graph, options).run(); }

void schedule_stages_at_root(LoweredGraph &lowered) {
    std::set<std::string> outputs;
    std::vector<Halide::Internal::Function> roots;
    for (const Func &f : lowered.outputs) {
        outputs.insert(f.name());
        roots.push_back(f.function());
    }
    std::set<std::string> node_outputs;
    for (const auto &[value, f] : lowered.stages) node_outputs.insert(f.name());
    // Node outputs and every reduction inside a layer (norm statistics, softmax sums, conv
    // accumulators) at root: nothing is recomputed per element of a consumer.
    for (const auto &[name, function] : Halide::Internal::build_environment(roots)) {
        if (outputs.count(name)) continue;
        if (node_outputs.count(name) || function.has_update_definition()) Func(function).compute_root();
    }
}

namespace {

void check_buffer(const std::string &what, const Halide::Buffer<> &b, DType dtype, const Dims &shape) {
    bool ok = b.defined() && b.type() == halide_type(dtype) && b.dimensions() == static_cast<int>(shape.size());
    for (int d = 0; ok && d < b.dimensions(); ++d) {
        ok = b.dim(d).min() == 0 && b.dim(d).extent() == shape[shape.size() - 1 - static_cast<size_t>(d)];
    }
    if (!ok) {
        Dims got;
        for (int d = b.dimensions(); d-- > 0;) got.push_back(b.dim(d).extent());
        throw Error(what + " must be " + describe(dtype, shape) + ", got a " + Halide::type_to_c_type(b.type(), false) +
                    " buffer of shape " + describe(dtype, got).substr(to_string(dtype).size()));
    }
}

}  // namespace

void run_buffers(LoweredGraph &lowered, const std::vector<Halide::Buffer<>> &inputs,
                 std::vector<Halide::Buffer<>> &outputs) {
    if (inputs.size() != lowered.inputs.size() || outputs.size() != lowered.outputs.size()) {
        throw Error("the graph has " + std::to_string(lowered.inputs.size()) + " inputs and " +
                    std::to_string(lowered.outputs.size()) + " outputs; got " + std::to_string(inputs.size()) +
                    " and " + std::to_string(outputs.size()));
    }
    // The calling convention of an AOT library: a user context, the inputs, the outputs.
    Halide::JITUserContext context;
    Halide::JITUserContext *context_ptr = &context;
    std::vector<const void *> argv = {&context_ptr};
    for (size_t i = 0; i < inputs.size(); ++i) {
        check_buffer("input '" + lowered.input_names[i] + "'", inputs[i], lowered.input_dtypes[i], lowered.input_shapes[i]);
        argv.push_back(inputs[i].raw_buffer());
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
        check_buffer("output '" + lowered.output_names[i] + "'", outputs[i], lowered.output_dtypes[i], lowered.output_shapes[i]);
        argv.push_back(outputs[i].raw_buffer());
    }
    compile_jit(lowered);
    const int status = lowered.callable->call_argv_fast(argv.size(), argv.data());
    if (status != 0) throw Error("the compiled pipeline failed with Halide error code " + std::to_string(status));
}

void compile_jit(LoweredGraph &lowered) {
    // Halide's JIT shares process-wide state (LLVM, the runtime modules): one compilation at
    // a time. The lock also makes the check-then-set of lowered.callable safe.
    static std::mutex jit_mutex;
    std::lock_guard<std::mutex> lock(jit_mutex);
    if (lowered.callable) return;
    std::vector<Halide::Argument> arguments(lowered.inputs.begin(), lowered.inputs.end());
    lowered.callable = std::make_shared<const Halide::Callable>(
        lowered.pipeline.compile_to_callable(arguments, Halide::get_jit_target_from_environment()));
}

std::vector<HostArray> run(LoweredGraph &lowered, const std::vector<HostArray> &inputs) {
    if (inputs.size() != lowered.inputs.size()) {
        throw Error("the graph has " + std::to_string(lowered.inputs.size()) + " inputs, " +
                    std::to_string(inputs.size()) + " were given");
    }
    std::vector<Halide::Buffer<>> in_buffers;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const HostArray &a = inputs[i];
        if (a.dtype != lowered.input_dtypes[i] || a.shape != lowered.input_shapes[i]) {
            throw Error("input '" + lowered.input_names[i] + "' must be " +
                        describe(lowered.input_dtypes[i], lowered.input_shapes[i]) + ", got " + describe(a.dtype, a.shape));
        }
        // A view of the host array's memory (run() does not write inputs).
        std::vector<int> sizes = halide_shape(a.shape, plain_layout(static_cast<int>(a.shape.size())));
        in_buffers.emplace_back(halide_type(a.dtype), const_cast<uint8_t *>(a.bytes.data()), sizes);
    }
    std::vector<HostArray> results(lowered.outputs.size());
    std::vector<Halide::Buffer<>> outs;
    for (size_t i = 0; i < lowered.outputs.size(); ++i) {
        HostArray &r = results[i];
        r.dtype = lowered.output_dtypes[i];
        r.shape = lowered.output_shapes[i];
        r.bytes.resize(static_cast<size_t>(r.element_count()) * item_size(r.dtype));
        outs.emplace_back(halide_type(r.dtype), r.bytes.data(), halide_shape(r.shape, plain_layout(static_cast<int>(r.shape.size()))));
    }
    run_buffers(lowered, in_buffers, outs);
    return results;
}

}  // namespace megalide
