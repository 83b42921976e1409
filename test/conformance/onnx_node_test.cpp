// Conformance: the ONNX backend node tests shipped by Debian's libonnx-testdata. The list is
// generated from the data: every test whose ops are all in megalide's supported set and
// whose inputs and outputs have supported element types becomes one test case. Each case
// imports model.onnx, lowers it to one Halide pipeline, runs every test_data_set_* and
// compares with output_*.pb as numpy.allclose(rtol=1e-3, atol=1e-5) (integers exactly).
//
// Inputs that fix shapes (a Reshape's shape...) are frozen from each data set's values, as
// `megalide run` does. Entries of expected_failures.txt must still fail; each says why.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "megalide/error.h"
#include "megalide/graph/shape_inference.h"
#include "megalide/lower/lower.h"
#include "megalide/ops/registry.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"
#include "megalide/onnx_import.h"

namespace fs = std::filesystem;

namespace megalide::test {
namespace {

std::string data_root() {
    const char *env = std::getenv("MEGALIDE_ONNX_NODE_TESTS");
    return env ? env : "/usr/share/libonnx-testdata/data/node";
}

std::map<std::string, std::string> expected_failures() {
    std::map<std::string, std::string> out;
    std::ifstream in(MEGALIDE_EXPECTED_FAILURES);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const size_t space = line.find(' ');
        out[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
    }
    return out;
}

bool supported_type(int32_t t) {
    using TP = onnx::TensorProto;
    return t == TP::FLOAT || t == TP::DOUBLE || t == TP::INT8 || t == TP::UINT8 || t == TP::INT32 ||
           t == TP::INT64 || t == TP::BOOL;
}

// Decides from the model alone (not from megalide's importer) whether a test is in scope.
bool in_scope(const fs::path &model_path) {
    std::ifstream in(model_path, std::ios::binary);
    onnx::ModelProto model;
    if (!in || !model.ParseFromIstream(&in)) return false;
    for (const auto &n : model.graph().node()) {
        if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
        const OpDef *op = find_op(kOnnxDomain, n.op_type());
        if (!op || !op->importable) return false;
    }
    for (const auto *list : {&model.graph().input(), &model.graph().output()}) {
        for (const auto &vi : *list) {
            if (!vi.type().has_tensor_type() || !supported_type(vi.type().tensor_type().elem_type())) return false;
        }
    }
    return true;
}

struct Census {
    std::vector<std::string> in_scope;
    int total = 0;
};

const Census &census() {
    static const Census c = [] {
        Census c;
        if (!fs::is_directory(data_root())) return c;
        std::vector<fs::path> dirs;
        for (const auto &e : fs::directory_iterator(data_root())) dirs.push_back(e.path());
        std::sort(dirs.begin(), dirs.end());
        for (const fs::path &d : dirs) {
            if (!fs::exists(d / "model.onnx")) continue;
            ++c.total;
            if (in_scope(d / "model.onnx")) c.in_scope.push_back(d.filename().string());
        }
        return c;
    }();
    return c;
}

std::vector<fs::path> numbered(const fs::path &dir, const std::string &prefix) {
    std::vector<fs::path> files;
    for (int i = 0;; ++i) {
        fs::path p = dir / (prefix + std::to_string(i) + ".pb");
        if (!fs::exists(p)) return files;
        files.push_back(p);
    }
}

// numpy.allclose(got, want, rtol=1e-3, atol=1e-5), NaN equal to NaN; integers exact.
std::string compare(const HostArray &got, const HostArray &want) {
    if (got.shape != want.shape || got.dtype != want.dtype) {
        return "got " + describe(got.dtype, got.shape) + ", expected " + describe(want.dtype, want.shape);
    }
    const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
    const bool exact = want.dtype != DType::Float32 && want.dtype != DType::Float64;
    for (size_t i = 0; i < g.size(); ++i) {
        const bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
        const bool close = exact ? g[i] == w[i] : (g[i] == w[i] || std::abs(g[i] - w[i]) <= 1e-5 + 1e-3 * std::abs(w[i]));
        if (!both_nan && !close) {
            return "element " + std::to_string(i) + ": got " + std::to_string(g[i]) + ", expected " + std::to_string(w[i]);
        }
    }
    return "";
}

// Runs every data set of one node test with `strategy` ("root": every layer and reduction at
// root, no fusion); returns "" on success, else what went wrong.
std::string run_case(const std::string &name, const std::string &strategy = "root") {
    const fs::path dir = fs::path(data_root()) / name, model = dir / "model.onnx";
    const std::vector<std::string> frozen_names = shape_operand_inputs(model.string());
    std::ifstream in(model, std::ios::binary);
    onnx::ModelProto proto;
    proto.ParseFromIstream(&in);
    std::set<std::string> initializers;
    for (const auto &t : proto.graph().initializer()) initializers.insert(t.name());
    std::vector<std::string> input_names;
    for (const auto &vi : proto.graph().input()) {
        if (!initializers.count(vi.name())) input_names.push_back(vi.name());
    }
    int sets = 0;
    for (const auto &entry : fs::directory_iterator(dir)) {
        if (entry.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
        ++sets;
        const std::vector<fs::path> in_files = numbered(entry.path(), "input_"), out_files = numbered(entry.path(), "output_");
        ImportOptions options;
        std::vector<HostArray> runtime_inputs;
        for (size_t i = 0; i < in_files.size() && i < input_names.size(); ++i) {
            HostArray a = read_tensor_proto(in_files[i].string());
            if (std::count(frozen_names.begin(), frozen_names.end(), input_names[i])) {
                options.frozen_inputs[input_names[i]] = std::move(a);
            } else {
                runtime_inputs.push_back(std::move(a));
            }
        }
        try {
            Graph graph = import_onnx(model.string(), options);
            LoweredGraph lowered = lower(graph);
            const TargetSpec target = host_target_spec(2);
            apply(make_schedule(strategy, graph, lowered, target), graph, lowered, target);
            std::vector<HostArray> outputs = run(lowered, runtime_inputs);
            if (outputs.size() != out_files.size()) return "output count differs";
            for (size_t i = 0; i < outputs.size(); ++i) {
                const std::string diff = compare(outputs[i], read_tensor_proto(out_files[i].string()));
                if (!diff.empty()) return entry.path().filename().string() + " output " + std::to_string(i) + ": " + diff;
            }
        } catch (const Error &e) {
            return std::string("megalide::Error: ") + e.what();
        } catch (const Halide::Error &e) {
            return std::string("Halide::Error: ") + e.what();
        }
    }
    return sets ? "" : "no test_data_set_* directories";
}

class OnnxNode : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNode, MatchesExpectedOutputs) {
    const std::string &name = GetParam();
    const auto xfail = expected_failures();
    const std::string result = run_case(name);
    if (auto it = xfail.find(name); it != xfail.end()) {
        EXPECT_FALSE(result.empty()) << name << " is listed as an expected failure (" << it->second
                                     << ") but now passes: remove it from expected_failures.txt";
        return;
    }
    EXPECT_TRUE(result.empty()) << name << ": " << result;
}

std::string param_name(const ::testing::TestParamInfo<std::string> &info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Node, OnnxNode, ::testing::ValuesIn(census().in_scope), param_name);

// Fused equals unfused: the megakernel plan (two threads' worth of tiles) meets the same
// reference data within the same tolerance as the unfused, every stage at root, run above.
// Expected failures are skipped here: they fail before scheduling matters.
class OnnxNodeMegakernel : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeMegakernel, MatchesExpectedOutputs) {
    const std::string &name = GetParam();
    if (expected_failures().count(name)) GTEST_SKIP() << "expected failure: " << expected_failures().at(name);
    const std::string result = run_case(name, "megakernel");
    EXPECT_TRUE(result.empty()) << name << " (megakernel): " << result;
}

INSTANTIATE_TEST_SUITE_P(Megakernel, OnnxNodeMegakernel, ::testing::ValuesIn(census().in_scope), param_name);

// The census itself: the data is there, and the in-scope list is not empty.
TEST(OnnxNodeCensus, DataPresent) {
    ASSERT_GT(census().total, 0) << "no ONNX node tests under " << data_root() << " (install libonnx-testdata)";
    EXPECT_GT(census().in_scope.size(), 100u);
    std::printf("ONNX node tests: %d in %s, %zu in scope (supported ops and types), %zu expected failures\n",
                census().total, data_root().c_str(), census().in_scope.size(), expected_failures().size());
}

}  // namespace
}  // namespace megalide::test
