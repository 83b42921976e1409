// Resizing (interpolation) of activations indexed (c, x, y, n), or of any tensor: each resized
// dimension maps an output index o to a source coordinate s(o) in the input (ONNX Resize's
// coordinate transformation), then the output reads the element nearest s(o) or interpolates
// linearly between the two elements around it; with several resized dimensions the
// interpolation is N-linear. Source coordinates, nearest indices and linear weights are
// computed on the host, in double, with the arithmetic of ONNX's reference implementation
// (onnx/reference/ops/op_resize.py), and become per-dimension tables the Func reads: an index
// never depends on how a code generator rounds a float expression. Funcs only, no schedule.
#pragma once

#include <string>
#include <vector>

#include "megalide/tensor.h"

namespace megalide::layers {

/// How an output index maps to a source coordinate (ONNX coordinate_transformation_mode).
/// With scale the resize factor of the dimension, in and out its extents:
enum class ResizeCoordinates {
    HalfPixel,         ///< (o + 0.5) / scale - 0.5
    PytorchHalfPixel,  ///< as HalfPixel, but -0.5 where scale * in == 1
    AlignCorners,      ///< o * (in - 1) / (scale * in - 1); 0 where scale * in == 1
    Asymmetric,        ///< o / scale
    TfHalfPixelForNN,  ///< (o + 0.5) / scale (ONNX opset 11 only)
};

/// How a source coordinate rounds to the nearest index (ONNX nearest_mode). An integral
/// coordinate is its own index in every mode.
enum class NearestRounding {
    RoundPreferFloor,  ///< the nearer index; at .5 the lower one
    RoundPreferCeil,   ///< the nearer index; at .5 the upper one
    Floor,
    Ceil,
};

enum class ResizeInterpolation { Nearest, Linear };

struct ResizeParams {
    ResizeInterpolation interpolation = ResizeInterpolation::Nearest;
    ResizeCoordinates coordinates = ResizeCoordinates::HalfPixel;
    NearestRounding rounding = NearestRounding::RoundPreferFloor;  ///< Nearest only
    /// The output's extents, innermost first as the input's shape.
    Shape out_shape;
    /// Per dimension, innermost first: the resize factor the coordinate transformation divides
    /// by, as ONNX gives it (a float32 scale widened to double) or derives it (out / in, in
    /// double). It is not always out / in: out is floor(in * scale).
    std::vector<double> scales;
};

/// The source coordinate of output index `o` along a dimension of `in_extent` elements resized
/// by `scale` (ONNX's reference arithmetic, in double).
double resize_source_coordinate(ResizeCoordinates mode, int o, double scale, int in_extent);

/// The input index read for source coordinate `s` by nearest interpolation, clamped to
/// [0, in_extent - 1] (ONNX's reference reads an edge-padded input).
int resize_nearest_index(double s, NearestRounding rounding, int in_extent);

/// Resizes `input` to params.out_shape. Nearest reads one element per output (any element
/// type); Linear blends the 2^k elements around the source point of the k resized dimensions
/// with float weights (floating-point inputs only; a float64 input blends in float64 with
/// float32-rounded weights). Dimensions whose index map is the identity are read as they are.
/// The output has the input's type.
Tensor resize(const std::string &name, const Tensor &input, const ResizeParams &params);

}  // namespace megalide::layers
