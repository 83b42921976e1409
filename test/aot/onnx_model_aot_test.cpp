// The generic ONNX generator's libraries (generators/onnx_model_generator.cpp on the digits
// CNN, fused and op by op) against the JIT of the same model and schedule strategy, on the
// committed calibration images (apps/digits/calib).
#include <filesystem>
#include <thread>

#include "digits_megakernel.h"
#include "digits_per_op.h"
#include "megalide/lower/lower.h"
#include "megalide/npy.h"
#include "megalide/onnx_import.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"
#include "test_util.h"

namespace megalide::test {
namespace {

const std::string kDigits = MEGALIDE_DIGITS_DIR;

TEST(OnnxModelAot, DigitsMatchesJit) {
    Graph g = import_onnx(kDigits + "/digits_cnn.onnx");
    rewrite_to_fixpoint(g, default_rules());
    std::vector<HostArray> images;
    for (int i = 0; i < 16; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "/calib/calib_%03d.npy", i);
        images.push_back(npy::read(kDigits + name));
    }
    ASSERT_EQ(images[0].shape, (std::vector<int64_t>{1, 1, 8, 8}));
    // Same model, schedule and compiler: code generation alone differs. The logits reduce
    // 512 products in the first Gemm, the longest chain in the network (9 + 144 before it).
    const double tol = reduction_tolerance(9 + 144 + 512 + 64);
    for (const char *strategy : {"megakernel", "per_op"}) {
        SCOPED_TRACE(strategy);
        LoweredGraph lowered = lower(g);
        const TargetSpec target = host_target_spec(static_cast<int>(std::thread::hardware_concurrency()));
        apply(make_schedule(strategy, g, lowered, target), g, lowered, target);
        auto entry = std::string(strategy) == "megakernel" ? digits_megakernel : digits_per_op;
        for (const HostArray &image : images) {
            const HostArray jit = run(lowered, {image}).at(0);
            Halide::Buffer<float> in = to_buffer(image), out(10, 1);
            ASSERT_EQ(entry(in.raw_buffer(), out.raw_buffer()), 0);
            expect_close(out, to_array(jit), tol, tol, "AOT vs JIT logits");
        }
    }
}

}  // namespace
}  // namespace megalide::test
