#include "megalide/quantize.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include <onnx/onnx_pb.h>

#include "megalide/error.h"
#include "megalide/io/atomic_file.h"
#include "megalide/npy.h"
#include "megalide/onnx_import.h"
#include "megalide/ops/registry.h"
#include "megalide/rewrite/rewrite.h"

namespace megalide {

namespace fs = std::filesystem;

std::string QuantizeReport::text() const {
    std::ostringstream o;
    o << "quantized " << tensors << " activation tensors (uint8), " << weights << " weights (int8 per channel), " << biases
      << " biases (int32)\n";
    char line[256];
    std::snprintf(line, sizeof line, "int8 vs fp32 on %d samples: max |error| %.4g, mean |error| %.4g (output range %.4g), SNR %.1f dB\n",
                  samples, max_abs_error, mean_abs_error, output_range, snr_db);
    o << line;
    if (top1_agree >= 0) {
        std::snprintf(line, sizeof line, "top-1 agreement with fp32: %d/%d (%.1f%%)\n", top1_agree, samples, 100.0 * top1_agree / samples);
        o << line;
    }
    return o.str();
}

std::vector<HostArray> read_samples(const std::string &dir, DType dtype, const std::vector<int64_t> &shape) {
    if (!fs::is_directory(dir)) throw Error("sample directory '" + dir + "' does not exist");
    std::vector<std::string> files;
    for (const auto &e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".npy") files.push_back(e.path().string());
    }
    if (files.empty()) throw Error("sample directory '" + dir + "' holds no .npy files");
    std::sort(files.begin(), files.end());
    std::vector<HostArray> out;
    for (const std::string &f : files) {
        HostArray a = npy::read(f);
        if (a.dtype != dtype || a.shape != shape) {
            throw Error("sample '" + f + "' is " + describe(a.dtype, a.shape) + "; the model's input is " + describe(dtype, shape));
        }
        out.push_back(std::move(a));
    }
    return out;
}

namespace {

// How the op registry says post-training quantization treats a node's op.
QuantizedForm quantized_form(const Node &n) {
    const OpDef *op = find_op(n.domain, n.op);
    return op ? op->quantized : QuantizedForm::None;
}

// Weights quantized per output channel with an int32 bias (Conv, Gemm, MatMul).
bool accumulating(const Node &n) { return quantized_form(n) == QuantizedForm::Accumulating; }

// Every op with an 8-bit form.
bool quantizable(const Node &n) { return quantized_form(n) != QuantizedForm::None; }

// Running range of one tensor; values sampled (reservoir) for percentiles.
struct Range {
    double lo = INFINITY, hi = -INFINITY;
    std::vector<float> sample;
    long long seen = 0;
};

struct ActivationParams {
    float scale;
    uint8_t zero_point;
};

// uint8 asymmetric over [lo, hi] widened to include 0 (so that 0 and padding are exact).
ActivationParams activation_params(double lo, double hi) {
    lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
    const double scale = hi > lo ? (hi - lo) / 255.0 : 1.0;
    const double zp = std::min(std::max(std::nearbyint(-lo / scale), 0.0), 255.0);
    return {static_cast<float>(scale), static_cast<uint8_t>(zp)};
}

class Quantizer {
public:
    Quantizer(const std::string &path, const GraphExecutor &executor, const QuantizeOptions &options)
        : path_(path), executor_(executor), options_(options) {}

    QuantizeReport run(const std::vector<HostArray> &calibration, const std::string &out_path, const std::vector<HostArray> &evaluation) {
        ImportOptions import;
        import.limits = options_.limits;
        Graph g = import_onnx(path_, import);
        if (g.inputs.size() != 1) throw Error(path_ + ": quantize supports models with one input, this one has " + std::to_string(g.inputs.size()));
        if (g.opset < 13) throw Error(path_ + ": quantize needs opset 13 or later (per-axis QuantizeLinear), the model has " + std::to_string(g.opset));
        if (calibration.empty()) throw Error("the calibration set is empty");
        const Value &in = g.value(g.inputs[0]);
        for (const HostArray &s : calibration) {
            if (s.dtype != in.dtype || s.shape != in.shape) {
                throw Error("a calibration sample is " + describe(s.dtype, s.shape) + "; the model's input '" + in.name + "' is " + describe(in.dtype, in.shape));
            }
        }
        choose_tensors(g);
        calibrate(g, calibration);
        write(out_path);
        evaluate(out_path, evaluation.empty() ? calibration : evaluation);
        return report_;
    }

private:
    void step(const std::string &s) const {
        if (options_.progress) options_.progress(s);
    }

    // An accumulation, possibly followed by constant Adds (a bias the rewrites fold into it).
    bool accumulation_chain(const Graph &g, const std::string &v) const {
        const Node *p = g.producer(v);
        if (!p) return false;
        if (accumulating(*p)) return true;
        if (p->op == "Add" && (g.is_constant(p->input(0)) || g.is_constant(p->input(1)))) {
            return accumulation_chain(g, g.is_constant(p->input(0)) ? p->input(1) : p->input(0));
        }
        return false;
    }

    // The value `v` is a copy of: exporters route a shared constant through Identity nodes.
    static std::string through_identities(const Graph &g, std::string v) {
        for (const Node *p = g.producer(v); p && p->op == "Identity"; p = g.producer(v)) v = p->input(0);
        return v;
    }

    void choose_tensors(const Graph &g) {
        auto fused_away = [&](const std::string &v) {
            const std::vector<size_t> users = g.consumers(v);
            if (users.size() != 1 || std::count(g.outputs.begin(), g.outputs.end(), v) || !accumulation_chain(g, v)) return false;
            const Node &u = g.nodes[users[0]];
            return u.op == "Relu" || u.op == "Clip" || (u.op == "Add" && (g.is_constant(u.input(0)) || g.is_constant(u.input(1))));
        };
        auto consider = [&](const std::string &v) {
            if (v.empty() || g.is_constant(v) || g.value(v).dtype != DType::Float32 || fused_away(v)) return;
            if (!std::count(tensors_.begin(), tensors_.end(), v)) tensors_.push_back(v);
        };
        for (const Node &n : g.nodes) {
            if (!quantizable(n)) continue;
            if (n.op == "Add" && (g.is_constant(n.input(0)) || g.is_constant(n.input(1)))) {
                consider(n.outputs[0]);  // a bias add: only its result
                continue;
            }
            const size_t activation_inputs = n.op == "Add" || n.op == "MatMul" ? 2 : 1;
            for (size_t i = 0; i < activation_inputs; ++i) consider(n.input(i));
            consider(n.outputs[0]);
            if (accumulating(n) && g.is_constant(n.input(1)) && g.value(n.input(1)).shape.size() == 2 + 2 * (n.op == "Conv")) {
                const int64_t axis = n.op == "Conv" ? 0 : n.op == "Gemm" && n.get_int("transB", 0) ? 0 : 1;
                weights_[n.input(1)] = axis;
                if (n.op != "MatMul" && !n.input(2).empty()) {
                    const std::string bias = through_identities(g, n.input(2));
                    if (g.is_constant(bias)) biases_[bias].push_back({n.input(0), n.input(1), n.outputs[0]});
                }
            }
        }
    }

    void calibrate(Graph g, const std::vector<HostArray> &samples) {
        step("calibrating on " + std::to_string(samples.size()) + " samples (" + std::to_string(tensors_.size()) + " tensors)");
        const std::vector<std::string> original_outputs = g.outputs;
        for (const std::string &t : tensors_) {
            if (!std::count(g.outputs.begin(), g.outputs.end(), t) && t != g.inputs[0]) g.add_output(t);
        }
        const GraphExecutor::Run run = executor_.prepare(g);
        std::mt19937 rng(7);
        for (const HostArray &s : samples) {
            const std::vector<HostArray> outs = run({s});
            std::map<std::string, const HostArray *> by_name;
            for (size_t i = 0; i < outs.size(); ++i) by_name[g.outputs[i]] = &outs[i];
            by_name[g.inputs[0]] = &s;
            for (const std::string &t : tensors_) {
                Range &r = ranges_[t];
                const HostArray &a = *by_name.at(t);
                const float *v = a.as<float>();
                for (int64_t i = 0; i < a.element_count(); ++i) {
                    r.lo = std::min(r.lo, static_cast<double>(v[i]));
                    r.hi = std::max(r.hi, static_cast<double>(v[i]));
                    if (options_.method != QuantizeOptions::Method::Percentile) continue;
                    // Reservoir sampling keeps at most 2^20 values per tensor, uniformly.
                    ++r.seen;
                    if (r.sample.size() < (1u << 20)) {
                        r.sample.push_back(v[i]);
                    } else {
                        const long long j = std::uniform_int_distribution<long long>(0, r.seen - 1)(rng);
                        if (j < (1 << 20)) r.sample[static_cast<size_t>(j)] = v[i];
                    }
                }
            }
        }
        for (const std::string &t : tensors_) {
            Range &r = ranges_[t];
            if (options_.method == QuantizeOptions::Method::Percentile && !r.sample.empty()) {
                std::sort(r.sample.begin(), r.sample.end());
                const double keep = options_.percentile / 100.0;
                const size_t n = r.sample.size();
                r.lo = r.sample[static_cast<size_t>(std::floor((1 - keep) * static_cast<double>(n - 1)))];
                r.hi = r.sample[static_cast<size_t>(std::ceil(keep * static_cast<double>(n - 1)))];
            }
            params_[t] = activation_params(r.lo, r.hi);
        }
    }

    // ---- writing the QDQ model ----

    static onnx::TensorProto tensor(const std::string &name, int type, const std::vector<int64_t> &dims, const std::string &raw) {
        onnx::TensorProto t;
        t.set_name(name);
        t.set_data_type(type);
        for (int64_t d : dims) t.add_dims(d);
        t.set_raw_data(raw);
        return t;
    }

    template <typename T>
    static std::string raw_of(const std::vector<T> &v) {
        return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T));
    }

    std::string fresh(const std::string &stem) {
        std::string name = stem;
        for (int i = 1; used_.count(name); ++i) name = stem + "_" + std::to_string(i);
        used_.insert(name);
        return name;
    }

    static void add_node(onnx::GraphProto *g, const std::string &op, const std::vector<std::string> &in, const std::string &out,
                         const std::string &name, int64_t axis = -1000) {
        onnx::NodeProto *n = g->add_node();
        n->set_op_type(op);
        n->set_name(name);
        for (const std::string &i : in) n->add_input(i);
        n->add_output(out);
        if (axis != -1000) {
            onnx::AttributeProto *a = n->add_attribute();
            a->set_name("axis");
            a->set_type(onnx::AttributeProto::INT);
            a->set_i(axis);
        }
    }

    void write(const std::string &out_path) {
        step("writing the QDQ model to " + out_path);
        onnx::ModelProto m;
        {
            std::ifstream in(path_, std::ios::binary);
            if (!in || !m.ParseFromIstream(&in)) throw Error(path_ + ": cannot read the model");
        }
        onnx::GraphProto *g = m.mutable_graph();
        for (const auto &n : g->node()) {
            used_.insert(n.name());
            for (const auto &o : n.output()) used_.insert(o);
        }
        for (const auto &t : g->initializer()) used_.insert(t.name());
        for (const auto &v : g->input()) used_.insert(v.name());

        std::map<std::string, int> init_index;
        for (int i = 0; i < g->initializer_size(); ++i) init_index[g->initializer(i).name()] = i;
        std::set<std::string> drop;
        std::map<std::string, std::vector<float>> weight_scales;

        // Weights: int8 symmetric per output channel, through a DequantizeLinear that keeps the name.
        for (const auto &[name, axis] : weights_) {
            if (!init_index.count(name)) continue;
            const HostArray w = host_of(g->initializer(init_index.at(name)));
            const std::vector<int64_t> &shape = w.shape;
            const int64_t channels = shape[static_cast<size_t>(axis)];
            const int64_t inner = std::accumulate(shape.begin() + axis + 1, shape.end(), int64_t{1}, std::multiplies<int64_t>());
            const float *v = w.as<float>();
            std::vector<float> scale(static_cast<size_t>(channels), 0.0f);
            for (int64_t i = 0; i < w.element_count(); ++i) {
                const int64_t c = (i / inner) % channels;
                scale[static_cast<size_t>(c)] = std::max(scale[static_cast<size_t>(c)], std::abs(v[i]));
            }
            for (float &s : scale) s = s > 0 ? s / 127.0f : 1.0f;
            std::vector<int8_t> q(static_cast<size_t>(w.element_count()));
            for (int64_t i = 0; i < w.element_count(); ++i) {
                const float s = scale[static_cast<size_t>((i / inner) % channels)];
                q[static_cast<size_t>(i)] = static_cast<int8_t>(std::min(std::max(std::nearbyint(v[i] / s), -127.0f), 127.0f));
            }
            const std::string qn = fresh(name + "_quantized"), sn = fresh(name + "_scale"), zn = fresh(name + "_zero_point");
            *g->add_initializer() = tensor(qn, onnx::TensorProto::INT8, shape, raw_of(q));
            *g->add_initializer() = tensor(sn, onnx::TensorProto::FLOAT, {channels}, raw_of(scale));
            *g->add_initializer() = tensor(zn, onnx::TensorProto::INT8, {channels}, raw_of(std::vector<int8_t>(static_cast<size_t>(channels), 0)));
            add_node(g, "DequantizeLinear", {qn, sn, zn}, name, fresh(name + "_DequantizeLinear"), axis);
            drop.insert(name);
            weight_scales[name] = scale;
            ++report_.weights;
        }
        // Biases: int32 at input scale x weight scale. A bias shared by ops whose scales differ
        // gets one int32 copy per op, which that op then reads directly (past any Identity):
        // one tensor at one op's scale, read by the others at theirs, would leave them float.
        std::map<std::string, onnx::NodeProto *> node_of_output;
        for (onnx::NodeProto &n : *g->mutable_node()) {
            if (n.output_size()) node_of_output[n.output(0)] = &n;
        }
        for (const auto &[name, users] : biases_) {
            auto scales_of = [&](const BiasUser &u) {
                std::vector<float> scale;
                if (!params_.count(u.input) || !weight_scales.count(u.weights)) return scale;
                for (float w : weight_scales.at(u.weights)) scale.push_back(params_.at(u.input).scale * w);
                return scale;
            };
            if (!init_index.count(name)) continue;
            const HostArray b = host_of(g->initializer(init_index.at(name)));
            const bool shared = std::any_of(users.begin(), users.end(), [&](const BiasUser &u) { return scales_of(u) != scales_of(users[0]); });
            for (const BiasUser &user : users) {
                const std::vector<float> scale = scales_of(user);
                onnx::NodeProto *op = node_of_output.count(user.output) ? node_of_output.at(user.output) : nullptr;
                if (scale.empty() || b.element_count() != static_cast<int64_t>(scale.size()) || (shared && (!op || op->input_size() < 3))) continue;
                std::vector<int32_t> q(scale.size());
                for (size_t c = 0; c < scale.size(); ++c) {
                    q[c] = static_cast<int32_t>(std::nearbyint(static_cast<double>(b.as<float>()[c]) / scale[c]));
                }
                const std::string qn = fresh(name + "_quantized"), sn = fresh(name + "_scale"), zn = fresh(name + "_zero_point");
                const int64_t n = static_cast<int64_t>(scale.size());
                *g->add_initializer() = tensor(qn, onnx::TensorProto::INT32, {n}, raw_of(q));
                *g->add_initializer() = tensor(sn, onnx::TensorProto::FLOAT, {n}, raw_of(scale));
                *g->add_initializer() = tensor(zn, onnx::TensorProto::INT32, {n}, raw_of(std::vector<int32_t>(scale.size(), 0)));
                const std::string out = shared ? fresh(name + "_dequantized") : name;
                add_node(g, "DequantizeLinear", {qn, sn, zn}, out, fresh(name + "_DequantizeLinear"), 0);
                if (shared) op->set_input(2, out);
                ++report_.biases;
                if (!shared) {
                    drop.insert(name);
                    break;  // every user reads the one tensor
                }
            }
        }
        // Activations: QuantizeLinear -> DequantizeLinear, consumers read the dequantized value.
        std::set<std::string> outputs;
        for (const auto &o : g->output()) outputs.insert(o.name());
        const int original_nodes = g->node_size();
        for (const std::string &t : tensors_) {
            const ActivationParams p = params_.at(t);
            const std::string sn = fresh(t + "_scale"), zn = fresh(t + "_zero_point"), qn = fresh(t + "_quantized");
            *g->add_initializer() = tensor(sn, onnx::TensorProto::FLOAT, {}, raw_of(std::vector<float>{p.scale}));
            *g->add_initializer() = tensor(zn, onnx::TensorProto::UINT8, {}, raw_of(std::vector<uint8_t>{p.zero_point}));
            std::string source = t, result = fresh(t + "_dequantized");
            if (outputs.count(t)) {
                // A graph output keeps its name: its producer writes t_float, the pair gives t.
                source = fresh(t + "_float"), result = t;
                for (int i = 0; i < original_nodes; ++i) {
                    for (auto &o : *g->mutable_node(i)->mutable_output()) if (o == t) o = source;
                }
            } else {
                for (int i = 0; i < original_nodes; ++i) {
                    for (auto &in : *g->mutable_node(i)->mutable_input()) if (in == t) in = result;
                }
            }
            add_node(g, "QuantizeLinear", {source, sn, zn}, qn, fresh(t + "_QuantizeLinear"));
            add_node(g, "DequantizeLinear", {qn, sn, zn}, result, fresh(t + "_DequantizeLinear"));
            ++report_.tensors;
        }
        // Drop the float weights and biases, then restore topological order.
        auto *inits = g->mutable_initializer();
        inits->erase(std::remove_if(inits->begin(), inits->end(), [&](const onnx::TensorProto &t) { return drop.count(t.name()) != 0; }),
                     inits->end());
        auto *ins = g->mutable_input();
        ins->erase(std::remove_if(ins->begin(), ins->end(), [&](const onnx::ValueInfoProto &v) { return drop.count(v.name()) != 0; }), ins->end());
        g->clear_value_info();
        sort_nodes(g);
        std::string bytes;
        if (!m.SerializeToString(&bytes)) throw Error("cannot serialize the quantized model for '" + out_path + "'");
        write_file_atomically(out_path, {bytes});
    }

    HostArray host_of(const onnx::TensorProto &t) const {
        if (t.data_type() != onnx::TensorProto::FLOAT) throw Error(path_ + ": initializer '" + t.name() + "' is not float32");
        // The importer's reader handles raw and typed fields alike; go through a file-free path.
        std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
        std::vector<float> v;
        if (t.has_raw_data()) {
            v.resize(t.raw_data().size() / sizeof(float));
            std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(float));
        } else {
            v.assign(t.float_data().begin(), t.float_data().end());
        }
        return HostArray::from_floats(dims, v);
    }

    static void sort_nodes(onnx::GraphProto *g) {
        std::set<std::string> ready;
        for (const auto &i : g->input()) ready.insert(i.name());
        for (const auto &t : g->initializer()) ready.insert(t.name());
        std::vector<onnx::NodeProto> pending(g->node().begin(), g->node().end()), sorted;
        while (!pending.empty()) {
            const size_t before = pending.size();
            for (auto it = pending.begin(); it != pending.end();) {
                const bool ok = std::all_of(it->input().begin(), it->input().end(), [&](const std::string &s) { return s.empty() || ready.count(s); });
                if (!ok) {
                    ++it;
                    continue;
                }
                for (const auto &o : it->output()) ready.insert(o);
                sorted.push_back(*it);
                it = pending.erase(it);
            }
            if (pending.size() == before) throw Error("quantize: the rewritten model has a cycle or a missing input at node '" + pending[0].name() + "'");
        }
        g->clear_node();
        for (auto &n : sorted) *g->add_node() = std::move(n);
    }

    // ---- evaluation ----

    void evaluate(const std::string &quantized_path, const std::vector<HostArray> &samples) {
        step("evaluating int8 against fp32 on " + std::to_string(samples.size()) + " samples");
        auto prepare = [&](const std::string &path) {
            Graph g = import_onnx(path);
            rewrite_to_fixpoint(g, default_rules());
            return executor_.prepare(g);
        };
        const GraphExecutor::Run fp32 = prepare(path_), int8 = prepare(quantized_path);
        double sum_abs = 0, signal = 0, noise = 0, lo = INFINITY, hi = -INFINITY;
        long long count = 0;
        int agree = 0;
        bool classes = false;
        for (const HostArray &s : samples) {
            const HostArray a = fp32({s}).at(0), b = int8({s}).at(0);
            const float *x = a.as<float>(), *y = b.as<float>();
            const int64_t n = a.element_count();
            for (int64_t i = 0; i < n; ++i) {
                const double e = std::abs(static_cast<double>(x[i]) - y[i]);
                report_.max_abs_error = std::max(report_.max_abs_error, e);
                sum_abs += e, signal += double(x[i]) * x[i], noise += e * e;
                lo = std::min(lo, static_cast<double>(x[i])), hi = std::max(hi, static_cast<double>(x[i]));
            }
            count += n;
            classes = n > 1 && n == a.shape.back();
            if (classes) agree += std::max_element(x, x + n) - x == std::max_element(y, y + n) - y;
        }
        report_.samples = static_cast<int>(samples.size());
        report_.mean_abs_error = sum_abs / static_cast<double>(count);
        report_.output_range = hi - lo;
        report_.snr_db = noise > 0 ? 10 * std::log10(signal / noise) : INFINITY;
        report_.top1_agree = classes ? agree : -1;
    }

    std::string path_;
    const GraphExecutor &executor_;
    QuantizeOptions options_;
    std::vector<std::string> tensors_;  // activations to quantize, in graph order
    std::map<std::string, int64_t> weights_;  // constant weight -> its output-channel axis
    // bias -> (input, weights) of every op adding it: exporters share one constant among ops
    // (torch.onnx gives every all-zero bias of a BN-folded MobileNetV2 the same initializer).
    struct BiasUser {
        std::string input, weights, output;  ///< the op's activation input, weights and output
    };
    std::map<std::string, std::vector<BiasUser>> biases_;
    std::map<std::string, Range> ranges_;
    std::map<std::string, ActivationParams> params_;
    std::set<std::string> used_;
    QuantizeReport report_;
};

}  // namespace

QuantizeReport quantize_model(const std::string &model_path, const std::vector<HostArray> &calibration, const std::string &out_path,
                              const std::vector<HostArray> &evaluation, const GraphExecutor &executor,
                              const QuantizeOptions &options) {
    return Quantizer(model_path, executor, options).run(calibration, out_path, evaluation);
}

}  // namespace megalide
