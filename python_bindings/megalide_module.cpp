// The `megalide` Python module: import an ONNX model, compile it with a schedule strategy,
// run it on NumPy arrays. Schedule experiments and the benchmark drive megalide from here.
//
//   import megalide
//   model = megalide.Model("block.onnx")                 # import + rewrites
//   compiled = model.compile("per_op", threads=2)        # lower, schedule, JIT-compile
//   outputs = compiled.run([x])                          # NumPy in, NumPy out
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <thread>

#include "fma_peak.h"
#include "megalide/error.h"
#include "megalide/lower/lower.h"
#include "megalide/onnx_import.h"
#include "megalide/quantize.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/runtime/timer.h"
#include "megalide/schedule/megakernel.h"
#include "megalide/schedule/strategy.h"
#include "megalide/target/machine.h"

namespace py = pybind11;
using namespace megalide;

namespace {

/// Runs f as the step `doing`: an internal error of any C++ type leaves as InternalError with
/// "internal error while <doing>" (megalide.InternalError in Python); user errors pass as they are.
template <typename F>
auto guarded(const std::string &doing, F &&f) -> decltype(f()) {
    try {
        test_fault_point(doing);
        return f();
    } catch (const Error &) {
        throw;
    } catch (...) {
        const Failure failure = classify_current_exception(doing);
        if (failure.internal) throw InternalError(failure.message);
        throw;
    }
}

DType dtype_of_numpy(const py::dtype &d, const std::string &what) {
    if (d.is(py::dtype::of<float>())) return DType::Float32;
    if (d.is(py::dtype::of<double>())) return DType::Float64;
    if (d.is(py::dtype::of<int8_t>())) return DType::Int8;
    if (d.is(py::dtype::of<uint8_t>())) return DType::UInt8;
    if (d.is(py::dtype::of<int32_t>())) return DType::Int32;
    if (d.is(py::dtype::of<int64_t>())) return DType::Int64;
    if (d.is(py::dtype::of<bool>())) return DType::Bool;
    throw Error(what + ": unsupported NumPy dtype " + std::string(py::str(d)));
}

HostArray to_host(const py::array &a, const std::string &what) {
    py::array c = py::array::ensure(a, py::array::c_style);
    HostArray h;
    h.dtype = dtype_of_numpy(c.dtype(), what);
    h.shape.assign(c.shape(), c.shape() + c.ndim());
    h.bytes.resize(static_cast<size_t>(c.nbytes()));
    std::memcpy(h.bytes.data(), c.data(), h.bytes.size());
    return h;
}

py::array to_numpy(const HostArray &h) {
    py::dtype d;
    switch (h.dtype) {
    case DType::Float32: d = py::dtype::of<float>(); break;
    case DType::Float64: d = py::dtype::of<double>(); break;
    case DType::Int8: d = py::dtype::of<int8_t>(); break;
    case DType::UInt8: d = py::dtype::of<uint8_t>(); break;
    case DType::Int32: d = py::dtype::of<int32_t>(); break;
    case DType::Int64: d = py::dtype::of<int64_t>(); break;
    case DType::Bool: d = py::dtype::of<bool>(); break;
    }
    py::array out(d, std::vector<py::ssize_t>(h.shape.begin(), h.shape.end()));
    if (!h.bytes.empty()) std::memcpy(out.mutable_data(), h.bytes.data(), h.bytes.size());
    return out;
}

struct Compiled {
    Graph graph;
    LoweredGraph lowered;
    Schedule schedule;
    double schedule_ms = 0, compile_ms = 0;

    // Zero-copy: Halide reads the NumPy inputs and writes fresh NumPy outputs in place.
    py::list run(const std::vector<py::array> &inputs) {
        std::vector<py::array> keep;
        std::vector<Halide::Buffer<>> in, out;
        for (size_t i = 0; i < inputs.size(); ++i) {
            py::array c = py::array::ensure(inputs[i], py::array::c_style);
            if (!c) throw Error("input " + std::to_string(i) + " is not an array");
            const DType dtype = dtype_of_numpy(c.dtype(), "input " + std::to_string(i));
            std::vector<int> sizes;
            for (py::ssize_t d = c.ndim(); d-- > 0;) sizes.push_back(static_cast<int>(c.shape(d)));
            in.emplace_back(halide_type(dtype), const_cast<void *>(c.data()), sizes);
            keep.push_back(c);
        }
        py::list result;
        for (size_t i = 0; i < lowered.outputs.size(); ++i) {
            HostArray shape_only;
            shape_only.dtype = lowered.output_dtypes[i];
            shape_only.shape = lowered.output_shapes[i];
            py::array o = to_numpy(shape_only);
            std::vector<int> sizes;
            for (size_t d = shape_only.shape.size(); d-- > 0;) sizes.push_back(static_cast<int>(shape_only.shape[d]));
            out.emplace_back(halide_type(shape_only.dtype), o.mutable_data(), sizes);
            result.append(o);
        }
        {
            py::gil_scoped_release release;
            guarded("running the compiled model", [&] { run_buffers(lowered, in, out); });
        }
        return result;
    }
};

struct Model {
    Graph graph;
    std::string path;

    Compiled compile(const std::string &strategy, int threads, int candidate) {
        return guarded("compiling " + path + " with " + strategy, [&] { return compile_unguarded(strategy, threads, candidate); });
    }

private:
    Compiled compile_unguarded(const std::string &strategy, int threads, int candidate) {
        Compiled c;
        c.graph = graph;
        c.lowered = lower(graph);
        const TargetSpec target = host_target_spec(threads);
        Stopwatch watch;
        if (candidate < 0) throw Error("candidate must be >= 0, got " + std::to_string(candidate));
        if (candidate > 0 && strategy != "megakernel") throw Error("candidate applies to the megakernel strategy only");
        if (candidate > 0) {
            c.schedule = plan_megakernel(c.lowered, target, static_cast<size_t>(candidate)).schedule;
            c.schedule.graph = graph_fingerprint(graph);
        } else {
            c.schedule = load_or_make_schedule(strategy, graph, c.lowered, target);
        }
        apply(c.schedule, graph, c.lowered, target);
        c.schedule_ms = watch.ms();
        watch.restart();
        compile_jit(c.lowered);
        c.compile_ms = watch.ms();
        return c;
    }
};

}  // namespace

PYBIND11_MODULE(megalide, m) {
    m.doc() = "megalide: compile ONNX model sections into one Halide pipeline";
    // Two kinds, as in the CLI (include/megalide/error.h): megalide.Error (a ValueError) for a
    // bad model, input or argument; megalide.InternalError (a RuntimeError) for a bug in
    // megalide, whatever C++ exception carried it. Halide's own user errors stay RuntimeErrors.
    static py::exception<Error> user_error(m, "Error", PyExc_ValueError);
    static py::exception<InternalError> internal_error(m, "InternalError", PyExc_RuntimeError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const py::builtin_exception &) {
            throw;  // pybind11's own (cast errors, StopIteration, ...) keep their Python types
        } catch (const py::error_already_set &) {
            throw;
        } catch (const Error &e) {
            py::set_error(user_error, e.what());
        } catch (const InternalError &e) {
            // guarded() already said what was being done.
            const std::string what = e.what();
            py::set_error(internal_error, (what.rfind("internal error", 0) == 0 ? what : "internal error in megalide: " + what).c_str());
        } catch (...) {
            const Failure failure = classify_current_exception("a call into megalide from Python");
            if (failure.internal) {
                py::set_error(internal_error, failure.message.c_str());
            } else {
                py::set_error(PyExc_RuntimeError, failure.message.c_str());
            }
        }
    });

    py::class_<Compiled>(m, "Compiled")
        .def("run", &Compiled::run, py::arg("inputs"), "Runs on NumPy arrays (graph input order); returns the outputs.")
        .def_property_readonly("schedule_json", [](const Compiled &c) { return c.schedule.to_json(); })
        .def_property_readonly("schedule_cpp", [](const Compiled &c) { return c.schedule.to_cpp(); })
        .def_readonly("schedule_ms", &Compiled::schedule_ms)
        .def_readonly("compile_ms", &Compiled::compile_ms);

    py::class_<Model>(m, "Model")
        .def(py::init([](const std::string &path, bool rewrite, const std::string &max_memory) {
                 ImportOptions import;
                 import.limits.max_memory = ResourceLimits::parse_size(max_memory);
                 Model model{import_onnx(path, import), path};
                 if (rewrite) rewrite_to_fixpoint(model.graph, default_rules());
                 return model;
             }),
             py::arg("path"), py::arg("rewrite") = true, py::arg("max_memory") = "4G",
             "Imports an ONNX model (and runs the rewrites). A model whose tensors need more than "
             "max_memory (e.g. '4G', '512M') is refused with megalide.Error before anything is allocated.")
        .def("compile", &Model::compile, py::arg("strategy") = "per_op", py::arg("threads") = 1, py::arg("candidate") = 0,
             py::call_guard<py::gil_scoped_release>(),
             "Lowers, schedules with `strategy` (a name or a saved .json schedule) and JIT-compiles. The "
             "thread count shapes the schedule; the worker pool size comes from HL_NUM_THREADS, read once "
             "per process. `candidate` > 0 plans megakernel with the cost model's k-th ranked tiling.")
        .def("explain", [](const Model &m, int threads, const std::string &target, int candidate) {
                 LoweredGraph lowered = lower(m.graph);
                 const TargetSpec t = target_spec(target, threads);
                 MegakernelPlan plan = plan_megakernel(lowered, t, static_cast<size_t>(std::max(0, candidate)));
                 return explain(plan, t);
             },
             py::arg("threads") = 1, py::arg("target") = "host", py::arg("candidate") = 0,
             "The megakernel plan as text: placement per stage and why, and the ranked candidates.")
        .def("dump", [](const Model &m) { return m.graph.dump(); })
        .def_property_readonly("inputs", [](const Model &m) { return m.graph.inputs; })
        .def_property_readonly("outputs", [](const Model &m) { return m.graph.outputs; });

    m.def("quantize",
          [](const std::string &model, const std::vector<py::array> &calibration, const std::string &output,
             const std::vector<py::array> &evaluation, const std::string &method, double percentile) {
              if (method != "minmax" && method != "percentile") throw Error("quantize: method must be 'minmax' or 'percentile', got '" + method + "'");
              std::vector<HostArray> calib, eval;
              for (size_t i = 0; i < calibration.size(); ++i) calib.push_back(to_host(calibration[i], "calibration sample " + std::to_string(i)));
              for (size_t i = 0; i < evaluation.size(); ++i) eval.push_back(to_host(evaluation[i], "evaluation sample " + std::to_string(i)));
              QuantizeOptions options;
              options.method = method == "percentile" ? QuantizeOptions::Method::Percentile : QuantizeOptions::Method::MinMax;
              options.percentile = percentile;
              py::gil_scoped_release release;
              return guarded("quantizing " + model, [&] {
                  return quantize_model(model, calib, output, eval, HostExecutor(1), options).text();
              });
          },
          py::arg("model"), py::arg("calibration"), py::arg("output"), py::arg("evaluation") = std::vector<py::array>{},
          py::arg("method") = "minmax", py::arg("percentile") = 99.99,
          "Post-training int8 quantization, as `megalide quantize`: calibrates the float ONNX model on the "
          "NumPy samples, writes the QDQ model to `output`, and returns the report (int8 vs fp32 on "
          "`evaluation`, the calibration set if empty).");
    m.def("strategies", &strategy_names, "The schedule strategy names.");
    m.def("machine", [] {
        const MachineFacts &f = machine_facts();
        py::dict d;
        d["key"] = f.key();
        d["features"] = f.features;
        d["l1d_bytes"] = f.l1d_bytes, d["l2_bytes"] = f.l2_bytes, d["l3_bytes"] = f.l3_bytes;
        d["ghz"] = f.ghz, d["fma_gflops"] = f.fma_gflops;
        d["l3_copy_gbps"] = f.l3_copy_gbps, d["dram_copy_gbps"] = f.dram_copy_gbps;
        d["measured_at"] = f.measured_at;
        d["describe"] = f.describe();
        return d;
    }, "This machine's facts as the host target reads them (megalide calibrate): features, caches, "
       "one-thread clock, FMA peak and copy bandwidth, measured once and cached.");
    m.def("fma_peak_gflops", &fma_peak_gflops, py::arg("threads") = 1, py::arg("seconds") = 0.2,
          "Measured fp32 FMA throughput of this machine (GFLOP/s) with `threads` threads.");
}
