// Pooling over the spatial dimensions of channels-innermost activations ((c, x, n),
// (c, x, y, n), (c, x, y, z, n)): windows (MaxPool with its optional Indices, AveragePool)
// and whole images (GlobalAveragePool, GlobalMaxPool).
#include "megalide/ops/registry.h"

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

// A 2-D pooling node's window (attributes normalized by shape inference).
layers::Pool2DParams pool_params(const Node &n) {
    const Dims k = n.get_ints("kernel_shape", {}), s = n.get_ints("strides", {}), d = n.get_ints("dilations", {}),
               p = n.get_ints("pads", {});
    layers::Pool2DParams params;
    params.kernel_y = static_cast<int>(k[0]), params.kernel_x = static_cast<int>(k[1]);
    params.stride_y = static_cast<int>(s[0]), params.stride_x = static_cast<int>(s[1]);
    params.dilation_y = static_cast<int>(d[0]), params.dilation_x = static_cast<int>(d[1]);
    params.pad_top = static_cast<int>(p[0]), params.pad_left = static_cast<int>(p[1]);
    params.pad_bottom = static_cast<int>(p[2]), params.pad_right = static_cast<int>(p[3]);
    params.ceil_mode = n.get_int("ceil_mode", 0) != 0;
    params.count_include_pad = n.get_int("count_include_pad", 0) != 0;
    return params;
}

namespace {

using K = Attribute::Kind;

// The window of a pooling node along Halide spatial dimension `i` (x = 0): ONNX's spatial
// axis spatial - 1 - i (attributes normalized by shape inference).
layers::PoolWindow pool_window(const Node &n, size_t i) {
    const Dims k = n.get_ints("kernel_shape", {}), s = n.get_ints("strides", {}),
               d = n.get_ints("dilations", {}), p = n.get_ints("pads", {});
    const size_t spatial = k.size(), a = spatial - 1 - i;
    return {static_cast<int>(k[a]), static_cast<int>(s[a]), static_cast<int>(p[a]),
            static_cast<int>(p[a + spatial]), static_cast<int>(d[a])};
}

layers::Pool1DParams pool1d_params(const Node &n) {
    layers::Pool1DParams params;
    params.x = pool_window(n, 0);
    params.ceil_mode = n.get_int("ceil_mode", 0) != 0;
    params.count_include_pad = n.get_int("count_include_pad", 0) != 0;
    return params;
}

layers::Pool3DParams pool3d_params(const Node &n) {
    layers::Pool3DParams params;
    params.x = pool_window(n, 0), params.y = pool_window(n, 1), params.z = pool_window(n, 2);
    params.ceil_mode = n.get_int("ceil_mode", 0) != 0;
    params.count_include_pad = n.get_int("count_include_pad", 0) != 0;
    return params;
}

// The node's window layer for the rank of x (3: 1-D, 4: 2-D, 5: 3-D), named `name`.
Tensor pool_layer(const Node &n, const std::string &name, const Tensor &x) {
    const bool is_max = n.op == "MaxPool";
    if (x.rank() == 3) {
        const layers::Pool1DParams p = pool1d_params(n);
        return is_max ? layers::max_pool1d(name, x, p) : layers::avg_pool1d(name, x, p);
    }
    if (x.rank() == 5) {
        const layers::Pool3DParams p = pool3d_params(n);
        return is_max ? layers::max_pool3d(name, x, p) : layers::avg_pool3d(name, x, p);
    }
    const layers::Pool2DParams p = pool_params(n);
    return is_max ? layers::max_pool2d(name, x, p) : layers::avg_pool2d(name, x, p);
}

// MaxPool with its Indices output: one argmax reduction defines both outputs, of any element
// type (no float round trip).
void lower_max_pool_with_indices(Lowerer &L, const Node &n, const Tensor &x) {
    const std::vector<int> layout = channels_innermost_layout(x.rank());
    const layers::IndexOrder order = n.get_int("storage_order", 0) == 1
                                         ? layers::IndexOrder::ColumnMajor
                                         : layers::IndexOrder::RowMajor;
    const std::string name = L.stage(n), indices_name = L.func_name(n.outputs[1]);
    layers::PoolWithIndices out;
    if (x.rank() == 3) {
        out = layers::max_pool1d_with_indices(name, indices_name, x, pool1d_params(n));
    } else if (x.rank() == 5) {
        out = layers::max_pool3d_with_indices(name, indices_name, x, pool3d_params(n), order);
    } else {
        out = layers::max_pool2d_with_indices(name, indices_name, x, pool_params(n), order);
    }
    L.define(n, out.values, layout);
    L.values_[n.outputs[1]] = {out.indices, layout};
}

void lower_pool(Lowerer &L, const Node &n) {
    const int rank = static_cast<int>(L.info(n.input(0)).shape.size());
    Tensor x = L.as_layout(L.get(n.input(0)), channels_innermost_layout(rank)).t;
    if (n.outputs.size() > 1 && !n.outputs[1].empty()) {
        lower_max_pool_with_indices(L, n, x);
        return;
    }
    if (!x.type.is_float()) {
        if (n.op != "MaxPool") L.fail(n, "average pooling needs a float input");
        // Integer max pooling: pool in float (exact for 8-bit values), cast back.
        Tensor xf = layers::map_elements("cast", L.stage(n) + "_f32", x,
                                         [](Expr v) { return Halide::cast<float>(v); });
        Tensor pooled = pool_layer(n, L.stage(n) + "_pool", xf);
        Tensor back = layers::map_elements("cast", L.stage(n), pooled,
                                           [&](Expr v) { return Halide::cast(x.type, v); });
        back.type = x.type;
        L.define(n, back, channels_innermost_layout(rank));
        return;
    }
    L.define(n, pool_layer(n, L.stage(n), x), channels_innermost_layout(rank));
}

void lower_global_pool(Lowerer &L, const Node &n) {
    const std::string &op = n.op;
    const std::string name = L.stage(n);
    L.float_only(n);
    const int rank = static_cast<int>(L.info(n.input(0)).shape.size());
    Tensor x = L.as_layout(L.get(n.input(0)), channels_innermost_layout(rank)).t;
    L.define(n,
             op == "GlobalMaxPool" ? layers::global_max_pool(name, x)
                                   : layers::global_avg_pool(name, x),
             channels_innermost_layout(rank));
}

void infer_pool(Graph &g, Node &n) {
    const Value &x = input(g, n, 0);
    if (x.shape.size() < 3 || x.shape.size() > 5) {
        fail(n, "1-D, 2-D and 3-D pooling are supported (rank 3 to 5), input " + dims_str(x.shape));
    }
    if (!n.has("kernel_shape")) fail(n, "kernel_shape is required");
    const int64_t storage_order = n.get_int("storage_order", 0);
    if (storage_order != 0 && storage_order != 1)
        fail(n, "storage_order must be 0 or 1, got " + std::to_string(storage_order));
    Dims out = window_op(n, x.shape, n.get_ints("kernel_shape", {}), true);
    set_output(g, n, 0, x.dtype, out);
    set_output(g, n, 1, DType::Int64, out);  // MaxPool's optional Indices
}

void infer_global_pool(Graph &g, Node &n) {
    const Value &x = input(g, n, 0);
    if (x.shape.size() < 3)
        fail(n, "input must be (N, C, spatial...) of rank >= 3, got " + dims_str(x.shape));
    Dims out(x.shape.size(), 1);
    out[0] = x.shape[0], out[1] = x.shape[1];
    set_output(g, n, 0, x.dtype, out);
}

const std::vector<AttributeSpec> kPoolAttributes = {
    {"kernel_shape", K::Ints, "the window (required)"},
    {"strides", K::Ints, "default 1 per spatial axis"},
    {"pads", K::Ints, "begin and end per spatial axis, default 0"},
    {"auto_pad", K::String, "NOTSET (default), SAME_UPPER, SAME_LOWER or VALID"},
    {"ceil_mode", K::Int, "1: a last partial window counts (default 0)"},
};

}  // namespace

void register_pool_ops(std::vector<OpDef> &ops) {
    OpDef max_pool;
    max_pool.name = "MaxPool";
    max_pool.summary =
        "1-D, 2-D and 3-D max pooling with its optional int64 Indices; 8-bit inputs pool exactly";
    max_pool.attributes = kPoolAttributes;
    max_pool.attributes.push_back({"dilations", K::Ints, "default 1 per spatial axis"});
    max_pool.attributes.push_back(
        {"storage_order", K::Int, "Indices' spatial order: 0 row major (default), 1 column major"});
    max_pool.infer = infer_pool;
    max_pool.lower = lower_pool;
    max_pool.quantized = QuantizedForm::PassThrough;
    ops.push_back(max_pool);

    OpDef avg_pool;
    avg_pool.name = "AveragePool";
    avg_pool.summary = "1-D, 2-D and 3-D average pooling, float";
    avg_pool.attributes = kPoolAttributes;
    avg_pool.attributes.push_back({"count_include_pad", K::Int, "1: padding counts in the divisor (default 0)"});
    avg_pool.infer = infer_pool;
    avg_pool.lower = lower_pool;
    avg_pool.quantized = QuantizedForm::Requantizing;  // com.microsoft QLinearAveragePool
    ops.push_back(avg_pool);

    OpDef global_avg;
    global_avg.name = "GlobalAveragePool";
    global_avg.summary = "mean over the spatial dimensions (any rank >= 3), float";
    global_avg.infer = infer_global_pool;
    global_avg.lower = lower_global_pool;
    global_avg.quantized = QuantizedForm::Requantizing;  // com.microsoft QLinearGlobalAveragePool
    ops.push_back(global_avg);

    OpDef global_max = global_avg;
    global_max.name = "GlobalMaxPool";
    global_max.summary = "max over the spatial dimensions (any rank >= 3), float";
    global_max.quantized = QuantizedForm::PassThrough;
    ops.push_back(global_max);
}

}  // namespace megalide::ops
