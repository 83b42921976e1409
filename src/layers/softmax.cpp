#include "megalide/layers/softmax.h"

#include <limits>

#include "checks.h"
#include "reduction.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;

namespace {

Tensor softmax_family(const char *kind, bool log_form, const std::string &name, const Tensor &x,
                      int dim) {
    const std::string label = layer_label(kind, name);
    require_valid_shape(label, "input", x);
    const int d = normalize_dim(label, dim, x.rank());
    std::vector<bool> reduced(static_cast<size_t>(x.rank()), false);
    reduced[static_cast<size_t>(d)] = true;

    // The algorithm: max along the axis; the shifted exponentials as their own stage (so a
    // schedule can compute them once, vectorized, and reuse them for the sum and the
    // quotient); their sum; then normalize.
    const Reduction red = make_reduction(name + "_max", x, reduced);
    Func max_f(name + "_max");
    max_f(red.kept) = std::numeric_limits<float>::lowest();
    max_f(red.kept) = Halide::max(max_f(red.kept), x(red.source));

    std::vector<Halide::Var> vars = make_vars(x.rank());
    const std::vector<Expr> all = as_exprs(vars);
    const std::vector<Expr> stat = kept_coords(all, reduced);
    Func exps(name + "_exp");
    exps(vars) = Halide::exp(x(all) - max_f(stat));

    const Reduction red_sum = make_reduction(name + "_sum", x, reduced);
    Func sum_f(name + "_sum");
    sum_f(red_sum.kept) = 0.0f;
    sum_f(red_sum.kept) += exps(red_sum.source);
    record_stage(max_f, StageRole::RowStatistic);
    record_stage(exps, StageRole::RowElementwise);
    record_stage(sum_f, StageRole::RowStatistic);

    Expr shifted = x(all) - max_f(stat);
    Func out(name);
    if (log_form) {
        // strict_float keeps (x - max) - log(sum) from being reassociated into
        // x - (max + log(sum)), which rounds log(sum) to the ulp of max (1e-3 at 1e4).
        out(vars) = Halide::strict_float(shifted - Halide::log(sum_f(stat)));
    } else {
        out(vars) = exps(all) / sum_f(stat);
    }
    return {out, x.shape};
}

}  // namespace

Tensor softmax(const std::string &name, const Tensor &x, int dim) {
    return softmax_family("softmax", false, name, x, dim);
}

Tensor log_softmax(const std::string &name, const Tensor &x, int dim) {
    return softmax_family("log_softmax", true, name, x, dim);
}

}  // namespace megalide::layers
