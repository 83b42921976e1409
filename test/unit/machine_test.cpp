// Machine facts: read from the OS, measured, cached as JSON; the host TargetSpec takes them.
#include <gtest/gtest.h>

#include <string>

#include "Halide.h"
#include "megalide/error.h"
#include "megalide/target/machine.h"
#include "megalide/target/target.h"

namespace megalide {
namespace {

MachineFacts sample() {
    MachineFacts f;
    f.features = "x86-64-linux-avx-avx2-f16c-fma-sse41";
    f.l1d_bytes = 32 << 10;
    f.l2_bytes = 1 << 20;
    f.l3_bytes = 32 << 20;
    f.ghz = 3.0;
    f.fma_gflops = 96;
    f.l3_copy_gbps = 48;
    f.dram_copy_gbps = 20;
    f.measured_at = "2026-12-02T00:00:00Z";
    return f;
}

TEST(MachineFacts, JsonRoundTripAndDerivedRates) {
    const MachineFacts f = sample();
    const MachineFacts g = MachineFacts::from_json(f.to_json(), "sample");
    EXPECT_EQ(g.features, f.features);
    EXPECT_EQ(g.l2_bytes, f.l2_bytes);
    EXPECT_EQ(g.key(), f.key());
    EXPECT_DOUBLE_EQ(g.fp32_macs_per_cycle(), 96.0 / 2 / 3.0);
    EXPECT_DOUBLE_EQ(g.bytes_per_cycle(), 48.0 / 3.0);
    MachineFacts no_l3 = f;
    no_l3.l3_copy_gbps = 0;
    EXPECT_DOUBLE_EQ(no_l3.bytes_per_cycle(), 20.0 / 3.0);
}

TEST(MachineFacts, KeyDependsOnFeaturesAndCachesNotRates) {
    const MachineFacts f = sample();
    MachineFacts g = f;
    g.fma_gflops = 50;
    EXPECT_EQ(f.key(), g.key());
    g.l2_bytes = 2 << 20;
    EXPECT_NE(f.key(), g.key());
    g = f;
    g.features += "-avx512";
    EXPECT_NE(f.key(), g.key());
    EXPECT_EQ(f.key().rfind("host-", 0), 0u);
    EXPECT_EQ(f.key().size(), 5u + 16u);
}

TEST(MachineFacts, BadCacheTextsAreErrorsNamingTheFile) {
    const std::string good = sample().to_json();
    const std::string bad[] = {"", "{ truncated", "[1, 2]", good.substr(0, good.size() / 2),
                               // another machine's key on these contents
                               std::string(good).replace(good.find("host-"), 21, "host-0123456789abcdef"),
                               // a clock no CPU has
                               std::string(good).replace(good.find("\"ghz\": 3.0"), 10, "\"ghz\": 0.0")};
    for (const std::string &text : bad) {
        try {
            MachineFacts::from_json(text, "/cache/machine.json");
            ADD_FAILURE() << "accepted: " << text;
        } catch (const Error &e) {
            EXPECT_NE(std::string(e.what()).find("'/cache/machine.json' are not valid"), std::string::npos) << e.what();
        }
    }
}

TEST(MachineFacts, ThisMachineIsReadAndMeasured) {
    const MachineFacts read = read_machine_facts();
    EXPECT_EQ(read.features, Halide::get_host_target().without_feature(Halide::Target::JIT).to_string());
    EXPECT_GT(read.l1d_bytes, 0);
    EXPECT_GT(read.l2_bytes, read.l1d_bytes);
    const MachineFacts m = measure_machine_facts();
    EXPECT_EQ(m.key(), read.key());
    EXPECT_GT(m.ghz, 0.1);
    EXPECT_GT(m.dram_copy_gbps, 0);
    EXPECT_FALSE(m.measured_at.empty());
    // What it measured parses back (a cache it writes can be read).
    EXPECT_EQ(MachineFacts::from_json(m.to_json(), "measured").key(), m.key());
}

TEST(MachineFacts, HostTargetTakesThisMachinesCachesAndKey) {
    const TargetSpec host = host_target_spec(1);
    const MachineFacts &m = machine_facts();
    EXPECT_EQ(host.machine, m.key());
    EXPECT_EQ(host.l2_bytes, m.l2_bytes);
    EXPECT_EQ(host.l3_bytes, m.l3_bytes);
    EXPECT_TRUE(host.missing_features.empty());
    // A target of another architecture is compile-only, with nominal facts and the reason.
    const TargetSpec arm = target_spec("arm-64-linux", 1);
    EXPECT_EQ(arm.execution, Execution::CompileOnly);
    EXPECT_TRUE(arm.machine.empty());
    ASSERT_FALSE(arm.missing_features.empty());
    EXPECT_NE(arm.missing_features.back().find("architecture"), std::string::npos);
}

}  // namespace
}  // namespace megalide
