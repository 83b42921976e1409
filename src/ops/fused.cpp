// megalide's fused forms (domain com.megalide), made by rewrites, never read from files:
// FusedConv, FusedGemm, FusedMatMul, FusedQLinearConv, FusedQLinearMatMul. Each is its ONNX
// op plus what ONNX's op does not have: an activation applied to the result (Relu or Clip, on
// the quantized output for the QLinear forms), a bias input for MatMul and QLinearMatMul, and
// transposed operands for MatMul (rewrite/rules.h says which rule makes which). Their shape
// inference and lowering are the ONNX op's, which read these attributes.
#include "megalide/ops/registry.h"

#include <algorithm>

#include "megalide/error.h"

namespace megalide::ops {

void register_fused_ops(std::vector<OpDef> &ops) {
    using K = Attribute::Kind;
    const std::vector<AttributeSpec> activation = {
        {"activation", K::String, "Relu or Clip, applied to the result"},
        {"activation_min", K::Float, "Clip's lower bound (default -inf)"},
        {"activation_max", K::Float, "Clip's upper bound (default +inf)"},
    };
    std::vector<OpDef> fused;
    for (const char *name : {"Conv", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul"}) {
        auto base = std::find_if(ops.begin(), ops.end(), [&](const OpDef &d) { return d.domain == kOnnxDomain && d.name == name; });
        MEGALIDE_INTERNAL_CHECK(base != ops.end(), "fused ops are registered after their ONNX ops");
        OpDef f = *base;
        f.domain = kMegalideDomain;
        f.name = std::string("Fused") + name;
        f.summary = base->summary + ", with a fused activation" +
                    (std::string(name).find("MatMul") != std::string::npos ? " and bias (input 2; QLinearMatMul: input 8)" : "");
        f.attributes.insert(f.attributes.end(), activation.begin(), activation.end());
        if (std::string(name) == "MatMul") {
            f.attributes.push_back({"transA", K::Int, "A's last two axes swapped first (default 0)"});
            f.attributes.push_back({"transB", K::Int, "B's last two axes swapped first (default 0)"});
        }
        f.importable = false;
        fused.push_back(f);
    }
    ops.insert(ops.end(), fused.begin(), fused.end());
}

}  // namespace megalide::ops
