// Reductions over random axis sets, with and without keep_dims.
#include "megalide/layers/reduce.h"
#include "test_util.h"

namespace megalide::test {
namespace {

TEST(Reduce, SumMeanMaxOverAxisSets) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {6, 5, 3, 2});
    // Halide dimensions to reduce; {} means all of them.
    const std::vector<std::vector<int>> dim_sets = {{0}, {1}, {3}, {0, 2}, {1, 2, 3}, {}, {-1}};
    for (const auto &dims : dim_sets) {
        for (bool keep : {true, false}) {
            std::vector<int> axes;
            for (int d : dims) axes.push_back(3 - (d < 0 ? d + 4 : d));
            long long count = 1;
            for (int d : dims) count *= x.dim(d < 0 ? d + 4 : d).extent();
            if (dims.empty()) count = x.number_of_elements();
            SCOPED_TRACE("dims " + to_string(dims) + " keep_dims " + std::to_string(keep));
            const double tol = reduction_tolerance(count + 1);
            auto check = [&](const Tensor &t, ref::Reduce kind, double atol, const char *what) {
                ref::Array want = ref::reduce(to_array(x), axes, keep, kind);
                ASSERT_EQ(t.shape, Shape(want.shape.rbegin(), want.shape.rend())) << what;
                Halide::Buffer<float> got = t.rank() ? Halide::Buffer<float>(t.shape) : Halide::Buffer<float>::make_scalar();
                Halide::Func f = t.func;
                f.realize(got);
                expect_close(got, want, atol, atol, what);
            };
            check(layers::reduce_sum("rsum", input("x", x), dims, keep), ref::Reduce::Sum, tol, "reduce_sum");
            check(layers::reduce_mean("rmean", input("x", x), dims, keep), ref::Reduce::Mean, tol, "reduce_mean");
            check(layers::reduce_max("rmax", input("x", x), dims, keep), ref::Reduce::Max, 0, "reduce_max");
        }
    }
}

}  // namespace
}  // namespace megalide::test
