/* Tests of megalide's SME ABI support routines (src/target/sme/sme_abi.S).

   Usage: sme_abi_test SVL_BYTES [--lazy-save-only]
     SVL_BYTES  the streaming vector length the run must have (QEMU's
                sme-default-vector-length), or 0 for a CPU without SME (QEMU -cpu max,sme=off),
                where only the no-SME behaviour is checked.
     --lazy-save-only  run only the compiler-driven lazy-save tests: the negative control
                (linked with broken_tpidr2_save.S) runs this and must fail.
   One line per check; exit status 1 on any failure.

   Three tiers:
   1. Compiler-driven protocol. clang emits the calls: a function with live ZA calls a
      private-ZA function, which (through an __arm_new("za") kernel) uses ZA itself, so the
      kernel's prologue commits the caller's lazy save (__arm_tpidr2_save) and the caller
      reloads ZA afterwards (__arm_tpidr2_restore). ZA must come back intact. Streaming-
      compatible code asks __arm_sme_state (via __builtin_arm_get_sme_state) for PSTATE.SM
      and PSTATE.ZA from callers in each mode; the answer is compared with SVCR itself.
   2. Direct calls through sme_abi_harness.S: each routine's documented effect, and that it
      keeps every register the AAPCS64 makes callee-saved for it (compiled callers rely on
      only some of them, so tier 1 alone would miss a clobber).
   3. The aborts the spec asks for (nonzero reserved bytes, a restore with a lazy save still
      pending), each in a forked child that must die of SIGABRT. */
#include <arm_sme.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HWCAP2_SME
#define HWCAP2_SME (1UL << 23)
#endif

/* The routines under test, by their AAPCS64 names (the compiler knows their special PCS; the
   C prototypes here only ever under-promise what they preserve). */
struct sme_state_pair {
    uint64_t x0, x1;
};
struct sme_state_pair __arm_sme_state(void) __arm_streaming_compatible;
void __arm_tpidr2_save(void) __arm_streaming_compatible;
void __arm_tpidr2_restore(void *blk) __arm_streaming_compatible;
uint64_t __arm_get_current_vg(void) __arm_streaming_compatible;
/* __arm_za_disable is declared by arm_sme.h. */

/* sme_abi_harness.S */
struct abi_call {
    uint64_t routine, x0_in, tpidr2_in, streaming, za_on;
    const void *za_in;
    void *za_out;
    uint64_t regs[31];
    uint64_t sp_before, sp_after, svcr_after, tpidr2_after;
};
_Static_assert(offsetof(struct abi_call, za_out) == 48, "ZA_OUT");
_Static_assert(offsetof(struct abi_call, regs) == 56, "REGS");
_Static_assert(offsetof(struct abi_call, sp_before) == 304, "SP_BEFORE");
_Static_assert(offsetof(struct abi_call, tpidr2_after) == 328, "TPIDR2_AFTER");
void megalide_test_abi_call(struct abi_call *c);

/* The AAPCS64 TPIDR2 block. */
struct tpidr2_block {
    void *za_save_buffer;
    uint16_t num_za_save_slices;
    uint8_t reserved[6];
};

#define SVCR_SM 1u
#define SVCR_ZA 2u
#define STATE_HAS_SME (1ull << 63)
#define STATE_HAS_TPIDR2 (1ull << 62)

/* ZA is at most 256 x 256 bytes (SVL 2048). */
#define ZA_MAX_BYTES (256 * 256)

static int failures;
static uint64_t svlb; /* streaming vector length in bytes */

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    failures += !ok;
}

static uint64_t read_svcr(void) __arm_streaming_compatible {
    uint64_t v;
    __asm__ volatile("mrs %0, s3_3_c4_c2_2" : "=r"(v));
    return v;
}

/* A ZA image: row i (of SVL bytes) holds bytes that depend on the row, the column and a salt,
   so a row moved, dropped or taken from another image is seen. */
static void make_za_image(uint8_t *image, uint32_t salt) {
    for (uint64_t i = 0; i < svlb; ++i) {
        for (uint64_t j = 0; j < svlb; ++j) {
            image[i * svlb + j] = (uint8_t)(i * 131u + j * 7u + salt * 29u + 1u);
        }
    }
}

/* Rows of ZA through horizontal byte slices of ZA0.B (which spans all of ZA): LD1B/ST1B, not
   the LDR/STR ZA the routines use, so the test does not share the routines' addressing. */
static void fill_za(const uint8_t *image) __arm_streaming __arm_inout("za") {
    for (uint64_t i = 0; i < svlb; ++i) {
        svld1_hor_za8(0, (uint32_t)i, svptrue_b8(), image + i * svlb);
    }
}

static void read_za(uint8_t *image) __arm_streaming __arm_in("za") {
    for (uint64_t i = 0; i < svlb; ++i) {
        svst1_hor_za8(0, (uint32_t)i, svptrue_b8(), image + i * svlb);
    }
}

/* ==== Tier 1: the protocol as the compiler drives it ==== */

static uint8_t caller_image[ZA_MAX_BYTES], callee_image[ZA_MAX_BYTES], readback[ZA_MAX_BYTES];

typedef struct {
    uint64_t x0, x1;
} sme_state;

static sme_state in_callee_before, in_callee_after;
/* The caller's TPIDR2 block as the callee saw it (it lives in the caller's frame, gone once
   the caller returns). */
static struct tpidr2_block block_in_callee;

/* A private-ZA function with ZA of its own: its prologue must commit any pending lazy save.
   It writes a different image so that ZA is certainly overwritten (turning ZA on already
   zeroes it). */
__arm_locally_streaming __arm_new("za") __attribute__((noinline)) static void za_user(void) {
    fill_za(callee_image);
}

/* An ordinary private-ZA function, called while the caller's ZA is live. It records the SME
   state it sees before and after the ZA user (or without one). */
__attribute__((noinline)) static void private_za_callee(int use_za) {
    __builtin_arm_get_sme_state(&in_callee_before.x0, &in_callee_before.x1);
    memset(&block_in_callee, 0, sizeof block_in_callee);
    if (in_callee_before.x1) {
        memcpy(&block_in_callee, (const void *)in_callee_before.x1, sizeof block_in_callee);
    }
    if (use_za) za_user();
    __builtin_arm_get_sme_state(&in_callee_after.x0, &in_callee_after.x1);
}

/* Callers with live ZA, non-streaming and streaming: fill ZA, call, read ZA back. */
__arm_new("za") __attribute__((noinline)) static void za_live_caller(int use_za) {
    fill_za(caller_image);
    private_za_callee(use_za);
    read_za(readback);
}

__arm_locally_streaming __arm_new("za") __attribute__((noinline)) static void
za_live_streaming_caller(int use_za) {
    fill_za(caller_image);
    private_za_callee(use_za);
    read_za(readback);
}

static void test_lazy_save(int streaming_caller, int use_za) {
    char what[200];
    make_za_image(caller_image, 1 + (uint32_t)streaming_caller + 2u * (uint32_t)use_za);
    make_za_image(callee_image, 100);
    memset(readback, 0, sizeof readback);
    if (streaming_caller) {
        za_live_streaming_caller(use_za);
    } else {
        za_live_caller(use_za);
    }
    const char *mode = streaming_caller ? "streaming" : "non-streaming";
    const char *callee = use_za ? "a ZA-using callee (save committed)" : "a callee without ZA";
    snprintf(what, sizeof what, "lazy_save: ZA survives %s from a %s caller", callee, mode);
    check(memcmp(readback, caller_image, svlb * svlb) == 0, what);
    /* Inside the callee, before the ZA user: a lazy save is pending (TPIDR2_EL0 points to a
       block with SVL slices and a buffer) and ZA is dormant (PSTATE.ZA still 1). */
    const struct tpidr2_block *blk = &block_in_callee;
    snprintf(what, sizeof what,
             "lazy_save: pending save visible in the callee (%s caller): TPIDR2_EL0 -> block "
             "{buffer, %llu slices}, PSTATE.ZA=1",
             mode, (unsigned long long)svlb);
    check(in_callee_before.x1 != 0 && blk->za_save_buffer != NULL &&
              blk->num_za_save_slices == svlb &&
              (in_callee_before.x0 & SVCR_ZA) && !(in_callee_before.x0 & SVCR_SM),
          what);
    /* After the ZA user the save is committed (TPIDR2_EL0 = 0, ZA off); without one it is
       still pending. */
    snprintf(what, sizeof what, "lazy_save: after the callee's ZA use (%s caller): %s", mode,
             use_za ? "TPIDR2_EL0=0 and PSTATE.ZA=0" : "save still pending");
    check(use_za ? in_callee_after.x1 == 0 && !(in_callee_after.x0 & SVCR_ZA)
                 : in_callee_after.x1 == in_callee_before.x1 && (in_callee_after.x0 & SVCR_ZA),
          what);
}

/* Streaming-compatible code asking for the SME state, from callers in each mode. */
typedef struct {
    uint64_t x0, x1, svcr;
} sc_state;

__attribute__((noinline)) static sc_state sc_probe(void) __arm_streaming_compatible {
    sc_state s;
    __builtin_arm_get_sme_state(&s.x0, &s.x1);
    s.svcr = read_svcr();
    return s;
}

__attribute__((noinline)) static sc_state from_non_streaming(void) { return sc_probe(); }

__attribute__((noinline)) static sc_state from_streaming(void) __arm_streaming {
    return sc_probe();
}

__arm_locally_streaming __attribute__((noinline)) static sc_state from_locally_streaming(void) {
    return sc_probe();
}

/* With ZA live the call is a private-ZA call under a lazy save: PSTATE.ZA reads 1 and X1 is
   the caller's TPIDR2 block. */
__arm_new("za") __attribute__((noinline)) static sc_state from_za_live(void) {
    fill_za(caller_image);
    sc_state s = sc_probe();
    read_za(readback);
    return s;
}

__arm_locally_streaming __arm_new("za") __attribute__((noinline)) static sc_state
from_streaming_za_live(void) {
    fill_za(caller_image);
    sc_state s = sc_probe();
    read_za(readback);
    return s;
}

static void check_sc(sc_state s, int sm, int za, const char *caller) {
    char what[200];
    const uint64_t want = STATE_HAS_SME | STATE_HAS_TPIDR2 | (uint64_t)sm | ((uint64_t)za << 1);
    snprintf(what, sizeof what,
             "sme_state: streaming-compatible call from %s: x0=%#llx (want %#llx), SVCR=%llu, "
             "x1 %s",
             caller, (unsigned long long)s.x0, (unsigned long long)want,
             (unsigned long long)s.svcr, za ? "= pending block" : "= 0");
    const int x1_ok = za ? s.x1 != 0 : s.x1 == 0;
    check(s.x0 == want && (s.svcr & 3) == (want & 3) && x1_ok, what);
}

static void test_streaming_compatible(void) {
    check_sc(from_non_streaming(), 0, 0, "non-streaming code");
    check_sc(from_streaming(), 1, 0, "an __arm_streaming function");
    check_sc(from_locally_streaming(), 1, 0, "an __arm_locally_streaming function");
    check_sc(from_za_live(), 0, 1, "a non-streaming function with live ZA");
    check_sc(from_streaming_za_live(), 1, 1, "a streaming function with live ZA");
}

/* ==== Tier 2: direct calls through the harness ==== */

/* Callee-saved general registers of a routine, as a bit set over X0-X30. The AAPCS64:
   __arm_tpidr2_save / __arm_za_disable / __arm_tpidr2_restore: X0-X13, X19-X29;
   __arm_sme_state: X2-X15, X19-X29; __arm_get_current_vg: X1-X15, X19-X29. */
#define REGS_X19_X29 (((1u << 11) - 1) << 19)
#define SAVED_FROM_X0 (((1u << 14) - 1) | REGS_X19_X29)
#define SAVED_SME_STATE ((((1u << 14) - 1) << 2) | REGS_X19_X29)
#define SAVED_GET_VG ((((1u << 15) - 1) << 1) | REGS_X19_X29)

static uint64_t pattern(int r) { return 0xa5a5000000000000ull | (uint64_t)(r * 0x101); }

/* Nonzero when every register in `saved` came back as the harness set it (X0 as x0_in) and
   SP is unchanged; names the first culprit. */
static int preserved(const struct abi_call *c, uint32_t saved, char *culprit, size_t n) {
    for (int r = 0; r <= 30; ++r) {
        if (!(saved & (1u << r))) continue;
        const uint64_t want = r == 0 ? c->x0_in : pattern(r);
        if (c->regs[r] != want) {
            snprintf(culprit, n, " [x%d clobbered: %#llx]", r, (unsigned long long)c->regs[r]);
            return 0;
        }
    }
    if (c->sp_after != c->sp_before) {
        snprintf(culprit, n, " [sp moved]");
        return 0;
    }
    culprit[0] = 0;
    return 1;
}

static uint8_t image[ZA_MAX_BYTES], za_out[ZA_MAX_BYTES];
/* A save buffer with room past SVL*SVL, to see that the slice count is clamped. */
static uint8_t save_buf[ZA_MAX_BYTES + 4096];

/* The harness takes the routine's address as an integer: the routines have different C types
   (and SME attributes) but one calling sequence as far as the harness is concerned. */
#define ROUTINE(f) ((uint64_t)(uintptr_t)&(f))

static struct abi_call make_call(uint64_t routine, int streaming) {
    struct abi_call c;
    memset(&c, 0, sizeof c);
    c.routine = routine;
    c.streaming = (uint64_t)streaming;
    return c;
}

static void test_direct_sme_state(int streaming, int za_on) {
    static struct tpidr2_block blk; /* a valid (empty) block, for a nonnull TPIDR2_EL0 */
    struct abi_call c = make_call(ROUTINE(__arm_sme_state), streaming);
    c.za_on = (uint64_t)za_on;
    c.tpidr2_in = za_on ? (uint64_t)(uintptr_t)&blk : 0;
    megalide_test_abi_call(&c);
    char culprit[64], what[200];
    const uint64_t want =
        STATE_HAS_SME | STATE_HAS_TPIDR2 | (uint64_t)streaming | ((uint64_t)za_on << 1);
    const int ok = preserved(&c, SAVED_SME_STATE, culprit, sizeof culprit) &&
                   c.regs[0] == want && c.regs[1] == c.tpidr2_in;
    snprintf(what, sizeof what, "direct __arm_sme_state SM=%d ZA=%d: x0, x1, registers kept%s",
             streaming, za_on, culprit);
    check(ok, what);
}

/* __arm_tpidr2_save (disable = 0) or __arm_za_disable (disable = 1) with ZA holding an image
   and TPIDR2_EL0 pointing to a block of `slices` slices, buffer `buffer`. */
static void test_direct_save(int disable, int streaming, uint64_t slices, int null_buffer) {
    const char *name = disable ? "__arm_za_disable" : "__arm_tpidr2_save";
    make_za_image(image, 7 + (uint32_t)slices);
    memset(save_buf, 0xee, sizeof save_buf);
    struct tpidr2_block blk = {null_buffer ? NULL : save_buf, (uint16_t)slices, {0}};
    struct abi_call c =
        make_call(disable ? ROUTINE(__arm_za_disable) : ROUTINE(__arm_tpidr2_save), streaming);
    c.x0_in = 0x1234;
    c.za_on = 1;
    c.za_in = image;
    c.za_out = za_out;
    c.tpidr2_in = (uint64_t)(uintptr_t)&blk;
    memset(za_out, 0, sizeof za_out);
    megalide_test_abi_call(&c);

    char culprit[64], what[240];
    int ok = preserved(&c, SAVED_FROM_X0, culprit, sizeof culprit);
    const uint64_t stored = slices < svlb ? slices : svlb;
    if (!null_buffer) {
        /* The first min(slices, SVL) rows are saved; with slices > SVL nothing is written past
           ZA's SVL rows (sme_abi.S clamps the count). */
        ok &= memcmp(save_buf, image, stored * svlb) == 0;
        if (slices > svlb) {
            for (uint64_t i = svlb * svlb; i < svlb * svlb + 4096; ++i) ok &= save_buf[i] == 0xee;
        }
    }
    ok &= (c.svcr_after & SVCR_SM) == (uint64_t)streaming;
    if (disable) {
        ok &= c.tpidr2_after == 0 && !(c.svcr_after & SVCR_ZA);
    } else {
        /* The save leaves TPIDR2_EL0, PSTATE.ZA and ZA itself alone. */
        ok &= c.tpidr2_after == c.tpidr2_in && (c.svcr_after & SVCR_ZA) &&
              memcmp(za_out, image, svlb * svlb) == 0;
    }
    snprintf(what, sizeof what, "direct %s SM=%d slices=%llu%s: %s%s", name, streaming,
             (unsigned long long)slices, null_buffer ? " buffer=NULL" : "",
             null_buffer ? (disable ? "nothing stored, TPIDR2_EL0=0, ZA off" : "nothing stored")
             : disable   ? "ZA saved, TPIDR2_EL0=0, ZA off"
                         : "ZA saved, state unchanged",
             culprit);
    check(ok, what);
}

/* Both with TPIDR2_EL0 = 0: the save does nothing, the disable only turns ZA off. */
static void test_direct_no_pending(int disable) {
    make_za_image(image, 3);
    struct abi_call c =
        make_call(disable ? ROUTINE(__arm_za_disable) : ROUTINE(__arm_tpidr2_save), 0);
    c.za_on = 1;
    c.za_in = image;
    c.za_out = za_out;
    megalide_test_abi_call(&c);
    char culprit[64], what[200];
    int ok = preserved(&c, SAVED_FROM_X0, culprit, sizeof culprit) && c.tpidr2_after == 0;
    ok &= disable ? !(c.svcr_after & SVCR_ZA)
                  : (c.svcr_after & SVCR_ZA) && memcmp(za_out, image, svlb * svlb) == 0;
    snprintf(what, sizeof what, "direct %s with TPIDR2_EL0=0: %s%s",
             disable ? "__arm_za_disable" : "__arm_tpidr2_save",
             disable ? "ZA off" : "no effect", culprit);
    check(ok, what);
}

static void test_direct_restore(int streaming, uint64_t slices) {
    make_za_image(image, 11 + (uint32_t)slices);
    struct tpidr2_block blk = {image, (uint16_t)slices, {0}};
    struct abi_call c = make_call(ROUTINE(__arm_tpidr2_restore), streaming);
    c.x0_in = (uint64_t)(uintptr_t)&blk;
    c.za_on = 1; /* SMSTART ZA zeroes ZA: everything seen after the call came from the buffer */
    c.za_out = za_out;
    memset(za_out, 0, sizeof za_out);
    megalide_test_abi_call(&c);
    char culprit[64], what[200];
    const uint64_t restored = slices < svlb ? slices : svlb;
    int ok = preserved(&c, SAVED_FROM_X0, culprit, sizeof culprit);
    ok &= memcmp(za_out, image, restored * svlb) == 0;
    ok &= c.tpidr2_after == 0 && (c.svcr_after & SVCR_ZA) &&
          (c.svcr_after & SVCR_SM) == (uint64_t)streaming;
    snprintf(what, sizeof what, "direct __arm_tpidr2_restore SM=%d slices=%llu: ZA reloaded%s",
             streaming, (unsigned long long)slices, culprit);
    check(ok, what);
}

static void test_direct_get_vg(int streaming) {
    struct abi_call c = make_call(ROUTINE(__arm_get_current_vg), streaming);
    megalide_test_abi_call(&c);
    char culprit[64], what[200];
    /* svcntd() here is non-streaming: the SVE VG, which differs from the streaming one. */
    const uint64_t want = streaming ? svlb / 8 : svcntd();
    const int ok = preserved(&c, SAVED_GET_VG, culprit, sizeof culprit) && c.regs[0] == want;
    snprintf(what, sizeof what, "direct __arm_get_current_vg SM=%d: %llu (want %llu)%s",
             streaming, (unsigned long long)c.regs[0], (unsigned long long)want, culprit);
    check(ok, what);
}

/* ==== Tier 3: aborts ==== */

enum { BAD_SAVE_RESERVED, BAD_RESTORE_RESERVED, BAD_RESTORE_PENDING };

static void run_bad_call(int which) {
    static struct tpidr2_block blk;
    blk.za_save_buffer = save_buf;
    blk.num_za_save_slices = (uint16_t)svlb;
    struct abi_call c;
    if (which == BAD_SAVE_RESERVED) {
        blk.reserved[0] = 1; /* byte 10 */
        c = make_call(ROUTINE(__arm_tpidr2_save), 0);
        c.tpidr2_in = (uint64_t)(uintptr_t)&blk;
    } else {
        blk.reserved[5] = which == BAD_RESTORE_RESERVED; /* byte 15 */
        c = make_call(ROUTINE(__arm_tpidr2_restore), 0);
        c.x0_in = (uint64_t)(uintptr_t)&blk;
        /* A restore while a lazy save is still pending (TPIDR2_EL0 nonnull). */
        if (which == BAD_RESTORE_PENDING) c.tpidr2_in = (uint64_t)(uintptr_t)&blk;
    }
    c.za_on = 1;
    megalide_test_abi_call(&c);
}

static void test_abort(int which, const char *what) {
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        /* The child's own abort report would interleave with the parent's lines. */
        freopen("/dev/null", "w", stderr);
        run_bad_call(which);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char line[200];
    snprintf(line, sizeof line, "abort: %s -> SIGABRT", what);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, line);
}

/* ==== Without SME ==== */

static void test_without_sme(void) {
    uint64_t x0 = 1, x1 = 1;
    __builtin_arm_get_sme_state(&x0, &x1);
    check(x0 == 0 && x1 == 0, "no SME: __arm_sme_state returns x0=0, x1=0");
    /* These would raise SIGILL if they touched TPIDR2_EL0 or SVCR. */
    __arm_tpidr2_save();
    check(1, "no SME: __arm_tpidr2_save is a no-op");
    __arm_za_disable();
    check(1, "no SME: __arm_za_disable is a no-op");
    check(__arm_get_current_vg() == ((getauxval(AT_HWCAP) & HWCAP_SVE) ? svcntd() : 0),
          "no SME: __arm_get_current_vg returns the SVE VG");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SVL_BYTES [--lazy-save-only]\n", argv[0]);
        return 2;
    }
    const uint64_t want_svlb = strtoull(argv[1], NULL, 0);
    const int lazy_only = argc > 2 && strcmp(argv[2], "--lazy-save-only") == 0;
    const int has_sme = (getauxval(AT_HWCAP2) & HWCAP2_SME) != 0;
    if (want_svlb == 0) {
        if (has_sme) {
            printf("FAIL: SME present, but the run was meant to be without it\n");
            return 1;
        }
        test_without_sme();
    } else {
        if (!has_sme) {
            printf("FAIL: no SME (HWCAP2_SME clear)\n");
            return 1;
        }
        svlb = svcntsb();
        if (svlb != want_svlb || svlb * svlb > ZA_MAX_BYTES) {
            printf("FAIL: streaming vector length is %llu bytes, expected %llu\n",
                   (unsigned long long)svlb, (unsigned long long)want_svlb);
            return 1;
        }
        printf("sme_abi_test: SVL %llu bits\n", (unsigned long long)svlb * 8);
        for (int streaming = 0; streaming <= 1; ++streaming) {
            test_lazy_save(streaming, 1);
            test_lazy_save(streaming, 0);
        }
        if (!lazy_only) {
            test_streaming_compatible();
            for (int sm = 0; sm <= 1; ++sm) {
                for (int za = 0; za <= 1; ++za) test_direct_sme_state(sm, za);
                for (int disable = 0; disable <= 1; ++disable) {
                    test_direct_save(disable, sm, svlb, 0);
                    test_direct_save(disable, sm, 3, 0);
                    test_direct_save(disable, sm, svlb + 7, 0);
                    test_direct_save(disable, sm, svlb, 1);
                }
                test_direct_restore(sm, svlb);
                test_direct_restore(sm, 5);
                test_direct_get_vg(sm);
            }
            test_direct_no_pending(0);
            test_direct_no_pending(1);
            test_abort(BAD_SAVE_RESERVED, "__arm_tpidr2_save with a nonzero reserved byte");
            test_abort(BAD_RESTORE_RESERVED,
                       "__arm_tpidr2_restore with a nonzero reserved byte");
            test_abort(BAD_RESTORE_PENDING, "__arm_tpidr2_restore with TPIDR2_EL0 nonnull");
        }
    }
    printf("sme_abi_test: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
