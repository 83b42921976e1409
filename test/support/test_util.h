// Shared test support: replicable random inputs, conversion between Halide buffers and the
// reference's C-order arrays, and tolerance-aware comparison that says where it failed.
#pragma once

#include <cfloat>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "Halide.h"
#include "megalide/graph/graph.h"
#include "megalide/host_array.h"
#include "megalide/tensor.h"
#include "reference.h"

namespace megalide::test {

/// A generator seeded from MEGALIDE_TEST_SEED (if set) and the running test's name, so every
/// test draws its own replicable stream. The seed is attached to failures by SeedTrace.
struct Seeded {
    uint64_t seed;
    std::mt19937_64 rng;
    Seeded();
    int uniform_int(int lo, int hi);  // inclusive
    float uniform(float lo, float hi);
};

/// Prints the seed with every failure in scope: "seed 123 (rerun: MEGALIDE_TEST_SEED=123 ...)".
#define MEGALIDE_SEED_TRACE(seeded)                                                          \
    SCOPED_TRACE("seed " + std::to_string((seeded).seed) +                                     \
                 " (replay with MEGALIDE_TEST_SEED=" + std::to_string((seeded).seed) + ")")

/// A dense buffer with Halide shape `shape` (innermost first), uniform in [lo, hi).
Halide::Buffer<float> random_buffer(Seeded &s, const Shape &shape, float lo = -1.0f,
                                    float hi = 1.0f);

/// A float32 host array with NumPy-order `shape`, uniform in [lo, hi), from `rng`.
HostArray random_host_array(std::mt19937 &rng, const std::vector<int64_t> &shape, float lo = -1.0f,
                            float hi = 1.0f);

/// Inputs for a graph whose quantization parameters are inputs too (Q1's generator,
/// blocks::quantized_inverted_residual_graph), in graph order: uint8/int8 activations and
/// weights uniform over their range, int32 biases in [-2000, 2000], and scales and zero points
/// that keep each layer in range (weight scales ~ 1 / sqrt(fan-in) / 127 per channel).
std::vector<HostArray> q1_inputs(const Graph &g, std::mt19937 &rng);

/// A Tensor reading `buffer`, named `name`.
Tensor input(const std::string &name, const Halide::Buffer<float> &buffer);

/// The reference's view of a buffer: same memory, shape reversed to NumPy order.
ref::Array to_array(const Halide::Buffer<float> &buffer);

/// The reference's view of a host array (any element type, as doubles).
ref::Array to_array(const HostArray &array);

/// A host array as a dense Halide buffer of its own type, shape reversed (Halide order).
Halide::Buffer<> to_buffer(const HostArray &array);

/// Realizes a tensor over its full shape (JIT, whatever schedule its Funcs have).
Halide::Buffer<float> realize(const Tensor &t);

/// Float error model for a value reduced from `terms` products of operands bounded by 1 in
/// magnitude: a float32 sum of K terms carries at most (K - 1) u |terms|_1 rounding error
/// (u = 2^-24) in any order; the reference sums in double. We allow 4 K u of absolute and
/// relative error, which covers pairwise, vectorized or serial float32 orders with a margin
/// yet is far below any indexing bug's error (O(1)).
double reduction_tolerance(long long terms);

/// Compares a realized tensor (Halide order) against a reference array in NumPy order of the
/// same element count: |got - want| <= atol + rtol |want| everywhere. On failure reports the
/// mismatch count, the worst element with its NumPy index, and the tolerances.
void expect_close(const Halide::Buffer<float> &got, const ref::Array &want, double atol,
                  double rtol, const std::string &what);

/// Runs `f` and checks it throws `E` whose message contains every fragment.
template <typename E, typename F>
void expect_throws_with(F f, const std::vector<std::string> &fragments) {
    try {
        f();
        ADD_FAILURE() << "nothing thrown; expected an exception mentioning '" << fragments.at(0) << "'";
    } catch (const E &e) {
        const std::string message = e.what();
        for (const std::string &fragment : fragments) {
            EXPECT_NE(message.find(fragment), std::string::npos) << "message '" << message << "' lacks '" << fragment << "'";
        }
    }
}

}  // namespace megalide::test
