// Softmax and log-softmax along every axis, and on logits of +-1e4 where exp overflows
// unless the maximum is subtracted first.
#include <cmath>

#include "megalide/layers/softmax.h"
#include "test_util.h"

namespace megalide::test {
namespace {

TEST(Softmax, EveryAxisBothForms) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {17, 4, 3}, -5.0f, 5.0f);
    for (int dim = 0; dim < 3; ++dim) {
        const int axis = 2 - dim;  // NumPy axis of Halide dimension `dim`
        const double tol = reduction_tolerance(x.dim(dim).extent() + 2);
        expect_close(realize(layers::softmax("softmax", input("x", x), dim)),
                     ref::softmax(to_array(x), axis, false), tol, tol, "softmax dim " + std::to_string(dim));
        expect_close(realize(layers::log_softmax("log_softmax", input("x", x), dim)),
                     ref::softmax(to_array(x), axis, true), tol, tol, "log_softmax dim " + std::to_string(dim));
    }
}

TEST(Softmax, HugeLogitsStayFinite) {
    Halide::Buffer<float> x(4, 2);
    const float rows[2][4] = {{1e4f, -1e4f, 0.0f, 1e4f - 1.0f}, {-1e4f, -1e4f + 2.0f, -1e4f, -1e4f}};
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j) x(j, i) = rows[i][j];
    const double tol = reduction_tolerance(6);
    expect_close(realize(layers::softmax("softmax", input("x", x))), ref::softmax(to_array(x), 1, false),
                 tol, tol, "softmax of +-1e4");
    // log_softmax of the -1e4 entry next to a 1e4 one is -2e4, finite, not -inf.
    expect_close(realize(layers::log_softmax("log_softmax", input("x", x))),
                 ref::softmax(to_array(x), 1, true), tol, tol, "log_softmax of +-1e4");
}

}  // namespace
}  // namespace megalide::test
