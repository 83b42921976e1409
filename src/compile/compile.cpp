#include "megalide/compile.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "megalide/error.h"
#include "megalide/io/output_dir.h"
#include "megalide/lower/lower.h"
#include "megalide/onnx_import.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/runtime/timer.h"
#include "megalide/runtime/worker_pool.h"
#include "megalide/schedule/strategy.h"
#include "megalide/target/hexagon.h"

namespace megalide {

namespace fs = std::filesystem;

std::string c_identifier(const std::string &stem) {
    std::string s;
    for (char c : stem) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "model_" + s;
    return s;
}

namespace {

bool is_c_identifier(const std::string &s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string shape_text(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// A staging directory inside the output directory; on destruction without commit(), it and
// the output directory (if this call created it) are removed.
class Staging {
public:
    explicit Staging(const fs::path &outdir) : outdir_(outdir) {
        created_outdir_ = create_output_dir(outdir_.string());
        sweep_abandoned_staging();
        std::string tmpl = (outdir_ / (kPrefix + std::to_string(::getpid()) + "-XXXXXX")).string();
        if (!::mkdtemp(tmpl.data())) throw Error("output directory '" + outdir_.string() + "': cannot write to it");
        dir_ = tmpl;
    }
    ~Staging() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
        if (!committed_ && created_outdir_) fs::remove(outdir_, ec);  // only if empty
    }
    fs::path path(const std::string &file) const { return dir_ / file; }
    /// Moves every staged file into the output directory; returns their final paths.
    std::vector<std::string> commit(const std::vector<std::string> &files) {
        std::vector<std::string> out;
        for (const std::string &f : files) {
            std::error_code ec;
            fs::rename(dir_ / f, outdir_ / f, ec);
            if (ec) throw Error("cannot move '" + f + "' into '" + outdir_.string() + "' (" + ec.message() + ")");
            out.push_back((outdir_ / f).string());
        }
        committed_ = true;
        return out;
    }

private:
    static constexpr const char *kPrefix = ".megalide-staging-";

    // A compile killed before its commit leaves its staging directory: remove those whose
    // process is gone (the name holds the process id).
    void sweep_abandoned_staging() const {
        std::error_code ec;
        for (const fs::directory_entry &e : fs::directory_iterator(outdir_, ec)) {
            const std::string name = e.path().filename().string();
            if (name.rfind(kPrefix, 0) != 0) continue;
            const long pid = std::strtol(name.c_str() + std::strlen(kPrefix), nullptr, 10);
            if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
        }
    }

    fs::path outdir_, dir_;
    bool created_outdir_ = false, committed_ = false;
};

std::string read_file(const fs::path &path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const fs::path &path, const std::string &text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw Error("cannot write '" + path.string() + "'");
}

// Halide names the header's include guard after the file's path (here, the staging
// directory); name it after the function instead.
std::string stable_include_guard(std::string header, const std::string &name) {
    const size_t at = header.find("#ifndef ");
    if (at == std::string::npos) return header;
    const size_t end = header.find('\n', at);
    const std::string guard = header.substr(at + 8, end - at - 8);
    const std::string wanted = "MEGALIDE_GENERATED_" + name + "_H";
    for (size_t p = header.find(guard); p != std::string::npos; p = header.find(guard, p + wanted.size())) {
        header.replace(p, guard.size(), wanted);
    }
    return header;
}

// The Halide region of a tensor with ONNX shape `shape` (dimensions reversed).
Halide::Region onnx_region(const std::vector<int64_t> &shape) {
    Halide::Region r;
    for (size_t d = shape.size(); d-- > 0;) r.emplace_back(0, static_cast<int>(shape[d]));
    return r;
}

// The header's doc comment: what the function is, its arguments, how to call and link it.
std::string header_comment(const std::string &name, const std::string &model, const TargetSpec &target,
                           const std::string &schedule, const LoweredGraph &lowered) {
    std::ostringstream c;
    c << "// " << name << ".h: generated by `megalide compile` from " << fs::path(model).filename().string() << " for target "
      << target.name << " (Halide target " << target.halide().to_string() << "), schedule " << schedule << ".\n"
      << "//\n"
      << "// int " << name << "(inputs..., outputs...): each argument is a halide_buffer_t * holding a dense,\n"
      << "// C-ordered array (Halide dimension 0 is the ONNX shape's last axis, with stride 1) of exactly\n"
      << "// the shape below (checked on entry). Returns 0 on success. Errors (such as a buffer of another\n"
      << "// shape) go to halide_error: Halide's default handler prints the message and aborts; install\n"
      << "// one with halide_set_error_handler (HalideRuntime.h) to get the error code returned instead.\n"
      << "//\n";
    auto arg = [&](const char *kind, const std::string &onnx_name, const std::string &param, DType t, const std::vector<int64_t> &shape) {
        c << "//   " << kind << " '" << onnx_name << "': " << to_string(t) << " " << shape_text(shape) << " (ONNX order), argument _"
          << param << "_buffer\n";
    };
    for (size_t i = 0; i < lowered.inputs.size(); ++i) {
        arg("input ", lowered.input_names[i], lowered.inputs[i].name(), lowered.input_dtypes[i], lowered.input_shapes[i]);
    }
    for (size_t i = 0; i < lowered.outputs.size(); ++i) {
        arg("output", lowered.output_names[i], lowered.outputs[i].name(), lowered.output_dtypes[i], lowered.output_shapes[i]);
    }
    c << "//\n"
      << "// Link with " << name << ".a -lpthread -ldl (the library carries Halide's runtime). Work runs on\n"
      << "// Halide's thread pool: HL_NUM_THREADS threads, else one per core; the schedule was planned for "
      << target.threads << ".\n"
      << "// Buffers can be made with Halide's HalideBuffer.h (Halide::Runtime::Buffer) or filled in by hand.\n\n";
    return c.str();
}

}  // namespace

namespace {

HostArray host_array_of(const Halide::Buffer<> &b, DType dtype, const std::vector<int64_t> &shape) {
    HostArray a;
    a.dtype = dtype;
    a.shape = shape;
    const uint8_t *data = static_cast<const uint8_t *>(b.data());
    a.bytes.assign(data, data + b.size_in_bytes());
    return a;
}

// Halide 21's Hexagon code generation miscompiled one build in seven in an experiment
// (../shared/targets/HEXAGON.md), so a Hexagon library is run before it is handed out: its
// object, linked into a program, runs under qemu-hexagon-static on seeded random inputs and
// must match the host JIT of the same pipeline and schedule (bit for bit where the graph is
// quantized: integer arithmetic on both sides; fp32 within 1e-4 of the output range, as float
// reassociation allows). Returns the report's lines; throws Error on a mismatch. A
// compile-only target (v68), or a machine without QEMU, clang-19 or lld-19, still gets its
// library, and the report and the progress output say it was not run.
template <typename Step>
std::string check_hexagon_library(LoweredGraph &lowered, const Graph &graph, const TargetSpec &target, const std::string &name,
                                  const std::string &object, const std::string &dir, Step &&step) {
    const HexagonTools tools = find_hexagon_tools();
    if (tools.clang.empty() || tools.lld.empty() || tools.qemu.empty()) {
        step("NOT checking the Hexagon library: qemu-hexagon-static, clang-19 or ld.lld-19 is missing");
        return "check:    NOT RUN: this machine lacks qemu-hexagon-static (qemu-user-static), clang-19 or ld.lld-19; the library "
               "is unchecked (Halide's Hexagon code has been miscompiled before: do not use it unchecked)\n";
    }
    if (target.execution != Execution::Emulated) {
        step("NOT checking the " + target.name + " library: QEMU 7.2 runs Hexagon v65-v67 programs only");
        return "check:    NOT RUN: " + target.name + " is compile-only here (QEMU 7.2 runs Hexagon v65-v67 programs only); the "
               "library is unchecked (Halide's Hexagon code has been miscompiled before: check it on a device)\n";
    }
    step("checking the library under qemu-hexagon-static against the host");
    const HexagonProgram program = link_hexagon_program(object, name, target, dir);
    std::vector<HostArray> inputs;
    const std::vector<Halide::Buffer<>> buffers = random_input_buffers(lowered);
    for (size_t i = 0; i < buffers.size(); ++i) inputs.push_back(host_array_of(buffers[i], lowered.input_dtypes[i], lowered.input_shapes[i]));
    const EmulatedRun got = run_hexagon_program(program, lowered, target, inputs, dir, true);
    const std::vector<HostArray> want = run(lowered, inputs);
    const bool quantized = is_quantized(graph);
    const double worst = check_against_host(got.outputs, want, lowered.output_names, quantized,
                                            "the " + target.name + " library (it is not written)");
    std::ostringstream r;
    r << "check:    ran under qemu-hexagon-static on seeded random inputs: "
      << (quantized ? "bit-exact with" : "within 1e-4 of the output range of") << " the host JIT of the same pipeline (max |error| "
      << worst << ")\n"
      << "packets:  " << got.packets << " dynamic packets, " << got.hvx_instructions
      << " HVX instructions (QEMU's execution log); heap high-water mark " << got.heap_peak_bytes << " bytes\n";
    return r.str();
}

}  // namespace

CompiledLibrary compile_model(const std::string &model_path, const std::string &outdir, const CompileOptions &options) {
    auto step = [&](const std::string &what) {
        if (options.progress) options.progress(what);
    };
    const int threads = options.threads > 0 ? options.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    const TargetSpec target = target_spec(options.target, threads);
    CompiledLibrary lib;
    lib.name = options.name.empty() ? c_identifier(fs::path(model_path).stem().string()) : options.name;
    if (!is_c_identifier(lib.name)) throw Error("--name '" + lib.name + "' is not a C identifier (letters, digits, '_'; no leading digit)");
    check_output_dir(outdir);

    // Everything that can fail on bad input fails before a file is written.
    step("importing " + model_path);
    Stopwatch watch;
    ImportOptions import;
    import.limits = options.limits;
    Graph graph = import_onnx(model_path, import);
    if (options.rewrite) {
        step("rewriting");
        rewrite_to_fixpoint(graph, default_rules());
    }
    step("lowering to one Halide pipeline");
    LowerOptions lower_options;
    lower_options.requantization = options.requantization;
    LoweredGraph lowered = lower(graph, lower_options);
    const double lower_ms = watch.ms();
    // Shape estimates land in the library's metadata (NAME_metadata()), where a driver can
    // read the shapes it must pass.
    for (size_t i = 0; i < lowered.inputs.size(); ++i) lowered.inputs[i].set_estimates(onnx_region(lowered.input_shapes[i]));
    for (size_t i = 0; i < lowered.outputs.size(); ++i) lowered.outputs[i].set_estimates(onnx_region(lowered.output_shapes[i]));
    step("scheduling (" + options.schedule + ")");
    watch.restart();
    const Schedule schedule = load_or_make_schedule(options.schedule, graph, lowered, target);
    apply(schedule, graph, lowered, target);
    const double schedule_ms = watch.ms();

    Staging staging(outdir);
    const std::string &n = lib.name;
    step("compiling for " + target.halide().to_string() + " (Halide, LLVM)");
    watch.restart();
    std::vector<Halide::Argument> args(lowered.inputs.begin(), lowered.inputs.end());
    const fs::path raw_header = staging.path(n + ".halide.h");
    const bool hexagon = target.halide().arch == Halide::Target::Hexagon;
    std::optional<ScratchDir> scratch;
    std::map<Halide::OutputFileType, std::string> files = {
        {Halide::OutputFileType::static_library, staging.path(n + ".a").string()},
        {Halide::OutputFileType::c_header, raw_header.string()},
        {Halide::OutputFileType::stmt, staging.path(n + ".stmt").string()},
        {Halide::OutputFileType::assembly, staging.path(n + ".s").string()}};
    if (hexagon) {
        scratch.emplace();
        files[Halide::OutputFileType::object] = scratch->path() + "/" + n + ".o";  // the code the check runs
    }
    if (hexagon) compile_for_hexagon(lowered, target, n, files);  // VTCM checked first
    else lowered.pipeline.compile_to(files, args, n, target.halide());
    const double codegen_ms = watch.ms();
    const std::string emulated_check = hexagon ? check_hexagon_library(lowered, graph, target, n, files.at(Halide::OutputFileType::object),
                                                                       scratch->path(), step)
                                               : "";
    write_file(staging.path(n + ".h"), header_comment(n, model_path, target, schedule.strategy, lowered) +
                                           stable_include_guard(read_file(raw_header), n));
    fs::remove(raw_header);
    write_file(staging.path(n + ".schedule.json"), schedule.to_json());
    write_file(staging.path(n + ".schedule.cpp"), schedule.to_cpp());

    if (target.runs_here() && options.timing_runs > 0) {
        step("timing " + std::to_string(options.timing_runs) + " runs on this machine");
        const std::vector<Halide::Buffer<>> inputs = random_input_buffers(lowered);
        std::vector<Halide::Buffer<>> outputs = output_buffers(lowered);
        WorkerPool pool(target.threads);  // the thread count the schedule was planned for
        run_buffers(lowered, inputs, outputs, &pool);  // JIT compile and warm up
        const Timings t = time_calls(options.timing_runs, [&] { run_buffers(lowered, inputs, outputs, &pool); });
        lib.median_ms = t.median_ms, lib.min_ms = t.min_ms, lib.max_ms = t.max_ms;
    }

    std::ostringstream r;
    r << "megalide compile report\n"
      << "model:    " << model_path << " (" << graph.nodes.size() << " nodes after rewrites)\n"
      << "entry:    int " << n << "(" << lowered.inputs.size() << " inputs, " << lowered.outputs.size() << " outputs), see " << n << ".h\n"
      << "target:   " << target.name << " (Halide target " << target.halide().to_string() << ")\n"
      << "schedule: " << options.schedule << " (strategy " << schedule.strategy << "), planned for " << target.threads << " threads\n";
    char line[256];
    std::snprintf(line, sizeof line, "compile:  import+lower %.0f ms, schedule %.0f ms, Halide codegen %.0f ms\n", lower_ms, schedule_ms, codegen_ms);
    r << line;
    if (lib.median_ms >= 0) {
        std::snprintf(line, sizeof line,
                      "time:     median %.3f ms (min %.3f, max %.3f) over %d runs on this machine: the same pipeline and\n"
                      "          schedule JIT-compiled, random inputs, %d thread(s)\n",
                      lib.median_ms, lib.min_ms, lib.max_ms, options.timing_runs, target.threads);
        r << line;
    } else {
        r << "time:     not measured (" << (target.runs_here() ? "timing disabled" : "this machine cannot run the target's code") << ")\n";
    }
    r << emulated_check;
    r << "\nplacement per stage (Funcs not listed are inlined into their consumers):\n" << schedule.placements();
    lib.report = r.str();
    write_file(staging.path(n + ".report.txt"), lib.report);

    lib.files = staging.commit({n + ".a", n + ".h", n + ".schedule.json", n + ".schedule.cpp", n + ".stmt", n + ".s", n + ".report.txt"});
    return lib;
}

}  // namespace megalide
