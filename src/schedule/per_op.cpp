// Strategy per_op: the "catalog of tuned kernels called op by op" baseline. Every layer
// output is computed at root (materialized in memory, as a runtime calling one kernel per op
// would), each with a strong standalone schedule:
//   - accumulations (convolutions, Gemm, MatMul) are register-blocked: the epilogue stage is
//     tiled CW channels x XW rows, and the accumulator is computed per tile, so the tile's
//     CW/VL x XW vector accumulators stay in registers across the whole reduction (on
//     AVX-512: 2 vectors x 6 rows = 12 of 32 zmm registers, leaving room for the weight
//     vectors and the broadcast input; the target's register count sizes the tile);
//   - pooling and other reductions are vectorized over channels and parallel over rows;
//   - pointwise ops are vectorized over their innermost dimension and parallel over rows.
#include "per_op.h"

#include "row_statistics.h"
#include "tiles.h"

#include <algorithm>
#include <map>
#include <set>

namespace megalide::strategies {

namespace {

// Computes `f` inside the row loop (dimension 1) of the layer output `stage`.
void place_in_row(Schedule &s, const Halide::Func &f, const std::string &stage, const Shape &shape, const TargetSpec &target) {
    FuncSchedule fs{canonical_func_name(f.name()), Placement::At, {stage, "d1"}};
    if (!f.has_update_definition()) {
        StageSchedule st{0, {}};
        vectorize_inner(st, f.args()[0].name(), shape[0], target.float_lanes());
        fs.stages.push_back(st);
    }
    s.funcs.push_back(fs);
}

}  // namespace

void schedule_accumulation(Schedule &s, const Halide::Func &epilogue, const Halide::Func &acc, const StageFacts &facts,
                           const Shape &shape, const TargetSpec &target) {
    AccumulationTiling tiling;
    tiling.byte_dot = facts.byte_dot;
    tiling.padded_channels = facts.padded_channels;
    schedule_accumulation_tiles(s, epilogue, acc, shape, target, tiling);
}

void schedule_standalone(Schedule &s, const Halide::Func &f, const Shape &shape, const TargetSpec &target, bool root) {
    FuncSchedule fs{canonical_func_name(f.name()), root ? Placement::Root : Placement::Inline};
    vectorize_stages(fs, f, shape, target);
    const int par = outer_dim(shape, 1, -1);
    if (par > 0 && target.parallel_allowed) {
        for (StageSchedule &st : fs.stages) st.steps.push_back(step(LoopStep::Kind::Parallel, {arg_names(f)[static_cast<size_t>(par)]}));
    }
    s.funcs.push_back(fs);
}

Schedule per_op(const LoweredGraph &lowered, const TargetSpec &target) {
    Schedule s;
    s.strategy = "per_op";
    const std::map<std::string, Halide::Func> funcs = pipeline_funcs(lowered);
    std::set<std::string> scheduled, accumulators;
    std::map<std::string, std::string> accumulator_of;
    for (const auto &[stage, acc] : lowered.accumulators) {
        accumulators.insert(canonical_func_name(acc));
        accumulator_of[canonical_func_name(stage)] = canonical_func_name(acc);
    }
    std::set<std::string> outputs;
    for (const Halide::Func &f : lowered.outputs) outputs.insert(canonical_func_name(f.name()));
    // Layer outputs: accumulations tiled with their accumulator; the rest standalone.
    for (const auto &[actual, shape] : lowered.shapes) {
        const std::string name = canonical_func_name(actual);
        if (!funcs.count(name) || scheduled.count(name) || accumulators.count(name)) continue;
        auto acc = accumulator_of.find(name);
        const bool is_output = outputs.count(name) != 0;
        if (acc != accumulator_of.end() && funcs.count(acc->second) && !is_output) {
            schedule_accumulation(s, funcs.at(name), funcs.at(acc->second), lowered.facts_of(funcs.at(acc->second)), shape, target);
            scheduled.insert(name);
            scheduled.insert(acc->second);
        } else {
            schedule_standalone(s, funcs.at(name), shape, target, true);
            scheduled.insert(name);
        }
    }
    // A matrix product reading a relabeled operand (a transpose folded into MatMul, heads
    // split out of a projection) packs that operand once at root, as a GEMM library packs its
    // panels, instead of gathering strided elements in the inner loop.
    for (const auto &[stage, acc] : accumulator_of) {
        if (!funcs.count(acc)) continue;
        const Halide::Func &a = funcs.at(acc);
        if (!lowered.facts_of(a).matrix_product) continue;
        for (const auto &[callee, fn] : Halide::Internal::find_direct_calls(a.function())) {
            const std::string name = canonical_func_name(callee);
            const bool relayout = lowered.facts_of(callee).role == StageRole::Relayout;
            if (!relayout || scheduled.count(name) || !funcs.count(name)) continue;
            schedule_standalone(s, funcs.at(name), {target.float_lanes(), 2}, target, true);
            scheduled.insert(name);
        }
    }
    // Likewise any accumulation reading, as vectors, an operand whose relabelings scatter
    // its innermost dimension in memory: a weight passed at run time in ONNX's layout
    // (out, in, kh, kw) to a convolution vectorized over output channels. Packing it once
    // per call costs one pass over the weights instead of a gather per multiply-add.
    for (const auto &[stage, acc] : accumulator_of) {
        if (!funcs.count(acc)) continue;
        for (const auto &[callee, fn] : Halide::Internal::find_direct_calls(funcs.at(acc).function())) {
            const std::string name = canonical_func_name(callee);
            bool contiguous = false;
            if (scheduled.count(name) || !funcs.count(name) || !relabel(fn, &contiguous)) continue;
            // A byte dot product also loads 4 consecutive reduction elements of a broadcast operand.
            const bool vectors = reads_vectors_of(funcs.at(acc).function(), fn.name()) || lowered.facts_of(funcs.at(acc)).byte_dot;
            if (!vectors || reads_contiguously(fn)) continue;
            schedule_standalone(s, funcs.at(name), {target.float_lanes(), 2}, target, true);
            scheduled.insert(name);
        }
    }
    // Row statistics of a normalization layer (softmax max/sum and exponentials, layernorm
    // mean and variance) are computed per row inside the layer's own output loop, in cache
    // and in parallel with the rows, as a tuned norm kernel does.
    for (const auto &[actual, shape] : lowered.shapes) {
        const std::string stage = canonical_func_name(actual);
        if (!funcs.count(stage) || outputs.count(stage) || accumulator_of.count(stage) || shape.size() < 2) continue;
        const RowStatistics rows = row_statistics(lowered, funcs.at(stage), shape);
        bool fusable = !rows.per_row.empty();
        for (const std::string &name : rows.internal) fusable = fusable && !scheduled.count(canonical_func_name(name));
        if (!fusable) continue;
        for (const std::string &name : rows.per_row) {
            const std::string canon = canonical_func_name(name);
            place_in_row(s, funcs.at(canon), stage, shape, target);
            scheduled.insert(canon);
        }
    }
    // Reductions inside layers (norm and softmax statistics, padding of windows) and per-call
    // parameters (run-time requantization multipliers) at root.
    for (const auto &[name, f] : funcs) {
        if (scheduled.count(name)) continue;
        const StageRole role = lowered.facts_of(f).role;
        if (f.has_update_definition() || role == StageRole::Padding || role == StageRole::Parameter) {
            FuncSchedule fs{name, Placement::Root};
            s.funcs.push_back(fs);
            scheduled.insert(name);
        }
    }
    return s;
}

}  // namespace megalide::strategies
