// The facts of the machine megalide runs on, read and measured rather than assumed: the CPU's
// features (as Halide's host target detects them), cache sizes from the OS, and a short
// measurement of the clock, the FMA peak and the copy bandwidth beyond L2. The host TargetSpec
// and the cost model's rates come from these, and tuned schedules are keyed by them, so a plan
// made on one machine is never replayed on another by accident.
//
// The measurement (under a second) runs once per machine and is cached as JSON under the
// user's cache directory: $MEGALIDE_CACHE_DIR, else $XDG_CACHE_HOME/megalide, else
// ~/.cache/megalide. `megalide calibrate` measures again.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace megalide {

struct MachineFacts {
    /// Halide's host target string without "jit" (x86-64-linux-avx-avx2-...): the features.
    std::string features;
    /// Per core, from /sys/devices/system/cpu/cpu0/cache (L3: the whole level; 0 if none).
    int64_t l1d_bytes = 0, l2_bytes = 0, l3_bytes = 0;
    /// Measured, one thread: the clock (a chain of dependent integer adds, one per cycle),
    /// the fp32 FMA peak with the widest vectors the CPU has, and memcpy bandwidth (bytes read
    /// plus bytes written) for buffers that live beyond L2 but in L3, and in DRAM.
    double ghz = 0, fma_gflops = 0, l3_copy_gbps = 0, dram_copy_gbps = 0;
    /// When it was measured (UTC, ISO 8601).
    std::string measured_at;

    /// Identifies the machine by what schedules depend on (features and cache sizes, not the
    /// measured rates): "host-" and 16 hex digits. Tuned schedules carry it in their file name.
    std::string key() const;
    /// fp32 multiply-accumulates per cycle (fma_gflops / 2 / ghz).
    double fp32_macs_per_cycle() const;
    /// Bytes per cycle beyond L2 (l3_copy_gbps / ghz, DRAM's where there is no L3).
    double bytes_per_cycle() const;
    /// Two lines for people: features and caches, then the measured rates.
    std::string describe() const;
    std::string to_json() const;
    /// Parses to_json()'s text; throws Error naming `source` if it is not such a text.
    static MachineFacts from_json(const std::string &text, const std::string &source);
};

/// The user's cache directory for megalide: $MEGALIDE_CACHE_DIR, else
/// $XDG_CACHE_HOME/megalide, else $HOME/.cache/megalide (not created here).
std::string cache_dir();

/// Features and cache sizes of this machine (cheap: nothing is measured).
MachineFacts read_machine_facts();

/// read_machine_facts() plus the measurements (under a second, one thread).
MachineFacts measure_machine_facts();

/// Where this machine's facts are cached: <cache dir>/machine-<key>.json.
std::string machine_facts_path(const MachineFacts &read);

/// This machine's facts: from the cache, else measured and cached. A cache file that cannot
/// be parsed or that belongs to other features is measured again; `note` (if given) hears why,
/// and that a measurement is running. `refresh` measures even when the cache is good. A cache
/// directory that cannot be written is noted and the measurement used anyway. The first call
/// in a process is remembered for the rest of it.
const MachineFacts &machine_facts(const std::function<void(const std::string &)> &note = {}, bool refresh = false);

}  // namespace megalide
