// Rule fold_transpose_into_matmul: see rewrite/rules.h.
#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

namespace {

// True if `perm` keeps every axis but swaps the last two.
bool swaps_last_two(const std::vector<int64_t> &perm) {
    const size_t r = perm.size();
    if (r < 2) return false;
    for (size_t i = 0; i + 2 < r; ++i) if (perm[i] != static_cast<int64_t>(i)) return false;
    return perm[r - 2] == static_cast<int64_t>(r - 1) && perm[r - 1] == static_cast<int64_t>(r - 2);
}

}  // namespace

bool fold_transpose_into_matmul(Graph &g) {
    for (Node &n : g.nodes) {
        if (unfused_op(n) != "MatMul") continue;
        for (size_t side = 0; side < 2; ++side) {
            const int p = producer_index(g, n.input(side));
            if (p < 0) continue;
            const Node &t = g.nodes[static_cast<size_t>(p)];
            std::vector<int64_t> perm = t.get_ints("perm", {});
            if (t.op != "Transpose" || !swaps_last_two(perm)) continue;
            const char *flag = side == 0 ? "transA" : "transB";
            make_fused(n);  // ONNX's MatMul has no transposed operands
            n.attrs[flag] = Attribute::of(static_cast<int64_t>(n.get_int(flag, 0) ? 0 : 1));
            n.inputs[side] = t.input(0);
            return true;  // the Transpose, if now unused, is removed as dead code
        }
    }
    return false;
}

}  // namespace megalide::rules
