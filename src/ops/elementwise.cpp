// Elementwise arithmetic with NumPy broadcasting, Where, Identity and Cast.
#include "megalide/ops/registry.h"

#include <algorithm>
#include <cmath>

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

void infer_binary(Graph &g, Node &n) {
    const Value &a = input(g, n, 0), &b = input(g, n, 1);
    set_output(g, n, 0, a.dtype, broadcast_shape(n.label(), a.shape, b.shape));
}

// Add, Sub, Mul, Div, Mod in double, broadcast; integer division truncates as ONNX does.
std::optional<HostArray> evaluate_binary(const Graph &g, const Node &n) {
    if (!inputs_constant(g, n)) return std::nullopt;
    const HostArray &x = *g.value(n.input(0)).constant, &y = *g.value(n.input(1)).constant;
    const Value &out = g.value(n.outputs.at(0));
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

// ONNX (C) integer division truncates toward zero; Halide's is Euclidean (the remainder is
// never negative), so adjust the quotient where the dividend is negative and inexact.
Expr truncating_div(const Expr &p, const Expr &q) {
    Expr e = p / q;
    Expr inexact = p - e * q != 0;
    return Halide::select(p < 0 && inexact, Halide::select(q > 0, e + 1, e - 1), e);
}

void lower_binary(Lowerer &L, const Node &n) {
    Lowered a = L.get(n.input(0)), b = L.get(n.input(1));
    const int rank = std::max(a.rank(), b.rank());
    // Keep channels-innermost when an operand already is; broadcast the other into it.
    std::vector<int> layout = plain_layout(rank);
    if (rank >= 3 && (a.dim_of_axis == channels_innermost_layout(rank) || b.dim_of_axis == channels_innermost_layout(rank))) {
        layout = channels_innermost_layout(rank);
    }
    a = L.as_layout(L.expand_rank(a, rank), layout);
    b = L.as_layout(L.expand_rank(b, rank), layout);
    const Halide::Type type = halide_type(L.info(n.outputs[0]).dtype);
    const bool integral = !type.is_float();
    Tensor t;
    const std::string name = L.stage(n);
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
    } else if (n.op == "Div") {
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
    L.define(n, t, layout);
}

// The flat index into an operand of `shape` (row-major `strides`) read by the broadcast
// result's element at `index`: trailing axes aligned, extent-1 axes read index 0.
int64_t broadcast_source(const Dims &index, const Dims &shape, const Dims &strides) {
    int64_t f = 0;
    const size_t lead = index.size() - shape.size();
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] != 1) f += index[lead + d] * strides[d];
    }
    return f;
}

void infer_where(Graph &g, Node &n) {
    const Value &c = input(g, n, 0), &x = input(g, n, 1), &y = input(g, n, 2);
    if (c.dtype != DType::Bool) fail(n, "condition must be bool, got " + to_string(c.dtype));
    if (x.dtype != y.dtype) fail(n, "X is " + to_string(x.dtype) + " but Y is " + to_string(y.dtype));
    set_output(g, n, 0, x.dtype, broadcast_shape(n.label(), broadcast_shape(n.label(), c.shape, x.shape), y.shape));
}

// Copies X's or Y's element bytes: exact for every type (int64 beyond 2^53 included).
std::optional<HostArray> evaluate_where(const Graph &g, const Node &n) {
    if (!inputs_constant(g, n)) return std::nullopt;
    const HostArray &c = *g.value(n.input(0)).constant, &x = *g.value(n.input(1)).constant, &y = *g.value(n.input(2)).constant;
    const Value &out = g.value(n.outputs.at(0));
    const Dims sc = strides_of(c.shape), sx = strides_of(x.shape), sy = strides_of(y.shape);
    const size_t size = item_size(out.dtype);
    HostArray r;
    r.dtype = out.dtype;
    r.shape = out.shape;
    const int64_t count = product(out.shape, 0, out.shape.size());
    r.bytes.resize(static_cast<size_t>(count) * size);
    Dims index(out.shape.size(), 0);
    for (int64_t f = 0; f < count; ++f) {
        int64_t rest = f;
        for (size_t d = out.shape.size(); d-- > 0;) {
            index[d] = rest % out.shape[d];
            rest /= out.shape[d];
        }
        const bool pick_x = c.bytes[static_cast<size_t>(broadcast_source(index, c.shape, sc))] != 0;  // bool: one byte
        const HostArray &from = pick_x ? x : y;
        const int64_t i = broadcast_source(index, from.shape, pick_x ? sx : sy);
        std::copy_n(from.bytes.begin() + i * static_cast<int64_t>(size), size, r.bytes.begin() + f * static_cast<int64_t>(size));
    }
    return r;
}

void lower_where(Lowerer &L, const Node &n) {
    Lowered c = L.get(n.input(0)), a = L.get(n.input(1)), b = L.get(n.input(2));
    const int rank = std::max({c.rank(), a.rank(), b.rank()});
    // Keep channels-innermost when an operand already is; broadcast the others into it.
    std::vector<int> layout = plain_layout(rank);
    for (const Lowered *v : {&c, &a, &b}) {
        if (rank >= 3 && v->dim_of_axis == channels_innermost_layout(rank)) layout = channels_innermost_layout(rank);
    }
    c = L.as_layout(L.expand_rank(c, rank), layout);
    a = L.as_layout(L.expand_rank(a, rank), layout);
    b = L.as_layout(L.expand_rank(b, rank), layout);
    L.define(n, layers::where(L.stage(n), c.t, a.t, b.t), layout);
}

OpDef binary(const char *name, const char *summary, bool folds, std::vector<AttributeSpec> attributes = {}) {
    OpDef op;
    op.name = name;
    op.summary = summary;
    op.attributes = std::move(attributes);
    op.infer = infer_binary;
    if (folds) op.evaluate = evaluate_binary;
    op.lower = lower_binary;
    return op;
}

}  // namespace

void register_elementwise_ops(std::vector<OpDef> &ops) {
    OpDef add = binary("Add", "a + b, broadcast", true);
    add.quantized = QuantizedForm::Requantizing;  // com.microsoft QLinearAdd
    ops.push_back(add);
    ops.push_back(binary("Sub", "a - b, broadcast", true));
    ops.push_back(binary("Mul", "a * b, broadcast", true));
    ops.push_back(binary("Div", "a / b, broadcast; integers truncate toward zero", true));
    ops.push_back(binary("Mod", "remainder, broadcast", true,
                         {{"fmod", K::Int, "1: the sign of the dividend (C fmod); 0 (default): the sign of the divisor"}}));
    ops.push_back(binary("Pow", "a ^ b, broadcast, computed in float", false));

    OpDef where;
    where.name = "Where";
    where.summary = "condition ? X : Y, the three broadcast";
    where.infer = infer_where;
    where.evaluate = evaluate_where;
    where.lower = lower_where;
    ops.push_back(where);

    OpDef identity;
    identity.name = "Identity";
    identity.summary = "its input";
    identity.infer = [](Graph &g, Node &n) { same_as_input(g, n); };
    identity.evaluate = [](const Graph &g, const Node &n) -> std::optional<HostArray> {
        if (!inputs_constant(g, n)) return std::nullopt;
        return *g.value(n.input(0)).constant;
    };
    identity.lower = [](Lowerer &L, const Node &n) { L.define(n, L.get(n.input(0)).t, L.get(n.input(0)).dim_of_axis); };
    ops.push_back(identity);

    OpDef cast;
    cast.name = "Cast";
    cast.summary = "converts the element type (to bool: nonzero)";
    cast.attributes = {{"to", K::Int, "the ONNX element type (float, double, uint8, int8, int32, int64, bool)"}};
    cast.infer = [](Graph &g, Node &n) { set_output(g, n, 0, dtype_of_onnx(n, n.get_int("to", 1)), input(g, n, 0).shape); };
    cast.evaluate = [](const Graph &g, const Node &n) -> std::optional<HostArray> {
        if (!inputs_constant(g, n)) return std::nullopt;
        const HostArray &x = *g.value(n.input(0)).constant;
        return HostArray::from_doubles(g.value(n.outputs.at(0)).dtype, x.shape, x.to_doubles());
    };
    cast.lower = [](Lowerer &L, const Node &n) {
        const Value &out = L.info(n.outputs.at(0));
        const Halide::Type to = halide_type(out.dtype);
        const bool to_bool = out.dtype == DType::Bool;
        Lowered x = L.get(n.input(0));
        Tensor t = layers::map_elements(n.op, L.stage(n), x.t,
                                        [=](Expr v) { return to_bool ? Halide::cast(to, v != Halide::cast(v.type(), 0)) : Halide::cast(to, v); });
        t.type = to;
        L.define(n, t, x.dim_of_axis);
    };
    ops.push_back(cast);
}

}  // namespace megalide::ops
