// Gemm, dense and matmul against the reference's row-major loops. A Halide shape is the
// reversed NumPy shape over the same memory, so no permutation is needed here.
#include "megalide/layers/linear.h"
#include "test_util.h"

namespace megalide::test {
namespace {

Shape halide_shape(std::vector<int> numpy_shape) { return Shape(numpy_shape.rbegin(), numpy_shape.rend()); }

TEST(Gemm, AllTransposeCombinationsWithAlphaBetaAndBroadcastC) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 12; ++trial) {
        const bool ta = trial & 1, tb = trial & 2;
        const int m = s.uniform_int(1, 9), k = s.uniform_int(1, 33), n = s.uniform_int(1, 9);
        const float alpha = s.uniform(-2, 2), beta = s.uniform(-2, 2);
        // C: none, (N), (1, N), (M, 1) or (M, N) in NumPy order.
        const int c_kind = trial % 5;
        SCOPED_TRACE("M " + std::to_string(m) + " K " + std::to_string(k) + " N " +
                     std::to_string(n) + " trans " + std::to_string(ta) + std::to_string(tb) +
                     " C kind " + std::to_string(c_kind));
        auto a = random_buffer(s, halide_shape(ta ? std::vector<int>{k, m} : std::vector<int>{m, k}));
        auto b = random_buffer(s, halide_shape(tb ? std::vector<int>{n, k} : std::vector<int>{k, n}));
        const std::vector<std::vector<int>> c_shapes = {{}, {n}, {1, n}, {m, 1}, {m, n}};
        std::optional<Tensor> c;
        Halide::Buffer<float> cb;
        if (c_kind) {
            cb = random_buffer(s, halide_shape(c_shapes[c_kind]));
            c = input("c", cb);
        }
        Tensor out = layers::gemm("gemm", input("a", a), input("b", b), c, {ta, tb, alpha, beta});
        ref::Array c_ref = c_kind ? to_array(cb) : ref::Array();
        ref::Array want = ref::gemm(to_array(a), to_array(b), c_kind ? &c_ref : nullptr, ta, tb, alpha, beta);
        const double tol = 2 * reduction_tolerance(k + 1);  // alpha, beta up to 2 in magnitude
        expect_close(realize(out), want, tol, tol, "gemm");
    }
}

TEST(Dense, LinearLayerOverSequences) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int trial = 0; trial < 5; ++trial) {
        const int k = s.uniform_int(1, 70), n = s.uniform_int(1, 17), t = s.uniform_int(1, 6);
        auto x = random_buffer(s, {k, t, 2});
        auto w = random_buffer(s, {n, k});  // the K x N matrix W^T
        auto b = random_buffer(s, {n});
        Tensor out = layers::dense("fc", input("x", x), input("w", w), input("b", b));
        ref::Array want = ref::binary(ref::matmul(to_array(x), to_array(w)), to_array(b),
                                      [](double p, double q) { return p + q; });
        const double tol = reduction_tolerance(k + 1);
        expect_close(realize(out), want, tol, tol, "dense");
    }
}

TEST(MatMul, NumPyBroadcastingAndVectorOperands) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    const int m = 3, k = 5, n = 4;
    // NumPy shapes of A and B, as numpy.matmul accepts them.
    const std::vector<std::pair<std::vector<int>, std::vector<int>>> cases = {
        {{m, k}, {k, n}},
        {{2, m, k}, {2, k, n}},
        {{2, m, k}, {k, n}},
        {{3, 1, m, k}, {2, k, n}},
        {{1, m, k}, {4, 1, k, n}},
        {{k}, {k, n}},
        {{m, k}, {k}},
        {{k}, {k}},
        {{2, 3, m, k}, {k}},
        {{k}, {2, k, n}},
    };
    for (const auto &[as, bs] : cases) {
        SCOPED_TRACE("A " + to_string(as) + " B " + to_string(bs) + " (NumPy order)");
        auto a = random_buffer(s, halide_shape(as));
        auto b = random_buffer(s, halide_shape(bs));
        Tensor out = layers::matmul("mm", input("a", a), input("b", b));
        ref::Array want = ref::matmul(to_array(a), to_array(b));
        ASSERT_EQ(out.shape, halide_shape(want.shape));
        const double tol = reduction_tolerance(k);
        Halide::Buffer<float> got = out.rank() == 0 ? Halide::Buffer<float>::make_scalar() : Halide::Buffer<float>(out.shape);
        Halide::Func f = out.func;
        f.realize(got);
        expect_close(got, want, tol, tol, "matmul");
    }
}

}  // namespace
}  // namespace megalide::test
