// Lowering: a Graph becomes ONE Halide Pipeline built from the layer library.
//
// Boundary layout: every graph input and output is a dense buffer whose Halide shape is the
// ONNX shape reversed, i.e. exactly a C-order (NumPy) array; the pipeline declares these
// extents and strides (its parameters' and outputs' constraints), so they are constants in
// the generated code and checked on entry. Inside, 4-D activations live
// channels-innermost (c, x, y, n): Conv, pooling and BatchNormalization ask for it, and the
// conversions are pure index relabelings that Halide inlines away. Transpose is free: it
// only relabels which Halide dimension holds which ONNX axis.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Halide.h"
#include "megalide/graph/graph.h"
#include "megalide/layers/quantize.h"
#include "megalide/stage_role.h"
#include "megalide/target/target.h"
#include "megalide/tensor.h"

namespace megalide {

struct LoweredGraph {
    std::vector<std::string> input_names;    ///< graph inputs, in order
    std::vector<Halide::ImageParam> inputs;  ///< Halide shape = reversed ONNX shape
    std::vector<DType> input_dtypes;
    std::vector<std::vector<int64_t>> input_shapes;  ///< ONNX order
    std::vector<std::string> output_names;   ///< graph outputs, in order
    std::vector<Halide::Func> outputs;       ///< plain layout (reversed ONNX shape)
    std::vector<DType> output_dtypes;
    std::vector<std::vector<int64_t>> output_shapes;  ///< ONNX order
    /// Every node output's Func by value name (stage Funcs a schedule can address).
    std::map<std::string, Halide::Func> stages;
    /// For convolution, Gemm and MatMul stages: the stage's Func name -> the name of the Func
    /// accumulating its reduction (the stage itself is a pure epilogue: bias, activation).
    std::map<std::string, std::string> accumulators;
    /// Halide-order extents of every stage, accumulator and output Func, by Func name.
    std::map<std::string, Shape> shapes;
    /// What every Func of the pipeline is for, recorded by the layers and the lowering when
    /// they made it, by Func name (stage_role.h). Schedulers read roles here.
    StageFactsMap facts;
    /// The record of `f` (an Intermediate with no facts if there is none).
    const StageFacts &facts_of(const Halide::Func &f) const;
    const StageFacts &facts_of(const std::string &func_name) const;
    Halide::Pipeline pipeline;
    /// The JIT-compiled pipeline (runtime/run.h: compile_jit()); calls through it are thread-safe, unlike
    /// Pipeline::realize, whose ImageParams are shared by every caller.
    std::shared_ptr<const Halide::Callable> callable;
};

struct LowerOptions {
    /// The parameters to read the graph inputs from, in graph order (e.g. a Generator's
    /// Input<Buffer<>>s converted to ImageParam); empty: lowering makes them ("in_<name>").
    /// Each must have the input's type and rank; lowering sets its extents and dense strides.
    std::vector<Halide::ImageParam> inputs;
    /// How int32 accumulators of quantized ops become 8-bit values (layers/quantize.h).
    layers::Requantization requantization = layers::Requantization::Onnx;
};

/// How int8 layers requantize on `target` unless asked otherwise: in fixed point where its
/// vectors have no float (HVX v66: float multipliers would make the layers scalar code), in
/// ONNX's float form elsewhere. `megalide run/compile --target`, the Python API and the
/// Generators all lower this way for a target.
layers::Requantization default_requantization(const TargetSpec &target);

/// Lowers `graph` (shapes inferred) to one pipeline. Throws Error naming the node for an
/// op or variant megalide cannot lower, or the input whose given parameter does not fit.
/// No schedule is applied.
LoweredGraph lower(const Graph &graph, const LowerOptions &options = {});

/// The region of every Func and input that computing the whole of every graph output reads, by
/// Halide name: per dimension, innermost first, {min, extent}. Found by Halide's bounds
/// inference over the definitions (src/schedule/footprint.h), so a padding stage's region
/// includes its border and a constant's is what is read of it. A Func read at data-dependent
/// indices (Gather) is absent.
std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> output_footprints(const LoweredGraph &lowered);

/// Halide's type for a DType (Bool is stored as uint8).
Halide::Type halide_type(DType dtype);

}  // namespace megalide
