// Concat, pad, transpose, reshape and flatten: pure data movement, so results are exact.
#include <algorithm>

#include "megalide/layers/shape_ops.h"
#include "test_util.h"

namespace megalide::test {
namespace {

TEST(Concat, AlongEachDimension) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int dim = 0; dim < 3; ++dim) {
        Shape a = {4, 3, 2}, b = a, c = a;
        b[dim] = 1, c[dim] = 5;
        auto xa = random_buffer(s, a), xb = random_buffer(s, b), xc = random_buffer(s, c);
        Tensor out = layers::concat("cat", {input("a", xa), input("b", xb), input("c", xc)}, dim);
        ref::Array want = ref::concat({to_array(xa), to_array(xb), to_array(xc)}, 2 - dim);
        expect_close(realize(out), want, 0, 0, "concat dim " + std::to_string(dim));
    }
}

TEST(Pad, ConstantEdgeReflect) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {5, 4, 3});
    const std::vector<int> before = {2, 0, 1}, after = {1, 3, 2};  // Halide order
    const std::vector<int> np_before(before.rbegin(), before.rend()), np_after(after.rbegin(), after.rend());
    const std::pair<layers::PadMode, ref::PadKind> modes[] = {
        {layers::PadMode::Constant, ref::PadKind::Constant},
        {layers::PadMode::Edge, ref::PadKind::Edge},
        {layers::PadMode::Reflect, ref::PadKind::Reflect}};
    for (const auto &[mode, kind] : modes) {
        Tensor out = layers::pad("pad", input("x", x), before, after, mode, 0.5f);
        expect_close(realize(out), ref::pad(to_array(x), np_before, np_after, kind, 0.5), 0, 0,
                     "pad mode " + std::to_string(static_cast<int>(mode)));
    }
}

TEST(Transpose, EveryPermutationOfRank3) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {5, 4, 3});
    std::vector<int> perm = {0, 1, 2};
    do {
        Tensor out = layers::transpose("t", input("x", x), perm);
        // Halide perm -> NumPy perm: reverse both the positions and the axis numbers.
        std::vector<int> np(3);
        for (int i = 0; i < 3; ++i) np[2 - i] = 2 - perm[i];
        expect_close(realize(out), ref::transpose(to_array(x), np), 0, 0, "transpose " + to_string(perm));
    } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(Reshape, KeepsRowMajorOrder) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    auto x = random_buffer(s, {6, 5, 4});
    for (const Shape &shape : {Shape{120}, Shape{10, 12}, Shape{2, 3, 4, 5}, Shape{4, 5, 6}}) {
        ref::Array want = to_array(x);  // a reshape of a C-order array keeps its data
        want.shape = std::vector<int>(shape.rbegin(), shape.rend());
        expect_close(realize(layers::reshape("r", input("x", x), shape)), want, 0, 0, "reshape to " + to_string(shape));
    }
    for (int inner = 0; inner <= 3; ++inner) {
        Tensor out = layers::flatten("f", input("x", x), inner);
        long long inner_size = 1;
        for (int d = 0; d < inner; ++d) inner_size *= x.dim(d).extent();
        ASSERT_EQ(out.shape, (Shape{static_cast<int>(inner_size), static_cast<int>(120 / inner_size)}));
        ref::Array want = to_array(x);
        want.shape = {out.shape[1], out.shape[0]};
        expect_close(realize(out), want, 0, 0, "flatten inner " + std::to_string(inner));
    }
}

}  // namespace
}  // namespace megalide::test
