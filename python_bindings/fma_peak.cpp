#include "fma_peak.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "megalide/runtime/timer.h"

namespace {

// Written by every run: a side effect, so the compiler cannot move or drop a run relative to
// the clock reads around it.
volatile float g_sink;

// 12 independent accumulators: enough to cover FMA latency (4 cycles) x 2 pipes with room.
__attribute__((target("avx512f"), noipa)) double run_avx512(long iterations) {
    __m512 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iterations; ++it) {
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    float sink = 0;
    for (int i = 0; i < 12; ++i) sink += _mm512_reduce_add_ps(acc[i]);
    g_sink = sink;
    return static_cast<double>(iterations) * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"), noipa)) double run_avx2(long iterations) {
    __m256 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long it = 0; it < iterations; ++it) {
        for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    float out[8], sink = 0;
    for (int i = 0; i < 12; ++i) {
        _mm256_storeu_ps(out, acc[i]);
        sink += out[0];
    }
    g_sink = sink;
    return static_cast<double>(iterations) * 12 * 8 * 2;
}

}  // namespace

double fma_peak_gflops(int threads, double seconds) {
    const bool avx512 = __builtin_cpu_supports("avx512f");
    threads = std::max(1, threads);
    // Calibrate the iteration count on one thread, then run all threads at once.
    long iterations = 1 << 20;
    for (;;) {
        const megalide::Stopwatch watch;
        avx512 ? run_avx512(iterations) : run_avx2(iterations);
        const double s = watch.ms() * 1e-3;
        if (s > seconds / 4) {
            iterations = static_cast<long>(iterations * seconds / s);
            break;
        }
        iterations *= 2;
    }
    std::vector<double> flops(static_cast<size_t>(threads));
    std::vector<std::thread> pool;
    const megalide::Stopwatch watch;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] { flops[static_cast<size_t>(t)] = avx512 ? run_avx512(iterations) : run_avx2(iterations); });
    }
    for (std::thread &th : pool) th.join();
    const double s = watch.ms() * 1e-3;
    double total = 0;
    for (double f : flops) total += f;
    return total / s * 1e-9;
}
