// Pooling over activations indexed (c, x, y, n). Funcs only, no schedule.
#pragma once

#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

/// Window geometry, as ONNX MaxPool / AveragePool.
struct Pool2DParams {
    int kernel_x = 1, kernel_y = 1;
    int stride_x = 1, stride_y = 1;
    int pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;
    int dilation_x = 1, dilation_y = 1;  // max pooling only
    /// Output extent rounds up instead of down; as PyTorch (and ONNX opset >= 19), a window
    /// that would start inside the right/bottom padding is dropped.
    bool ceil_mode = false;
    /// Average pooling only: divide by the window size including padding (clipped to the
    /// padded input) instead of by the number of input elements in the window.
    bool count_include_pad = false;
};

/// Maximum over each window; padding never wins (it acts as -infinity).
Tensor max_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &params);

/// Mean over each window (see count_include_pad).
Tensor avg_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &params);

/// Mean over x and y: (C, W, H, N) -> (C, 1, 1, N).
Tensor global_avg_pool2d(const std::string &name, const Tensor &input);

/// Maximum over x and y: (C, W, H, N) -> (C, 1, 1, N).
Tensor global_max_pool2d(const std::string &name, const Tensor &input);

}  // namespace megalide::layers
