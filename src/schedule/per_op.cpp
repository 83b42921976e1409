// Strategy per_op: the "catalog of tuned kernels called op by op" baseline. Every layer
// output is computed at root (materialized in memory, as a runtime calling one kernel per op
// would), each with a strong standalone schedule:
//   - accumulations (convolutions, Gemm, MatMul) are register-blocked: the epilogue stage is
//     tiled CW channels x XW rows, and the accumulator is computed per tile, so the tile's
//     CW/VL x XW vector accumulators stay in registers across the whole reduction (Zen 4,
//     AVX-512: 2 vectors x 6 rows = 12 of 32 zmm registers, leaving room for the weight
//     vectors and the broadcast input);
//   - pooling and other reductions are vectorized over channels and parallel over rows;
//   - pointwise ops are vectorized over their innermost dimension and parallel over rows.
#include "per_op.h"

#include "tiles.h"

#include <algorithm>
#include <map>
#include <set>

namespace megalide::strategies {

namespace {

// A per-row statistic of a layer with output `shape`: a reduction over the innermost
// dimension (one RVar spanning it) keeping the others, or a pure Func over the full shape
// (softmax's exponentials).
bool row_statistic(const Halide::Func &f, const Shape &shape) {
    if (!f.has_update_definition()) return f.dimensions() == static_cast<int>(shape.size()) && f.name().find("_exp") != std::string::npos;
    if (f.dimensions() != static_cast<int>(shape.size()) - 1) return false;
    const auto &rvars = f.function().update(0).schedule().rvars();
    if (rvars.size() != 1) return false;
    const auto extent = Halide::Internal::as_const_int(rvars[0].extent);
    return extent && *extent == shape[0];
}

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

void schedule_accumulation(Schedule &s, const Halide::Func &epilogue, const Halide::Func &acc, const Shape &shape,
                           const TargetSpec &target) {
    schedule_accumulation_tiles(s, epilogue, acc, shape, target, AccumulationTiling{});
}

void schedule_standalone(Schedule &s, const Halide::Func &f, const Shape &shape, const TargetSpec &target, bool root) {
    FuncSchedule fs{canonical_func_name(f.name()), root ? Placement::Root : Placement::Inline};
    vectorize_stages(fs, f, shape, target);
    const int par = outer_dim(shape, 1, -1);
    if (par > 0) {
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
            schedule_accumulation(s, funcs.at(name), funcs.at(acc->second), shape, target);
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
        if (a.args().empty() || a.args()[0].name() != "j") continue;  // (j, i, batch...): a matmul
        for (const auto &[callee, fn] : Halide::Internal::find_direct_calls(a.function())) {
            const std::string name = canonical_func_name(callee);
            const bool relayout = name.size() > 9 && name.compare(name.size() - 9, 9, "_relayout") == 0;
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
            const bool vectors = reads_vectors_of(funcs.at(acc).function(), fn.name()) || byte_dot_product(funcs.at(acc));
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
        // The layer's own internal Funcs (named "<stage>_..."), reached through its calls.
        std::set<std::string> internal;
        std::vector<std::string> work = {stage};
        while (!work.empty()) {
            const std::string at = work.back();
            work.pop_back();
            for (const auto &[callee, fn] : Halide::Internal::find_direct_calls(funcs.at(at).function())) {
                const std::string name = canonical_func_name(callee);
                if (name.rfind(stage + "_", 0) == 0 && funcs.count(name) && internal.insert(name).second) work.push_back(name);
            }
        }
        bool fusable = !internal.empty();
        bool has_reduction = false;
        for (const std::string &name : internal) {
            const Halide::Func &f = funcs.at(name);
            if (scheduled.count(name)) fusable = false;
            if (f.has_update_definition()) {
                has_reduction = true;
                fusable = fusable && row_statistic(f, shape);
            }
        }
        if (!fusable || !has_reduction) continue;
        for (const std::string &name : internal) {
            const Halide::Func &f = funcs.at(name);
            if (f.has_update_definition() || row_statistic(f, shape)) {
                place_in_row(s, f, stage, shape, target);
                scheduled.insert(name);
            }
        }
    }
    // Reductions inside layers (norm and softmax statistics, padding of windows) at root.
    for (const auto &[name, f] : funcs) {
        if (scheduled.count(name)) continue;
        const bool is_pad = name.size() > 4 && name.compare(name.size() - 4, 4, "_pad") == 0;
        if (f.has_update_definition() || is_pad) {
            FuncSchedule fs{name, Placement::Root};
            s.funcs.push_back(fs);
            scheduled.insert(name);
        }
    }
    return s;
}

}  // namespace megalide::strategies
