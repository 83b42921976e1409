// Scaled dot-product attention against a double-precision loop, causal and not, with batch
// dimensions and Tq != Tk.
#include <cmath>

#include "megalide/layers/attention.h"
#include "test_util.h"

namespace megalide::test {
namespace {

TEST(Attention, MatchesReference) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    struct Case { int d, tq, tk, e; Shape batch; bool causal; };
    const Case cases[] = {{8, 5, 5, 8, {}, false}, {8, 5, 5, 8, {}, true}, {16, 3, 7, 4, {2}, false},
                          {4, 7, 7, 6, {3, 2}, true}, {1, 1, 1, 1, {}, true}, {8, 6, 4, 8, {2}, true}};
    for (const Case &c : cases) {
        SCOPED_TRACE("D " + std::to_string(c.d) + " Tq " + std::to_string(c.tq) + " Tk " + std::to_string(c.tk) +
                     " E " + std::to_string(c.e) + " batch " + to_string(c.batch) + " causal " + std::to_string(c.causal));
        auto with_batch = [&](Shape s2) { s2.insert(s2.end(), c.batch.begin(), c.batch.end()); return s2; };
        auto q = random_buffer(s, with_batch({c.d, c.tq}), -2, 2);
        auto k = random_buffer(s, with_batch({c.d, c.tk}), -2, 2);
        auto v = random_buffer(s, with_batch({c.e, c.tk}));
        Tensor out = layers::scaled_dot_product_attention("attn", input("q", q), input("k", k), input("v", v), c.causal);
        ref::Array want = ref::attention(to_array(q), to_array(k), to_array(v), c.causal, 1.0 / std::sqrt(c.d));
        // Scores carry a D-term dot product through exp (error amplified by |score| <= 4 D /
        // sqrt(D)), then a Tk-term weighted sum.
        const double tol = reduction_tolerance(4 * c.d * (c.tk + 2));
        expect_close(realize(out), want, tol, tol, "attention");
    }
}

TEST(Attention, ExplicitScale) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto q = random_buffer(s, {4, 3}), k = random_buffer(s, {4, 5}), v = random_buffer(s, {2, 5});
    Tensor out = layers::scaled_dot_product_attention("attn", input("q", q), input("k", k), input("v", v), false, 3.0f);
    const double tol = reduction_tolerance(4 * 4 * 7);
    expect_close(realize(out), ref::attention(to_array(q), to_array(k), to_array(v), false, 3.0), tol, tol, "attention scale 3");
}

}  // namespace
}  // namespace megalide::test
