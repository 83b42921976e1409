// Targets as data: what a schedule and its cost model know about the machine the code runs
// on. Adding a target is one more row in src/target/target.cpp's table (its Halide target
// string and these facts), not a change to a scheduler or the CLI. The planners read rates
// and sizes from here (as Mullapudi2016's ArchParams), never from constants of their own.
#pragma once

#include <string>
#include <vector>

#include "Halide.h"

namespace megalide {

/// How the code built for a target runs from this machine.
enum class Execution {
    Native,       ///< on this machine: JIT, and `megalide compile` times the library here
    Emulated,     ///< under a user-mode emulator here (QEMU): correct, not timed
    CompileOnly,  ///< built and inspected only
};

/// One level of the memory hierarchy a tile may live in.
struct MemoryLevel {
    std::string name;  ///< "L1", "L2", "L3", "VTCM"
    int64_t bytes = 0; ///< per core (shared levels: the whole level)
};

/// Facts about the machine a schedule is made for.
struct TargetSpec {
    std::string name = "host";
    /// Halide's target for ahead-of-time code ("host": the machine that compiles).
    std::string halide_target = "host";
    Execution execution = Execution::Native;

    int vector_bytes = 64;  ///< native vector register width (AVX-512: 64, AVX2: 32, HVX: 128)
    int registers = 32;     ///< vector registers
    /// The widest accumulator register tile, in native vectors of its type (x86: up to three
    /// side by side; HVX: one, see src/target/target.cpp).
    int max_tile_vectors = 3;
    /// Multiply-accumulates per cycle per core, by operand type: fp32 FMAs (two FMA pipes of
    /// one vector each on the x86 cores seen), and 8-bit products accumulated into int32 (VNNI
    /// vpdpbusd: 4 per int32 lane; without VNNI, vpmaddubsw + vpmaddwd: half that).
    double fp32_macs_per_cycle = 32;
    double int8_macs_per_cycle = 128;
    double int16_macs_per_cycle = 64;
    /// Independent accumulators the multiply-add pipes need to stay busy (pipes x latency:
    /// two FMA pipes of 4-cycle latency on every x86 core seen, Zen 2 to Zen 5 and Skylake).
    int accumulators_in_flight = 8;
    /// Cycles of loop and address arithmetic per reduction step of a register tile, besides
    /// its multiply-accumulates: about one on x86 (B3's 256-row matmuls ran 6% slower in tiles
    /// of 4 rows than of 6 on a Zen 3). None on Hexagon, whose VLIW packets carry the scalar
    /// loop arithmetic beside the HVX instructions: counting it there chose tiles of two
    /// vectors for Q1's 144 channels (192 computed), 16% more packets than one (160).
    double reduction_step_cycles = 1.0;
    /// Sustained bytes per cycle beyond L2 (L3 and DRAM together): on the 2-core Zen 5 VM
    /// the 0.5 ms of B1's op-by-op intermediates (3 x 1.8 MB written and read back) agree
    /// with 16.
    double bytes_per_cycle = 16;

    int64_t l1_bytes = 32 << 10;
    int64_t l2_bytes = 1 << 20;
    int64_t l3_bytes = 0;  ///< 0: unknown or none
    /// Facts of the edge targets, 0 where the target has none: Hexagon's VTCM (tightly
    /// coupled vector memory) and Arm SME's streaming vector length.
    int64_t vtcm_bytes = 0;
    int sme_vector_bits = 0;

    int threads = 1;
    /// Whether schedules may use parallel loops (Halide's Hexagon NoOS runtime has no thread
    /// pool, and parallel() there computed wrong results: ../shared/targets/HEXAGON.md).
    bool parallel_allowed = true;
    /// Whether the vector unit has floating point. Without it (HVX before v68) int8 graphs
    /// requantize in fixed point (layers::Requantization::FixedPoint) and fp32 ops run as
    /// scalar code.
    bool float_vectors = true;
    /// Whether a vector narrower than the native one compiles to a shorter instruction (x86:
    /// AVX-512 has 128- and 256-bit forms). HVX has none: 24 int32 lanes of its 32 were
    /// assembled lane by lane, 24 vinserts per use, 68% of B1 int8's packets. Where false,
    /// accumulators over channel-padded operands (StageFacts::padded_channels) compute whole vectors.
    bool partial_vectors = true;
    /// Whether the megakernel planner puts the buffers sections keep per tile in VTCM
    /// (store_in vtcm, one allocation per call; only where vtcm_bytes). Off on the plain
    /// Hexagon rows: under QEMU, which models no memory latency, VTCM tiles only cost packets
    /// (the int8 digits CNN: 68,442 against 62,427; Halide's code for VTCM buffers differs),
    /// so its benefit, HVX loads without L2 latency, is a device measurement.
    bool tiles_in_vtcm = false;

    /// For targets that run here: the machine whose facts filled in the caches and rates
    /// (MachineFacts::key(), "host-..."); empty for the nominal facts of other machines.
    std::string machine;
    /// The ISA features this target asks for that this machine lacks (why it is compile-only).
    std::vector<std::string> missing_features;

    bool runs_here() const { return execution == Execution::Native; }
    /// Lanes of one vector of `type` (fp32: vector_bytes / 4).
    int lanes(const Halide::Type &type) const { return vector_bytes / std::max(1, type.bytes()); }
    int float_lanes() const { return lanes(Halide::Float(32)); }
    /// Multiply-accumulates per cycle for products of operands of `type`; `byte_dot`: 8-bit
    /// products summed 4 per int32 lane (StageFacts::byte_dot).
    double macs_per_cycle(const Halide::Type &type, bool byte_dot = false) const;
    /// The memory levels, innermost first (L1, L2, then L3 or VTCM where known).
    std::vector<MemoryLevel> memory() const;
    Halide::Target halide() const;
};

/// The host as Halide's JIT target sees it, with `threads` threads; caches and rates are this
/// machine's, read and measured (megalide/target/machine.h). HL_JIT_TARGET, which Halide's
/// JIT compiles for, is honoured here too, so the plan and the code agree: e.g.
/// `x86-64-linux-avx-avx2-f16c-fma-sse41` runs an AVX-512 machine as an AVX2 one (256-bit
/// vectors, 16 registers). Throws Error naming the ISA features the CPU lacks if it asks for any.
TargetSpec host_target_spec(int threads);

/// The facts of an arbitrary Halide target (a Generator's `target`): "host" if it is this
/// machine, else named after the target string; vector width, registers and rates from its
/// features. A target that runs here takes this machine's caches, copy bandwidth and FMA
/// pipes (measured) in place of the nominal ones.
TargetSpec target_spec_for(const Halide::Target &target, int threads);

/// The targets schedules can be made for, by name ("host", "x86-64-avx512", "x86-64-avx2", ...).
std::vector<std::string> target_names();

/// The TargetSpec named `name` (a row of the table, or a Halide target string) with `threads`
/// threads; throws Error for an unknown name (listing the known ones).
TargetSpec target_spec(const std::string &name, int threads);

}  // namespace megalide
