#include "row_statistics.h"

#include <map>

namespace megalide::strategies {

RowStatistics row_statistics(const LoweredGraph &lowered, const Halide::Func &stage, const Shape &shape) {
    RowStatistics out;
    const std::string node = lowered.facts_of(stage).node;
    if (node.empty() || shape.size() < 2) return out;
    // The Funcs this node made, reached from the stage through others it made.
    std::map<std::string, Halide::Internal::Function> made;
    std::vector<Halide::Internal::Function> work = {stage.function()};
    while (!work.empty()) {
        const Halide::Internal::Function at = work.back();
        work.pop_back();
        for (const auto &[name, callee] : Halide::Internal::find_direct_calls(at)) {
            if (name == stage.name() || lowered.facts_of(name).node != node || !made.emplace(name, callee).second) continue;
            out.internal.insert(name);
            work.push_back(callee);
        }
    }
    const int rank = static_cast<int>(shape.size());
    std::set<std::string> per_row;
    bool statistic = false;
    for (const auto &[name, f] : made) {
        const StageFacts &facts = lowered.facts_of(name);
        if (f.has_update_definition()) {
            // A statistic of exactly one row: the innermost dimension reduced, the others kept.
            const bool one_row = facts.role == StageRole::RowStatistic && f.dimensions() + 1 == rank &&
                                 f.update(0).schedule().rvars().size() == 1 && facts.reduction_extent == shape[0];
            if (!one_row) return out;
            statistic = true;
            per_row.insert(name);
        } else if (facts.role == StageRole::RowElementwise && f.dimensions() == rank) {
            per_row.insert(name);
        }
    }
    if (statistic) out.per_row = per_row;
    return out;
}

}  // namespace megalide::strategies
