// Data movement and shape arithmetic: Constant, Shape, Reshape, Flatten, Squeeze,
// Unsqueeze, Transpose, Concat, Gather, Slice, Pad, Expand. Most fold to constants on
// constant inputs (shape computations of exported models); in the pipeline most are
// relabelings that Halide inlines.
#include "megalide/ops/registry.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

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

// A constant input's values, evaluated on the host when every input is a constant.
using Evaluate = std::function<std::optional<HostArray>(const Graph &, const Node &)>;
Evaluate when_constant(std::function<HostArray(const Graph &, const Node &, const HostArray &, const Value &)> fn) {
    return [fn](const Graph &g, const Node &n) -> std::optional<HostArray> {
        if (!inputs_constant(g, n)) return std::nullopt;
        return fn(g, n, *g.value(n.input(0)).constant, g.value(n.outputs.at(0)));
    };
}

HostArray same_bytes(const Graph &, const Node &, const HostArray &x, const Value &out) {
    HostArray r = x;
    r.shape = out.shape;
    return r;
}

std::optional<HostArray> evaluate_constant_op(const Graph &, const Node &n) {
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

std::optional<HostArray> evaluate_shape(const Graph &g, const Node &n) {
    const Value &x = input(g, n, 0);
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    int64_t start = n.get_int("start", 0), end = n.get_int("end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank), end = std::clamp<int64_t>(end, start, rank);
    Dims dims(x.shape.begin() + start, x.shape.begin() + end);
    return HostArray::from_int64s({static_cast<int64_t>(dims.size())}, dims);
}

void lower_transpose(Lowerer &L, const Node &n) {
    Lowered x = L.get(n.input(0));
    Dims perm = n.get_ints("perm", {});
    if (perm.empty()) for (int i = x.rank(); i-- > 0;) perm.push_back(i);
    std::vector<int> layout(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) layout[i] = x.dim_of_axis[static_cast<size_t>(perm[i])];
    L.define(n, x.t, layout);  // a relabeling: no data moves
}

void lower_reshape(Lowerer &L, const Node &n) {
    const std::string name = L.stage(n);
    const Value &out = L.info(n.outputs.at(0));
    const int out_rank = static_cast<int>(out.shape.size());
    Lowered x = L.get(n.input(0));
    Tensor xp = L.as_layout(x, plain_layout(x.rank())).t;
    Tensor t = layers::reshape(name, xp, halide_shape(out.shape, plain_layout(out_rank)));
    t.type = xp.type;
    L.define(n, t, plain_layout(out_rank));
}

void lower_concat(Lowerer &L, const Node &n) {
    const std::string name = L.stage(n);
    Lowered first = L.get(n.input(0));
    int64_t axis = n.get_int("axis", 0);
    if (axis < 0) axis += first.rank();
    std::vector<Tensor> parts;
    for (const std::string &in : n.inputs) parts.push_back(L.as_layout(L.get(in), first.dim_of_axis).t);
    Tensor t = layers::concat(name, parts, first.dim_of_axis[static_cast<size_t>(axis)]);
    t.type = first.t.type;
    L.define(n, t, first.dim_of_axis);
}

void lower_pad(Lowerer &L, const Node &n) {
    const std::string name = L.stage(n);
    const int out_rank = static_cast<int>(L.info(n.outputs.at(0)).shape.size());
    const int rank = out_rank;
    Dims pads = L.g_.opset >= 11 ? L.info(n.input(1)).constant->to_int64s() : n.get_ints("pads", {});
    float value = static_cast<float>(n.get_float("value", 0.0));
    if (L.g_.opset >= 11 && !n.input(2).empty()) {
        if (!L.info(n.input(2)).constant) L.fail(n, "constant_value must be a constant");
        value = static_cast<float>(L.info(n.input(2)).constant->to_doubles().at(0));
    }
    std::vector<int> before(static_cast<size_t>(rank)), after(static_cast<size_t>(rank));
    for (int a = 0; a < rank; ++a) {
        before[static_cast<size_t>(rank - 1 - a)] = static_cast<int>(pads[static_cast<size_t>(a)]);
        after[static_cast<size_t>(rank - 1 - a)] = static_cast<int>(pads[static_cast<size_t>(a + rank)]);
    }
    const std::string mode = n.get_string("mode", "constant");
    const layers::PadMode m = mode == "edge" ? layers::PadMode::Edge : mode == "reflect" ? layers::PadMode::Reflect : layers::PadMode::Constant;
    Tensor xp = L.as_layout(L.get(n.input(0)), plain_layout(rank)).t;
    Tensor t = layers::pad(name, xp, before, after, m, value);
    if (!xp.type.is_float()) {
        Tensor cast = layers::map_elements("pad", name + "_typed", t, [&](Expr v) { return Halide::cast(xp.type, v); });
        t = cast;
    }
    t.type = xp.type;
    L.define(n, t, plain_layout(rank));
}

void lower_gather(Lowerer &L, const Node &n) {
    const Value &xv = L.info(n.input(0)), &iv = L.info(n.input(1));
    const int rank = static_cast<int>(xv.shape.size()), q = static_cast<int>(iv.shape.size());
    const int axis = static_cast<int>(n.get_int("axis", 0) < 0 ? n.get_int("axis", 0) + rank : n.get_int("axis", 0));
    Tensor x = L.as_layout(L.get(n.input(0)), plain_layout(rank)).t;
    Tensor idx = L.as_layout(L.get(n.input(1)), plain_layout(q)).t;
    const Value &ov = L.info(n.outputs[0]);
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
    Func f(L.stage(n));
    f(vars) = x(coords);
    Tensor t{f, halide_shape(ov.shape, plain_layout(out_rank)), x.type};
    L.define(n, t, plain_layout(out_rank));
}

void lower_slice(Lowerer &L, const Node &n) {
    // Recover start and step per axis from the constant operands (shape inference validated them).
    const Value &xv = L.info(n.input(0)), &ov = L.info(n.outputs[0]);
    const int rank = static_cast<int>(xv.shape.size());
    Dims starts, ends, axes, steps;
    auto ints = [&](size_t i) { return L.info(n.input(i)).constant->to_int64s(); };
    if (L.g_.opset >= 10) {
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
    Tensor x = L.as_layout(L.get(n.input(0)), plain_layout(rank)).t;
    std::vector<Var> vars = make_vars(rank);
    std::vector<Expr> coords(static_cast<size_t>(rank));
    for (int a = 0; a < rank; ++a) {
        const size_t d = static_cast<size_t>(rank - 1 - a);
        coords[d] = static_cast<int>(start[static_cast<size_t>(a)]) + vars[d] * static_cast<int>(step[static_cast<size_t>(a)]);
    }
    Func f(L.stage(n));
    f(vars) = x(coords);
    L.define(n, {f, halide_shape(ov.shape, plain_layout(rank)), x.type}, plain_layout(rank));
}

// Expand's output shape: the input's and the target's, broadcast both ways (ONNX: a target
// extent of 1 keeps the input's).
Dims expand_shape(const Graph &g, const Node &n) {
    const Dims target = constant_ints(g, n, 1, "shape");
    for (int64_t e : target) {
        if (e < 1) fail(n, "shape " + dims_str(target) + " has an extent below 1");
    }
    return broadcast_shape(n.label(), input(g, n, 0).shape, target);
}

void lower_expand(Lowerer &L, const Node &n) {
    const Value &ov = L.info(n.outputs.at(0));
    const int rank = static_cast<int>(ov.shape.size());
    // The input's layout when it has the output's rank; else leading unit axes, plain.
    Lowered x = L.expand_rank(L.get(n.input(0)), rank);
    std::vector<Var> vars = make_vars(rank);
    Func f(L.stage(n));
    f(vars) = layers::broadcast_access(x.t, as_exprs(vars));
    L.define(n, {f, halide_shape(ov.shape, x.dim_of_axis), x.t.type}, x.dim_of_axis);
}

}  // namespace

void register_shape_ops(std::vector<OpDef> &ops) {
    OpDef constant;
    constant.name = "Constant";
    constant.summary = "a constant tensor";
    constant.attributes = {{"value", K::Tensor, "the tensor"}, {"value_float", K::Float, "a float scalar"},
                           {"value_int", K::Int, "an int64 scalar"}, {"value_ints", K::Ints, "an int64 vector"},
                           {"value_floats", K::Floats, "a float vector"}};
    constant.infer = [](Graph &g, Node &n) {
        HostArray c = *evaluate_constant_op(g, n);
        Value &v = g.value(n.outputs[0]);
        v.dtype = c.dtype, v.shape = c.shape, v.shape_known = true;
        v.constant = std::make_shared<const HostArray>(std::move(c));
    };
    constant.evaluate = evaluate_constant_op;
    ops.push_back(constant);

    OpDef shape;
    shape.name = "Shape";
    shape.summary = "the input's shape as int64 (a compile-time constant)";
    shape.attributes = {{"start", K::Int, "first axis (default 0)"}, {"end", K::Int, "one past the last axis (default: rank)"}};
    shape.infer = [](Graph &g, Node &n) { set_output(g, n, 0, DType::Int64, evaluate_shape(g, n)->shape); };
    shape.evaluate = evaluate_shape;
    ops.push_back(shape);

    OpDef reshape;
    reshape.name = "Reshape";
    reshape.summary = "same elements, new shape (input 1, a constant; 0 copies, -1 infers)";
    reshape.attributes = {{"allowzero", K::Int, "1: a 0 in the shape is an extent of 0 (default 0: copy)"}};
    reshape.infer = [](Graph &g, Node &n) { set_output(g, n, 0, input(g, n, 0).dtype, reshape_target(g, n, input(g, n, 0).shape)); };
    reshape.evaluate = when_constant(same_bytes);
    reshape.lower = lower_reshape;
    reshape.constant_inputs = {1};
    reshape.quantized = QuantizedForm::PassThrough;
    ops.push_back(reshape);

    OpDef flatten;
    flatten.name = "Flatten";
    flatten.summary = "to a matrix: axes before `axis` as rows, the rest as columns";
    flatten.attributes = {{"axis", K::Int, "default 1"}};
    flatten.infer = [](Graph &g, Node &n) {
        const Value &x = input(g, n, 0);
        const int64_t rank = static_cast<int64_t>(x.shape.size());
        int64_t axis = n.get_int("axis", 1);
        if (axis < 0) axis += rank;
        if (axis < 0 || axis > rank) fail(n, "axis " + std::to_string(n.get_int("axis", 1)) + " is out of range");
        set_output(g, n, 0, x.dtype, {product(x.shape, 0, static_cast<size_t>(axis)), product(x.shape, static_cast<size_t>(axis), x.shape.size())});
    };
    flatten.evaluate = when_constant(same_bytes);
    flatten.lower = lower_reshape;
    flatten.quantized = QuantizedForm::PassThrough;
    ops.push_back(flatten);

    OpDef squeeze;
    squeeze.name = "Squeeze";
    squeeze.summary = "removes axes of extent 1 (the listed ones, or all)";
    squeeze.attributes = {{"axes", K::Ints, "before opset 13 (then input 1, a constant)"}};
    squeeze.infer = [](Graph &g, Node &n) {
        const Value &x = input(g, n, 0);
        Dims axes = squeeze_axes(g, n, x.shape.size(), false);
        Dims out;
        for (size_t d = 0; d < x.shape.size(); ++d) {
            const bool listed = std::count(axes.begin(), axes.end(), static_cast<int64_t>(d)) != 0;
            if (listed && x.shape[d] != 1) fail(n, "cannot squeeze axis " + std::to_string(d) + " of extent " + std::to_string(x.shape[d]));
            if (!(listed || (axes.empty() && x.shape[d] == 1))) out.push_back(x.shape[d]);
        }
        set_output(g, n, 0, x.dtype, out);
    };
    squeeze.evaluate = when_constant(same_bytes);
    squeeze.lower = lower_reshape;
    squeeze.constant_inputs = {1};
    ops.push_back(squeeze);

    OpDef unsqueeze;
    unsqueeze.name = "Unsqueeze";
    unsqueeze.summary = "inserts axes of extent 1";
    unsqueeze.attributes = squeeze.attributes;
    unsqueeze.infer = [](Graph &g, Node &n) {
        const Value &x = input(g, n, 0);
        Dims axes = squeeze_axes(g, n, x.shape.size(), true);
        Dims out = x.shape;
        for (int64_t a : axes) out.insert(out.begin() + a, 1);
        set_output(g, n, 0, x.dtype, out);
    };
    unsqueeze.evaluate = when_constant(same_bytes);
    unsqueeze.lower = lower_reshape;
    unsqueeze.constant_inputs = {1};
    ops.push_back(unsqueeze);

    OpDef transpose;
    transpose.name = "Transpose";
    transpose.summary = "permutes axes: a relabeling, no data moves";
    transpose.attributes = {{"perm", K::Ints, "default: reversed"}};
    transpose.infer = [](Graph &g, Node &n) {
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
    };
    transpose.evaluate = when_constant([](const Graph &, const Node &n, const HostArray &x, const Value &out) {
        Dims perm = n.get_ints("perm", {});
        if (perm.empty()) for (size_t i = x.shape.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
        const Dims in_strides = strides_of(x.shape);
        return gather_elements(x, out.shape, [&](const Dims &o) {
            int64_t f = 0;
            for (size_t d = 0; d < perm.size(); ++d) f += o[d] * in_strides[perm[d]];
            return f;
        });
    });
    transpose.lower = lower_transpose;
    transpose.quantized = QuantizedForm::PassThrough;
    ops.push_back(transpose);

    OpDef concat;
    concat.name = "Concat";
    concat.summary = "joins inputs along `axis`";
    concat.attributes = {{"axis", K::Int, "required"}};
    concat.infer = [](Graph &g, Node &n) {
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
    };
    concat.evaluate = when_constant([](const Graph &g, const Node &n, const HostArray &x, const Value &out) {
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
    });
    concat.lower = lower_concat;
    ops.push_back(concat);

    OpDef gather;
    gather.name = "Gather";
    gather.summary = "picks entries along `axis` by index (negative indices count from the end)";
    gather.attributes = {{"axis", K::Int, "default 0"}};
    gather.infer = [](Graph &g, Node &n) {
        const Value &x = input(g, n, 0), &idx = input(g, n, 1);
        const int64_t axis = normalize_axis(n, n.get_int("axis", 0), static_cast<int64_t>(x.shape.size()));
        Dims out(x.shape.begin(), x.shape.begin() + axis);
        out.insert(out.end(), idx.shape.begin(), idx.shape.end());
        out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
        set_output(g, n, 0, x.dtype, out);
    };
    gather.evaluate = when_constant([](const Graph &g, const Node &n, const HostArray &x, const Value &out) {
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
    });
    gather.lower = lower_gather;
    ops.push_back(gather);

    OpDef slice;
    slice.name = "Slice";
    slice.summary = "a strided window per axis (starts, ends, axes, steps: constants)";
    slice.attributes = {{"starts", K::Ints, "before opset 10 (then inputs 1-4)"}, {"ends", K::Ints, "before opset 10"},
                        {"axes", K::Ints, "before opset 10"}};
    slice.infer = [](Graph &g, Node &n) { set_output(g, n, 0, input(g, n, 0).dtype, slice_spec(g, n, input(g, n, 0).shape).out); };
    slice.evaluate = when_constant([](const Graph &g, const Node &n, const HostArray &x, const Value &out) {
        const SliceSpec spec = slice_spec(g, n, x.shape);
        const Dims in_strides = strides_of(x.shape);
        return gather_elements(x, out.shape, [&](const Dims &o) {
            int64_t f = 0;
            for (size_t d = 0; d < o.size(); ++d) f += (spec.starts[d] + o[d] * spec.steps[d]) * in_strides[d];
            return f;
        });
    });
    slice.lower = lower_slice;
    slice.constant_inputs = {1, 2, 3, 4};
    ops.push_back(slice);

    OpDef pad;
    pad.name = "Pad";
    pad.summary = "extends each axis (constant, edge or reflect); pads and value must be constants";
    pad.attributes = {{"mode", K::String, "constant (default), edge or reflect"},
                      {"pads", K::Ints, "before opset 11 (then input 1)"}, {"value", K::Float, "before opset 11 (then input 2)"}};
    pad.infer = [](Graph &g, Node &n) {
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
    };
    pad.lower = lower_pad;
    pad.constant_inputs = {1, 2};
    ops.push_back(pad);

    OpDef expand;
    expand.name = "Expand";
    expand.summary = "broadcasts the input to a shape (input 1, a constant), both ways as NumPy";
    expand.infer = [](Graph &g, Node &n) { set_output(g, n, 0, input(g, n, 0).dtype, expand_shape(g, n)); };
    expand.evaluate = when_constant([](const Graph &, const Node &, const HostArray &x, const Value &out) {
        const Dims in_strides = strides_of(x.shape);
        const size_t lead = out.shape.size() - x.shape.size();
        return gather_elements(x, out.shape, [&](const Dims &o) {
            int64_t f = 0;
            for (size_t d = 0; d < x.shape.size(); ++d) {
                if (x.shape[d] != 1) f += o[lead + d] * in_strides[d];
            }
            return f;
        });
    });
    expand.lower = lower_expand;
    expand.constant_inputs = {1};
    ops.push_back(expand);
}

}  // namespace megalide::ops
