#include "megalide/layers/linear.h"

#include "checks.h"
#include "megalide/layers/elementwise.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

Tensor gemm(const std::string &name, const Tensor &a, const Tensor &b,
            const std::optional<Tensor> &c, const GemmParams &p) {
    const std::string label = layer_label("gemm", name);
    require_rank(label, "A", a, 2);
    require_rank(label, "B", b, 2);
    // op(A) is M x K, op(B) is K x N; shapes are {cols, rows}.
    const int m = p.trans_a ? a.dim(0) : a.dim(1);
    const int k = p.trans_a ? a.dim(1) : a.dim(0);
    const int kb = p.trans_b ? b.dim(0) : b.dim(1);
    const int n = p.trans_b ? b.dim(1) : b.dim(0);
    if (k != kb) {
        fail(label, "inner dimensions differ: op(A) is " + std::to_string(m) + "x" +
                        std::to_string(k) + " (" + describe("A", a) + ", trans_a=" +
                        std::to_string(p.trans_a) + ") but op(B) is " + std::to_string(kb) +
                        "x" + std::to_string(n) + " (" + describe("B", b) +
                        ", trans_b=" + std::to_string(p.trans_b) + ")");
    }
    if (c) {
        bool fits = c->rank() <= 2;
        for (int d = 0; fits && d < c->rank(); ++d) {
            fits = c->dim(d) == 1 || c->dim(d) == (d == 0 ? n : m);
        }
        if (!fits) {
            fail(label, describe("C", *c) + " does not broadcast to the result shape " +
                            to_string({n, m}));
        }
    }

    Var j("j"), i("i");
    RDom r(0, k, name + "_r");
    Expr a_ik = p.trans_a ? a({i, r.x}) : a({r.x, i});
    Expr b_kj = p.trans_b ? b({r.x, j}) : b({j, r.x});
    Func acc(name + "_acc");
    acc(j, i) = 0.0f;
    acc(j, i) += a_ik * b_kj;
    record_stage(acc, StageRole::Accumulator).matrix_product = true;

    Expr value = acc(j, i);
    if (p.alpha != 1.0f) value = p.alpha * value;
    if (c && p.beta != 0.0f) value += p.beta * broadcast_access(*c, {j, i});
    Func out(name);
    out(j, i) = value;
    return {out, {n, m}};
}

Tensor dense(const std::string &name, const Tensor &x, const Tensor &weights,
             const std::optional<Tensor> &bias) {
    const std::string label = layer_label("dense", name);
    require(x.rank() >= 1, label, "input must have rank >= 1");
    require_rank(label, "weights {N, K}", weights, 2);
    if (weights.dim(1) != x.dim(0)) {
        fail(label, "feature mismatch: " + describe("input", x) + " has " +
                        std::to_string(x.dim(0)) + " features but " +
                        describe("weights", weights) + " expect " +
                        std::to_string(weights.dim(1)));
    }
    const int features = weights.dim(0);
    if (bias) require_shape(label, "bias", *bias, {features});

    std::vector<Var> vars = make_vars(x.rank(), "d");
    RDom r(0, x.dim(0), name + "_r");
    std::vector<Expr> in = as_exprs(vars);
    in[0] = r.x;
    Func out(name);
    out(vars) = bias ? (*bias)({vars[0]}) : Expr(0.0f);
    out(vars) += x(in) * weights({vars[0], r.x});
    record_stage(out, StageRole::Accumulator);
    Shape shape = x.shape;
    shape[0] = features;
    return {out, shape};
}

Tensor matmul(const std::string &name, const Tensor &a_in, const Tensor &b_in) {
    const std::string label = layer_label("matmul", name);
    require(a_in.rank() >= 1 && b_in.rank() >= 1, label,
            "operands must have rank >= 1, got " + describe("A", a_in) + " and " +
                describe("B", b_in));
    // Promote rank-1 operands as numpy.matmul does: A (K) -> (K, 1), B (K) -> (1, K).
    Tensor a = a_in, b = b_in;
    const bool a_vector = a.rank() == 1, b_vector = b.rank() == 1;
    if (a_vector) a.shape = {a.dim(0), 1};
    if (b_vector) b.shape = {1, b.dim(0)};
    const int k = a.dim(0), m = a.dim(1), n = b.dim(0);
    if (b.dim(1) != k) {
        fail(label, "inner dimensions differ: " + describe("A", a_in) + " has K=" +
                        std::to_string(k) + " but " + describe("B", b_in) + " has K=" +
                        std::to_string(b.dim(1)));
    }
    const Shape a_batch(a.shape.begin() + 2, a.shape.end());
    const Shape b_batch(b.shape.begin() + 2, b.shape.end());
    Shape batch;
    try {
        batch = broadcast_shapes(label, a_batch, b_batch);
    } catch (const Error &) {
        fail(label, "batch dimensions do not broadcast: " + describe("A", a_in) + ", " +
                        describe("B", b_in));
    }

    Var j("j"), i("i");
    std::vector<Var> batch_vars = make_vars(static_cast<int>(batch.size()), "b");
    RDom r(0, k, name + "_r");
    auto batch_coords = [&](const Shape &own) {
        std::vector<Expr> coords;
        for (size_t d = 0; d < own.size(); ++d) coords.push_back(own[d] == 1 ? Expr(0) : Expr(batch_vars[d]));
        return coords;
    };
    auto operand = [&](const Tensor &t, bool vector, Expr inner, Expr outer, const Shape &own) {
        std::vector<Expr> coords = vector ? std::vector<Expr>{inner} : std::vector<Expr>{inner, outer};
        for (const Expr &e : batch_coords(own)) coords.push_back(e);
        return t.func(coords);
    };
    // A rank-1 A is read as a[k]; a rank-1 B as b[k].
    Expr a_ik = a_vector ? a_in({r.x}) : operand(a_in, false, r.x, i, a_batch);
    Expr b_kj = b_vector ? b_in({r.x}) : operand(b_in, false, j, r.x, b_batch);

    std::vector<Var> acc_vars = {j, i};
    acc_vars.insert(acc_vars.end(), batch_vars.begin(), batch_vars.end());
    Func acc(a_vector || b_vector ? name + "_acc" : name);
    acc(acc_vars) = Halide::cast(a_in.type, 0);
    acc(acc_vars) += a_ik * b_kj;
    record_stage(acc, StageRole::Accumulator).matrix_product = true;

    Shape shape = {n, m};
    shape.insert(shape.end(), batch.begin(), batch.end());
    if (!a_vector && !b_vector) return {acc, shape, a_in.type};

    // Drop the promoted dimensions from the result.
    Shape dropped;
    std::vector<Expr> coords;
    std::vector<Var> out_vars;
    for (size_t d = 0; d < shape.size(); ++d) {
        const bool drop = (d == 0 && b_vector) || (d == 1 && a_vector);
        if (drop) {
            coords.push_back(0);
        } else {
            Var v("d" + std::to_string(out_vars.size()));
            out_vars.push_back(v);
            coords.push_back(v);
            dropped.push_back(shape[d]);
        }
    }
    Func out(name);
    if (out_vars.empty()) {
        out() = acc(coords);
    } else {
        out(out_vars) = acc(coords);
    }
    return {out, dropped, a_in.type};
}

}  // namespace megalide::layers
