#include "megalide/layers/attention.h"

#include <cmath>
#include <limits>

#include "checks.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

Tensor scaled_dot_product_attention(const std::string &name, const Tensor &q, const Tensor &k,
                                    const Tensor &v, bool causal, std::optional<float> scale) {
    const std::string label = layer_label("scaled_dot_product_attention", name);
    require(q.rank() >= 2, label, "q must have rank >= 2 (d, t, batch...), got " + to_string(q.shape));
    const Shape batch(q.shape.begin() + 2, q.shape.end());
    const int depth = q.dim(0), tq = q.dim(1);
    require(k.rank() == q.rank() && k.dim(0) == depth &&
                Shape(k.shape.begin() + 2, k.shape.end()) == batch,
            label, "k must be (" + std::to_string(depth) + ", Tk, batch...) to match " +
                       describe("q", q) + ", got " + to_string(k.shape));
    const int tk = k.dim(1);
    require(v.rank() == q.rank() && v.dim(1) == tk &&
                Shape(v.shape.begin() + 2, v.shape.end()) == batch,
            label, "v must be (E, " + std::to_string(tk) + ", batch...) to match " +
                       describe("k", k) + ", got " + to_string(v.shape));
    const float s = scale.value_or(static_cast<float>(1.0 / std::sqrt(static_cast<double>(depth))));

    Var j("j"), i("i");
    std::vector<Var> b = make_vars(static_cast<int>(batch.size()), "b");
    auto at = [&](Expr inner, Expr outer) {
        std::vector<Expr> coords = {std::move(inner), std::move(outer)};
        coords.insert(coords.end(), b.begin(), b.end());
        return coords;
    };
    auto vars = [&](const Var &inner, const Var &outer) {
        std::vector<Var> all = {inner, outer};
        all.insert(all.end(), b.begin(), b.end());
        return all;
    };
    std::vector<Var> row = {i};
    row.insert(row.end(), b.begin(), b.end());

    // Scores (j over keys innermost, i over queries): scale * q . k.
    RDom rd(0, depth, name + "_rd");
    Func dot(name + "_dot");
    dot(vars(j, i)) = 0.0f;
    dot(vars(j, i)) += q(at(rd.x, i)) * k(at(rd.x, j));
    Expr masked = causal ? Expr(j > i) : Halide::Internal::const_false();

    // Row softmax over the keys; masked keys contribute exactly zero.
    RDom rj(0, tk, name + "_rj");
    Func row_max(name + "_max");
    row_max(row) = std::numeric_limits<float>::lowest();
    Expr masked_rj = causal ? Expr(rj.x > i) : Halide::Internal::const_false();
    row_max(row) = Halide::select(masked_rj, row_max(row),
                                  Halide::max(row_max(row), s * dot(at(rj.x, i))));
    Func weight(name + "_exp");
    weight(vars(j, i)) = Halide::select(masked, 0.0f, Halide::exp(s * dot(at(j, i)) - row_max(row)));
    Func row_sum(name + "_sum");
    row_sum(row) = 0.0f;
    row_sum(row) += weight(at(rj.x, i));
    record_stage(dot, StageRole::Accumulator).matrix_product = true;
    record_stage(row_max, StageRole::RowStatistic);
    record_stage(weight, StageRole::RowElementwise);
    record_stage(row_sum, StageRole::RowStatistic);

    // Weighted sum of values, normalized once per output element.
    Var e("e");
    Func acc(name + "_pv");
    acc(vars(e, i)) = 0.0f;
    acc(vars(e, i)) += weight(at(rj.x, i)) * v(at(e, rj.x));
    record_stage(acc, StageRole::Accumulator).matrix_product = true;
    Func out(name);
    out(vars(e, i)) = acc(vars(e, i)) / row_sum(row);
    Shape shape = {v.dim(0), tq};
    shape.insert(shape.end(), batch.begin(), batch.end());
    return {out, shape};
}

}  // namespace megalide::layers
