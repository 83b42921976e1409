#include "megalide/layers/reduce.h"

#include <limits>

#include "checks.h"
#include "reduction.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;

namespace {

enum class Kind { Sum, Mean, Max };

Tensor reduce(const char *kind_name, Kind kind, const std::string &name, const Tensor &x,
              std::vector<int> dims, bool keep_dims) {
    const std::string label = layer_label(kind_name, name);
    require_valid_shape(label, "input", x);
    std::vector<bool> reduced(static_cast<size_t>(x.rank()), dims.empty());
    for (int dim : dims) {
        const int d = normalize_dim(label, dim, x.rank());
        require(!reduced[static_cast<size_t>(d)], label,
                "dimension " + std::to_string(dim) + " is listed twice");
        reduced[static_cast<size_t>(d)] = true;
    }
    const Reduction red = make_reduction(name, x, reduced);

    // The last stage carries the layer's name; earlier ones get a suffix.
    const bool last_is_acc = kind != Kind::Mean && !keep_dims;
    Func acc(last_is_acc ? name : name + (kind == Kind::Max ? "_max" : "_sum"));
    if (kind == Kind::Max) {
        acc(red.kept) = std::numeric_limits<float>::lowest();
        acc(red.kept) = Halide::max(acc(red.kept), x(red.source));
    } else {
        acc(red.kept) = 0.0f;
        acc(red.kept) += x(red.source);
    }
    record_stage(acc, StageRole::Reduction);
    Func result = acc;
    if (kind == Kind::Mean) {
        result = Func(keep_dims ? name + "_mean" : name);
        result(red.kept) = acc(red.kept) * (1.0f / static_cast<float>(red.count));
    }
    if (!keep_dims) return {result, red.kept_shape};

    // Reinsert the reduced dimensions with extent 1.
    std::vector<Halide::Var> vars = make_vars(x.rank());
    Func kept(name);
    kept(vars) = result(kept_coords(as_exprs(vars), reduced));
    Shape shape = x.shape;
    for (int d = 0; d < x.rank(); ++d) {
        if (reduced[static_cast<size_t>(d)]) shape[static_cast<size_t>(d)] = 1;
    }
    return {kept, shape};
}

}  // namespace

Tensor reduce_sum(const std::string &name, const Tensor &x, std::vector<int> dims, bool keep) {
    return reduce("reduce_sum", Kind::Sum, name, x, std::move(dims), keep);
}
Tensor reduce_mean(const std::string &name, const Tensor &x, std::vector<int> dims, bool keep) {
    return reduce("reduce_mean", Kind::Mean, name, x, std::move(dims), keep);
}
Tensor reduce_max(const std::string &name, const Tensor &x, std::vector<int> dims, bool keep) {
    return reduce("reduce_max", Kind::Max, name, x, std::move(dims), keep);
}

}  // namespace megalide::layers
