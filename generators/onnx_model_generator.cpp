// Any ONNX model megalide can lower, as a Generator: `model` names the .onnx file (read when
// the generator runs, so the build depends on it). Arguments are the model's runtime inputs
// then its outputs, in graph order, named after them (made C identifiers); weights are
// baked into the library.
#include "graph_generator.h"
#include "megalide/error.h"
#include "megalide/onnx_import.h"

namespace {

class OnnxModel : public megalide::GraphGenerator<OnnxModel> {
public:
    GeneratorParam<std::string> model{"model", ""};

    megalide::Graph build_graph() const {
        if (std::string(model).empty()) throw megalide::Error("onnx_model: set the generator parameter model=PATH.onnx");
        return megalide::import_onnx(model);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(OnnxModel, onnx_model)
