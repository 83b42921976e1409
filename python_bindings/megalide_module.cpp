// `megalide._megalide`, the compiled half of the Python package `megalide`
// (python_bindings/megalide/): import an ONNX model, make, check and apply schedules (as the
// JSON the C++ Schedule reads and writes), compile, run and time on NumPy arrays, explain the
// megakernel plan as data, quantize, compile ahead of time. The package's Python half builds
// the editable Schedule objects, the pipeline view and the documented API on top of this.
//
//   import megalide
//   model = megalide.Model("block.onnx")                 # import + rewrites
//   compiled = model.compile("per_op", threads=2)        # lower, schedule, JIT-compile
//   outputs = compiled.run([x])                          # NumPy in, NumPy out
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "fma_peak.h"
#include "megalide/compile.h"
#include "megalide/error.h"
#include "megalide/lower/lower.h"
#include "megalide/onnx_import.h"
#include "megalide/quantize.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/runtime/timer.h"
#include "megalide/runtime/worker_pool.h"
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

// A model's pipeline Funcs, producers before consumers (depth first from the outputs), with
// canonical names: the order stages() lists them in.
std::vector<Halide::Func> funcs_in_order(const LoweredGraph &lowered) {
    std::vector<Halide::Func> order;
    std::set<std::string> done;
    std::vector<std::pair<Halide::Internal::Function, bool>> stack;
    for (auto it = lowered.outputs.rbegin(); it != lowered.outputs.rend(); ++it) stack.emplace_back(it->function(), false);
    while (!stack.empty()) {
        auto [f, expanded] = stack.back();
        stack.pop_back();
        if (done.count(f.name())) continue;
        if (expanded) {
            done.insert(f.name());
            order.emplace_back(f);
            continue;
        }
        stack.emplace_back(f, true);
        for (const auto &[name, callee] : Halide::Internal::find_direct_calls(f)) {
            if (name != f.name() && !done.count(name)) stack.emplace_back(callee, false);
        }
    }
    return order;
}

std::string type_name(const Halide::Type &t) {
    std::ostringstream out;
    out << t;
    return out.str();
}

// Multiply-accumulates of every accumulation (convolutions, Gemm, MatMul, depthwise included):
// output points times reduction points. The bench counts FLOPs as twice this from the ONNX file.
double multiply_accumulates(const LoweredGraph &lowered) {
    double macs = 0;
    for (const auto &[stage, acc] : lowered.accumulators) {
        (void)stage;
        const auto shape = lowered.shapes.find(acc);
        if (shape == lowered.shapes.end()) continue;
        double points = 1;
        for (int e : shape->second) points *= e;
        for (const Halide::Func &f : funcs_in_order(lowered)) {
            if (f.name() != acc || !f.has_update_definition()) continue;
            double r = 1;
            for (const auto &rv : f.function().update(0).schedule().rvars()) {
                const auto e = Halide::Internal::as_const_int(rv.extent);
                r *= e ? static_cast<double>(*e) : 1.0;
            }
            macs += points * r;
        }
    }
    return macs;
}

struct Compiled {
    Graph graph;
    LoweredGraph lowered;
    Schedule schedule;
    int threads = 1;
    // Its own workers, `threads` in all: compiled models with different thread counts run side
    // by side in one process, each on its own count (Halide's JIT pool is one per process).
    std::shared_ptr<WorkerPool> pool;
    double schedule_ms = 0, compile_ms = 0;

    struct Views {
        std::vector<py::array> keep;  // the C-ordered arrays the input buffers point into
        std::vector<Halide::Buffer<>> in, out;
        py::list result;
    };

    // Zero-copy: Halide reads the NumPy inputs and writes fresh NumPy outputs in place.
    // Inputs of the wrong dtype or shape are refused here, naming the graph input.
    Views views(const std::vector<py::array> &inputs) {
        if (inputs.size() != lowered.inputs.size()) {
            throw Error("the model takes " + std::to_string(lowered.inputs.size()) + " input(s) (" +
                        join(lowered.input_names) + "), got " + std::to_string(inputs.size()));
        }
        Views v;
        for (size_t i = 0; i < inputs.size(); ++i) {
            const std::string what = "input '" + lowered.input_names[i] + "'";
            py::array c = py::array::ensure(inputs[i], py::array::c_style);
            if (!c) throw Error(what + " is not an array");
            const DType dtype = dtype_of_numpy(c.dtype(), what);
            std::vector<int64_t> shape(c.shape(), c.shape() + c.ndim());
            if (dtype != lowered.input_dtypes[i] || shape != lowered.input_shapes[i]) {
                throw Error(what + ": expected " + to_string(lowered.input_dtypes[i]) + " of shape " +
                            shape_text(lowered.input_shapes[i]) + ", got " + to_string(dtype) + " of shape " + shape_text(shape));
            }
            std::vector<int> sizes;
            for (py::ssize_t d = c.ndim(); d-- > 0;) sizes.push_back(static_cast<int>(c.shape(d)));
            v.in.emplace_back(halide_type(dtype), const_cast<void *>(c.data()), sizes);
            v.keep.push_back(c);
        }
        for (size_t i = 0; i < lowered.outputs.size(); ++i) {
            HostArray shape_only;
            shape_only.dtype = lowered.output_dtypes[i];
            shape_only.shape = lowered.output_shapes[i];
            py::array o = to_numpy(shape_only);
            std::vector<int> sizes;
            for (size_t d = shape_only.shape.size(); d-- > 0;) sizes.push_back(static_cast<int>(shape_only.shape[d]));
            v.out.emplace_back(halide_type(shape_only.dtype), o.mutable_data(), sizes);
            v.result.append(o);
        }
        return v;
    }

    py::list run(const std::vector<py::array> &inputs) {
        Views v = views(inputs);
        {
            py::gil_scoped_release release;
            guarded("running the compiled model", [&] {
                run_buffers(lowered, v.in, v.out, pool.get());
            });
        }
        return v.result;
    }

    // `runs` timed calls after `warmup` untimed ones, on the same buffers, with megalide's one
    // timer (runtime/timer.h: the CLI's and the tuner's).
    py::dict benchmark(const std::vector<py::array> &inputs, int runs, int warmup) {
        if (runs < 1) throw Error("benchmark: runs must be >= 1, got " + std::to_string(runs));
        if (warmup < 0) throw Error("benchmark: warmup must be >= 0, got " + std::to_string(warmup));
        Views v = views(inputs);
        Timings t{};
        double measured_peak = 0;
        {
            py::gil_scoped_release release;
            guarded("timing the compiled model", [&] {
                for (int w = 0; w < warmup; ++w) run_buffers(lowered, v.in, v.out, pool.get());
                t = time_calls(runs, [&] { run_buffers(lowered, v.in, v.out, pool.get()); });
            });
            // The peak is measured again right after the runs, at the clock they ran at: on a
            // virtual machine whose clock moves, the cached one alone can put a run above 100%.
            measured_peak = fma_peak_gflops(threads, 0.05);
        }
        const double flops = 2 * multiply_accumulates(lowered);
        const double peak = std::max(machine_facts().fma_gflops * threads, measured_peak);
        py::dict d;
        d["median_ms"] = t.median_ms, d["min_ms"] = t.min_ms, d["max_ms"] = t.max_ms;
        d["runs"] = runs, d["threads"] = threads;
        d["flops"] = flops;
        d["gflops"] = flops / (t.median_ms * 1e-3) * 1e-9;
        d["peak_gflops"] = peak;
        d["peak_fraction"] = peak > 0 ? flops / (t.median_ms * 1e-3) * 1e-9 / peak : 0.0;
        return d;
    }

    static std::string join(const std::vector<std::string> &names) {
        std::string out;
        for (const std::string &n : names) out += (out.empty() ? "" : ", ") + n;
        return out;
    }
    static std::string shape_text(const std::vector<int64_t> &shape) {
        std::string out = "(";
        for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
        return out + (shape.size() == 1 ? ",)" : ")");
    }
};

TargetSpec runnable_target(const std::string &target, int threads) {
    if (threads < 1) throw Error("threads must be >= 1, got " + std::to_string(threads));
    if (target != "host") {
        const TargetSpec t = target_spec(target, threads);  // an unknown name is refused here, listing the known ones
        throw Error("target '" + target + "' (" + t.name + "): compile() JIT-compiles for this machine, target 'host'; "
                    "plan for another target with schedule(..., target=...) and build its library with compile_aot()");
    }
    return host_target_spec(threads);
}

py::dict plan_dict(const MegakernelPlan &plan, const TargetSpec &target) {
    py::list stages, candidates;
    int64_t plan_bytes = 0, by_op_bytes = 0;  // beyond L2, as explain() totals them
    for (const StageDecision &d : plan.stages) {
        py::dict s;
        s["func"] = d.func, s["placement"] = d.placement, s["reason"] = d.reason;
        s["root_bytes"] = d.root_bytes, s["tile_bytes"] = d.tile_bytes, s["recompute"] = d.recompute, s["cache"] = d.cache;
        s["memory_bytes"] = d.memory_bytes, s["memory_bytes_at_root"] = d.memory_bytes_at_root;
        stages.append(s);
        plan_bytes += d.memory_bytes, by_op_bytes += d.memory_bytes_at_root;
    }
    for (int64_t b : plan.input_bytes) plan_bytes += b, by_op_bytes += b;
    for (const SectionCandidate &c : plan.candidates) {
        py::dict s;
        s["root"] = c.root, s["dim"] = c.dim, s["rows"] = c.rows, s["sliding"] = c.sliding, s["alone"] = c.alone;
        s["cost_cycles"] = c.cost, s["describe"] = c.describe();
        candidates.append(s);
    }
    py::dict d;
    d["target"] = target.name, d["threads"] = target.threads;
    d["stages"] = stages, d["candidates"] = candidates, d["chosen"] = plan.chosen, d["notes"] = plan.notes;
    d["schedule_json"] = plan.schedule.to_json();
    d["memory_bytes"] = plan_bytes, d["memory_bytes_by_op"] = by_op_bytes;
    d["text"] = explain(plan, target);
    return d;
}

// Lowered as `megalide run --target` lowers for `target` (int8 requantization included).
LoweredGraph lower_for(const Graph &graph, const TargetSpec &target) {
    LowerOptions options;
    options.requantization = default_requantization(target);
    return lower(graph, options);
}

struct Model {
    Graph graph;
    std::string path;
    std::shared_ptr<LoweredGraph> checked;  // lowered once for stages() and check(); never scheduled

    const LoweredGraph &lowered_for_checks() {
        if (!checked) checked = std::make_shared<LoweredGraph>(lower(graph));
        return *checked;
    }

    Compiled compile(const std::string &strategy, int threads, int candidate, const std::string &target) {
        return guarded("compiling " + path + " with " + strategy, [&] {
            return compile_unguarded(strategy, threads, candidate, runnable_target(target, threads));
        });
    }

    // Compiles with a schedule given as JSON (the Python Schedule object's text), checked first.
    Compiled compile_json(const std::string &schedule_json, int threads, const std::string &target) {
        return guarded("compiling " + path + " with a schedule from Python", [&] {
            const TargetSpec t = runnable_target(target, threads);
            Compiled c;
            c.graph = graph;
            c.threads = threads;
            c.pool = std::make_shared<WorkerPool>(threads);
            c.lowered = lower_for(graph, t);
            Stopwatch watch;
            c.schedule = Schedule::from_json(schedule_json, "schedule");
            apply(c.schedule, graph, c.lowered, t);
            c.schedule_ms = watch.ms();
            watch.restart();
            compile_jit(c.lowered);
            c.compile_ms = watch.ms();
            return c;
        });
    }

    // A strategy's schedule for `target` as JSON (the megakernel's `candidate`-th tiling).
    std::string make_schedule_json(const std::string &strategy, const std::string &target, int threads, int candidate) {
        return guarded("scheduling " + path + " with " + strategy, [&] {
            if (threads < 1) throw Error("threads must be >= 1, got " + std::to_string(threads));
            if (candidate < 0) throw Error("candidate must be >= 0, got " + std::to_string(candidate));
            if (candidate > 0 && strategy != "megakernel") throw Error("candidate applies to the megakernel strategy only");
            const TargetSpec t = target == "host" ? host_target_spec(threads) : target_spec(target, threads);
            LoweredGraph lowered = lower_for(graph, t);
            Schedule s;
            if (candidate > 0) {
                const MegakernelPlan plan = plan_megakernel(lowered, t, static_cast<size_t>(candidate));
                if (static_cast<size_t>(candidate) >= plan.candidates.size()) {
                    throw Error("candidate " + std::to_string(candidate) + ": the megakernel plan has " +
                                std::to_string(plan.candidates.size()) + " candidates (0.." +
                                std::to_string(plan.candidates.size() - 1) + ")");
                }
                s = plan.schedule;
                s.graph = graph_fingerprint(graph);
            } else {
                s = load_or_make_schedule(strategy, graph, lowered, t);
            }
            return s.to_json();
        });
    }

    // Checks a schedule (JSON) against this model without applying it: ScheduleError names the
    // Func, stage and loop at fault.
    void check(const std::string &schedule_json) {
        const Schedule s = Schedule::from_json(schedule_json, "schedule");
        const std::string fingerprint = graph_fingerprint(graph);
        if (!s.graph.empty() && s.graph != fingerprint) {
            throw ScheduleError("schedule '" + s.strategy + "' was made for another graph (fingerprint " + s.graph +
                                ", this graph's is " + fingerprint + ")");
        }
        if (s.autoscheduler.empty()) check_schedule(s, lowered_for_checks());
    }

    py::list stages() {
        const LoweredGraph &lowered = lowered_for_checks();
        const auto footprints = output_footprints(lowered);
        std::map<std::string, std::string> node_of_acc;
        py::list out;
        for (const Halide::Func &f : funcs_in_order(lowered)) {
            const StageFacts &facts = lowered.facts_of(f);
            py::dict d;
            d["name"] = canonical_func_name(f.name());
            d["role"] = to_string(facts.role);
            d["node"] = canonical_func_name(facts.node);
            d["type"] = type_name(f.types()[0]);
            d["loops"] = arg_names(f);
            py::list updates;
            for (int u = 0; u < f.num_update_definitions(); ++u) {
                std::vector<std::string> rvars;
                for (const auto &rv : f.function().update(u).schedule().rvars()) rvars.push_back(rv.var);
                updates.append(rvars);
            }
            d["reduction_loops"] = updates;  // per update stage, innermost first
            // The shape lowering recorded, else the extents of the region the outputs read.
            const auto shape = lowered.shapes.find(f.name());
            const auto footprint = footprints.find(f.name());
            std::vector<int64_t> extents;
            py::list region;
            if (footprint != footprints.end()) {
                for (const auto &[min, extent] : footprint->second) {
                    region.append(py::make_tuple(min, extent));
                    extents.push_back(extent);
                }
            }
            if (shape != lowered.shapes.end()) extents.assign(shape->second.begin(), shape->second.end());
            d["shape"] = extents;  // Halide order (innermost first)
            d["footprint"] = region;
            int64_t bytes = f.types()[0].bytes();
            for (int64_t e : extents) bytes *= e;
            d["bytes"] = extents.empty() ? py::object(py::none()) : py::object(py::int_(bytes));
            d["output"] = std::find_if(lowered.outputs.begin(), lowered.outputs.end(), [&](const Halide::Func &o) {
                              return o.name() == f.name();
                          }) != lowered.outputs.end();
            out.append(d);
        }
        return out;
    }

    py::list ops() const {
        py::list out;
        for (const Node &n : graph.nodes) {
            py::dict d;
            d["name"] = n.name, d["op"] = n.op, d["domain"] = n.domain;
            d["inputs"] = n.inputs, d["outputs"] = n.outputs;
            py::dict attrs;
            for (const auto &[k, a] : n.attrs) attrs[py::str(k)] = a.str();
            d["attributes"] = attrs;
            out.append(d);
        }
        return out;
    }

    py::dict values() const {
        py::dict out;
        for (const auto &[name, v] : graph.values()) {
            py::dict d;
            d["dtype"] = to_string(v.dtype);
            d["shape"] = v.shape_known ? py::object(py::cast(v.shape)) : py::object(py::none());
            d["constant"] = v.constant != nullptr;
            out[py::str(name)] = d;
        }
        return out;
    }

private:
    static std::vector<std::string> arg_names(const Halide::Func &f) {
        std::vector<std::string> names;
        for (const Halide::Var &v : f.args()) names.push_back(v.name());
        return names;
    }

    Compiled compile_unguarded(const std::string &strategy, int threads, int candidate, const TargetSpec &target) {
        Compiled c;
        c.graph = graph;
        c.threads = threads;
        c.pool = std::make_shared<WorkerPool>(threads);
        c.lowered = lower_for(graph, target);
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

PYBIND11_MODULE(_megalide, m) {
    m.doc() = "megalide's compiled half (the package `megalide` documents the API)";
    // Two kinds, as in the CLI (include/megalide/error.h): megalide.Error (a ValueError) for a
    // bad model, input or argument; megalide.InternalError (a RuntimeError) for a bug in
    // megalide, whatever C++ exception carried it. Halide's own user errors stay RuntimeErrors.
    static py::exception<Error> user_error(m, "Error", PyExc_ValueError);
    static py::exception<InternalError> internal_error(m, "InternalError", PyExc_RuntimeError);
    // A schedule that does not fit the pipeline (schedule/schedule.h): a megalide.Error.
    static py::exception<ScheduleError> schedule_error(m, "ScheduleError", user_error.ptr());
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const py::builtin_exception &) {
            throw;  // pybind11's own (cast errors, StopIteration, ...) keep their Python types
        } catch (const py::error_already_set &) {
            throw;
        } catch (const ScheduleError &e) {
            py::set_error(schedule_error, e.what());
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
        .def("benchmark", &Compiled::benchmark, py::arg("inputs"), py::arg("runs") = 20, py::arg("warmup") = 3,
             "Times `runs` calls after `warmup` untimed ones; returns median/min/max ms, GFLOP/s (2 x the "
             "multiply-accumulates of every accumulation) and the fraction of the measured FMA peak.")
        .def_readonly("threads", &Compiled::threads)
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
             py::arg("target") = "host",
             py::call_guard<py::gil_scoped_release>(),
             "Lowers, schedules with `strategy` (a name or a saved .json schedule) and JIT-compiles. The "
             "thread count shapes the schedule and is the worker count of every run. `candidate` > 0 plans megakernel with the cost model's k-th ranked tiling.")
        .def("explain", [](const Model &m, int threads, const std::string &target, int candidate) {
                 const TargetSpec t = target_spec(target, threads);
                 LoweredGraph lowered = lower_for(m.graph, t);
                 MegakernelPlan plan = plan_megakernel(lowered, t, static_cast<size_t>(std::max(0, candidate)));
                 return explain(plan, t);
             },
             py::arg("threads") = 1, py::arg("target") = "host", py::arg("candidate") = 0,
             "The megakernel plan as text: placement per stage and why, and the ranked candidates.")
        .def("plan", [](const Model &m, int threads, const std::string &target, int candidate) {
                 return guarded("planning " + m.path, [&] {
                     if (threads < 1) throw Error("threads must be >= 1, got " + std::to_string(threads));
                     const TargetSpec t = target == "host" ? host_target_spec(threads) : target_spec(target, threads);
                     LoweredGraph lowered = lower_for(m.graph, t);
                     MegakernelPlan plan = plan_megakernel(lowered, t, static_cast<size_t>(std::max(0, candidate)));
                     plan.schedule.graph = graph_fingerprint(m.graph);  // as make_schedule() marks it
                     return plan_dict(plan, t);
                 });
             },
             py::arg("threads") = 1, py::arg("target") = "host", py::arg("candidate") = 0,
             "The megakernel plan as data: per stage placement, reason, bytes, recompute and cache; the "
             "ranked candidates with their modelled cost; the schedule as JSON; the text of explain().")
        .def("compile_json", &Model::compile_json, py::arg("schedule_json"), py::arg("threads") = 1,
             py::arg("target") = "host", py::call_guard<py::gil_scoped_release>(),
             "Lowers, applies the schedule given as JSON (checked first) and JIT-compiles.")
        .def("make_schedule_json", &Model::make_schedule_json, py::arg("strategy"), py::arg("target") = "host",
             py::arg("threads") = 1, py::arg("candidate") = 0, "A strategy's schedule as JSON.")
        .def("check", &Model::check, py::arg("schedule_json"),
             "Checks a schedule (JSON) against the model without applying it; raises ScheduleError.")
        .def("stages", &Model::stages, "The pipeline's Funcs, producers first: name, role, node, type, loops, shape, bytes.")
        .def("ops", &Model::ops, "The graph's nodes after rewrites, in topological order.")
        .def("values", &Model::values, "Every value of the graph: dtype, shape (None where unknown), constant.")
        .def_property_readonly("fingerprint", [](const Model &m) { return graph_fingerprint(m.graph); })
        .def_readonly("path", &Model::path)
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
    m.def("targets", &target_names, "The target names schedules can be planned for.");
    m.def("schedule_cpp", [](const std::string &json) { return Schedule::from_json(json, "schedule").to_cpp(); },
          py::arg("schedule_json"), "A schedule (JSON) as the equivalent Halide C++.");
    m.def("schedule_placements", [](const std::string &json) { return Schedule::from_json(json, "schedule").placements(); },
          py::arg("schedule_json"), "One line per scheduled Func (Schedule::placements).");
    m.def("normalize_schedule_json", [](const std::string &json) { return Schedule::from_json(json, "schedule").to_json(); },
          py::arg("schedule_json"), "Parses and writes a schedule again: the C++ reader's verdict on the JSON.");
    m.def("compile_aot",
          [](const std::string &model, const std::string &outdir, const std::string &target, const std::string &schedule,
             int threads, const std::string &name, int timing_runs, bool rewrite) {
              CompileOptions options;
              options.rewrite = rewrite;
              options.target = target, options.schedule = schedule, options.threads = threads, options.name = name;
              options.timing_runs = timing_runs;
              py::gil_scoped_release release;
              const CompiledLibrary lib = guarded("compiling " + model + " ahead of time", [&] {
                  options.requantization = default_requantization(target_spec(target, 1));  // as `megalide compile --target`
                  return compile_model(model, outdir, options);
              });
              py::gil_scoped_acquire acquire;
              py::dict d;
              d["name"] = lib.name, d["files"] = lib.files, d["report"] = lib.report;
              d["median_ms"] = lib.median_ms, d["min_ms"] = lib.min_ms, d["max_ms"] = lib.max_ms;
              return d;
          },
          py::arg("model"), py::arg("outdir"), py::arg("target") = "host", py::arg("schedule") = "megakernel",
          py::arg("threads") = 0, py::arg("name") = "", py::arg("timing_runs") = 50, py::arg("rewrite") = true,
          "As `megalide compile`: the static library, header, schedule, stmt, assembly and report in `outdir`.");
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
