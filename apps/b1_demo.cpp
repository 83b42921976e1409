// b1_demo: builds DESIGN.md's B1 block (MobileNetV2 inverted residual, 56x56x24 -> 144 -> 24,
// stride 1, residual) from the layer library, runs it JIT on the host, checks it against the
// independent reference loops and prints the time.
//
//   b1_demo [--threads N] [--runs N] [--seed S]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "megalide/blocks/inverted_residual.h"
#include "megalide/error.h"
#include "megalide/runtime/run.h"
#include "reference.h"
#include "megalide/runtime/timer.h"

using namespace megalide;

namespace {

struct Options {
    int threads = 0;  // 0: Halide's default, one per core
    int runs = 20;
    unsigned seed = 1;
};

// Returns the options, or exits: 0 after the usage for -h or --help, 2 with CLI11's message for
// a malformed command line.
Options parse(int argc, char **argv) {
    const char *usage = "usage: b1_demo [--threads N] [--runs N] [--seed S]\n";
    Options o;
    CLI::App app("the B1 block, JIT-compiled, checked and timed", "b1_demo");
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--threads", o.threads, "Halide threads (default: one per core)")->check(CLI::Range(1, 100000));
    app.add_option("--runs", o.runs, "timed runs (default 20)")->check(CLI::Range(1, 100000));
    app.add_option("--seed", o.seed, "seed of the random data and weights (default 1)")->check(CLI::Range(1u, 100000u));
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success &) {
        std::fprintf(stderr, "%s", usage);
        std::exit(0);
    } catch (const CLI::ParseError &e) {
        std::fprintf(stderr, "b1_demo: %s\n%s", e.what(), usage);
        std::exit(2);
    }
    return o;
}

// Random data in Halide layout; weights scaled by 1/sqrt(fan-in) so activations stay O(1).
Halide::Buffer<float> random(std::mt19937 &rng, const Shape &shape, float scale) {
    Halide::Buffer<float> b(shape);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::generate(b.data(), b.data() + b.number_of_elements(), [&] { return dist(rng); });
    return b;
}

ref::Array to_array(const Halide::Buffer<float> &b) {
    ref::Array a;
    for (int d = b.dimensions(); d-- > 0;) a.shape.push_back(b.dim(d).extent());
    a.data.assign(b.data(), b.data() + b.number_of_elements());
    return a;
}

// The schedule (a stand-in until the Scheduler lands): each convolution compute_root,
// vectorized over channels, parallel over rows; the ReLU6 stages inline into their consumers.
// Vectors are 16 fp32 lanes (one AVX-512 register) where the channel count allows, else 8;
// GuardWithIf keeps any tail from reading past the weights.
void schedule_op_by_op(const blocks::InvertedResidual &b) {
    for (const Tensor *t : {&b.expand, &b.depthwise, &b.project, &b.output}) {
        Halide::Func f = t->func;
        const Halide::Var c = f.args()[0], y = f.args()[2];  // (c, x, y, n)
        const int lanes = t->dim(0) % 16 == 0 ? 16 : 8;
        f.compute_root().vectorize(c, lanes, Halide::TailStrategy::GuardWithIf).parallel(y);
        if (f.has_update_definition()) {
            f.update().vectorize(c, lanes, Halide::TailStrategy::GuardWithIf).parallel(y);
        }
    }
}

}  // namespace

int main(int argc, char **argv) {
    const Options opt = parse(argc, argv);
    if (opt.threads) setenv("HL_NUM_THREADS", std::to_string(opt.threads).c_str(), 1);
    const int cin = 24, hidden = 144, size = 56;
    try {
        std::mt19937 rng(opt.seed);
        auto x = random(rng, {cin, size, size, 1}, 1.0f);
        auto ew = random(rng, {hidden, cin}, 1.0f / std::sqrt(float(cin)));
        auto eb = random(rng, {hidden}, 0.1f);
        auto dw = random(rng, {hidden, 3, 3}, 1.0f / 3.0f);
        auto db = random(rng, {hidden}, 0.1f);
        auto pw = random(rng, {cin, hidden}, 1.0f / std::sqrt(float(hidden)));
        auto pb = random(rng, {cin}, 0.1f);
        blocks::InvertedResidualWeights w{
            tensor_from_buffer("expand_w", ew), tensor_from_buffer("expand_b", eb),
            tensor_from_buffer("dw_w", dw),     tensor_from_buffer("dw_b", db),
            tensor_from_buffer("project_w", pw), tensor_from_buffer("project_b", pb)};
        blocks::InvertedResidual b = blocks::inverted_residual("b1", tensor_from_buffer("input", x), w, 1);
        schedule_op_by_op(b);

        std::fprintf(stderr, "[b1] compiling the pipeline (Halide JIT)...\n");
        Halide::Pipeline pipeline(b.output.func);
        pipeline.compile_jit(Halide::get_jit_target_from_environment());
        Halide::Buffer<float> out(b.output.shape);
        pipeline.realize(out);

        // Reference: ONNX-layout loops in double (NCHW activations, OIHW weights).
        std::fprintf(stderr, "[b1] computing the reference (naive loops)...\n");
        auto nchw = [](const Halide::Buffer<float> &t) { return ref::transpose(to_array(t), {0, 3, 1, 2}); };
        auto relu6 = [](double v) { return std::min(std::max(v, 0.0), 6.0); };
        ref::Array ew_ref = ref::transpose(to_array(ew), {1, 0});
        ew_ref.shape = {hidden, cin, 1, 1};
        ref::Array dw_ref = ref::transpose(to_array(dw), {2, 0, 1});
        dw_ref.shape = {hidden, 1, 3, 3};
        ref::Array pw_ref = ref::transpose(to_array(pw), {1, 0});
        pw_ref.shape = {cin, hidden, 1, 1};
        ref::ConvAttrs depthwise;
        depthwise.pad_top = depthwise.pad_left = depthwise.pad_bottom = depthwise.pad_right = 1;
        depthwise.group = hidden;
        ref::Array h = ref::unary(ref::conv(nchw(x), ew_ref, to_array(eb), {}), relu6);
        h = ref::unary(ref::conv(h, dw_ref, to_array(db), depthwise), relu6);
        ref::Array want = ref::binary(ref::conv(h, pw_ref, to_array(pb), {}), nchw(x),
                                      [](double p, double q) { return p + q; });
        want = ref::transpose(want, {0, 2, 3, 1});

        // Tolerance: the longest float32 reduction is the 144-term projection fed by two
        // earlier reductions; 4 u per term over the 24 + 9 + 144 chained terms, times the
        // O(1) magnitudes here, is about 1e-5. We allow 1e-4 absolute.
        double max_err = 0;
        for (long long i = 0; i < want.size(); ++i) {
            max_err = std::max(max_err, std::abs(double(out.data()[i]) - want.data[i]));
        }
        const double tolerance = 1e-4;
        const bool ok = max_err <= tolerance;
        std::printf("B1 inverted residual 56x56x24 -> 144 -> 24: max |error| vs reference %.2e "
                    "(tolerance %.0e): %s\n", max_err, tolerance, ok ? "OK" : "MISMATCH");
        if (!ok) return 1;

        for (int i = 0; i < 3; ++i) pipeline.realize(out);  // warm-up
        const megalide::Timings t = megalide::time_calls(opt.runs, [&] { pipeline.realize(out); });
        const double median = t.median_ms;
        const double flops = 2.0 * size * size * (cin * hidden + 9.0 * hidden + hidden * cin);
        std::printf("time (op-by-op schedule, %s threads, %d runs): median %.3f ms (min %.3f, max %.3f), "
                    "%.1f GFLOP/s\n",
                    opt.threads ? std::to_string(opt.threads).c_str() : "default", opt.runs, median,
                    t.min_ms, t.max_ms, flops / median * 1e-6);
        return 0;
    } catch (const Error &e) {
        std::fprintf(stderr, "b1_demo: %s\n", e.what());
        return 1;
    } catch (const Halide::Error &e) {
        std::fprintf(stderr, "b1_demo: Halide error: %s\n", e.what());
        return 1;
    }
}
