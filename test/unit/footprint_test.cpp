// Footprints (src/schedule/footprint.h): the regions a pipeline reads to produce a region of
// one Func, as the megakernel planner measures halos and recompute with them. Expected
// regions are worked out by hand from each definition below.
#include <gtest/gtest.h>

#include "schedule/footprint.h"

namespace megalide::test {
namespace {

using strategies::CallGraph;
using strategies::Region;

Region box(std::vector<int64_t> min, std::vector<int64_t> max) { return {std::move(min), std::move(max)}; }

TEST(Footprint, StencilsStridesClampsAndReductions) {
    Halide::Var x("x"), y("y");
    Halide::Func f("fp_f"), g("fp_g"), h("fp_h"), p("fp_p"), acc("fp_acc"), out("fp_out");
    f(x, y) = x + y;
    g(x, y) = f(2 * x - 1, y) + f(2 * x + 1, y);     // stride 2 with a one-column halo
    p(x, y) = f(Halide::clamp(x, 0, 5), y);          // clamped, as a zero-padding reads
    Halide::RDom r(0, 3, "fp_r");
    acc(x, y) = 0;
    acc(x, y) += p(x + r, y + 1);                     // a 3-wide reduction window, one row down
    h(x, y) = g(x, y) * 2;
    out(x, y) = h(x, y) + acc(x, y);
    const CallGraph graph({out});

    // Producers come before their consumers.
    const std::vector<std::string> &order = graph.order();
    auto at = [&](const std::string &name) { return std::find(order.begin(), order.end(), name) - order.begin(); };
    EXPECT_LT(at("fp_f"), at("fp_g"));
    EXPECT_LT(at("fp_p"), at("fp_acc"));
    EXPECT_LT(at("fp_acc"), at("fp_out"));
    EXPECT_EQ(graph.consumers("fp_f"), (std::vector<std::string>{"fp_g", "fp_p"}));

    const auto regions = graph.required("fp_out", box({0, 3}, {9, 4}));
    auto expect = [&](const std::string &name, const Region &want) {
        ASSERT_TRUE(regions.count(name)) << name;
        EXPECT_EQ(regions.at(name).min, want.min) << name;
        EXPECT_EQ(regions.at(name).max, want.max) << name;
    };
    expect("fp_h", box({0, 3}, {9, 4}));
    expect("fp_g", box({0, 3}, {9, 4}));
    expect("fp_acc", box({0, 3}, {9, 4}));
    expect("fp_p", box({0, 4}, {11, 5}));   // x + r for r in [0, 2]; y + 1
    // f: g reads x in [2*0-1, 2*9+1] = [-1, 19], rows 3-4; p reads clamp(x) in [0, 5],
    // rows 4-5; the union.
    expect("fp_f", box({-1, 3}, {19, 5}));
    EXPECT_EQ(regions.at("fp_f").volume(), 21 * 3);
}

}  // namespace
}  // namespace megalide::test
