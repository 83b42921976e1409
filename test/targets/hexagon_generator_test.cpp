// Generators for Hexagon: the digits CNN, quantized to int8 by `megalide quantize` and built by
// the ONNX generator for HVX v66 through the CMake helper (generators/CMakeLists.txt), fused and
// op by op. Each static library (and the Halide runtime its rule builds beside it) is linked
// into a freestanding program and run under qemu-hexagon: bit for bit the host's result of the
// same model in the same fixed-point arithmetic, with HVX dot products in its assembly. A
// Hexagon library is never trusted unrun (../shared/targets/HEXAGON.md: one build in seven was
// miscompiled).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "megalide/onnx_import.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"
#include "megalide/target/hexagon.h"
#include "megalide/target/target.h"
#include "test_util.h"

namespace megalide {
namespace {

std::string read_text(const std::string &path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The model the generator read, lowered as the generator lowers it for HVX (rewrites, fixed-point
// requantization) but scheduled op by op and JIT-compiled for this machine.
struct HostReference {
    Graph graph;
    LoweredGraph lowered;
};

HostReference host_reference() {
    HostReference r{import_onnx(MEGALIDE_DIGITS_INT8_MODEL), {}};
    rewrite_to_fixpoint(r.graph, default_rules());
    LowerOptions options;
    options.requantization = layers::Requantization::FixedPoint;
    r.lowered = lower(r.graph, options);
    const TargetSpec host = host_target_spec(1);
    apply(make_schedule("per_op", r.graph, r.lowered, host), r.graph, r.lowered, host);
    return r;
}

TEST(HexagonGenerator, DigitsInt8LibrariesRunUnderQemuAsTheHostComputes) {
    find_hexagon_tools().require(true);  // bootstrap --tests installs them: a missing tool fails here, by name
    HostReference ref = host_reference();
    ASSERT_TRUE(is_quantized(ref.graph)) << MEGALIDE_DIGITS_INT8_MODEL << " is not an int8 model";
    test::Seeded s;
    MEGALIDE_SEED_TRACE(s);
    std::mt19937 rng(static_cast<unsigned>(s.seed));
    std::uniform_real_distribution<double> pixel(0, 1);  // the digits CNN reads grey levels in [0, 1]
    std::vector<HostArray> inputs;
    for (size_t i = 0; i < ref.lowered.inputs.size(); ++i) {
        HostArray a = HostArray::from_doubles(ref.lowered.input_dtypes[i], ref.lowered.input_shapes[i], std::vector<double>(1));
        std::vector<double> values(static_cast<size_t>(a.element_count()));
        for (double &v : values) v = pixel(rng);
        inputs.push_back(HostArray::from_doubles(ref.lowered.input_dtypes[i], ref.lowered.input_shapes[i], values));
    }
    const std::vector<HostArray> want = run(ref.lowered, inputs);
    const std::vector<double> logits = want.at(0).to_doubles();
    ASSERT_GT(std::set<double>(logits.begin(), logits.end()).size(), 5u) << "the host's outputs barely vary";

    const TargetSpec hvx = target_spec("hexagon-hvx-v66", 1);
    for (const std::string schedule : {"megakernel", "per_op"}) {
        SCOPED_TRACE(schedule);
        const std::string name = "digits_int8_" + schedule + "_hvx_v66";
        const std::string library = std::string(MEGALIDE_GENERATED_DIR) + "/" + name + ".a";
        const std::string runtime = std::string(MEGALIDE_GENERATED_DIR) + "/" + name + ".runtime.a";
        const ScratchDir scratch;
        const HexagonProgram program = link_hexagon_program(library, name, hvx, scratch.path(), {runtime});
        const EmulatedRun got = run_hexagon_program(program, ref.lowered, hvx, inputs, scratch.path());
        EXPECT_EQ(check_against_host(got.outputs, want, ref.lowered.output_names, true, name), 0.0);
        // The convolutions' byte dot products are HVX vrmpy (the structural check).
        const std::string assembly = read_text(std::string(MEGALIDE_GENERATED_DIR) + "/" + name + ".s");
        EXPECT_NE(assembly.find("vrmpy"), std::string::npos) << name << ".s has no vrmpy";
    }
}

}  // namespace
}  // namespace megalide
