// Pooling over channels-innermost activations: (c, x, n) for 1-D, (c, x, y, n) for 2-D and
// (c, x, y, z, n) for 3-D, x being ONNX's last spatial axis. Funcs only, no schedule.
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

/// A window along one spatial axis (1-D and 3-D pooling).
struct PoolWindow {
    int kernel = 1, stride = 1;
    int pad_before = 0, pad_after = 0;
    int dilation = 1;  // max pooling only
};

/// 1-D window geometry on (c, x, n); ceil_mode and count_include_pad as in Pool2DParams.
struct Pool1DParams {
    PoolWindow x;
    bool ceil_mode = false;
    bool count_include_pad = false;
};

/// 3-D window geometry on (c, x, y, z, n): x, y, z are ONNX's spatial axes 4, 3, 2 (W, H,
/// D of NCDHW); ceil_mode and count_include_pad as in Pool2DParams.
struct Pool3DParams {
    PoolWindow x, y, z;
    bool ceil_mode = false;
    bool count_include_pad = false;
};

/// How MaxPool's Indices flatten an input position (ONNX's storage_order).
enum class IndexOrder {
    RowMajor,     ///< storage_order 0: the input's NC(D)HW element number
    ColumnMajor,  ///< storage_order 1: batch and channel as row major, spatial axes column major
};

/// Max pooling's values and, for each, the int64 position of the maximum in the input.
struct PoolWithIndices {
    Tensor values;
    Tensor indices;
};

/// Maximum over each window; padding never wins (it acts as -infinity).
Tensor max_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &params);

/// Mean over each window (see count_include_pad).
Tensor avg_pool2d(const std::string &name, const Tensor &input, const Pool2DParams &params);

/// Mean over x and y: (C, W, H, N) -> (C, 1, 1, N).
Tensor global_avg_pool2d(const std::string &name, const Tensor &input);

/// Maximum over x and y: (C, W, H, N) -> (C, 1, 1, N).
Tensor global_max_pool2d(const std::string &name, const Tensor &input);

/// 1-D max / mean pooling on (c, x, n), float: the 2-D layer (`name`_2d) on the input
/// relabeled (c, x, 1, n) (`name`_in2d), relabeled back to rank 3.
Tensor max_pool1d(const std::string &name, const Tensor &input, const Pool1DParams &params);
Tensor avg_pool1d(const std::string &name, const Tensor &input, const Pool1DParams &params);

/// 3-D max pooling on (c, x, y, z, n) of any element type; padding never wins.
Tensor max_pool3d(const std::string &name, const Tensor &input, const Pool3DParams &params);

/// 3-D mean pooling on (c, x, y, z, n), float (see count_include_pad).
Tensor avg_pool3d(const std::string &name, const Tensor &input, const Pool3DParams &params);

/// Max pooling with ONNX MaxPool's Indices, of any element type: one Tuple reduction
/// `name`_argmax of (value, window element), the first maximum in window order (z, then y,
/// then x: NCHW order) winning ties, padding never taken, NaN kept once taken (as ONNX's
/// reference); `name` reads the values and `indices_name` the int64 positions
/// ((n * C + c) * spatial size + spatial position in `order`; -1 for a window over padding
/// only). The input must have fewer than 2^31 elements per (c, n) plane. 1-D goes through
/// 2-D on (c, x, 1, n) (`name`_2d), where both orders flatten alike, as ONNX's 1-D index.
PoolWithIndices max_pool1d_with_indices(const std::string &name, const std::string &indices_name,
                                        const Tensor &input, const Pool1DParams &params);
PoolWithIndices max_pool2d_with_indices(const std::string &name, const std::string &indices_name,
                                        const Tensor &input, const Pool2DParams &params,
                                        IndexOrder order);
PoolWithIndices max_pool3d_with_indices(const std::string &name, const std::string &indices_name,
                                        const Tensor &input, const Pool3DParams &params,
                                        IndexOrder order);

/// Mean / maximum over every dimension but channels (the first) and batch (the last), for
/// any rank >= 3: (C, S1, ..., N) -> (C, 1, ..., 1, N). Rank 4 is global_avg_pool2d /
/// global_max_pool2d.
Tensor global_avg_pool(const std::string &name, const Tensor &input);
Tensor global_max_pool(const std::string &name, const Tensor &input);

}  // namespace megalide::layers
