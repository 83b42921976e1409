// MobileNetV2's inverted residual block (DESIGN.md's B1 and B5), algorithm only:
//   1x1 expand + ReLU6 -> 3x3 depthwise (stride 1 or 2, pad 1) + ReLU6 -> 1x1 project
//   (+ the input when stride is 1 and the channel counts match).
// Batch norms are assumed folded into the convolutions' biases, as exporters do.
#pragma once

#include <string>

#include "megalide/tensor.h"

namespace megalide::blocks {

struct InvertedResidualWeights {
    Tensor expand_w, expand_b;    ///< (hidden, cin), (hidden)
    Tensor dw_w, dw_b;            ///< (hidden, 3, 3), (hidden)
    Tensor project_w, project_b;  ///< (cout, hidden), (cout)
};

/// The Funcs of the block, by role, so a schedule can address them.
struct InvertedResidual {
    Tensor expand, expand_act, depthwise, depthwise_act, project, output;
};

/// input (cin, W, H, N). Stage Funcs are named "<name>_expand", "<name>_dw", ... and the
/// block's output "<name>".
InvertedResidual inverted_residual(const std::string &name, const Tensor &input,
                                   const InvertedResidualWeights &w, int stride);

}  // namespace megalide::blocks
