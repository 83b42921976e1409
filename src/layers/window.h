// Sliding-window helpers shared by convolution and pooling (activations (c, x, y, n), or
// (c, x, n) and (c, x, y, z, n) with one or three spatial dimensions).
#pragma once

#include <string>

#include "Halide.h"
#include "megalide/tensor.h"

namespace megalide::layers::detail {

/// A Func named `name`, indexed in the input's own coordinates (c, x[, y[, z]], n), equal to
/// `input` inside [0, W) x [0, H) x [0, D) and `outside` beyond it. Reads are clamped so
/// bounds inference never asks the input for pixels it does not have. `input` has rank 3 to
/// 5 (one to three spatial dimensions); for rank 4 the Func is the 2-D one schedules know.
/// Recorded as StageRole::Padding.
Halide::Func pad_spatial(const std::string &name, const Tensor &input, const Halide::Expr &outside);

struct WindowAxis {
    const char *axis;  // "x", "y" or "z", for messages
    int in_extent, pad_before, pad_after, kernel, stride, dilation;
};

/// Output extent of a sliding window along one axis; throws Error naming `label` when the
/// geometry is invalid (non-positive kernel/stride/dilation, negative pads, or a window
/// larger than the padded input). With ceil_mode a last window starting in the trailing
/// padding is dropped (PyTorch's rule).
int window_output_extent(const std::string &label, const WindowAxis &w, bool ceil_mode);

}  // namespace megalide::layers::detail
