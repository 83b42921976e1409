#include "megalide/target/target.h"

#include <algorithm>

#include "megalide/error.h"
#include "megalide/target/machine.h"

namespace megalide {

double TargetSpec::macs_per_cycle(const Halide::Type &type, bool byte_dot) const {
    if (byte_dot) return int8_macs_per_cycle;
    if (type.is_float()) return type.bits() > 32 ? fp32_macs_per_cycle / 2 : fp32_macs_per_cycle;
    if (type.bits() <= 16) return int16_macs_per_cycle;
    return fp32_macs_per_cycle;  // 32-bit integer multiplies: one lane per fp32 lane at best
}

std::vector<MemoryLevel> TargetSpec::memory() const {
    std::vector<MemoryLevel> levels = {{"L1", l1_bytes}, {"L2", l2_bytes}};
    if (l3_bytes) levels.push_back({"L3", l3_bytes});
    if (vtcm_bytes) levels.push_back({"VTCM", vtcm_bytes});
    return levels;
}

Halide::Target TargetSpec::halide() const {
    return halide_target == "host" ? Halide::get_host_target() : Halide::Target(halide_target);
}

namespace {

// Hexagon with HVX in 128-byte mode (Halide's `hvx` feature). Rates per packet (the DSP issues
// one packet of up to four instructions per cycle): int8 dot products at one vrmpy per packet
// (32 int32 lanes x 4 byte products = 128 MACs; Halide's HVX code also issues vdmpy / vmpa
// for 16-bit products: 64 per vector instruction); fp32 is scalar on v66 (one fused
// multiply-add per packet at best), HVX float from v68 (32 lanes). Caches as on the Snapdragon
// 855 / 865 DSPs (v66): 32 KB L1 data (HVX loads bypass it), 512 KB L2, 256 KB VTCM; DDR
// beyond L2 at about 8 bytes per cycle. No thread pool in the NoOS runtime.
TargetSpec hexagon_spec(const Halide::Target &target) {
    using F = Halide::Target::Feature;
    TargetSpec t;
    t.name = t.halide_target = target.to_string();
    const bool v68 = target.has_feature(F::HVX_v68);
    t.vector_bytes = 128;
    t.registers = 32;
    // Accumulators one HVX vector wide: a 64-lane int32 accumulator (two vectors; the digits
    // CNN's 512 -> 64 int8 MatMul under per_op) computed wrong results under qemu-hexagon,
    // every build, while 32 lanes were bit-exact (Halide 21.0.0).
    t.max_tile_vectors = 2;
    t.reduction_step_cycles = 0;  // VLIW: the loop's scalar arithmetic shares the HVX packets
    t.float_vectors = v68;
    t.partial_vectors = false;
    t.fp32_macs_per_cycle = v68 ? 32 : 1;
    t.int8_macs_per_cycle = 128;
    t.int16_macs_per_cycle = 64;
    t.bytes_per_cycle = 8;
    t.l1_bytes = 32 << 10;
    t.l2_bytes = 512 << 10;
    t.vtcm_bytes = 256 << 10;
    t.threads = 1;
    t.parallel_allowed = false;
    // QEMU 7.2's qemu-hexagon runs v65-v67 programs only.
    t.execution = v68 ? Execution::CompileOnly : Execution::Emulated;
    return t;
}

}  // namespace

// Fills in what this machine's facts say about `t` (a target that runs here): caches from the
// OS, bytes per cycle beyond L2 from the measured copy bandwidth, and the nominal rates scaled by
// how many FMA pipes the measurement found (a core with one 512-bit FMA pipe runs at half the
// nominal two; the ratio applies to every type, as the integer dot products share the pipes).
void apply_machine_facts(TargetSpec &t, const Halide::Target &host) {
    const MachineFacts &m = machine_facts();  // the CLI makes the first call, with its progress notes
    t.machine = m.key();
    if (m.l1d_bytes) t.l1_bytes = m.l1d_bytes;
    if (m.l2_bytes) t.l2_bytes = m.l2_bytes;
    t.l3_bytes = m.l3_bytes;
    if (m.bytes_per_cycle() > 0) t.bytes_per_cycle = m.bytes_per_cycle();
    const double host_nominal = 2.0 * (host.has_feature(Halide::Target::AVX512) ? 64 : 32) / 4;
    if (m.fp32_macs_per_cycle() > 0) {
        const double pipes = std::clamp(m.fp32_macs_per_cycle() / host_nominal, 0.25, 2.0);
        t.fp32_macs_per_cycle *= pipes;
        t.int8_macs_per_cycle *= pipes;
        t.int16_macs_per_cycle *= pipes;
    }
}

TargetSpec target_spec_for(const Halide::Target &target, int threads) {
    using F = Halide::Target::Feature;
    if (target.arch == Halide::Target::Hexagon) return hexagon_spec(target);
    TargetSpec t;
    const bool avx512 = target.has_feature(F::AVX512), avx2 = target.has_feature(F::AVX2);
    const bool vnni = target.has_feature(F::AVX512_Cannonlake) || target.has_feature(F::AVXVNNI);
    t.vector_bytes = avx512 ? 64 : avx2 ? 32 : 16;
    t.registers = avx512 ? 32 : 16;
    // Two vector pipes for each: FMAs; vpdpbusd (4 byte products per int32 lane) with VNNI,
    // else vpmaddubsw then vpmaddwd (half the rate); vpmaddwd for 16-bit products.
    t.fp32_macs_per_cycle = 2.0 * t.vector_bytes / 4;
    t.int8_macs_per_cycle = vnni ? 2.0 * t.vector_bytes : t.vector_bytes;
    t.int16_macs_per_cycle = t.vector_bytes;
    t.threads = std::max(1, threads);
    const Halide::Target host = Halide::get_host_target();
    if (target.without_feature(F::JIT) == host.without_feature(F::JIT)) {
        t.name = t.halide_target = "host";
    } else {
        t.name = t.halide_target = target.to_string();
        // Runs here if it is this OS and architecture and asks for no ISA extension the host lacks.
        const F isa[] = {F::SSE41, F::AVX, F::F16C, F::FMA, F::AVX2, F::AVX512, F::AVX512_Skylake, F::AVX512_Cannonlake,
                         F::AVX512_SapphireRapids, F::AVX512_Zen4, F::AVX512_Zen5, F::AVXVNNI};
        for (F f : isa) {
            if (target.has_feature(f) && !host.has_feature(f)) t.missing_features.push_back(Halide::Target::feature_to_name(f));
        }
        const bool same_machine = target.os == host.os && target.arch == host.arch && target.bits == host.bits;
        if (!same_machine) t.missing_features.push_back("the " + target.to_string() + " architecture or OS");
        t.execution = t.missing_features.empty() ? Execution::Native : Execution::CompileOnly;
    }
    if (t.runs_here()) apply_machine_facts(t, host);
    return t;
}

TargetSpec host_target_spec(int threads) {
    const Halide::Target jit = Halide::get_jit_target_from_environment();
    TargetSpec t = target_spec_for(jit.without_feature(Halide::Target::JIT), threads);
    if (!t.missing_features.empty()) {
        std::string missing;
        for (const std::string &f : t.missing_features) missing += (missing.empty() ? "" : ", ") + f;
        throw Error("HL_JIT_TARGET '" + jit.to_string() + "' asks for what this machine lacks: " + missing);
    }
    return t;
}

namespace {

// The named targets, one row each: an edge target is one more row (its Halide target string
// and the facts target_spec_for cannot read from the features).
struct NamedTarget {
    const char *name, *halide_target;
    bool tiles_in_vtcm = false;
};

const NamedTarget kTargets[] = {
    {"x86-64-avx512", "x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake"},
    // AVX-512 with VNNI (Zen 4 and later, Ice Lake and later): int8 dot products (vpdpbusd).
    {"x86-64-avx512-vnni", "x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake-avx512_cannonlake-avx512_zen4"},
    {"x86-64-avx2", "x86-64-linux-sse41-avx-f16c-fma-avx2"},
    // Hexagon DSPs with HVX, 128-byte vectors, no OS (../shared/targets/HEXAGON.md): v66 runs
    // here under qemu-hexagon-static; v68 is compile-only (QEMU 7.2 refuses v68 programs).
    {"hexagon-hvx-v66", "hexagon-32-noos-hvx-hvx_128-hvx_v66"},
    {"hexagon-hvx-v68", "hexagon-32-noos-hvx-hvx_128-hvx_v68"},
    // The same DSPs with the megakernel's per-tile buffers in VTCM (TargetSpec::tiles_in_vtcm).
    {"hexagon-hvx-v66-vtcm", "hexagon-32-noos-hvx-hvx_128-hvx_v66", true},
    {"hexagon-hvx-v68-vtcm", "hexagon-32-noos-hvx-hvx_128-hvx_v68", true},
};

}  // namespace

std::vector<std::string> target_names() {
    std::vector<std::string> names = {"host"};
    for (const NamedTarget &t : kTargets) names.push_back(t.name);
    return names;
}

TargetSpec target_spec(const std::string &name, int threads) {
    if (name == "host") return host_target_spec(threads);
    for (const NamedTarget &n : kTargets) {
        if (name != n.name) continue;
        TargetSpec t = target_spec_for(Halide::Target(n.halide_target), threads);
        t.name = n.name;
        t.tiles_in_vtcm = n.tiles_in_vtcm;
        return t;
    }
    // Any Halide target string ("x86-64-linux-avx2-fma", ...) names itself.
    if (Halide::Target::validate_target_string(name)) return target_spec_for(Halide::Target(name), threads);
    std::string names;
    for (const std::string &n : target_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("unknown target '" + name + "' (known: " + names + ", or a Halide target string such as x86-64-linux-avx2-fma)");
}

}  // namespace megalide
