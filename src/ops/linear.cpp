// Matrix products: Gemm, MatMul (and its fused form with bias, transposes and activation),
// and the integer forms MatMulInteger and QLinearMatMul. Matrices are (col, row) inside.
#include "megalide/ops/registry.h"

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

// The int32 accumulation of a matrix product of 8-bit operands with their zero points
// subtracted: a's per row (its second-to-last axis) or per tensor, b's per column.
Tensor matmul_accumulation(Lowerer &L, const Node &n, size_t a_input, size_t b_input, const std::string &a_zero_point,
                           const std::string &b_zero_point) {
    Tensor a = L.as_layout(L.get(n.input(a_input)), plain_layout(L.get(n.input(a_input)).rank())).t;
    Tensor b = L.as_layout(L.get(n.input(b_input)), plain_layout(L.get(n.input(b_input)).rank())).t;
    auto widen = [&](const Tensor &t, const std::string &zero_point, int dim, const std::string &suffix) {
        std::vector<Var> vars = make_vars(t.rank());
        const std::vector<Expr> coords = as_exprs(vars);
        Func f(L.func_name(L.stage(n) + suffix));
        f(vars) = Halide::cast<int32_t>(t(coords)) - Halide::cast<int32_t>(L.qparam(zero_point, coords, std::min(dim, t.rank() - 1), Expr(0)));
        return Tensor{f, t.shape, Halide::Int(32)};
    };
    return layers::matmul(L.stage(n) + "_acc", widen(a, a_zero_point, 1, "_a"), widen(b, b_zero_point, 0, "_b"));
}

void lower_gemm(Lowerer &L, const Node &n) {
    L.float_only(n);
    const std::string name = L.stage(n);
    Tensor a = L.as_layout(L.get(n.input(0)), plain_layout(2)).t;
    layers::GemmParams p{n.get_int("transA", 0) != 0, n.get_int("transB", 0) != 0,
                         static_cast<float>(n.get_float("alpha", 1.0)), static_cast<float>(n.get_float("beta", 1.0))};
    Tensor b;
    if (p.trans_b && L.info(n.input(1)).constant && !L.values_.count(n.input(1))) {
        // A constant B^T (PyTorch's Linear weight) is transposed once on the host, so the
        // product reads output features contiguously.
        auto panels = L.panel_packed_weights(n.input(1), {0, 1});
        b = panels ? *panels : L.constant_in_layout(n.input(1), {0, 1});
        p.trans_b = false;
    } else {
        b = L.as_layout(L.get(n.input(1)), plain_layout(2)).t;
    }
    std::optional<Tensor> c;
    if (!n.input(2).empty()) c = L.as_layout(L.get(n.input(2)), plain_layout(L.info(n.input(2)).shape.size())).t;
    Tensor g = layers::gemm(name + "_gemm", a, b, c, p);
    Tensor out = L.epilogue(n, g);
    L.accumulators_[out.name()] = L.accumulator_read_by(g.func);
    L.define(n, out, plain_layout(2));
}

void lower_matmul(Lowerer &L, const Node &n) {
    L.float_only(n);
    const std::string name = L.stage(n);
    const int out_rank = static_cast<int>(L.info(n.outputs.at(0)).shape.size());
    // A constant 2-D B (a Linear layer's weight, (K, N)) as cache-line panels of N: the
    // register tiles then read it sequentially along K (lowerer.h).
    std::optional<Tensor> b_panels;
    if (!n.get_int("transB", 0) && L.info(n.input(1)).constant && L.info(n.input(1)).shape.size() == 2 && !L.values_.count(n.input(1))) {
        b_panels = L.panel_packed_weights(n.input(1), plain_layout(2));
    }
    Lowered a = L.get(n.input(0));
    Lowered b = b_panels ? Lowered{*b_panels, plain_layout(2)} : L.get(n.input(1));
    // transA / transB swap an operand's last two axes: a relabeling, no data moves.
    auto swap_last_two = [](Lowered v) {
        std::swap(v.dim_of_axis[v.dim_of_axis.size() - 1], v.dim_of_axis[v.dim_of_axis.size() - 2]);
        return v;
    };
    if (n.get_int("transA", 0) && a.rank() >= 2) a = swap_last_two(a);
    if (n.get_int("transB", 0) && b.rank() >= 2) b = swap_last_two(b);
    Tensor t = layers::matmul(name + "_acc", L.as_layout(a, plain_layout(a.rank())).t, L.as_layout(b, plain_layout(b.rank())).t);
    std::optional<Tensor> bias;  // fused by fuse_bias_activation: along the last axis
    if (!n.input(2).empty()) bias = L.operand_in_layout(n.input(2), plain_layout(1));
    L.define(n, L.epilogue(n, t, bias), plain_layout(out_rank));
}

// MatMulInteger(a, b, a_zero_point, b_zero_point); QLinearMatMul(a, a_scale, a_zero_point,
// b, b_scale, b_zero_point, y_scale, y_zero_point) when `qlinear`.
void lower_integer_matmul(Lowerer &L, const Node &n, bool qlinear) {
    using Post = Lowerer::Post;
    Tensor acc = matmul_accumulation(L, n, 0, qlinear ? 3 : 1, n.input(2), n.input(qlinear ? 5 : 3));
    Post post;
    if (qlinear) {
        post = [&](Expr v, const std::vector<Var> &vars) {
            return L.requantize(n, v, as_exprs(vars), 0, n.input(1), n.input(4), n.input(6), n.input(7));
        };
    }
    // megalide's QLinearMatMul may carry an int32 bias per column (input 8, see rules.h).
    std::optional<Tensor> bias;
    if (qlinear && !n.input(8).empty()) bias = L.operand_in_layout(n.input(8), plain_layout(1));
    L.define(n, L.epilogue(n, acc, bias, post), plain_layout(static_cast<int>(L.info(n.outputs[0]).shape.size())));
}

void infer_gemm(Graph &g, Node &n) {
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
}

void infer_matmul(Graph &g, Node &n) {
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
}

void infer_integer_matmul(Graph &g, Node &n, bool q) {
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
}

}  // namespace

void register_linear_ops(std::vector<OpDef> &ops) {
    OpDef gemm;
    gemm.name = "Gemm";
    gemm.summary = "alpha * op(A) op(B) + beta * C on matrices";
    gemm.attributes = {{"transA", K::Int, "A transposed (default 0)"}, {"transB", K::Int, "B transposed (default 0)"},
                       {"alpha", K::Float, "default 1"}, {"beta", K::Float, "default 1"}};
    gemm.infer = infer_gemm;
    gemm.lower = lower_gemm;
    gemm.quantized = QuantizedForm::Accumulating;
    ops.push_back(gemm);

    OpDef matmul;
    matmul.name = "MatMul";
    matmul.summary = "NumPy matmul: batched, broadcast, rank-1 operands promoted";
    matmul.infer = infer_matmul;
    matmul.lower = lower_matmul;
    matmul.quantized = QuantizedForm::Accumulating;
    ops.push_back(matmul);

    OpDef integer;
    integer.name = "MatMulInteger";
    integer.summary = "matmul of 8-bit values with zero points, int32 result";
    integer.infer = [](Graph &g, Node &n) { infer_integer_matmul(g, n, false); };
    integer.lower = [](Lowerer &L, const Node &n) { lower_integer_matmul(L, n, false); };
    ops.push_back(integer);

    OpDef qlinear = integer;
    qlinear.name = "QLinearMatMul";
    qlinear.summary = "matmul of quantized 8-bit values, requantized to the output's scale";
    qlinear.infer = [](Graph &g, Node &n) { infer_integer_matmul(g, n, true); };
    qlinear.lower = [](Lowerer &L, const Node &n) { lower_integer_matmul(L, n, true); };
    ops.push_back(qlinear);
}

}  // namespace megalide::ops
