#include "megalide/runtime/run.h"
#include "megalide/schedule/tune.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "megalide/io/atomic_file.h"
#include "megalide/runtime/timer.h"
#include "megalide/runtime/worker_pool.h"
#include "megalide/target/machine.h"

namespace megalide {

namespace {

// Median wall time of one run: 3 warm-up runs, then at least 10 runs and 0.2 s. Before each
// timed run a 64 MB scratch buffer (twice this machine's L3) is rewritten, so weights and
// inputs come from memory as they do when a block runs inside a whole model. With hot caches
// the tuner preferred short tiles that stream B3's 8 MB of weights from L3 once per tile,
// which then ran 1.3x slower than the cost model's pick inside the interleaved bench.
double median_ms(LoweredGraph &lowered, WorkerPool &pool) {
    const std::vector<Halide::Buffer<>> inputs = random_input_buffers(lowered);
    std::vector<Halide::Buffer<>> outputs = output_buffers(lowered);
    std::vector<char> scratch(64u << 20);
    for (int i = 0; i < 3; ++i) run_buffers(lowered, inputs, outputs, &pool);
    std::vector<double> times;
    double total = 0;
    while ((times.size() < 10 || total < 200.0) && times.size() < 200) {
        std::memset(scratch.data(), static_cast<int>(times.size()), scratch.size());
        const Stopwatch watch;
        run_buffers(lowered, inputs, outputs, &pool);
        times.push_back(watch.ms());
        total += times.back();
    }
    return summarize(times).median_ms;
}

void write_atomically(const std::string &path, const std::string &text) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    if (ec) throw Error("cannot create the directory of the tuned schedule '" + path + "': " + ec.message());
    write_file_atomically(path, {text});
}

}  // namespace

std::string tuned_schedule_dir() {
    if (const char *dir = std::getenv("MEGALIDE_SCHEDULE_DIR"); dir && *dir) return dir;
    return cache_dir() + "/tuned";
}

std::string tuned_schedule_path(const Graph &graph, const TargetSpec &target) {
    const std::string machine = target.machine.empty() ? target.name : target.machine;
    return tuned_schedule_dir() + "/" + graph_fingerprint(graph) + "." + machine + ".t" + std::to_string(target.threads) + ".json";
}

std::vector<std::string> tuned_schedules_elsewhere(const Graph &graph, const TargetSpec &target) {
    const std::string mine = tuned_schedule_path(graph, target);
    const std::string prefix = graph_fingerprint(graph) + ".";
    const std::string suffix = ".t" + std::to_string(target.threads) + ".json";
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(tuned_schedule_dir(), ec)) {
        const std::string name = e.path().filename().string();
        if (e.path().string() != mine && name.rfind(prefix, 0) == 0 && name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            found.push_back(e.path().string());
        }
    }
    std::sort(found.begin(), found.end());
    return found;
}

TuneResult tune_megakernel(const Graph &graph, const TargetSpec &target, int top_n,
                           const std::function<void(const std::string &)> &progress) {
    if (target.name != "host") throw Error("--tune measures on this machine: target '" + target.name + "' cannot be timed here (use host)");
    if (top_n < 1) throw Error("--tune needs at least 1 candidate, got " + std::to_string(top_n));
    TuneResult result;
    double best = 0;
    std::vector<std::string> failures;
    WorkerPool pool(target.threads);  // candidates are timed on the thread count they were planned for
    for (size_t rank = 0; rank < static_cast<size_t>(top_n); ++rank) {
        LoweredGraph lowered = lower(graph);
        MegakernelPlan plan = plan_megakernel(lowered, target, rank);
        if (rank >= plan.candidates.size()) break;
        plan.schedule.graph = graph_fingerprint(graph);
        // A candidate Halide refuses or that fails when run is reported and passed over: the
        // others are still timed (B5's one-row tiles once stopped the whole tuning run).
        std::string failure;
        double ms = 0;
        try {
            apply_schedule(plan.schedule, lowered);
            compile_jit(lowered);
            ms = median_ms(lowered, pool);
        } catch (const Halide::Error &e) {
            failure = e.what();
        } catch (const Error &e) {
            failure = e.what();
        }
        if (!failure.empty()) {
            failure = failure.substr(0, failure.find('\n'));
            failures.push_back("#" + std::to_string(rank) + ": " + failure);
            if (progress) progress("candidate #" + std::to_string(rank) + " (" + plan.candidates[rank].describe() + "): failed, skipped: " + failure);
            continue;
        }
        result.measured.push_back({plan.candidates[rank], rank, ms});
        if (result.measured.size() == 1 || ms < best) {
            best = ms;
            result.best = result.measured.size() - 1;
            result.schedule = plan.schedule;
        }
        if (progress) {
            std::ostringstream line;
            line.precision(4);
            line << "candidate #" << rank << " (" << plan.candidates[rank].describe() << "): " << ms << " ms";
            progress(line.str());
        }
    }
    if (result.measured.empty()) {
        std::string all;
        for (const std::string &f : failures) all += "\n  " + f;
        throw Error("--tune: no candidate could be compiled and run:" + all);
    }
    result.schedule.strategy = "megakernel";
    result.schedule.machine = machine_facts().describe();
    result.path = tuned_schedule_path(graph, target);
    write_atomically(result.path, result.schedule.to_json());
    return result;
}

}  // namespace megalide
