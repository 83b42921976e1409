// Quantization helpers against naive C++ written from the ONNX specification, and the two
// requantization modes against each other over large random ranges.
#include <algorithm>
#include <cfenv>
#include <cmath>
#include <limits>
#include <set>

#include "megalide/blocks/block_graphs.h"
#include "megalide/error.h"
#include "megalide/graph/shape_inference.h"
#include "megalide/layers/quantize.h"
#include "megalide/lower/lower.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/schedule.h"
#include "megalide/schedule/strategy.h"
#include "test_util.h"

namespace megalide::test {
namespace {

using layers::FixedPointMultiplier;

// ONNX: saturate(round_half_even(x / scale) + zero_point), in float32 as the spec's reference.
int naive_quantize(float x, float scale, int zero_point, bool is_signed) {
    const float q = std::nearbyint(x / scale) + static_cast<float>(zero_point);  // FE_TONEAREST: half to even
    const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
    return static_cast<int>(std::min(std::max(q, lo), hi));
}

int naive_requantize(int32_t acc, float multiplier, int zero_point, bool is_signed) {
    const long long q = std::llrint(std::nearbyint(static_cast<float>(acc) * multiplier)) + zero_point;
    return static_cast<int>(std::min<long long>(std::max<long long>(q, is_signed ? -128 : 0), is_signed ? 127 : 255));
}

TEST(Quantize, QuantizeRoundsHalfToEvenAndSaturates) {
    ASSERT_EQ(std::fegetround(), FE_TONEAREST);
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    // Ties first (x / scale = k + 0.5 exactly), then random values across and beyond the range.
    std::vector<float> xs = {2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 127.5f, 254.5f, 1000.0f, -1000.0f, 0.0f};
    for (int i = 0; i < 4000; ++i) xs.push_back(s.uniform(-400.0f, 400.0f));
    Halide::Buffer<float> in(static_cast<int>(xs.size()));
    for (size_t i = 0; i < xs.size(); ++i) in(static_cast<int>(i)) = xs[i];
    for (const bool is_signed : {false, true}) {
        const float scale = is_signed ? 1.0f : 0.5f;
        const int zero_point = is_signed ? -3 : 7;
        const Halide::Type t = is_signed ? Halide::Int(8) : Halide::UInt(8);
        Halide::Var i;
        Halide::Func q;
        q(i) = Halide::cast<int>(layers::quantize_value(in(i), scale, zero_point, t));
        Halide::Buffer<int> out = q.realize({in.width()});
        for (int k = 0; k < in.width(); ++k) {
            ASSERT_EQ(out(k), naive_quantize(xs[static_cast<size_t>(k)], scale, zero_point, is_signed))
                << "x " << xs[static_cast<size_t>(k)] << " scale " << scale << " zero point " << zero_point;
            // The host-side form the rewrites use for constants agrees with the pipeline's.
            ASSERT_EQ(layers::quantize_scalar(xs[static_cast<size_t>(k)], scale, zero_point, is_signed), out(k));
        }
    }
}

TEST(Quantize, DequantizeIsScaleTimesOffset) {
    Halide::Buffer<uint8_t> in(256);
    for (int k = 0; k < 256; ++k) in(k) = static_cast<uint8_t>(k);
    Halide::Var i;
    Halide::Func d;
    d(i) = layers::dequantize_value(in(i), 0.25f, static_cast<uint8_t>(128));
    Halide::Buffer<float> out = d.realize({256});
    for (int k = 0; k < 256; ++k) ASSERT_EQ(out(k), static_cast<float>(k - 128) * 0.25f);
}

TEST(Quantize, FixedPointMultiplierReconstructsTheReal) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    for (int k = 0; k < 10000; ++k) {
        const double m = std::exp(s.uniform(-20.0f, 5.0f));
        const FixedPointMultiplier f = layers::fixed_point_multiplier(m, "test");
        ASSERT_GE(f.multiplier, 1 << 30);
        const double back = f.multiplier * std::ldexp(1.0, -31 - f.shift);
        ASSERT_LE(std::abs(back - m), m * std::ldexp(1.0, -31)) << "m " << m;
    }
    for (double bad : {0.0, -1.0, double(INFINITY), double(NAN), 1e30}) {
        expect_throws_with<Error>([&] { layers::fixed_point_multiplier(bad, "conv 'c1'"); }, {"conv 'c1'", "multiplier"});
    }
}

// Over a million random accumulators per setting, multipliers from 1e-6 to 4 (log-uniform,
// plus exact powers of two where ties are common), both output types and random zero
// points: fixed_point within 1 LSB of onnx everywhere, and onnx equal to the naive loop.
// The pipeline's split of a run-time multiplier (from its float bits) against the host's
// (frexp, llround) on the same float32 values: equal, and a value outside the fixed-point
// range stops the pipeline with the layer's name.
TEST(Quantize, RuntimeFixedPointMultiplierEqualsTheHosts) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    std::vector<float> values = {1.0f, 0.5f, std::nextafter(1.0f, 0.0f), std::ldexp(1.0f, -62), std::ldexp(1.0f, 30),
                                 std::nextafter(std::ldexp(1.0f, 31), 0.0f), 6.0f / 255 * 0.02f / 0.03f};
    for (int i = 0; i < 20000; ++i) values.push_back(std::ldexp(s.uniform(1.0f, 2.0f), s.uniform_int(-62, 30)));
    Halide::Buffer<float> m(static_cast<int>(values.size()));
    for (size_t i = 0; i < values.size(); ++i) m(static_cast<int>(i)) = values[i];
    Halide::Var i;
    const auto [fraction, shift] = layers::fixed_point_multiplier(m(i), "layer 'test'");
    Halide::Func f;
    f(i) = Halide::Tuple(fraction, shift);
    const Halide::Realization r = f.realize({static_cast<int>(values.size())});
    const Halide::Buffer<int32_t> got_fraction = r[0], got_shift = r[1];
    for (size_t k = 0; k < values.size(); ++k) {
        const FixedPointMultiplier want = layers::fixed_point_multiplier(static_cast<double>(values[k]), "host");
        ASSERT_EQ(got_fraction(static_cast<int>(k)), want.multiplier) << "m = " << values[k];
        ASSERT_EQ(got_shift(static_cast<int>(k)), want.shift) << "m = " << values[k];
    }
    for (const float bad : {0.0f, -0.25f, std::numeric_limits<float>::infinity(), std::ldexp(1.0f, 40)}) {
        Halide::Buffer<float> one(1);
        one(0) = bad;
        Halide::Func g;
        g(i) = layers::fixed_point_multiplier(one(i), "layer 'test'").first;
        try {
            g.realize({1});
            FAIL() << "m = " << bad << " was accepted";
        } catch (const Halide::RuntimeError &e) {
            EXPECT_NE(std::string(e.what()).find("layer 'test': the requantization multiplier"), std::string::npos) << e.what();
        }
    }
}

// Q1's graph takes every scale as an input. In fixed point its multipliers are split at run
// time by per-call parameter stages (computed at root by both strategies); the result equals
// op by op and fused, and stays within one step of onnx mode's float requantization.
TEST(Quantize, RunTimeScalesRequantizeInFixedPoint) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    std::mt19937 rng(static_cast<unsigned>(s.seed));
    Graph g = blocks::quantized_inverted_residual_graph({8, 48, 8, 14, 12, 1});
    rewrite_to_fixpoint(g, default_rules());
    const std::vector<HostArray> inputs = q1_inputs(g, rng);
    const TargetSpec host = host_target_spec(1);
    auto run_in = [&](layers::Requantization mode, const std::string &strategy) {
        LowerOptions options;
        options.requantization = mode;
        LoweredGraph lowered = lower(g, options);
        const Schedule schedule = make_schedule(strategy, g, lowered, host);
        if (mode == layers::Requantization::FixedPoint) {
            int parameters = 0;
            for (const auto &[name, facts] : lowered.facts) {
                if (facts.role != StageRole::Parameter) continue;
                ++parameters;
                const auto placed = std::find_if(schedule.funcs.begin(), schedule.funcs.end(),
                                                 [&](const FuncSchedule &f) { return f.func == canonical_func_name(name); });
                EXPECT_TRUE(placed != schedule.funcs.end() && placed->placement == Placement::Root) << strategy << ": " << name;
            }
            EXPECT_EQ(parameters, 6) << "a fraction and a shift per requantized layer";  // expand, dw, project
        }
        apply(schedule, g, lowered, host);
        return run(lowered, inputs).at(0).to_doubles();
    };
    const std::vector<double> fixed = run_in(layers::Requantization::FixedPoint, "per_op");
    EXPECT_EQ(run_in(layers::Requantization::FixedPoint, "megakernel"), fixed);
    const std::vector<double> onnx = run_in(layers::Requantization::Onnx, "per_op");
    ASSERT_EQ(fixed.size(), onnx.size());
    EXPECT_GT(std::set<double>(fixed.begin(), fixed.end()).size(), 16u) << "the output barely varies";
    for (size_t i = 0; i < fixed.size(); ++i) ASSERT_LE(std::abs(fixed[i] - onnx[i]), 1.0) << "element " << i;
}

TEST(Quantize, RequantizationModesAgreeWithin1Lsb) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    const int n = 1 << 20;
    for (int setting = 0; setting < 12; ++setting) {
        const bool is_signed = setting % 2 == 1;
        const float multiplier = setting < 2 ? 0.25f : setting < 4 ? 2.0f : std::exp(s.uniform(-13.8f, 1.4f));
        const int zero_point = is_signed ? s.uniform_int(-20, 20) : s.uniform_int(0, 255);
        // Accumulators spanning the output range (and 4x beyond, to exercise saturation).
        const float span = 4 * 256 / multiplier;
        Halide::Buffer<int32_t> acc(n);
        for (int k = 0; k < n; ++k) acc(k) = static_cast<int32_t>(std::max(std::min(s.uniform(-span, span), 2.0e9f), -2.0e9f));
        const FixedPointMultiplier f = layers::fixed_point_multiplier(multiplier, "test");
        const Halide::Type t = is_signed ? Halide::Int(8) : Halide::UInt(8);
        Halide::Var i;
        Halide::Func onnx, fixed;
        onnx(i) = Halide::cast<int>(layers::requantize_onnx(acc(i), multiplier, zero_point, t));
        fixed(i) = Halide::cast<int>(layers::requantize_fixed_point(acc(i), f.multiplier, f.shift, zero_point, t));
        Halide::Buffer<int> a = onnx.realize({n}), b = fixed.realize({n});
        int differ = 0;
        for (int k = 0; k < n; ++k) {
            ASSERT_EQ(a(k), naive_requantize(acc(k), multiplier, zero_point, is_signed)) << "acc " << acc(k) << " multiplier " << multiplier;
            ASSERT_LE(std::abs(a(k) - b(k)), 1) << "acc " << acc(k) << " multiplier " << multiplier << " (M " << f.multiplier
                                                << ", shift " << f.shift << ") zero point " << zero_point;
            differ += a(k) != b(k);
        }
        RecordProperty("differ_" + std::to_string(setting), differ);
    }
}

// The accumulator-clamp form (constant multipliers below 1) equals onnx mode with the same
// output bounds, for every accumulator: random ones across and far beyond the range, the
// thresholds themselves and their neighbours, and the int32 extremes.
TEST(Quantize, ClampedAccumulatorEqualsOnnxMode) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    int checked_settings = 0;
    for (int setting = 0; setting < 40; ++setting) {
        const bool is_signed = setting % 2 == 1;
        const float multiplier = setting < 4 ? 0.25f : std::exp(s.uniform(-16.0f, -0.01f));
        const int zero_point = is_signed ? s.uniform_int(-20, 20) : s.uniform_int(0, 255);
        // Output bounds: the type's range or a fused activation's narrower one.
        const int tmin = is_signed ? -128 : 0, tmax = is_signed ? 127 : 255;
        const int lo = setting % 3 == 0 ? tmin : s.uniform_int(tmin, (tmin + tmax) / 2);
        const int hi = setting % 3 == 0 ? tmax : s.uniform_int((tmin + tmax) / 2, tmax);
        const auto b = layers::accumulator_bounds(multiplier, lo - zero_point, hi - zero_point);
        ASSERT_TRUE(b.has_value()) << "multiplier " << multiplier << " bounds " << lo << ".." << hi;
        ++checked_settings;
        const float span = 4 * 256 / multiplier;
        std::vector<int32_t> accs = {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), 0};
        for (int32_t t : {b->min, b->max}) {
            for (int32_t d = -3; d <= 3; ++d) accs.push_back(t + d);
        }
        while (accs.size() < (1u << 16)) accs.push_back(static_cast<int32_t>(std::max(std::min(s.uniform(-span, span), 2.0e9f), -2.0e9f)));
        Halide::Buffer<int32_t> acc(static_cast<int>(accs.size()));
        for (size_t k = 0; k < accs.size(); ++k) acc(static_cast<int>(k)) = accs[k];
        const Halide::Type t = is_signed ? Halide::Int(8) : Halide::UInt(8);
        Halide::Var i;
        Halide::Func clamped;
        clamped(i) = Halide::cast<int>(layers::requantize_onnx_clamped_accumulator(acc(i), multiplier, b->min, b->max, zero_point, t));
        Halide::Buffer<int> out = clamped.realize({acc.width()});
        for (int k = 0; k < acc.width(); ++k) {
            const int expected = std::min(std::max(naive_requantize(acc(k), multiplier, zero_point, is_signed), lo), hi);
            ASSERT_EQ(out(k), expected) << "acc " << acc(k) << " multiplier " << multiplier << " zero point " << zero_point
                                        << " bounds " << lo << ".." << hi << " thresholds " << b->min << ".." << b->max;
        }
    }
    EXPECT_EQ(checked_settings, 40);
    // Outside its domain it declines (the caller keeps the float clamps).
    EXPECT_FALSE(layers::accumulator_bounds(1.5f, 0, 255).has_value());
    EXPECT_FALSE(layers::accumulator_bounds(0.0f, 0, 255).has_value());
    EXPECT_FALSE(layers::accumulator_bounds(1e-12f, 0, 255).has_value());
}

}  // namespace
}  // namespace megalide::test

namespace megalide::test {
namespace {

// `g` lowered in fixed_point mode (the HVX v66 form), checked to hold no float stage.
LoweredGraph lower_integer_only(const Graph &g) {
    LowerOptions options;
    options.requantization = layers::Requantization::FixedPoint;
    LoweredGraph lowered = lower(g, options);
    for (const auto &[name, f] : pipeline_funcs(lowered)) {
        for (const Halide::Type &t : f.types()) EXPECT_FALSE(t.is_float()) << "stage " << name << " computes in float";
    }
    return lowered;
}

// QLinearAdd in fixed_point mode is integer only (the HVX v66 form): the folded graph's
// pipeline holds no float stage, and every output is within one step of the exact result
// round((sa (a - za) + sb (b - zb)) / sy) + zy, saturated, computed here in double.
TEST(QLinearAddFixedPoint, IntegerOnlyAndWithinOneStep) {
    const float sa = 0.0337f, sb = 0.0521f, sy = 0.0613f;
    const int za = 124, zb = 97, zy = 131;
    Graph g;
    g.add_input("a", DType::UInt8, {1, 8, 5, 7});
    g.add_input("b", DType::UInt8, {1, 8, 5, 7});
    auto scalar = [&](const std::string &name, DType t, double v) { g.add_constant(name, HostArray::from_doubles(t, {}, {v})); };
    scalar("sa", DType::Float32, sa), scalar("za", DType::UInt8, za), scalar("sb", DType::Float32, sb);
    scalar("zb", DType::UInt8, zb), scalar("sy", DType::Float32, sy), scalar("zy", DType::UInt8, zy);
    g.add_node("DequantizeLinear", {"a", "sa", "za"}, {"da"});
    g.add_node("DequantizeLinear", {"b", "sb", "zb"}, {"db"});
    g.add_node("Add", {"da", "db"}, {"sum"});
    g.add_node("QuantizeLinear", {"sum", "sy", "zy"}, {"y"});
    g.add_output("y");
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    ASSERT_TRUE(std::any_of(g.nodes.begin(), g.nodes.end(), [](const Node &n) { return n.op == "QLinearAdd"; })) << g.dump();
    LoweredGraph lowered = lower_integer_only(g);
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    std::vector<HostArray> inputs;
    for (int i = 0; i < 2; ++i) {
        std::vector<double> v(8 * 5 * 7);
        for (double &x : v) x = s.uniform_int(0, 255);
        v[0] = 0, v[1] = 255;  // the extremes
        inputs.push_back(HostArray::from_doubles(DType::UInt8, {1, 8, 5, 7}, v));
    }
    const std::vector<double> y = run(lowered, inputs).at(0).to_doubles();
    const std::vector<double> a = inputs[0].to_doubles(), b = inputs[1].to_doubles();
    int exact = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        const double want = std::min(255.0, std::max(0.0, std::nearbyint((sa * (a[i] - za) + sb * (b[i] - zb)) / sy) + zy));
        ASSERT_LE(std::abs(y[i] - want), 1.0) << "element " << i << ": a " << a[i] << ", b " << b[i];
        exact += y[i] == want;
    }
    // One-step differences only at near-ties (each of the three roundings is at most half a
    // unit of 2^-20 of the output scale): rare.
    EXPECT_GE(exact, static_cast<int>(y.size()) * 95 / 100);
}

// Requantize in fixed_point mode (and a Relu between its DequantizeLinear and QuantizeLinear,
// which quantized_relu moves into the integers) is integer only, and every output is within
// one step of round(max(x - zx, 0) sx / sy) + zy, saturated, computed here in double.
TEST(RequantizeFixedPoint, IntegerOnlyWithReluAndWithinOneStep) {
    const float sx = 0.0394605f, sy = 0.0203389f;
    const int zx = 124, zy = 3;
    Graph g;
    g.add_input("x", DType::UInt8, {1, 16, 6, 6});
    auto scalar = [&](const std::string &name, DType t, double v) { g.add_constant(name, HostArray::from_doubles(t, {}, {v})); };
    scalar("sx", DType::Float32, sx), scalar("zx", DType::UInt8, zx), scalar("sy", DType::Float32, sy), scalar("zy", DType::UInt8, zy);
    g.add_node("DequantizeLinear", {"x", "sx", "zx"}, {"dx"});
    g.add_node("Relu", {"dx"}, {"r"});
    g.add_node("QuantizeLinear", {"r", "sy", "zy"}, {"y"});
    g.add_output("y");
    g.infer_shapes();
    rewrite_to_fixpoint(g, default_rules());
    ASSERT_TRUE(std::any_of(g.nodes.begin(), g.nodes.end(), [](const Node &n) { return n.op == "Requantize"; })) << g.dump();
    LoweredGraph lowered = lower_integer_only(g);
    std::vector<double> v(16 * 6 * 6);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 256);  // every byte value
    const HostArray input = HostArray::from_doubles(DType::UInt8, {1, 16, 6, 6}, v);
    const std::vector<double> y = run(lowered, {input}).at(0).to_doubles();
    int exact = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        const double want = std::min(255.0, std::max(0.0, std::nearbyint(std::max(v[i] - zx, 0.0) * sx / sy) + zy));
        ASSERT_LE(std::abs(y[i] - want), 1.0) << "element " << i << ": x " << v[i];
        exact += y[i] == want;
    }
    EXPECT_GE(exact, static_cast<int>(y.size()) * 95 / 100);
}

}  // namespace
}  // namespace megalide::test
