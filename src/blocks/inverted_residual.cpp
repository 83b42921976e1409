#include "megalide/blocks/inverted_residual.h"

#include "megalide/error.h"
#include "megalide/layers.h"

namespace megalide::blocks {

InvertedResidual inverted_residual(const std::string &name, const Tensor &input,
                                   const InvertedResidualWeights &w, int stride) {
    if (stride != 1 && stride != 2) {
        throw Error("inverted_residual '" + name + "': stride must be 1 or 2, got " +
                    std::to_string(stride));
    }
    InvertedResidual b;
    b.expand = layers::pointwise_conv2d(name + "_expand", input, w.expand_w, w.expand_b);
    b.expand_act = layers::relu6(name + "_expand_relu6", b.expand);
    layers::Conv2DParams dw;
    dw.stride_x = dw.stride_y = stride;
    dw.pad_left = dw.pad_right = dw.pad_top = dw.pad_bottom = 1;
    b.depthwise = layers::depthwise_conv2d(name + "_dw", b.expand_act, w.dw_w, w.dw_b, dw);
    b.depthwise_act = layers::relu6(name + "_dw_relu6", b.depthwise);
    const bool residual = stride == 1 && w.project_w.dim(0) == input.dim(0);
    b.project = layers::pointwise_conv2d(residual ? name + "_project" : name, b.depthwise_act,
                                         w.project_w, w.project_b);
    b.output = residual ? layers::add(name, b.project, input) : b.project;
    return b;
}

}  // namespace megalide::blocks
