// Graph: the model IR between import and lowering. Tensors are named Values with an element
// type and a static shape in ONNX order (outermost first, e.g. NCHW); Nodes are operators with
// typed attributes, kept in topological order. Op types and attribute names follow ONNX;
// ops introduced by rewrites are documented in rewrite/rules.h.
#pragma once

#include <cstdint>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "megalide/dtype.h"
#include "megalide/host_array.h"

namespace megalide {

/// Affine quantization: real = scale * (q - zero_point), per tensor (one entry) or per
/// channel along `axis`.
struct QuantParams {
    std::vector<float> scales;
    std::vector<int32_t> zero_points;
    int axis = -1;
};

/// Throws Error starting with `what` unless `q` fits values of `type` with `channels` entries
/// along its axis: uint8/int8/int32 values; scales positive and finite; zero points inside
/// the type's range; one pair, or one per channel. Shape inference records QuantParams on
/// the outputs of quantizing ops whose parameters are constants (shown by Graph::dump).
void check_quant_params(const QuantParams &q, DType type, int64_t channels, const std::string &what);

struct Value {
    std::string name;
    DType dtype = DType::Float32;
    std::vector<int64_t> shape;  ///< ONNX order; meaningful once shape_known
    bool shape_known = false;
    std::optional<QuantParams> quant;
    std::shared_ptr<const HostArray> constant;  ///< set for initializers and folded values
};

struct Attribute {
    enum class Kind { Int, Float, String, Ints, Floats, Strings, Tensor };
    Kind kind = Kind::Int;
    int64_t i = 0;
    double f = 0;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;
    std::shared_ptr<const HostArray> tensor;

    static Attribute of(int64_t v);
    static Attribute of(double v);
    static Attribute of(std::string v);
    static Attribute of(std::vector<int64_t> v);
    static Attribute of(std::vector<double> v);
    static Attribute of(HostArray v);
    /// "3", "1.5", "\"SAME_UPPER\"", "[1, 1]", "tensor float32[2]".
    std::string str() const;
};

struct Node {
    std::string op;    ///< op type, e.g. "Conv"
    std::string name;  ///< unique within the graph
    std::vector<std::string> inputs;  ///< "" marks an omitted optional input
    std::vector<std::string> outputs;
    std::map<std::string, Attribute> attrs;
    std::string domain;  ///< "" for ONNX's default domain; else "com.microsoft", "com.megalide" (ops/registry.h)

    bool has(const std::string &attr) const { return attrs.count(attr) != 0; }
    /// Typed attribute getters; a missing attribute yields the fallback, a wrong kind throws
    /// Error naming the node and attribute.
    int64_t get_int(const std::string &attr, int64_t fallback) const;
    double get_float(const std::string &attr, double fallback) const;
    std::string get_string(const std::string &attr, const std::string &fallback) const;
    std::vector<int64_t> get_ints(const std::string &attr, std::vector<int64_t> fallback) const;
    /// The i-th input, or "" if absent.
    const std::string &input(size_t i) const;
    /// "Conv", "com.megalide.Gelu": the op with its domain, as dumps and messages show it.
    std::string qualified_op() const { return domain.empty() ? op : domain + "." + op; }
    /// "Conv 'conv1'": how messages name a node.
    std::string label() const { return qualified_op() + " '" + name + "'"; }
};

/// What a model may ask for before megalide refuses it, checked during shape inference (before
/// any constant is evaluated, anything allocated or compiled): every tensor's size, and the
/// sum over the graph's tensors (what running it op by op could need at once).
struct ResourceLimits {
    /// Bytes; `megalide ... --max-memory SIZE` sets it. 4 GiB suits a laptop.
    int64_t max_memory = int64_t(4) << 30;
    /// Halide addresses a buffer with 32-bit offsets (without the large_buffers feature), so no
    /// extent and no tensor may reach 2^31 elements or bytes.
    static constexpr int64_t kMaxExtent = (int64_t(1) << 31) - 1;

    /// Parses "4G", "512M", "64k", "123456" (bytes; K/M/G/T are powers of 1024). Throws Error.
    static int64_t parse_size(const std::string &text);
    /// "1.5 GiB", "12 KiB", "17 bytes".
    static std::string format_size(double bytes);
};

class Graph {
public:
    std::string name = "graph";
    int opset = 17;  ///< the default-domain opset; some ops' semantics depend on it
    std::vector<std::string> inputs;   ///< runtime inputs, in order (never constants)
    std::vector<std::string> outputs;  ///< graph outputs, in order
    std::vector<Node> nodes;           ///< topological order (see sort())
    ResourceLimits limits;             ///< checked by infer_shapes()

    // Builder API.
    Value &add_input(const std::string &name, DType dtype, std::vector<int64_t> shape);
    Value &add_constant(const std::string &name, HostArray value);
    /// Adds a node; output Values are created (shapes unknown until infer_shapes()). An empty
    /// name gets "<op>_<n>". `op` may be qualified by its domain ("com.megalide.Gelu").
    Node &add_node(const std::string &op, std::vector<std::string> inputs,
                   std::vector<std::string> outputs, std::map<std::string, Attribute> attrs = {},
                   std::string name = "");
    void add_output(const std::string &name);

    bool has_value(const std::string &name) const { return values_.count(name) != 0; }
    const Value &value(const std::string &name) const;
    Value &value(const std::string &name);
    bool is_constant(const std::string &name) const;
    const std::map<std::string, Value> &values() const { return values_; }

    /// The node producing `value`, or nullptr for inputs and constants.
    const Node *producer(const std::string &value) const;
    /// Indices (into nodes) of the nodes reading `value`.
    std::vector<size_t> consumers(const std::string &value) const;
    /// Number of uses of `value`, counting graph outputs.
    int use_count(const std::string &value) const;

    /// Orders nodes topologically (stable: keeps the given order where it is valid). Throws
    /// Error naming the node whose input has no producer, or the cycle.
    void sort();
    /// Removes nodes none of whose outputs reach a graph output, and unused values.
    void remove_dead();
    /// Runs shape and type inference over every node (see graph/shape_inference.h).
    void infer_shapes();

    /// Stable text form for golden tests: inputs, constants (shape only), one node per line
    /// with its attributes in name order and output types, outputs.
    std::string dump() const;

    /// Renames a value produced by a node (its producer, readers and graph outputs follow).
    void rename_value(const std::string &from, const std::string &to);

    /// Makes the node producing `to` produce graph output `from` under its name instead; the
    /// old producer of `from` keeps a dead output, and readers of either read the new one.
    void redirect_output(const std::string &from, const std::string &to);

    /// A fresh value name starting with `stem`.
    std::string unique_name(const std::string &stem) const;

private:
    std::map<std::string, Value> values_;
    int next_id_ = 0;
};

}  // namespace megalide
