// megalide: the command-line driver.
//
//   megalide run MODEL.onnx [--input NAME=FILE.npy]... [FILE.npy]... --output DIR [options]
//   megalide info MODEL.onnx [options]
//   megalide compile MODEL.onnx [--target T] [--schedule S] [--name NAME] -o OUTDIR
//   megalide quantize MODEL.onnx --calib DIR -o OUT.onnx [--eval DIR] [--method minmax|percentile]
//   megalide explain MODEL.onnx [options]
//   megalide bench [options]
//
// Exit status: 0 on success, 1 when the model, an input or the output directory is wrong
// (the message names it), 2 for a malformed command line, 3 for an internal error (a bug in
// megalide: the message says what was being done; nothing is written).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "megalide/compile.h"
#include "megalide/quantize.h"
#include "megalide/error.h"
#include "megalide/io/atomic_file.h"
#include "megalide/lower/lower.h"
#include "megalide/npy.h"
#include "megalide/onnx_import.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/schedule/megakernel.h"
#include "megalide/schedule/strategy.h"
#include "megalide/schedule/tune.h"

using namespace megalide;

namespace {

std::string join(const std::vector<std::string> &names) {
    std::string s;
    for (const std::string &n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

// The target list comes from the TargetSpec table, so a new target needs no change here.
std::string usage() {
    return std::string(
    "usage: megalide run MODEL.onnx [--input NAME=FILE.npy]... [FILE.npy]... --output DIR [options]\n"
    "       megalide info MODEL.onnx [options]\n"
    "       megalide compile MODEL.onnx [--target T] [--schedule S] [--threads N] [--name NAME] -o OUTDIR\n"
    "       megalide quantize MODEL.onnx --calib DIR -o OUT.onnx [--eval DIR] [--method minmax|percentile]\n"
    "                         [--percentile P]\n"
    "       megalide explain MODEL.onnx [--target T] [--threads N] [--candidate K] [--tune N]\n"
    "       megalide bench [--blocks B1,...] [--strategies ...] [--peers ...] [--threads 1,2] [--runs N]\n"
    "                      [--csv FILE] [--markdown FILE] [--chart FILE.png]   (see megalide bench --help)\n"
    "\n"
    "run    imports the model, rewrites it, compiles it into one Halide pipeline (JIT) and runs\n"
    "       it; every graph output is written as DIR/<output name>.npy ('/' and other\n"
    "       characters outside [A-Za-z0-9._-] in the name become '_'). Inputs are given by\n"
    "       name, or positionally in graph order.\n"
    "info   prints the graph after rewrites, with shapes.\n"
    "compile builds a static library for --target: OUTDIR/NAME.a and NAME.h with one entry\n"
    "       function NAME (Halide's calling convention: inputs then outputs as halide_buffer_t*,\n"
    "       in graph order, documented in the header), the schedule as NAME.schedule.json and\n"
    "       .cpp, Halide's lowered statement NAME.stmt, the assembly NAME.s, and NAME.report.txt\n"
    "       (placement per stage; where the code runs here, its measured time). --name defaults\n"
    "       to the model file's stem made a C identifier; --schedule defaults to megakernel.\n"
    "quantize writes a QDQ model (uint8 activations, int8 per-channel weights, int32 biases)\n"
    "       calibrated on DIR's .npy inputs (min/max, or the given percentile of the values\n"
    "       seen; default 99.99), then prints its error against the float model on --eval's\n"
    "       inputs (default: the calibration set). megalide runs it as int8 ops; so does ORT.\n"
    "explain prints the megakernel plan: per stage its placement and why (bytes at root,\n"
    "       halo recompute, working set against the caches), the cost model's candidates for\n"
    "       the main section, and the resulting loop nest.\n"
    "\n"
    "options:\n"
    "  --schedule S       strategy (root, per_op, megakernel, adams2019, mullapudi2016, li2018) or a saved\n"
    "                     schedule .json (default: per_op; compile: megakernel)\n"
    "  --threads N        worker threads (default: one per core)\n"
    "  --target T         the target schedules are planned (and compile builds) for: " + join(target_names()) + ";\n"
    "                     default host; run JIT-compiles for this machine\n"
    "  --candidate K      explain: plan with the cost model's K-th ranked tiling (default 0)\n"
    "  --tune N           megakernel: time the cost model's top N tilings here, keep the fastest;\n"
    "                     it is saved under schedules/tuned (or $MEGALIDE_SCHEDULE_DIR) and used\n"
    "                     by --schedule megakernel from then on\n"
    "  --save-schedule F  write the schedule used as JSON to F (and its Halide C++ to F.cpp)\n"
    "  --no-rewrite       skip the graph rewrites\n"
    "  --max-memory SIZE  refuse a model whose tensors need more than SIZE in all (4G, 512M;\n"
    "                     default 4G), before anything is allocated or compiled\n"
    "  --name NAME        compile: the entry function and file names (a C identifier)\n"
    "  --requantize M     int8 ops' requantization: onnx (float multiplier, round half to even;\n"
    "                     bit-exact with ONNX, the default) or fixed_point (Q31 multiplier and\n"
    "                     shift, integer only; within 1 LSB of onnx; needs constant scales)\n"
    "  -o, --output DIR   run: where outputs go; compile: where the library goes\n"
    "  --quiet            no progress output\n");
}

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Options {
    std::string command, model, output_dir, schedule, save_schedule, target = "host", name, calib, eval, method = "minmax";
    layers::Requantization requantization = layers::Requantization::Onnx;
    double percentile = 99.99;
    int threads = 0, candidate = 0, tune = 0;
    ResourceLimits limits;
    std::vector<std::pair<std::string, std::string>> named_inputs;  // name, file
    std::vector<std::string> positional_inputs;
    bool rewrite = true, quiet = false;
};

Options parse(int argc, char **argv) {
    Options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") throw UsageError("");
    o.command = args[0];
    if (o.command != "run" && o.command != "info" && o.command != "explain" && o.command != "compile" &&
        o.command != "quantize") throw UsageError("unknown command '" + o.command + "'");
    for (size_t i = 1; i < args.size(); ++i) {
        const std::string &a = args[i];
        auto value = [&]() -> const std::string & {
            if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
            return args[++i];
        };
        if (a == "--input") {
            const std::string &v = value();
            const size_t eq = v.find('=');
            if (eq == std::string::npos || eq == 0) throw UsageError("--input needs NAME=FILE.npy, got '" + v + "'");
            o.named_inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
        } else if (a == "--output" || a == "-o") {
            o.output_dir = value();
        } else if (a == "--schedule") {
            o.schedule = value();
        } else if (a == "--requantize") {
            try {
                o.requantization = layers::requantization_from_string(value());
            } catch (const Error &e) {
                throw UsageError(std::string("--requantize: ") + e.what());
            }
        } else if (a == "--calib") {
            o.calib = value();
        } else if (a == "--eval") {
            o.eval = value();
        } else if (a == "--method") {
            o.method = value();
            if (o.method != "minmax" && o.method != "percentile") throw UsageError("--method is minmax or percentile, got '" + o.method + "'");
        } else if (a == "--percentile") {
            const std::string &v = value();
            char *end = nullptr;
            o.percentile = std::strtod(v.c_str(), &end);
            if (*end || !(o.percentile > 50 && o.percentile <= 100)) throw UsageError("--percentile needs a number in (50, 100], got '" + v + "'");
        } else if (a == "--name") {
            o.name = value();
        } else if (a == "--save-schedule") {
            o.save_schedule = value();
        } else if (a == "--threads") {
            const std::string &v = value();
            char *end = nullptr;
            const long t = std::strtol(v.c_str(), &end, 10);
            if (*end || t < 1 || t > 1024) throw UsageError("--threads needs a positive integer, got '" + v + "'");
            o.threads = static_cast<int>(t);
        } else if (a == "--target") {
            o.target = value();
        } else if (a == "--candidate") {
            const std::string &v = value();
            char *end = nullptr;
            const long k = std::strtol(v.c_str(), &end, 10);
            if (*end || k < 0 || k > 1000) throw UsageError("--candidate needs a non-negative integer, got '" + v + "'");
            o.candidate = static_cast<int>(k);
        } else if (a == "--tune") {
            const std::string &v = value();
            char *end = nullptr;
            const long n = std::strtol(v.c_str(), &end, 10);
            if (*end || n < 1 || n > 64) throw UsageError("--tune needs a candidate count from 1 to 64, got '" + v + "'");
            o.tune = static_cast<int>(n);
        } else if (a == "--max-memory") {
            try {
                o.limits.max_memory = ResourceLimits::parse_size(value());
            } catch (const Error &e) {
                throw UsageError(std::string("--max-memory: ") + e.what());
            }
        } else if (a == "--no-rewrite") {
            o.rewrite = false;
        } else if (a == "--quiet") {
            o.quiet = true;
        } else if (a.rfind("--", 0) == 0) {
            throw UsageError("unknown option '" + a + "'");
        } else if (o.model.empty()) {
            o.model = a;
        } else if (o.command == "run") {
            o.positional_inputs.push_back(a);
        } else {
            throw UsageError("unexpected argument '" + a + "'");
        }
    }
    if (o.model.empty()) throw UsageError("no model given");
    if (o.schedule.empty()) o.schedule = o.command == "compile" ? "megakernel" : "per_op";
    if (!o.name.empty() && o.command != "compile") throw UsageError("--name applies to compile");
    if (o.command == "quantize") {
        if (o.output_dir.empty()) throw UsageError("quantize needs -o OUT.onnx");
        if (o.calib.empty()) throw UsageError("quantize needs --calib DIR (a directory of .npy inputs)");
    } else if (!o.calib.empty() || !o.eval.empty()) {
        throw UsageError("--calib and --eval apply to quantize");
    }
    if (o.command == "compile") {
        if (o.output_dir.empty()) throw UsageError("compile needs -o OUTDIR");
        if (o.tune || !o.named_inputs.empty() || !o.save_schedule.empty()) {
            throw UsageError("compile takes no inputs, --tune or --save-schedule (tune with run; the schedule is saved in OUTDIR)");
        }
    }
    if (o.tune && o.command == "run" && o.schedule != "megakernel") {
        throw UsageError("--tune applies to --schedule megakernel (got --schedule " + o.schedule + ")");
    }
    if (o.tune && o.command == "info") throw UsageError("info does not tune");
    if (o.command == "run" && o.output_dir.empty()) throw UsageError("run needs --output DIR");
    if (o.command != "run" && o.command != "compile" && o.command != "quantize" && (!o.named_inputs.empty() || !o.output_dir.empty())) {
        throw UsageError(o.command + " takes no inputs or output directory");
    }
    return o;
}

// What the command is doing now, for the report of an internal error.
std::string g_doing = "reading the command line";

class Progress {
public:
    explicit Progress(bool quiet) : quiet_(quiet) {}
    void step(const std::string &what) {
        g_doing = what;
        test_fault_point(what);
        if (quiet_) return;
        finish();
        std::fprintf(stderr, "[megalide] %s...", what.c_str());
        std::fflush(stderr);
        start_ = std::chrono::steady_clock::now();
        open_ = true;
    }
    void finish() {
        if (!open_) return;
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
        std::fprintf(stderr, " %.0f ms\n", ms);
        open_ = false;
    }
    void note(const std::string &line) {
        if (quiet_) return;
        finish();
        std::fprintf(stderr, "[megalide]   %s\n", line.c_str());
    }
    ~Progress() { finish(); }

private:
    bool quiet_, open_ = false;
    std::chrono::steady_clock::time_point start_;
};

std::string file_stem(const std::string &name) {
    std::string s;
    for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
    if (s.empty() || s == "." || s == "..") s = "_" + s;
    return s;
}

// The graph's runtime inputs (not initializers), in order, with the files given for them.
std::map<std::string, std::string> bind_inputs(const Options &o, const std::vector<std::string> &graph_inputs) {
    std::map<std::string, std::string> files;
    if (o.positional_inputs.size() > graph_inputs.size()) {
        throw Error("the model has " + std::to_string(graph_inputs.size()) + " inputs but " +
                    std::to_string(o.positional_inputs.size()) + " positional input files were given");
    }
    for (size_t i = 0; i < o.positional_inputs.size(); ++i) files[graph_inputs[i]] = o.positional_inputs[i];
    for (const auto &[name, file] : o.named_inputs) {
        if (!std::count(graph_inputs.begin(), graph_inputs.end(), name)) {
            std::string known;
            for (const std::string &g : graph_inputs) known += (known.empty() ? "" : ", ") + g;
            throw Error("--input " + name + ": the model has no input named '" + name + "' (its inputs: " + known + ")");
        }
        if (files.count(name)) throw Error("input '" + name + "' is given twice");
        files[name] = file;
    }
    for (const std::string &name : graph_inputs) {
        if (!files.count(name)) throw Error("missing input '" + name + "' (give --input " + name + "=FILE.npy)");
    }
    return files;
}

// Each file is replaced whole or not at all (a kill mid-write leaves the old one).
void save_schedule(const Schedule &s, const std::string &path) {
    write_file_atomically(path, {s.to_json()});
    write_file_atomically(path + ".cpp", {s.to_cpp()});
}

void check_output_dir(const std::string &dir) {
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) {
        if (::mkdir(dir.c_str(), 0777) != 0) {
            throw Error("output directory '" + dir + "': cannot create it (" + std::strerror(errno) + ")");
        }
    } else if (!S_ISDIR(st.st_mode)) {
        throw Error("output directory '" + dir + "' exists and is not a directory");
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        throw Error("output directory '" + dir + "' is not writable (" + std::strerror(errno) + ")");
    }
}

Graph load(const Options &o, ImportOptions import, Progress &progress) {
    progress.step("importing " + o.model);
    import.limits = o.limits;
    Graph g = import_onnx(o.model, import);
    if (o.rewrite) {
        progress.step("rewriting");
        rewrite_to_fixpoint(g, default_rules());
    }
    return g;
}

// Tunes the megakernel plan, one progress line per measured candidate.
TuneResult tune(const Graph &g, const TargetSpec &target, int n, Progress &progress) {
    progress.step("tuning: timing the cost model's top " + std::to_string(n) + " tilings");
    progress.finish();
    TuneResult t = tune_megakernel(g, target, n, [&](const std::string &line) { progress.note(line); });
    progress.note("fastest: candidate #" + std::to_string(t.measured[t.best].rank) + ", saved to " + t.path);
    return t;
}

int run_command(const Options &o) {
    g_doing = "starting `megalide " + o.command + " " + o.model + "`";
    Progress progress(o.quiet);
    if (o.command == "info") {
        ImportOptions import;
        Graph g = load(o, import, progress);
        progress.finish();
        std::printf("%s", g.dump().c_str());
        return 0;
    }
    if (o.command == "quantize") {
        progress.step("reading " + o.model);
        ImportOptions import;
        import.limits = o.limits;
        Graph g = import_onnx(o.model, import);
        if (g.inputs.size() != 1) throw Error(o.model + ": quantize supports models with one input, this one has " + std::to_string(g.inputs.size()));
        const Value &in = g.value(g.inputs[0]);
        const std::vector<HostArray> calib = read_samples(o.calib, in.dtype, in.shape);
        const std::vector<HostArray> eval = o.eval.empty() ? std::vector<HostArray>{} : read_samples(o.eval, in.dtype, in.shape);
        QuantizeOptions q;
        q.method = o.method == "percentile" ? QuantizeOptions::Method::Percentile : QuantizeOptions::Method::MinMax;
        q.percentile = o.percentile;
        q.limits = o.limits;
        q.progress = [&](const std::string &what) { progress.step(what); };
        const QuantizeReport report = quantize_model(o.model, calib, o.output_dir, eval, q);
        progress.finish();
        std::printf("wrote %s\n%s", o.output_dir.c_str(), report.text().c_str());
        return 0;
    }
    if (o.command == "compile") {
        CompileOptions c;
        c.target = o.target, c.schedule = o.schedule, c.name = o.name, c.threads = o.threads, c.rewrite = o.rewrite;
        c.requantization = o.requantization;
        c.limits = o.limits;
        c.progress = [&](const std::string &what) { progress.step(what); };
        const CompiledLibrary lib = compile_model(o.model, o.output_dir, c);
        progress.finish();
        for (const std::string &f : lib.files) std::printf("wrote %s\n", f.c_str());
        if (lib.median_ms >= 0) std::printf("%s: median %.3f ms (min %.3f, max %.3f) on this machine\n", lib.name.c_str(), lib.median_ms, lib.min_ms, lib.max_ms);
        return 0;
    }
    if (o.command == "explain") {
        ImportOptions import;
        Graph g = load(o, import, progress);
        const TargetSpec target = target_spec(o.target, o.threads ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
        progress.step("lowering to one Halide pipeline");
        LoweredGraph lowered = lower(g);
        size_t candidate = static_cast<size_t>(o.candidate);
        std::string tuned;
        if (o.tune) {
            const TuneResult t = tune(g, target, o.tune, progress);
            candidate = t.measured[t.best].rank;
            tuned = "measured (--tune " + std::to_string(o.tune) + "):\n";
            for (size_t i = 0; i < t.measured.size(); ++i) {
                char line[160];
                std::snprintf(line, sizeof line, "  %s#%zu %s: %.3f ms\n", i == t.best ? "* " : "  ", t.measured[i].rank,
                              t.measured[i].tiling.describe().c_str(), t.measured[i].median_ms);
                tuned += line;
            }
            tuned += "saved to " + t.path + "\n";
        } else if (std::filesystem::exists(tuned_schedule_path(g, target))) {
            tuned = "a tuned schedule for this graph, target and thread count is saved at " + tuned_schedule_path(g, target) +
                    "; --schedule megakernel runs it instead of this plan\n";
        }
        progress.step("planning");
        MegakernelPlan plan = plan_megakernel(lowered, target, candidate);
        plan.schedule.graph = graph_fingerprint(g);
        progress.finish();
        std::printf("%s", explain(plan, target).c_str());
        if (!tuned.empty()) std::printf("\n%s", tuned.c_str());
        std::printf("\nloop nest:\n");
        std::fflush(stdout);
        apply(plan.schedule, g, lowered, target);
        std::fflush(stdout);
        lowered.pipeline.print_loop_nest();
        return 0;
    }
    check_output_dir(o.output_dir);
    // Runtime inputs in graph order; shape operands among them are frozen from their files.
    ImportOptions import;
    const std::vector<std::string> shape_operands = shape_operand_inputs(o.model);
    const std::vector<std::string> order = graph_input_names(o.model);
    const std::map<std::string, std::string> files = bind_inputs(o, order);
    std::map<std::string, HostArray> arrays;
    for (const auto &[name, file] : files) {
        try {
            arrays[name] = npy::read(file);
        } catch (const Error &e) {
            throw Error("input '" + name + "': " + e.what());
        }
    }
    for (const std::string &name : shape_operands) import.frozen_inputs[name] = arrays.at(name);
    Graph g = load(o, import, progress);
    progress.step("lowering to one Halide pipeline");
    LowerOptions lower_options;
    lower_options.requantization = o.requantization;
    LoweredGraph lowered = lower(g, lower_options);
    // Schedules are planned for --target (an unknown name is an error); the JIT runs on the host.
    const TargetSpec target = target_spec(o.target, o.threads ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
    Schedule schedule;
    if (o.tune) {
        schedule = tune(g, target, o.tune, progress).schedule;
    } else {
        progress.step("scheduling (" + o.schedule + ")");
        schedule = load_or_make_schedule(o.schedule, g, lowered, target);
    }
    apply(schedule, g, lowered, target);
    if (!o.save_schedule.empty()) save_schedule(schedule, o.save_schedule);
    std::vector<HostArray> inputs;
    for (const std::string &name : lowered.input_names) inputs.push_back(arrays.at(name));
    progress.step("compiling (Halide JIT) and running");
    std::vector<HostArray> outputs = run(lowered, inputs);
    progress.step("writing " + std::to_string(outputs.size()) + " outputs to " + o.output_dir);
    std::vector<std::string> written;
    try {
        for (size_t i = 0; i < outputs.size(); ++i) {
            const std::string path = o.output_dir + "/" + file_stem(lowered.output_names[i]) + ".npy";
            npy::write(path, outputs[i]);
            written.push_back(path);
        }
    } catch (...) {
        for (const std::string &path : written) std::remove(path.c_str());  // no partial output set
        throw;
    }
    progress.finish();
    for (size_t i = 0; i < outputs.size(); ++i) {
        std::printf("%s: %s -> %s\n", lowered.output_names[i].c_str(), describe(outputs[i].dtype, outputs[i].shape).c_str(), written[i].c_str());
    }
    return 0;
}

}  // namespace

// `megalide bench` runs the Python driver (apps/bench/bench.py) with the megalide module on
// its path: the peers (ONNX Runtime, PyTorch) live in Python, and every candidate is timed in
// one process per thread count.
int exec_bench(int argc, char **argv) {
    const std::string python_path = std::string(MEGALIDE_PYTHON_DIR) + (std::getenv("PYTHONPATH") ? std::string(":") + std::getenv("PYTHONPATH") : "");
    setenv("PYTHONPATH", python_path.c_str(), 1);
    // The project environment's python (the one CMake was configured with) has the peers.
    std::vector<char *> args = {const_cast<char *>(MEGALIDE_PYTHON), const_cast<char *>(MEGALIDE_BENCH_SCRIPT)};
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    execv(MEGALIDE_PYTHON, args.data());
    std::fprintf(stderr, "megalide: cannot start %s for the bench (%s)\n", MEGALIDE_PYTHON, std::strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    try {
        if (argc > 1 && std::string(argv[1]) == "bench") return exec_bench(argc, argv);
        const Options options = parse(argc, argv);
        // Halide's thread pool reads HL_NUM_THREADS when it starts, at the first run.
        if (options.threads) setenv("HL_NUM_THREADS", std::to_string(options.threads).c_str(), 1);
        return run_command(options);
    } catch (const UsageError &e) {
        if (*e.what()) std::fprintf(stderr, "megalide: %s\n\n", e.what());
        std::fprintf(stderr, "%s", usage().c_str());
        return *e.what() ? 2 : 0;
    } catch (...) {
        const Failure failure = classify_current_exception(g_doing);
        std::fprintf(stderr, "megalide: %s%s\n", failure.internal ? "" : "error: ", failure.message.c_str());
        return failure.exit_code();
    }
}
