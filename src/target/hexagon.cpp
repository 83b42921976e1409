#include "megalide/target/hexagon.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "hexagon_sources.h"
#include "megalide/error.h"
#include "megalide/io/atomic_file.h"
#include "megalide/schedule/schedule.h"

namespace megalide {

namespace fs = std::filesystem;

namespace {

// The first of `names` found on PATH, or "".
std::string find_on_path(const std::vector<std::string> &names) {
    const char *path = std::getenv("PATH");
    for (const std::string &name : names) {
        std::stringstream dirs(path ? path : "");
        for (std::string dir; std::getline(dirs, dir, ':');) {
            const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
            if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        }
    }
    return "";
}

struct Process {
    int status = -1;     ///< exit status, or 128 + signal
    std::string output;  ///< stdout and stderr together
};

// Runs argv[0] with the arguments, without a shell; stdout and stderr captured together.
Process run_process(const std::vector<std::string> &argv) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw Error("cannot create a pipe to run " + argv[0]);
    const pid_t pid = ::fork();
    if (pid < 0) throw Error("cannot start " + argv[0]);
    if (pid == 0) {
        ::dup2(pipe_fds[1], 1);
        ::dup2(pipe_fds[1], 2);
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        std::vector<char *> args;
        for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    Process p;
    char buf[4096];
    for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) p.output.append(buf, static_cast<size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    p.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return p;
}

std::string command_line(const std::vector<std::string> &argv) {
    std::string s;
    for (const std::string &a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
}

void run_step(const std::string &what, const std::vector<std::string> &argv) {
    const Process p = run_process(argv);
    if (p.status != 0) {
        throw Error(what + " failed (exit " + std::to_string(p.status) + "): " + command_line(argv) + "\n" + p.output);
    }
}

void write_text(const fs::path &path, const std::string &text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw Error("cannot write '" + path.string() + "'");
}

bool is_hexagon(const TargetSpec &target) { return target.halide().arch == Halide::Target::Hexagon; }

// "i:<code>:<bits>:<e0>x<e1>...:<path>", as driver.c reads it.
std::string buffer_argument(char kind, DType dtype, const std::vector<int64_t> &shape, const std::string &path) {
    const Halide::Type t = halide_type(dtype);
    std::string s = std::string(1, kind) + ":" + std::to_string(static_cast<int>(t.code())) + ":" + std::to_string(t.bits()) + ":";
    if (shape.empty()) s += "1";
    for (size_t d = shape.size(); d-- > 0;) s += std::to_string(shape[d]) + (d ? "x" : "");
    return s + ":" + path;
}

// Whether one instruction of QEMU's disassembly is an HVX one: it names a vector register
// (V0-V31, pairs V1:0), a vector predicate (Q0-Q3), a new-value vector store operand (O0) or
// vector memory (vmem). Scalar code names R, P, C and M registers only ("vaddh(R1:0,R3:2)" is
// the scalar unit's 64-bit SIMD, not HVX).
bool is_hvx_instruction(const std::string &text) {
    static const std::regex hvx(R"(\b(V[0-9]+|Q[0-3]|O[0-9])\b|vmem)");
    return std::regex_search(text, hvx);
}

}  // namespace

// Dynamic packets and HVX instructions from QEMU's `-d in_asm,exec,nochain` log: in_asm prints
// each translation block once ("IN:" then one line per instruction, a packet opening with '{'
// and closing with '}'), and every execution of a block prints a "Trace ...: [... / <pc> / ...]"
// line; a count = sum over blocks of executions x the block's count.
ExecutionCounts count_executions(const std::string &log_path) {
    std::ifstream log(log_path);
    if (!log) throw Error("cannot read QEMU's execution log '" + log_path + "'");
    std::map<std::string, ExecutionCounts> in_block;
    std::map<std::string, int64_t> executions;
    std::string line, block;
    bool in_listing = false;
    while (std::getline(log, line)) {
        if (line.rfind("IN:", 0) == 0) {
            in_listing = true;
            block.clear();
            continue;
        }
        if (in_listing) {
            if (line.empty()) {
                in_listing = false;
                continue;
            }
            // "0x0002b8c0:  0xbfe077c2\t{\tR2 = add(R0,#0xffffffbe)": address, encoding, text.
            const size_t colon = line.find(':');
            if (colon == std::string::npos || line.rfind("0x", 0) != 0) continue;
            const size_t tab = line.find('\t', colon);
            const std::string text = tab == std::string::npos ? "" : line.substr(tab + 1);
            if (block.empty()) {
                block = line.substr(0, colon);
                in_block[block] = ExecutionCounts{};  // a block translated again counts once
            }
            ExecutionCounts &c = in_block[block];
            if (text.find('{') != std::string::npos) ++c.packets;
            if (is_hvx_instruction(text)) ++c.hvx_instructions;
            continue;
        }
        if (line.rfind("Trace ", 0) == 0) {
            // "Trace 0: 0x7f... [00000000/0002a3c0/00000000/00000000] name"
            const size_t open = line.find('[');
            if (open == std::string::npos) continue;
            const size_t first = line.find('/', open), second = line.find('/', first + 1);
            if (first == std::string::npos || second == std::string::npos) continue;
            ++executions["0x" + line.substr(first + 1, second - first - 1)];
        }
    }
    // in_asm prints addresses as 0x000xxxxx; the Trace lines print 8 hex digits.
    std::map<uint64_t, ExecutionCounts> by_pc;
    for (const auto &[pc, c] : in_block) by_pc[std::stoull(pc, nullptr, 16)] = c;
    ExecutionCounts total;
    for (const auto &[pc, n] : executions) {
        const auto it = by_pc.find(std::stoull(pc, nullptr, 16));
        if (it == by_pc.end()) continue;
        total.packets += n * it->second.packets;
        total.hvx_instructions += n * it->second.hvx_instructions;
    }
    return total;
}

void HexagonTools::require(bool run) const {
    std::string missing;
    if (clang.empty()) missing += " clang-19 (Debian package clang-19)";
    if (lld.empty()) missing += " ld.lld-19 (lld-19)";
    if (run && qemu.empty()) missing += " qemu-hexagon-static (qemu-user-static)";
    if (!missing.empty()) {
        throw Error("the Hexagon target needs programs that are not on PATH:" + missing +
                    "; `bash scripts/bootstrap.sh --tests` installs them");
    }
}

HexagonTools find_hexagon_tools() {
    return {find_on_path({"clang-19"}), find_on_path({"ld.lld-19"}), find_on_path({"qemu-hexagon-static", "qemu-hexagon"})};
}

ScratchDir::ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "megalide-hexagon-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error("cannot create a temporary directory in " + fs::temp_directory_path().string());
    path_ = tmpl;
}

ScratchDir::~ScratchDir() {
    if (std::getenv("MEGALIDE_KEEP_SCRATCH")) {
        std::fprintf(stderr, "megalide: kept the Hexagon build directory %s (MEGALIDE_KEEP_SCRATCH)\n", path_.c_str());
        return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::vector<std::string> undefined_symbols(const std::string &linker_output) {
    static const std::string marker = "undefined symbol: ";
    std::vector<std::string> names;
    for (size_t at = linker_output.find(marker); at != std::string::npos; at = linker_output.find(marker, at + 1)) {
        const size_t begin = at + marker.size();
        const size_t end = linker_output.find_first_of(" \n\r\t", begin);
        const std::string name = linker_output.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
        if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return names;
}

HexagonProgram link_hexagon_program(const std::string &object, const std::string &entry, const TargetSpec &target,
                                    const std::string &dir, const std::vector<std::string> &libraries) {
    if (!is_hexagon(target)) throw Error("target '" + target.name + "' is not a Hexagon target");
    const HexagonTools tools = find_hexagon_tools();
    tools.require(false);
    const fs::path root(dir), src = root / "src";
    for (const hexagon::SourceFile &f : hexagon::freestanding_sources()) write_text(src / f.path, f.text);
    // The C parts for the same ISA revision as the pipeline (ld.lld flags the ELF with the
    // highest revision of its inputs, and QEMU refuses v68).
    const Halide::Target ht = target.halide();
    const int version = ht.has_feature(Halide::Target::HVX_v68) ? 68 : ht.has_feature(Halide::Target::HVX_v66) ? 66 : 65;
    HexagonProgram p{object, (root / (entry + ".elf")).string()};
    std::vector<std::string> objects = {object};
    for (const char *c : {"runtime_shim.c", "driver.c", "float_math.c"}) {
        const std::string out = (root / (std::string(c) + ".o")).string();
        run_step("compiling the Hexagon runtime (" + std::string(c) + ")",
                 {tools.clang, "--target=hexagon", "-mv" + std::to_string(version), "-mhvx", "-mhvx-length=128B", "-O2", "-G0",
                  "-ffreestanding", "-fno-builtin", "-DMEGALIDE_PIPELINE_ARGV=" + entry + "_argv", "-I",
                  (src / "include").string(), "-I", MEGALIDE_HALIDE_RUNTIME_INCLUDE, "-c", (src / c).string(), "-o", out});
        objects.push_back(out);
    }
    std::vector<std::string> link = {tools.lld, "-static", "-e", "_start", "--gc-sections", "-o", p.elf};
    link.insert(link.end(), objects.begin(), objects.end());
    link.insert(link.end(), libraries.begin(), libraries.end());
    try {
        run_step("linking the Hexagon program", link);
    } catch (const Error &e) {
        const std::vector<std::string> missing = undefined_symbols(e.what());
        if (missing.empty()) throw;
        std::string names;
        for (const std::string &m : missing) names += (names.empty() ? "" : ", ") + m;
        throw Error("the Hexagon program calls functions that megalide's freestanding runtime does not provide: " + names +
                    ". Halide's code for float ops calls C math on this target (v66 HVX has no float vectors, so "
                    "float stages run as scalar code); src/target/hexagon/float_math.c provides floorf, tanhf and "
                    "sqrtf. Quantize the model to int8 (megalide quantize) to run it on HVX, or use a host target");
    }
    return p;
}

namespace {

std::string kilobytes(int64_t bytes) { return std::to_string((bytes + 1023) / 1024) + " KB"; }

// The VTCM buffers of lowered code and the most of them live at once: along every path into
// the IR, the sizes of the VTCM allocations that enclose it, summed.
class VtcmUse : public Halide::Internal::IRVisitor {
public:
    int64_t peak = 0;
    std::vector<std::string> buffers;  // "name (size)", or "name (size unknown)"
    bool unknown = false;

private:
    using IRVisitor::visit;
    int64_t live_ = 0;

    void visit(const Halide::Internal::Allocate *op) override {
        if (op->memory_type != Halide::MemoryType::VTCM) return IRVisitor::visit(op);
        int64_t size = op->type.bytes();
        bool known = true;
        for (const Halide::Expr &e : op->extents) {
            const auto v = Halide::Internal::as_const_int(Halide::Internal::simplify(e));
            known = known && v;
            if (v) size *= *v;
        }
        buffers.push_back(canonical_func_name(op->name) + " (" + (known ? kilobytes(size) : "size unknown") + ")");
        unknown = unknown || !known;
        live_ += known ? size : 0;
        peak = std::max(peak, live_);
        IRVisitor::visit(op);
        live_ -= known ? size : 0;
    }
};

}  // namespace

void compile_for_hexagon(LoweredGraph &lowered, const TargetSpec &target, const std::string &function_name,
                         const std::map<Halide::OutputFileType, std::string> &files) {
    if (!is_hexagon(target)) throw Error("target '" + target.name + "' is not a Hexagon target");
    const std::vector<Halide::Argument> args(lowered.inputs.begin(), lowered.inputs.end());
    const Halide::Module module = lowered.pipeline.compile_to_module(args, function_name, target.halide());
    VtcmUse vtcm;
    for (const Halide::Internal::LoweredFunc &f : module.functions()) f.body.accept(&vtcm);
    std::string listed;
    for (const std::string &b : vtcm.buffers) listed += (listed.empty() ? "" : ", ") + b;
    if (vtcm.unknown) {
        throw Error("a VTCM buffer's size is not known when the pipeline is compiled: " + listed + "; VTCM is reserved " +
                    "up front (HAP_request_VTCM), so its buffers need sizes fixed by the schedule's tiles");
    }
    if (vtcm.peak > target.vtcm_bytes) {
        throw Error("the schedule's VTCM buffers need " + kilobytes(vtcm.peak) + " at once, more than the " +
                    kilobytes(target.vtcm_bytes) + " of VTCM on " + target.name + ": " + listed +
                    "; use smaller tiles, or keep some of them out of VTCM (drop their store_in)");
    }
    module.compile(files);
}

HexagonProgram build_hexagon_program(LoweredGraph &lowered, const TargetSpec &target, const std::string &dir) {
    if (!is_hexagon(target)) throw Error("target '" + target.name + "' is not a Hexagon target");
    find_hexagon_tools().require(false);
    const std::string object = (fs::path(dir) / "pipeline.o").string();
    compile_for_hexagon(lowered, target, "megalide_pipeline", {{Halide::OutputFileType::object, object}});
    return link_hexagon_program(object, "megalide_pipeline", target, dir);
}

EmulatedRun run_hexagon_program(const HexagonProgram &program, const LoweredGraph &lowered, const TargetSpec &target,
                                const std::vector<HostArray> &inputs, const std::string &dir, bool count) {
    if (target.execution != Execution::Emulated) {
        throw Error("target '" + target.name + "' is compile-only here: QEMU 7.2's qemu-hexagon runs Hexagon v65-v67 programs " +
                    "only (use hexagon-hvx-v66 to run)");
    }
    const HexagonTools tools = find_hexagon_tools();
    tools.require(true);
    if (inputs.size() != lowered.inputs.size()) {
        throw Error("the model has " + std::to_string(lowered.inputs.size()) + " inputs, " + std::to_string(inputs.size()) + " given");
    }
    const fs::path root(dir);
    std::vector<std::string> argv = {tools.qemu};
    const std::string log = (root / "qemu.log").string();
    if (count) argv.insert(argv.end(), {"-d", "in_asm,exec,nochain", "-D", log});
    argv.push_back(program.elf);
    for (size_t i = 0; i < inputs.size(); ++i) {
        const HostArray &in = inputs[i];
        if (in.dtype != lowered.input_dtypes[i] || in.shape != lowered.input_shapes[i]) {
            throw Error("input '" + lowered.input_names[i] + "' is " + describe(in.dtype, in.shape) + ", the model wants " +
                        describe(lowered.input_dtypes[i], lowered.input_shapes[i]));
        }
        const std::string path = (root / ("in" + std::to_string(i) + ".bin")).string();
        write_text(path, std::string(reinterpret_cast<const char *>(in.bytes.data()), in.bytes.size()));
        argv.push_back(buffer_argument('i', in.dtype, in.shape, path));
    }
    for (size_t i = 0; i < lowered.output_names.size(); ++i) {
        argv.push_back(buffer_argument('o', lowered.output_dtypes[i], lowered.output_shapes[i],
                                       (root / ("out" + std::to_string(i) + ".bin")).string()));
    }
    const Process p = run_process(argv);
    if (p.status != 0) {
        throw Error("the Hexagon program failed under QEMU (exit " + std::to_string(p.status) + "):\n" + p.output);
    }
    EmulatedRun r;
    const std::string marker = "megalide-hexagon: heap-peak-bytes ";
    const size_t at = p.output.find(marker);
    if (at != std::string::npos) r.heap_peak_bytes = std::stoll(p.output.substr(at + marker.size()));
    for (size_t i = 0; i < lowered.output_names.size(); ++i) {
        HostArray out;
        out.dtype = lowered.output_dtypes[i];
        out.shape = lowered.output_shapes[i];
        std::ifstream f(root / ("out" + std::to_string(i) + ".bin"), std::ios::binary);
        out.bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        const size_t want = static_cast<size_t>(out.element_count()) * static_cast<size_t>((halide_type(out.dtype).bits() + 7) / 8);
        if (out.bytes.size() != want) {
            throw Error("the Hexagon program wrote " + std::to_string(out.bytes.size()) + " bytes for output '" +
                        lowered.output_names[i] + "', expected " + std::to_string(want));
        }
        r.outputs.push_back(std::move(out));
    }
    if (count) {
        const ExecutionCounts c = count_executions(log);
        r.packets = c.packets;
        r.hvx_instructions = c.hvx_instructions;
    }
    return r;
}

bool is_quantized(const Graph &graph) {
    return std::any_of(graph.values().begin(), graph.values().end(), [](const auto &v) { return v.second.quant.has_value(); });
}

double check_against_host(const std::vector<HostArray> &got, const std::vector<HostArray> &want, const std::vector<std::string> &names,
                          bool exact, const std::string &what) {
    double worst = 0;
    for (size_t o = 0; o < want.size(); ++o) {
        const std::vector<double> w = want[o].to_doubles(), g = got.at(o).to_doubles();
        double lo = 0, hi = 0;
        for (double x : w) lo = std::min(lo, x), hi = std::max(hi, x);
        const double tolerance = exact ? 0 : 1e-4 * std::max(1.0, hi - lo);
        size_t wrong = 0, first = 0;
        for (size_t i = 0; i < w.size(); ++i) {
            const double e = std::abs(w[i] - g[i]);
            worst = std::max(worst, e);
            if (!(e <= tolerance) && wrong++ == 0) first = i;
        }
        if (wrong) {
            throw Error(what + " computed wrong results under QEMU: output '" + names.at(o) + "' differs from the host's in " +
                        std::to_string(wrong) + " of " + std::to_string(w.size()) + " elements (first: element " +
                        std::to_string(first) + " is " + std::to_string(g[first]) + ", the host computes " + std::to_string(w[first]) +
                        "; allowed " + (exact ? "none: integer arithmetic" : "1e-4 of the output range") +
                        "). Halide's Hexagon code generation has miscompiled before (../shared/targets/HEXAGON.md); another " +
                        "schedule (--schedule megakernel or per_op) may build correctly");
        }
    }
    return worst;
}

}  // namespace megalide
