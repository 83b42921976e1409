// The lowering's state and the helpers every op family's lower function uses (internal to
// src/lower and src/ops): values lowered so far with their layouts, relayouts, stage names,
// constants, epilogues and quantization parameters. lower.h is the public interface.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "megalide/error.h"
#include "megalide/layers.h"
#include "megalide/layers/quantize.h"
#include "megalide/lower/lower.h"
#include "megalide/stage_role.h"

namespace megalide {

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

inline std::vector<int> plain_layout(int rank) {
    std::vector<int> m(static_cast<size_t>(rank));
    for (int a = 0; a < rank; ++a) m[static_cast<size_t>(a)] = rank - 1 - a;
    return m;
}

// Channels innermost: axis 1 (C) -> dim 0, axis 0 (N) -> outermost, spatial axes reversed
// in between; for rank 4 that is (c, x, y, n).
inline std::vector<int> channels_innermost_layout(int rank) {
    std::vector<int> m(static_cast<size_t>(rank));
    m[0] = rank - 1;
    m[1] = 0;
    for (int a = 2; a < rank; ++a) m[static_cast<size_t>(a)] = rank - a;
    return m;
}

inline Shape halide_shape(const Dims &onnx_shape, const std::vector<int> &layout) {
    Shape s(onnx_shape.size());
    for (size_t a = 0; a < onnx_shape.size(); ++a) s[static_cast<size_t>(layout[a])] = static_cast<int>(onnx_shape[a]);
    return s;
}

class Lowerer {
public:
    Lowerer(const Graph &g, const LowerOptions &options) : g_(g), options_(options) {}

    LoweredGraph run() {
        LoweredGraph out;
        StageRecorder recorder(facts_);
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
            attributed_.insert(t.name());
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
            attribute_to_node(n);
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
            record_stage(f, StageRole::Layer).node = f.name();
            funcs.push_back(f);
        }
        out.pipeline = Halide::Pipeline(funcs);
        out.accumulators = accumulators_;
        out.facts = facts_;
        for (const auto &[stage_name, acc] : accumulators_) {
            for (const auto &[value, f] : out.stages) {
                if (f.name() == stage_name) out.shapes[acc] = out.shapes[stage_name];
            }
        }
        return out;
    }

    // The lowering's state, read by the op families' lower functions.
    const Graph &g_;
    const LowerOptions &options_;
    std::map<std::string, Lowered> values_;
    std::map<std::pair<std::string, std::vector<int>>, Lowered> relayouts_;
    std::set<std::string> used_names_;
    std::map<std::string, std::string> stage_names_;
    std::map<std::string, std::string> accumulators_;  // epilogue stage -> accumulator Func
    StageFactsMap facts_;                               // what each Func is for (stage_role.h)
    std::set<std::string> attributed_;                  // Funcs whose node is known
    // Run-time fixed-point multipliers (Q31 fraction, shift) by their scales (runtime_multiplier).
    std::map<std::string, std::pair<Halide::Func, Halide::Func>> runtime_multipliers_;

    // Values lowering makes for a value rather than for one node: readers in several nodes
    // share them.
    static bool shared(StageRole role) {
        return role == StageRole::Input || role == StageRole::Constant || role == StageRole::Relayout ||
               role == StageRole::PackedOperand;
    }

    // Records which node made each new Func: everything reachable from the node's outputs
    // that no earlier node made and that is not shared. Funcs a layer did not record get the
    // role Layer (the node's output) or Intermediate.
    void attribute_to_node(const Node &n) {
        const std::string owner = values_.at(n.outputs.at(0)).t.name();
        std::vector<Halide::Internal::Function> work;
        for (const std::string &o : n.outputs) {
            if (!o.empty() && values_.count(o)) work.push_back(values_.at(o).t.func.function());
        }
        while (!work.empty()) {
            const Halide::Internal::Function f = work.back();
            work.pop_back();
            if (!attributed_.insert(f.name()).second) continue;
            auto recorded = facts_.find(f.name());
            if (recorded == facts_.end()) {
                const bool output = std::any_of(n.outputs.begin(), n.outputs.end(), [&](const std::string &o) {
                    return !o.empty() && values_.count(o) && values_.at(o).t.name() == f.name();
                });
                recorded = facts_.emplace(f.name(), StageFacts{}).first;
                recorded->second.role = output ? StageRole::Layer : StageRole::Intermediate;
                recorded->second.type = f.output_types()[0];
            }
            if (shared(recorded->second.role)) continue;
            recorded->second.node = owner;
            for (const auto &[name, callee] : Halide::Internal::find_direct_calls(f)) work.push_back(callee);
        }
    }

    // The accumulator a layer's output reads (a Gemm's alpha/beta stage reads its product).
    std::string accumulator_read_by(const Func &f) const {
        for (const auto &[name, callee] : Halide::Internal::find_direct_calls(f.function())) {
            auto it = facts_.find(name);
            if (it != facts_.end() && it->second.role == StageRole::Accumulator) return name;
        }
        throw InternalError("lowering: '" + f.name() + "' reads no recorded accumulator");
    }

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
        const Shape shape = halide_shape(c.shape, plain_layout(rank));
        Halide::Buffer<> b = constant_buffer(halide_type(c.dtype), shape);
        // An empty constant has no bytes (and may have no storage): nothing to copy.
        if (!c.bytes.empty()) std::memcpy(b.data(), c.bytes.data(), c.bytes.size());
        Tensor t = tensor_from_buffer(func_name("const_" + name), b, shape);
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
        record_stage(t.func, StageRole::Relayout);
        return relayouts_[key] = {t, layout};
    }

    // A host-side permuted copy of a constant, for weights that a layer reads in its own layout.
    Halide::Buffer<> constant_buffer_in_layout(const std::string &name, const std::vector<int> &layout) {
        const HostArray &c = *info(name).constant;
        const Dims &shape = c.shape;
        const Shape extents = halide_shape(shape, layout);
        Halide::Buffer<> b = constant_buffer(halide_type(c.dtype), extents);
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
        return b;
    }

    Tensor constant_in_layout(const std::string &name, const std::vector<int> &layout) {
        const Halide::Buffer<> b = constant_buffer_in_layout(name, layout);
        return tensor_from_buffer(func_name("const_" + name), b, halide_shape(info(name).constant->shape, layout));
    }

    // Constant 8-bit conv weights (ONNX OIHW) as the conv layers read them, (co, ci, kx, ky),
    // stored for a byte dot product: 4 consecutive input channels of one output channel per
    // 32-bit lane, output channels next, as P(ci % 4, co, ci / 4, kx, ky). A VNNI dot
    // product then loads a weight vector as it is; from (co, ci, ...) it interleaves four
    // rows per load. The output channels are padded with zero weights to a whole number of
    // the widest int32 vector of any target (kDotChannelMultiple), so that a schedule may
    // compute whole vectors of a narrower layer (StageFacts::padded_channels).
    static constexpr int kDotChannelMultiple = 32;  // HVX: 1024 bits of int32
    static int dot_padded_channels(int64_t channels) {
        return static_cast<int>((channels + kDotChannelMultiple - 1) / kDotChannelMultiple * kDotChannelMultiple);
    }
    Tensor dot_packed_weights(const std::string &name) {
        const HostArray &c = *info(name).constant;
        const int co = static_cast<int>(c.shape[0]), ci = static_cast<int>(c.shape[1]);
        const int kh = static_cast<int>(c.shape[2]), kw = static_cast<int>(c.shape[3]);
        const int padded = dot_padded_channels(co);
        const Shape extents = {4, padded, ci / 4, kw, kh};
        Halide::Buffer<> b = constant_buffer(halide_type(c.dtype), extents);  // zeroed
        for (int o = 0; o < co; ++o)
            for (int i = 0; i < ci; ++i)
                for (int y = 0; y < kh; ++y)
                    for (int x = 0; x < kw; ++x) {
                        const size_t to = static_cast<size_t>(i % 4 + 4 * o + 4 * padded * (i / 4) + padded * ci * (x + kw * y));
                        static_cast<uint8_t *>(b.data())[to] = c.bytes[static_cast<size_t>(((o * ci + i) * kh + y) * kw + x)];
                    }
        Tensor packed = tensor_from_buffer(func_name("const_" + name + "_dot"), b, extents);
        std::vector<Var> v = make_vars(4);
        Func w(func_name(name + "_dot"));
        w(v) = packed({v[1] % 4, v[0], v[1] / 4, v[2], v[3]});
        record_stage(w, StageRole::PackedOperand);
        return Tensor{w, {co, ci, kw, kh}, packed.type};
    }

    // Constant weights read by register tiles along their first dimension (output channels),
    // stored as panels one cache line wide: P(co % L, rest..., co / L) with L channels per
    // line. A tile's reduction then walks each panel sequentially, 64 bytes per step, where
    // the plain (co, ci, ...) layout jumps a whole row of channels per step: at 512 channels,
    // 2 KB, so that every load of a ResNet-18 layer4 convolution fell into the same two L1
    // sets. Needs the channels to be a whole number of lines (else the plain layout).
    std::optional<Tensor> panel_packed_weights(const std::string &name, const std::vector<int> &layout) {
        const HostArray &c = *info(name).constant;
        const int64_t item = static_cast<int64_t>(item_size(c.dtype));
        const int lanes = static_cast<int>(64 / item);
        const Shape shape = halide_shape(c.shape, layout);
        if (shape.empty() || shape[0] % lanes != 0 || shape[0] <= lanes) return std::nullopt;
        const Halide::Buffer<> src = constant_buffer_in_layout(name, layout);
        Shape extents = {lanes};
        extents.insert(extents.end(), shape.begin() + 1, shape.end());
        extents.push_back(shape[0] / lanes);
        Halide::Buffer<> b = constant_buffer(halide_type(c.dtype), extents);
        const int64_t rest = c.element_count() / shape[0];
        const auto *from = static_cast<const uint8_t *>(src.data());
        auto *to = static_cast<uint8_t *>(b.data());
        for (int64_t r = 0; r < rest; ++r)
            for (int64_t o = 0; o < shape[0]; ++o) {
                const int64_t dst = (o % lanes) + lanes * (r + rest * (o / lanes));
                std::memcpy(to + dst * item, from + (o + shape[0] * r) * item, static_cast<size_t>(item));
            }
        Tensor packed = tensor_from_buffer(func_name("const_" + name + "_panels"), b, extents);
        std::vector<Var> v = make_vars(static_cast<int>(shape.size()));
        std::vector<Halide::Expr> at = {v[0] % lanes};
        for (size_t d = 1; d < v.size(); ++d) at.push_back(v[d]);
        at.push_back(v[0] / lanes);
        Func w(func_name(name + "_panels"));
        w(v) = packed(at);
        record_stage(w, StageRole::PackedOperand);
        return Tensor{w, shape, packed.type};
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
        if (!constant && options_.requantization == layers::Requantization::FixedPoint) {
            return layers::requantize_fixed_point(acc, runtime_multiplier(n, a_scale, b_scale, y_scale, true)(channel_of(coords, dim)),
                                                  runtime_multiplier(n, a_scale, b_scale, y_scale, false)(channel_of(coords, dim)), zp,
                                                  type, lo, hi);
        }
        if (!constant) {
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
            Halide::Buffer<float> mult = constant_buffer(Halide::Float(32), {static_cast<int>(channels)});
            for (size_t c = 0; c < channels; ++c) mult(static_cast<int>(c)) = m[c];
            return layers::requantize_onnx(acc, mult(channel), zp, type, lo, hi);
        }
        Halide::Buffer<int32_t> mult = constant_buffer(Halide::Int(32), {static_cast<int>(channels)}),
                                shift = constant_buffer(Halide::Int(32), {static_cast<int>(channels)});
        for (size_t c = 0; c < channels; ++c) {
            const layers::FixedPointMultiplier f = layers::fixed_point_multiplier(m[c], n.label());
            mult(static_cast<int>(c)) = f.multiplier, shift(static_cast<int>(c)) = f.shift;
        }
        return layers::requantize_fixed_point(acc, mult(channel), shift(channel), zp, type, lo, hi);
    }

    // The channel coordinate of `coords` along `dim` (0 where the op has no channel axis).
    static Expr channel_of(const std::vector<Expr> &coords, int dim) {
        return dim >= 0 && static_cast<size_t>(dim) < coords.size() ? coords[static_cast<size_t>(dim)] : Expr(0);
    }

    // fixed_point requantization with scales that arrive at run time (a Generator's inputs):
    // per channel, the multiplier (a * b) / y in onnx mode's float32 operations, split into
    // the Q31 fraction (`fraction` true) or the shift, as the host splits a constant one
    // (layers::fixed_point_multiplier). A Func over channels of the scale inputs only, so the
    // planners compute it once per call (on HVX: scalar float, stored at root) and the
    // requantization stays integer.
    Halide::Func runtime_multiplier(const Node &n, const std::string &a_scale, const std::string &b_scale,
                                    const std::string &y_scale, bool fraction) {
        const std::string key = a_scale + "|" + b_scale + "|" + y_scale;
        auto found = runtime_multipliers_.find(key);
        if (found == runtime_multipliers_.end()) {
            Halide::Var c("c");
            const std::vector<Expr> at = {c};
            Expr m = Halide::strict_float((qparam(a_scale, at, 0, Expr(1.0f)) * qparam(b_scale, at, 0, Expr(1.0f))) /
                                          qparam(y_scale, at, 0, Expr(1.0f)));
            const auto [fraction_of_m, shift_of_m] = layers::fixed_point_multiplier(m, n.label());
            Halide::Func q31(func_name(n.outputs.at(0) + "_multiplier")), shift(func_name(n.outputs.at(0) + "_shift"));
            q31(c) = fraction_of_m;
            shift(c) = shift_of_m;
            record_stage(q31, StageRole::Parameter);
            record_stage(shift, StageRole::Parameter);
            found = runtime_multipliers_.emplace(key, std::make_pair(q31, shift)).first;
        }
        return fraction ? found->second.first : found->second.second;
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
        Halide::Buffer<float> mult = constant_buffer(Halide::Float(32), {channels});
        Halide::Buffer<int32_t> lo = constant_buffer(Halide::Int(32), {channels}), hi = constant_buffer(Halide::Int(32), {channels});
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

    // Ops lowered for floating-point inputs only: an integer input is refused by name.
    void float_only(const Node &n) {
        if (!halide_type(info(n.input(0)).dtype).is_float()) {
            fail(n, "input type " + to_string(info(n.input(0)).dtype) + " is not supported (float only)");
        }
    }

    void lower_node(const Node &n);
};

}  // namespace megalide
