#include "megalide/onnx_import.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include <onnx/onnx_pb.h>

#include "megalide/error.h"
#include "megalide/ops/registry.h"
#include "megalide/graph/shape_inference.h"

namespace megalide {

namespace {

DType dtype_of(int32_t onnx_type, const std::string &what) {
    switch (onnx_type) {
    case onnx::TensorProto::FLOAT: return DType::Float32;
    case onnx::TensorProto::DOUBLE: return DType::Float64;
    case onnx::TensorProto::INT8: return DType::Int8;
    case onnx::TensorProto::UINT8: return DType::UInt8;
    case onnx::TensorProto::INT32: return DType::Int32;
    case onnx::TensorProto::INT64: return DType::Int64;
    case onnx::TensorProto::BOOL: return DType::Bool;
    default:
        throw Error(what + " has unsupported element type " +
                    onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(onnx_type)));
    }
}

HostArray to_host(const onnx::TensorProto &t, const std::string &what) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
        throw Error(what + " is stored in external data, which megalide does not read");
    }
    HostArray a;
    a.dtype = dtype_of(t.data_type(), what);
    a.shape.assign(t.dims().begin(), t.dims().end());
    // The dims are checked against the data the tensor holds before anything is allocated for
    // them: a corrupted dim must not ask for terabytes (found by test/fuzz/onnx_import).
    int64_t count = 1;
    for (int64_t d : a.shape) {
        if (d < 0) throw Error(what + " has a negative dimension");
        if (d != 0 && count > std::numeric_limits<int64_t>::max() / d) {
            throw Error(what + " has dimensions " + describe(a.dtype, a.shape) + " whose product overflows");
        }
        count *= d;
    }
    const size_t size = item_size(a.dtype);
    if (t.has_raw_data()) {
        const size_t held = t.raw_data().size();
        if (held % size != 0 || held / size != static_cast<uint64_t>(count)) {
            throw Error(what + " holds " + std::to_string(held) + " bytes of data, expected " + std::to_string(count) + " x " +
                        std::to_string(size) + " bytes for " + describe(a.dtype, a.shape));
        }
        a.bytes.resize(held);
        if (held != 0) std::memcpy(a.bytes.data(), t.raw_data().data(), held);
        return a;
    }
    auto fill = [&](const auto &field, auto convert) {
        if (field.size() != count) {
            throw Error(what + " holds " + std::to_string(field.size()) + " values, expected " + std::to_string(count));
        }
        a.bytes.resize(static_cast<size_t>(count) * size);
        for (int64_t i = 0; i < count; ++i) convert(i, field.Get(static_cast<int>(i)));
    };
    switch (a.dtype) {
    case DType::Float32: fill(t.float_data(), [&](int64_t i, float v) { a.data<float>()[i] = v; }); break;
    case DType::Float64: fill(t.double_data(), [&](int64_t i, double v) { a.data<double>()[i] = v; }); break;
    case DType::Int64: fill(t.int64_data(), [&](int64_t i, int64_t v) { a.data<int64_t>()[i] = v; }); break;
    case DType::Int32: fill(t.int32_data(), [&](int64_t i, int32_t v) { a.data<int32_t>()[i] = v; }); break;
    case DType::Int8: fill(t.int32_data(), [&](int64_t i, int32_t v) { a.data<int8_t>()[i] = static_cast<int8_t>(v); }); break;
    case DType::UInt8:
    case DType::Bool: fill(t.int32_data(), [&](int64_t i, int32_t v) { a.data<uint8_t>()[i] = static_cast<uint8_t>(v); }); break;
    }
    return a;
}

Attribute to_attribute(const onnx::AttributeProto &p, const std::string &what) {
    switch (p.type()) {
    case onnx::AttributeProto::INT: return Attribute::of(static_cast<int64_t>(p.i()));
    case onnx::AttributeProto::FLOAT: return Attribute::of(static_cast<double>(p.f()));
    case onnx::AttributeProto::STRING: return Attribute::of(p.s());
    case onnx::AttributeProto::INTS: return Attribute::of(std::vector<int64_t>(p.ints().begin(), p.ints().end()));
    case onnx::AttributeProto::FLOATS: return Attribute::of(std::vector<double>(p.floats().begin(), p.floats().end()));
    case onnx::AttributeProto::STRINGS: {
        Attribute a;
        a.kind = Attribute::Kind::Strings;
        a.strings.assign(p.strings().begin(), p.strings().end());
        return a;
    }
    case onnx::AttributeProto::TENSOR: return Attribute::of(to_host(p.t(), what + " attribute '" + p.name() + "'"));
    default: throw Error(what + ": attribute '" + p.name() + "' has an unsupported kind");
    }
}

onnx::ModelProto parse_model(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
    onnx::ModelProto model;
    if (!model.ParseFromIstream(&in)) {
        throw Error(path + ": not a valid ONNX model (the protobuf does not parse: truncated or corrupted file?)");
    }
    if (!model.has_graph()) throw Error(path + ": the model has no graph");
    return model;
}

}  // namespace

std::vector<std::string> graph_input_names(const std::string &path) {
    const onnx::ModelProto model = parse_model(path);
    std::set<std::string> initializers;
    for (const auto &t : model.graph().initializer()) initializers.insert(t.name());
    std::vector<std::string> names;
    for (const auto &vi : model.graph().input()) {
        if (!initializers.count(vi.name())) names.push_back(vi.name());
    }
    return names;
}

std::vector<std::string> shape_operand_inputs(const std::string &path) {
    const onnx::ModelProto model = parse_model(path);
    const onnx::GraphProto &gp = model.graph();
    std::set<std::string> needed;
    for (const onnx::NodeProto &np : gp.node()) {
        const OpDef *op = find_op(np.domain(), np.op_type());
        if (!op) continue;
        for (size_t i : op->constant_inputs) {
            if (i < static_cast<size_t>(np.input_size()) && !np.input(static_cast<int>(i)).empty()) needed.insert(np.input(static_cast<int>(i)));
        }
    }
    std::set<std::string> initializers;
    for (const auto &t : gp.initializer()) initializers.insert(t.name());
    std::vector<std::string> result;
    for (const auto &vi : gp.input()) {
        if (needed.count(vi.name()) && !initializers.count(vi.name())) result.push_back(vi.name());
    }
    return result;
}

HostArray read_tensor_proto(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
    onnx::TensorProto t;
    if (!t.ParseFromIstream(&in)) throw Error(path + ": not a valid serialized TensorProto");
    return to_host(t, path);
}

Graph import_onnx(const std::string &path, const ImportOptions &options) {
    const onnx::ModelProto model = parse_model(path);
    const onnx::GraphProto &gp = model.graph();
    Graph g;
    g.limits = options.limits;
    g.name = gp.name().empty() ? "graph" : gp.name();
    g.opset = 0;
    for (const auto &o : model.opset_import()) {
        if (o.domain().empty() || o.domain() == "ai.onnx") g.opset = static_cast<int>(o.version());
    }
    // Opsets 11 to 17 are the target; older models import where an op's semantics did not
    // change or the per-version differences are handled (Pad, Slice, Softmax, Clip, ...).
    if (g.opset < 1 || g.opset > 17) {
        throw Error(path + ": default-domain opset " + std::to_string(g.opset) +
                    " is not supported (megalide reads opsets up to 17)");
    }

    std::set<std::string> initializers;
    for (const onnx::TensorProto &t : gp.initializer()) {
        g.add_constant(t.name(), to_host(t, path + ": initializer '" + t.name() + "'"));
        initializers.insert(t.name());
    }
    for (const onnx::ValueInfoProto &vi : gp.input()) {
        if (initializers.count(vi.name())) continue;
        const std::string what = path + ": input '" + vi.name() + "'";
        if (auto frozen = options.frozen_inputs.find(vi.name()); frozen != options.frozen_inputs.end()) {
            g.add_constant(vi.name(), frozen->second);
            continue;
        }
        if (!vi.type().has_tensor_type()) throw Error(what + " is not a tensor");
        const auto &tt = vi.type().tensor_type();
        std::vector<int64_t> shape;
        if (auto given = options.input_shapes.find(vi.name()); given != options.input_shapes.end()) {
            shape = given->second;
        } else {
            if (!tt.has_shape()) throw Error(what + " has no shape; give one (megalide compiles static shapes)");
            for (const auto &d : tt.shape().dim()) {
                if (!d.has_dim_value()) {
                    throw Error(what + " has a symbolic dimension '" + d.dim_param() +
                                "'; give a static shape for it (megalide compiles static shapes)");
                }
                shape.push_back(d.dim_value());
            }
        }
        g.add_input(vi.name(), dtype_of(tt.elem_type(), what), shape);
    }

    for (int i = 0; i < gp.node_size(); ++i) {
        const onnx::NodeProto &np = gp.node(i);
        const std::string name = np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name();
        const std::string what = path + ": node " + np.op_type() + " '" + name + "'";
        const std::string domain = np.domain() == "ai.onnx" ? kOnnxDomain : np.domain();
        const OpDef *op = find_op(domain, np.op_type());
        if (!op || !op->importable) {
            if (domain != kOnnxDomain && domain != kMicrosoftDomain) throw Error(what + ": unsupported op domain '" + np.domain() + "'");
            throw Error(what + ": unsupported op '" + np.op_type() + "'" + (domain.empty() ? "" : " in domain '" + domain + "'"));
        }
        std::map<std::string, Attribute> attrs;
        for (const auto &a : np.attribute()) attrs[a.name()] = to_attribute(a, what);
        std::vector<std::string> outputs(np.output().begin(), np.output().end());
        // Omitted optional outputs come as ""; drop trailing ones.
        while (!outputs.empty() && outputs.back().empty()) outputs.pop_back();
        g.add_node(op->qualified_name(), {np.input().begin(), np.input().end()}, outputs, std::move(attrs), name);
    }
    for (const onnx::ValueInfoProto &vi : gp.output()) g.add_output(vi.name());
    try {
        g.sort();
        g.infer_shapes();
    } catch (const Error &e) {
        throw Error(path + ": " + e.what());
    }
    return g;
}

}  // namespace megalide
