// Load test of a `megalide compile` library: many threads call the same entry function at once.
//
//   c++ -O2 -std=c++17 -I OUTDIR -DMODEL_HEADER='"digits.h"' -DMODEL_FN=digits \
//       test/reliability/concurrent_calls.cpp OUTDIR/digits.a -lpthread -ldl -o concurrent_calls
//   concurrent_calls THREADS CALLS SEED
//
// The model has one float32 input and one float32 output (extents from the library's
// metadata). 64 distinct inputs are drawn from SEED; each is run once serially for its
// reference output. Then THREADS threads make CALLS calls in all, call k of thread t on input
// (t * 7 + k) % 64, and compare each output with the serial one bit for bit.
// Exit status 0 when every output is identical, 1 otherwise (the first mismatch is printed).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include MODEL_HEADER

#define MEGALIDE_CONCAT2(a, b) a##b
#define MEGALIDE_CONCAT(a, b) MEGALIDE_CONCAT2(a, b)
#define MODEL_METADATA MEGALIDE_CONCAT(MODEL_FN, _metadata)

namespace {

// A dense float32 tensor in Halide's dimension order (innermost first).
struct Tensor {
    std::vector<float> data;
    std::vector<halide_dimension_t> dims;
    halide_buffer_t buffer{};

    explicit Tensor(const halide_filter_argument_t &arg) {
        int stride = 1;
        for (int d = 0; d < arg.dimensions; ++d) {
            // megalide declares every extent: its estimates are the fixed shape.
            const int64_t *e = arg.buffer_estimates ? arg.buffer_estimates[2 * d + 1] : nullptr;
            if (!e) {
                std::fprintf(stderr, "concurrent_calls: argument '%s' has no extent estimate\n", arg.name);
                std::exit(2);
            }
            dims.push_back(halide_dimension_t{0, static_cast<int32_t>(*e), stride, 0});
            stride *= static_cast<int>(*e);
        }
        data.assign(static_cast<size_t>(stride), 0.0f);
        buffer.host = reinterpret_cast<uint8_t *>(data.data());
        buffer.type = halide_type_t(halide_type_float, 32, 1);
        buffer.dimensions = static_cast<int32_t>(dims.size());
        buffer.dim = dims.data();
    }
    Tensor(const Tensor &other) : data(other.data), dims(other.dims), buffer(other.buffer) {
        buffer.host = reinterpret_cast<uint8_t *>(data.data());
        buffer.dim = dims.data();
    }
};

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: concurrent_calls THREADS CALLS SEED\n");
        return 2;
    }
    const int threads = std::atoi(argv[1]), calls = std::atoi(argv[2]);
    const unsigned seed = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
    const halide_filter_metadata_t *md = MODEL_METADATA();
    if (md->num_arguments != 2 || md->arguments[0].kind != halide_argument_kind_input_buffer) {
        std::fprintf(stderr, "concurrent_calls: the model must have one input and one output\n");
        return 2;
    }
    const Tensor input_shape(md->arguments[0]), output_shape(md->arguments[1]);

    constexpr int kInputs = 64;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<Tensor> inputs, expected;
    for (int i = 0; i < kInputs; ++i) {
        inputs.push_back(input_shape);
        for (float &v : inputs.back().data) v = uniform(rng);
        expected.push_back(output_shape);
        if (int err = MODEL_FN(&inputs.back().buffer, &expected.back().buffer)) {
            std::fprintf(stderr, "concurrent_calls: serial call %d failed (Halide error %d)\n", i, err);
            return 1;
        }
    }

    std::atomic<int> mismatches{0}, failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            Tensor out = output_shape;
            const int mine = calls / threads + (t < calls % threads ? 1 : 0);
            for (int k = 0; k < mine; ++k) {
                const int i = (t * 7 + k) % kInputs;
                if (MODEL_FN(&inputs[i].buffer, &out.buffer) != 0) {
                    failures++;
                    continue;
                }
                if (std::memcmp(out.data.data(), expected[i].data.data(), out.data.size() * sizeof(float)) != 0 &&
                    mismatches.fetch_add(1) == 0) {
                    std::fprintf(stderr, "concurrent_calls: thread %d call %d: output for input %d differs from the serial run\n", t, k, i);
                }
            }
        });
    }
    for (std::thread &th : pool) th.join();
    std::printf("%d threads, %d calls on %d inputs (seed %u): %d outputs differ from the serial run, %d calls failed\n", threads,
                calls, kInputs, seed, mismatches.load(), failures.load());
    return mismatches == 0 && failures == 0 ? 0 : 1;
}
