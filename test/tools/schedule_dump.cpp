// schedule_dump: writes the per_op and megakernel schedules (the cost model's own plan, never a
// tuned file) of many models as JSON, so that a refactoring of lowering or the schedulers can be
// shown to change no schedule: dump before, dump after, diff the two directories
// (scripts/schedule_snapshot.sh does all three).
//
//   schedule_dump --target T --threads N --out DIR [--no-rewrite] MODEL.onnx|NODE_TEST_DIR...
//
// Models are rewritten as `megalide run` does (default rules) unless --no-rewrite.
// A NODE_TEST_DIR is an ONNX backend node test (model.onnx + test_data_set_0): its
// shape-fixing inputs are frozen from data set 0, as the conformance test does. Files are
// named <stem>.<strategy>.json; a model megalide cannot import or lower gets <stem>.error.txt
// with the message (those must match too).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include <onnx/onnx_pb.h>

#include "megalide/error.h"
#include "megalide/lower/lower.h"
#include "megalide/onnx_import.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/schedule/strategy.h"

namespace fs = std::filesystem;
using namespace megalide;

namespace {

Graph import_model_or_node_test(const fs::path &path) {
    if (!fs::is_directory(path)) return import_onnx(path.string());
    const fs::path model = path / "model.onnx", data = path / "test_data_set_0";
    const std::vector<std::string> frozen = shape_operand_inputs(model.string());
    ImportOptions options;
    const std::vector<std::string> names = graph_input_names(model.string());
    for (size_t i = 0; i < names.size(); ++i) {
        const fs::path file = data / ("input_" + std::to_string(i) + ".pb");
        if (fs::exists(file) && std::count(frozen.begin(), frozen.end(), names[i])) {
            options.frozen_inputs[names[i]] = read_tensor_proto(file.string());
        }
    }
    return import_onnx(model.string(), options);
}

void write(const fs::path &path, const std::string &text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char **argv) {
    std::string target_name = "x86-64-avx2", out_dir;
    int threads = 1;
    bool rewrite = true;
    std::vector<fs::path> models;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--target" && i + 1 < argc) target_name = argv[++i];
        else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
        else if (a == "--out" && i + 1 < argc) out_dir = argv[++i];
        else if (a == "--no-rewrite") rewrite = false;
        else models.emplace_back(a);
    }
    if (out_dir.empty() || models.empty()) {
        std::cerr << "usage: schedule_dump --target T --threads N --out DIR MODEL.onnx|NODE_TEST_DIR...\n";
        return 2;
    }
    fs::create_directories(out_dir);
    const TargetSpec target = target_spec(target_name, threads);
    int written = 0;
    for (const fs::path &m : models) {
        const std::string stem = fs::is_directory(m) ? m.filename().string() : m.stem().string();
        try {
            Graph graph = import_model_or_node_test(m);
            if (rewrite) rewrite_to_fixpoint(graph, default_rules());
            const LoweredGraph lowered = lower(graph);
            for (const std::string strategy : {"per_op", "megakernel"}) {
                write(fs::path(out_dir) / (stem + "." + strategy + ".json"),
                      make_schedule(strategy, graph, lowered, target).to_json());
                ++written;
            }
        } catch (const std::exception &e) {
            write(fs::path(out_dir) / (stem + ".error.txt"), std::string(e.what()) + "\n");
        }
    }
    std::cerr << "schedule_dump: " << written << " schedules of " << models.size() << " models in " << out_dir << "\n";
    return 0;
}
