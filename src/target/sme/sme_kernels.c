/* Arm SME tile micro-kernels (interfaces and layouts in sme_kernels.h).

   Build: clang-19 --target=aarch64-linux-gnu -march=armv9-a+sme -O2 -c; link with the SME ABI
   support routines (sme_abi.S), which the mode-switch prologue of every kernel calls.
   armv9-a implies non-streaming SVE, and clang-19 then reads VG with CNTD (an SVE
   instruction) in each kernel's prologue, before SMSTART, for the unwind information: on a
   core with SME but without SVE that traps. Built for such a core (e.g. armv8.7-a+sme) clang
   calls __arm_get_current_vg instead, which sme_abi.S provides.

   Blocking. The SVL-bit ZA array holds four 32-bit tiles ZA0.S-ZA3.S of VL x VL elements,
   VL = SVL/32 (svcntw() in streaming mode; it is NOT the non-streaming SVE vector length,
   which differs under QEMU's -cpu max). One block of C is 2VL (m) x 2VL (n), tile t covering
     rows m0 + (t & 1) * VL ... (+VL),  columns n0 + (t >> 1) * VL ... (+VL),
   so each k step loads two vectors of A and two of B and issues four outer products: 4 loads
   per 4 MOPAs, the highest MOPA-to-load ratio four tiles allow (a 4VL x VL block would need
   5 loads). 2VL x 2VL is 32 x 32 floats at SVL 512.

   Orientation: a tile row is an m, a tile column an n (the MOPA's first operand is A, the
   second B), so one column n of C, contiguous along m, is one VERTICAL tile slice. C is moved
   with vertical-slice loads and stores (LD1W/ST1W ZA.S[Wv] vertical), one per tile column.
   This orientation is forced for the mixed-sign kernel: USMOPA takes its unsigned operand
   first, and A is the unsigned one; the other kernels share it so that one block epilogue
   serves all three.

   Edges: every load, outer product and store is predicated (svwhilelt) against M and N, so any
   M, N works; inactive elements are never read or written (predicated loads do not fault).
   Blocks whose second half in m or n is empty run a k loop specialised to the live tiles.

   The streaming bodies make no calls: a call there would switch modes around it and commit a
   lazy ZA save. The helpers below are always_inline for that reason. The one call in each
   kernel is clang's, in the prologue after SMSTART SM and before SMSTART ZA: BL
   __arm_tpidr2_save, taken only when the caller left a lazy save pending (TPIDR2_EL0 nonnull).
   test/sme/run_sme_tests.sh checks the object for any BL between SMSTART ZA and SMSTOP ZA.

   Measured (QEMU 7.2, -d in_asm,exec counts, SVL 512): M=256 N=512 K=512 takes 822 K dynamic
   instructions for 262 K FMOPAs (= M*N*K / VL^2): the k loop is 4 loads, 4 FMOPAs, 2 pointer
   increments, a count and a branch. */
#include "sme_kernels.h"

#include <arm_sme.h>
#include <stdbool.h>

#define INLINE static inline __attribute__((always_inline))

/* ---- C <-> ZA, shared by all kernels (f32 and int32 are both 32-bit elements) ---- */

/* Loads the block of C at c (its element (m0, n0)) into the four tiles; `cols` = N - n0 of
   the block (may exceed 2VL). Tile columns past N are left as they were: never stored. */
INLINE void load_block(const uint32_t *c, int64_t ldc, int64_t cols, int64_t vl, svbool_t pm0,
                       svbool_t pm1) __arm_streaming __arm_inout("za") {
    const int64_t cols0 = cols < vl ? cols : vl;
    const int64_t cols1 = cols - vl < vl ? cols - vl : vl;
    for (int64_t j = 0; j < cols0; ++j) {
        svld1_ver_za32(0, (uint32_t)j, pm0, c + j * ldc);
        svld1_ver_za32(1, (uint32_t)j, pm1, c + j * ldc + vl);
    }
    for (int64_t j = 0; j < cols1; ++j) {
        svld1_ver_za32(2, (uint32_t)j, pm0, c + (vl + j) * ldc);
        svld1_ver_za32(3, (uint32_t)j, pm1, c + (vl + j) * ldc + vl);
    }
}

/* Stores the four tiles to the block of C at c, the same slices load_block reads. */
INLINE void store_block(uint32_t *c, int64_t ldc, int64_t cols, int64_t vl, svbool_t pm0,
                        svbool_t pm1) __arm_streaming __arm_in("za") {
    const int64_t cols0 = cols < vl ? cols : vl;
    const int64_t cols1 = cols - vl < vl ? cols - vl : vl;
    for (int64_t j = 0; j < cols0; ++j) {
        svst1_ver_za32(0, (uint32_t)j, pm0, c + j * ldc);
        svst1_ver_za32(1, (uint32_t)j, pm1, c + j * ldc + vl);
    }
    for (int64_t j = 0; j < cols1; ++j) {
        svst1_ver_za32(2, (uint32_t)j, pm0, c + (vl + j) * ldc);
        svst1_ver_za32(3, (uint32_t)j, pm1, c + (vl + j) * ldc + vl);
    }
}

/* ---- fp32 ---- */

/* The k loop of one block. m2 / n2 (constants after inlining): whether the block's second
   half in m / n holds any row / column; when not, its tiles are skipped instead of being fed
   all-false predicates. a points at A(m0, 0), b at B(0, n0). */
INLINE void f32_k_loop(bool m2, bool n2, int64_t K, const float *a, int64_t lda, const float *b,
                       int64_t ldb, int64_t vl, svbool_t pm0, svbool_t pm1, svbool_t pn0,
                       svbool_t pn1) __arm_streaming __arm_inout("za") {
    for (int64_t k = 0; k < K; ++k) {
        const svfloat32_t a0 = svld1_f32(pm0, a);
        const svfloat32_t b0 = svld1_f32(pn0, b);
        svmopa_za32_f32_m(0, pm0, pn0, a0, b0);
        if (m2) {
            const svfloat32_t a1 = svld1_f32(pm1, a + vl);
            svmopa_za32_f32_m(1, pm1, pn0, a1, b0);
            if (n2) {
                const svfloat32_t b1 = svld1_f32(pn1, b + vl);
                svmopa_za32_f32_m(2, pm0, pn1, a0, b1);
                svmopa_za32_f32_m(3, pm1, pn1, a1, b1);
            }
        } else if (n2) {
            const svfloat32_t b1 = svld1_f32(pn1, b + vl);
            svmopa_za32_f32_m(2, pm0, pn1, a0, b1);
        }
        a += lda;
        b += ldb;
    }
}

__arm_locally_streaming __arm_new("za") static void
gemm_f32_streaming(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                   int64_t ldb, float *C, int64_t ldc, int accumulate) {
    const int64_t vl = (int64_t)svcntw();
    for (int64_t n0 = 0; n0 < N; n0 += 2 * vl) {
        const svbool_t pn0 = svwhilelt_b32_s64(n0, N);
        const svbool_t pn1 = svwhilelt_b32_s64(n0 + vl, N);
        const bool n2 = N - n0 > vl;
        for (int64_t m0 = 0; m0 < M; m0 += 2 * vl) {
            const svbool_t pm0 = svwhilelt_b32_s64(m0, M);
            const svbool_t pm1 = svwhilelt_b32_s64(m0 + vl, M);
            const bool m2 = M - m0 > vl;
            uint32_t *c = (uint32_t *)(C + m0 + n0 * ldc);
            if (accumulate) {
                load_block(c, ldc, N - n0, vl, pm0, pm1);
            } else {
                svzero_za();
            }
            const float *a = A + m0;
            const float *b = B + n0;
            if (m2 && n2) {
                f32_k_loop(true, true, K, a, lda, b, ldb, vl, pm0, pm1, pn0, pn1);
            } else if (m2) {
                f32_k_loop(true, false, K, a, lda, b, ldb, vl, pm0, pm1, pn0, pn1);
            } else if (n2) {
                f32_k_loop(false, true, K, a, lda, b, ldb, vl, pm0, pm1, pn0, pn1);
            } else {
                f32_k_loop(false, false, K, a, lda, b, ldb, vl, pm0, pm1, pn0, pn1);
            }
            store_block(c, ldc, N - n0, vl, pm0, pm1);
        }
    }
}

/* ---- 8-bit into int32 ---- */

/* One 4-way outer product into tile `tile` (a literal). The A vector is always loaded as
   signed bytes; for USMOPA it is reinterpreted (no instruction) as the unsigned operand.
   The predicates are per byte: for the 4-way forms a row (column) takes part for those of its
   four k whose byte is active, so byte predicates covering 4*M (4*N) bytes select rows. */
#define INT8_MOPA(tile, a_unsigned, pa, pb, a, b)                                              \
    do {                                                                                       \
        if (a_unsigned) {                                                                      \
            svusmopa_za32_u8_m(tile, pa, pb, svreinterpret_u8_s8(a), b);                       \
        } else {                                                                               \
            svmopa_za32_s8_m(tile, pa, pb, a, b);                                              \
        }                                                                                      \
    } while (0)

/* The k loop of one block, one k group of four per iteration; m2 / n2 as in f32_k_loop. a
   points at Ap's group 0, row m0 (byte 4*m0); b at Bp's group 0, column n0. The second half
   of a block starts 4*VL bytes on: exactly one vector. */
INLINE void int8_k_loop(bool a_unsigned, bool m2, bool n2, int64_t K4, const int8_t *a,
                        int64_t lda4, const int8_t *b, int64_t ldb4, int64_t vl, svbool_t pa0,
                        svbool_t pa1, svbool_t pb0,
                        svbool_t pb1) __arm_streaming __arm_inout("za") {
    for (int64_t g = 0; g < K4; ++g) {
        const svint8_t a0 = svld1_s8(pa0, a);
        const svint8_t b0 = svld1_s8(pb0, b);
        INT8_MOPA(0, a_unsigned, pa0, pb0, a0, b0);
        if (m2) {
            const svint8_t a1 = svld1_s8(pa1, a + 4 * vl);
            INT8_MOPA(1, a_unsigned, pa1, pb0, a1, b0);
            if (n2) {
                const svint8_t b1 = svld1_s8(pb1, b + 4 * vl);
                INT8_MOPA(2, a_unsigned, pa0, pb1, a0, b1);
                INT8_MOPA(3, a_unsigned, pa1, pb1, a1, b1);
            }
        } else if (n2) {
            const svint8_t b1 = svld1_s8(pb1, b + 4 * vl);
            INT8_MOPA(2, a_unsigned, pa0, pb1, a0, b1);
        }
        a += lda4;
        b += ldb4;
    }
}

/* The blocked loop nest shared by both 8-bit kernels; a_unsigned is a constant in each
   caller, so each gets its own copy with one MOPA kind. */
INLINE void gemm_int8_blocks(bool a_unsigned, int64_t M, int64_t N, int64_t K4, const int8_t *Ap,
                             int64_t lda4, const int8_t *Bp, int64_t ldb4, int32_t *C,
                             int64_t ldc, int accumulate) __arm_streaming __arm_inout("za") {
    const int64_t vl = (int64_t)svcntw();
    for (int64_t n0 = 0; n0 < N; n0 += 2 * vl) {
        const svbool_t pb0 = svwhilelt_b8_s64(4 * n0, 4 * N);
        const svbool_t pb1 = svwhilelt_b8_s64(4 * (n0 + vl), 4 * N);
        const bool n2 = N - n0 > vl;
        for (int64_t m0 = 0; m0 < M; m0 += 2 * vl) {
            const svbool_t pa0 = svwhilelt_b8_s64(4 * m0, 4 * M);
            const svbool_t pa1 = svwhilelt_b8_s64(4 * (m0 + vl), 4 * M);
            const svbool_t pm0 = svwhilelt_b32_s64(m0, M);
            const svbool_t pm1 = svwhilelt_b32_s64(m0 + vl, M);
            const bool m2 = M - m0 > vl;
            uint32_t *c = (uint32_t *)(C + m0 + n0 * ldc);
            if (accumulate) {
                load_block(c, ldc, N - n0, vl, pm0, pm1);
            } else {
                svzero_za();
            }
            const int8_t *a = Ap + 4 * m0;
            const int8_t *b = Bp + 4 * n0;
            if (m2 && n2) {
                int8_k_loop(a_unsigned, true, true, K4, a, lda4, b, ldb4, vl, pa0, pa1, pb0, pb1);
            } else if (m2) {
                int8_k_loop(a_unsigned, true, false, K4, a, lda4, b, ldb4, vl, pa0, pa1, pb0, pb1);
            } else if (n2) {
                int8_k_loop(a_unsigned, false, true, K4, a, lda4, b, ldb4, vl, pa0, pa1, pb0, pb1);
            } else {
                int8_k_loop(a_unsigned, false, false, K4, a, lda4, b, ldb4, vl, pa0, pa1, pb0,
                            pb1);
            }
            store_block(c, ldc, N - n0, vl, pm0, pm1);
        }
    }
}

__arm_locally_streaming __arm_new("za") static void
gemm_s8s8_streaming(int64_t M, int64_t N, int64_t K4, const int8_t *Ap, int64_t lda4,
                    const int8_t *Bp, int64_t ldb4, int32_t *C, int64_t ldc, int accumulate) {
    gemm_int8_blocks(false, M, N, K4, Ap, lda4, Bp, ldb4, C, ldc, accumulate);
}

__arm_locally_streaming __arm_new("za") static void
gemm_u8s8_streaming(int64_t M, int64_t N, int64_t K4, const uint8_t *Ap, int64_t lda4,
                    const int8_t *Bp, int64_t ldb4, int32_t *C, int64_t ldc, int accumulate) {
    gemm_int8_blocks(true, M, N, K4, (const int8_t *)Ap, lda4, Bp, ldb4, C, ldc, accumulate);
}

/* ---- Entry points: plain C ABI ----
   The argument checks run before the mode switch, so an empty call costs no SMSTART. With
   K <= 0 there is no product: C becomes 0 (the kernel's zeroed tiles) or stays as it is. */

void megalide_sme_gemm_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                           const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate) {
    if (M <= 0 || N <= 0 || (K <= 0 && accumulate)) return;
    gemm_f32_streaming(M, N, K > 0 ? K : 0, A, lda, B, ldb, C, ldc, accumulate);
}

void megalide_sme_gemm_s8s8(int64_t M, int64_t N, int64_t K4, const int8_t *Ap, int64_t lda4,
                            const int8_t *Bp, int64_t ldb4, int32_t *C, int64_t ldc,
                            int accumulate) {
    if (M <= 0 || N <= 0 || (K4 <= 0 && accumulate)) return;
    gemm_s8s8_streaming(M, N, K4 > 0 ? K4 : 0, Ap, lda4, Bp, ldb4, C, ldc, accumulate);
}

void megalide_sme_gemm_u8s8(int64_t M, int64_t N, int64_t K4, const uint8_t *Ap, int64_t lda4,
                            const int8_t *Bp, int64_t ldb4, int32_t *C, int64_t ldc,
                            int accumulate) {
    if (M <= 0 || N <= 0 || (K4 <= 0 && accumulate)) return;
    gemm_u8s8_streaming(M, N, K4 > 0 ? K4 : 0, Ap, lda4, Bp, ldb4, C, ldc, accumulate);
}
