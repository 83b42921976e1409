// The megalide CLI on good and bad input: each bad input gives a message naming what is
// wrong, exit status 1 (2 for a malformed command line), and leaves no output file behind.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include "Halide.h"
#include <onnx/onnx_pb.h>
#include <png.h>

#include "megalide/npy.h"

namespace fs = std::filesystem;

namespace megalide::test {
namespace {

struct Result {
    int status;
    std::string output;  // stdout and stderr
};

Result shell(const std::string &command);

Result megalide(const std::string &args) { return shell(std::string(MEGALIDE_CLI) + " " + args + " --quiet 2>&1"); }

// The PNG driver linked with the digits classifier (apps/classify_png.cpp).
Result classify(const std::string &args) { return shell(std::string(MEGALIDE_CLASSIFY_DIGITS) + " " + args + " 2>&1"); }

std::string read_text(const std::string &path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

Result shell(const std::string &command) {
    FILE *pipe = popen(command.c_str(), "r");
    std::string out;
    char buffer[4096];
    while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    const int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class Cli : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/megalide_cli_XXXXXX";
        dir_ = mkdtemp(tmpl);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const std::string &name) const { return dir_ + "/" + name; }

    // A model: y = op(x) with x float32[dims] (a dim < 0 is symbolic); op "Reshape" reads a
    // second input "shape" (int64[2]), op "Add" a second input "x2" like x.
    std::string model(const std::string &name, const std::string &op, std::vector<int64_t> dims) {
        onnx::ModelProto m;
        m.set_ir_version(8);
        m.add_opset_import()->set_version(17);
        onnx::GraphProto *g = m.mutable_graph();
        g->set_name("cli_test");
        auto add_input = [&](const std::string &in, int type, const std::vector<int64_t> &shape) {
            onnx::ValueInfoProto *vi = g->add_input();
            vi->set_name(in);
            auto *tt = vi->mutable_type()->mutable_tensor_type();
            tt->set_elem_type(type);
            for (int64_t d : shape) {
                auto *dim = tt->mutable_shape()->add_dim();
                if (d < 0) dim->set_dim_param("batch"); else dim->set_dim_value(d);
            }
        };
        add_input("x", onnx::TensorProto::FLOAT, dims);
        onnx::NodeProto *node = g->add_node();
        node->set_op_type(op);
        node->set_name("the_node");
        node->add_input("x");
        if (op == "Reshape") {
            add_input("shape", onnx::TensorProto::INT64, {2});
            node->add_input("shape");
        } else if (op == "Add") {
            add_input("x2", onnx::TensorProto::FLOAT, dims);
            node->add_input("x2");
        }
        node->add_output("y");
        g->add_output()->set_name("y");
        const std::string file = path(name);
        std::ofstream out(file, std::ios::binary);
        m.SerializeToOstream(&out);
        return file;
    }

    std::string npy_float(const std::string &name, std::vector<int64_t> shape, float start) {
        HostArray a;
        a.shape = shape;
        std::vector<float> v(static_cast<size_t>(a.element_count()));
        for (size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i);
        a = HostArray::from_floats(shape, v);
        npy::write(path(name), a);
        return path(name);
    }

    bool empty_dir(const std::string &d) const { return !fs::exists(d) || fs::is_empty(d); }

    std::string dir_;
};

TEST_F(Cli, RunsAModelAndWritesEveryOutput) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    const std::string x = npy_float("x.npy", {2, 3}, -2.5f);
    const Result r = megalide("run " + m + " --input x=" + x + " --output " + path("out"));
    ASSERT_EQ(r.status, 0) << r.output;
    const HostArray y = npy::read(path("out/y.npy"));
    ASSERT_EQ(y.shape, (std::vector<int64_t>{2, 3}));
    for (int i = 0; i < 6; ++i) EXPECT_EQ(y.as<float>()[i], std::max(-2.5f + static_cast<float>(i), 0.0f));
    // Positional inputs bind in graph order.
    EXPECT_EQ(megalide("run " + m + " " + x + " --output " + path("out2")).status, 0);
    EXPECT_TRUE(fs::exists(path("out2/y.npy")));
}

TEST_F(Cli, InfoPrintsTheGraph) {
    const Result r = megalide("info " + model("relu.onnx", "Relu", {2, 3}));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("%y = Relu(%x) : float32[2, 3]"), std::string::npos) << r.output;
}

TEST_F(Cli, ShapeOperandsAreFrozenFromTheirInputs) {
    const std::string m = model("reshape.onnx", "Reshape", {2, 3});
    HostArray shape = HostArray::from_int64s({2}, {3, -1});
    npy::write(path("shape.npy"), shape);
    const Result r = megalide("run " + m + " --input x=" + npy_float("x.npy", {2, 3}, 0) + " --input shape=" + path("shape.npy") + " --output " + path("out"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(npy::read(path("out/y.npy")).shape, (std::vector<int64_t>{3, 2}));
}

TEST_F(Cli, TruncatedAndCorruptedModels) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    const std::string x = npy_float("x.npy", {2, 3}, 0);
    fs::resize_file(m, fs::file_size(m) / 2);
    Result r = megalide("run " + m + " " + x + " --output " + path("out"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("not a valid ONNX model"), std::string::npos) << r.output;
    std::ofstream(path("junk.onnx")) << "this is not protobuf \xff\xff\xff\xff";
    r = megalide("info " + path("junk.onnx"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("junk.onnx"), std::string::npos) << r.output;
    r = megalide("info " + path("missing.onnx"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("cannot open"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(path("out")));
}

TEST_F(Cli, UnsupportedOpIsNamedWithItsNode) {
    const Result r = megalide("info " + model("foo.onnx", "NonMaxSuppression", {2, 3}));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("unsupported op 'NonMaxSuppression'"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("the_node"), std::string::npos) << r.output;
}

TEST_F(Cli, SymbolicShapeIsRejected) {
    const Result r = megalide("info " + model("dyn.onnx", "Relu", {-1, 3}));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("symbolic dimension 'batch'"), std::string::npos) << r.output;
}

TEST_F(Cli, MissingExtraAndMismatchedInputs) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    const std::string out = path("out");
    Result r = megalide("run " + m + " --output " + out);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("missing input 'x'"), std::string::npos) << r.output;
    r = megalide("run " + m + " --input nope=" + npy_float("a.npy", {2, 3}, 0) + " --output " + out);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("no input named 'nope'"), std::string::npos) << r.output;
    r = megalide("run " + m + " " + npy_float("b.npy", {2, 3}, 0) + " " + npy_float("c.npy", {2, 3}, 0) + " --output " + out);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("1 inputs but 2 positional"), std::string::npos) << r.output;
    r = megalide("run " + m + " " + npy_float("d.npy", {3, 2}, 0) + " --output " + out);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("input 'x' must be float32[2, 3], got float32[3, 2]"), std::string::npos) << r.output;
    npy::write(path("e.npy"), HostArray::from_int64s({2, 3}, {1, 2, 3, 4, 5, 6}));
    r = megalide("run " + m + " " + path("e.npy") + " --output " + out);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("got int64[2, 3]"), std::string::npos) << r.output;
    std::ofstream(path("bad.npy")) << "garbage";
    r = megalide("run " + m + " " + path("bad.npy") + " --output " + out);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("input 'x'"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(out)) << "a failed run left files in " << out;
}

TEST_F(Cli, UnwritableOutputDirectory) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    const std::string x = npy_float("x.npy", {2, 3}, 0);
    Result r = megalide("run " + m + " " + x + " --output /proc/megalide_no_such_dir");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("output directory '/proc/megalide_no_such_dir'"), std::string::npos) << r.output;
    std::ofstream(path("a_file")) << "x";
    r = megalide("run " + m + " " + x + " --output " + path("a_file"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("is not a directory"), std::string::npos) << r.output;
}

TEST_F(Cli, SchedulesByNameOrFileAndTheirErrors) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    const std::string x = npy_float("x.npy", {2, 3}, -1);
    for (const char *strategy : {"root", "per_op", "li2018"}) {
        const Result r = megalide("run " + m + " " + x + " --output " + path(strategy) + " --schedule " + strategy);
        EXPECT_EQ(r.status, 0) << strategy << ": " << r.output;
    }
    // Save a schedule, then replay it from the file.
    Result r = megalide("run " + m + " " + x + " --output " + path("o1") + " --save-schedule " + path("relu.json"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(fs::exists(path("relu.json.cpp")));
    r = megalide("run " + m + " " + x + " --output " + path("o2") + " --schedule " + path("relu.json"));
    EXPECT_EQ(r.status, 0) << r.output;
    // Unknown strategy, unreadable and corrupted files, a schedule for another graph.
    r = megalide("run " + m + " " + x + " --output " + path("o3") + " --schedule fastest");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("unknown schedule strategy 'fastest'"), std::string::npos) << r.output;
    r = megalide("run " + m + " " + x + " --output " + path("o3") + " --schedule " + path("missing.json"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("cannot open"), std::string::npos) << r.output;
    std::ofstream(path("corrupt.json")) << "{\"format\": \"megalide-schedule-1\", \"strategy\": 3";
    r = megalide("run " + m + " " + x + " --output " + path("o3") + " --schedule " + path("corrupt.json"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("corrupt.json: not valid JSON"), std::string::npos) << r.output;
    const std::string other = model("sigmoid.onnx", "Sigmoid", {2, 3});
    r = megalide("run " + other + " " + x + " --output " + path("o3") + " --schedule " + path("relu.json"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("made for another graph"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(path("o3")));
}

TEST_F(Cli, ExplainPrintsThePlanAndRejectsUnknownTargets) {
    const std::string m = model("relu.onnx", "Relu", {1, 8, 6, 6});
    Result r = megalide("explain " + m + " --threads 2");
    ASSERT_EQ(r.status, 0) << r.output;
    for (const char *part : {"megakernel plan for target host", "out_y: root", "main section candidates", "loop nest:"}) {
        EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;
    }
    r = megalide("explain " + m + " --target hexagon-v99");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("unknown target 'hexagon-v99' (known: host, x86-64-avx512, x86-64-avx512-vnni, x86-64-avx2, hexagon-hvx-v66, hexagon-hvx-v68, hexagon-hvx-v66-vtcm, hexagon-hvx-v68-vtcm, or a Halide target string"), std::string::npos) << r.output;
    r = megalide("explain " + m + " --target x86-64-avx2");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("256-bit vectors, 16 registers"), std::string::npos) << r.output;
    EXPECT_EQ(megalide("explain " + m + " --candidate -1").status, 2);
    const std::string x = npy_float("x.npy", {1, 8, 6, 6}, 0);
    r = megalide("run " + m + " " + x + " --output " + path("o") + " --schedule megakernel --target sme-9000");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("unknown target 'sme-9000'"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(path("o")));
    EXPECT_EQ(megalide("explain " + m + " --output somewhere").status, 2);
}

TEST_F(Cli, ExplainSaysWhereThePlannerFallsBack) {
    // A global average pool is a reduction the planner does not fuse: per_op's placement.
    const std::string m = model("gap.onnx", "GlobalAveragePool", {1, 3, 4, 4});
    const Result r = megalide("explain " + m);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("note: y_sum is a reduction the planner does not fuse"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("falls back to per_op"), std::string::npos) << r.output;
    const std::string x = npy_float("x.npy", {1, 3, 4, 4}, 0);
    const Result run = megalide("run " + m + " " + x + " --output " + path("out") + " --schedule megakernel");
    ASSERT_EQ(run.status, 0) << run.output;
    const HostArray y = npy::read(path("out/y.npy"));
    const std::vector<double> v = y.to_doubles();
    ASSERT_EQ(v.size(), 3u);
    for (int c = 0; c < 3; ++c) EXPECT_DOUBLE_EQ(v[static_cast<size_t>(c)], 16 * c + 7.5) << "channel " << c;
}

TEST_F(Cli, TuneTimesCandidatesSavesTheFastestAndReusesIt) {
    const std::string m = model("relu.onnx", "Relu", {1, 8, 6, 6});
    const std::string x = npy_float("x.npy", {1, 8, 6, 6}, -100);
    setenv("MEGALIDE_SCHEDULE_DIR", path("tuned").c_str(), 1);
    Result r = megalide("run " + m + " " + x + " --output " + path("o1") + " --schedule megakernel --tune 2 --threads 1");
    ASSERT_EQ(r.status, 0) << r.output;
    ASSERT_TRUE(fs::exists(path("tuned")) && !fs::is_empty(path("tuned"))) << "no tuned schedule saved";
    r = megalide("explain " + m + " --threads 1");
    EXPECT_NE(r.output.find("a tuned schedule for this graph"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--schedule megakernel:tuned runs it"), std::string::npos) << r.output;
    r = megalide("run " + m + " " + x + " --output " + path("o2") + " --schedule megakernel:tuned --threads 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(npy::read(path("o1/y.npy")).to_doubles(), npy::read(path("o2/y.npy")).to_doubles());
    // Tuned schedules are keyed by the machine (features and caches): one saved on another
    // machine is not used for megakernel:tuned, and the error names it; given as a file it is
    // used, with a note that it was tuned elsewhere.
    {
        std::vector<fs::path> saved;
        for (const auto &entry : fs::directory_iterator(path("tuned"))) saved.push_back(entry.path());
        ASSERT_EQ(saved.size(), 1u);
        const std::string name = saved[0].filename().string();
        const size_t key = name.find(".host-");
        ASSERT_NE(key, std::string::npos) << name << " is not keyed by the machine";
        const std::string mine = name.substr(key + 1, std::string("host-").size() + 16);
        const std::string other = "host-0123456789abcdef";
        std::ifstream in(saved[0]);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        ASSERT_NE(text.find(mine), std::string::npos) << "the tuned schedule does not record its machine";
        for (size_t at = text.find(mine); at != std::string::npos; at = text.find(mine)) text.replace(at, mine.size(), other);
        const fs::path elsewhere = saved[0].parent_path() / (name.substr(0, key + 1) + other + name.substr(key + 1 + mine.size()));
        std::ofstream(elsewhere) << text;
        fs::remove(saved[0]);
        r = megalide("run " + m + " " + x + " --output " + path("o7") + " --schedule megakernel:tuned --threads 1");
        EXPECT_EQ(r.status, 1);
        EXPECT_NE(r.output.find("from other machines"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find(elsewhere.string()), std::string::npos) << r.output;
        EXPECT_TRUE(empty_dir(path("o7")));
        r = megalide("run " + m + " " + x + " --output " + path("o8") + " --schedule " + elsewhere.string() + " --threads 1");
        EXPECT_EQ(r.status, 0) << r.output;
        EXPECT_NE(r.output.find("was tuned on another machine"), std::string::npos) << r.output;
        fs::rename(elsewhere, saved[0]);
    }
    // Plain megakernel is the cost model's plan whatever is saved; asking for a tuned schedule
    // where none was saved (another thread count) is an error, not a silent fallback.
    ASSERT_EQ(megalide("run " + m + " " + x + " --output " + path("o5") + " --schedule megakernel --threads 1").status, 0);
    r = megalide("run " + m + " " + x + " --output " + path("o6") + " --schedule megakernel:tuned --threads 2");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("no tuned megakernel schedule for this graph, target host and 2 threads"), std::string::npos) << r.output;
    // A corrupted tuned schedule is an error naming the file, not a silent fallback.
    for (const auto &entry : fs::directory_iterator(path("tuned"))) std::ofstream(entry.path()) << "{ truncated";
    r = megalide("run " + m + " " + x + " --output " + path("o4") + " --schedule megakernel:tuned --threads 1");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find(path("tuned")), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("not valid JSON"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(path("o4")));
    // --tune only for megakernel, with a count, on a target this machine can time.
    EXPECT_EQ(megalide("run " + m + " " + x + " --output " + path("o3") + " --schedule per_op --tune 2").status, 2);
    EXPECT_EQ(megalide("run " + m + " " + x + " --output " + path("o3") + " --schedule megakernel --tune 0").status, 2);
    r = megalide("explain " + m + " --target x86-64-avx2 --tune 2");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("cannot be timed here"), std::string::npos) << r.output;
    unsetenv("MEGALIDE_SCHEDULE_DIR");
}

// `megalide info --ops` lists the op registry: ONNX ops with their attributes, fused forms in
// megalide's own domain, and the targets of each.

// The machine facts the host target reads are cached per machine; a corrupted cache is measured
// again with a note, never trusted or fatal.
TEST_F(Cli, CorruptedMachineFactsAreMeasuredAgain) {
    const std::string m = model("relu.onnx", "Relu", {1, 8, 6, 6});
    setenv("MEGALIDE_CACHE_DIR", path("cache").c_str(), 1);
    Result r = megalide("explain " + m + " --threads 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("machine: "), std::string::npos) << r.output;
    std::vector<fs::path> facts;
    for (const auto &entry : fs::directory_iterator(path("cache"))) facts.push_back(entry.path());
    ASSERT_EQ(facts.size(), 1u);
    const std::string first = read_text(facts[0].string());
    r = megalide("explain " + m + " --threads 1");
    EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
    EXPECT_EQ(read_text(facts[0].string()), first) << "measured again instead of read from the cache";
    std::ofstream(facts[0]) << "{\"version\": 1, \"ghz\": ";
    r = megalide("explain " + m + " --threads 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("warning: machine facts '" + facts[0].string() + "' are not valid"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("measuring again"), std::string::npos) << r.output;
    std::ifstream in(facts[0]);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("\"fma_gflops\""), std::string::npos) << "not rewritten: " << text;
    unsetenv("MEGALIDE_CACHE_DIR");
}

// The first of a few x86 ISA features this CPU lacks, if any (a Zen 5 host may have them all).
std::optional<Halide::Target::Feature> missing_x86_feature() {
    using F = Halide::Target::Feature;
    const Halide::Target host = Halide::get_host_target();
    for (F f : {F::AVX512_Zen5, F::AVX512_SapphireRapids, F::AVX512_Zen4, F::AVX512}) {
        if (!host.has_feature(f)) return f;
    }
    return std::nullopt;
}

// A timed run on a target asking for features this CPU lacks is refused, naming them.
TEST_F(Cli, RunOnATargetWithMissingFeaturesNamesThem) {
    const std::string m = model("relu.onnx", "Relu", {1, 8, 6, 6});
    const std::string x = npy_float("x.npy", {1, 8, 6, 6}, -100);
    if (const auto f = missing_x86_feature()) {
        const std::string target = Halide::Target("x86-64-linux").with_feature(*f).to_string();
        const Result r = megalide("run " + m + " " + x + " --output " + path("o") + " --target " + target);
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find("this machine lacks " + Halide::Target::feature_to_name(*f)), std::string::npos) << r.output;
        EXPECT_TRUE(empty_dir(path("o")));
        return;
    }
    // A CPU with every feature tried still lacks another architecture.
    const Result r = megalide("run " + m + " " + x + " --output " + path("o") + " --target arm-64-linux");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("this machine lacks the arm-64-linux architecture or OS"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(path("o")));
}

// HL_JIT_TARGET restricts what runs here (plan and code alike); asking for more than the CPU
// has is refused with the features named, and nothing is written. Restricted to SSE4.1 it runs.
TEST_F(Cli, HlJitTargetIsHonouredAndCheckedAgainstTheCpu) {
    const std::string m = model("relu.onnx", "Relu", {1, 8, 6, 6});
    const std::string x = npy_float("x.npy", {1, 8, 6, 6}, -100);
    if (const auto f = missing_x86_feature()) {
        const std::string target = Halide::Target("x86-64-linux-sse41-avx-f16c-fma-avx2").with_feature(*f).to_string();
        const Result r = shell("HL_JIT_TARGET=" + target + " " + MEGALIDE_CLI + " run " + m + " " + x + " --output " + path("o") + " --quiet 2>&1");
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find("asks for what this machine lacks: " + Halide::Target::feature_to_name(*f)), std::string::npos) << r.output;
        EXPECT_TRUE(empty_dir(path("o")));
    }
    const Result r = shell(std::string("HL_JIT_TARGET=x86-64-linux-sse41 ") + MEGALIDE_CLI + " explain " + m + " --threads 1 --quiet 2>&1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("megakernel plan for target x86-64-linux-sse41 (128-bit vectors, 16 registers"), std::string::npos) << r.output;
}

TEST_F(Cli, InfoListsTheOpRegistry) {
    const Result r = megalide("info --ops");
    ASSERT_EQ(r.status, 0) << r.output;
    for (const char *part : {"Conv: ", "    kernel_shape (ints): ", "com.microsoft.QLinearAdd: ", "com.megalide.Gelu (made by rewrites)",
                             "targets: host, x86-64-avx512"}) {
        EXPECT_NE(r.output.find(part), std::string::npos) << "missing '" << part << "' in\n" << r.output;
    }
    EXPECT_EQ(megalide("info --ops " + model("relu.onnx", "Relu", {1, 2})).status, 2);
}

TEST_F(Cli, BenchRejectsUnknownNames) {
    Result r = megalide("bench --blocks B9");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("unknown block 'B9'"), std::string::npos) << r.output;
    r = megalide("bench --strategies per_op,fastest");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("unknown strategy 'fastest'"), std::string::npos) << r.output;
    r = megalide("bench --peers tensorflow");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("unknown peer 'tensorflow'"), std::string::npos) << r.output;
    r = megalide("bench --blocks B9-int8");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("unknown block 'B9-int8'"), std::string::npos) << r.output;
    r = megalide("bench --probe-limit-gb 0");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--probe-limit-gb must be a positive number"), std::string::npos) << r.output;
}

// The bench runs in Python with megalide's module loaded: tests that get that far are a suite of
// their own, labelled python, which the sanitizer run leaves out (an ASan-built module cannot
// load into an uninstrumented interpreter).
class CliPython : public Cli {};

// A candidate that cannot be scheduled, compiled and run within its probe's limits is a
// "not timed" row; the rest of the run (here ONNX Runtime) is still timed and reported.
TEST_F(CliPython, BenchKeepsTheRunWhenACandidateFailsItsProbe) {
    Result r = megalide("bench --blocks B1 --strategies per_op --peers onnxruntime --threads 1 --runs 1 --quiet "
                        "--probe-limit-gb 0.05 --work " + path("bench"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("Not timed:"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("- B1 per_op (1 thread(s)):"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("| B1 | onnxruntime |"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("| B1 | per_op |"), std::string::npos) << "per_op must not be timed:\n" << r.output;
}

TEST_F(Cli, CompileWritesALibraryHeaderScheduleStatementAndReport) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    Result r = megalide("compile " + m + " --schedule per_op -o " + path("lib"));
    ASSERT_EQ(r.status, 0) << r.output;
    const std::vector<std::string> files = {"relu.a", "relu.h", "relu.schedule.json", "relu.schedule.cpp", "relu.stmt", "relu.s", "relu.report.txt"};
    for (const std::string &f : files) EXPECT_TRUE(fs::exists(path("lib/" + f))) << f;
    EXPECT_EQ(static_cast<size_t>(std::distance(fs::directory_iterator(path("lib")), fs::directory_iterator())), files.size())
        << "only the library's files, no staging left behind";
    const std::string header = read_text(path("lib/relu.h"));
    EXPECT_NE(header.find("int relu(struct halide_buffer_t *_in_x_buffer, struct halide_buffer_t *_out_y_buffer)"), std::string::npos) << header.substr(0, 2000);
    EXPECT_NE(header.find("input  'x': float32 [2, 3]"), std::string::npos);
    const std::string report = read_text(path("lib/relu.report.txt"));
    EXPECT_NE(report.find("placement per stage"), std::string::npos) << report;
    EXPECT_NE(report.find("time:     median"), std::string::npos) << report;
    // --name sets the entry function and the file names; a saved schedule is accepted.
    r = megalide("compile " + m + " --name my_relu --schedule " + path("lib/relu.schedule.json") + " -o " + path("lib2"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(read_text(path("lib2/my_relu.h")).find("int my_relu("), std::string::npos);
}

TEST_F(Cli, CompileRejectsBadInputAndWritesNothing) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    Result r = megalide("compile " + m + " --target riscv64-rvv -o " + path("out"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("unknown target 'riscv64-rvv' (known: host, x86-64-avx512"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(path("out")));
    r = megalide("compile " + model("nms.onnx", "NonMaxSuppression", {2, 3}) + " -o " + path("out"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("unsupported op 'NonMaxSuppression'"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(path("out")));
    r = megalide("compile " + m + " --name 9lives -o " + path("out"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("'9lives' is not a C identifier"), std::string::npos) << r.output;
    // Output directories that cannot be written; one that exists keeps only what it had.
    std::ofstream(path("a_file")) << "x";
    r = megalide("compile " + m + " -o " + path("a_file"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("is not a directory"), std::string::npos) << r.output;
    r = megalide("compile " + m + " -o " + path("a_file/sub"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("cannot be created"), std::string::npos) << r.output;
    r = megalide("compile " + m + " -o /proc/megalide_no_such_dir");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("output directory '/proc/megalide_no_such_dir'"), std::string::npos) << r.output;
    fs::create_directory(path("kept"));
    std::ofstream(path("kept/notes.txt")) << "mine";
    r = megalide("compile " + model("nms2.onnx", "NonMaxSuppression", {2, 3}) + " -o " + path("kept"));
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(static_cast<size_t>(std::distance(fs::directory_iterator(path("kept")), fs::directory_iterator())), 1u);
    EXPECT_EQ(megalide("compile " + m).status, 2);  // no -o
    EXPECT_EQ(megalide("compile " + m + " -o " + path("o") + " --tune 2").status, 2);
}

TEST_F(Cli, PngDriverClassifiesAndRejectsBadImages) {
    const std::string pngs = std::string(MEGALIDE_DIGITS_DIR) + "/heldout_png/";
    Result r = classify(pngs + "0_001.png " + pngs + "7_009.png");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("0_001.png: 0 (label 0)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("accuracy: "), std::string::npos) << r.output;
    // A PNG of the wrong size.
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = 9, image.height = 8, image.format = PNG_FORMAT_GRAY;
    std::vector<uint8_t> pixels(9 * 8, 128);
    ASSERT_TRUE(png_image_write_to_file(&image, path("wide.png").c_str(), 0, pixels.data(), 0, nullptr));
    r = classify(path("wide.png"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("the image is 9x8 pixels; the model takes 8x8"), std::string::npos) << r.output;
    // Not a PNG at all, and a missing file.
    std::ofstream(path("fake.png")) << "GIF89a, not a PNG";
    r = classify(path("fake.png"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("fake.png: not a readable PNG file"), std::string::npos) << r.output;
    r = classify(path("missing.png"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("missing.png: not a readable PNG file"), std::string::npos) << r.output;
    EXPECT_EQ(classify("").status, 2);
}

// y = QuantizeLinear(x, scale, zero_point) with the given constant parameters.
std::string quantize_model(const std::string &file, const std::vector<float> &scales, int zero_point_type, int axis = 1) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    onnx::GraphProto *g = m.mutable_graph();
    g->set_name("q");
    onnx::ValueInfoProto *vi = g->add_input();
    vi->set_name("x");
    auto *tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {2, 3}) tt->mutable_shape()->add_dim()->set_dim_value(d);
    onnx::TensorProto *s = g->add_initializer();
    s->set_name("scale");
    s->set_data_type(onnx::TensorProto::FLOAT);
    if (scales.size() != 1) s->add_dims(static_cast<int64_t>(scales.size()));
    for (float v : scales) s->add_float_data(v);
    onnx::TensorProto *z = g->add_initializer();
    z->set_name("zero_point");
    z->set_data_type(zero_point_type);
    z->add_int32_data(0);
    onnx::NodeProto *n = g->add_node();
    n->set_op_type("QuantizeLinear");
    n->set_name("quant");
    for (const char *i : {"x", "scale", "zero_point"}) n->add_input(i);
    n->add_output("y");
    onnx::AttributeProto *a = n->add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(axis);
    g->add_output()->set_name("y");
    std::ofstream out(file, std::ios::binary);
    m.SerializeToOstream(&out);
    return file;
}

TEST_F(Cli, BadQuantizationParametersAreNamed) {
    Result r = megalide("info " + quantize_model(path("zero.onnx"), {0.0f}, onnx::TensorProto::UINT8));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("y_scale 'scale' must be positive and finite, got 0"), std::string::npos) << r.output;
    r = megalide("info " + quantize_model(path("negative.onnx"), {-0.5f}, onnx::TensorProto::UINT8));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("must be positive and finite, got -0.5"), std::string::npos) << r.output;
    r = megalide("info " + quantize_model(path("nan.onnx"), {NAN}, onnx::TensorProto::UINT8));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("must be positive and finite, got nan"), std::string::npos) << r.output;
    r = megalide("info " + quantize_model(path("int32zp.onnx"), {0.5f}, onnx::TensorProto::INT32));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("y_zero_point 'zero_point' must be uint8 or int8, got int32"), std::string::npos) << r.output;
    // Per-axis scales along axis 1 (3 channels) given 2 entries.
    r = megalide("info " + quantize_model(path("count.onnx"), {0.5f, 0.25f}, onnx::TensorProto::UINT8));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("y_scale 'scale' has shape [2]: it must be a scalar or have one entry per channel (3)"), std::string::npos)
        << r.output;
    EXPECT_EQ(megalide("info " + quantize_model(path("ok.onnx"), {0.5f, 0.25f, 1.0f}, onnx::TensorProto::UINT8)).status, 0);
}

TEST_F(Cli, QuantizeRejectsBadCalibrationSets) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    fs::create_directory(path("empty"));
    Result r = megalide("quantize " + m + " --calib " + path("empty") + " -o " + path("q.onnx"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("holds no .npy files"), std::string::npos) << r.output;
    r = megalide("quantize " + m + " --calib " + path("nowhere") + " -o " + path("q.onnx"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("'" + path("nowhere") + "' does not exist"), std::string::npos) << r.output;
    fs::create_directory(path("wrong"));
    npy::write(path("wrong/a.npy"), HostArray::from_floats({3, 2}, std::vector<float>(6, 1.0f)));
    r = megalide("quantize " + m + " --calib " + path("wrong") + " -o " + path("q.onnx"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("is float32[3, 2]; the model's input is float32[2, 3]"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(path("q.onnx")));
    const std::string two = model("add.onnx", "Add", {2, 3});  // inputs x and x2
    fs::create_directory(path("ok"));
    npy::write(path("ok/a.npy"), HostArray::from_floats({2, 3}, std::vector<float>(6, 1.0f)));
    r = megalide("quantize " + two + " --calib " + path("ok") + " -o " + path("q.onnx"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("one input"), std::string::npos) << r.output;
    EXPECT_EQ(megalide("quantize " + m + " -o " + path("q.onnx")).status, 2);  // no --calib
    EXPECT_EQ(megalide("quantize " + m + " --calib " + path("ok")).status, 2);  // no -o
    EXPECT_EQ(megalide("quantize " + m + " --calib " + path("ok") + " -o " + path("q.onnx") + " --method median").status, 2);
    EXPECT_EQ(megalide("quantize " + m + " --calib " + path("ok") + " -o " + path("q.onnx") + " --method percentile --percentile 20").status, 2);
    r = megalide("quantize " + m + " --calib " + path("ok") + " --eval " + path("wrong") + " -o " + path("q.onnx"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("is float32[3, 2]"), std::string::npos) << r.output;
}

// The generators on bad parameters: a message naming the problem, a non-zero exit, no file.
TEST_F(Cli, GeneratorsRejectBadParameters) {
    const std::string out = path("gen");
    fs::create_directory(out);
    const std::string onnx = std::string(MEGALIDE_ONNX_GENERATOR) + " -g onnx_model -o " + out + " -e static_library,c_header target=host";
    Result r = shell(onnx + " 2>&1");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("set the generator parameter model=PATH.onnx"), std::string::npos) << r.output;
    r = shell(onnx + " model=" + path("missing.onnx") + " 2>&1");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("missing.onnx: cannot open"), std::string::npos) << r.output;
    r = shell(onnx + " model=" + model("nms.onnx", "NonMaxSuppression", {2, 3}) + " 2>&1");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("unsupported op 'NonMaxSuppression'"), std::string::npos) << r.output;
    r = shell(std::string(MEGALIDE_B1_GENERATOR) + " -g b1_inverted_residual -o " + out + " -e static_library target=host schedule=nonsense 2>&1");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("unknown schedule strategy 'nonsense'"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(out));
}

// A model y = Add(a, b) with a float32[a_dims] and b float32[b_dims] (broadcast).
std::string broadcast_add_model(const std::string &file, const std::vector<int64_t> &a_dims, const std::vector<int64_t> &b_dims) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    onnx::GraphProto *g = m.mutable_graph();
    g->set_name("limits_test");
    for (const auto &[name, dims] : {std::pair{"a", a_dims}, std::pair{"b", b_dims}}) {
        onnx::ValueInfoProto *vi = g->add_input();
        vi->set_name(name);
        auto *tt = vi->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
    onnx::NodeProto *node = g->add_node();
    node->set_op_type("Add");
    node->set_name("outer_sum");
    node->add_input("a");
    node->add_input("b");
    node->add_output("y");
    g->add_output()->set_name("y");
    std::ofstream out(file, std::ios::binary);
    m.SerializeToOstream(&out);
    return file;
}

TEST_F(Cli, AbsurdShapesAreRefusedBeforeAnythingIsAllocated) {
    // A dimension of 2^40 in a graph input.
    Result r = megalide("info " + model("huge_dim.onnx", "Relu", {int64_t(1) << 40}));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("input 'x': dimension 0 is 1099511627776"), std::string::npos) << r.output;
    // Two small inputs whose broadcast sum would have 46341^2 > 2^31 elements (8 GiB).
    r = megalide("info " + broadcast_add_model(path("outer.onnx"), {46341, 1}, {1, 46341}));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("Add 'outer_sum': output 'y' would hold"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("under 2^31 elements"), std::string::npos) << r.output;
    // Within Halide's limits but over --max-memory: named with the size and the limit.
    const std::string medium = broadcast_add_model(path("medium.onnx"), {1024, 1}, {1, 1024});  // 4 MiB output
    r = megalide("info " + medium + " --max-memory 1M");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("output 'y' would take 4 MiB"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("over the memory limit of 1 MiB (raise it with --max-memory)"), std::string::npos) << r.output;
    // The same model passes under the default limit, and --max-memory 8M.
    EXPECT_EQ(megalide("info " + medium).status, 0);
    EXPECT_EQ(megalide("info " + medium + " --max-memory 8M").status, 0);
    // Each tensor fits, all of them together do not: the sum is named with the largest ones.
    r = megalide("info " + medium + " --max-memory 4100K");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("its tensors take 4.01 MiB in all"), std::string::npos) << r.output;
    // run and compile refuse it too, and write nothing.
    const std::string x = npy_float("a.npy", {1024, 1}, 0.0f), y = npy_float("b.npy", {1, 1024}, 0.0f);
    r = megalide("run " + medium + " --input a=" + x + " --input b=" + y + " --output " + path("out") + " --max-memory 1M");
    EXPECT_EQ(r.status, 1) << r.output;
    r = megalide("compile " + medium + " -o " + path("lib") + " --max-memory 1M");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(empty_dir(path("out")));
    EXPECT_TRUE(empty_dir(path("lib")));
    // A malformed limit is a command-line error.
    for (const char *bad : {"lots", "-1G", "0", "12Q", "1e30T"}) {
        r = megalide("info " + medium + " --max-memory " + bad);
        EXPECT_EQ(r.status, 2) << bad << ": " << r.output;
        EXPECT_NE(r.output.find("--max-memory: memory size"), std::string::npos) << r.output;
    }
}

TEST_F(Cli, InternalErrorsExitThreeSayWhatWasBeingDoneAndWriteNothing) {
    const std::string m = model("relu.onnx", "Relu", {2, 3});
    const std::string x = npy_float("x.npy", {2, 3}, -2.5f);
    // The fault point throws std::out_of_range when a step's description contains the text.
    Result r = shell("MEGALIDE_TEST_INTERNAL_ERROR=lowering " + std::string(MEGALIDE_CLI) + " run " + m + " --input x=" + x +
                     " --output " + path("out") + " --quiet 2>&1");
    EXPECT_EQ(r.status, 3) << r.output;
    EXPECT_NE(r.output.find("megalide: internal error while lowering to one Halide pipeline: fault injected"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("this is a bug in megalide"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(path("out")));
    r = shell("MEGALIDE_TEST_INTERNAL_ERROR='writing 1 outputs' " + std::string(MEGALIDE_CLI) + " run " + m + " --input x=" + x + " --output " +
              path("out2") + " 2>&1");
    EXPECT_EQ(r.status, 3) << r.output;
    EXPECT_NE(r.output.find("internal error while writing 1 outputs"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(path("out2")));
    // A generator stops the same way, before writing its library.
    const std::string out = path("gen");
    fs::create_directory(out);
    r = shell("MEGALIDE_TEST_INTERNAL_ERROR=lowering " + std::string(MEGALIDE_ONNX_GENERATOR) + " -g onnx_model -o " + out +
              " -e static_library,c_header target=host model=" + m + " 2>&1");
    EXPECT_EQ(r.status, 3) << r.output;
    EXPECT_NE(r.output.find("internal error while lowering and scheduling the model"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_dir(out));
    // Without the fault, the same commands succeed (the fault point is what failed).
    EXPECT_EQ(megalide("run " + m + " --input x=" + x + " --output " + path("out3")).status, 0);
}

TEST_F(Cli, MalformedCommandLines) {
    EXPECT_EQ(megalide("frobnicate model.onnx").status, 2);
    EXPECT_EQ(megalide("run model.onnx").status, 2);  // no --output
    EXPECT_EQ(megalide("run model.onnx --input x --output o").status, 2);
    EXPECT_EQ(megalide("info").status, 2);
    EXPECT_EQ(megalide("run m.onnx --output o --threads zero").status, 2);
    EXPECT_EQ(megalide("compile m.onnx -o o --requantize banana").status, 2);
    EXPECT_EQ(megalide("--help").status, 0);
}

}  // namespace
}  // namespace megalide::test
