#include "megalide/schedule/strategy.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <set>

#include "megalide/schedule/megakernel.h"
#include "megalide/schedule/tune.h"
#include "per_op.h"

namespace megalide {

Halide::Target TargetSpec::halide() const {
    return halide_target == "host" ? Halide::get_host_target() : Halide::Target(halide_target);
}

TargetSpec target_spec_for(const Halide::Target &target, int threads) {
    TargetSpec t;
    const bool avx512 = target.has_feature(Halide::Target::AVX512), avx2 = target.has_feature(Halide::Target::AVX2);
    t.vector_bytes = avx512 ? 64 : avx2 ? 32 : 16;
    t.registers = avx512 ? 32 : 16;
    t.threads = std::max(1, threads);
    const Halide::Target host = Halide::get_host_target();
    if (target.without_feature(Halide::Target::JIT) == host) {
        t.name = t.halide_target = "host";
    } else {
        t.name = t.halide_target = target.to_string();
        // Runs here if it is this OS and architecture and asks for no ISA extension the host lacks.
        using F = Halide::Target::Feature;
        const F isa[] = {F::SSE41, F::AVX, F::F16C, F::FMA, F::AVX2, F::AVX512, F::AVX512_Skylake, F::AVX512_Cannonlake,
                         F::AVX512_SapphireRapids, F::AVX512_Zen4, F::AVX512_Zen5, F::AVXVNNI};
        t.runs_here = target.os == host.os && target.arch == host.arch && target.bits == host.bits &&
                      std::all_of(std::begin(isa), std::end(isa), [&](F f) { return !target.has_feature(f) || host.has_feature(f); });
    }
    return t;
}

TargetSpec host_target_spec(int threads) {
    return target_spec_for(Halide::get_host_target(), threads);
}

// The named targets: data, so that an edge target is one more entry here (its Halide target
// string and facts), not a change to the CLI.
namespace {

struct NamedTarget {
    const char *name, *halide_target;
    int vector_bytes, registers;
};

const NamedTarget kTargets[] = {
    {"x86-64-avx512", "x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake", 64, 32},
    // AVX-512 with VNNI (Zen 4 and later, Ice Lake and later): int8 dot products (vpdpbusd).
    {"x86-64-avx512-vnni", "x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake-avx512_cannonlake-avx512_zen4", 64, 32},
    {"x86-64-avx2", "x86-64-linux-sse41-avx-f16c-fma-avx2", 32, 16},
};

}  // namespace

std::vector<std::string> target_names() {
    std::vector<std::string> names = {"host"};
    for (const NamedTarget &t : kTargets) names.push_back(t.name);
    return names;
}

TargetSpec target_spec(const std::string &name, int threads) {
    if (name == "host") return host_target_spec(threads);
    for (const NamedTarget &n : kTargets) {
        if (name != n.name) continue;
        TargetSpec t = target_spec_for(Halide::Target(n.halide_target), threads);
        t.name = n.name;
        t.vector_bytes = n.vector_bytes, t.registers = n.registers;
        return t;
    }
    std::string names;
    for (const std::string &n : target_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("unknown target '" + name + "' (known: " + names + ")");
}

std::vector<std::string> strategy_names() { return {"root", "per_op", "megakernel", "adams2019", "mullapudi2016", "li2018"}; }

namespace {

struct Autoscheduler {
    const char *strategy, *plugin_name, *library;
};

// The plugins ship in the Halide wheel; CMake passes their paths.
const Autoscheduler kAutoschedulers[] = {
    {"adams2019", "Adams2019", MEGALIDE_ADAMS2019_PLUGIN},
    {"mullapudi2016", "Mullapudi2016", MEGALIDE_MULLAPUDI2016_PLUGIN},
    {"li2018", "Li2018", MEGALIDE_LI2018_PLUGIN},
};

const Autoscheduler *find_autoscheduler(const std::string &plugin_or_strategy) {
    for (const Autoscheduler &a : kAutoschedulers) {
        if (plugin_or_strategy == a.strategy || plugin_or_strategy == a.plugin_name) return &a;
    }
    return nullptr;
}

Schedule root_schedule(const LoweredGraph &lowered) {
    Schedule s;
    s.strategy = "root";
    std::set<std::string> outputs, stages;
    for (const Halide::Func &f : lowered.outputs) outputs.insert(canonical_func_name(f.name()));
    for (const auto &[value, f] : lowered.stages) stages.insert(canonical_func_name(f.name()));
    for (const auto &[name, f] : pipeline_funcs(lowered)) {
        if (outputs.count(name)) continue;
        if (stages.count(name) || f.has_update_definition()) s.funcs.emplace_back(name, Placement::Root);
    }
    return s;
}

void set_estimates(LoweredGraph &lowered) {
    for (size_t i = 0; i < lowered.inputs.size(); ++i) {
        Halide::Region region;
        const std::vector<int64_t> &shape = lowered.input_shapes[i];
        for (size_t d = shape.size(); d-- > 0;) region.emplace_back(0, static_cast<int>(shape[d]));
        lowered.inputs[i].set_estimates(region);
    }
    for (size_t i = 0; i < lowered.outputs.size(); ++i) {
        Halide::Region region;
        const std::vector<int64_t> &shape = lowered.output_shapes[i];
        for (size_t d = shape.size(); d-- > 0;) region.emplace_back(0, static_cast<int>(shape[d]));
        lowered.outputs[i].set_estimates(region);
    }
}

}  // namespace

Schedule make_schedule(const std::string &name, const Graph &graph, const LoweredGraph &lowered,
                       const TargetSpec &target) {
    Schedule s;
    if (name == "root") {
        s = root_schedule(lowered);
    } else if (name == "per_op") {
        s = strategies::per_op(lowered, target);
    } else if (name == "megakernel") {
        // A schedule tuned for this graph, target and thread count wins over the cost model.
        const std::string tuned = tuned_schedule_path(graph, target);
        if (std::filesystem::exists(tuned)) {
            s = load_schedule(tuned);
            if (s.graph == graph_fingerprint(graph)) return s;
        }
        s = plan_megakernel(lowered, target).schedule;
    } else if (const Autoscheduler *a = find_autoscheduler(name)) {
        s.strategy = name;
        s.autoscheduler = a->plugin_name;
        s.autoscheduler_params["parallelism"] = std::to_string(target.threads);
    } else {
        std::string names;
        for (const std::string &n : strategy_names()) names += (names.empty() ? "" : ", ") + n;
        throw Error("unknown schedule strategy '" + name + "' (known: " + names + ", or a saved .json schedule)");
    }
    s.graph = graph_fingerprint(graph);
    return s;
}

Schedule load_schedule(const std::string &path) {
    std::ifstream in(path);
    if (!in) throw Error("schedule file '" + path + "': cannot open (" + std::strerror(errno) + ")");
    std::stringstream text;
    text << in.rdbuf();
    return Schedule::from_json(text.str(), path);
}

Schedule load_or_make_schedule(const std::string &what, const Graph &graph, const LoweredGraph &lowered,
                               const TargetSpec &target) {
    if (what.size() > 5 && what.compare(what.size() - 5, 5, ".json") == 0) return load_schedule(what);
    return make_schedule(what, graph, lowered, target);
}

void apply(const Schedule &schedule, const Graph &graph, LoweredGraph &lowered, const TargetSpec &target) {
    const std::string fingerprint = graph_fingerprint(graph);
    if (!schedule.graph.empty() && schedule.graph != fingerprint) {
        throw ScheduleError("schedule '" + schedule.strategy + "' was made for another graph (fingerprint " +
                            schedule.graph + ", this graph's is " + fingerprint + ")");
    }
    if (schedule.autoscheduler.empty()) {
        apply_schedule(schedule, lowered);
        return;
    }
    const Autoscheduler *a = find_autoscheduler(schedule.autoscheduler);
    if (!a) throw ScheduleError("unknown autoscheduler '" + schedule.autoscheduler + "'");
    static std::mutex mutex;
    static std::set<std::string> loaded;
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!loaded.count(a->library)) {
            Halide::load_plugin(a->library);
            loaded.insert(a->library);
        }
    }
    set_estimates(lowered);
    const Halide::Target t = target.name == "host" ? Halide::get_jit_target_from_environment() : target.halide();
    lowered.pipeline.apply_autoscheduler(t, Halide::AutoschedulerParams(a->plugin_name, schedule.autoscheduler_params));
}

}  // namespace megalide
