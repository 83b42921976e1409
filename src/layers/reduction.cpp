#include "reduction.h"

namespace megalide::layers::detail {

Reduction make_reduction(const std::string &name, const Tensor &x,
                         const std::vector<bool> &reduced) {
    Reduction red;
    Halide::Region region;
    for (int d = 0; d < x.rank(); ++d) {
        if (reduced[static_cast<size_t>(d)]) {
            region.emplace_back(0, x.dim(d));
            red.count *= x.dim(d);
        }
    }
    red.r = Halide::RDom(region, name + "_r");
    int next_r = 0;
    for (int d = 0; d < x.rank(); ++d) {
        if (reduced[static_cast<size_t>(d)]) {
            red.source.push_back(red.r[next_r++]);
        } else {
            Halide::Var v("d" + std::to_string(red.kept.size()));
            red.kept.push_back(v);
            red.kept_shape.push_back(x.dim(d));
            red.source.push_back(v);
        }
    }
    return red;
}

std::vector<Halide::Expr> kept_coords(const std::vector<Halide::Expr> &all,
                                      const std::vector<bool> &reduced) {
    std::vector<Halide::Expr> kept;
    for (size_t d = 0; d < all.size(); ++d) {
        if (!reduced[d]) kept.push_back(all[d]);
    }
    return kept;
}

std::vector<bool> innermost(int rank, int count) {
    std::vector<bool> reduced(static_cast<size_t>(rank), false);
    for (int d = 0; d < count && d < rank; ++d) reduced[static_cast<size_t>(d)] = true;
    return reduced;
}

}  // namespace megalide::layers::detail
