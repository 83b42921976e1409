#include "megalide/schedule/strategy.h"
#include "megalide/schedule/target_fit.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
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

namespace {

Schedule autoscheduler_schedule(const char *strategy, const TargetSpec &target) {
    const Autoscheduler *a = find_autoscheduler(strategy);
    Schedule s;
    s.strategy = strategy;
    s.autoscheduler = a->plugin_name;
    s.autoscheduler_params["parallelism"] = std::to_string(target.threads);
    return s;
}

// A schedule --tune measured and saved for this graph, target and thread count; asked for
// by name, never picked up behind the user's back (it may come from another machine).
Schedule tuned_megakernel(const Graph &graph, const TargetSpec &target) {
    const std::string path = tuned_schedule_path(graph, target);
    if (!std::filesystem::exists(path)) {
        std::string elsewhere;
        for (const std::string &p : tuned_schedules_elsewhere(graph, target)) elsewhere += "\n  " + p;
        if (!elsewhere.empty()) {
            elsewhere = "; tuned schedules for this graph from other machines (other CPU features or caches) are not used "
                        "here:" + elsewhere;
        }
        throw Error("no tuned megakernel schedule for this graph, target " + target.name + " and " +
                    std::to_string(target.threads) + " thread" + (target.threads == 1 ? "" : "s") +
                    (target.machine.empty() ? "" : " on this machine (" + target.machine + ")") + " (looked for " + path +
                    "): make one with `megalide explain MODEL.onnx --tune N`, or use --schedule megakernel (the cost "
                    "model's plan)" + elsewhere);
    }
    Schedule s = load_schedule(path);
    if (s.graph != graph_fingerprint(graph)) {
        throw Error("tuned schedule '" + path + "' was made for another graph (fingerprint " + s.graph + ")");
    }
    return s;
}

// The strategies, one row each: adding one is a row here.
const StrategyInfo kStrategies[] = {
    {"root", "every layer output and reduction at root, nothing vectorized: the baseline that runs anything",
     [](const Graph &, const LoweredGraph &lowered, const TargetSpec &) { return root_schedule(lowered); }},
    {"per_op", "a strong standalone schedule per op, each at root: the catalog of tuned kernels called op by op",
     [](const Graph &, const LoweredGraph &lowered, const TargetSpec &target) { return strategies::per_op(lowered, target); }},
    {"megakernel", "the whole graph fused in sections, planned by the cost model for the target",
     [](const Graph &, const LoweredGraph &lowered, const TargetSpec &target) { return plan_megakernel(lowered, target).schedule; }},
    {"megakernel:tuned", "the megakernel plan --tune measured fastest for this graph, target and thread count",
     [](const Graph &graph, const LoweredGraph &, const TargetSpec &target) { return tuned_megakernel(graph, target); }},
    {"adams2019", "Halide's Adams2019 autoscheduler (estimates from the graph's shapes)",
     [](const Graph &, const LoweredGraph &, const TargetSpec &target) { return autoscheduler_schedule("adams2019", target); }},
    {"mullapudi2016", "Halide's Mullapudi2016 autoscheduler",
     [](const Graph &, const LoweredGraph &, const TargetSpec &target) { return autoscheduler_schedule("mullapudi2016", target); }},
    {"li2018", "Halide's Li2018 autoscheduler (gradient pipelines' scheduler; no fusion)",
     [](const Graph &, const LoweredGraph &, const TargetSpec &target) { return autoscheduler_schedule("li2018", target); }},
};

}  // namespace

const std::vector<StrategyInfo> &strategy_registry() {
    static const std::vector<StrategyInfo> all(std::begin(kStrategies), std::end(kStrategies));
    return all;
}

std::vector<std::string> strategy_names() {
    std::vector<std::string> names;
    for (const StrategyInfo &s : strategy_registry()) names.push_back(s.name);
    return names;
}

Schedule make_schedule(const std::string &name, const Graph &graph, const LoweredGraph &lowered,
                       const TargetSpec &target) {
    for (const StrategyInfo &s : strategy_registry()) {
        if (s.name != name) continue;
        Schedule schedule = s.make(graph, lowered, target);
        fit_schedule_to_target(schedule, lowered, target);
        schedule.graph = graph_fingerprint(graph);
        return schedule;
    }
    std::string names;
    for (const std::string &n : strategy_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("unknown schedule strategy '" + name + "' (known: " + names + ", or a saved .json schedule)");
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
    if (what.size() > 5 && what.compare(what.size() - 5, 5, ".json") == 0) {
        Schedule s = load_schedule(what);
        // A file is the user's explicit choice: used, but a timing from elsewhere is pointed out.
        if (!s.machine.empty() && !target.machine.empty() && s.machine.find(target.machine) == std::string::npos) {
            std::fprintf(stderr, "megalide: note: schedule '%s' was tuned on another machine (%s); this one is %s\n", what.c_str(),
                         s.machine.substr(0, s.machine.find('\n')).c_str(), target.machine.c_str());
        }
        return s;
    }
    return make_schedule(what, graph, lowered, target);
}

void apply(const Schedule &schedule, const Graph &graph, LoweredGraph &lowered, const TargetSpec &target) {
    const std::string fingerprint = graph_fingerprint(graph);
    if (!schedule.graph.empty() && schedule.graph != fingerprint) {
        throw ScheduleError("schedule '" + schedule.strategy + "' was made for another graph (fingerprint " +
                            schedule.graph + ", this graph's is " + fingerprint + ")");
    }
    if (!target.parallel_allowed) {
        for (const FuncSchedule &f : schedule.funcs) {
            for (const StageSchedule &st : f.stages) {
                for (const LoopStep &step : st.steps) {
                    if (step.kind != LoopStep::Kind::Parallel) continue;
                    throw ScheduleError("schedule '" + schedule.strategy + "', Func '" + f.func + "': parallel(" +
                                        (step.vars.empty() ? "" : step.vars[0]) + ") is not allowed on target '" + target.name +
                                        "' (Halide's Hexagon NoOS runtime has no threads, and parallel loops there "
                                        "computed wrong results)");
                }
            }
        }
    }
    if (!target.float_vectors && schedule.autoscheduler.empty()) {
        // Halide has no HVX float arithmetic: a vectorized float stage stops its backend with
        // an internal error. Strategies make such stages scalar (target_fit.h); a schedule from
        // elsewhere (a .json, Python) is told which.
        Schedule fitted = schedule;
        const std::vector<std::string> scalar = fit_schedule_to_target(fitted, lowered, target);
        if (!scalar.empty()) {
            std::string names;
            for (const std::string &n : scalar) names += (names.empty() ? "'" : ", '") + n + "'";
            throw ScheduleError("schedule '" + schedule.strategy + "': " + names + (scalar.size() == 1 ? " computes" : " compute") +
                                " in float and " + (scalar.size() == 1 ? "is" : "are") + " vectorized, but target '" + target.name +
                                "' has no float vectors (HVX before v68): drop those vectorize steps (float stages run as "
                                "scalar code there), or plan the schedule for this target");
        }
    }
    if (!target.vtcm_bytes) {
        for (const FuncSchedule &f : schedule.funcs) {
            if (f.store_in.empty()) continue;
            throw ScheduleError("schedule '" + schedule.strategy + "', Func '" + f.func + "': store_in " + f.store_in +
                                ": target '" + target.name + "' has no VTCM (Hexagon HVX targets have: hexagon-hvx-v66)");
        }
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
