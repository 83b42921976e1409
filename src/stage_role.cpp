#include "megalide/stage_role.h"

namespace megalide {

namespace {

thread_local StageFactsMap *active = nullptr;

}  // namespace

const char *to_string(StageRole role) {
    switch (role) {
    case StageRole::Layer: return "layer";
    case StageRole::Input: return "input";
    case StageRole::Accumulator: return "accumulator";
    case StageRole::Padding: return "padding";
    case StageRole::Relayout: return "relayout";
    case StageRole::PackedOperand: return "packed operand";
    case StageRole::Constant: return "constant";
    case StageRole::RowStatistic: return "row statistic";
    case StageRole::RowElementwise: return "row elementwise";
    case StageRole::Reduction: return "reduction";
    case StageRole::Parameter: return "parameter";
    case StageRole::Intermediate: return "intermediate";
    }
    return "?";
}

StageFacts &record_stage(const Halide::Func &f, StageRole role) {
    thread_local StageFacts discarded;
    if (!active) return discarded = StageFacts{};
    StageFacts &facts = (*active)[f.name()];
    facts.role = role;
    facts.type = f.defined() ? f.types()[0] : Halide::Type();
    const Halide::Internal::Function fn = f.function();
    if (fn.has_update_definition()) {
        const auto &rvars = fn.update(0).schedule().rvars();
        const auto extent = rvars.empty() ? std::nullopt : Halide::Internal::as_const_int(rvars[0].extent);
        facts.reduction_extent = extent ? static_cast<int>(*extent) : 0;
    }
    return facts;
}

StageRecorder::StageRecorder(StageFactsMap &facts) : previous_(active) { active = &facts; }

StageRecorder::~StageRecorder() { active = previous_; }

}  // namespace megalide
