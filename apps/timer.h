// Timing for the programs in apps/: a stopwatch on the steady clock, and the median, min and
// max of repeated calls. Standard C++ only and found beside its includers, because
// classify_png.cpp is also compiled with no include path but a library's output directory
// (test/aot/compile_and_link.py, scripts/demo.sh).
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace megalide_apps {

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

/// Times `runs` calls of `call` (runs >= 1), one at a time; the median of an even count is the
/// upper of the middle two.
template <typename Call>
Timings time_calls(int runs, Call &&call) {
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) {
        const Stopwatch watch;
        call();
        ms.push_back(watch.ms());
    }
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms.front(), ms.back()};
}

}  // namespace megalide_apps
