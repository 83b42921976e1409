// Counting what a Hexagon program executed from QEMU's `-d in_asm,exec,nochain` log, on a log
// written here by hand in QEMU 7.2's format (two translation blocks, one of them HVX).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "megalide/error.h"
#include "megalide/target/hexagon.h"

namespace megalide {
namespace {

std::string write_log(const std::string &text) {
    const std::string path = ::testing::TempDir() + "/hexagon_log_test_qemu.log";
    std::ofstream(path) << text;
    return path;
}

// Block A (0x2b9a8): 3 packets, scalar only ("vaddh(R1:0,...)" is the scalar unit's SIMD).
// Block B (0x27a80): 2 packets, 4 instructions, 3 of them HVX (vrmpy, vmem load, new-value
// vmem store of O0). A runs 3 times, B 5 times; block C is listed but never runs, and a trace
// of an address with no listing adds nothing.
const char *kLog =
    "IN: main\n"
    "0x0002b9a8:  0xb01bc03c\t{\tR28 = add(R27,#0x1) }\n"
    "0x0002b9ac:  0x3a81fc10\t{\tR16 = memw(R1+R28<<#0x2)\n"
    "0x0002b9b0:  0x9110c000\t\tR1:0 = vaddh(R1:0,R3:2) }\n"
    "0x0002b9b4:  0x75004de0\t{\tP0 = cmp.eq(R0,#0x6f) }\n"
    "\n"
    "Trace 0: 0x7fb30c000940 [00000000/0002b9a8/00000000/00000200] main\n"
    "----------------\n"
    "IN: kernel\n"
    "0x00027a80:  0x1c03644b\t{\tV11.w += vrmpy(V4.ub,V3.b)\n"
    "0x00027a88:  0x291cc323\t\tV3.cur = vmem(R28++#0x3) }\n"
    "0x00027a8c:  0x2827c322\t{\tvmem(R7+#0x3) = O0.new\n"
    "0x00027a90:  0xb01bc03c\t\tR28 = add(R27,#0x1) }\n"
    "\n"
    "Trace 0: 0x7fb30c000a40 [00000000/00027a80/00000000/00000200] kernel\n"
    "Trace 0: 0x7fb30c000a40 [00000000/00027a80/00000000/00000200] kernel\n"
    "Trace 0: 0x7fb30c000940 [00000000/0002b9a8/00000000/00000200] main\n"
    "IN: unused\n"
    "0x00030000:  0x1c03644b\t{\tV0.w += vrmpy(V1.ub,V2.b) }\n"
    "\n"
    "Trace 0: 0x7fb30c000a40 [00000000/00027a80/00000000/00000200] kernel\n"
    "Trace 0: 0x7fb30c000a40 [00000000/00027a80/00000000/00000200] kernel\n"
    "Trace 0: 0x7fb30c000940 [00000000/0002b9a8/00000000/00000200] main\n"
    "Trace 0: 0x7fb30c000a40 [00000000/00027a80/00000000/00000200] kernel\n"
    "Trace 0: 0x7fb30c000b40 [00000000/00040000/00000000/00000200] elsewhere\n";

TEST(HexagonLog, PacketsAndHvxInstructionsPerExecutedBlock) {
    const ExecutionCounts c = count_executions(write_log(kLog));
    EXPECT_EQ(c.packets, 3 * 3 + 5 * 2);
    EXPECT_EQ(c.hvx_instructions, 5 * 3);
}

TEST(HexagonLog, EmptyLogCountsNothing) {
    const ExecutionCounts c = count_executions(write_log(""));
    EXPECT_EQ(c.packets, 0);
    EXPECT_EQ(c.hvx_instructions, 0);
}

TEST(HexagonLog, MissingLogIsAnError) {
    try {
        count_executions(::testing::TempDir() + "/no_such_qemu.log");
        FAIL() << "expected an Error";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("no_such_qemu.log"), std::string::npos) << e.what();
    }
}

// ld.lld-19's report of a link that lacks C math (the form it printed for an fp32 Tanh before
// megalide provided tanhf): each missing function once, in order.
TEST(HexagonLink, UndefinedSymbolsAreNamedOnceEach) {
    const std::string output =
        "ld.lld-19: error: undefined symbol: tanhf\n"
        ">>> referenced by force_include_types.cpp\n"
        ">>>               /tmp/megalide-hexagon-x/pipeline.o:(megalide_pipeline)\n"
        "ld.lld-19: error: undefined symbol: tanhf\n"
        "ld.lld-19: error: undefined symbol: __hexagon_divdf3\n";
    EXPECT_EQ(undefined_symbols(output), (std::vector<std::string>{"tanhf", "__hexagon_divdf3"}));
    EXPECT_TRUE(undefined_symbols("ld.lld-19: error: cannot open pipeline.o").empty());
}

}  // namespace
}  // namespace megalide
