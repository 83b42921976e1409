// Fuzz harness: the bytes choose the quantization parameters of a small QDQ graph —
// DequantizeLinear on the activation and the weights, one float op (Conv, MatMul, Gemm or
// Add) with an optional bias and Relu, QuantizeLinear on its result, optionally requantized —
// which then goes through infer_shapes, the default rewrites (fold_qdq, fold_requantize...)
// and lower(). Scales are raw float bits (NaN, infinities, negatives, denormals), zero points
// any of four types, per-tensor or per-axis with a count that may not match, any axis.
// A wrong parameter must be a megalide::Error; nothing is compiled or run.
//
// Byte layout (reads past the end give 0): op, shapes, then each parameter as
// (dtype choice, count choice, values...). See build_graph().
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "megalide/error.h"
#include "megalide/graph/graph.h"

namespace {

using megalide::Attribute;
using megalide::DType;
using megalide::Graph;
using megalide::HostArray;
using megalide::fuzz::ByteReader;
using Dims = std::vector<int64_t>;

// A constant of `count` entries (0: a scalar) of `dtype`, the values read from the input.
// Integer values always fit the type (a byte or four, reinterpreted); floats are raw bits.
HostArray constant(ByteReader &in, DType dtype, int64_t count) {
    const Dims shape = count == 0 ? Dims{} : Dims{count};
    std::vector<double> v(static_cast<size_t>(count == 0 ? 1 : count));
    for (double &x : v) {
        switch (dtype) {
        case DType::UInt8: x = in.u8(); break;
        case DType::Int8: x = static_cast<int8_t>(in.u8()); break;
        case DType::Int32: x = static_cast<int32_t>(in.u32()); break;
        default: x = in.raw_float(); break;
        }
    }
    return HostArray::from_doubles(dtype, shape, v);
}

// How many entries a scale or zero point has: mostly a scalar, one or the axis' extent.
int64_t param_count(ByteReader &in, int64_t channels) {
    switch (in.pick(5)) {
    case 0:
    case 1: return 0;
    case 2: return channels;
    case 3: return 1;
    default: return in.pick(6);
    }
}

// A scale: float32 mostly, sometimes float64 (which megalide must refuse).
void add_scale(Graph &g, ByteReader &in, const std::string &name, int64_t channels) {
    const DType t = in.pick(8) == 7 ? DType::Float64 : DType::Float32;
    g.add_constant(name, constant(in, t, param_count(in, channels)));
}

// A zero point of the quantized type `type` mostly, sometimes another; "" when omitted.
std::string add_zero_point(Graph &g, ByteReader &in, const std::string &name, DType type, int64_t channels) {
    const DType kinds[] = {type, type, type, DType::UInt8, DType::Int8, DType::Int32, DType::Float32};
    const int k = in.pick(8);
    if (k == 7) return "";
    g.add_constant(name, constant(in, kinds[k], param_count(in, channels)));
    return name;
}

// q -> DequantizeLinear with fuzzed parameters; per-axis along a fuzzed axis.
std::string dequantize(Graph &g, ByteReader &in, const std::string &q, DType type, int64_t channels) {
    const std::string p = q + "_";
    add_scale(g, in, p + "scale", channels);
    const std::string zp = add_zero_point(g, in, p + "zero_point", type, channels);
    std::map<std::string, Attribute> attrs;
    if (in.pick(2)) attrs["axis"] = Attribute::of(int64_t{static_cast<int8_t>(in.u8()) % 6});
    g.add_node("DequantizeLinear", {q, p + "scale", zp}, {p + "dq"}, attrs);
    return p + "dq";
}

// An 8-bit activation input x or weights w (constant, values from the input).
std::string quantized_operand(Graph &g, ByteReader &in, const std::string &name, const Dims &shape, bool is_constant,
                              DType type) {
    if (!is_constant) {
        g.add_input(name, type, shape);
        return name;
    }
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<double> v(static_cast<size_t>(n));
    for (double &x : v) x = type == DType::Int8 ? static_cast<int8_t>(in.u8()) : in.u8();
    g.add_constant(name, HostArray::from_doubles(type, shape, v));
    return name;
}

Graph build_graph(ByteReader &in) {
    Graph g;
    g.name = "quant_fuzz";
    const int op = in.pick(4);  // Conv, MatMul, Gemm, Add
    const DType act = in.pick(4) == 0 ? DType::Int8 : DType::UInt8;
    const DType wt = in.pick(4) == 0 ? DType::UInt8 : DType::Int8;
    const int64_t c = 1 + in.pick(4), k = 1 + in.pick(4), h = 1 + in.pick(6), w = 1 + in.pick(6);
    std::string y;
    if (op == 0) {
        const int64_t kh = 1 + in.pick(3), kw = 1 + in.pick(3);
        const std::string x = dequantize(g, in, quantized_operand(g, in, "x", {1, c, h, w}, false, act), act, c);
        const std::string wq = quantized_operand(g, in, "w", {k, c, kh, kw}, true, wt);
        const std::string wf = dequantize(g, in, wq, wt, k);
        std::vector<std::string> inputs = {x, wf};
        if (in.pick(3) == 1) {
            g.add_constant("b", constant(in, DType::Float32, k));
            inputs.push_back("b");
        } else if (in.pick(2) == 1) {
            g.add_constant("b_q", constant(in, DType::Int32, k));
            inputs.push_back(dequantize(g, in, "b_q", DType::Int32, k));
        }
        const int64_t p = in.pick(2);
        g.add_node("Conv", inputs, {"y"},
                   {{"kernel_shape", Attribute::of(Dims{kh, kw})}, {"pads", Attribute::of(Dims{p, p, p, p})}}, "conv");
        y = "y";
    } else if (op == 1 || op == 2) {
        const std::string x = dequantize(g, in, quantized_operand(g, in, "x", {h, c}, false, act), act, c);
        const std::string wf = dequantize(g, in, quantized_operand(g, in, "w", {c, k}, true, wt), wt, k);
        std::vector<std::string> inputs = {x, wf};
        if (op == 2 && in.pick(2)) {
            g.add_constant("b", constant(in, DType::Float32, k));
            inputs.push_back("b");
        }
        g.add_node(op == 1 ? "MatMul" : "Gemm", inputs, {"y"}, {}, "matmul");
        y = "y";
    } else {
        const std::string a = dequantize(g, in, quantized_operand(g, in, "a", {1, c, h, w}, false, act), act, c);
        const std::string b = dequantize(g, in, quantized_operand(g, in, "b", {1, c, h, w}, in.pick(2) == 1, act), act, c);
        g.add_node("Add", {a, b}, {"y"}, {}, "add");
        y = "y";
    }
    if (in.pick(2)) {
        g.add_node("Relu", {y}, {"y_relu"}, {}, "relu");
        y = "y_relu";
    }
    // The output quantization; per-axis along the channel axis (1) when it has a count.
    add_scale(g, in, "y_scale", op == 0 || op == 3 ? c : k);
    const std::string yzp = add_zero_point(g, in, "y_zero_point", act, op == 0 || op == 3 ? c : k);
    g.add_node("QuantizeLinear", {y, "y_scale", yzp}, {"yq"}, {}, "quantize");
    std::string out = "yq";
    if (in.pick(3) == 0) {
        // Requantize: dequantize with one set of parameters, quantize with another.
        const std::string f = dequantize(g, in, "yq", act, op == 0 || op == 3 ? c : k);
        add_scale(g, in, "out_scale", 1);
        const std::string ozp = add_zero_point(g, in, "out_zero_point", act, 1);
        g.add_node("QuantizeLinear", {f, "out_scale", ozp}, {"out"}, {}, "requantize");
        out = "out";
    }
    g.add_output(out);
    return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ByteReader in(data, size);
    try {
        Graph g = build_graph(in);
        g.limits.max_memory = megalide::fuzz::kMaxMemory;
        g.sort();
        g.infer_shapes();
        megalide::fuzz::rewrite_and_lower(g);
    } catch (const megalide::Error &) {
        // The expected answer to a bad quantization parameter.
    } catch (...) {
        megalide::fuzz::fail_on_unexpected_exception("quant");
    }
    return 0;
}
