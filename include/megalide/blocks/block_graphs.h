// DESIGN.md's benchmark blocks as Graphs built with the C++ builder, weights as graph inputs:
// what the block generators (generators/) compile, so an application passes its own weights.
// Ops and shapes follow PyTorch's ONNX export of the same modules (apps/bench/blocks.py):
// NCHW activations, Conv weights (out, in/groups, kh, kw), Linear weights as MatMul's
// (in, out) operand. Input order: the activation first, then each layer's weights and bias
// in the order the block applies them. Graph names are C identifiers, so they serve as
// Generator argument names.
#pragma once

#include "megalide/graph/graph.h"

namespace megalide::blocks {

struct InvertedResidualShape {
    int cin = 24, hidden = 144, cout = 24, height = 56, width = 56, stride = 1;
};

/// B1 (defaults) and B5 (16 -> 96 -> 24 at 112x112, stride 2): 1x1 expand + ReLU6, 3x3
/// depthwise (pad 1) + ReLU6, 1x1 project, + input when stride is 1 and cin == cout.
/// Inputs: x, expand_w, expand_b, dw_w, dw_b, project_w, project_b; output y.
Graph inverted_residual_graph(const InvertedResidualShape &s);

/// Q1: B1 quantized (DESIGN.md): uint8 activations, int8 weights per output channel
/// (symmetric, zero point 0), int32 biases at input scale x weight scale; ReLU6 as a clamp
/// of the quantized output, the residual as QLinearAdd. Every quantization parameter is an
/// input, so the application supplies its calibration. Inputs, in order:
///   x, x_scale, x_zero_point,
///   expand_w, expand_w_scale, expand_b, expand_scale, expand_zero_point,
///   dw_w, dw_w_scale, dw_b, dw_scale, dw_zero_point,
///   project_w, project_w_scale, project_b, project_scale, project_zero_point,
///   y_scale, y_zero_point
/// (x uint8 (1, cin, H, W); *_w int8 as B1's weights; *_w_scale float32 (channels); *_b int32
/// (channels); scales float32 scalars; zero points uint8 scalars). Output y: uint8, as x.
Graph quantized_inverted_residual_graph(const InvertedResidualShape &s);

/// B2: relu(x + conv3x3(relu(conv3x3(x)))), `channels` in and out, pad 1.
/// Inputs: x, conv1_w, conv1_b, conv2_w, conv2_b; output y.
Graph resnet_basic_block_graph(int channels = 64, int height = 56, int width = 56);

/// B3: x + fc2(gelu(fc1(layernorm(x)))), x (1, tokens, d), hidden features in between.
/// Inputs: x, ln_gamma, ln_beta, fc1_w, fc1_b, fc2_w, fc2_b; output y.
Graph transformer_mlp_graph(int d = 512, int hidden = 2048, int tokens = 256);

/// B4: x + out(attention(qkv(layernorm(x)))) with `heads` heads of d / heads features,
/// scores scaled by 1/sqrt(d / heads), softmax over keys.
/// Inputs: x, ln_gamma, ln_beta, qkv_w, qkv_b, out_w, out_b; output y.
Graph attention_graph(int d = 512, int heads = 8, int tokens = 256);

}  // namespace megalide::blocks
