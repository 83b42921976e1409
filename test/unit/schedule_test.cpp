// Schedules as data: every strategy computes what the unscheduled pipeline computes; JSON
// round trips; the C++ form names the same steps; illegal schedules are rejected with a
// clear error before Halide sees them (the dry run uses the same checks as apply).
#include <cmath>
#include <functional>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "test_util.h"

#include "megalide/lower/lower.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"

namespace megalide::test {
namespace {

using Ints = std::vector<int64_t>;

HostArray random_array(std::mt19937 &rng, const Ints &shape, float lo = -1, float hi = 1) {
    return random_host_array(rng, shape, lo, hi);
}

// A small network touching every per_op template: a padded conv with fused ReLU (tiled
// accumulation), a depthwise conv, max pooling (a reduction stage), global pooling, a Gemm,
// and a softmax (statistics inside a layer).
Graph small_network() {
    std::mt19937 rng(11);
    Graph g;
    g.add_input("x", DType::Float32, {1, 3, 12, 10});
    g.add_constant("w1", random_array(rng, {20, 3, 3, 3}));
    g.add_constant("b1", random_array(rng, {20}));
    g.add_constant("w2", random_array(rng, {20, 1, 3, 3}));
    g.add_constant("fc", random_array(rng, {7, 20}));
    g.add_constant("fcb", random_array(rng, {7}));
    g.add_node("Conv", {"x", "w1", "b1"}, {"c1"}, {{"pads", Attribute::of(Ints{1, 1, 1, 1})}});
    g.add_node("Relu", {"c1"}, {"r1"});
    g.add_node("Conv", {"r1", "w2"}, {"c2"}, {{"group", Attribute::of(int64_t{20})}, {"pads", Attribute::of(Ints{1, 1, 1, 1})}});
    g.add_node("MaxPool", {"c2"}, {"p"}, {{"kernel_shape", Attribute::of(Ints{2, 2})}, {"strides", Attribute::of(Ints{2, 2})}});
    g.add_node("GlobalAveragePool", {"p"}, {"gap"});
    g.add_node("Flatten", {"gap"}, {"flat"});
    g.add_node("Gemm", {"flat", "fc", "fcb"}, {"logits"}, {{"transB", Attribute::of(int64_t{1})}});
    g.add_node("Softmax", {"logits"}, {"y"});
    g.add_output("y");
    g.add_output("c2");
    g.sort();
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    return g;
}

std::vector<HostArray> run_with(const Graph &g, const std::string &strategy, const std::vector<HostArray> &inputs,
                                Schedule *used = nullptr, int threads = 2) {
    LoweredGraph lowered = lower(g);
    const TargetSpec target = host_target_spec(threads);
    Schedule s = make_schedule(strategy, g, lowered, target);
    apply(s, g, lowered, target);
    if (used) *used = s;
    return run(lowered, inputs);
}

TEST(Schedule, EveryStrategyComputesTheUnscheduledResult) {
    const Graph g = small_network();
    std::mt19937 rng(3);
    const std::vector<HostArray> inputs = {random_array(rng, {1, 3, 12, 10})};
    LoweredGraph plain = lower(g);  // no schedule: Halide's defaults
    const std::vector<HostArray> want = run(plain, inputs);
    for (const std::string &strategy : strategy_names()) {
        SCOPED_TRACE("strategy " + strategy);
        if (strategy == "megakernel:tuned") {
            // Only on request, and only where --tune saved one: none exists for this graph.
            try {
                run_with(g, strategy, inputs);
                ADD_FAILURE() << "megakernel:tuned ran without a tuned schedule";
            } catch (const Error &e) {
                EXPECT_NE(std::string(e.what()).find("no tuned megakernel schedule for this graph"), std::string::npos) << e.what();
            }
            continue;
        }
        const std::vector<HostArray> got = run_with(g, strategy, inputs);
        ASSERT_EQ(got.size(), want.size());
        for (size_t o = 0; o < want.size(); ++o) {
            const std::vector<double> w = want[o].to_doubles(), v = got[o].to_doubles();
            for (size_t i = 0; i < w.size(); ++i) {
                // Same algorithm, other loop order: float reassociation within a 27-term
                // reduction, far below any scheduling bug's error.
                ASSERT_NEAR(v[i], w[i], 1e-5 * (1 + std::abs(w[i]))) << "output " << o << " element " << i;
            }
        }
    }
}

TEST(Schedule, PerOpPlacesAccumulatorsPerTileAndLayersAtRoot) {
    const Graph g = small_network();
    LoweredGraph lowered = lower(g);
    const Schedule s = make_schedule("per_op", g, lowered, host_target_spec(1));
    int accumulators = 0, row_stats = 0, root = 0;
    for (const FuncSchedule &f : s.funcs) {
        if (f.placement == Placement::At && f.func.find("_acc") != std::string::npos) {
            ++accumulators;
        } else if (f.placement == Placement::At) {
            // The softmax's statistics are computed per row inside the softmax's own output.
            EXPECT_EQ(f.compute_at.func, "y") << f.func;
            EXPECT_EQ(f.func.rfind("y_", 0), 0u) << f.func << " is not one of the softmax's stages";
            ++row_stats;
        }
        root += f.placement == Placement::Root;
    }
    EXPECT_EQ(accumulators, 3) << "conv, depthwise and Gemm accumulate per register tile\n" << s.to_cpp();
    EXPECT_EQ(row_stats, 3) << "softmax max, exponentials and sum per row\n" << s.to_cpp();
    EXPECT_GE(root, 6);
}

TEST(Schedule, JsonRoundTripAndCpp) {
    const Graph g = small_network();
    LoweredGraph lowered = lower(g);
    const Schedule s = make_schedule("per_op", g, lowered, host_target_spec(2));
    const std::string json = s.to_json();
    const Schedule back = Schedule::from_json(json, "round trip");
    EXPECT_EQ(back.to_json(), json);
    EXPECT_EQ(back.to_cpp(), s.to_cpp());
    const std::string cpp = s.to_cpp();
    EXPECT_NE(cpp.find(".compute_root();"), std::string::npos) << cpp;
    EXPECT_NE(cpp.find(".compute_at("), std::string::npos) << cpp;
    EXPECT_NE(cpp.find(".vectorize("), std::string::npos) << cpp;
    // A loaded schedule applies and gives the same result as the one made in memory.
    std::mt19937 rng(5);
    const std::vector<HostArray> inputs = {random_array(rng, {1, 3, 12, 10})};
    LoweredGraph a = lower(g), b = lower(g);
    apply(s, g, a, host_target_spec(2));
    apply(back, g, b, host_target_spec(2));
    EXPECT_EQ(run(a, inputs)[0].bytes, run(b, inputs)[0].bytes);
    const Schedule autos = make_schedule("adams2019", g, a, host_target_spec(2));
    EXPECT_EQ(Schedule::from_json(autos.to_json(), "x").autoscheduler, "Adams2019");
}

// A small inverted residual (B1's shape of graph): 1x1 expand + ReLU, 3x3 depthwise, 1x1
// project, residual add.
Graph inverted_residual() {
    std::mt19937 rng(17);
    Graph g;
    g.add_input("x", DType::Float32, {1, 8, 14, 12});
    g.add_constant("we", random_array(rng, {32, 8, 1, 1}));
    g.add_constant("wd", random_array(rng, {32, 1, 3, 3}));
    g.add_constant("wp", random_array(rng, {8, 32, 1, 1}));
    g.add_node("Conv", {"x", "we"}, {"e"});
    g.add_node("Relu", {"e"}, {"er"});
    g.add_node("Conv", {"er", "wd"}, {"d"}, {{"group", Attribute::of(int64_t{32})}, {"pads", Attribute::of(Ints{1, 1, 1, 1})}});
    g.add_node("Conv", {"d", "wp"}, {"p"});
    g.add_node("Add", {"x", "p"}, {"y"});
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    return g;
}

TEST(Schedule, MegakernelSlidesFoldsAndEqualsUnfused) {
    const Graph g = inverted_residual();
    std::mt19937 rng(23);
    const std::vector<HostArray> inputs = {random_array(rng, {1, 8, 14, 12})};
    Schedule fused;
    const std::vector<double> unfused = run_with(g, "per_op", inputs)[0].to_doubles();
    const std::vector<double> got = run_with(g, "megakernel", inputs, &fused)[0].to_doubles();
    ASSERT_EQ(got.size(), unfused.size());
    // Same register-tile kernels, intermediates kept elsewhere: reductions of 32 terms at
    // most, summed in the same order; only the compiler's contraction may differ.
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], unfused[i], 1e-5 * (1 + std::abs(unfused[i]))) << i;
    // The expand and depthwise layers are sliding windows inside the output's row tiles,
    // folded to a few rows; per_op puts them at root.
    int sliding = 0;
    for (const FuncSchedule &f : fused.funcs) {
        if (f.func == "e" || f.func == "er" || f.func == "d") {
            EXPECT_EQ(f.placement, Placement::At) << f.func << "\n" << fused.to_cpp();
            EXPECT_FALSE(f.store_at.empty()) << f.func;
            EXPECT_GT(f.fold_factor, 0) << f.func;
            ++sliding;
        }
    }
    EXPECT_GE(sliding, 2) << fused.to_cpp();
    const Schedule back = Schedule::from_json(fused.to_json(), "round trip");
    EXPECT_EQ(back.to_json(), fused.to_json());
    EXPECT_NE(fused.to_cpp().find(".fold_storage("), std::string::npos) << fused.to_cpp();
    // Folding without store_at, or along something that is not a dimension, is rejected.
    LoweredGraph lowered = lower(g);
    for (FuncSchedule &f : Schedule(fused).funcs) {
        if (!f.fold_factor) continue;
        Schedule bad = fused;
        for (FuncSchedule &b : bad.funcs) if (b.func == f.func) b.fold_var = "q";
        expect_throws_with<ScheduleError>([&] { check_schedule(bad, lowered); }, {"fold_storage: 'q' is not a dimension"});
        for (FuncSchedule &b : bad.funcs) if (b.func == f.func) b.fold_var = f.fold_var, b.store_at = {};
        expect_throws_with<ScheduleError>([&] { check_schedule(bad, lowered); }, {"fold_storage needs store_at"});
        break;
    }
}

// ResNet-18's last block: 512 channels on a 7x7 image, 9.4 MB of weights per 3x3
// convolution against 98 KB of output. Computing the first convolution per row of the second
// (a sliding window) would stream its weights from beyond L2 once per row for no saving (its
// output stays in L2 anyway): the planner keeps it whole, and the result is per_op's.
TEST(Schedule, MegakernelKeepsWeightHeavyLayersOutOfRowWindows) {
    std::mt19937 rng(31);
    Graph g;
    g.add_input("x", DType::Float32, {1, 512, 7, 7});
    g.add_constant("w1", random_array(rng, {512, 512, 3, 3}, -0.02f, 0.02f));
    g.add_constant("w2", random_array(rng, {512, 512, 3, 3}, -0.02f, 0.02f));
    const std::map<std::string, Attribute> pads = {{"pads", Attribute::of(Ints{1, 1, 1, 1})}};
    g.add_node("Conv", {"x", "w1"}, {"a"}, pads);
    g.add_node("Relu", {"a"}, {"ar"});
    g.add_node("Conv", {"ar", "w2"}, {"b"}, pads);
    g.add_node("Add", {"x", "b"}, {"s"});
    g.add_node("Relu", {"s"}, {"sr"});
    g.add_node("GlobalAveragePool", {"sr"}, {"y"});  // (as in the network: the next section is the classifier)
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    const std::vector<HostArray> inputs = {random_array(rng, {1, 512, 7, 7})};
    Schedule planned;
    for (int threads : {1, 2}) {
    SCOPED_TRACE(std::to_string(threads) + " thread(s)");
    const std::vector<double> unfused = run_with(g, "per_op", inputs, nullptr, threads)[0].to_doubles();
    const std::vector<double> got = run_with(g, "megakernel", inputs, &planned, threads)[0].to_doubles();
    ASSERT_EQ(got.size(), unfused.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], unfused[i], 1e-4 * (1 + std::abs(unfused[i]))) << i;
    int seen = 0;
    for (const FuncSchedule &f : planned.funcs) {
        if (f.func != "ar" && f.func != "a") continue;
        ++seen;
        EXPECT_TRUE(f.store_at.empty()) << f.func << " slides inside the second convolution\n" << planned.to_cpp();
        EXPECT_EQ(f.fold_factor, 0) << f.func << "\n" << planned.to_cpp();
    }
    EXPECT_GT(seen, 0) << planned.to_cpp();
    }
}

// Three 3x3 depthwise convolutions in a row, each output larger than half of any L2 seen:
// the last one's rows may slide over the second's (3 rows held per row added), not over the
// first's (5 per 1; MobileNetV2's stem and blocks 1-2 under block 3 ran 1.8x slower so).
TEST(Schedule, MegakernelSlidesOverOneWindowAtATime) {
    std::mt19937 rng(41);
    Graph g;
    g.add_input("x", DType::Float32, {1, 32, 96, 96});
    const std::map<std::string, Attribute> dw = {{"group", Attribute::of(int64_t{32})}, {"pads", Attribute::of(Ints{1, 1, 1, 1})}};
    std::string in = "x";
    for (const std::string name : {"a", "b", "c"}) {
        g.add_constant("w" + name, random_array(rng, {32, 1, 3, 3}));
        g.add_node("Conv", {in, "w" + name}, {name}, dw);
        g.add_node("Relu", {name}, {name + "r"});
        in = name + "r";
    }
    g.add_output(in);
    g.sort();
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    const std::vector<HostArray> inputs = {random_array(rng, {1, 32, 96, 96})};
    Schedule planned;
    const std::vector<double> unfused = run_with(g, "per_op", inputs, nullptr, 1)[0].to_doubles();
    const std::vector<double> got = run_with(g, "megakernel", inputs, &planned, 1)[0].to_doubles();
    ASSERT_EQ(got.size(), unfused.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], unfused[i], 1e-4 * (1 + std::abs(unfused[i]))) << i;
    // (the rewrites fold each ReLU into its convolution: the layer outputs are a, b and cr)
    std::map<std::string, std::string> slides_in;  // layer output -> the Func whose tiles store it
    for (const FuncSchedule &f : planned.funcs) {
        if (f.func == "a" || f.func == "b") slides_in[f.func] = f.store_at.func;
    }
    ASSERT_EQ(slides_in.size(), 2u) << planned.to_cpp();
    EXPECT_FALSE(slides_in["b"].empty()) << "b should slide in the last convolution's rows\n" << planned.to_cpp();
    EXPECT_NE(slides_in["a"], slides_in["b"]) << "a slides behind two windows\n" << planned.to_cpp();
}

// A 3x3 convolution on a 7x7 image (ResNet-18's layer4 shape, fewer channels).
Graph small_image_conv() {
    std::mt19937 rng(17);
    Graph g;
    g.add_input("x", DType::Float32, {1, 64, 7, 7});
    g.add_constant("w", random_array(rng, {64, 64, 3, 3}));
    g.add_node("Conv", {"x", "w"}, {"c"}, {{"pads", Attribute::of(Ints{1, 1, 1, 1})}});
    g.add_node("Relu", {"c"}, {"y"});
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    return g;
}

TEST(Schedule, RegisterTilesFitTheRowsTheyStepThrough) {
    // A last register tile shifted inwards computes its overlap twice: 7-pixel rows in tiles
    // of 6 computed 12 pixels per row (a 7x7x512 conv ran at 52% of the FMA peak on a Zen 3).
    // On every x86 target the tiles of a 7-pixel row must compute at most 8 pixels.
    const Graph g = small_image_conv();
    for (const std::string target : {"x86-64-avx2", "x86-64-avx512"}) {
        LoweredGraph lowered = lower(g);
        const Schedule s = make_schedule("per_op", g, lowered, target_spec(target, 1));
        int tiles = 0;
        for (const FuncSchedule &f : s.funcs) {
            for (const StageSchedule &st : f.stages) {
                for (const LoopStep &step : st.steps) {
                    if (step.kind != LoopStep::Kind::Split || step.vars.at(0) != "d1" || st.index != 0) continue;
                    ++tiles;
                    const int computed = (7 + step.factor - 1) / step.factor * step.factor;
                    EXPECT_LE(computed, 8) << target << ": rows of 7 in tiles of " << step.factor << "\n" << s.to_cpp();
                }
            }
        }
        EXPECT_EQ(tiles, 1) << target << "\n" << s.to_cpp();
    }
    // And the tiles compute the same as the megakernel's plan.
    std::mt19937 rng(5);
    const std::vector<HostArray> inputs = {random_array(rng, {1, 64, 7, 7})};
    const std::vector<double> a = run_with(g, "per_op", inputs, nullptr, 1)[0].to_doubles();
    const std::vector<double> b = run_with(g, "megakernel", inputs, nullptr, 1)[0].to_doubles();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(a[i]))) << i;
}

template <typename F>
void expect_schedule_error(F f, const std::string &fragment) {
    expect_throws_with<ScheduleError>(f, {fragment});
}

// VTCM placement as schedule data: kept through JSON and C++, refused for an output, for an
// inlined Func and on a target without VTCM; the planner uses it only where the target says.
TEST(Schedule, StoreInVtcmIsDataCheckedPerTarget) {
    const Graph g = inverted_residual();
    LoweredGraph lowered = lower(g);
    const TargetSpec hvx = target_spec("hexagon-hvx-v66", 1), hvx_vtcm = target_spec("hexagon-hvx-v66-vtcm", 1);
    auto in_vtcm = [](const Schedule &s) {
        std::vector<std::string> funcs;
        for (const FuncSchedule &f : s.funcs) {
            if (f.store_in == "vtcm") funcs.push_back(f.func);
        }
        return funcs;
    };
    EXPECT_TRUE(in_vtcm(make_schedule("megakernel", g, lowered, hvx)).empty());
    const Schedule planned = make_schedule("megakernel", g, lowered, hvx_vtcm);
    const std::vector<std::string> placed = in_vtcm(planned);
    ASSERT_FALSE(placed.empty()) << planned.placements();
    const Schedule back = Schedule::from_json(planned.to_json(), "round trip");
    EXPECT_EQ(in_vtcm(back), placed);
    EXPECT_NE(planned.to_cpp().find(placed[0] + ".store_in(MemoryType::VTCM).hoist_storage_root();"), std::string::npos);
    EXPECT_NE(planned.placements().find(" in VTCM"), std::string::npos);
    check_schedule(planned, lowered);
    expect_schedule_error([&] { apply(planned, g, lowered, host_target_spec(1)); },
                          "Func '" + placed[0] + "': store_in vtcm: target 'host' has no VTCM");
    Schedule bad = planned;
    for (FuncSchedule &f : bad.funcs) {
        if (f.func == canonical_func_name(lowered.outputs[0].name())) f.store_in = "vtcm";
    }
    expect_schedule_error([&] { check_schedule(bad, lowered); }, "store_in vtcm: a graph output's buffer is the caller's");
    bad = planned;
    bad.funcs[0].store_in = "sram";
    expect_schedule_error([&] { check_schedule(bad, lowered); }, "store_in: unknown memory 'sram'");
}

TEST(Schedule, IllegalSchedulesAreRejectedBeforeHalide) {
    const Graph g = small_network();
    LoweredGraph lowered = lower(g);
    const Schedule good = make_schedule("per_op", g, lowered, host_target_spec(1));
    check_schedule(good, lowered);  // the dry run accepts what per_op makes

    auto with = [&](const std::function<void(Schedule &)> &edit) {
        Schedule s = good;
        edit(s);
        return s;
    };
    auto acc_index = [](const Schedule &s) {
        for (size_t i = 0; i < s.funcs.size(); ++i) if (s.funcs[i].placement == Placement::At) return i;
        return size_t{0};
    };
    expect_schedule_error([&] { check_schedule(with([](Schedule &s) { s.funcs[0].func = "no_such_func"; }), lowered); },
                          "no Func named 'no_such_func'");
    expect_schedule_error([&] {
        check_schedule(with([&](Schedule &s) { s.funcs[acc_index(s)].compute_at.var = "nope"; }), lowered);
    }, "has no loop 'nope'");
    expect_schedule_error([&] {
        // An accumulator computed inside a Func that does not use it.
        check_schedule(with([&](Schedule &s) { s.funcs[acc_index(s)].compute_at = {"y", "d1"}; }), lowered);
    }, "does not enclose its use");
    expect_schedule_error([&] {
        check_schedule(with([&](Schedule &s) {
            FuncSchedule &acc = s.funcs[acc_index(s)];
            acc.stages.back().steps.push_back({LoopStep::Kind::Vectorize, {canonical_func_name(acc.func) + "_r$x"}, 0, "auto"});
        }), lowered);
    }, "would race");
    expect_schedule_error([&] {
        check_schedule(with([&](Schedule &s) { s.funcs[acc_index(s)].placement = Placement::Inline; }), lowered);
    }, "cannot be inlined");
    expect_schedule_error([&] {
        check_schedule(with([&](Schedule &s) {
            s.funcs[0].stages.at(0).steps.insert(s.funcs[0].stages.at(0).steps.begin(), {LoopStep::Kind::Split, {"zz", "a", "b"}, 4, "auto"});
        }), lowered);
    }, "no loop 'zz'");
    expect_schedule_error([&] {
        check_schedule(with([&](Schedule &s) {
            // x: a pure loop of every accumulator's update (its channels may be split)
            s.funcs[acc_index(s)].stages.back().steps.push_back({LoopStep::Kind::RFactor, {"x", "lane"}, 0, "auto"});
        }), lowered);
    }, "rfactor(x): not a reduction variable");
    expect_schedule_error([&] {
        check_schedule(with([&](Schedule &s) {
            s.funcs[0].stages.at(0).steps.push_back({LoopStep::Kind::RFactor, {"d0", "lane"}, 0, "auto"});
        }), lowered);
    }, "only an update stage reduces");
    expect_schedule_error([] { Schedule::from_json("{ not json", "bad.json"); }, "bad.json: not valid JSON");
    expect_schedule_error([] { Schedule::from_json("{\"format\": \"other\"}", "bad.json"); }, "not a megalide schedule");
    // A schedule saved for another graph.
    Graph other = small_network();
    other.name = "another";
    LoweredGraph other_lowered = lower(other);
    expect_schedule_error([&] { apply(good, other, other_lowered, host_target_spec(1)); }, "made for another graph");
    EXPECT_THROW(make_schedule("no_such_strategy", g, lowered, host_target_spec(1)), Error);
}

// Every step kind, by hand (the C++ form and JSON need no pipeline): the exact C++ text each
// kind prints, and a JSON round trip that keeps every field.
Schedule every_step_kind() {
    Schedule s;
    s.strategy = "hand";
    s.graph = "0";
    FuncSchedule f{"f", Placement::Root};
    StageSchedule pure{0, {}}, update{1, {}};
    pure.steps = {{LoopStep::Kind::Split, {"x", "xo", "xi"}, 8, "guard_with_if"},
                  {LoopStep::Kind::Reorder, {"xi", "y", "xo"}, 0, "auto"},
                  {LoopStep::Kind::Vectorize, {"xi"}, 0, "auto"},
                  {LoopStep::Kind::Unroll, {"y"}, 0, "auto"},
                  {LoopStep::Kind::Parallel, {"xo"}, 0, "auto"}};
    update.steps = {{LoopStep::Kind::Split, {"f_r$x", "ro", "ri"}, 4, "auto"},
                    {LoopStep::Kind::RFactor, {"ri", "lane"}, 0, "auto"},
                    {LoopStep::Kind::VectorizeReduction, {"ro"}, 0, "auto"}};
    f.stages = {pure, update};
    s.funcs = {f};
    return s;
}

TEST(Schedule, EveryStepKindPrintsAndRoundTrips) {
    Schedule s = every_step_kind();
    EXPECT_EQ(s.to_cpp(), "// megalide schedule (hand) as Halide C++.\n"
                          "f.compute_root();\n"
                          "f\n"
                          "    .split(x, xo, xi, 8, TailStrategy::GuardWithIf)\n"
                          "    .reorder(xi, y, xo)\n"
                          "    .vectorize(xi)\n"
                          "    .unroll(y)\n"
                          "    .parallel(xo);\n"
                          "f.update(0)\n"
                          "    .split(f_r$x, ro, ri, 4, TailStrategy::Auto);\n"
                          "{\n"
                          "    Var lane;\n"
                          "    Func f_intm = f.update(0).rfactor(ri, lane);\n"
                          "    f_intm.compute_at(f, Var::outermost()).vectorize(lane);\n"
                          "    f_intm.update(0).vectorize(lane);\n"
                          "}\n"
                          "f.update(0)\n"
                          "    .atomic().vectorize(ro);\n");
    const std::string json = s.to_json();
    // The rfactor intermediate's schedule is the default: not written, so schedules saved
    // before it was data read and write unchanged.
    EXPECT_EQ(json.find("intermediate"), std::string::npos) << json;
    EXPECT_EQ(Schedule::from_json(json, "round trip").to_json(), json);

    LoopStep &rfactor = s.funcs[0].stages[1].steps[1];
    rfactor.intermediate_at = "y";
    rfactor.intermediate_vectorize = false;
    const std::string cpp = s.to_cpp();
    EXPECT_NE(cpp.find("    f_intm.compute_at(f, y);\n}\n"), std::string::npos) << cpp;
    EXPECT_EQ(cpp.find("f_intm.update(0)"), std::string::npos) << cpp;
    const std::string changed = s.to_json();
    EXPECT_NE(changed.find("\"intermediate_at\": \"y\""), std::string::npos) << changed;
    EXPECT_NE(changed.find("\"intermediate_vectorize\": false"), std::string::npos) << changed;
    const Schedule back = Schedule::from_json(changed, "round trip");
    EXPECT_EQ(back.funcs[0].stages[1].steps[1].intermediate_at, "y");
    EXPECT_FALSE(back.funcs[0].stages[1].steps[1].intermediate_vectorize);
    EXPECT_EQ(back.to_json(), changed);
    EXPECT_EQ(back.to_cpp(), cpp);

    std::string wrong = changed;
    wrong.replace(wrong.find("false"), 5, "3");
    expect_schedule_error([&] { Schedule::from_json(wrong, "w.json"); }, "w.json: func 'f': field 'intermediate_vectorize' has the wrong type");
    std::string unknown = json;
    unknown.replace(unknown.find("\"rfactor\""), 9, "\"rfactorize\"");
    expect_schedule_error([&] { Schedule::from_json(unknown, "u.json"); }, "u.json: func 'f': unknown step 'rfactorize'");
}

TEST(Schedule, StepsWithTheWrongLoopsOrStageAreRejected) {
    const Graph g = small_network();
    LoweredGraph lowered = lower(g);
    const Schedule good = make_schedule("per_op", g, lowered, host_target_spec(1));
    auto with_step = [&](const LoopStep &step) {
        Schedule s = good;
        s.funcs[0].stages.at(0).steps.push_back(step);
        return s;
    };
    const std::string f = good.funcs[0].func;
    expect_schedule_error([&] { check_schedule(with_step({LoopStep::Kind::Split, {"a", "b"}, 4, "auto"}), lowered); },
                          f + ".split needs {var, outer, inner}");
    expect_schedule_error([&] { check_schedule(with_step({LoopStep::Kind::Vectorize, {}, 0, "auto"}), lowered); },
                          f + ".vectorize takes one loop");
    expect_schedule_error([&] { check_schedule(with_step({LoopStep::Kind::Unroll, {"nope"}, 0, "auto"}), lowered); },
                          f + ".unroll: no loop 'nope' (loops, innermost first: ");
    expect_schedule_error([&] { check_schedule(with_step({LoopStep::Kind::VectorizeReduction, {"nope"}, 0, "auto"}), lowered); },
                          f + ".vectorize_reduction: only an update stage reduces");
    expect_schedule_error([&] { check_schedule(with_step({LoopStep::Kind::Split, {"d0", "a", "b"}, 4, "sideways"}), lowered); },
                          "schedule 'per_op', " + f + ": unknown tail strategy 'sideways'");
}

// A softmax over rows of 256: megakernel vectorizes its row statistics with rfactor. The
// intermediate's schedule is data: computed inside a loop of its Func instead of outside all
// of them, and not vectorized, it computes the same; a loop that is not there is refused.
TEST(Schedule, RFactorIntermediateScheduleIsData) {
    Graph g;
    g.add_input("x", DType::Float32, {3, 256});
    g.add_node("Softmax", {"x"}, {"y"});
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    std::mt19937 rng(29);
    const std::vector<HostArray> inputs = {random_array(rng, {3, 256}, -4, 4)};
    Schedule made;
    const std::vector<double> want = run_with(g, "megakernel", inputs, &made)[0].to_doubles();
    EXPECT_NE(made.to_cpp().find("Var::outermost()).vectorize("), std::string::npos) << made.to_cpp();

    LoweredGraph lowered = lower(g);
    const std::map<std::string, Halide::Func> funcs = pipeline_funcs(lowered);
    auto edit_rfactors = [&](const std::function<void(const Halide::Func &, LoopStep &)> &edit) {
        Schedule s = made;
        int rfactors = 0;
        for (FuncSchedule &f : s.funcs) {
            for (StageSchedule &st : f.stages) {
                for (LoopStep &step : st.steps) {
                    if (step.kind == LoopStep::Kind::RFactor) edit(funcs.at(f.func), step), ++rfactors;
                }
            }
        }
        EXPECT_GT(rfactors, 0) << "megakernel no longer rfactors a softmax's rows\n" << made.to_cpp();
        return s;
    };
    const Schedule edited = edit_rfactors([](const Halide::Func &f, LoopStep &step) {
        step.intermediate_at = f.args().back().name();
        step.intermediate_vectorize = false;
    });
    const std::string cpp = edited.to_cpp();
    EXPECT_EQ(cpp.find("Var::outermost()"), std::string::npos) << cpp;
    EXPECT_EQ(cpp.find("_intm.update(0)"), std::string::npos) << cpp;
    apply(Schedule::from_json(edited.to_json(), "edited"), g, lowered, host_target_spec(2));
    const std::vector<double> got = run(lowered, inputs)[0].to_doubles();
    ASSERT_EQ(got.size(), want.size());
    // The same partial sums per lane, added in the same order, vector or scalar: only the
    // compiler's contraction may differ, far below a 256-term sum's rounding.
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << i;

    LoweredGraph again = lower(g);
    const Schedule no_loop = edit_rfactors([](const Halide::Func &, LoopStep &step) { step.intermediate_at = "nope"; });
    expect_schedule_error([&] { check_schedule(no_loop, again); },
                          ".rfactor intermediate_at: 'nope' is not a pure loop of the stage once its steps are applied");
    const Schedule rvar = edit_rfactors([](const Halide::Func &, LoopStep &step) { step.intermediate_at = step.vars[0]; });
    expect_schedule_error([&] { check_schedule(rvar, again); }, "is not a pure loop of the stage");
}

}  // namespace
}  // namespace megalide::test
