#include "footprint.h"

#include "megalide/lower/lower.h"

#include <algorithm>
#include <limits>
#include <set>

namespace megalide::strategies {

using Halide::Internal::Box;
using Halide::Internal::Definition;
using Halide::Internal::Function;
using Halide::Internal::Interval;
using Halide::Internal::Scope;

namespace {

int64_t constant_or(const Halide::Expr &e, int64_t fallback) {
    if (!e.defined()) return fallback;
    const Halide::Expr s = Halide::Internal::simplify(e);
    if (const auto v = Halide::Internal::as_const_int(s)) return *v;
    return fallback;
}

void merge(std::map<std::string, Region> &into, const std::string &name, const Box &box) {
    Region r;
    for (const Interval &i : box.bounds) {
        r.min.push_back(i.has_lower_bound() ? constant_or(i.min, kUnknownMin) : kUnknownMin);
        r.max.push_back(i.has_upper_bound() ? constant_or(i.max, kUnknownMax) : kUnknownMax);
    }
    auto it = into.find(name);
    if (it == into.end()) {
        into[name] = r;
        return;
    }
    for (size_t d = 0; d < r.min.size() && d < it->second.min.size(); ++d) {
        it->second.min[d] = std::min(it->second.min[d], r.min[d]);
        it->second.max[d] = std::max(it->second.max[d], r.max[d]);
    }
}

// Regions read by one definition of a Func evaluated over `region` of its pure variables.
void definition_reads(const Function &f, const Definition &def, const Region &region,
                      std::map<std::string, Region> &reads) {
    Scope<Interval> scope;
    const std::vector<std::string> args = f.args();
    for (size_t d = 0; d < args.size() && d < region.min.size(); ++d) {
        scope.push(args[d], Interval(Halide::Expr(static_cast<int>(region.min[d])), Halide::Expr(static_cast<int>(region.max[d]))));
    }
    for (const auto &rv : def.schedule().rvars()) {
        scope.push(rv.var, Interval(rv.min, Halide::Internal::simplify(rv.min + rv.extent - 1)));
    }
    std::vector<Halide::Expr> exprs = def.values();
    if (def.is_init() == false) exprs.insert(exprs.end(), def.args().begin(), def.args().end());
    for (const Halide::Expr &e : exprs) {
        for (const auto &[name, box] : Halide::Internal::boxes_required(e, scope)) {
            if (name != f.name()) merge(reads, name, box);
        }
    }
}

}  // namespace

int64_t Region::volume() const {
    int64_t v = 1;
    for (size_t d = 0; d < min.size(); ++d) v *= std::max<int64_t>(0, extent(d));
    return v;
}

CallGraph::CallGraph(const std::vector<Halide::Func> &outputs) {
    std::set<std::string> visiting, done;
    // Depth-first from the outputs: a Func enters the order after everything it calls.
    std::vector<std::pair<Function, bool>> stack;
    for (const Halide::Func &o : outputs) stack.emplace_back(o.function(), false);
    while (!stack.empty()) {
        auto [f, expanded] = stack.back();
        stack.pop_back();
        if (done.count(f.name())) continue;
        if (expanded) {
            done.insert(f.name());
            order_.push_back(f.name());
            continue;
        }
        env_.emplace(f.name(), f);
        stack.emplace_back(f, true);
        for (const auto &[name, callee] : Halide::Internal::find_direct_calls(f)) {
            if (name == f.name()) continue;
            producers_[f.name()].push_back(name);
            consumers_[name].push_back(f.name());
            if (!done.count(name)) stack.emplace_back(callee, false);
        }
    }
    for (auto &[name, list] : consumers_) {
        std::sort(list.begin(), list.end());
        list.erase(std::unique(list.begin(), list.end()), list.end());
    }
}

const std::vector<std::string> &CallGraph::consumers(const std::string &name) const {
    static const std::vector<std::string> none;
    auto it = consumers_.find(name);
    return it == consumers_.end() ? none : it->second;
}

const std::vector<std::string> &CallGraph::producers(const std::string &name) const {
    static const std::vector<std::string> none;
    auto it = producers_.find(name);
    return it == producers_.end() ? none : it->second;
}

std::map<std::string, Region> CallGraph::required(const std::string &func, const Region &region) const {
    std::map<std::string, Region> regions{{func, region}};
    // Consumers come later in order_; walk it backwards from `func`.
    auto start = std::find(order_.begin(), order_.end(), func);
    for (auto it = std::make_reverse_iterator(std::next(start)); it != order_.rend(); ++it) {
        auto r = regions.find(*it);
        if (r == regions.end()) continue;
        const Function &f = env_.at(*it);
        const Region here = r->second;
        std::map<std::string, Region> reads;
        definition_reads(f, f.definition(), here, reads);
        for (const Definition &u : f.updates()) definition_reads(f, u, here, reads);
        for (const auto &[name, read] : reads) {
            auto [at, inserted] = regions.emplace(name, read);
            if (inserted) continue;
            for (size_t d = 0; d < read.min.size() && d < at->second.min.size(); ++d) {
                at->second.min[d] = std::min(at->second.min[d], read.min[d]);
                at->second.max[d] = std::max(at->second.max[d], read.max[d]);
            }
        }
    }
    return regions;
}

}  // namespace megalide::strategies

namespace megalide {

std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> output_footprints(const LoweredGraph &lowered) {
    const strategies::CallGraph graph(lowered.outputs);
    std::map<std::string, strategies::Region> hull;
    for (size_t o = 0; o < lowered.outputs.size(); ++o) {
        strategies::Region whole;
        const std::vector<int64_t> &shape = lowered.output_shapes[o];
        for (size_t d = shape.size(); d-- > 0;) whole.min.push_back(0), whole.max.push_back(shape[d] - 1);
        for (const auto &[name, region] : graph.required(lowered.outputs[o].name(), whole)) {
            auto [at, inserted] = hull.emplace(name, region);
            for (size_t d = 0; !inserted && d < region.min.size() && d < at->second.min.size(); ++d) {
                at->second.min[d] = std::min(at->second.min[d], region.min[d]);
                at->second.max[d] = std::max(at->second.max[d], region.max[d]);
            }
        }
    }
    std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> out;
    for (const auto &[name, region] : hull) {
        std::vector<std::pair<int64_t, int64_t>> dims;
        bool known = !region.empty();
        for (size_t d = 0; known && d < region.min.size(); ++d) {
            known = region.min[d] > strategies::kUnknownMin && region.max[d] < strategies::kUnknownMax;
            dims.emplace_back(region.min[d], region.extent(d));
        }
        if (known) out.emplace(name, std::move(dims));
    }
    return out;
}

}  // namespace megalide
