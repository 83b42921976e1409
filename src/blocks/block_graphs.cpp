#include "megalide/blocks/block_graphs.h"

#include <cmath>

namespace megalide::blocks {

namespace {

using Dims = std::vector<int64_t>;

void add_scalar(Graph &g, const std::string &name, float v) { g.add_constant(name, HostArray::from_floats({}, {v})); }
void add_ints(Graph &g, const std::string &name, const Dims &v) {
    g.add_constant(name, HostArray::from_int64s({static_cast<int64_t>(v.size())}, v));
}

std::map<std::string, Attribute> conv_attrs(int64_t k, int64_t stride, int64_t group) {
    const int64_t p = k / 2;
    return {{"kernel_shape", Attribute::of(Dims{k, k})},
            {"strides", Attribute::of(Dims{stride, stride})},
            {"pads", Attribute::of(Dims{p, p, p, p})},
            {"group", Attribute::of(group)}};
}

// x @ w + b for Linear weights w (in, out): MatMul then Add, as PyTorch exports them.
void linear(Graph &g, const std::string &x, const std::string &prefix, int64_t in, int64_t out, const std::string &y) {
    g.add_input(prefix + "_w", DType::Float32, {in, out});
    g.add_input(prefix + "_b", DType::Float32, {out});
    g.add_node("MatMul", {x, prefix + "_w"}, {prefix + "_mm"}, {}, prefix);
    g.add_node("Add", {prefix + "_mm", prefix + "_b"}, {y}, {}, prefix + "_bias");
}

void layernorm(Graph &g, const std::string &x, int64_t d, const std::string &y) {
    g.add_input("ln_gamma", DType::Float32, {d});
    g.add_input("ln_beta", DType::Float32, {d});
    g.add_node("LayerNormalization", {x, "ln_gamma", "ln_beta"}, {y}, {{"axis", Attribute::of(int64_t{-1})}, {"epsilon", Attribute::of(1e-5)}},
               "ln");
}

Graph finish(Graph g, const std::string &name) {
    g.name = name;
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    return g;
}

}  // namespace

Graph inverted_residual_graph(const InvertedResidualShape &s) {
    Graph g;
    g.add_input("x", DType::Float32, {1, s.cin, s.height, s.width});
    g.add_input("expand_w", DType::Float32, {s.hidden, s.cin, 1, 1});
    g.add_input("expand_b", DType::Float32, {s.hidden});
    g.add_input("dw_w", DType::Float32, {s.hidden, 1, 3, 3});
    g.add_input("dw_b", DType::Float32, {s.hidden});
    g.add_input("project_w", DType::Float32, {s.cout, s.hidden, 1, 1});
    g.add_input("project_b", DType::Float32, {s.cout});
    add_scalar(g, "relu6_min", 0.0f);
    add_scalar(g, "relu6_max", 6.0f);
    const bool residual = s.stride == 1 && s.cin == s.cout;
    g.add_node("Conv", {"x", "expand_w", "expand_b"}, {"expanded"}, conv_attrs(1, 1, 1), "expand");
    g.add_node("Clip", {"expanded", "relu6_min", "relu6_max"}, {"expanded6"}, {}, "expand_relu6");
    g.add_node("Conv", {"expanded6", "dw_w", "dw_b"}, {"filtered"}, conv_attrs(3, s.stride, s.hidden), "dw");
    g.add_node("Clip", {"filtered", "relu6_min", "relu6_max"}, {"filtered6"}, {}, "dw_relu6");
    g.add_node("Conv", {"filtered6", "project_w", "project_b"}, {residual ? "projected" : "y"}, conv_attrs(1, 1, 1), "project");
    if (residual) g.add_node("Add", {"x", "projected"}, {"y"}, {}, "residual");
    return finish(std::move(g), s.stride == 1 ? "inverted_residual" : "inverted_residual_s2");
}

Graph quantized_inverted_residual_graph(const InvertedResidualShape &s) {
    Graph g;
    const bool residual = s.stride == 1 && s.cin == s.cout;
    g.add_input("x", DType::UInt8, {1, s.cin, s.height, s.width});
    g.add_input("x_scale", DType::Float32, {});
    g.add_input("x_zero_point", DType::UInt8, {});
    // One quantized convolution: its weights, weight scales and bias, then its output's
    // scale and zero point; the weights' zero points are 0 (symmetric int8).
    auto conv = [&](const std::string &layer, const std::string &in, const std::vector<int64_t> &w_shape,
                    std::map<std::string, Attribute> attrs, bool relu6) {
        const int64_t cout = w_shape[0];
        g.add_input(layer + "_w", DType::Int8, w_shape);
        g.add_input(layer + "_w_scale", DType::Float32, {cout});
        g.add_input(layer + "_b", DType::Int32, {cout});
        g.add_input(layer + "_scale", DType::Float32, {});
        g.add_input(layer + "_zero_point", DType::UInt8, {});
        g.add_constant(layer + "_w_zero_point", HostArray::from_doubles(DType::Int8, {cout}, std::vector<double>(static_cast<size_t>(cout), 0.0)));
        if (relu6) {
            attrs["activation"] = Attribute::of(std::string("Clip"));
            attrs["activation_min"] = Attribute::of(0.0);
            attrs["activation_max"] = Attribute::of(6.0);
        }
        const std::string out = layer == "project" && !residual ? "y" : layer;  // also the stem of its scale's name
        g.add_node(relu6 ? "com.megalide.FusedQLinearConv" : "QLinearConv",
                   {in, in + "_scale", in + "_zero_point", layer + "_w", layer + "_w_scale", layer + "_w_zero_point", layer + "_scale",
                    layer + "_zero_point", layer + "_b"},
                   {out}, attrs, layer);
        return out;
    };
    const std::string e = conv("expand", "x", {s.hidden, s.cin, 1, 1}, conv_attrs(1, 1, 1), true);
    const std::string d = conv("dw", e, {s.hidden, 1, 3, 3}, conv_attrs(3, s.stride, s.hidden), true);
    conv("project", d, {s.cout, s.hidden, 1, 1}, conv_attrs(1, 1, 1), false);
    if (residual) {
        g.add_input("y_scale", DType::Float32, {});
        g.add_input("y_zero_point", DType::UInt8, {});
        g.add_node("com.microsoft.QLinearAdd", {"x", "x_scale", "x_zero_point", "project", "project_scale", "project_zero_point", "y_scale", "y_zero_point"},
                   {"y"}, {}, "residual");
    }
    return finish(std::move(g), s.stride == 1 ? "quantized_inverted_residual" : "quantized_inverted_residual_s2");
}

Graph resnet_basic_block_graph(int channels, int height, int width) {
    Graph g;
    const int64_t c = channels;
    g.add_input("x", DType::Float32, {1, c, height, width});
    for (const char *conv : {"conv1", "conv2"}) {
        g.add_input(std::string(conv) + "_w", DType::Float32, {c, c, 3, 3});
        g.add_input(std::string(conv) + "_b", DType::Float32, {c});
    }
    g.add_node("Conv", {"x", "conv1_w", "conv1_b"}, {"h1"}, conv_attrs(3, 1, 1), "conv1");
    g.add_node("Relu", {"h1"}, {"h1r"}, {}, "relu1");
    g.add_node("Conv", {"h1r", "conv2_w", "conv2_b"}, {"h2"}, conv_attrs(3, 1, 1), "conv2");
    g.add_node("Add", {"x", "h2"}, {"sum"}, {}, "residual");
    g.add_node("Relu", {"sum"}, {"y"}, {}, "relu2");
    return finish(std::move(g), "resnet_basic_block");
}

Graph transformer_mlp_graph(int d, int hidden, int tokens) {
    Graph g;
    g.add_input("x", DType::Float32, {1, tokens, d});
    layernorm(g, "x", d, "normed");
    linear(g, "normed", "fc1", d, hidden, "h");
    g.add_node("com.megalide.Gelu", {"h"}, {"hg"}, {{"approximate", Attribute::of(std::string("none"))}}, "gelu");
    linear(g, "hg", "fc2", hidden, d, "mlp");
    g.add_node("Add", {"x", "mlp"}, {"y"}, {}, "residual");
    return finish(std::move(g), "transformer_mlp");
}

Graph attention_graph(int d, int heads, int tokens) {
    Graph g;
    const int64_t hd = d / heads, t = tokens;
    g.add_input("x", DType::Float32, {1, t, d});
    layernorm(g, "x", d, "normed");
    linear(g, "normed", "qkv", d, 3 * d, "qkv");
    add_ints(g, "axis2", {2});
    add_ints(g, "heads_shape", {1, t, heads, hd});
    add_ints(g, "merged_shape", {1, t, d});
    // q, k, v: columns [0, d), [d, 2d), [2d, 3d) of the projection, split into heads.
    const char *parts[] = {"q", "k", "v"};
    for (int i = 0; i < 3; ++i) {
        const std::string p = parts[i];
        add_ints(g, p + "_start", {i * d});
        add_ints(g, p + "_end", {(i + 1) * d});
        g.add_node("Slice", {"qkv", p + "_start", p + "_end", "axis2"}, {p + "_cols"}, {}, p + "_slice");
        g.add_node("Reshape", {p + "_cols", "heads_shape"}, {p + "_heads"}, {}, p + "_split_heads");
        const Dims perm = p == "k" ? Dims{0, 2, 3, 1} : Dims{0, 2, 1, 3};  // k is read transposed
        g.add_node("Transpose", {p + "_heads"}, {p + "_t"}, {{"perm", Attribute::of(perm)}}, p + "_transpose");
    }
    add_scalar(g, "scale", std::sqrt(static_cast<float>(hd)));
    g.add_node("MatMul", {"q_t", "k_t"}, {"scores"}, {}, "qk");
    g.add_node("Div", {"scores", "scale"}, {"scaled"}, {}, "scale_scores");
    g.add_node("Softmax", {"scaled"}, {"probs"}, {{"axis", Attribute::of(int64_t{-1})}}, "softmax");
    g.add_node("MatMul", {"probs", "v_t"}, {"context"}, {}, "pv");
    g.add_node("Transpose", {"context"}, {"context_t"}, {{"perm", Attribute::of(Dims{0, 2, 1, 3})}}, "merge_transpose");
    g.add_node("Reshape", {"context_t", "merged_shape"}, {"merged"}, {}, "merge_heads");
    linear(g, "merged", "out", d, d, "attn");
    g.add_node("Add", {"x", "attn"}, {"y"}, {}, "residual");
    return finish(std::move(g), "attention");
}

}  // namespace megalide::blocks
