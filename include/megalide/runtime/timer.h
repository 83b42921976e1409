// megalide's one timer: a stopwatch on the steady clock, and the median, min and max of
// repeated calls. The CLI, the tuner, `megalide compile`'s timing, the Python module and the
// apps all time with it. Standard C++ only and header-only, because apps/classify_png.cpp is
// compiled with no include path but a library's output directory (test/aot/compile_and_link.py,
// scripts/demo.sh) and reaches it by a relative path.
#pragma once

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

namespace megalide {

/// Milliseconds since construction or the last restart().
class Stopwatch {
public:
    Stopwatch() : start_(std::chrono::steady_clock::now()) {}
    void restart() { start_ = std::chrono::steady_clock::now(); }
    double ms() const { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count(); }

private:
    std::chrono::steady_clock::time_point start_;
};

struct Timings {
    double median_ms, min_ms, max_ms;
};

/// The median, min and max of `ms` (not empty); the median of an even count is the upper of
/// the middle two.
inline Timings summarize(std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms.front(), ms.back()};
}

/// Times `runs` calls of `call` (runs >= 1), one at a time; `before` runs untimed before each.
template <typename Call, typename Before>
Timings time_calls(int runs, Call &&call, Before &&before) {
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) {
        before(r);
        const Stopwatch watch;
        call();
        ms.push_back(watch.ms());
    }
    return summarize(std::move(ms));
}

/// Times `runs` calls of `call` (runs >= 1), one at a time.
template <typename Call>
Timings time_calls(int runs, Call &&call) {
    return time_calls(runs, std::forward<Call>(call), [](int) {});
}

}  // namespace megalide
