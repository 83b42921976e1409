// Sliding-window helpers shared by convolution and pooling (activations (c, x, y, n)).
#pragma once

#include <string>

#include "Halide.h"
#include "megalide/tensor.h"

namespace megalide::layers::detail {

/// A Func named `name`, indexed in the input's own coordinates, equal to `input` inside
/// [0, W) x [0, H) and `outside` beyond it. Reads are clamped so bounds inference never asks
/// the input for pixels it does not have.
Halide::Func pad_spatial(const std::string &name, const Tensor &input, const Halide::Expr &outside);

struct WindowAxis {
    const char *axis;  // "x" or "y", for messages
    int in_extent, pad_before, pad_after, kernel, stride, dilation;
};

/// Output extent of a sliding window along one axis; throws Error naming `label` when the
/// geometry is invalid (non-positive kernel/stride/dilation, negative pads, or a window
/// larger than the padded input). With ceil_mode a last window starting in the trailing
/// padding is dropped (PyTorch's rule).
int window_output_extent(const std::string &label, const WindowAxis &w, bool ceil_mode);

}  // namespace megalide::layers::detail
