#include "megalide/layers/norm.h"

#include "checks.h"
#include "reduction.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;

Tensor batchnorm(const std::string &name, const Tensor &x, const Tensor &scale,
                 const Tensor &bias, const Tensor &mean, const Tensor &var, float epsilon) {
    const std::string label = layer_label("batchnorm", name);
    require(x.rank() >= 1, label, "input must have rank >= 1");
    const Shape channels = {x.dim(0)};
    require_shape(label, "scale", scale, channels);
    require_shape(label, "bias", bias, channels);
    require_shape(label, "mean", mean, channels);
    require_shape(label, "var", var, channels);
    require(epsilon >= 0.0f, label, "epsilon must be non-negative");
    std::vector<Halide::Var> vars = make_vars(x.rank());
    Expr c = vars[0];
    Func out(name);
    out(vars) = (x(as_exprs(vars)) - mean({c})) / Halide::sqrt(var({c}) + epsilon) * scale({c}) +
                bias({c});
    return {out, x.shape};
}

namespace {

void check_norm(const std::string &label, const Tensor &x, int norm_dims, const Tensor &gamma,
                const std::optional<Tensor> &beta, float epsilon) {
    require_valid_shape(label, "input", x);
    require(norm_dims >= 1 && norm_dims <= x.rank(), label,
            "norm_dims " + std::to_string(norm_dims) + " must be in [1, " +
                std::to_string(x.rank()) + "] for " + describe("input", x));
    const Shape normalized(x.shape.begin(), x.shape.begin() + norm_dims);
    require_shape(label, "gamma", gamma, normalized);
    if (beta) require_shape(label, "beta", *beta, normalized);
    require(epsilon >= 0.0f, label, "epsilon must be non-negative");
}

}  // namespace

Tensor layernorm(const std::string &name, const Tensor &x, const Tensor &gamma,
                 const std::optional<Tensor> &beta, int norm_dims, float epsilon) {
    const std::string label = layer_label("layernorm", name);
    check_norm(label, x, norm_dims, gamma, beta, epsilon);
    const std::vector<bool> reduced = innermost(x.rank(), norm_dims);

    // Shifted two-pass statistics. Every row is shifted by its first element x0 and the mean
    // is kept as the deviation m = mean(x - x0), never materialized as x0 + m: for rows with a
    // large common offset (mean 1e4, spread 1) x - x0 is exact and m keeps the spread's
    // precision, where a float mean near 1e4 would be off by up to half an ulp (5e-4).
    const Reduction r1 = make_reduction(name + "_mean", x, reduced);
    std::vector<Expr> first = as_exprs(r1.kept);
    first.insert(first.begin(), static_cast<size_t>(norm_dims), Expr(0));
    Func mean_dev(name + "_mean");
    mean_dev(r1.kept) = 0.0f;
    mean_dev(r1.kept) += (x(r1.source) - x(first)) * (1.0f / static_cast<float>(r1.count));

    // Pass 2: mean of squared deviations from the mean (never E[x^2] - E[x]^2).
    const Reduction r2 = make_reduction(name + "_var", x, reduced);
    std::vector<Expr> first2 = as_exprs(r2.kept);
    first2.insert(first2.begin(), static_cast<size_t>(norm_dims), Expr(0));
    Func sq_dev(name + "_sq_dev");
    sq_dev(r2.kept) = 0.0f;
    // strict_float: Halide lets LLVM reassociate float math, which would fold the shift back
    // into x - (x0 + m) and lose exactly the digits the shift preserves.
    Expr dev = Halide::strict_float((x(r2.source) - x(first2)) - mean_dev(r2.kept));
    sq_dev(r2.kept) += dev * dev;
    record_stage(mean_dev, StageRole::RowStatistic);
    record_stage(sq_dev, StageRole::RowStatistic);
    Func inv_std(name + "_inv_std");
    inv_std(r2.kept) =
        1.0f / Halide::sqrt(sq_dev(r2.kept) * (1.0f / static_cast<float>(r2.count)) + epsilon);

    std::vector<Halide::Var> vars = make_vars(x.rank());
    const std::vector<Expr> all = as_exprs(vars);
    const std::vector<Expr> stat = kept_coords(all, reduced);
    std::vector<Expr> row_first = stat;
    row_first.insert(row_first.begin(), static_cast<size_t>(norm_dims), Expr(0));
    const std::vector<Expr> affine(all.begin(), all.begin() + norm_dims);
    Expr centered = Halide::strict_float((x(all) - x(row_first)) - mean_dev(stat));
    Expr y = centered * inv_std(stat) * gamma(affine);
    if (beta) y += (*beta)(affine);
    Func out(name);
    out(vars) = y;
    return {out, x.shape};
}

Tensor rmsnorm(const std::string &name, const Tensor &x, const Tensor &gamma, int norm_dims,
               float epsilon) {
    const std::string label = layer_label("rmsnorm", name);
    check_norm(label, x, norm_dims, gamma, std::nullopt, epsilon);
    const std::vector<bool> reduced = innermost(x.rank(), norm_dims);

    const Reduction r = make_reduction(name + "_ms", x, reduced);
    Func sum_sq(name + "_sum_sq");
    sum_sq(r.kept) = 0.0f;
    sum_sq(r.kept) += x(r.source) * x(r.source);
    record_stage(sum_sq, StageRole::RowStatistic);
    Func inv_rms(name + "_inv_rms");
    inv_rms(r.kept) =
        1.0f / Halide::sqrt(sum_sq(r.kept) * (1.0f / static_cast<float>(r.count)) + epsilon);

    std::vector<Halide::Var> vars = make_vars(x.rank());
    const std::vector<Expr> all = as_exprs(vars);
    const std::vector<Expr> affine(all.begin(), all.begin() + norm_dims);
    Func out(name);
    out(vars) = x(all) * inv_rms(kept_coords(all, reduced)) * gamma(affine);
    return {out, x.shape};
}

}  // namespace megalide::layers
