// The megakernel planner (see include/megalide/schedule/megakernel.h for the strategy).
#include "megalide/schedule/megakernel.h"
#include "megalide/target/machine.h"
#include "megalide/schedule/target_fit.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "footprint.h"
#include "row_statistics.h"
#include "tiles.h"

namespace megalide {

using strategies::CallGraph;
using strategies::Region;
using strategies::reads_contiguously;
using strategies::reads_vectors_of;
using strategies::relabel;

namespace {

// Fixed cost of one tile (loop entry, realization allocation, halo bookkeeping).
constexpr double kTileOverheadCycles = 2000.0;
// A Func joins its consumers' section while the tiles together compute at most this many
// times its elements; beyond that it is needed whole by every tile and becomes a root.
constexpr double kMaxRecompute = 1.5;
// A sliding window holds, per row it adds, at most this many rows of a member: one 3x3 window
// between it and the root (B1's expand: 3 rows for 1 new; B5's, behind a stride-2 window: 3
// for 2). Deeper chains ran slower fused than at root: MobileNetV2's stem and blocks 1-2
// sliding under block 3 (7 rows of the 112x112x96 expand for 2 new, 15 of the padded input
// for 4) took 4.8 ms against 2.6 ms stored op by op on a Zen 3, Halide recomputing rows of
// the deeper windows on every step.
constexpr double kMaxSlidingDepth = 3.0;

enum class Role { Output, Epilogue, Accumulator, Statistic, Pure };

struct Info {
    std::string name;   ///< Halide's name
    std::string canon;  ///< the schedule's name for it
    Halide::Func func;
    Role role = Role::Pure;
    Region full;             ///< everything the outputs need of it
    std::string acc;         ///< Epilogue owner: its accumulator
    bool materialized = false;
    std::string inline_reason;
    std::string norm_stage;  ///< a row statistic: the normalization stage it belongs to
    /// A conversion of graph inputs (e.g. quantized) that an accumulation reads, through
    /// relabelings or beside other readers: stored once at root, read from there. Why, if so.
    std::string root_reason;
};

struct Section {
    SectionCandidate tiling;
    std::set<std::string> members;  ///< materialized Funcs computed per tile (not the root)
};

// True when every call `consumer` makes to `producer` passes the consumer's own pure
// variables in order (or a constant along a dimension of extent 1): an elementwise use,
// e.g. a bias, activation or residual add.
bool pointwise_of(const Halide::Internal::Function &consumer, const Region &consumer_full, const std::string &producer) {
    struct Visitor : Halide::Internal::IRGraphVisitor {
        const std::string &producer;
        const std::vector<std::string> &args;
        const Region &full;
        bool ok = true;
        Visitor(const std::string &p, const std::vector<std::string> &a, const Region &f) : producer(p), args(a), full(f) {}
        using IRGraphVisitor::visit;
        void visit(const Halide::Internal::Call *c) override {
            IRGraphVisitor::visit(c);
            if (c->name != producer) return;
            if (c->args.size() != args.size()) ok = false;
            for (size_t i = 0; ok && i < c->args.size(); ++i) {
                const auto *v = c->args[i].as<Halide::Internal::Variable>();
                const auto k = Halide::Internal::as_const_int(c->args[i]);
                const bool unit = i < full.min.size() && full.extent(i) == 1 && k && *k == full.min[i];
                ok = unit || (v && v->name == args[i]);
            }
        }
    } visitor(producer, consumer.args(), consumer_full);
    if (consumer.has_update_definition()) return false;
    for (const Halide::Expr &e : consumer.definition().values()) e.accept(&visitor);
    return visitor.ok;
}

// Points of an update's reduction domain (a non-constant extent counts as 1).
double reduction_volume(const Halide::Internal::Definition &update) {
    double r = 1;
    for (const auto &rv : update.schedule().rvars()) {
        const auto e = Halide::Internal::as_const_int(rv.extent);
        r *= e ? static_cast<double>(*e) : 1.0;
    }
    return r;
}

Region full_region(const Shape &shape) {
    Region r;
    for (int e : shape) r.min.push_back(0), r.max.push_back(e - 1);
    return r;
}

std::string cache_level(int64_t bytes, const TargetSpec &t) {
    return bytes <= t.l1_bytes ? "L1" : bytes <= t.l2_bytes ? "L2" : "memory";
}

std::string bytes_text(int64_t bytes) {
    std::ostringstream o;
    o.precision(3);
    if (bytes >= (1 << 20)) o << static_cast<double>(bytes) / (1 << 20) << " MB";
    else if (bytes >= 1024) o << static_cast<double>(bytes) / 1024 << " KB";
    else o << bytes << " B";
    return o.str();
}

class Planner {
public:
    Planner(const LoweredGraph &lowered, const TargetSpec &target)
        : lowered_(lowered), target_(target), graph_(lowered.outputs) {}

    MegakernelPlan plan(size_t candidate) {
        classify();
        MegakernelPlan p;
        p.schedule.strategy = "megakernel";
        // Consumers before producers: a Func's section follows from where its consumers went.
        const std::vector<std::string> &order = graph_.order();
        bool first_root = true;
        for (auto it = order.rbegin(); it != order.rend(); ++it) {
            Info &f = info_.at(*it);
            if (!f.materialized || placed_.count(f.name)) continue;
            if (f.role == Role::Accumulator || !f.norm_stage.empty()) continue;  // placed with their owner
            if (f.role == Role::Statistic) {
                place_fallback(p, f);
                continue;
            }
            if (!f.root_reason.empty()) {
                place_at_root(p, f, f.root_reason);
                continue;
            }
            if (packs_value_at_root(f)) {
                // Readers at different rows (an accumulation and a residual add) would make a
                // per-tile window of it span both; a pass over a value stored whole anyway.
                place_at_root(p, f, "packed once: a relabeling of a graph input or a value computed once at root");
                continue;
            }
            if (f.full.min.empty()) {  // a scalar (e.g. a dynamic quantization scale): computed once
                if (f.role != Role::Output) p.schedule.funcs.emplace_back(f.canon, Placement::Root);
                p.stages.push_back({f.canon, "root", "a scalar, computed once", bytes(f), 0, 1.0, ""});
                placed_.insert(f.name);
                continue;
            }
            std::string section = section_of_consumers(f);
            if (!section.empty() && sections_.at(section).members.count(f.name)) {
                place_member(p, f, sections_.at(section));
                continue;
            }
            std::vector<SectionCandidate> candidates = rank_tilings(f.name);
            size_t pick = 0;
            if (first_root) {
                p.candidates = candidates;
                pick = std::min(candidate, candidates.size() - 1);
                p.chosen = pick;
                first_root = false;
            }
            Section s{candidates[pick], members_for(candidates[pick])};
            sections_[f.name] = s;
            place_root(p, f, s, section.empty() ? "" : section);
        }
        for (const auto &[name, f] : info_) {
            if (!f.materialized && f.role != Role::Output) {
                p.stages.push_back({f.canon, "inline", f.inline_reason, f.full.volume() * bytes(f), 0, 1.0, ""});
            }
        }
        if (target_.tiles_in_vtcm && target_.vtcm_bytes) place_in_vtcm(p);
        p.notes = notes_;
        for (size_t i = 0; i < lowered_.input_shapes.size(); ++i) {
            int64_t b = static_cast<int64_t>(item_size(lowered_.input_dtypes[i]));
            for (const int64_t e : lowered_.input_shapes[i]) b *= e;
            p.input_bytes.push_back(b);
        }
        return p;
    }

private:
    const LoweredGraph &lowered_;
    const TargetSpec &target_;
    CallGraph graph_;
    std::map<std::string, Info> info_;
    std::map<std::string, std::string> owner_of_acc_;   // accumulator -> the Func tiling it
    std::set<std::string> chained_;                     // Funcs an epilogue chain runs through
    std::map<std::string, Section> sections_;           // by root
    std::map<std::string, std::string> section_of_;     // materialized Func -> its section's root
    std::set<std::string> placed_;
    std::vector<std::string> notes_;

    std::map<std::string, int> image_bytes_;            // element bytes of the buffers the pipeline reads

    int lanes() const { return target_.float_lanes(); }

    // Bytes per element of a Func, or of a buffer (input or constant) the pipeline reads.
    static int64_t bytes(const Info &f) { return f.func.types()[0].bytes(); }
    int64_t bytes(const std::string &name) const {
        if (auto it = info_.find(name); it != info_.end()) return bytes(it->second);
        if (auto it = image_bytes_.find(name); it != image_bytes_.end()) return it->second;
        return 4;
    }

    void find_image_types() {
        struct Visitor : Halide::Internal::IRGraphVisitor {
            std::map<std::string, int> &out;
            explicit Visitor(std::map<std::string, int> &o) : out(o) {}
            using IRGraphVisitor::visit;
            void visit(const Halide::Internal::Call *c) override {
                if (c->call_type == Halide::Internal::Call::Image) out[c->name] = c->type.bytes();
                IRGraphVisitor::visit(c);
            }
        } visitor(image_bytes_);
        for (const std::string &name : graph_.order()) {
            const Halide::Internal::Function &fn = graph_.function(name);
            for (const Halide::Expr &e : fn.definition().values()) e.accept(&visitor);
            for (const auto &u : fn.updates()) {
                for (const Halide::Expr &e : u.values()) e.accept(&visitor);
            }
        }
    }

    // Cycles of one Func over its whole extent on one core: multiply-adds at the target's
    // rate for the operand type (4 byte products per lane where it is a byte dot product),
    // other operations one per lane on two vector pipes.
    double cycles(const Info &f) const {
        const Halide::Type type = f.func.types()[0];
        if (f.role == Role::Accumulator || f.role == Role::Statistic) {
            return work(f) / (2 * target_.macs_per_cycle(type, lowered_.facts_of(f.func).byte_dot));
        }
        return work(f) / (4.0 * target_.lanes(type));
    }

    // Roles, inlining and the Funcs that hold accumulation tiles.
    void classify() {
        find_image_types();
        std::map<std::string, std::string> canon_to_name;
        std::map<std::string, Region> full;
        for (const Halide::Func &o : lowered_.outputs) {
            auto shape = lowered_.shapes.find(o.name());
            if (shape == lowered_.shapes.end()) throw Error("megakernel: no shape for output '" + o.name() + "'");
            for (auto &[name, r] : graph_.required(o.name(), full_region(shape->second))) {
                auto [at, inserted] = full.emplace(name, r);
                if (inserted) continue;
                for (size_t d = 0; d < r.min.size(); ++d) {
                    at->second.min[d] = std::min(at->second.min[d], r.min[d]);
                    at->second.max[d] = std::max(at->second.max[d], r.max[d]);
                }
            }
        }
        for (const std::string &name : graph_.order()) {
            Info f;
            f.name = name;
            f.canon = canonical_func_name(name);
            f.func = Halide::Func(graph_.function(name));
            f.full = full.count(name) ? full.at(name) : Region{};
            canon_to_name[f.canon] = name;
            info_[name] = f;
        }
        for (const Halide::Func &o : lowered_.outputs) info_.at(o.name()).role = Role::Output;
        for (const auto &[stage, acc] : lowered_.accumulators) {
            auto e = canon_to_name.find(canonical_func_name(stage));
            auto a = canon_to_name.find(canonical_func_name(acc));
            if (e == canon_to_name.end() || a == canon_to_name.end()) continue;
            if (info_.at(e->second).role != Role::Output) info_.at(e->second).role = Role::Epilogue;
            info_.at(e->second).acc = a->second;
            info_.at(a->second).role = Role::Accumulator;
        }
        for (auto &[name, f] : info_) {
            if (f.role == Role::Pure && f.func.has_update_definition()) f.role = Role::Statistic;
        }
        find_row_statistics();
        for (auto &[name, f] : info_) decide_materialization(f);
        for (auto &[name, f] : info_) {
            if (f.role == Role::Epilogue || (f.role == Role::Output && !f.acc.empty())) chain_epilogue(f);
        }
    }

    // Normalization stages (layernorm, softmax): statistics reduce each row of the stage's
    // output; they are computed per row inside the stage's own loop, wherever it goes.
    void find_row_statistics() {
        for (const auto &[value, func] : lowered_.stages) {
            auto it = info_.find(func.name());
            if (it == info_.end() || it->second.full.empty()) continue;
            const Info &stage = it->second;
            for (const std::string &n : strategies::row_statistics(lowered_, stage.func, shape_of(stage)).per_row) {
                if (info_.count(n)) info_.at(n).norm_stage = stage.name;
            }
        }
    }

    // Multiply-accumulates of an accumulation: its points times its reduction's extent.
    static double products(const Info &acc) {
        double n = static_cast<double>(acc.full.volume());
        for (const Halide::Internal::Definition &u : acc.func.function().updates()) {
            for (const auto &rv : u.schedule().rvars()) {
                const auto e = Halide::Internal::as_const_int(Halide::Internal::simplify(rv.extent));
                n *= e ? static_cast<double>(*e) : 1.0;
            }
        }
        return n;
    }

    void decide_materialization(Info &f) {
        switch (f.role) {
        case Role::Output:
        case Role::Accumulator:
        case Role::Epilogue:
        case Role::Statistic: f.materialized = true; return;
        case Role::Pure: break;
        }
        if (!f.norm_stage.empty()) {
            f.materialized = true;
            return;
        }
        for (const std::string &p : graph_.producers(f.name)) {
            if (info_.count(p) && info_.at(p).norm_stage == f.name) {
                f.materialized = true;  // a normalization: its statistics live in its rows
                return;
            }
        }
        bool contiguous = false;
        const bool is_relabel = relabel(f.func.function(), &contiguous);
        contiguous = contiguous && reads_contiguously(f.func.function());
        // An accumulation reads its operands many times: a computed operand (a padding's
        // select) is computed once and stored; a relabeled one is packed when it is loaded as
        // vectors across its layout, and read in place when it is contiguous or broadcast.
        bool read_by_accumulation = false, broadcast = false, read_once = false;
        for (const std::string &c : graph_.consumers(f.name)) {
            const Info &reader = info_.at(c);
            if (reader.role != Role::Accumulator) continue;
            // An operand whose every element one product reads (a batch-1 MatMul's weights:
            // M = 1) is computed where it is read: stored, it would be computed, written and
            // read back once each (the int8 digits CNN's 512x64 weights widened per call: 62,427
            // HVX packets against op by op's 51,225, 44,104 computed where read). Relabelings
            // keep their rules; byte dot products still pack (4-way layout).
            if (!is_relabel && !lowered_.facts_of(reader.func).byte_dot && products(reader) <= static_cast<double>(f.full.volume())) {
                read_once = true;
                continue;
            }
            // A byte dot product loads 4 consecutive reduction elements of every operand, so a
            // scattered one is packed even where it is broadcast across the lanes.
            const bool vectors = !is_relabel || reads_vectors_of(reader.func.function(), f.name) ||
                                 lowered_.facts_of(reader.func).byte_dot;
            read_by_accumulation |= vectors;
            broadcast |= !vectors;
        }
        // A computed Func read by an accumulation through relabelings (a quantized input
        // transposed into channels-innermost order) is recomputed for every product unless
        // stored: the same as a direct read.
        std::function<bool(const std::string &)> reaches_accumulation = [&](const std::string &name) {
            for (const std::string &c : graph_.consumers(name)) {
                const Info &reader = info_.at(c);
                bool unused = false;
                if (reader.role == Role::Accumulator) return true;
                if (reader.role == Role::Pure && relabel(reader.func.function(), &unused) && !reader.materialized &&
                    reaches_accumulation(c)) {
                    return true;  // (a stored relabeling computes this Func in its own pass)
                }
            }
            return false;
        };
        // Only conversions of graph inputs (every producer, transitively, a relabeling of an
        // input or a constant): a layer's output keeps its own placement rules.
        std::function<bool(const std::string &)> reads_only_buffers = [&](const std::string &name) {
            for (const std::string &p : graph_.producers(name)) {
                if (!info_.count(p)) continue;  // a buffer
                const Info &producer = info_.at(p);
                bool unused = false;
                if (producer.role != Role::Pure || !relabel(producer.func.function(), &unused) || !reads_only_buffers(p)) return false;
            }
            return true;
        };
        if (!is_relabel && !read_by_accumulation && !read_once && reads_only_buffers(f.name) && reaches_accumulation(f.name)) {
            read_by_accumulation = true;
            f.root_reason = "computed once: an accumulation reads it through relabelings, every element many times";
        } else if (!is_relabel && read_by_accumulation && reads_only_buffers(f.name) && graph_.consumers(f.name).size() > 1) {
            // (readers at different rows, e.g. a convolution and a residual add, would make a
            // per-tile window of it span both)
            f.root_reason = "computed once: an accumulation and other stages read it";
        }
        if (read_by_accumulation && !(is_relabel && contiguous)) {
            f.materialized = true;  // read many times by a reduction: compute once, pack
            return;
        }
        if (lowered_.facts_of(f.func).role == StageRole::Parameter) {
            f.materialized = true;
            f.root_reason = "a per-call parameter (a run-time requantization multiplier): computed once";
            return;
        }
        if (!target_.float_vectors && !is_relabel && reads_only_buffers(f.name) && computes_float(f.func)) {
            // A conversion of a graph input (a float input quantized): inlined, its float
            // arithmetic would make every reader scalar code (target_fit.h) and run again for
            // each read and halo row.
            f.materialized = true;
            f.root_reason = "computes in float, scalar code on this target: once, so that its readers stay vector code";
            return;
        }
        f.inline_reason = read_once   ? "computed where the accumulation reads it: every element is read once"
                          : !is_relabel ? "pointwise, recomputed where it is read (read once per element)"
                          : broadcast ? "relabeling, folded into the index of its readers (an accumulation broadcasts it)"
                                      : "relabeling, folded into the index of its readers";
    }

    // An accumulation's epilogue (bias, activation) and the elementwise stages after it
    // (a residual add, ReLU) inline into the last of them, which holds the register tiles.
    void chain_epilogue(Info &e) {
        std::string at = e.name;
        while (true) {
            const std::vector<std::string> &consumers = graph_.consumers(at);
            if (consumers.size() != 1) break;
            const Info &next = info_.at(consumers[0]);
            const bool same_shape = next.full.min == info_.at(at).full.min && next.full.max == info_.at(at).full.max;
            const bool elementwise = (next.role == Role::Pure || next.role == Role::Output) && next.norm_stage.empty() &&
                                     !next.func.has_update_definition() && pointwise_of(next.func.function(), next.full, at);
            // (A zero-padding consumer is not absorbed: computing the accumulation at clamped
            // coordinates gives its register tiles variable extents; B1 ran 2.2x slower.)
            // Two accumulations meeting in one elementwise stage (a residual add of a conv and
            // a downsampling conv): only the first chain passes through it.
            if (!same_shape || !elementwise || !next.acc.empty() || chained_.count(next.name)) break;
            bool normalization = false;
            for (const std::string &p : graph_.producers(next.name)) normalization |= info_.at(p).norm_stage == next.name;
            if (normalization) break;
            at = next.name;
        }
        if (at == e.name) {
            owner_of_acc_[e.acc] = e.name;
            return;
        }
        Info &owner = info_.at(at);
        owner.acc = e.acc;
        owner.materialized = true;
        owner_of_acc_[e.acc] = at;
        std::string walk = e.name;
        chained_.insert(at);
        while (walk != at) {
            Info &w = info_.at(walk);
            chained_.insert(walk);
            w.materialized = false;
            w.acc.clear();
            w.inline_reason = "epilogue, inlined into the accumulation tile of " + owner.canon;
            walk = graph_.consumers(walk)[0];
        }
    }

    // The section all of `f`'s readers (through inlined Funcs) are in; "" if none or several.
    std::string section_of_consumers(const Info &f) {
        std::set<std::string> found;
        std::set<std::string> seen;
        std::function<void(const std::string &)> visit = [&](const std::string &c) {
            if (!seen.insert(c).second) return;
            const Info &i = info_.at(c);
            if (i.materialized) {
                std::string owner = c;
                if (i.role == Role::Accumulator && owner_of_acc_.count(c)) owner = owner_of_acc_.at(c);
                if (!i.norm_stage.empty()) owner = i.norm_stage;
                auto s = section_of_.find(owner);
                found.insert(s == section_of_.end() ? "?" : s->second);
                return;
            }
            for (const std::string &n : graph_.consumers(c)) visit(n);
        };
        for (const std::string &c : graph_.consumers(f.name)) visit(c);
        if (found.size() != 1 || found.count("?")) return "";
        return *found.begin();
    }

    // The Funcs a section with this tiling would compute per tile: materialized descendants
    // of the root all of whose readers are in the section and which a tile needs only part of.
    std::set<std::string> members_for(const SectionCandidate &c) {
        std::set<std::string> members;
        if (c.alone) return members;
        // A zero-padding that becomes a root (its readers' section left it out) is copied on
        // its own: with one as the root, Halide 21 did not slide the members' windows over its
        // rows (no warm-up iterations in the statement; MobileNetV2's stem computed 3 rows for
        // each new one, 0.76 ms against 0.22 at root on a Zen 3).
        if (lowered_.facts_of(info_.at(c.root).func).role == StageRole::Padding) return members;
        const auto tile = tile_regions(c);
        // Regions for one and two root rows, where the tiles may slide (several rows per tile;
        // an accumulation tiled along dimension 1 computes one row of strips at a time),
        // inferred when a member with a halo first needs them.
        std::map<std::string, Region> one_row, two_rows;
        const bool may_slide = c.rows > 1 && (!has_accumulation(c.root) || c.dim > 1);
        const std::vector<std::string> &order = graph_.order();
        std::set<std::string> inside = {c.root};
        for (auto it = order.rbegin(); it != order.rend(); ++it) {
            const Info &f = info_.at(*it);
            if (f.name == c.root || section_of_.count(f.name) || !tile.count(f.name)) continue;
            bool all_inside = !graph_.consumers(f.name).empty();
            for (const std::string &con : graph_.consumers(f.name)) all_inside &= inside.count(con) != 0;
            if (!all_inside) continue;
            if (!f.materialized) {
                inside.insert(f.name);
                continue;
            }
            if (f.role == Role::Accumulator || !f.norm_stage.empty()) {
                inside.insert(f.name);  // follows its owner
                continue;
            }
            if (f.role == Role::Statistic) continue;  // a root of its own (place_fallback)
            const double rho = recompute(f, tile.at(f.name), c);
            if (rho > kMaxRecompute || !worth_joining(f, rho, c)) continue;
            if (may_slide && rho > 1.0 + 1e-9) {
                if (one_row.empty()) {
                    SectionCandidate one = c, two = c;
                    one.rows = 1;
                    two.rows = 2;
                    one_row = tile_regions(one);
                    two_rows = tile_regions(two);
                }
                if (sliding_depth(f, one_row, two_rows) > kMaxSlidingDepth) continue;
            }
            inside.insert(f.name);
            members.insert(f.name);
        }
        return members;
    }

    // Rows of `f` a sliding window holds per row it adds: its region for one root row over
    // what a second root row adds, along the first dimension one root row needs only part
    // of (0 where it needs all of it, or the tiles do not slide).
    double sliding_depth(const Info &f, const std::map<std::string, Region> &one_row,
                         const std::map<std::string, Region> &two_rows) const {
        if (!one_row.count(f.name) || !two_rows.count(f.name)) return 0;
        const Region &a = one_row.at(f.name), &b = two_rows.at(f.name);
        for (size_t d = 0; d < a.min.size() && d < f.full.min.size(); ++d) {
            if (a.extent(d) >= f.full.extent(d)) continue;
            return static_cast<double>(a.extent(d)) / static_cast<double>(std::max<int64_t>(1, b.extent(d) - a.extent(d)));
        }
        return 0;
    }

    // Whether computing `f` per tile of `c` (halo recompute `rho`) costs less than storing it
    // whole at root. Joining saves the round trip of its values through memory when they do
    // not stay in L2 (written once, read back once); it costs the recomputed halo and, for an
    // accumulation whose weights do not stay in L2, a pass over the weights per tile (per row
    // of a sliding window) instead of one. ResNet-18's last convolutions (98 KB outputs, 9.4 MB
    // of weights) ran 1.4x slower inside their consumers' row windows than at root.
    bool worth_joining(const Info &f, double rho, const SectionCandidate &c) const {
        const double stored = static_cast<double>(f.full.volume() * bytes(f));
        const double saved = stored > target_.l2_bytes / 2 ? 2 * stored / target_.bytes_per_cycle : 0;
        double extra = (rho - 1) * (cycles(f) + (f.acc.empty() ? 0 : cycles(info_.at(f.acc))));
        if (!f.acc.empty()) {
            const double weights = weight_bytes(info_.at(f.acc));
            // (a halo along the rows means a sliding window: one pass per root row)
            const double passes = static_cast<double>(tiles(c)) * (rho > 1.0 + 1e-9 && c.dim > 1 ? c.rows : 1);
            if (weights > target_.l2_bytes / 2) extra += (passes - 1) * weights / target_.bytes_per_cycle;
        }
        // Below one tile's fixed cost the model cannot tell the two apart: fusing wins the tie.
        return extra <= std::max(saved, kTileOverheadCycles);
    }

    // Bytes of the weights an accumulation reads for all of its output channels: channels
    // times the reduction's extent (the taps of a depthwise window are per channel already).
    double weight_bytes(const Info &acc) const {
        if (acc.full.min.empty() || !acc.func.has_update_definition()) return 0;
        const double reduction = reduction_volume(acc.func.function().update(0));
        const double elem = lowered_.facts_of(acc.func).byte_dot ? 1 : acc.func.types()[0].bytes();
        return static_cast<double>(acc.full.extent(0)) * reduction * elem;
    }

    // Tiles along the tiled dimension.
    int tiles_along(const SectionCandidate &c) const {
        const int extent = static_cast<int>(info_.at(c.root).full.extent(static_cast<size_t>(c.dim)));
        return (extent + c.rows - 1) / c.rows;
    }

    // An accumulation tiled along dimension 1 (image columns) keeps its outer dimensions (image
    // rows) outside its tile loop (schedule_accumulation_tiles): a tile is then a strip of one
    // row of them, and its producers are computed once per row and strip.
    bool tiles_within_outer_rows(const SectionCandidate &c) const { return has_accumulation(c.root) && c.dim == 1; }

    // Iterations of the tile loop: the tiles along the dimension, times the outer rows.
    int64_t tiles(const SectionCandidate &c) const {
        int64_t n = tiles_along(c);
        if (tiles_within_outer_rows(c)) {
            const Region &full = info_.at(c.root).full;
            for (size_t d = 2; d < full.min.size(); ++d) n *= full.extent(d);
        }
        return n;
    }

    std::map<std::string, Region> tile_regions(const SectionCandidate &c) const {
        Region r = info_.at(c.root).full;
        const auto d = static_cast<size_t>(c.dim);
        // A tile in the middle, whole: the last tile shifts inwards rather than run short.
        const int64_t start = std::min<int64_t>(static_cast<int64_t>(tiles_along(c) / 2) * c.rows, r.extent(d) - c.rows);
        r.min[d] += std::max<int64_t>(0, start);
        r.max[d] = std::min(r.min[d] + c.rows - 1, r.max[d]);
        if (tiles_within_outer_rows(c)) {
            for (size_t k = 2; k < r.min.size(); ++k) r.min[k] = r.max[k] = r.min[k] + r.extent(k) / 2;
        }
        return graph_.required(c.root, r);
    }

    double recompute(const Info &f, const Region &tile, const SectionCandidate &c) const {
        if (f.full.empty()) return 1.0;
        Region clipped = tile;
        for (size_t d = 0; d < clipped.min.size() && d < f.full.min.size(); ++d) {
            clipped.min[d] = std::max(clipped.min[d], f.full.min[d]);
            clipped.max[d] = std::min(clipped.max[d], f.full.max[d]);
        }
        return static_cast<double>(tiles(c)) * static_cast<double>(clipped.volume()) / static_cast<double>(std::max<int64_t>(1, f.full.volume()));
    }

    // Arithmetic of one Func over its whole extent: multiply-adds of an accumulation, one
    // operation per element otherwise.
    double work(const Info &f) const {
        double per_element = 1;
        if (f.role == Role::Accumulator || f.role == Role::Statistic) {
            for (const auto &u : f.func.function().updates()) per_element += 2 * reduction_volume(u);
        }
        return per_element * static_cast<double>(std::max<int64_t>(1, f.full.volume()));
    }

    // The cost model: cycles for the section tiled as `c`.
    double cost(SectionCandidate &c) {
        const std::set<std::string> members = members_for(c);
        const auto tile = tile_regions(c);
        const int64_t n = tiles(c);
        const int64_t per_thread = (n + target_.threads - 1) / target_.threads;
        const double balance = static_cast<double>(n) / (per_thread * target_.threads);
        std::set<std::string> computed = members;
        computed.insert(c.root);
        bool halo = false;
        for (const std::string &m : std::set<std::string>(computed)) {
            auto a = info_.at(m).acc;
            if (!a.empty()) computed.insert(a);
            if (m != c.root && recompute(info_.at(m), tile.at(m), c) > 1.0 + 1e-9) halo = true;
        }
        for (const auto &[name, i] : info_) {
            if (!i.norm_stage.empty() && computed.count(i.norm_stage)) computed.insert(name);
        }
        // Materialized Funcs below the root that do not join: they go to root, written
        // whole and read back (from beyond L2 when they do not fit).
        double outside = 0, outside_traffic = 0;
        for (const auto &[name, region] : tile) {
            const auto it = info_.find(name);
            if (it == info_.end() || computed.count(name) || section_of_.count(name) || !it->second.materialized) continue;
            const Info &i = it->second;
            if (i.role == Role::Accumulator || !i.norm_stage.empty()) {
                if (!owner_of_acc_.count(name) || !computed.count(owner_of_acc_.at(name))) outside += cycles(i);
                continue;
            }
            outside += cycles(i);
            const double stored = static_cast<double>(i.full.volume() * bytes(i));
            if (stored > target_.l2_bytes) outside_traffic += 2 * stored;
        }
        // (one root row per tile leaves nothing to slide over: each tile computes its window)
        c.sliding = halo && c.rows > 1 && (!has_accumulation(c.root) || c.dim > 1);
        double compute = 0, traffic = 0, working_set = 0;
        for (const std::string &m : computed) {
            const Info &i = info_.at(m);
            double rho = m == c.root || !tile.count(m) ? 1.0 : recompute(i, tile.at(m), c);
            double efficiency = 1.0;
            if (i.role == Role::Accumulator && tile.count(m) && tile.at(m).min.size() > 1) {
                // Register tiles need rows: fewer rows than the tile height leave FMA slots idle.
                efficiency = std::min(1.0, static_cast<double>(tile.at(m).extent(1)) / accumulation_rows());
            }
            compute += cycles(i) * rho / efficiency;
            if (m != c.root && i.role != Role::Accumulator && tile.count(m)) {
                Region live = tile.at(m);
                if (c.sliding) {
                    // Folded storage: the rows one root row needs, rounded up to a power of two.
                    SectionCandidate one = c;
                    one.rows = 1;
                    const auto rows = tile_regions(one);
                    if (rows.count(m)) live = rows.at(m);
                }
                working_set += static_cast<double>(live.volume() * bytes(i));
            }
        }
        // What the tiles read from outside the section (inputs, weights, other sections'
        // roots): once if it stays in L2 across tiles, once per tile otherwise.
        for (const auto &[name, region] : tile) {
            if (computed.count(name)) continue;
            if (info_.count(name) && (!info_.at(name).materialized || !section_of_.count(name))) continue;
            const double read = static_cast<double>(region.volume() * bytes(name));
            traffic += read * (read * 4 <= target_.l2_bytes ? 1 : n);
        }
        // A tile that spills L2 streams its intermediates from L3 on every pass over them
        // (statistics, exponentials and the product each read a softmax row again): 8
        // passes matches B4 on this machine (one 7 MB tile ran 1.7x slower than 128-row tiles).
        if (working_set > target_.l2_bytes) traffic += 8 * working_set * n;
        const double bandwidth = target_.bytes_per_cycle;
        c.cost = compute / (target_.threads * balance) + traffic / bandwidth / std::min<int64_t>(n, target_.threads) +
                 kTileOverheadCycles * per_thread + outside / target_.threads + outside_traffic / bandwidth / target_.threads;
        return c.cost;
    }

    bool has_accumulation(const std::string &f) const { return !info_.at(f).acc.empty(); }

    // A tiling must leave every accumulation in the section all of its channels and at least
    // one register tile of rows: its register tiles shift inwards at the edges, and a region
    // narrower than a tile would shift outside the Func.
    bool keeps_register_tiles(const SectionCandidate &c) {
        SectionCandidate step = c;
        if (c.sliding) step.rows = 1;  // a sliding window computes one root row at a time
        const auto tile = tile_regions(step);
        for (const std::string &m : members_for(c)) {
            const Info &f = info_.at(m);
            if (f.acc.empty() || !tile.count(m) || f.full.min.size() < 2) continue;
            const Region &r = tile.at(m);
            const int64_t rows = std::min<int64_t>(f.full.extent(1), strategies::register_tile(target_, static_cast<int>(f.full.extent(0))).rows);
            if (r.extent(0) < f.full.extent(0) || r.extent(1) < rows) return false;
        }
        return true;
    }

    int accumulation_rows() const { return strategies::register_tile(target_, 2 * lanes()).rows; }

    std::vector<SectionCandidate> rank_tilings(const std::string &root) {
        const Info &r = info_.at(root);
        std::vector<SectionCandidate> out;
        const int dims = static_cast<int>(r.full.min.size());
        for (int d = 0; d < dims; ++d) {
            const int extent = static_cast<int>(r.full.extent(static_cast<size_t>(d)));
            if (extent < 2 || (d == 0 && dims > 1)) continue;
            if (has_accumulation(root) && d != 1 && d != 2) continue;  // matrix rows, image columns or rows
            std::set<int> heights;
            const int step = has_accumulation(root) && d == 1 ? accumulation_rows() : 1;
            for (int t = step; t < extent; t *= 2) heights.insert(t);
            for (int k = 1; k <= 16; k *= 2) heights.insert(std::max(step, (extent + k * target_.threads - 1) / (k * target_.threads)));
            heights.insert(extent);
            for (int t : heights) {
                if (t > extent) continue;
                SectionCandidate c{root, d, t, false, 0};
                cost(c);
                if (!keeps_register_tiles(c)) continue;
                out.push_back(c);
                // The same tiles without members, as per_op would leave the producers: fusing
                // is a choice the cost model makes, not a given (a root whose producers all fit
                // one tile would otherwise always take every one of them in). Within one tile's
                // fixed cost of each other the model cannot tell them apart: fusing wins.
                if (!members_for(c).empty()) {
                    SectionCandidate alone{root, d, t, false, 0, true};
                    if (cost(alone) + kTileOverheadCycles < c.cost) out.push_back(alone);
                }
            }
        }
        if (out.empty()) {
            // Nothing worth tiling (a vector, a single row): one tile of everything.
            const int d = dims > 1 ? 1 : 0;
            out.push_back({root, d, static_cast<int>(r.full.extent(static_cast<size_t>(d))), false, 0});
        }
        std::stable_sort(out.begin(), out.end(), [](const SectionCandidate &a, const SectionCandidate &b) { return a.cost < b.cost; });
        return out;
    }

    Shape shape_of(const Info &f) const {
        Shape s;
        for (size_t d = 0; d < f.full.min.size(); ++d) s.push_back(static_cast<int>(f.full.extent(d)));
        return s;
    }

    StageDecision decision(const Info &f, const std::string &placement, const std::string &reason, double rho,
                           int64_t tile_bytes) const {
        StageDecision d{f.canon, placement, reason, f.full.volume() * bytes(f), tile_bytes, rho, cache_level(tile_bytes, target_)};
        // Memory beyond L2 (DDR): a stored Func larger than L2 is written once and read back by
        // each consumer; an output is written once; a tile that fits its cache moves nothing.
        const int64_t readers = f.role == Role::Output ? 0 : static_cast<int64_t>(graph_.consumers(f.name).size());
        // (An accumulator lives in its epilogue's register tiles under every strategy.)
        const int64_t spilled = f.role != Role::Accumulator && d.root_bytes > target_.l2_bytes ? d.root_bytes * (1 + readers) : 0;
        d.memory_bytes_at_root = f.role == Role::Output ? d.root_bytes : spilled;
        const bool stored = placement == "root";
        d.memory_bytes = stored || f.role == Role::Output ? d.memory_bytes_at_root : d.cache == "memory" ? spilled : 0;
        return d;
    }

    void place_root(MegakernelPlan &p, const Info &f, const Section &s, const std::string &consumer_section) {
        placed_.insert(f.name);
        section_of_[f.name] = f.name;
        const SectionCandidate &c = s.tiling;
        SectionCandidate shown = c;  // the tiling as scheduled, for explain
        strategies::TileLoops loops;
        if (has_accumulation(f.name)) {
            strategies::AccumulationTiling t;
            t.row_tile = c.rows;
            t.tile_dim = c.dim;
            t.parallel = target_.threads > 1;
            t.panel_outer = c.rows >= 2 * accumulation_rows();
            t.byte_dot = lowered_.facts_of(info_.at(f.acc).func).byte_dot;
            t.padded_channels = lowered_.facts_of(info_.at(f.acc).func).padded_channels;
            loops = strategies::schedule_accumulation_tiles(p.schedule, f.func, info_.at(f.acc).func, shape_of(f), target_, t);
            place_accumulator_owner_parts(p, f);
        } else if (s.members.empty() && c.dim == 1 && strategies::outer_dim(shape_of(f), 2, -1) > 1) {
            // Nothing computed per tile: the tiles only share the rows out among threads. Along
            // image columns they would walk the image column by column (the stem's padded
            // input, copied from NCHW: 0.32 ms against 0.10 row by row on a Zen 3).
            const Shape shape = shape_of(f);
            const int d = strategies::outer_dim(shape, 2, -1);
            const int rows = (shape[static_cast<size_t>(d)] + target_.threads - 1) / target_.threads;
            loops = strategies::schedule_row_tiles(p.schedule, f.func, shape, target_, d, rows, target_.threads > 1);
            shown.dim = d, shown.rows = rows;
        } else {
            loops = strategies::schedule_row_tiles(p.schedule, f.func, shape_of(f), target_, c.dim, c.rows, target_.threads > 1);
        }
        sections_.at(f.name).tiling.sliding = c.sliding && !loops.row.empty();
        loops_[f.name] = loops;
        place_statistics(p, f);
        std::string why;
        if (f.role == Role::Output) why = "pipeline output";
        else if (consumer_section.empty()) why = "read by several sections";
        else why = "every tile of " + info_.at(consumer_section).canon + " needs all of it";
        why += "; " + shown.describe() + ", cost model " + std::to_string(static_cast<int64_t>(c.cost)) + " cycles";
        p.stages.push_back(decision(f, "root", why, 1.0, 0));
    }

    void place_member(MegakernelPlan &p, const Info &f, const Section &s) {
        placed_.insert(f.name);
        section_of_[f.name] = s.tiling.root;
        const strategies::TileLoops &root = loops_.at(s.tiling.root);
        const std::string root_canon = info_.at(s.tiling.root).canon;
        const bool sliding = s.tiling.sliding;
        LoopRef compute{root_canon, sliding ? root.row : root.tile};
        LoopRef store = sliding ? LoopRef{root_canon, root.tile} : LoopRef{};
        if (compute.var.empty()) compute.var = root.tile;
        const Placement placement = compute.var.empty() ? Placement::Root : Placement::At;  // a root without tiles
        if (placement == Placement::Root) compute = store = {};
        const auto tile = tile_regions(s.tiling);
        const double rho = tile.count(f.name) ? recompute(f, tile.at(f.name), s.tiling) : 1.0;
        int64_t live = tile.count(f.name) ? tile.at(f.name).volume() * bytes(f) : 0;
        if (sliding) {
            SectionCandidate one = s.tiling;
            one.rows = 1;
            const auto rows = tile_regions(one);
            if (rows.count(f.name)) live = rows.at(f.name).volume() * bytes(f);
        }
        // Sliding: keep only the rows still needed, rounded up to a power of two (Halide folds
        // with a mask). The folded dimension is the one along which one root row needs fewer
        // than all of the Func's rows; the rows in flight are that need plus one step.
        std::string fold_var;
        int fold = 0;
        if (sliding) {
            SectionCandidate one = s.tiling, two = s.tiling;
            one.rows = 1;
            two.rows = 2;
            const auto a = tile_regions(one), b = tile_regions(two);
            if (a.count(f.name) && b.count(f.name)) {
                const Region &ra = a.at(f.name), &rb = b.at(f.name);
                for (size_t d = 0; d < ra.min.size() && d < f.full.min.size(); ++d) {
                    if (ra.extent(d) >= f.full.extent(d)) continue;
                    const int64_t need = rb.extent(d);  // two consecutive root rows: the window and its step
                    int factor = 1;
                    while (factor < need) factor *= 2;
                    if (factor < f.full.extent(d)) {
                        fold_var = f.func.args()[d].name();
                        fold = factor;
                        live = live / std::max<int64_t>(1, ra.extent(d)) * factor;
                    }
                    break;
                }
            }
        }
        if (has_accumulation(f.name)) {
            strategies::AccumulationTiling t;
            t.placement = placement;
            t.at = compute;
            t.store = store;
            t.parallel = false;
            t.panel_outer = !sliding && tile.count(f.name) && tile.at(f.name).extent(1) >= 2 * accumulation_rows();
            t.byte_dot = lowered_.facts_of(info_.at(f.acc).func).byte_dot;
            t.padded_channels = lowered_.facts_of(info_.at(f.acc).func).padded_channels;
            loops_[f.name] = strategies::schedule_accumulation_tiles(p.schedule, f.func, info_.at(f.acc).func, shape_of(f), target_, t);
            place_accumulator_owner_parts(p, f);
            for (FuncSchedule &fs : p.schedule.funcs) {
                if (fs.func == f.canon) fs.fold_var = fold_var, fs.fold_factor = fold;
            }
        } else {
            FuncSchedule fs{f.canon, placement, compute, store};
            fs.fold_var = fold_var, fs.fold_factor = fold;
            strategies::vectorize_stages(fs, f.func, shape_of(f), target_);
            p.schedule.funcs.push_back(fs);
            loops_[f.name] = {"", ""};
        }
        place_statistics(p, f);
        std::ostringstream why;
        why.precision(3);
        why << (sliding ? "sliding window: stored per tile, computed per row of " : "computed per tile of ") << root_canon
            << " instead of " << bytes_text(f.full.volume() * bytes(f)) << " at root";
        if (rho > 1.0 + 1e-9) why << "; halo recompute " << rho << "x";
        if (fold) why << "; storage folded to " << fold << " along " << fold_var;
        p.stages.push_back(decision(f, sliding ? "sliding in " + root_canon : "tile of " + root_canon, why.str(), rho, live));
    }

    // Hexagon: the buffers sections keep per tile (members computed per tile or sliding) go
    // to VTCM while they fit, in plan order. Their storage is hoisted out of every loop (one
    // allocation per call at one tile's size), so all of them are live at once: they share
    // half the VTCM, the rest left for what Halide rounds up (vector-aligned rows, padded
    // channels) beyond the planner's tile estimate; compile_for_hexagon checks the real sizes.
    void place_in_vtcm(MegakernelPlan &p) {
        const int64_t budget = target_.vtcm_bytes / 2;
        int64_t used = 0;
        for (StageDecision &d : p.stages) {
            const bool per_tile = d.placement.rfind("tile of ", 0) == 0 || d.placement.rfind("sliding in ", 0) == 0;
            if (!per_tile || d.tile_bytes <= 0 || used + d.tile_bytes > budget) continue;
            const auto fs = std::find_if(p.schedule.funcs.begin(), p.schedule.funcs.end(),
                                         [&](const FuncSchedule &s) { return s.func == d.func; });
            if (fs == p.schedule.funcs.end() || fs->placement == Placement::Inline) continue;
            fs->store_in = "vtcm";
            used += d.tile_bytes;
            d.reason += "; in VTCM, allocated once per call";
        }
    }

    // A stored relabeling (a packing) of a graph input or of a value stored whole at root.
    bool packs_value_at_root(const Info &f) {
        bool unused = false;
        if (!f.materialized || f.role != Role::Pure || !relabel(f.func.function(), &unused)) return false;
        // Through inlined relabelings down to buffers or values computed once.
        std::function<bool(const std::string &)> whole = [&](const std::string &name) {
            for (const std::string &p : graph_.producers(name)) {
                if (!info_.count(p) || !info_.at(p).root_reason.empty()) continue;  // a buffer, or stored at root
                const Info &producer = info_.at(p);
                if (producer.materialized || producer.role != Role::Pure || !relabel(producer.func.function(), &unused) || !whole(p)) {
                    return false;
                }
            }
            return true;
        };
        return whole(f.name);
    }

    // A reduction that is neither an accumulation nor a row statistic (a global pooling, a
    // reduction over rows): the planner does not tile it and falls back to per_op's choice
    // for it, at root and vectorized; its producers form sections of their own.
    void place_at_root(MegakernelPlan &p, const Info &f, const std::string &why) {
        placed_.insert(f.name);
        section_of_[f.name] = f.name;
        sections_[f.name] = Section{{f.name, 0, 1, false, 0}, {}};
        loops_[f.name] = {"", ""};
        FuncSchedule fs{f.canon, Placement::Root};
        strategies::vectorize_stages(fs, f.func, shape_of(f), target_);
        p.schedule.funcs.push_back(fs);
        p.stages.push_back(decision(f, "root", why, 1.0, 0));
    }

    void place_fallback(MegakernelPlan &p, const Info &f) {
        place_at_root(p, f, "fallback to per_op: a reduction the planner does not fuse");
        notes_.push_back(f.canon + " is a reduction the planner does not fuse (neither an accumulation nor a row statistic): "
                                   "it falls back to per_op's placement, at root, and its producers start new sections");
    }

    void place_accumulator_owner_parts(MegakernelPlan &p, const Info &owner) {
        const Info &acc = info_.at(owner.acc);
        placed_.insert(acc.name);
        p.stages.push_back(decision(acc, "registers in " + owner.canon,
                                    "accumulated in register tiles (" + std::to_string(strategies::register_tile(target_, std::min(2 * lanes(), static_cast<int>(owner.full.extent(0)))).rows) +
                                        " rows) of " + owner.canon,
                                    1.0, 0));
    }

    // A row reduction long enough to fill vectors (at least 4 vectors, a whole number of
    // them): partial results per lane in a vector (rfactor), then one reduction across the
    // lanes, instead of a serial scalar chain over the row. Shorter rows stay scalar: the
    // final across-lanes step would cost as much as it saves.
    bool rfactor_row(FuncSchedule &fs, const Info &stat) const {
        const auto &rvars = stat.func.function().update(0).schedule().rvars();
        if (rvars.size() != 1) return false;
        const auto extent = Halide::Internal::as_const_int(rvars[0].extent);
        if (!extent || *extent < 4 * lanes() || *extent % lanes() != 0) return false;
        const std::string r = rvars[0].var;
        StageSchedule update{1, {}};
        update.steps = {strategies::step(LoopStep::Kind::Split, {r, r + "o", r + "i"}, lanes()),
                        strategies::step(LoopStep::Kind::RFactor, {r + "i", stat.canon + "_lane"})};
        fs.stages.push_back(update);
        return true;
    }

    // A normalization's statistics (and softmax's exponentials): per row of the stage.
    void place_statistics(MegakernelPlan &p, const Info &stage) {
        for (auto &[name, i] : info_) {
            if (i.norm_stage != stage.name || placed_.count(name)) continue;
            placed_.insert(name);
            std::string row = stage.func.args().size() > 1 ? stage.func.args()[1].name() : stage.func.args()[0].name();
            // A root tiled along its rows computes them in the tile's row loop.
            if (auto l = loops_.find(stage.name); l != loops_.end() && l->second.row == row + "_r") row = l->second.row;
            FuncSchedule fs{i.canon, Placement::At, {stage.canon, row}};
            std::string how = "row statistic, computed per row inside " + stage.canon;
            if (!i.func.has_update_definition()) {
                strategies::vectorize_stages(fs, i.func, shape_of(stage), target_);
            } else if (rfactor_row(fs, i)) {
                how += "; its reduction split into " + std::to_string(lanes()) + " vector lanes (rfactor), summed across them once";
            }
            p.schedule.funcs.push_back(fs);
            p.stages.push_back(decision(i, "rows of " + stage.canon, how, 1.0, stage.full.extent(0) * bytes(i)));
        }
    }

    std::map<std::string, strategies::TileLoops> loops_;
};

}  // namespace

std::string SectionCandidate::describe() const {
    std::ostringstream o;
    o << "tiles of " << rows << " along dimension " << dim << (sliding ? ", sliding window" : "") << (alone ? ", producers not fused" : "");
    return o.str();
}

MegakernelPlan plan_megakernel(const LoweredGraph &lowered, const TargetSpec &target, size_t candidate) {
    MegakernelPlan plan = Planner(lowered, target).plan(candidate);
    // Every candidate as the target can build it (make_schedule does the same for the chosen one;
    // a k-th candidate from explain, Python or the tuner is scheduled here only).
    fit_schedule_to_target(plan.schedule, lowered, target);
    return plan;
}

std::string explain(const MegakernelPlan &plan, const TargetSpec &target) {
    std::ostringstream o;
    o << "megakernel plan for target " << target.name << " (" << target.vector_bytes * 8 << "-bit vectors, " << target.registers
      << " registers, L1 " << bytes_text(target.l1_bytes) << ", L2 " << bytes_text(target.l2_bytes) << ", " << target.threads
      << " thread" << (target.threads == 1 ? "" : "s");
    if (target.vtcm_bytes) o << ", VTCM " << bytes_text(target.vtcm_bytes);
    if (target.sme_vector_bits) o << ", SME vector length " << target.sme_vector_bits << " bits";
    o << ")\n";
    if (!target.machine.empty()) o << "machine: " << machine_facts().describe() << "\n";
    o << "multiply-accumulates per cycle per core: fp32 " << target.fp32_macs_per_cycle << ", int8 " << target.int8_macs_per_cycle
      << ", int16 " << target.int16_macs_per_cycle << "; " << target.bytes_per_cycle << " bytes per cycle beyond L2\n";
    if (!target.parallel_allowed) o << "no parallel loops on this target (no thread pool)\n";
    if (!target.float_vectors) {
        o << "no float vectors on this target: stages that compute in float run as scalar code; int8 ops requantize in "
             "fixed point\n";
    }
    o << "\n";
    o << "stages:\n";
    for (const StageDecision &d : plan.stages) {
        o << "  " << d.func << ": " << d.placement << "\n      " << d.reason;
        if (d.placement != "inline" && d.root_bytes) o << "\n      at root: " << bytes_text(d.root_bytes);
        if (d.tile_bytes) o << "; per tile: " << bytes_text(d.tile_bytes) << " (" << d.cache << ")";
        if (d.memory_bytes) o << "\n      memory beyond L2 (estimate): " << bytes_text(d.memory_bytes);
        o << "\n";
    }
    int64_t fused = 0, by_op = 0, inputs = 0;
    for (const StageDecision &d : plan.stages) fused += d.memory_bytes, by_op += d.memory_bytes_at_root;
    for (const int64_t b : plan.input_bytes) inputs += b;
    o << "\nmemory beyond L2 (estimate; DDR on Hexagon): " << bytes_text(fused + inputs) << " with this plan, "
      << bytes_text(by_op + inputs) << " with every stage it stores or tiles stored whole (op by op); the inputs' "
      << bytes_text(inputs) << " read once in both\n";
    if (!plan.candidates.empty()) {
        o << "\nmain section candidates (cost model, cheapest first):\n";
        for (size_t i = 0; i < plan.candidates.size() && i < 8; ++i) {
            o << "  " << (i == plan.chosen ? "* " : "  ") << "#" << i << " " << plan.candidates[i].describe() << ": "
              << static_cast<int64_t>(plan.candidates[i].cost) << " cycles\n";
        }
    }
    for (const std::string &n : plan.notes) o << "note: " << n << "\n";
    return o.str();
}

}  // namespace megalide
