// Loop-nest building blocks shared by the strategies (internal to src/schedule): register
// tiles for accumulations, row tiles for a section's root, vectorized pointwise stages.
#pragma once

#include <string>
#include <vector>

#include "megalide/schedule/strategy.h"

namespace megalide::strategies {

/// True when some call `consumer` makes to `producer` indexes it with the consumer's
/// innermost variable: the consumer loads vectors of it (else it broadcasts scalars).
bool reads_vectors_of(const Halide::Internal::Function &consumer, const std::string &producer);

/// A relabeling: the value is one call to another Func or image (a transpose, slice or
/// reshape). `contiguous`: its innermost dimension is the callee's innermost, unchanged, or
/// the callee's second after groups of 4 along a reduction, (r % 4, inner, r / 4, ...):
/// weights packed for a byte dot product.
bool relabel(const Halide::Internal::Function &f, bool *contiguous);

/// True when reading `f` along its innermost dimension reads consecutive memory: every
/// relabeling from `f` down to the first computed Func or buffer keeps the innermost
/// dimension innermost (a weight read in ONNX's (out, in, kh, kw) order by a layer that
/// vectorizes over output channels does not).
bool reads_contiguously(const Halide::Internal::Function &f);

/// One loop step (see LoopStep).
LoopStep step(LoopStep::Kind kind, std::vector<std::string> vars, int factor = 0, const char *tail = "auto");

/// The pure variables of `f`, innermost first.
std::vector<std::string> arg_names(const Halide::Func &f);

/// The reduction variables of update `update` of `f`, innermost first.
std::vector<std::string> rvar_names(const Halide::Func &f, int update);

/// The outermost dimension (at or beyond `from`) with extent > 1, or `fallback`.
int outer_dim(const Shape &shape, int from, int fallback);

/// Vectorizes loop `var` (extent `extent`) by whole vectors, GuardWithIf covering a ragged
/// end (`overlap`: a last vector shifted inwards, recomputing a few elements, for a pure
/// stage computed whole along `var`); returns the loop over vectors (or `var` when too short
/// to vectorize).
std::string vectorize_inner(StageSchedule &st, const std::string &var, int extent, int lanes, bool overlap = false);

/// Register blocking of an accumulation: `channels` output channels (a multiple of the
/// vector width where the layer has that many) by `rows` rows of accumulators.
struct RegisterTile {
    int channels = 1, rows = 1;
};

/// The register tile for an accumulation over `channel_extent` output channels: up to three
/// vectors of channels, and up to as many rows as the register file holds next to the weight
/// vectors and a broadcast input (AVX2: 2 x 8 channels x 6 rows = 12 of 16 ymm). Given the
/// `row_extent` the tiles step through (0: unknown), the rows that waste least on a last
/// tile shifted inwards (7 pixels: 4 rows, not 6).
RegisterTile register_tile(const TargetSpec &target, int channel_extent, int row_extent = 0);

/// Where and how an accumulation tile runs.
struct AccumulationTiling {
    Placement placement = Placement::Root;
    LoopRef at, store;
    int tile_dim = 1;          ///< the dimension row tiles split: 1 (matrix rows, image columns) or 2 (image rows)
    int row_tile = 0;          ///< > 0: rows grouped into tiles of this height (all rows if larger), outermost
    bool parallel = true;      ///< parallel over row tiles (or the outermost dimension)
    bool panel_outer = false;  ///< channel panels outside the row blocks: a weight panel is reused across rows
    bool byte_dot = false;     ///< the accumulator's recorded fact (StageFacts::byte_dot): 4 products per lane
    int padded_channels = 0;   ///< the accumulator's recorded fact (StageFacts::padded_channels)
};

/// The loops of a scheduled Func that others are computed at: `tile` (one row tile; empty
/// when the Func has no row tiles) and `row` (one row inside a tile; empty where rows are
/// not a loop of their own).
struct TileLoops {
    std::string tile, row;
};

/// Whether the channel-panel loop of an accumulation goes outside its rows (all the rows of a
/// tile, or of the layer): when its weights (channels x reduction) overflow half of L2, the
/// rows loop inside a panel reads the panel from L2 instead of streaming every weight from
/// memory once per row (ResNet-18's last 3x3 convolutions: 9.4 MB of weights on a 7x7
/// image), provided the input rows and one panel fit in the other half.
bool weight_panels_outside_rows(const Halide::Func &acc, const Shape &shape, const TargetSpec &target,
                                const AccumulationTiling &tiling, int tile_rows);

/// Tiles `epilogue` (dims: channels, rows, outer...) into register tiles and computes `acc`
/// per tile, so its accumulators stay in registers across the whole reduction.
TileLoops schedule_accumulation_tiles(Schedule &s, const Halide::Func &epilogue, const Halide::Func &acc,
                                      const Shape &shape, const TargetSpec &target, const AccumulationTiling &tiling);

/// A section root without an accumulation: dimension `dim` split into tiles of `rows`
/// (outermost, parallel if asked), the innermost dimension vectorized.
TileLoops schedule_row_tiles(Schedule &s, const Halide::Func &f, const Shape &shape, const TargetSpec &target, int dim,
                             int rows, bool parallel);

/// Vectorizes every stage of `f` over its innermost dimension (update stages with the
/// reduction loops outside it); no placement or parallelism.
void vectorize_stages(FuncSchedule &fs, const Halide::Func &f, const Shape &shape, const TargetSpec &target);

}  // namespace megalide::strategies
