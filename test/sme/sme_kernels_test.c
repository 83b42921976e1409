/* Correctness of megalide's SME tile micro-kernels (src/target/sme/sme_kernels.h) against a
   naive reference, at whatever SVL QEMU is started with (run_sme_tests.sh runs 128, 256, 512).

   Usage: sme_kernels_test SVL_BYTES [SEED]. SVL_BYTES is the streaming vector length the run
   is expected to have; a mismatch is an error, so a wrong QEMU flag cannot pass silently as a
   run at another length. One line per case; exit status 1 on any mismatch.

   What a case checks:
   - every C element in the M x N window against the reference: int32 exactly, fp32 within the
     tolerance explained at F32_REL_TOL;
   - every C element outside the window (the ldc padding and the rows past M) unchanged, bit
     for bit: the predicated stores must not write there;
   - no read past the end of A, B or C: each array ends at a PROT_NONE page, so an
     over-long predicate faults (predicated loads do not access inactive elements);
   - accumulate = 0 really overwrites: the window starts as NaN (fp32) or garbage (int32).
   Shapes are drawn relative to VL = SVL/32 (a 2VL x 2VL block per four ZA tiles) so that
   every block edge case (one or both halves of a block empty, a partial half) occurs at every
   SVL, plus M = 1, N = 1, K = 1, K = 0, empty M or N, and strided operands. */
#include "sme_kernels.h"
#include "sme_pack.h"

#include <arm_sme.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* fp32 tolerance, relative to scale = |C0| + sum_k |A(m,k) * B(k,n)|. The kernel forms each
   output as a k-ordered chain of fused multiply-adds; each step rounds once, by at most 2^-24
   of a partial sum bounded by scale. The worst case K * 2^-24 needs every rounding to push
   the same way; with random data the error grows like sqrt(K) * 2^-24, about 1e-6 at the
   largest K here (300), so 1e-5 leaves a wide margin. A dropped, doubled or misplaced term
   instead costs on the order of scale / K, at least 3e-3 at K = 300: far above it. */
#define F32_REL_TOL 1e-5

/* ---- Deterministic random numbers (splitmix64): the seed is printed, runs are replicable. */
static uint64_t rng_state;

static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_float(void) { return (float)((double)(rng_next() >> 11) * 0x1p-52 - 1.0); }

/* ---- Buffers that end at an inaccessible page. ---- */
typedef struct {
    void *map;
    size_t map_bytes;
    void *ptr;
} guarded_buffer;

static guarded_buffer guarded_alloc(size_t bytes) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t data_pages = (bytes + page - 1) / page + 1;
    guarded_buffer g;
    g.map_bytes = (data_pages + 1) * page;
    g.map = mmap(NULL, g.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g.map == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    char *guard = (char *)g.map + data_pages * page;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        perror("mprotect");
        exit(2);
    }
    /* Round the start down to 16 bytes: element alignment, and still at most 15 bytes of
       slack before the guard. */
    g.ptr = (void *)((uintptr_t)(guard - bytes) & ~(uintptr_t)15);
    return g;
}

static void guarded_free(guarded_buffer g) { munmap(g.map, g.map_bytes); }

/* ---- Cases ---- */
typedef struct {
    int64_t M, N, K;
    int accumulate;
    int64_t pad; /* added to every leading dimension: lda = M + pad, ldb = N + pad, ... */
} gemm_case;

static int failures;

static const char *verdict(int ok) { return ok ? "PASS" : "FAIL"; }

static int test_f32(gemm_case tc) {
    const int64_t M = tc.M, N = tc.N, K = tc.K;
    const int64_t lda = (M > 0 ? M : 1) + tc.pad, ldb = (N > 0 ? N : 1) + tc.pad;
    const int64_t ldc = (M > 0 ? M : 1) + tc.pad;
    const int64_t a_len = lda * K, b_len = ldb * K, c_len = ldc * N;
    guarded_buffer ga = guarded_alloc(sizeof(float) * (size_t)(a_len > 0 ? a_len : 1));
    guarded_buffer gb = guarded_alloc(sizeof(float) * (size_t)(b_len > 0 ? b_len : 1));
    guarded_buffer gc = guarded_alloc(sizeof(float) * (size_t)(c_len > 0 ? c_len : 1));
    float *A = ga.ptr, *B = gb.ptr, *C = gc.ptr;
    float *C0 = malloc(sizeof(float) * (size_t)(c_len > 0 ? c_len : 1));
    for (int64_t i = 0; i < a_len; ++i) A[i] = rng_float();
    for (int64_t i = 0; i < b_len; ++i) B[i] = rng_float();
    /* Window: random start values (accumulate) or NaN (must be overwritten). Outside the
       window: a sentinel pattern that must survive bit for bit. */
    const uint32_t sentinel = 0x7fc0dead;
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < ldc; ++m) {
            float v;
            if (m >= M) {
                memcpy(&v, &sentinel, sizeof v);
            } else {
                v = tc.accumulate ? rng_float() : NAN;
            }
            C[m + n * ldc] = v;
        }
    }
    memcpy(C0, C, sizeof(float) * (size_t)(c_len > 0 ? c_len : 0));

    megalide_sme_gemm_f32(M, N, K, A, lda, B, ldb, C, ldc, tc.accumulate);

    double worst = 0.0;
    int64_t bad = 0;
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < ldc; ++m) {
            const int64_t i = m + n * ldc;
            if (m >= M) {
                if (memcmp(&C[i], &C0[i], sizeof(float)) != 0) ++bad;
                continue;
            }
            double ref = tc.accumulate ? (double)C0[i] : 0.0;
            double scale = tc.accumulate ? fabs((double)C0[i]) : 0.0;
            for (int64_t k = 0; k < K; ++k) {
                const double p = (double)A[m + k * lda] * (double)B[n + k * ldb];
                ref += p;
                scale += fabs(p);
            }
            const double err = fabs((double)C[i] - ref);
            /* isnan: a NaN left from the initial fill compares false everywhere. */
            if (isnan(C[i]) || (scale == 0.0 ? err != 0.0 : err > F32_REL_TOL * scale)) {
                if (bad < 3) {
                    fprintf(stderr, "  f32 mismatch at m=%lld n=%lld: got %.9g want %.9g\n",
                            (long long)m, (long long)n, (double)C[i], ref);
                }
                ++bad;
            } else if (scale > 0.0 && err / scale > worst) {
                worst = err / scale;
            }
        }
    }
    printf("%s gemm_f32  M=%lld N=%lld K=%lld acc=%d pad=%lld max_rel_err=%.2e\n",
           verdict(bad == 0), (long long)M, (long long)N, (long long)K, tc.accumulate,
           (long long)tc.pad, worst);
    free(C0);
    guarded_free(ga);
    guarded_free(gb);
    guarded_free(gc);
    return bad == 0;
}

/* a_unsigned: 0 tests megalide_sme_gemm_s8s8, 1 megalide_sme_gemm_u8s8. extremes: fill A and B
   with their most negative / largest-magnitude values instead of random bytes, the case that
   would expose a signedness mix-up in the widening products. */
static int test_int8(gemm_case tc, int a_unsigned, int extremes) {
    const int64_t M = tc.M, N = tc.N, K = tc.K, K4 = sme_pack_groups(K);
    const int64_t lda = (M > 0 ? M : 1), ldb = (N > 0 ? N : 1);
    const int64_t lda4 = 4 * lda + 4 * tc.pad, ldb4 = 4 * ldb + 4 * tc.pad;
    const int64_t ldc = lda + tc.pad;
    const int64_t c_len = ldc * N;
    uint8_t *A = malloc((size_t)(lda * K + 1)), *B = malloc((size_t)(ldb * K + 1));
    for (int64_t i = 0; i < lda * K; ++i) {
        A[i] = extremes ? (a_unsigned ? 255 : 0x80) : (uint8_t)rng_next();
    }
    for (int64_t i = 0; i < ldb * K; ++i) B[i] = extremes ? 0x80 : (uint8_t)rng_next();
    guarded_buffer ga = guarded_alloc((size_t)(lda4 * K4 > 0 ? lda4 * K4 : 1));
    guarded_buffer gb = guarded_alloc((size_t)(ldb4 * K4 > 0 ? ldb4 * K4 : 1));
    guarded_buffer gc = guarded_alloc(sizeof(int32_t) * (size_t)(c_len > 0 ? c_len : 1));
    sme_pack_k4(A, M, K, lda, ga.ptr, lda4, 0x77);
    sme_pack_k4(B, N, K, ldb, gb.ptr, ldb4, 0x77);
    int32_t *C = gc.ptr;
    int32_t *C0 = malloc(sizeof(int32_t) * (size_t)(c_len > 0 ? c_len : 1));
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < ldc; ++m) {
            C[m + n * ldc] = m >= M ? 0x5a5a5a5a
                                    : (tc.accumulate ? (int32_t)(rng_next() % 2000001) - 1000000
                                                     : 0x7eadbeef);
        }
    }
    memcpy(C0, C, sizeof(int32_t) * (size_t)(c_len > 0 ? c_len : 0));

    if (a_unsigned) {
        megalide_sme_gemm_u8s8(M, N, K4, ga.ptr, lda4, gb.ptr, ldb4, C, ldc, tc.accumulate);
    } else {
        megalide_sme_gemm_s8s8(M, N, K4, ga.ptr, lda4, gb.ptr, ldb4, C, ldc, tc.accumulate);
    }

    int64_t bad = 0;
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < ldc; ++m) {
            const int64_t i = m + n * ldc;
            if (m >= M) {
                if (C[i] != C0[i]) ++bad;
                continue;
            }
            int64_t ref = tc.accumulate ? C0[i] : 0;
            for (int64_t k = 0; k < K; ++k) {
                const int64_t a = a_unsigned ? (int64_t)A[m + k * lda]
                                             : (int64_t)(int8_t)A[m + k * lda];
                ref += a * (int64_t)(int8_t)B[n + k * ldb];
            }
            if ((int64_t)C[i] != ref) {
                if (bad < 3) {
                    fprintf(stderr, "  int8 mismatch at m=%lld n=%lld: got %d want %lld\n",
                            (long long)m, (long long)n, C[i], (long long)ref);
                }
                ++bad;
            }
        }
    }
    printf("%s gemm_%s M=%lld N=%lld K=%lld (K4=%lld) acc=%d pad=%lld%s\n", verdict(bad == 0),
           a_unsigned ? "u8s8" : "s8s8", (long long)M, (long long)N, (long long)K,
           (long long)K4, tc.accumulate, (long long)tc.pad, extremes ? " extremes" : "");
    free(A);
    free(B);
    free(C0);
    guarded_free(ga);
    guarded_free(gb);
    guarded_free(gc);
    return bad == 0;
}

/* A known answer for one 4-way SMOPA on whole vectors: ZA0[i][j] = sum_t a[4i+t] * b[4j+t] with
   a[4i+t] = i + 1 and b[4j+t] = (t == 0), so every element of row i is i + 1. QEMU 7.2 (Debian
   12's qemu-user-static, 1:7.2+dfsg-7+deb12u18) gets this wrong for all four 32-bit integer
   MOPAs (SMOPA, UMOPA, SUMOPA, USMOPA): at SVL 128 the rows come out 1 2 1 2 / 0 0 0 0 /
   3 4 3 4 / 0 0 0 0. Its helper computes two 32-bit outputs per 64-bit step as if they were
   adjacent in the tile (QEMU issue 2083, fixed by commit d572bcb2 in QEMU 9.0 and 8.2 stable);
   FMOPA is right. Debian 13's QEMU 10.0 passes this probe and every int8 case below. Where the
   probe fails, the int8 kernels cannot be checked on this emulator: their cases are counted
   as skipped, with that said, instead of reported as kernel failures. */
__arm_locally_streaming __arm_new("za") static int smopa_known_answer(void) {
    int8_t a[256], b[256];
    int32_t row[64];
    const uint64_t vl = svcntw();
    for (int i = 0; i < 256; ++i) {
        a[i] = (int8_t)(i / 4 + 1);
        b[i] = (int8_t)(i % 4 == 0);
    }
    svzero_za();
    const svbool_t all = svptrue_b8();
    svmopa_za32_s8_m(0, all, all, svld1_s8(all, a), svld1_s8(all, b));
    int ok = 1;
    for (uint64_t i = 0; i < vl; ++i) {
        svst1_hor_za32(0, (uint32_t)i, svptrue_b32(), row);
        for (uint64_t j = 0; j < vl; ++j) ok &= row[j] == (int32_t)(i + 1);
    }
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SVL_BYTES [SEED]\n", argv[0]);
        return 2;
    }
    const uint64_t want_svl = strtoull(argv[1], NULL, 0);
    const uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 20261128;
    rng_state = seed;
    /* svcntsw: the streaming vector length in words, read without entering streaming mode. */
    const int64_t vl = (int64_t)svcntsw();
    if ((uint64_t)vl * 4 != want_svl) {
        fprintf(stderr, "FAIL: streaming vector length is %lld bytes, expected %llu\n",
                (long long)vl * 4, (unsigned long long)want_svl);
        return 1;
    }
    printf("sme_kernels_test: SVL %lld bits (VL %lld words, block %lld x %lld), seed %llu\n",
           (long long)vl * 32, (long long)vl, (long long)(2 * vl), (long long)(2 * vl),
           (unsigned long long)seed);

    const int64_t v = vl, b = 2 * vl;
    const gemm_case f32_cases[] = {
        {1, 1, 1, 0, 0},         {1, 1, 1, 1, 0},          {1, 1, 9, 0, 3},
        {1, b + 3, 5, 0, 0},     {b + 3, 1, 5, 1, 0},      {7, 5, 3, 0, 2},
        {3, 5, 0, 0, 1},         {3, 5, 0, 1, 1},          {0, 5, 3, 0, 0},
        {5, 0, 3, 0, 0},         {v, v, 4, 0, 0},          {v + 1, v, 3, 0, 0},
        {v, v + 1, 2, 1, 0},     {b, b, 16, 0, 0},         {b + 1, b - 1, 7, 1, 5},
        {2 * b, 2 * b, 33, 0, 0}, {33, 17, 9, 1, 0},        {65, 63, 17, 0, 1},
        {100, 37, 129, 1, 7},    {3 * v + 5, 5 * v + 2, 64, 0, 0}, {64, 48, 300, 1, 0},
    };
    const gemm_case int8_cases[] = {
        {1, 1, 1, 0, 0},      {1, 1, 1, 1, 0},          {1, 1, 3, 0, 1},
        {1, b + 3, 5, 0, 0},  {b + 3, 1, 6, 1, 0},      {7, 5, 2, 0, 2},
        {3, 5, 0, 0, 1},      {3, 5, 0, 1, 0},          {0, 5, 4, 0, 0},
        {v, v, 4, 0, 0},      {v + 1, v, 8, 0, 0},      {v, v + 1, 9, 1, 0},
        {b, b, 16, 0, 0},     {b + 1, b - 1, 7, 1, 3},  {2 * b, 2 * b, 33, 0, 0},
        {33, 17, 9, 1, 0},    {100, 37, 129, 1, 5},     {3 * v + 5, 5 * v + 2, 64, 0, 0},
    };
    int passed = 0, skipped = 0;
    for (size_t i = 0; i < sizeof f32_cases / sizeof f32_cases[0]; ++i) {
        const int ok = test_f32(f32_cases[i]);
        passed += ok;
        failures += !ok;
    }
    const size_t n_int8 = sizeof int8_cases / sizeof int8_cases[0];
    const int int8_checkable = smopa_known_answer();
    if (!int8_checkable) {
        skipped = 2 * ((int)n_int8 + 1);
        printf("SKIP %d int8 cases: this emulator's SMOPA fails a one-instruction known answer "
               "(QEMU before 8.2.2 / 9.0 computes 4-way integer outer products wrongly); "
               "run with a newer QEMU to check them\n",
               skipped);
    }
    for (int a_unsigned = 0; a_unsigned <= 1 && int8_checkable; ++a_unsigned) {
        for (size_t i = 0; i < n_int8 + 1; ++i) {
            const gemm_case extreme = {b + 1, b + 2, 129, 0, 0};
            const int ok = i < n_int8 ? test_int8(int8_cases[i], a_unsigned, 0)
                                      : test_int8(extreme, a_unsigned, 1);
            passed += ok;
            failures += !ok;
        }
    }
    if (failures) {
        printf("sme_kernels_test: FAILED at SVL %lld (seed %llu)\n", (long long)vl * 32,
               (unsigned long long)seed);
    }
    printf("sme_kernels_test SVL %lld: %d passed, %d failed, %d skipped\n", (long long)vl * 32,
           passed, failures, skipped);
    return failures ? 1 : 0;
}
