#include "tiles.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace megalide::strategies {

// True when some call `consumer` makes to `producer` indexes it with the consumer's
// innermost variable: the consumer loads vectors of it (else it broadcasts scalars).
bool reads_vectors_of(const Halide::Internal::Function &consumer, const std::string &producer) {
    struct Visitor : Halide::Internal::IRGraphVisitor {
        const std::string &producer, &inner;
        bool found = false;
        Visitor(const std::string &p, const std::string &i) : producer(p), inner(i) {}
        using IRGraphVisitor::visit;
        void visit(const Halide::Internal::Call *c) override {
            IRGraphVisitor::visit(c);
            if (c->name != producer) return;
            for (const Halide::Expr &a : c->args) found |= Halide::Internal::expr_uses_var(a, inner);
        }
    } visitor(producer, consumer.args().at(0));
    for (const Halide::Expr &e : consumer.definition().values()) e.accept(&visitor);
    for (const auto &u : consumer.updates()) {
        for (const Halide::Expr &e : u.values()) e.accept(&visitor);
    }
    return visitor.found;
}

// A relabeling: the value is one call to another Func or image (a transpose, slice or
// reshape). `contiguous`: its innermost dimension is the callee's innermost, unchanged, or
// the next one after a 4-element dot-product group, or split into cache-line panels.
bool relabel(const Halide::Internal::Function &f, bool *contiguous) {
    if (f.has_update_definition() || f.definition().values().size() != 1) return false;
    Halide::Expr e = f.definition().values()[0];
    if (const auto *cast = e.as<Halide::Internal::Cast>()) e = cast->value;
    const auto *call = e.as<Halide::Internal::Call>();
    if (!call || (call->call_type != Halide::Internal::Call::Halide && call->call_type != Halide::Internal::Call::Image)) {
        return false;
    }
    auto is_var = [&](size_t i, const std::string &name) {
        const auto *v = i < call->args.size() ? call->args[i].as<Halide::Internal::Variable>() : nullptr;
        return v && v->name == name;
    };
    const std::string inner = f.args().empty() ? "" : f.args()[0];
    // The storage a byte dot product reads in place: (r % 4, inner, r / 4, ...), 4 reduction
    // elements per lane of the innermost dimension (packed weights, lowering's choice).
    const auto *mod = call->args.empty() ? nullptr : call->args[0].as<Halide::Internal::Mod>();
    const auto four = mod ? Halide::Internal::as_const_int(mod->b) : std::nullopt;
    const bool dot_packed = four && *four == 4 && is_var(1, inner);
    // Cache-line panels of the innermost dimension, (inner % L, ..., inner / L): lowering's
    // layout for float weights read by register tiles.
    const auto *mod_var = mod ? mod->a.as<Halide::Internal::Variable>() : nullptr;
    const bool panels = mod_var && mod_var->name == inner && !call->args.empty() && call->args.back().as<Halide::Internal::Div>();
    *contiguous = !inner.empty() && (is_var(0, inner) || dot_packed || panels);
    return true;
}

bool reads_contiguously(const Halide::Internal::Function &f) {
    bool contiguous = false;
    if (!relabel(f, &contiguous)) return true;  // computed: stored in its own order
    if (!contiguous) return false;
    Halide::Expr e = f.definition().values()[0];
    if (const auto *cast = e.as<Halide::Internal::Cast>()) e = cast->value;
    const auto *call = e.as<Halide::Internal::Call>();
    return call->call_type != Halide::Internal::Call::Halide || reads_contiguously(Halide::Internal::Function(call->func));
}


LoopStep step(LoopStep::Kind kind, std::vector<std::string> vars, int factor, const char *tail) {
    LoopStep s;
    s.kind = kind, s.vars = std::move(vars), s.factor = factor, s.tail = tail;
    return s;
}

std::vector<std::string> arg_names(const Halide::Func &f) {
    std::vector<std::string> names;
    for (const Halide::Var &v : f.args()) names.push_back(v.name());
    return names;
}

std::vector<std::string> rvar_names(const Halide::Func &f, int update) {
    std::vector<std::string> names;
    for (const Halide::Internal::ReductionVariable &r : f.function().update(update).schedule().rvars()) names.push_back(r.var);
    return names;
}

int outer_dim(const Shape &shape, int from, int fallback) {
    for (int d = static_cast<int>(shape.size()) - 1; d >= from; --d) {
        if (shape[static_cast<size_t>(d)] > 1) return d;
    }
    return fallback;
}

std::string vectorize_inner(StageSchedule &st, const std::string &var, int extent, int lanes, bool overlap) {
    if (extent < 4) return var;
    int width = 8;  // a short extent: the widest power of two in it (24 bytes: 16 lanes, 8 shifted)
    while (width * 2 <= std::min(extent, lanes)) width *= 2;
    if (extent >= lanes) width = lanes;
    // 24 channels: vectors at 0 and 8 instead of one at 0 and a predicated 8-lane tail loop.
    const char *tail = overlap && extent > width && extent % width != 0 ? "shift_inwards" : "guard_with_if";
    st.steps.push_back(step(LoopStep::Kind::Split, {var, var + "_vo", var + "_vi"}, width, tail));
    st.steps.push_back(step(LoopStep::Kind::Vectorize, {var + "_vi"}));
    return var + "_vo";
}

RegisterTile register_tile(const TargetSpec &target, int channel_extent, int row_extent) {
    const int lanes = target.float_lanes();
    if (channel_extent < lanes) return {channel_extent, std::max(1, std::min(8, target.registers - 3))};
    // Candidate widths: one to three whole vectors, or all the channels when a few vectors
    // and a half cover them (24 = 16 + 8 lanes). Each reduction step loads `vectors` weight
    // vectors and broadcasts `rows` inputs for vectors x rows FMAs; two FMA pipes and about
    // as many loads per cycle. Padding the last tile of channels is wasted work, and so are
    // the rows a last tile shifted inwards computes twice: ResNet-18's 7-pixel rows in tiles
    // of 6 computed 12 pixels for 7 (a 7x7x512 3x3 conv at 52% of the FMA peak on a Zen 3
    // with AVX2; 4 rows of 2 vectors compute 8). Fewer independent accumulators than the
    // FMA pipes keep in flight leave them idle, and each reduction step costs about a cycle of
    // loop and address arithmetic besides (B3's 256-row matmuls ran 6% slower in tiles of 4
    // rows than of 6 on that Zen 3); at equal cost the taller tile.
    RegisterTile best{lanes, 1};
    double best_cost = 1e30;
    std::vector<int> widths;
    for (int v = 1; v <= target.max_tile_vectors; ++v) widths.push_back(v * lanes);
    if (channel_extent % 8 == 0 && channel_extent <= target.max_tile_vectors * lanes) widths.push_back(channel_extent);
    for (int width : widths) {
        if (width > channel_extent) continue;
        const int vectors = (width + lanes - 1) / lanes;
        const int max_rows = std::max(1, std::min(8, (target.registers - vectors - 2) / vectors));
        const double tiles = std::ceil(static_cast<double>(channel_extent) / width);
        const double waste = tiles * vectors * lanes / channel_extent;
        // Without a known row extent, the most rows the registers hold.
        for (int rows = max_rows; rows >= (row_extent > 0 ? 1 : max_rows); --rows) {
            const double row_waste = row_extent > 0 ? std::ceil(static_cast<double>(row_extent) / rows) * rows / row_extent : 1.0;
            const double fmas = vectors * rows, loads = vectors + rows;
            const double latency = std::max(1.0, target.accumulators_in_flight / fmas);
            const double cost = waste * row_waste * latency * (std::max(fmas, loads) / 2 + target.reduction_step_cycles) / fmas;
            if (cost < best_cost - 1e-9) best = {width, rows}, best_cost = cost;
        }
    }
    return best;
}

namespace {

// The extents of an accumulation's reduction, innermost first: (channels in, window columns,
// window rows) for a convolution, (k) for a matrix product; empty where one is not constant.
std::vector<int64_t> reduction_extents(const Halide::Func &acc) {
    std::vector<int64_t> extents;
    if (!acc.has_update_definition()) return extents;
    for (const auto &r : acc.function().update(0).schedule().rvars()) {
        const auto e = Halide::Internal::as_const_int(r.extent);
        if (!e) return {};
        extents.push_back(*e);
    }
    return extents;
}

int64_t operand_bytes(const Halide::Func &acc, const AccumulationTiling &tiling) {
    return tiling.byte_dot ? 1 : acc.type().bytes();
}

// The bytes of an accumulation's weights (output channels x reduction); 0 where unknown.
int64_t weight_bytes(const Halide::Func &acc, const Shape &shape, const AccumulationTiling &tiling) {
    const std::vector<int64_t> extents = reduction_extents(acc);
    if (extents.empty() || shape.size() < 2) return 0;
    int64_t weights = shape[0] * operand_bytes(acc, tiling);
    for (int64_t e : extents) weights *= e;
    return weights;
}

// Whether the inputs one register tile of `rows` rows reads across its whole reduction (its
// rows plus the window's halo, every input channel and window row) overflow L1.
bool input_window_spills_l1(const Halide::Func &acc, const TargetSpec &target, const AccumulationTiling &tiling, int rows) {
    const std::vector<int64_t> extents = reduction_extents(acc);
    if (extents.empty()) return false;
    int64_t window = extents[0] * operand_bytes(acc, tiling) * (rows + (extents.size() > 1 ? extents[1] - 1 : 0));
    for (size_t i = 2; i < extents.size(); ++i) window *= extents[i];
    return window > target.l1_bytes;
}

}  // namespace

bool weight_panels_outside_rows(const Halide::Func &acc, const Shape &shape, const TargetSpec &target,
                                const AccumulationTiling &tiling, int tile_rows) {
    const int64_t weights = weight_bytes(acc, shape, tiling);
    if (weights == 0) return false;
    const int64_t bytes = operand_bytes(acc, tiling), channels_in = reduction_extents(acc)[0];
    // The rows one pass over the panels covers: the tile's (its image rows times the row
    // length) or, without row tiles, every row of one batch item.
    int64_t rows = shape[1];
    if (tile_rows > 0 && tiling.tile_dim > 1) rows *= tile_rows;
    else if (tile_rows > 0) rows = tile_rows;
    else for (size_t d = 2; d + 1 < shape.size(); ++d) rows *= shape[d];
    const int64_t inputs = rows * channels_in * bytes;  // window taps re-read the same pixels
    const int panel_channels = register_tile(target, shape[0]).channels;
    const int64_t panel = weights * panel_channels / std::max(1, shape[0]);
    return weights > target.l2_bytes / 2 && inputs + panel <= target.l2_bytes / 2;
}

TileLoops schedule_accumulation_tiles(Schedule &s, const Halide::Func &epilogue, const Halide::Func &acc,
                                      const Shape &shape, const TargetSpec &target, const AccumulationTiling &tiling) {
    const std::vector<std::string> ev = arg_names(epilogue), av = arg_names(acc);
    const int c_extent = shape[0], row_extent = shape.size() > 1 ? shape[1] : 1;
    // The rows one register tile steps through: a row tile's when rows are tiled along
    // dimension 1 (matrix rows, image columns), else the whole row.
    const int tiled_rows = tiling.row_tile > 0 && tiling.tile_dim == 1 ? std::min(tiling.row_tile, row_extent) : row_extent;
    const RegisterTile reg = register_tile(target, c_extent, shape.size() > 1 ? tiled_rows : 0);
    const int cw = reg.channels, xw = std::min(row_extent, reg.rows);

    FuncSchedule e{canonical_func_name(epilogue.name()), tiling.placement, tiling.at, tiling.store};
    StageSchedule es{0, {}};
    const std::string c = ev[0], x = ev.size() > 1 ? ev[1] : "";
    TileLoops loops;
    es.steps.push_back(step(LoopStep::Kind::Split, {c, c + "_o", c + "_i"}, cw, "shift_inwards"));
    // A section root always gets its row-tile loop (one iteration when the tile is every
    // row): the Funcs of its section are computed there, outside the register tiles.
    const size_t td = static_cast<size_t>(tiling.tile_dim);
    const bool row_tiles = !x.empty() && tiling.row_tile > 0 && td >= 1 && td < ev.size();
    const std::string t = row_tiles ? ev[td] : "";
    const int t_extent = row_tiles ? shape[td] : 1;
    std::string rows = x;
    if (row_tiles) {
        es.steps.push_back(step(LoopStep::Kind::Split, {t, t + "_t", t + "_r"}, std::min(tiling.row_tile, t_extent), "shift_inwards"));
        if (td == 1) rows = x + "_r";
        loops.tile = t + "_t";
        if (td > 1) loops.row = t + "_r";
    }
    const bool weights_outer = !x.empty() && weight_panels_outside_rows(acc, shape, target, tiling, row_tiles ? std::min(tiling.row_tile, t_extent) : 0);
    // Weights that do not stay in L2 stream from beyond it once per pass over the channel
    // panels. A register tile whose input window fits L1 keeps it there across the panels
    // (the panels innermost); one whose window spills L1 reads its inputs from L2 whatever
    // the order, so the panels go outside the row's register tiles and stream once per row,
    // not once per tile (7x7x512 3x3 conv, Zen 3, 1 thread: 4.4 -> 3.0-3.5 ms).
    const bool panel_outer = tiling.panel_outer ||
                             (!x.empty() && acc.has_update_definition() && reg.channels < c_extent &&
                              weight_bytes(acc, shape, tiling) > target.l2_bytes / 2 &&
                              input_window_spills_l1(acc, target, tiling, std::min(row_extent, reg.rows)));
    if (!x.empty()) {
        es.steps.push_back(step(LoopStep::Kind::Split, {rows, x + "_o", x + "_i"}, xw, "shift_inwards"));
        std::vector<std::string> order = {c + "_i", x + "_i"};
        if (weights_outer) {
            // Every row of the tile (or of the layer, without row tiles) inside one channel
            // panel; the batch (last dimension) and the row-tile loop stay outside.
            order.push_back(x + "_o");
            if (row_tiles && td > 1) order.push_back(t + "_r");
            if (!row_tiles) {
                for (size_t d = 2; d + 1 < ev.size(); ++d) order.push_back(ev[d]);
            }
            order.push_back(c + "_o");
        } else if (panel_outer) {
            order.insert(order.end(), {x + "_o", c + "_o"});
            if (row_tiles && td > 1) order.push_back(t + "_r");
        } else {
            order.insert(order.end(), {c + "_o", x + "_o"});
            if (row_tiles && td > 1) order.push_back(t + "_r");
        }
        if (row_tiles) order.push_back(t + "_t");
        es.steps.push_back(step(LoopStep::Kind::Reorder, order));
    }
    // A tile several vectors wide is written as one native vector per statement, unrolled:
    // LLVM splits a wide vector evenly only for some operations and scalarizes others (a
    // 48-lane int32 -> uint8 narrowing became per-lane extracts). A width that is not a
    // multiple of the vector (24 channels) ends with a vector shifted inwards (at 0 and 8),
    // recomputing a few lanes rather than narrowing every vector.
    const int lanes = target.float_lanes();
    std::string vector_var = c + "_i";
    if (cw > lanes) {
        es.steps.push_back(step(LoopStep::Kind::Split, {c + "_i", c + "_io", c + "_iv"}, lanes, "shift_inwards"));
        es.steps.push_back(step(LoopStep::Kind::Unroll, {c + "_io"}));
        vector_var = c + "_iv";
    }
    if (cw >= 4) es.steps.push_back(step(LoopStep::Kind::Vectorize, {vector_var}));
    if (!x.empty()) es.steps.push_back(step(LoopStep::Kind::Unroll, {x + "_i"}));
    const int par = outer_dim(shape, 2, 1);
    const bool one_tile = row_tiles && tiling.row_tile >= t_extent;
    const int panels = (c_extent + cw - 1) / cw;
    if (tiling.parallel && target.parallel_allowed && weights_outer && !row_tiles && panels > 1) {
        es.steps.push_back(step(LoopStep::Kind::Parallel, {c + "_o"}));  // each thread its own weight panels
    } else if (tiling.parallel && target.parallel_allowed && !x.empty() && row_extent * (par == 1 ? 1 : shape[static_cast<size_t>(par)]) > 1 && !one_tile) {
        es.steps.push_back(step(LoopStep::Kind::Parallel, {row_tiles ? loops.tile : par == 1 ? x + "_o" : ev[static_cast<size_t>(par)]}));
    }
    e.stages.push_back(es);
    s.funcs.push_back(e);

    const std::string innermost_tile = x.empty() ? c + "_o" : panel_outer || weights_outer ? x + "_o" : c + "_o";
    FuncSchedule a{canonical_func_name(acc.name()), Placement::At, {canonical_func_name(epilogue.name()), innermost_tile}};
    StageSchedule pure{0, {}}, update{1, {}};
    // 8-bit operands: 4 consecutive products of the channel reduction per int32 lane, the
    // shape of a VNNI dot product (vpdpbusd: 64 byte pairs per zmm instruction).
    const bool dot = cw >= 4 && tiling.byte_dot;
    // Accumulators one native vector per statement as in the epilogue: each vector's weight
    // load then starts on a multiple of the vector width, which a panel-packed weight layout
    // (c % L, ..., c / L) needs to stay one dense load instead of a gather.
    const int acc_lanes = target.lanes(acc.type());
    std::string acc_vector = av[0], vectors_loop;  // vectors_loop: several vectors of a tile, unrolled
    std::vector<std::string> order;
    // A target without narrower vector forms (HVX) computes a tile narrower than a vector
    // (24 channels) as one whole vector where the operands are padded that far: 8 lanes of
    // products of zero weights, instead of a vector assembled lane by lane.
    const int whole_lanes = (cw + acc_lanes - 1) / acc_lanes * acc_lanes;
    if (!target.partial_vectors && cw == c_extent && cw % acc_lanes != 0 && cw >= 4 && tiling.padded_channels >= whole_lanes) {
        const std::string v = av[0] + "_v", o = av[0] + "_w";
        for (StageSchedule *st : {&pure, &update}) st->steps.push_back(step(LoopStep::Kind::Split, {av[0], o, v}, acc_lanes, "round_up"));
        acc_vector = v;
        order = {v, o};
    } else if ((!dot || !target.partial_vectors) && cw > acc_lanes && cw % acc_lanes == 0) {
        // (Byte dot products too where narrower forms are missing: on HVX one 64-lane int32
        // statement was miscompiled, two 32-lane ones are bit-exact; x86 keeps VNNI's form.)
        const std::string v = av[0] + "_v", o = av[0] + "_u";
        // The tile is a whole number of vectors: no tail (an update admits no shifted one).
        for (StageSchedule *st : {&pure, &update}) st->steps.push_back(step(LoopStep::Kind::Split, {av[0], o, v}, acc_lanes, "guard_with_if"));
        pure.steps.push_back(step(LoopStep::Kind::Unroll, {o}));
        acc_vector = v, vectors_loop = o;
        order = {v, o};
    } else {
        order = {av[0]};
    }
    if (cw >= 4) pure.steps.push_back(step(LoopStep::Kind::Vectorize, {acc_vector}));
    if (av.size() > 1) pure.steps.push_back(step(LoopStep::Kind::Unroll, {av[1]}));
    if (av.size() > 1) order.push_back(av[1]);
    std::vector<std::string> rvars = rvar_names(acc, 0);
    if (dot) {
        const std::string r = rvars.at(0);
        update.steps.push_back(step(LoopStep::Kind::Split, {r, r + "o", r + "i"}, 4));
        rvars[0] = r + "o";
        order.insert(order.begin(), r + "i");
    }
    for (const std::string &r : rvars) order.push_back(r);
    update.steps.push_back(step(LoopStep::Kind::Reorder, order));
    if (dot) update.steps.push_back(step(LoopStep::Kind::VectorizeReduction, {order[0]}));
    if (cw >= 4) update.steps.push_back(step(LoopStep::Kind::Vectorize, {acc_vector}));
    if (!vectors_loop.empty()) update.steps.push_back(step(LoopStep::Kind::Unroll, {vectors_loop}));
    if (av.size() > 1) update.steps.push_back(step(LoopStep::Kind::Unroll, {av[1]}));
    // A short window (a depthwise kernel's width) unrolled with the rows: neighbouring rows
    // read the same input at different taps, and the unrolled loads are shared.
    const auto &all_rvars = acc.function().update(0).schedule().rvars();
    const auto window = all_rvars.size() > 1 && !dot ? Halide::Internal::as_const_int(all_rvars[0].extent) : std::nullopt;
    if (av.size() > 1 && window && *window <= 5) update.steps.push_back(step(LoopStep::Kind::Unroll, {rvars.at(0)}));
    a.stages = {pure, update};
    s.funcs.push_back(a);
    return loops;
}

TileLoops schedule_row_tiles(Schedule &s, const Halide::Func &f, const Shape &shape, const TargetSpec &target, int dim,
                             int rows, bool parallel) {
    const std::vector<std::string> vars = arg_names(f);
    FuncSchedule fs{canonical_func_name(f.name()), Placement::Root};
    StageSchedule st{0, {}};
    const std::string d = vars[static_cast<size_t>(dim)];
    std::vector<std::string> order;
    std::string inner = vars[0];
    if (dim != 0) inner = vectorize_inner(st, vars[0], shape[0], target.float_lanes(), true);
    TileLoops loops{d + "_t", d + "_r"};
    st.steps.push_back(step(LoopStep::Kind::Split, {d, loops.tile, loops.row}, std::min(rows, shape[static_cast<size_t>(dim)]), "shift_inwards"));
    if (dim != 0) {
        if (inner != vars[0]) order.push_back(vars[0] + "_vi");
        order.push_back(inner);
    }
    for (size_t i = 1; i < vars.size(); ++i) {
        if (static_cast<int>(i) != dim && (static_cast<int>(i) < dim || shape[i] > 1)) order.push_back(vars[i]);
    }
    if (dim == 0) order.insert(order.begin(), loops.row);
    else order.push_back(loops.row);
    order.push_back(loops.tile);
    for (size_t i = static_cast<size_t>(dim) + 1; i < vars.size(); ++i) {
        if (shape[i] <= 1) order.push_back(vars[i]);
    }
    st.steps.push_back(step(LoopStep::Kind::Reorder, order));
    if (parallel && target.parallel_allowed && (shape[static_cast<size_t>(dim)] + rows - 1) / rows > 1) st.steps.push_back(step(LoopStep::Kind::Parallel, {loops.tile}));
    fs.stages.push_back(st);
    s.funcs.push_back(fs);
    return loops;
}

namespace {

// Lanes of one native vector for the widest type `f` computes with or reads: a copy or
// select of bytes fills a vector with 64 of them (AVX-512), a float stage with 16.
int natural_lanes(const Halide::Func &f, const TargetSpec &target) {
    struct Visitor : Halide::Internal::IRGraphVisitor {
        int widest = 1;
        using IRGraphVisitor::visit;
        void visit(const Halide::Internal::Call *c) override {
            widest = std::max(widest, c->type.bytes());
            IRGraphVisitor::visit(c);
        }
        void visit(const Halide::Internal::Cast *c) override {
            widest = std::max({widest, c->type.bytes(), c->value.type().bytes()});
            IRGraphVisitor::visit(c);
        }
    } visitor;
    for (const Halide::Expr &e : f.function().definition().values()) {
        visitor.widest = std::max(visitor.widest, e.type().bytes());
        e.accept(&visitor);
    }
    return std::max(4, target.vector_bytes / visitor.widest);
}

}  // namespace

void vectorize_stages(FuncSchedule &fs, const Halide::Func &f, const Shape &shape, const TargetSpec &target) {
    const std::vector<std::string> vars = arg_names(f);
    if (vars.empty()) return;  // a scalar
    const int stages = 1 + static_cast<int>(f.function().updates().size());
    for (int index = 0; index < stages; ++index) {
        StageSchedule st{index, {}};
        if (index > 0) {
            std::vector<std::string> order = {vars[0]};
            for (const std::string &r : rvar_names(f, index - 1)) order.push_back(r);
            if (order.size() > 1) st.steps.push_back(step(LoopStep::Kind::Reorder, order));
        }
        const int lanes = index == 0 && !f.has_update_definition() ? natural_lanes(f, target) : target.float_lanes();
        // Too few channels for a vector (an RGB image padded for the stem convolution):
        // vectors along the next dimension, the channels unrolled inside them, so the stores
        // interleave whole vectors instead of writing scalars (MobileNetV2's 224x224x3 padded
        // input: 0.5 ms of 12 on a Zen 3 scalar, about a tenth of that vectorized). Not on HVX,
        // where Halide 21 builds interleaving shuffles wrongly (../shared/targets/HEXAGON.md).
        const bool across = index == 0 && !f.has_update_definition() && vars.size() > 1 && shape.size() > 1 &&
                            shape[0] < 4 && shape[1] >= lanes && target.halide().arch != Halide::Target::Hexagon;
        if (across) {
            const std::string outer = vectorize_inner(st, vars[1], shape[1], lanes, true);
            std::vector<std::string> order = {vars[1] + "_vi", vars[0], outer};
            for (size_t d = 2; d < vars.size(); ++d) order.push_back(vars[d]);
            st.steps.push_back(step(LoopStep::Kind::Reorder, order));
            st.steps.push_back(step(LoopStep::Kind::Unroll, {vars[0]}));
        } else if (!vars.empty() && !shape.empty()) {
            vectorize_inner(st, vars[0], shape[0], lanes, index == 0);
        }
        fs.stages.push_back(st);
    }
}

}  // namespace megalide::strategies
