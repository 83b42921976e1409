// Post-training quantization: a float ONNX model and a calibration set become a QDQ model
// (QuantizeLinear / DequantizeLinear pairs around every quantizable tensor, int8 weights)
// that ONNX Runtime runs as written and megalide's rewrites fold into int8 ops
// (rewrite/rules.h: fold_qdq, fold_requantize). What `megalide quantize` does.
//
// Scheme: activations asymmetric uint8 per tensor, their range from the calibration set
// (min/max, or percentiles of the values seen) widened to include 0; weights of Conv, Gemm
// and MatMul symmetric int8 per output channel (zero point 0, range [-127, 127]); biases
// int32 at scale input_scale * weight_scale. An activation feeding a fused Relu/Clip is not
// quantized on its own (the activation's output is). Single-input models.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/host_array.h"
#include "megalide/runtime/executor.h"

namespace megalide {

struct QuantizeOptions {
    enum class Method { MinMax, Percentile };
    Method method = Method::MinMax;
    double percentile = 99.99;  ///< Percentile: the range keeps this share of values (per side)
    ResourceLimits limits;      ///< the model is refused when it needs more
    std::function<void(const std::string &)> progress;
};

/// What quantize_model() did, and how the result compares with the float model.
struct QuantizeReport {
    int tensors = 0, weights = 0, biases = 0;  ///< Q/DQ pairs, int8 weights, int32 biases
    int samples = 0;                           ///< evaluated inputs
    double max_abs_error = 0, mean_abs_error = 0, output_range = 0;  ///< first output vs float
    double snr_db = 0;                         ///< 10 log10(signal power / error power)
    int top1_agree = -1;                       ///< argmax agreement, if the output is (1, classes)
    std::string text() const;
};

/// Reads every .npy in `dir` (sorted by name) as one input sample; throws Error if the
/// directory is missing or empty, or a file is not an .npy of `shape` and `dtype`.
std::vector<HostArray> read_samples(const std::string &dir, DType dtype, const std::vector<int64_t> &shape);

/// Calibrates `model_path` on `calibration`, writes the QDQ model to `out_path`, then runs
/// both models on `evaluation` (the calibration set if empty) and compares their first
/// outputs. Models run only through `executor` (runtime/executor.h: HostExecutor is what
/// `megalide quantize` uses); this transform never lowers or compiles anything itself. Throws
/// Error for a model with other than one input, an empty calibration set, or samples of the
/// wrong type or shape.
QuantizeReport quantize_model(const std::string &model_path, const std::vector<HostArray> &calibration,
                              const std::string &out_path, const std::vector<HostArray> &evaluation,
                              const GraphExecutor &executor, const QuantizeOptions &options = {});

}  // namespace megalide
