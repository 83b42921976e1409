// Post-training quantization runs models only through the executor it is given: calibration
// ranges come from what the executor returns, and evaluation runs the rewritten int8 graph.
// The QDQ parameters expected below are computed here from the definition in quantize.h
// (uint8 asymmetric over [lo, hi] widened to include 0), not by the code under test.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "megalide/error.h"
#include "megalide/onnx_import.h"
#include "megalide/quantize.h"
#include "test_util.h"

namespace megalide {
namespace {

namespace fs = std::filesystem;

const std::string kDigits = std::string(MEGALIDE_DIGITS_DIR) + "/digits_cnn.onnx";

std::vector<HostArray> samples(int n) {
    std::mt19937 rng(5);
    std::vector<HostArray> out;
    for (int i = 0; i < n; ++i) out.push_back(test::random_host_array(rng, {1, 1, 8, 8}, 0.0f, 16.0f));
    return out;
}

// Forwards to HostExecutor, recording each graph it is asked to prepare.
class RecordingExecutor : public GraphExecutor {
public:
    Run prepare(const Graph &g) const override {
        graphs.push_back(g);
        return HostExecutor(1).prepare(g);
    }
    mutable std::vector<Graph> graphs;
};

// Runs nothing: every output is the same ramp from lo to hi.
class RampExecutor : public GraphExecutor {
public:
    RampExecutor(float lo, float hi) : lo_(lo), hi_(hi) {}
    Run prepare(const Graph &g) const override {
        ++prepared;
        std::vector<std::pair<DType, std::vector<int64_t>>> outs;
        for (const std::string &o : g.outputs) outs.push_back({g.value(o).dtype, g.value(o).shape});
        return [outs, lo = lo_, hi = hi_](const std::vector<HostArray> &) {
            std::vector<HostArray> result;
            for (const auto &[dtype, shape] : outs) {
                int64_t n = 1;
                for (int64_t d : shape) n *= d;
                std::vector<float> v(static_cast<size_t>(n));
                for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(std::max<int64_t>(n - 1, 1));
                result.push_back(HostArray::from_floats(shape, v));
            }
            return result;
        };
    }
    mutable int prepared = 0;

private:
    float lo_, hi_;
};

std::string temp_path(const std::string &name) { return (fs::temp_directory_path() / ("megalide_ptq_" + name)).string(); }

bool has_op(const Graph &g, const std::string &op) {
    for (const Node &n : g.nodes) {
        if (n.op == op) return true;
    }
    return false;
}

TEST(Ptq, RunsCalibrationAndBothEvaluationsThroughTheExecutor) {
    const std::string out = temp_path("recorded.onnx");
    RecordingExecutor executor;
    const QuantizeReport report = quantize_model(kDigits, samples(4), out, {}, executor);
    ASSERT_EQ(executor.graphs.size(), 3u) << "calibration, the float model, the int8 model";
    // Calibration observes every tensor it quantizes as an extra output of the float graph.
    EXPECT_GT(executor.graphs[0].outputs.size(), 1u);
    EXPECT_TRUE(has_op(executor.graphs[0], "Conv"));
    // Evaluation runs the QDQ file after the rewrites: int8 convolutions, and a
    // DequantizeLinear only where the float graph output is produced.
    const Graph &int8 = executor.graphs[2];
    EXPECT_TRUE(has_op(int8, "FusedQLinearConv")) << int8.dump();
    for (const Node &n : int8.nodes) {
        if (n.op == "DequantizeLinear") EXPECT_TRUE(std::count(int8.outputs.begin(), int8.outputs.end(), n.outputs[0])) << int8.dump();
    }
    EXPECT_EQ(report.samples, 4);
    EXPECT_GT(report.snr_db, 10.0);
    fs::remove(out);
}

TEST(Ptq, RangesComeFromTheExecutor) {
    const float lo = -2.0f, hi = 6.0f;
    const std::string out = temp_path("ramp.onnx");
    RampExecutor executor(lo, hi);
    quantize_model(kDigits, samples(2), out, {}, executor);
    EXPECT_EQ(executor.prepared, 3);
    onnx::ModelProto m;
    std::ifstream in(out, std::ios::binary);
    ASSERT_TRUE(m.ParseFromIstream(&in));
    // Every activation the ramp stood for gets scale (hi - lo) / 255 and zero point
    // round(-lo / scale); the graph input, which calibration reads from the samples
    // themselves ([0, 16)), is the one exception.
    const double scale = (hi - lo) / 255.0;
    const int zero_point = static_cast<int>(std::nearbyint(-lo / scale));
    std::map<std::string, const onnx::TensorProto *> inits;
    for (const auto &t : m.graph().initializer()) inits[t.name()] = &t;
    int checked = 0;
    for (const auto &n : m.graph().node()) {
        if (n.op_type() != "QuantizeLinear" || n.input(0) == m.graph().input(0).name()) continue;
        const onnx::TensorProto &s = *inits.at(n.input(1)), &z = *inits.at(n.input(2));
        float got_scale;
        std::memcpy(&got_scale, s.raw_data().data(), sizeof got_scale);
        EXPECT_FLOAT_EQ(got_scale, static_cast<float>(scale)) << n.name();
        EXPECT_EQ(static_cast<int>(static_cast<uint8_t>(z.raw_data()[0])), zero_point) << n.name();
        ++checked;
    }
    EXPECT_GT(checked, 2);
    fs::remove(out);
}

// x (1x4x6x6) -> Conv(w1, b) -> Relu -> Conv(w2, Identity(b)) -> y: one bias initializer
// shared by two convolutions through an Identity, as torch.onnx exports the all-zero biases of
// a freshly initialized MobileNetV2. The weights differ, so the convolutions' int32 bias scales
// (input scale x weight scale) differ too.
std::string shared_bias_model(const std::string &file) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    onnx::GraphProto *g = m.mutable_graph();
    g->set_name("shared_bias");
    auto value = [](onnx::ValueInfoProto *vi, const std::string &name) {
        vi->set_name(name);
        auto *tt = vi->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        for (int64_t d : {1, 4, 6, 6}) tt->mutable_shape()->add_dim()->set_dim_value(d);
    };
    value(g->add_input(), "x");
    value(g->add_output(), "y");
    auto constant = [&](const std::string &name, std::vector<int64_t> dims, float first, float step) {
        onnx::TensorProto *t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        int64_t n = 1;
        for (int64_t d : dims) t->add_dims(d), n *= d;
        for (int64_t i = 0; i < n; ++i) t->add_float_data(first + step * static_cast<float>((i * 7) % 11 - 5));
    };
    constant("w1", {4, 4, 1, 1}, 0.0f, 0.1f);
    constant("w2", {4, 4, 1, 1}, 0.0f, 0.37f);
    constant("b", {4}, 0.0f, 0.0f);
    auto node = [&](const std::string &op, std::vector<std::string> in, const std::string &out) {
        onnx::NodeProto *n = g->add_node();
        n->set_op_type(op);
        n->set_name(out + "_node");
        for (const std::string &i : in) n->add_input(i);
        n->add_output(out);
    };
    node("Conv", {"x", "w1", "b"}, "c1");
    node("Relu", {"c1"}, "r1");
    node("Identity", {"b"}, "b2");
    node("Conv", {"r1", "w2", "b2"}, "y");
    std::ofstream f(file, std::ios::binary);
    m.SerializeToOstream(&f);
    return file;
}

TEST(Ptq, ABiasSharedByConvolutionsWithDifferentScalesLeavesBothInt8) {
    const std::string model = shared_bias_model(temp_path("shared_bias_in.onnx")), out = temp_path("shared_bias.onnx");
    std::mt19937 rng(9);
    std::vector<HostArray> calib;
    for (int i = 0; i < 4; ++i) calib.push_back(test::random_host_array(rng, {1, 4, 6, 6}, -1.0f, 1.0f));
    RecordingExecutor executor;
    quantize_model(model, calib, out, {}, executor);
    ASSERT_EQ(executor.graphs.size(), 3u);
    // One int32 tensor at the first convolution's scale would be read by the second at its
    // own: the rewrites would refuse it, and that convolution would stay a float op.
    const Graph &int8 = executor.graphs[2];
    int int8_convs = 0;
    for (const Node &n : int8.nodes) {
        EXPECT_TRUE(n.op != "Conv" && n.op != "FusedConv") << "a float convolution is left:\n" << int8.dump();
        int8_convs += n.op == "QLinearConv" || n.op == "FusedQLinearConv";
    }
    EXPECT_EQ(int8_convs, 2) << int8.dump();
    // The file itself is the QDQ form other runtimes fuse: each Conv reads its bias from a
    // DequantizeLinear of its own int32 tensor.
    onnx::ModelProto m;
    std::ifstream in(out, std::ios::binary);
    ASSERT_TRUE(m.ParseFromIstream(&in));
    std::map<std::string, const onnx::NodeProto *> producer;
    for (const auto &n : m.graph().node()) producer[n.output(0)] = &n;
    std::map<std::string, int> int32_inits;
    for (const auto &t : m.graph().initializer()) int32_inits[t.name()] = t.data_type() == onnx::TensorProto::INT32;
    std::set<std::string> bias_tensors;
    for (const auto &n : m.graph().node()) {
        if (n.op_type() != "Conv") continue;
        ASSERT_EQ(n.input_size(), 3);
        ASSERT_TRUE(producer.count(n.input(2))) << n.name();
        const onnx::NodeProto &dq = *producer.at(n.input(2));
        EXPECT_EQ(dq.op_type(), "DequantizeLinear") << n.name();
        EXPECT_EQ(int32_inits[dq.input(0)], 1) << n.name() << " reads bias " << dq.input(0);
        bias_tensors.insert(dq.input(0));
    }
    EXPECT_EQ(bias_tensors.size(), 2u) << "one int32 bias per convolution";
    fs::remove(model);
    fs::remove(out);
}

TEST(Ptq, AnExecutorErrorReachesTheCaller) {
    class Refusing : public GraphExecutor {
    public:
        Run prepare(const Graph &) const override { throw Error("this executor runs nothing"); }
    };
    const std::string out = temp_path("refused.onnx");
    fs::remove(out);
    test::expect_throws_with<Error>([&] { quantize_model(kDigits, samples(1), out, {}, Refusing()); }, {"runs nothing"});
    EXPECT_FALSE(fs::exists(out)) << "nothing is written when calibration fails";
}

}  // namespace
}  // namespace megalide
