#include "megalide/runtime/run.h"

#include <cstring>
#include <memory>
#include <mutex>
#include <random>

#include "megalide/error.h"
#include "megalide/runtime/worker_pool.h"
#include "../lower/lowerer.h"

namespace megalide {

namespace {

void check_buffer(const std::string &what, const Halide::Buffer<> &b, DType dtype, const Dims &shape) {
    bool ok = b.defined() && b.type() == halide_type(dtype) && b.dimensions() == static_cast<int>(shape.size());
    for (int d = 0; ok && d < b.dimensions(); ++d) {
        ok = b.dim(d).min() == 0 && b.dim(d).extent() == shape[shape.size() - 1 - static_cast<size_t>(d)];
    }
    if (!ok) {
        Dims got;
        for (int d = b.dimensions(); d-- > 0;) got.push_back(b.dim(d).extent());
        throw Error(what + " must be " + describe(dtype, shape) + ", got a " + Halide::type_to_c_type(b.type(), false) +
                    " buffer of shape " + describe(dtype, got).substr(to_string(dtype).size()));
    }
}

// A call's context when it brings its own pool: Halide passes it to every parallel loop.
struct PoolContext : Halide::JITUserContext {
    WorkerPool *pool = nullptr;
};

int do_par_for_in_pool(Halide::JITUserContext *context, WorkerPool::Task task, int min, int extent, uint8_t *closure) {
    return static_cast<PoolContext *>(context)->pool->parallel_for(context, task, min, extent, closure);
}

}  // namespace

void run_buffers(LoweredGraph &lowered, const std::vector<Halide::Buffer<>> &inputs,
                 std::vector<Halide::Buffer<>> &outputs, WorkerPool *pool) {
    if (inputs.size() != lowered.inputs.size() || outputs.size() != lowered.outputs.size()) {
        throw Error("the graph has " + std::to_string(lowered.inputs.size()) + " inputs and " +
                    std::to_string(lowered.outputs.size()) + " outputs; got " + std::to_string(inputs.size()) +
                    " and " + std::to_string(outputs.size()));
    }
    // The calling convention of an AOT library: a user context, the inputs, the outputs.
    PoolContext context;
    if (pool) {
        context.pool = pool;
        context.handlers.custom_do_par_for = do_par_for_in_pool;
    }
    Halide::JITUserContext *context_ptr = &context;
    std::vector<const void *> argv = {&context_ptr};
    for (size_t i = 0; i < inputs.size(); ++i) {
        check_buffer("input '" + lowered.input_names[i] + "'", inputs[i], lowered.input_dtypes[i], lowered.input_shapes[i]);
        argv.push_back(inputs[i].raw_buffer());
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
        check_buffer("output '" + lowered.output_names[i] + "'", outputs[i], lowered.output_dtypes[i], lowered.output_shapes[i]);
        argv.push_back(outputs[i].raw_buffer());
    }
    compile_jit(lowered);
    const int status = lowered.callable->call_argv_fast(argv.size(), argv.data());
    if (status != 0) throw Error("the compiled pipeline failed with Halide error code " + std::to_string(status));
}

void compile_jit(LoweredGraph &lowered) {
    // Halide's JIT shares process-wide state (LLVM, the runtime modules): one compilation at
    // a time. The lock also makes the check-then-set of lowered.callable safe.
    static std::mutex jit_mutex;
    std::lock_guard<std::mutex> lock(jit_mutex);
    if (lowered.callable) return;
    std::vector<Halide::Argument> arguments(lowered.inputs.begin(), lowered.inputs.end());
    lowered.callable = std::make_shared<const Halide::Callable>(
        lowered.pipeline.compile_to_callable(arguments, Halide::get_jit_target_from_environment()));
}

std::vector<HostArray> run(LoweredGraph &lowered, const std::vector<HostArray> &inputs, WorkerPool *pool) {
    if (inputs.size() != lowered.inputs.size()) {
        throw Error("the graph has " + std::to_string(lowered.inputs.size()) + " inputs, " +
                    std::to_string(inputs.size()) + " were given");
    }
    std::vector<Halide::Buffer<>> in_buffers;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const HostArray &a = inputs[i];
        if (a.dtype != lowered.input_dtypes[i] || a.shape != lowered.input_shapes[i]) {
            throw Error("input '" + lowered.input_names[i] + "' must be " +
                        describe(lowered.input_dtypes[i], lowered.input_shapes[i]) + ", got " + describe(a.dtype, a.shape));
        }
        // A view of the host array's memory (run() does not write inputs).
        std::vector<int> sizes = halide_shape(a.shape, plain_layout(static_cast<int>(a.shape.size())));
        in_buffers.emplace_back(halide_type(a.dtype), const_cast<uint8_t *>(a.bytes.data()), sizes);
    }
    std::vector<HostArray> results(lowered.outputs.size());
    std::vector<Halide::Buffer<>> outs;
    for (size_t i = 0; i < lowered.outputs.size(); ++i) {
        HostArray &r = results[i];
        r.dtype = lowered.output_dtypes[i];
        r.shape = lowered.output_shapes[i];
        r.bytes.resize(static_cast<size_t>(r.element_count()) * item_size(r.dtype));
        outs.emplace_back(halide_type(r.dtype), r.bytes.data(), halide_shape(r.shape, plain_layout(static_cast<int>(r.shape.size()))));
    }
    run_buffers(lowered, in_buffers, outs, pool);
    return results;
}

namespace {

Halide::Buffer<> buffer_of(DType dtype, const Dims &shape) {
    std::vector<int> extents;
    for (size_t d = shape.size(); d-- > 0;) extents.push_back(static_cast<int>(shape[d]));
    return Halide::Buffer<>(halide_type(dtype), extents);
}

}  // namespace

std::vector<Halide::Buffer<>> random_input_buffers(const LoweredGraph &lowered, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<Halide::Buffer<>> inputs;
    for (size_t i = 0; i < lowered.inputs.size(); ++i) {
        Halide::Buffer<> b = buffer_of(lowered.input_dtypes[i], lowered.input_shapes[i]);
        if (b.type() == Halide::Float(32)) {
            Halide::Buffer<float> f(b);
            f.for_each_value([&](float &v) { v = uniform(rng); });
        } else {
            std::memset(b.data(), 0, b.size_in_bytes());
        }
        inputs.push_back(b);
    }
    return inputs;
}

std::vector<Halide::Buffer<>> output_buffers(const LoweredGraph &lowered) {
    std::vector<Halide::Buffer<>> outputs;
    for (size_t i = 0; i < lowered.outputs.size(); ++i) outputs.push_back(buffer_of(lowered.output_dtypes[i], lowered.output_shapes[i]));
    return outputs;
}

}  // namespace megalide
