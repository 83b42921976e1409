#include "megalide/target/machine.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "Halide.h"
#include "megalide/error.h"
#include "megalide/io/atomic_file.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace megalide {

namespace {

using Json = nlohmann::json;
constexpr int kFactsVersion = 1;

// ---- reading -------------------------------------------------------------------------------

std::string read_text(const std::filesystem::path &path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
}

// "48K", "2048K", "32M" as the kernel writes cache sizes.
int64_t parse_size(const std::string &s) {
    if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return 0;
    const int64_t n = std::stoll(s);
    switch (s.back()) {
    case 'K': return n << 10;
    case 'M': return n << 20;
    case 'G': return n << 30;
    default: return n;
    }
}

void read_caches(MachineFacts &f) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const fs::directory_entry &e : fs::directory_iterator("/sys/devices/system/cpu/cpu0/cache", ec)) {
        if (e.path().filename().string().rfind("index", 0) != 0) continue;
        const std::string type = read_text(e.path() / "type");
        if (type == "Instruction") continue;
        const std::string level = read_text(e.path() / "level");
        const int64_t bytes = parse_size(read_text(e.path() / "size"));
        if (level == "1") f.l1d_bytes = bytes;
        if (level == "2") f.l2_bytes = bytes;
        if (level == "3") f.l3_bytes = bytes;
    }
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    if (!f.l1d_bytes) f.l1d_bytes = std::max<long>(0, sysconf(_SC_LEVEL1_DCACHE_SIZE));
    if (!f.l2_bytes) f.l2_bytes = std::max<long>(0, sysconf(_SC_LEVEL2_CACHE_SIZE));
    if (!f.l3_bytes) f.l3_bytes = std::max<long>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
#endif
}

// ---- measuring -----------------------------------------------------------------------------

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The best of `tries` timings of `body` (which does `work` units), as units per second.
template <typename Body>
double best_rate(int tries, double work, Body &&body) {
    double best = 0;
    for (int i = 0; i < tries; ++i) {
        const auto start = std::chrono::steady_clock::now();
        body();
        best = std::max(best, work / seconds_since(start));
    }
    return best;
}

#if defined(__x86_64__)
// Eight dependent register-register adds per iteration, one cycle each on every x86 core seen
// (an add of an immediate is not used: Golden Cove's renamer folds chains of those); the loop
// counter's own add runs beside the chain.
double measure_ghz() {
    constexpr int64_t kIterations = 20'000'000;
    volatile uint64_t one = 1;
    const uint64_t y = one;
    return best_rate(5, 8.0 * kIterations, [y] {
               uint64_t x = 0;
               for (int64_t i = 0; i < kIterations; ++i) {
                   asm volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                                "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
                                : "+r"(x)
                                : "r"(y));
               }
               asm volatile("" ::"r"(x));
           }) / 1e9;
}

// Independent FMA chains, more than latency x pipes of them, so that only the pipes limit.
constexpr int kFmaChains = 12;
constexpr int64_t kFmaIterations = 4'000'000;

// The chains run in functions of their own: GCC does not carry a target attribute into lambdas.
__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t iterations) {
    __m512 acc[kFmaChains];
    for (int k = 0; k < kFmaChains; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < kFmaChains; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
    }
    for (int k = 1; k < kFmaChains; ++k) acc[0] = _mm512_add_ps(acc[0], acc[k]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t iterations) {
    __m256 acc[kFmaChains];
    for (int k = 0; k < kFmaChains; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < kFmaChains; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
    }
    for (int k = 1; k < kFmaChains; ++k) acc[0] = _mm256_add_ps(acc[0], acc[k]);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc[0]);
    return lanes[0];
}

double fma_gflops(float (*chains)(int64_t), int lanes) {
    return best_rate(5, 2.0 * lanes * kFmaChains * kFmaIterations, [chains] {
               volatile float sink = chains(kFmaIterations);
               (void)sink;
           }) / 1e9;
}

double measure_fma_gflops() {
    if (__builtin_cpu_supports("avx512f")) return fma_gflops(fma_chains_avx512, 16);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fma_gflops(fma_chains_avx2, 8);
    return 0;  // older x86: the TargetSpec keeps its nominal rates
}
#else
double measure_ghz() { return 0; }
double measure_fma_gflops() { return 0; }
#endif

// memcpy between two buffers of `bytes` each, touched first; bytes read plus written per second.
double copy_gbps(int64_t bytes, int tries) {
    std::vector<char> a(bytes, 1), b(bytes, 2);
    const int repeats = static_cast<int>(std::max<int64_t>(1, (int64_t{256} << 20) / bytes));
    return best_rate(tries, 2.0 * bytes * repeats, [&] {
               for (int r = 0; r < repeats; ++r) std::memcpy(r % 2 ? a.data() : b.data(), r % 2 ? b.data() : a.data(), bytes);
           }) / 1e9;
}

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

std::string bytes_text(int64_t b) {
    if (b >= (1 << 20) && b % (1 << 20) == 0) return std::to_string(b >> 20) + " MB";
    return std::to_string(b >> 10) + " KB";
}

}  // namespace

std::string MachineFacts::key() const {
    // FNV-1a over what a schedule depends on.
    const std::string what = features + "|" + std::to_string(l1d_bytes) + "|" + std::to_string(l2_bytes) + "|" + std::to_string(l3_bytes);
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : what) h = (h ^ c) * 1099511628211ull;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return std::string("host-") + hex;
}

double MachineFacts::fp32_macs_per_cycle() const { return ghz > 0 ? fma_gflops / 2 / ghz : 0; }

double MachineFacts::bytes_per_cycle() const {
    if (ghz <= 0) return 0;
    return (l3_copy_gbps > 0 ? l3_copy_gbps : dram_copy_gbps) / ghz;
}

std::string MachineFacts::describe() const {
    std::ostringstream o;
    o.precision(3);
    o << features << "; L1d " << bytes_text(l1d_bytes) << ", L2 " << bytes_text(l2_bytes) << ", L3 "
      << (l3_bytes ? bytes_text(l3_bytes) : "none") << " (machine " << key() << ")\n";
    o << "measured " << measured_at << ", 1 thread: " << ghz << " GHz, fp32 FMA peak " << fma_gflops << " GFLOP/s ("
      << fp32_macs_per_cycle() << " MACs/cycle), copy " << l3_copy_gbps << " GB/s beyond L2 (" << bytes_per_cycle()
      << " bytes/cycle), " << dram_copy_gbps << " GB/s from DRAM";
    return o.str();
}

std::string MachineFacts::to_json() const {
    const Json j = {{"version", kFactsVersion},   {"key", key()},
                    {"features", features},       {"l1d_bytes", l1d_bytes},
                    {"l2_bytes", l2_bytes},       {"l3_bytes", l3_bytes},
                    {"ghz", ghz},                 {"fma_gflops", fma_gflops},
                    {"l3_copy_gbps", l3_copy_gbps}, {"dram_copy_gbps", dram_copy_gbps},
                    {"measured_at", measured_at}};
    return j.dump(2) + "\n";
}

MachineFacts MachineFacts::from_json(const std::string &text, const std::string &source) {
    try {
        const Json j = Json::parse(text);
        if (j.at("version").get<int>() != kFactsVersion) throw Error("version " + j.at("version").dump() + ", expected " + std::to_string(kFactsVersion));
        MachineFacts f;
        f.features = j.at("features").get<std::string>();
        f.l1d_bytes = j.at("l1d_bytes").get<int64_t>();
        f.l2_bytes = j.at("l2_bytes").get<int64_t>();
        f.l3_bytes = j.at("l3_bytes").get<int64_t>();
        f.ghz = j.at("ghz").get<double>();
        f.fma_gflops = j.at("fma_gflops").get<double>();
        f.l3_copy_gbps = j.at("l3_copy_gbps").get<double>();
        f.dram_copy_gbps = j.at("dram_copy_gbps").get<double>();
        f.measured_at = j.at("measured_at").get<std::string>();
        if (j.at("key").get<std::string>() != f.key()) throw Error("its key does not match its contents");
        if (!(f.ghz > 0.1 && f.ghz < 10) || !(f.fma_gflops >= 0) || !(f.dram_copy_gbps > 0)) throw Error("implausible measurements");
        return f;
    } catch (const Json::exception &e) {
        throw Error("machine facts '" + source + "' are not valid: " + e.what());
    } catch (const Error &e) {
        throw Error("machine facts '" + source + "' are not valid: " + e.what());
    }
}

std::string cache_dir() {
    if (const char *d = std::getenv("MEGALIDE_CACHE_DIR"); d && *d) return d;
    if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/megalide";
    if (const char *d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/megalide";
    return "/tmp/megalide-cache";
}

MachineFacts read_machine_facts() {
    MachineFacts f;
    f.features = Halide::get_host_target().without_feature(Halide::Target::JIT).to_string();
    read_caches(f);
    return f;
}

MachineFacts measure_machine_facts() {
    MachineFacts f = read_machine_facts();
    f.ghz = measure_ghz();
    f.fma_gflops = measure_fma_gflops();
    // Two buffers of twice L2 each stay in L3 where there is one; 256 MB each reach DRAM
    // unless L3 is larger still (then both numbers are L3's).
    if (f.l2_bytes && f.l3_bytes >= 8 * f.l2_bytes) f.l3_copy_gbps = copy_gbps(2 * f.l2_bytes, 5);
    f.dram_copy_gbps = copy_gbps(int64_t{256} << 20, 3);
    f.measured_at = utc_now();
    return f;
}

std::string machine_facts_path(const MachineFacts &read) { return cache_dir() + "/machine-" + read.key() + ".json"; }

const MachineFacts &machine_facts(const std::function<void(const std::string &)> &note, bool refresh) {
    static std::mutex mutex;
    static std::optional<MachineFacts> facts;
    const std::lock_guard<std::mutex> lock(mutex);
    if (facts && !refresh) return *facts;
    const MachineFacts read = read_machine_facts();
    const std::string path = machine_facts_path(read);
    const auto say = [&](const std::string &s) {
        if (note) note(s);
    };
    if (!refresh && std::filesystem::exists(path)) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        try {
            MachineFacts cached = MachineFacts::from_json(text.str(), path);
            if (cached.key() == read.key()) {
                facts = cached;
                return *facts;
            }
            say("machine facts '" + path + "' describe other features or caches: measuring again");
        } catch (const Error &e) {
            say(std::string(e.what()) + ": measuring again");
        }
    }
    say("measuring this machine's clock, FMA peak and copy bandwidth (once, under a second; cached in " + path + ")");
    facts = measure_machine_facts();
    try {
        std::error_code ec;
        std::filesystem::create_directories(cache_dir(), ec);
        if (ec) throw Error("cannot create '" + cache_dir() + "': " + ec.message());
        write_file_atomically(path, {facts->to_json()});
    } catch (const Error &e) {
        say(std::string("machine facts not cached (") + e.what() + "): they will be measured again next time");
    }
    return *facts;
}

}  // namespace megalide
