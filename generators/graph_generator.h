// GraphGenerator: the Halide Generator behind every model-block generator. A derived class
// supplies the block as a megalide Graph (build_graph(), reading its own GeneratorParams);
// this class declares one Input<Buffer<>> per graph input and one Output<Buffer<>> per graph
// output (graph order, names made C identifiers, dense C-order layout as in lower/lower.h),
// lowers the graph onto them and applies the schedule named by the `schedule`
// GeneratorParam for the Generator's `target`: the host, another x86 feature set, or Hexagon
// HVX (hexagon-32-noos-hvx-hvx_128-hvx_v66 or _v68: no parallel loops, int8 requantized in
// fixed point; generators/CMakeLists.txt builds Q1 that way).
//
//   schedule  megakernel (default) | per_op | root | adams2019 | mullapudi2016 | li2018 |
//             a path to a saved schedule .json
//   threads   the thread count the schedule is planned for; 0: the cores of this machine
//   rewrite   run the graph rewrites first (default true)
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "Halide.h"
#include "megalide/compile.h"
#include "megalide/error.h"
#include "megalide/graph/graph.h"
#include "megalide/lower/lower.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/schedule/strategy.h"

namespace megalide {

template <typename T>
class GraphGenerator : public Halide::Generator<T> {
public:
    Halide::GeneratorParam<std::string> schedule{"schedule", "megakernel"};
    Halide::GeneratorParam<int> threads{"threads", 0};
    Halide::GeneratorParam<bool> rewrite{"rewrite", true};

    // megalide's user errors (a bad model, an unknown schedule) are reported as Halide's, so the
    // generator stops with the message and writes nothing. Anything else is a bug in megalide:
    // reported as an internal error, and the generator exits 3 before writing anything.
    void configure() { guarded("reading the model and declaring the generator's arguments", [&] { declare_arguments(); }); }

    void generate() { guarded("lowering and scheduling the model", [&] { lower_and_schedule(); }); }

private:
    template <typename F>
    void guarded(const std::string &doing, F &&f) {
        try {
            test_fault_point(doing);
            f();
        } catch (...) {
            const Failure failure = classify_current_exception(doing);
            if (!failure.internal) throw Halide::CompileError(failure.message);
            std::fprintf(stderr, "megalide generator: %s\n", failure.message.c_str());
            std::fflush(stderr);
            std::_Exit(3);
        }
    }

    void declare_arguments() {
        graph_ = static_cast<T *>(this)->build_graph();
        if (rewrite) rewrite_to_fixpoint(graph_, default_rules());
        for (const std::string &name : graph_.inputs) {
            const Value &v = graph_.value(name);
            inputs_.push_back(this->template add_input<Halide::Buffer<>>(c_identifier(name), halide_type(v.dtype),
                                                                        static_cast<int>(v.shape.size())));
        }
        for (const std::string &name : graph_.outputs) {
            const Value &v = graph_.value(name);
            outputs_.push_back(this->template add_output<Halide::Buffer<>>(c_identifier(name), halide_type(v.dtype),
                                                                          static_cast<int>(v.shape.size())));
        }
    }

    void lower_and_schedule() {
        const int n = threads > 0 ? static_cast<int>(threads) : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
        const TargetSpec target = target_spec_for(this->get_target(), n);

        // The algorithm: the graph lowered onto the Generator's inputs. Without float vectors
        // (HVX v66) int8 layers requantize in fixed point, as `megalide run --target` does.
        LowerOptions options;
        for (auto *in : inputs_) options.inputs.push_back(Halide::ImageParam(*in));
        options.requantization = default_requantization(target);
        LoweredGraph lowered = lower(graph_, options);
        for (size_t i = 0; i < outputs_.size(); ++i) *outputs_[i] = lowered.outputs[i];

        // Estimates: the graph's static shapes (the autoschedulers read them).
        for (size_t i = 0; i < inputs_.size(); ++i) inputs_[i]->set_estimates(region(lowered.input_shapes[i]));
        for (size_t i = 0; i < outputs_.size(); ++i) outputs_[i]->set_estimates(region(lowered.output_shapes[i]));

        // The schedule: made (or loaded) as data for this target, then applied.
        const Schedule s = load_or_make_schedule(schedule, graph_, lowered, target);
        apply(s, graph_, lowered, target);
    }

    static Halide::Region region(const std::vector<int64_t> &onnx_shape) {
        Halide::Region r;
        for (size_t d = onnx_shape.size(); d-- > 0;) r.emplace_back(0, static_cast<int>(onnx_shape[d]));
        return r;
    }

    Graph graph_;
    std::vector<Halide::GeneratorInput<Halide::Buffer<>> *> inputs_;
    std::vector<Halide::GeneratorOutput<Halide::Buffer<>> *> outputs_;
};

}  // namespace megalide
