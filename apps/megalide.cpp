// megalide: the command-line driver.
//
//   megalide run MODEL.onnx [--input NAME=FILE.npy]... [FILE.npy]... --output DIR [options]
//   megalide info MODEL.onnx [options]
//   megalide compile MODEL.onnx [--target T] [--schedule S] [--name NAME] -o OUTDIR
//   megalide quantize MODEL.onnx --calib DIR -o OUT.onnx [--eval DIR] [--method minmax|percentile]
//   megalide explain MODEL.onnx [options]
//   megalide bench [options]
//
// The command line is parsed by CLI11, one subcommand per command, each taking only the options
// that apply to it (option_table()).
//
// Exit status: 0 on success, 1 when the model, an input or the output directory is wrong
// (the message names it), 2 for a malformed command line, 3 for an internal error (a bug in
// megalide: the message says what was being done; nothing is written).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "megalide/compile.h"
#include "megalide/quantize.h"
#include "megalide/error.h"
#include "megalide/io/atomic_file.h"
#include "megalide/io/output_dir.h"
#include "megalide/lower/lower.h"
#include "megalide/npy.h"
#include "megalide/onnx_import.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/ops/registry.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/megakernel.h"
#include "megalide/schedule/strategy.h"
#include "megalide/schedule/tune.h"
#include "megalide/target/hexagon.h"
#include "megalide/target/machine.h"
#include "megalide/runtime/timer.h"
#include "megalide/runtime/worker_pool.h"

using namespace megalide;

namespace {

bool is_hexagon(const TargetSpec &t) { return t.halide().arch == Halide::Target::Hexagon; }

std::string join(const std::vector<std::string> &names) {
    std::string s;
    for (const std::string &n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

// `megalide info --ops`: the op registry as text, one op per paragraph.
std::string ops_table() {
    static const char *kinds[] = {"int", "float", "string", "ints", "floats", "strings", "tensor"};
    std::string s = "ops megalide reads (ONNX's default domain unless qualified; com.megalide: fused forms its\n"
                    "rewrites make, never read from files)\n\n";
    for (const OpDef *op : all_ops()) {
        std::vector<std::string> runs;
        for (const std::string &target : target_names()) {
            if (std::find(op->unsupported_targets.begin(), op->unsupported_targets.end(), target) == op->unsupported_targets.end()) {
                runs.push_back(target);
            }
        }
        s += op->qualified_name() + (op->importable ? "" : " (made by rewrites)") + ": " + op->summary + "\n";
        for (const AttributeSpec &a : op->attributes) {
            s += "    " + a.name + " (" + kinds[static_cast<int>(a.kind)] + "): " + a.meaning + "\n";
        }
        s += "    targets: " + join(runs) + "\n";
    }
    return s;
}

struct Options {
    std::string command, model, output_dir, schedule, save_schedule, target = "host", name, calib, eval, method = "minmax";
    layers::Requantization requantization = layers::Requantization::Onnx;
    bool requantization_given = false;  // else the target's default (fixed_point without float vectors)
    double percentile = 99.99;
    int threads = 0, candidate = 0, tune = 0;
    ResourceLimits limits;
    std::vector<std::pair<std::string, std::string>> named_inputs;  // name, file
    std::vector<std::string> positional_inputs;
    bool rewrite = true, quiet = false, list_ops = false, count_packets = false;
};

// --requantize if given, else what the target's vector unit can do: fixed point where it has
// no float vectors (HVX v66), ONNX's float multiplier elsewhere.
layers::Requantization requantization_for(const Options &o, const TargetSpec &target) {
    if (o.requantization_given) return o.requantization;
    return default_requantization(target);
}

// A malformed command line is a CLI::ParseError, whether CLI11 or a check here finds it: main
// prints every one the same way (the message, then the usage; exit 2).
[[noreturn]] void bad_value(const std::string &message) { throw CLI::ValidationError(message); }

// A whole number in [lo, hi], or a message naming the option and what it needs.
int integer(const std::string &option, const std::string &v, long lo, long hi, const std::string &needs) {
    char *end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (*end || n < lo || n > hi) bad_value(option + " needs " + needs + ", got '" + v + "'");
    return static_cast<int>(n);
}

// One row per option: the commands that take it, its entry in usage(), and how its value is
// checked and stored. An option is registered only on its commands, so CLI11 rejects it on the
// others, naming it.
struct OptionRow {
    std::string flags;     // CLI11's name list
    std::string commands;  // the commands that take it, space-separated
    std::string label;     // its entry in usage()'s option list; empty: shown in the synopsis only
    std::string help;      // the lines after the label
    std::function<void(Options &, const std::string &value)> set;  // a flag's value is ""
    bool flag = false;
    bool repeated = false;  // every occurrence counts; otherwise the last one does
};

// The target list comes from the TargetSpec table, so a new target needs no change here.
const std::vector<OptionRow> &option_table() {
    static const std::vector<OptionRow> rows = {
        {"--schedule", "run compile", "--schedule S",
         "strategy (" + join(strategy_names()) + ")\n"
         "or a saved schedule .json (default: per_op; compile: megakernel)",
         [](Options &o, const std::string &v) { o.schedule = v; }},
        {"--threads", "run compile quantize explain", "--threads N", "worker threads (default: one per core)",
         [](Options &o, const std::string &v) { o.threads = integer("--threads", v, 1, 1024, "a positive integer"); }},
        {"--target", "run compile explain", "--target T",
         "the target schedules are planned (and compile builds) for: " + join(target_names()) + ";\ndefault host; run JIT-compiles for this machine",
         [](Options &o, const std::string &v) { o.target = v; }},
        {"--candidate", "explain", "--candidate K", "explain: plan with the cost model's K-th ranked tiling (default 0)",
         [](Options &o, const std::string &v) { o.candidate = integer("--candidate", v, 0, 1000, "a non-negative integer"); }},
        {"--tune", "run explain", "--tune N",
         "megakernel: time the cost model's top N tilings here, keep the fastest;\n"
         "it is saved under schedules/tuned (or $MEGALIDE_SCHEDULE_DIR), and\n"
         "--schedule megakernel:tuned uses it (plain megakernel never does)",
         [](Options &o, const std::string &v) { o.tune = integer("--tune", v, 1, 64, "a candidate count from 1 to 64"); }},
        {"--save-schedule", "run", "--save-schedule F", "write the schedule used as JSON to F (and its Halide C++ to F.cpp)",
         [](Options &o, const std::string &v) { o.save_schedule = v; }},
        {"--no-rewrite", "run info compile explain", "--no-rewrite", "skip the graph rewrites",
         [](Options &o, const std::string &) { o.rewrite = false; }, true},
        {"--max-memory", "run info compile quantize explain", "--max-memory SIZE",
         "refuse a model whose tensors need more than SIZE in all (4G, 512M;\n"
         "default 4G), before anything is allocated or compiled",
         [](Options &o, const std::string &v) {
             try {
                 o.limits.max_memory = ResourceLimits::parse_size(v);
             } catch (const Error &e) {
                 bad_value(std::string("--max-memory: ") + e.what());
             }
         }},
        {"--name", "compile", "--name NAME", "compile: the entry function and file names (a C identifier)",
         [](Options &o, const std::string &v) { o.name = v; }},
        {"--requantize", "run compile", "--requantize M",
         "int8 ops' requantization: onnx (float multiplier, round half to even;\n"
         "bit-exact with ONNX, the default on x86) or fixed_point (Q31 multiplier and\n"
         "shift, integer only; within 1 LSB of onnx; needs constant scales; the\n"
         "default for targets without float vectors, such as hexagon-hvx-v66)",
         [](Options &o, const std::string &v) {
             try {
                 o.requantization = layers::requantization_from_string(v);
                 o.requantization_given = true;
             } catch (const Error &e) {
                 bad_value(std::string("--requantize: ") + e.what());
             }
         }},
        {"-o,--output", "run compile quantize", "-o, --output DIR", "run: where outputs go; compile: where the library goes",
         [](Options &o, const std::string &v) { o.output_dir = v; }},
        {"--ops", "info", "--ops", "info: list the supported ops (domain, attributes, targets) instead of a model",
         [](Options &o, const std::string &) { o.list_ops = true; }, true},
        {"--count-packets", "run", "--count-packets",
         "run on a Hexagon target: also count the dynamic packets executed\n(QEMU's execution log; slower) and print them with the HVX instructions\namong them and the heap high-water mark",
         [](Options &o, const std::string &) { o.count_packets = true; }, true},
        {"--quiet", "run info compile quantize explain", "--quiet", "no progress output",
         [](Options &o, const std::string &) { o.quiet = true; }, true},
        {"--input", "run", "", "",
         [](Options &o, const std::string &v) {
             const size_t eq = v.find('=');
             if (eq == std::string::npos || eq == 0) bad_value("--input needs NAME=FILE.npy, got '" + v + "'");
             o.named_inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
         },
         false, true},
        {"--calib", "quantize", "", "", [](Options &o, const std::string &v) { o.calib = v; }},
        {"--eval", "quantize", "", "", [](Options &o, const std::string &v) { o.eval = v; }},
        {"--method", "quantize", "", "",
         [](Options &o, const std::string &v) {
             if (v != "minmax" && v != "percentile") bad_value("--method is minmax or percentile, got '" + v + "'");
             o.method = v;
         }},
        {"--percentile", "quantize", "", "",
         [](Options &o, const std::string &v) {
             char *end = nullptr;
             o.percentile = std::strtod(v.c_str(), &end);
             if (*end || !(o.percentile > 50 && o.percentile <= 100)) {
                 bad_value("--percentile needs a number in (50, 100], got '" + v + "'");
             }
         }},
    };
    return rows;
}

std::string usage() {
    std::string s =
        "usage: megalide run MODEL.onnx [--input NAME=FILE.npy]... [FILE.npy]... --output DIR [options]\n"
        "       megalide info MODEL.onnx [options]   |   megalide info --ops\n"
        "       megalide compile MODEL.onnx [--target T] [--schedule S] [--threads N] [--name NAME] -o OUTDIR\n"
        "       megalide quantize MODEL.onnx --calib DIR -o OUT.onnx [--eval DIR] [--method minmax|percentile]\n"
        "                         [--percentile P]\n"
        "       megalide explain MODEL.onnx [--target T] [--threads N] [--candidate K] [--tune N]\n"
        "       megalide calibrate\n"
        "       megalide bench [--blocks B1,...] [--strategies ...] [--peers ...] [--threads 1,2] [--runs N]\n"
        "                      [--csv FILE] [--markdown FILE] [--chart FILE.png]   (see megalide bench --help)\n"
        "       megalide bench --target hexagon-hvx-v66 [--blocks digits-int8,Q1,B2-int8,B5-int8] [--strategies ...]\n"
        "\n"
        "run    imports the model, rewrites it, compiles it into one Halide pipeline (JIT) and runs\n"
        "       it; every graph output is written as DIR/<output name>.npy ('/' and other\n"
        "       characters outside [A-Za-z0-9._-] in the name become '_'). Inputs are given by\n"
        "       name, or positionally in graph order.\n"
        "info   prints the graph after rewrites, with shapes; --ops lists every op megalide reads\n"
        "       (from its op registry) with its attributes and the targets that run it.\n"
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
        "calibrate measures this machine again (clock, fp32 FMA peak, copy bandwidth beyond L2 and\n"
        "       from DRAM; under a second) and prints it with its features and caches. The host\n"
        "       target's cost model reads these; they are measured once per machine and cached in\n"
        "       $MEGALIDE_CACHE_DIR (else ~/.cache/megalide), so calibrate is needed only to refresh.\n"
        "\n"
        "options:\n";
    // Each label in a 19-column field after two spaces; further help lines align under the first.
    const std::string indent(21, ' ');
    for (const OptionRow &row : option_table()) {
        if (row.label.empty()) continue;
        std::string label = "  " + row.label;
        label.resize(std::max(label.size() + 1, indent.size()), ' ');
        std::istringstream lines(row.help);
        std::string line;
        for (bool first = true; std::getline(lines, line); first = false) s += (first ? label : indent) + line + "\n";
    }
    return s;
}

// The first non-empty line of a Halide message, without its "Error: " tag, at most 200 characters.
std::string first_line(const std::string &message) {
    std::istringstream in(message);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Error: ", 0) == 0) line = line.substr(7);
        if (line.find_first_not_of(" \t") != std::string::npos) return line.substr(0, 200);
    }
    return "no message";
}

// `megalide bench` runs the Python driver (apps/bench/bench.py) with the megalide module on
// its path: the peers (ONNX Runtime, PyTorch) live in Python, and every candidate is timed in
// one process per thread count. `args` (`count` of them) go to it unchanged.
void exec_bench(char **args, size_t count) {
    const std::string python_path = std::string(MEGALIDE_PYTHON_DIR) + (std::getenv("PYTHONPATH") ? std::string(":") + std::getenv("PYTHONPATH") : "");
    setenv("PYTHONPATH", python_path.c_str(), 1);
    // --target hexagon-hvx-v66 runs every candidate through this CLI (`megalide run ... --count-packets`).
    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (!ec) setenv("MEGALIDE_CLI", self.c_str(), 1);
    // The project environment's python (the one CMake was configured with) has the peers.
    std::vector<char *> argv = {const_cast<char *>(MEGALIDE_PYTHON), const_cast<char *>(MEGALIDE_BENCH_SCRIPT)};
    argv.insert(argv.end(), args, args + count);
    argv.push_back(nullptr);
    execv(MEGALIDE_PYTHON, argv.data());
    throw Error(std::string("cannot start ") + MEGALIDE_PYTHON + " for the bench (" + std::strerror(errno) + ")");
}

bool takes(const OptionRow &row, const std::string &command) {
    return (" " + row.commands + " ").find(" " + command + " ") != std::string::npos;
}

// Registers `row` on `command`. CLI11 calls row.set once it has read the whole command line,
// with the last value given (every value, one by one, for a repeated option).
void add_option(CLI::App &command, const OptionRow &row, Options &o) {
    const auto &set = row.set;
    if (row.flag) {
        command.add_flag_callback(row.flags, [&o, &set] { set(o, ""); }, row.help);
    } else if (row.repeated) {
        command
            .add_option_function<std::vector<std::string>>(
                row.flags, [&o, &set](const std::vector<std::string> &values) { for (const std::string &v : values) set(o, v); }, row.help)
            ->allow_extra_args(false)  // one value per occurrence; later words stay positional
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    } else {
        command.add_option_function<std::string>(row.flags, [&o, &set](const std::string &v) { set(o, v); }, row.help);
    }
}

// `megalide bench` hands every word after it to bench.py, its --help and any "--" or "++"
// included: it starts the script as soon as CLI11 reaches it, because CLI11 would consume those
// words (App::_parse_single, CLI11 2.1.2) even with prefix_command(). Only as the first word:
// `megalide -h bench` is megalide's help, `megalide frobnicate bench` an unknown command.
void add_bench(CLI::App &app, int argc, char **argv) {
    CLI::App *bench = app.add_subcommand("bench", "runs apps/bench/bench.py");
    bench->set_help_flag();
    bench->prefix_command();
    bench->preparse_callback([argc, argv](size_t rest) {
        if (argc - static_cast<int>(rest) == 2) exec_bench(argv + 2, rest);
    });
}

// The commands as CLI11 subcommands; `megalide help` prints usage() as -h and --help do. Words
// that fit nowhere are kept (allow_extras()) for parse() to name.
void add_commands(CLI::App &app, Options &o, int argc, char **argv) {
    // An option given twice keeps its last value, as the hand-written parser did.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.allow_extras();  // inherited by the subcommands added below
    app.require_subcommand(0, 1);
    for (const std::string command : {"run", "info", "compile", "quantize", "explain"}) {
        CLI::App *sub = app.add_subcommand(command);
        sub->add_option("MODEL.onnx", o.model);
        if (command == "run") sub->add_option("FILE.npy", o.positional_inputs)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        for (const OptionRow &row : option_table()) {
            if (takes(row, command)) add_option(*sub, row, o);
        }
    }
    app.add_subcommand("calibrate");
    add_bench(app, argc, argv);
    app.add_subcommand("help")->group("")->preparse_callback([](size_t) { throw CLI::CallForHelp(); });
}

// The first word CLI11 could not place, named as the hand-written parser named it; an option of
// another command says which commands take it.
void reject_extra(const std::string &word) {
    if (word.size() < 2 || word[0] != '-') bad_value("unexpected argument '" + word + "'");
    const std::string name = word.substr(0, word.find('='));
    for (const OptionRow &row : option_table()) {
        if (("," + row.flags + ",").find("," + name + ",") == std::string::npos) continue;
        std::istringstream words(row.commands);
        const std::vector<std::string> commands{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
        bad_value(name + " applies to " + join(commands));
    }
    bad_value("unknown option '" + word + "'");
}

// What CLI11 cannot check: the model, and what each command needs beyond it.
void check(const Options &o) {
    if (o.list_ops) {
        if (!o.model.empty()) bad_value("info --ops takes no model");
        return;
    }
    if (o.command == "calibrate") {
        if (!o.model.empty()) bad_value("calibrate takes no model");
        return;
    }
    if (o.model.empty()) bad_value("no model given");
    if (o.command == "run" && o.output_dir.empty()) bad_value("run needs --output DIR");
    if (o.command == "compile" && o.output_dir.empty()) bad_value("compile needs -o OUTDIR");
    if (o.command == "quantize" && o.output_dir.empty()) bad_value("quantize needs -o OUT.onnx");
    if (o.command == "quantize" && o.calib.empty()) bad_value("quantize needs --calib DIR (a directory of .npy inputs)");
    if (o.tune && o.command == "run" && o.schedule != "megakernel" && o.schedule != "megakernel:tuned") {
        bad_value("--tune applies to --schedule megakernel (got --schedule " + o.schedule + ")");
    }
}

// Throws CLI::Success for help (no arguments, -h, --help, `megalide help`) and CLI::ParseError
// for a malformed command line; `megalide bench` does not return.
Options parse(int argc, char **argv) {
    if (argc < 2) throw CLI::CallForHelp();
    Options o;
    CLI::App app("the megalide command-line driver", "megalide");
    add_commands(app, o, argc, argv);
    app.parse(argc, argv);
    // The command comes first, as before: `megalide --quiet run ...` names '--quiet'.
    const std::vector<CLI::App *> commands = app.get_subcommands();
    if (commands.empty() || commands.front()->get_name() != argv[1]) bad_value("unknown command '" + std::string(argv[1]) + "'");
    o.command = argv[1];
    const std::vector<std::string> extras = app.remaining(true);
    if (!extras.empty()) reject_extra(extras.front());
    if (o.schedule.empty()) o.schedule = o.command == "compile" ? "megakernel" : "per_op";
    check(o);
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
        watch_.restart();
        open_ = true;
    }
    void finish() {
        if (!open_) return;
        std::fprintf(stderr, " %.0f ms\n", watch_.ms());
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
    megalide::Stopwatch watch_;
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
    if (o.command == "info" && o.list_ops) {
        std::printf("%s", ops_table().c_str());
        return 0;
    }
    if (o.command != "calibrate") {
        // The host target's caches and rates; measured once per machine (a note says so, and
        // why when a cached copy is unusable), then read from the cache.
        // A cache that could not be used is a warning, shown even with --quiet.
        machine_facts([&](const std::string &n) {
            if (n.rfind("measuring this machine", 0) == 0) {
                progress.note(n);
            } else {
                progress.finish();
                std::fprintf(stderr, "megalide: warning: %s\n", n.c_str());
            }
        });
    } else {
        progress.step("measuring this machine");
        const MachineFacts &m = machine_facts([&](const std::string &n) { progress.note(n); }, true);
        progress.finish();
        std::printf("%s\nsaved to %s\n", m.describe().c_str(), machine_facts_path(m).c_str());
        return 0;
    }
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
        const QuantizeReport report = quantize_model(o.model, calib, o.output_dir, eval, HostExecutor(1), q);
        progress.finish();
        std::printf("wrote %s\n%s", o.output_dir.c_str(), report.text().c_str());
        return 0;
    }
    if (o.command == "compile") {
        CompileOptions c;
        c.target = o.target, c.schedule = o.schedule, c.name = o.name, c.threads = o.threads, c.rewrite = o.rewrite;
        c.requantization = requantization_for(o, target_spec(o.target, 1));
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
                    "; --schedule megakernel:tuned runs it (--schedule megakernel runs this plan)\n";
        }
        progress.step("planning");
        MegakernelPlan plan = plan_megakernel(lowered, target, candidate);
        plan.schedule.graph = graph_fingerprint(g);
        progress.finish();
        std::printf("schedule: %s\n", o.tune ? "megakernel:tuned, the measured fastest of the cost model's candidates"
                                               : "megakernel, the cost model's plan (a tuned schedule is used only with --schedule megakernel:tuned)");
        std::printf("%s", explain(plan, target).c_str());
        if (!tuned.empty()) std::printf("\n%s", tuned.c_str());
        std::printf("\nloop nest:\n");
        std::fflush(stdout);
        apply(plan.schedule, g, lowered, target);
        std::fflush(stdout);
        lowered.pipeline.print_loop_nest();
        return 0;
    }
    // The output directory exists from here on; a run that fails leaves it empty.
    check_output_dir(o.output_dir);
    create_output_dir(o.output_dir);
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
    // Schedules are planned for --target (an unknown name is an error). Host targets run JIT
    // here; Hexagon ones are built into a freestanding program run under QEMU.
    const TargetSpec target = target_spec(o.target, o.threads ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
    if (target.execution == Execution::CompileOnly) {
        throw Error("target '" + target.name + "' is compile-only here" +
                    (is_hexagon(target) ? ": QEMU 7.2's qemu-hexagon runs Hexagon v65-v67 programs only (use hexagon-hvx-v66)"
                                        : ": this machine lacks " + join(target.missing_features) + " (megalide compile builds it)"));
    }
    if (is_hexagon(target)) find_hexagon_tools().require(true);  // before any work
    if (o.count_packets && !is_hexagon(target)) {
        throw Error("--count-packets counts Hexagon packets under QEMU; target '" + target.name + "' runs natively");
    }
    Graph g = load(o, import, progress);
    progress.step("lowering to one Halide pipeline");
    LowerOptions lower_options;
    lower_options.requantization = requantization_for(o, target);
    LoweredGraph lowered = lower(g, lower_options);
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
    std::vector<HostArray> outputs;
    std::string emulation_report;
    if (is_hexagon(target)) {
        const ScratchDir scratch;
        progress.step("compiling for " + target.halide().to_string() + " and linking (clang-19, ld.lld-19)");
        HexagonProgram program;
        try {
            program = build_hexagon_program(lowered, target, scratch.path());
        } catch (const Halide::InternalError &e) {
            // Halide's autoschedulers plan for generic SIMD: on HVX v66 they vectorize float
            // (no float vectors) and shapes its backend cannot lower. Their limit, not megalide's.
            if (schedule.autoscheduler.empty()) throw;
            throw Error("Halide's " + schedule.autoscheduler + " schedule does not build for " + target.name +
                        " (Halide's Hexagon backend: " + first_line(e.what()) + "); use --schedule megakernel or per_op");
        }
        progress.step(std::string("running under qemu-hexagon-static") + (o.count_packets ? ", counting packets" : ""));
        EmulatedRun r = run_hexagon_program(program, lowered, target, inputs, scratch.path(), o.count_packets);
        // Never trust a Hexagon build that was not checked: the host JIT of the same pipeline
        // and schedule must agree (bit for bit for a quantized graph) before outputs are written.
        progress.step("checking against the host (Halide JIT, same pipeline and schedule)");
        check_against_host(r.outputs, run(lowered, inputs), lowered.output_names, is_quantized(g),
                           "the " + target.name + " build of " + o.model);
        outputs = std::move(r.outputs);
        if (o.count_packets) {
            emulation_report = "dynamic packets: " + std::to_string(r.packets) + "; HVX instructions: " +
                               std::to_string(r.hvx_instructions) + "; heap high-water mark: " +
                               std::to_string(r.heap_peak_bytes) + " bytes\n";
        }
    } else {
        progress.step("compiling (Halide JIT) and running on " + std::to_string(target.threads) + " thread(s)");
        WorkerPool pool(target.threads);
        outputs = run(lowered, inputs, &pool);
    }
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
    std::printf("%s", emulation_report.c_str());
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    try {
        const Options options = parse(argc, argv);
        return run_command(options);
    } catch (const CLI::Success &) {
        std::fprintf(stderr, "%s", usage().c_str());
        return 0;
    } catch (const CLI::ParseError &e) {
        std::fprintf(stderr, "megalide: %s\n\n%s", e.what(), usage().c_str());
        return 2;
    } catch (...) {
        const Failure failure = classify_current_exception(g_doing);
        std::fprintf(stderr, "megalide: %s%s\n", failure.internal ? "" : "error: ", failure.message.c_str());
        return failure.exit_code();
    }
}
