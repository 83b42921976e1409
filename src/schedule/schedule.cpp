#include "megalide/schedule/schedule.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace megalide {

namespace {

using Json = nlohmann::json;
using Halide::Internal::Function;

const char *placement_name(Placement p) {
    switch (p) {
    case Placement::Inline: return "inline";
    case Placement::Root: return "root";
    case Placement::At: return "at";
    }
    return "?";
}

Halide::TailStrategy tail_strategy(const std::string &tail, const std::string &where) {
    if (tail == "auto") return Halide::TailStrategy::Auto;
    if (tail == "round_up") return Halide::TailStrategy::RoundUp;
    if (tail == "guard_with_if") return Halide::TailStrategy::GuardWithIf;
    if (tail == "shift_inwards") return Halide::TailStrategy::ShiftInwards;
    throw ScheduleError(where + ": unknown tail strategy '" + tail + "' (auto, round_up, guard_with_if, shift_inwards)");
}

std::string cpp_tail(const std::string &tail) {
    if (tail == "round_up") return "TailStrategy::RoundUp";
    if (tail == "guard_with_if") return "TailStrategy::GuardWithIf";
    if (tail == "shift_inwards") return "TailStrategy::ShiftInwards";
    return "TailStrategy::Auto";
}

std::string stage_label(const std::string &func, int index) {
    return index == 0 ? func : func + ".update(" + std::to_string(index - 1) + ")";
}

// ---- JSON ----

Json loop_ref_json(const LoopRef &r) { return r.empty() ? Json(nullptr) : Json{{"func", r.func}, {"var", r.var}}; }

template <typename T>
T field(const Json &j, const char *key, const std::string &where) {
    if (!j.is_object() || !j.contains(key)) throw ScheduleError(where + ": missing field '" + key + "'");
    try {
        if constexpr (std::is_same_v<T, int>) {
            // A number that is not whole or outside int would convert with undefined behaviour.
            const Json &v = j.at(key);
            if (v.is_number()) {
                const double d = v.get<double>();
                if (!(d >= std::numeric_limits<int>::min() && d <= std::numeric_limits<int>::max()) || d != std::floor(d)) {
                    throw ScheduleError(where + ": field '" + key + "' must be an integer within int's range, got " + v.dump());
                }
            }
        }
        return j.at(key).get<T>();
    } catch (const Json::exception &) {
        throw ScheduleError(where + ": field '" + key + "' has the wrong type");
    }
}

LoopRef loop_ref_from(const Json &j, const std::string &where) {
    if (j.is_null()) return {};
    return {field<std::string>(j, "func", where), field<std::string>(j, "var", where)};
}

// ---- Step kinds ----
//
// One row per LoopStep::Kind holds everything about that kind of step: its name (the JSON
// "op"), the loops it takes, its fields beyond op and vars (read from and written to JSON),
// its Halide C++ text, its check (how it rewrites the stage's loops, and what it refuses) and
// what it does to a Halide::Stage. The rest of the file looks the row up by kind or by name.

struct LoopVar {
    std::string name;
    bool reduction;    // an RVar (or a loop split from one), as the stage's dims record it
    bool impure_rvar;  // a reduction variable whose iterations depend on each other
};

// The loops of a stage before any step, innermost first, without __outermost.
std::vector<LoopVar> initial_loops(const Halide::Func &f, int index) {
    Halide::Stage stage = index == 0 ? Halide::Stage(f) : const_cast<Halide::Func &>(f).update(index - 1);
    std::vector<LoopVar> loops;
    for (const auto &d : stage.get_schedule().dims()) {
        if (d.var == "__outermost") continue;
        loops.push_back({d.var, d.is_rvar(), d.dim_type == Halide::Internal::DimType::ImpureRVar});
    }
    return loops;
}

// "a, b, c", for errors that list the loops there are.
std::string loop_names(const std::vector<LoopVar> &loops) {
    std::string names;
    for (const LoopVar &l : loops) names += (names.empty() ? "" : ", ") + l.name;
    return names;
}

[[noreturn]] void fail_func(const std::string &strategy, const std::string &func, const std::string &what) {
    throw ScheduleError("schedule '" + strategy + "', Func '" + func + "': " + what);
}

// The dry run of one stage's steps: follows the stage's loops (innermost first) as each step
// rewrites them, and refuses a step that does not fit.
class StageCheck {
public:
    StageCheck(const std::string &strategy_name, const std::string &func, int index, int last_index,
               std::vector<LoopVar> initial)
        : strategy(strategy_name), stage(index), last_stage(last_index), label(stage_label(func, index)),
          loops(std::move(initial)), func_(func) {}

    /// Checks `step` against the loops so far (its kind's common rules, then its own), then
    /// rewrites them as the step will.
    void step(const LoopStep &step);

    /// Asks for pure loop `var` once all the stage's steps are applied; `what` names the asker.
    void require_final_pure_loop(const std::string &var, const std::string &what) { final_pure_loops_.push_back({var, what}); }

    /// After the last step: checks what was asked of the final loops, and returns them.
    const std::vector<LoopVar> &finish() const {
        for (const auto &[var, what] : final_pure_loops_) {
            const auto it = std::find_if(loops.begin(), loops.end(), [&](const LoopVar &l) { return l.name == var; });
            if (it != loops.end() && !it->reduction) continue;
            fail(what + ": '" + var + "' is not a pure loop of the stage once its steps are applied (loops, innermost first: " +
                 loop_names(loops) + ")");
        }
        return loops;
    }

    /// Throws "schedule 'S', Func 'F': <label><what>".
    [[noreturn]] void fail(const std::string &what) const { fail_func(strategy, func_, label + what); }

    /// The position of loop `var`; fails naming the step being checked and the loops there are.
    size_t find(const std::string &var) const {
        for (size_t i = 0; i < loops.size(); ++i) if (loops[i].name == var) return i;
        fail(std::string(".") + step_name_ + ": no loop '" + var + "' (loops, innermost first: " + loop_names(loops) + ")");
    }

    const std::string &strategy;
    const int stage;       // 0: pure definition; k: update k-1
    const int last_stage;  // the Func's last stage, whose loops compute_at(func, var) names
    const std::string label;  // "f" or "f.update(k)", as the C++ form names the stage
    std::vector<LoopVar> loops;

private:
    std::string func_;
    const char *step_name_ = "";
    std::vector<std::pair<std::string, std::string>> final_pure_loops_;  // {var, what}
};

// What applying a step sees: the stage, and the Func it belongs to.
struct StepApply {
    Halide::Func &func;
    Halide::Stage &stage;
    const std::string &func_name;
};

// Loop `name` of `stage` as the Var or RVar the stage's dims record it to be; a name the
// stage does not have yet (the outer and inner loops a split makes) takes the kind of loop
// `like`. Halide qualifies the loops a split makes by the loop split ("r$x.r$xi"), and
// matches a name against the last component, as here.
Halide::VarOrRVar loop_named(const Halide::Stage &stage, const std::string &name, const std::string &like = "") {
    const auto &dims = stage.get_schedule().dims();
    auto matches = [](const std::string &dim, const std::string &v) {
        return dim == v || (dim.size() > v.size() && dim.compare(dim.size() - v.size(), v.size(), v) == 0 &&
                            dim[dim.size() - v.size() - 1] == '.');
    };
    auto is_rvar = [&](const std::string &v, bool *found) {
        for (const auto &d : dims) {
            if (matches(d.var, v)) return *found = true, d.is_rvar();
        }
        return *found = false;
    };
    bool found = false;
    bool rvar = is_rvar(name, &found);
    if (!found && !like.empty()) rvar = is_rvar(like, &found);
    return rvar ? Halide::VarOrRVar(Halide::RVar(name)) : Halide::VarOrRVar(Halide::Var(name));
}

struct StepKind {
    LoopStep::Kind kind;
    const char *name;   // JSON "op"; in messages and (mostly) the C++ method
    size_t arity;       // how many vars the step takes; 0: any number
    const char *vars;   // their roles, in the error for another count
    bool update_only;   // it reorganizes a reduction: only update stages have one
    /// Fields beyond "op" and "vars", from JSON (`where` names the place in errors) and to it.
    void (*read)(const Json &j, LoopStep &step, const std::string &where);
    void (*write)(const LoopStep &step, Json &j);
    /// The step as Halide C++, continuing the chain `stage_label(func, stage)` + previous steps.
    void (*print_cpp)(std::ostream &out, const LoopStep &step, const std::string &func, int stage);
    /// The step's own rules, after arity and stage were checked; rewrites c.loops.
    void (*check)(const LoopStep &step, StageCheck &c);
    void (*apply)(const LoopStep &step, const StepApply &a);
};

const StepKind &step_kind(LoopStep::Kind kind);

// ".name(var, var, ...extra)", the form of most steps in C++.
void print_call(std::ostream &out, const LoopStep &step, const std::string &extra = "") {
    out << "\n    ." << step_kind(step.kind).name << "(";
    for (size_t i = 0; i < step.vars.size(); ++i) out << (i ? ", " : "") << step.vars[i];
    out << extra << ")";
}

// What a step kind without fields of its own and printed as a plain call shares.
struct PlainStep {
    static void read(const Json &, LoopStep &, const std::string &) {}
    static void write(const LoopStep &, Json &) {}
    static void print_cpp(std::ostream &out, const LoopStep &step, const std::string &, int) { print_call(out, step); }
};

// Vectorizing or parallelizing a loop whose iterations update the same element would race.
void check_not_racing(const LoopStep &step, StageCheck &c) {
    const size_t at = c.find(step.vars[0]);
    if (c.loops[at].impure_rvar) {
        c.fail("." + std::string(step_kind(step.kind).name) + "(" + step.vars[0] + "): '" + step.vars[0] +
               "' is a reduction variable whose iterations update the same element; "
               "vectorizing or parallelizing it would race (use rfactor first)");
    }
}

// split {var, outer, inner} by `factor`, the tail handled by `tail`.
struct Split {
    static void read(const Json &j, LoopStep &step, const std::string &where) {
        step.factor = field<int>(j, "factor", where);
        step.tail = j.value("tail", "auto");
    }
    static void write(const LoopStep &step, Json &j) { j["factor"] = step.factor, j["tail"] = step.tail; }
    static void print_cpp(std::ostream &out, const LoopStep &step, const std::string &, int) {
        print_call(out, step, ", " + std::to_string(step.factor) + ", " + cpp_tail(step.tail));
    }
    static void check(const LoopStep &step, StageCheck &c) {
        if (step.factor < 1) c.fail(".split factor must be >= 1");
        tail_strategy(step.tail, "schedule '" + c.strategy + "', " + c.label);
        const size_t at = c.find(step.vars[0]);
        for (size_t k = 1; k < 3; ++k) {
            for (const LoopVar &l : c.loops) {
                if (l.name == step.vars[k] && step.vars[k] != step.vars[0]) c.fail(".split: loop '" + step.vars[k] + "' already exists");
            }
        }
        const LoopVar split = c.loops[at];
        c.loops[at] = {step.vars[2], split.reduction, split.impure_rvar};
        c.loops.insert(c.loops.begin() + static_cast<long>(at) + 1, {step.vars[1], split.reduction, split.impure_rvar});
    }
    static void apply(const LoopStep &step, const StepApply &a) {
        const std::string &old = step.vars[0];
        a.stage.split(loop_named(a.stage, old), loop_named(a.stage, step.vars[1], old), loop_named(a.stage, step.vars[2], old), step.factor,
                      tail_strategy(step.tail, a.func_name));
    }
};

// reorder {loops, innermost first}.
struct Reorder : PlainStep {
    static void check(const LoopStep &step, StageCheck &c) {
        std::vector<size_t> positions;
        for (const std::string &v : step.vars) positions.push_back(c.find(v));
        std::vector<size_t> sorted = positions;
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) c.fail(".reorder names a loop twice");
        std::vector<LoopVar> moved;
        for (size_t p : positions) moved.push_back(c.loops[p]);
        for (size_t i = 0; i < sorted.size(); ++i) c.loops[sorted[i]] = moved[i];
        // Halide cannot move a reduction variable across another whose order matters.
    }
    static void apply(const LoopStep &step, const StepApply &a) {
        std::vector<Halide::VarOrRVar> order;
        for (const std::string &v : step.vars) order.push_back(loop_named(a.stage, v));
        a.stage.reorder(order);
    }
};

// vectorize {var}.
struct Vectorize : PlainStep {
    static void check(const LoopStep &step, StageCheck &c) { check_not_racing(step, c); }
    static void apply(const LoopStep &step, const StepApply &a) { a.stage.vectorize(loop_named(a.stage, step.vars[0])); }
};

// unroll {var}: any loop, a reduction's too (its iterations stay in order).
struct Unroll : PlainStep {
    static void check(const LoopStep &step, StageCheck &c) { c.find(step.vars[0]); }
    static void apply(const LoopStep &step, const StepApply &a) { a.stage.unroll(loop_named(a.stage, step.vars[0])); }
};

// parallel {var}.
struct Parallel : PlainStep {
    static void check(const LoopStep &step, StageCheck &c) { check_not_racing(step, c); }
    static void apply(const LoopStep &step, const StepApply &a) { a.stage.parallel(loop_named(a.stage, step.vars[0])); }
};

// rfactor {rvar, var}, its intermediate Func scheduled by intermediate_at and
// intermediate_vectorize (see LoopStep). Each is written to JSON only when it is not the
// default, so schedules from before these fields existed read and write unchanged.
struct RFactor {
    static void read(const Json &j, LoopStep &step, const std::string &where) {
        if (j.contains("intermediate_at")) step.intermediate_at = field<std::string>(j, "intermediate_at", where);
        if (j.contains("intermediate_vectorize")) step.intermediate_vectorize = field<bool>(j, "intermediate_vectorize", where);
    }
    static void write(const LoopStep &step, Json &j) {
        if (!step.intermediate_at.empty()) j["intermediate_at"] = step.intermediate_at;
        if (!step.intermediate_vectorize) j["intermediate_vectorize"] = false;
    }
    static void print_cpp(std::ostream &out, const LoopStep &step, const std::string &func, int stage) {
        if (step.vars.size() < 2) return print_call(out, step);  // malformed: check_schedule refuses it
        // The intermediate is a new Func: end the chain, schedule it, go on.
        const std::string intm = func + "_intm", &var = step.vars[1];
        out << ";\n{\n    Var " << var << ";\n    Func " << intm << " = " << stage_label(func, stage) << ".rfactor("
            << step.vars[0] << ", " << var << ");\n    " << intm << ".compute_at(" << func << ", "
            << (step.intermediate_at.empty() ? "Var::outermost()" : step.intermediate_at) << ")";
        if (step.intermediate_vectorize) out << ".vectorize(" << var << ");\n    " << intm << ".update(0).vectorize(" << var << ")";
        out << ";\n}\n" << stage_label(func, stage);
    }
    static void check(const LoopStep &step, StageCheck &c) {
        const size_t at = c.find(step.vars[0]);
        if (!c.loops[at].reduction) c.fail(".rfactor(" + step.vars[0] + "): not a reduction variable");
        for (const LoopVar &l : c.loops) {
            if (l.name == step.vars[1]) c.fail(".rfactor: loop '" + step.vars[1] + "' already exists");
        }
        if (!step.intermediate_at.empty()) {
            // compute_at(func, var) names a loop of the Func's last stage; Halide refuses a
            // loop of an earlier stage for an intermediate that stage consumes.
            if (c.stage != c.last_stage) c.fail(".rfactor: intermediate_at needs the rfactor in the Func's last stage");
            c.require_final_pure_loop(step.intermediate_at, ".rfactor intermediate_at");
        }
        // The other reduction loops move into the intermediate; the stage keeps its pure
        // loops and now reduces the intermediate over `rvar`.
        std::vector<LoopVar> kept;
        for (const LoopVar &l : c.loops) {
            if (!l.reduction || l.name == step.vars[0]) kept.push_back(l);
        }
        c.loops = kept;
    }
    static void apply(const LoopStep &step, const StepApply &a) {
        const Halide::Var lane(step.vars[1]);
        Halide::Func intm = a.stage.rfactor(Halide::RVar(step.vars[0]), lane);
        intm.compute_at(a.func, step.intermediate_at.empty() ? Halide::Var::outermost() : Halide::Var(step.intermediate_at));
        if (step.intermediate_vectorize) {
            intm.vectorize(lane);
            intm.update(0).vectorize(lane);
        }
    }
};

// vectorize_reduction {rvar}: Halide's atomic().vectorize().
struct VectorizeReduction : PlainStep {
    static void print_cpp(std::ostream &out, const LoopStep &step, const std::string &, int) {
        if (step.vars.empty()) return print_call(out, step);  // malformed: check_schedule refuses it
        out << "\n    .atomic().vectorize(" << step.vars[0] << ")";
    }
    static void check(const LoopStep &step, StageCheck &c) {
        const size_t at = c.find(step.vars[0]);
        if (!c.loops[at].impure_rvar) c.fail(".vectorize_reduction(" + step.vars[0] + "): not a reduction variable (use vectorize)");
    }
    static void apply(const LoopStep &step, const StepApply &a) { a.stage.atomic().vectorize(loop_named(a.stage, step.vars[0])); }
};

template <typename K>
constexpr StepKind row(LoopStep::Kind kind, const char *name, size_t arity, const char *vars, bool update_only) {
    return {kind, name, arity, vars, update_only, &K::read, &K::write, &K::print_cpp, &K::check, &K::apply};
}

// Indexed by LoopStep::Kind.
constexpr StepKind kStepKinds[] = {
    row<Split>(LoopStep::Kind::Split, "split", 3, "{var, outer, inner}", false),
    row<Reorder>(LoopStep::Kind::Reorder, "reorder", 0, "{loops, innermost first}", false),
    row<Vectorize>(LoopStep::Kind::Vectorize, "vectorize", 1, "{var}", false),
    row<Unroll>(LoopStep::Kind::Unroll, "unroll", 1, "{var}", false),
    row<Parallel>(LoopStep::Kind::Parallel, "parallel", 1, "{var}", false),
    row<RFactor>(LoopStep::Kind::RFactor, "rfactor", 2, "{rvar, var}", true),
    row<VectorizeReduction>(LoopStep::Kind::VectorizeReduction, "vectorize_reduction", 1, "{rvar}", true),
};

constexpr bool indexed_by_kind() {
    for (size_t i = 0; i < std::size(kStepKinds); ++i) {
        if (static_cast<size_t>(kStepKinds[i].kind) != i) return false;
    }
    return std::size(kStepKinds) == static_cast<size_t>(LoopStep::Kind::VectorizeReduction) + 1;
}
static_assert(indexed_by_kind(), "kStepKinds: one row per LoopStep::Kind, in the enum's order");

const StepKind &step_kind(LoopStep::Kind kind) {
    const auto i = static_cast<size_t>(kind);
    MEGALIDE_INTERNAL_CHECK(i < std::size(kStepKinds), "a LoopStep::Kind without a row in kStepKinds");
    return kStepKinds[i];
}

const StepKind *step_kind_named(const std::string &name) {
    for (const StepKind &k : kStepKinds) if (name == k.name) return &k;
    return nullptr;
}

void StageCheck::step(const LoopStep &step) {
    const StepKind &k = step_kind(step.kind);
    step_name_ = k.name;
    if (k.update_only && stage == 0) fail(std::string(".") + k.name + ": only an update stage reduces");
    if (k.arity && step.vars.size() != k.arity) {
        fail(std::string(".") + k.name + (k.arity == 1 ? " takes one loop" : std::string(" needs ") + k.vars));
    }
    k.check(step, *this);
}

}  // namespace

std::string Schedule::placements() const {
    if (!autoscheduler.empty()) return "(placements chosen by Halide's " + autoscheduler + " autoscheduler when applied)\n";
    std::ostringstream out;
    for (const FuncSchedule &f : funcs) {
        out << f.func << ": " << placement_name(f.placement);
        if (f.placement == Placement::At) out << " " << f.compute_at.func << "." << f.compute_at.var;
        if (!f.store_at.empty()) out << " (store_at " << f.store_at.func << "." << f.store_at.var;
        if (f.fold_factor) out << (f.store_at.empty() ? " (" : ", ") << "fold " << f.fold_var << " % " << f.fold_factor;
        if (!f.store_at.empty() || f.fold_factor) out << ")";
        if (!f.store_in.empty()) out << " in " << (f.store_in == "vtcm" ? "VTCM" : f.store_in);
        out << "\n";
    }
    return out.str();
}

std::string Schedule::to_json() const {
    Json funcs_json = Json::array();
    for (const FuncSchedule &f : funcs) {
        Json stages_json = Json::array();
        for (const StageSchedule &s : f.stages) {
            Json steps = Json::array();
            for (const LoopStep &st : s.steps) {
                const StepKind &kind = step_kind(st.kind);
                Json step = {{"op", kind.name}, {"vars", st.vars}};
                kind.write(st, step);
                steps.push_back(step);
            }
            stages_json.push_back({{"stage", s.index}, {"steps", steps}});
        }
        Json fj = {{"func", f.func},
                   {"placement", placement_name(f.placement)},
                   {"compute_at", loop_ref_json(f.compute_at)},
                   {"store_at", loop_ref_json(f.store_at)},
                   {"stages", stages_json}};
        if (f.fold_factor) fj["fold_storage"] = {{"var", f.fold_var}, {"factor", f.fold_factor}};
        if (!f.store_in.empty()) fj["store_in"] = f.store_in;
        funcs_json.push_back(fj);
    }
    Json j = {{"format", "megalide-schedule-1"}, {"strategy", strategy}, {"graph", graph}, {"funcs", funcs_json}};
    if (!autoscheduler.empty()) j["autoscheduler"] = {{"name", autoscheduler}, {"params", autoscheduler_params}};
    if (!machine.empty()) j["machine"] = machine;
    return j.dump(1) + "\n";
}

Schedule Schedule::from_json(const std::string &text, const std::string &source) {
    Json j;
    try {
        j = Json::parse(text);
    } catch (const Json::exception &e) {  // parse_error, or out_of_range for a number overflowing a double
        throw ScheduleError(source + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object() || j.value("format", "") != "megalide-schedule-1") {
        throw ScheduleError(source + ": not a megalide schedule (expected \"format\": \"megalide-schedule-1\")");
    }
    Schedule s;
    s.strategy = field<std::string>(j, "strategy", source);
    s.graph = field<std::string>(j, "graph", source);
    if (j.contains("machine")) s.machine = field<std::string>(j, "machine", source);
    if (j.contains("autoscheduler")) {
        s.autoscheduler = field<std::string>(j["autoscheduler"], "name", source + ": autoscheduler");
        s.autoscheduler_params = field<std::map<std::string, std::string>>(j["autoscheduler"], "params", source + ": autoscheduler");
    }
    for (const Json &fj : field<Json>(j, "funcs", source)) {
        FuncSchedule f;
        f.func = field<std::string>(fj, "func", source + ": funcs[]");
        const std::string where = source + ": func '" + f.func + "'";
        const std::string placement = field<std::string>(fj, "placement", where);
        if (placement == "inline") f.placement = Placement::Inline;
        else if (placement == "root") f.placement = Placement::Root;
        else if (placement == "at") f.placement = Placement::At;
        else throw ScheduleError(where + ": unknown placement '" + placement + "' (inline, root, at)");
        f.compute_at = loop_ref_from(fj.value("compute_at", Json(nullptr)), where + ": compute_at");
        f.store_at = loop_ref_from(fj.value("store_at", Json(nullptr)), where + ": store_at");
        if (fj.contains("fold_storage")) {
            f.fold_var = field<std::string>(fj["fold_storage"], "var", where + ": fold_storage");
            f.fold_factor = field<int>(fj["fold_storage"], "factor", where + ": fold_storage");
        }
        if (fj.contains("store_in")) f.store_in = field<std::string>(fj, "store_in", where);
        for (const Json &sj : field<Json>(fj, "stages", where)) {
            StageSchedule st;
            st.index = field<int>(sj, "stage", where);
            for (const Json &step_json : field<Json>(sj, "steps", where)) {
                LoopStep step;
                const std::string op = field<std::string>(step_json, "op", where);
                step.vars = field<std::vector<std::string>>(step_json, "vars", where);
                const StepKind *kind = step_kind_named(op);
                if (!kind) throw ScheduleError(where + ": unknown step '" + op + "'");
                step.kind = kind->kind;
                kind->read(step_json, step, where);
                st.steps.push_back(step);
            }
            f.stages.push_back(st);
        }
        s.funcs.push_back(f);
    }
    return s;
}

std::string Schedule::to_cpp() const {
    std::ostringstream out;
    out << "// megalide schedule (" << strategy << ") as Halide C++.\n";
    if (!autoscheduler.empty()) {
        out << "pipeline.apply_autoscheduler(target, {\"" << autoscheduler << "\", {";
        bool first = true;
        for (const auto &[k, v] : autoscheduler_params) {
            out << (first ? "" : ", ") << "{\"" << k << "\", \"" << v << "\"}";
            first = false;
        }
        out << "}});\n";
    }
    for (const FuncSchedule &f : funcs) {
        if (f.placement == Placement::Root) out << f.func << ".compute_root();\n";
        if (f.placement == Placement::At) out << f.func << ".compute_at(" << f.compute_at.func << ", " << f.compute_at.var << ");\n";
        if (!f.store_at.empty()) out << f.func << ".store_at(" << f.store_at.func << ", " << f.store_at.var << ");\n";
        if (f.fold_factor) out << f.func << ".fold_storage(" << f.fold_var << ", " << f.fold_factor << ");\n";
        if (f.store_in == "vtcm") out << f.func << ".store_in(MemoryType::VTCM).hoist_storage_root();\n";
        for (const StageSchedule &s : f.stages) {
            if (s.steps.empty()) continue;
            out << stage_label(f.func, s.index);
            for (const LoopStep &st : s.steps) step_kind(st.kind).print_cpp(out, st, f.func, s.index);
            out << ";\n";
        }
    }
    return out.str();
}

// ---- Legality ----

std::string canonical_func_name(const std::string &name) {
    const size_t dollar = name.rfind('$');
    if (dollar == std::string::npos || dollar + 1 == name.size()) return name;
    for (size_t i = dollar + 1; i < name.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(name[i]))) return name;
    }
    return name.substr(0, dollar);
}

std::map<std::string, Halide::Func> pipeline_funcs(const LoweredGraph &lowered) {
    std::vector<Function> roots;
    for (const Halide::Func &f : lowered.outputs) roots.push_back(f.function());
    std::map<std::string, Halide::Func> funcs;
    for (const auto &[name, fn] : Halide::Internal::build_environment(roots)) {
        funcs.emplace(canonical_func_name(name), Halide::Func(fn));
    }
    return funcs;
}

namespace {

class Checker {
public:
    Checker(const Schedule &s, const LoweredGraph &lowered) : s_(s), funcs_(pipeline_funcs(lowered)) {
        for (const Halide::Func &f : lowered.outputs) outputs_.insert(canonical_func_name(f.name()));
        for (const auto &[name, f] : funcs_) {
            for (const auto &[callee, fn] : Halide::Internal::find_direct_calls(f.function())) {
                (void)fn;
                const std::string c = canonical_func_name(callee);
                if (c != name) consumers_[c].insert(name);
            }
        }
    }

    void run() {
        std::set<std::string> seen;
        for (const FuncSchedule &f : s_.funcs) {
            if (!funcs_.count(f.func)) fail(f.func, "no Func named '" + f.func + "' in the pipeline" + suggestion(f.func));
            if (!seen.insert(f.func).second) fail(f.func, "scheduled twice");
            placement_[f.func] = &f;
        }
        for (const FuncSchedule &f : s_.funcs) {
            check_placement(f);
            for (const StageSchedule &st : f.stages) final_loops_[f.func][st.index] = check_stage(f.func, st);
        }
        for (const FuncSchedule &f : s_.funcs) {
            if (f.placement == Placement::At) check_loop_exists(f.func, "compute_at", f.compute_at);
            if (!f.store_at.empty()) check_loop_exists(f.func, "store_at", f.store_at);
            if (f.placement == Placement::At) check_enclosed(f);
            if (f.fold_factor) check_fold(f);
            if (!f.store_in.empty()) check_store_in(f);
        }
    }

private:
    const Schedule &s_;
    std::map<std::string, Halide::Func> funcs_;
    std::set<std::string> outputs_;
    std::map<std::string, std::set<std::string>> consumers_;
    std::map<std::string, const FuncSchedule *> placement_;
    std::map<std::string, std::map<int, std::vector<LoopVar>>> final_loops_;

    [[noreturn]] void fail(const std::string &func, const std::string &what) const {
        fail_func(s_.strategy, func, what);
    }

    std::string suggestion(const std::string &name) const {
        std::string best;
        for (const auto &[n, f] : funcs_) {
            (void)f;
            if (n.find(name) != std::string::npos || name.find(n) != std::string::npos) best = n;
        }
        return best.empty() ? "" : " (did you mean '" + best + "'?)";
    }

    Placement placement_of(const std::string &func) const {
        auto it = placement_.find(func);
        if (it != placement_.end()) return it->second->placement;
        return funcs_.at(func).has_update_definition() ? Placement::At : Placement::Inline;  // Halide's default
    }

    void check_placement(const FuncSchedule &f) {
        const Halide::Func &func = funcs_.at(f.func);
        if (f.placement == Placement::Inline && func.has_update_definition()) {
            fail(f.func, "cannot be inlined: it has update definitions (a reduction)");
        }
        if (f.placement != Placement::Root && outputs_.count(f.func)) {
            fail(f.func, "is a pipeline output: it is always computed at root");
        }
        if (f.placement == Placement::At) {
            if (f.compute_at.empty()) fail(f.func, "placement 'at' needs compute_at {func, var}");
            if (!funcs_.count(f.compute_at.func)) fail(f.func, "compute_at names no Func '" + f.compute_at.func + "'");
        }
        for (const StageSchedule &st : f.stages) {
            const int updates = static_cast<int>(func.function().updates().size());
            if (st.index < 0 || st.index > updates) {
                fail(f.func, "has no stage " + std::to_string(st.index) + " (it has " + std::to_string(updates + 1) + ")");
            }
        }
    }

    std::vector<LoopVar> check_stage(const std::string &func, const StageSchedule &st) {
        const Halide::Func &f = funcs_.at(func);
        StageCheck check(s_.strategy, func, st.index, static_cast<int>(f.function().updates().size()), initial_loops(f, st.index));
        for (const LoopStep &step : st.steps) check.step(step);
        return check.finish();
    }

    // Every use of `f` must sit inside the loop it is computed at: each user is that loop's
    // Func, is computed at the same or an inner loop of it, is computed inside a Func that
    // is itself enclosed, or is inlined into users that are.
    void check_enclosed(const FuncSchedule &f) {
        std::set<std::string> seen;
        std::function<void(const std::string &)> enclosed = [&](const std::string &user) {
            if (user == f.compute_at.func || !seen.insert(user).second) return;
            if (placement_of(user) == Placement::Inline) {
                for (const std::string &next : consumers_[user]) enclosed(next);
                return;
            }
            auto at = placement_.find(user);
            if (at != placement_.end() && at->second->placement == Placement::At) {
                const LoopRef &u = at->second->compute_at;
                if (u.func != f.compute_at.func) return enclosed(u.func);
                if (loop_depth(u.func, u.var) <= loop_depth(u.func, f.compute_at.var)) return;
            }
            fail(f.func, "compute_at(" + f.compute_at.func + ", " + f.compute_at.var + ") does not enclose its use in '" + user + "'");
        };
        if (!consumers_.count(f.func)) fail(f.func, "has no consumers to be computed inside");
        for (const std::string &user : consumers_[f.func]) enclosed(user);
    }

    // Folding needs a pure dimension of the Func, a positive factor, and storage hoisted
    // above the loop it is computed at (else there is nothing to fold across).
    void check_fold(const FuncSchedule &f) {
        const Halide::Func &func = funcs_.at(f.func);
        bool known = false;
        for (const Halide::Var &v : func.args()) known |= v.name() == f.fold_var;
        if (!known) fail(f.func, "fold_storage: '" + f.fold_var + "' is not a dimension of it");
        if (f.fold_factor < 1) fail(f.func, "fold_storage: factor must be >= 1, got " + std::to_string(f.fold_factor));
        if (f.store_at.empty()) fail(f.func, "fold_storage needs store_at above its compute_at (a sliding window)");
    }

    void check_store_in(const FuncSchedule &f) {
        if (f.store_in != "vtcm") fail(f.func, "store_in: unknown memory '" + f.store_in + "' (vtcm, or none for Halide's choice)");
        if (outputs_.count(f.func)) fail(f.func, "store_in vtcm: a graph output's buffer is the caller's");
        if (f.placement == Placement::Inline) fail(f.func, "store_in vtcm: an inlined Func has no buffer (compute it at root or at a loop)");
    }

    // The position of loop `var` in `func`'s last stage, innermost first.
    size_t loop_depth(const std::string &func, const std::string &var) {
        const Halide::Func &target = funcs_.at(func);
        const int last = static_cast<int>(target.function().updates().size());
        const std::vector<LoopVar> loops = final_loops_[func].count(last) ? final_loops_[func][last] : initial_loops(target, last);
        for (size_t i = 0; i < loops.size(); ++i) if (loops[i].name == var) return i;
        return loops.size();
    }

    void check_loop_exists(const std::string &func, const char *what, const LoopRef &ref) {
        if (!funcs_.count(ref.func)) fail(func, std::string(what) + " names no Func '" + ref.func + "'");
        const Halide::Func &target = funcs_.at(ref.func);
        const int last = static_cast<int>(target.function().updates().size());
        std::vector<LoopVar> loops = final_loops_[ref.func].count(last) ? final_loops_[ref.func][last] : initial_loops(target, last);
        for (const LoopVar &l : loops) if (l.name == ref.var) return;
        fail(func, std::string(what) + "(" + ref.func + ", " + ref.var + "): '" + ref.func + "' has no loop '" + ref.var +
                       "' (its loops: " + loop_names(loops) + ")");
    }
};

}  // namespace

void check_schedule(const Schedule &schedule, const LoweredGraph &lowered) {
    if (!schedule.autoscheduler.empty() && !schedule.funcs.empty()) {
        throw ScheduleError("schedule '" + schedule.strategy + "': an autoscheduler schedule lists no Funcs");
    }
    Checker(schedule, lowered).run();
}

void apply_schedule(const Schedule &schedule, LoweredGraph &lowered) {
    check_schedule(schedule, lowered);
    std::map<std::string, Halide::Func> funcs = pipeline_funcs(lowered);
    for (const FuncSchedule &fs : schedule.funcs) {
        Halide::Func f = funcs.at(fs.func);
        const bool is_output = std::any_of(lowered.outputs.begin(), lowered.outputs.end(),
                                           [&](const Halide::Func &o) { return canonical_func_name(o.name()) == fs.func; });
        if (fs.placement == Placement::Root && !is_output) f.compute_root();
        if (fs.placement == Placement::At) f.compute_at(funcs.at(fs.compute_at.func), Halide::Var(fs.compute_at.var));
        if (!fs.store_at.empty()) f.store_at(funcs.at(fs.store_at.func), Halide::Var(fs.store_at.var));
        if (fs.fold_factor) f.fold_storage(Halide::Var(fs.fold_var), fs.fold_factor);
        if (fs.store_in == "vtcm") f.store_in(Halide::MemoryType::VTCM).hoist_storage_root();
        for (const StageSchedule &st : fs.stages) {
            Halide::Stage stage = st.index == 0 ? Halide::Stage(f) : f.update(st.index - 1);
            for (const LoopStep &step : st.steps) step_kind(step.kind).apply(step, {f, stage, fs.func});
        }
    }
}

std::string graph_fingerprint(const Graph &graph) {
    // FNV-1a over the text dump: structure, attributes and shapes, not weights.
    uint64_t h = 1469598103934665603ull;
    for (char c : graph.dump()) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    std::ostringstream out;
    out << std::hex << h;
    return out.str();
}

}  // namespace megalide
