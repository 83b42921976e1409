#include "megalide/schedule/target_fit.h"

#include <algorithm>
#include <map>
#include <set>

namespace megalide {

namespace {

using Halide::Internal::Function;

// Whether computing a Func, with the Funcs inlined into it, does float arithmetic.
class FloatFinder : public Halide::Internal::IRGraphVisitor {
public:
    FloatFinder(const std::map<std::string, Halide::Func> &funcs, const std::set<std::string> &materialized)
        : funcs_(funcs), materialized_(materialized) {}

    bool computes_float(const Function &f) {
        found_ = false;
        seen_.clear();
        visit_function(f);
        return found_;
    }

private:
    using IRGraphVisitor::visit;

    void visit_function(const Function &f) {
        if (!seen_.insert(f.name()).second) return;
        for (const Halide::Expr &e : f.definition().values()) e.accept(this);
        for (const auto &u : f.updates()) {
            for (const Halide::Expr &e : u.values()) e.accept(this);
        }
    }

    void include(const Halide::Expr &e) override {
        if (e.type().is_float()) found_ = true;
        IRGraphVisitor::include(e);
    }

    void visit(const Halide::Internal::Call *c) override {
        IRGraphVisitor::visit(c);
        if (c->call_type != Halide::Internal::Call::Halide || !c->func.defined()) return;
        const std::string name = canonical_func_name(c->name);
        const auto it = funcs_.find(name);
        if (it != funcs_.end() && !materialized_.count(name)) visit_function(it->second.function());
    }

    const std::map<std::string, Halide::Func> &funcs_;
    const std::set<std::string> &materialized_;
    std::set<std::string> seen_;
    bool found_ = false;
};

}  // namespace

bool computes_float(const Halide::Func &f) {
    const std::map<std::string, Halide::Func> none;
    const std::set<std::string> materialized;
    return FloatFinder(none, materialized).computes_float(f.function());
}

std::vector<std::string> fit_schedule_to_target(Schedule &schedule, const LoweredGraph &lowered, const TargetSpec &target) {
    std::vector<std::string> scalar;
    if (target.float_vectors || !schedule.autoscheduler.empty()) return scalar;
    const std::map<std::string, Halide::Func> funcs = pipeline_funcs(lowered);
    std::set<std::string> materialized;
    for (const FuncSchedule &f : schedule.funcs) {
        if (f.placement != Placement::Inline) materialized.insert(f.func);
    }
    for (const Halide::Func &o : lowered.outputs) materialized.insert(canonical_func_name(o.name()));
    FloatFinder finder(funcs, materialized);
    for (FuncSchedule &f : schedule.funcs) {
        const auto it = funcs.find(f.func);
        if (it == funcs.end() || !finder.computes_float(it->second.function())) continue;
        bool changed = false;
        for (StageSchedule &st : f.stages) {
            const size_t before = st.steps.size();
            st.steps.erase(std::remove_if(st.steps.begin(), st.steps.end(),
                                          [](const LoopStep &s) {
                                              return s.kind == LoopStep::Kind::Vectorize || s.kind == LoopStep::Kind::VectorizeReduction;
                                          }),
                           st.steps.end());
            changed |= st.steps.size() != before;
        }
        if (changed) scalar.push_back(f.func);
    }
    return scalar;
}

}  // namespace megalide
