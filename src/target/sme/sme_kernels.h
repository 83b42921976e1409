/* Arm SME tile micro-kernels: the accumulation of a matmul tile, called by megalide's SME
   target from ordinary (non-streaming, private-ZA) code, typically the extern stage of a Halide
   pipeline computed at the output tile loop (shared/targets/SME.md).

   Every entry point has a plain AAPCS64 C interface: callable from code built without SME
   options, from C or C++, with no ZA or streaming-mode obligations on the caller. Inside, each
   one enters streaming mode with ZA on, runs a call-free loop nest, and leaves both (one mode
   switch per call, so a caller should hand over the largest tile its schedule allows). The
   vector length is read at run time: one object serves SVL 128 to 2048.

   Layouts (all strides in elements of the pointed-to type, all >= the extent they stride):
     A is M x K, contiguous along m:  A[m + k*lda]
     B is K x N, contiguous along n:  B[n + k*ldb]
     C is M x N, contiguous along m:  C[m + n*ldc]
   and each kernel computes, for 0 <= m < M and 0 <= n < N,
     C[m + n*ldc] = (accumulate ? C[m + n*ldc] : 0) + sum_k A(m, k) * B(k, n).
   Elements of C outside that M x N window (the ldc padding) are neither read nor written.
   M <= 0 or N <= 0 is a no-op; K == 0 stores zeros, or leaves C unchanged when accumulating.
   The buffers must not overlap C. */
#ifndef MEGALIDE_TARGET_SME_SME_KERNELS_H
#define MEGALIDE_TARGET_SME_SME_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fp32 GEMM with FMOPA. Sums are formed in k order, one fused multiply-add per k per output
   (no reassociation), so results can differ from a blocked or pairwise reference only by
   ordinary fp32 rounding. */
void megalide_sme_gemm_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                           const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate);

/* 8-bit GEMMs into int32 with the 4-way widening outer products (SMOPA / USMOPA), which sum
   four consecutive k per instruction. The operands therefore come prepacked in groups of four
   k, one group of 4*M (4*N) bytes per k/4:
     Ap[(k/4)*lda4 + m*4 + (k%4)] = A(m, k),   lda4 >= 4*M (bytes)
     Bp[(k/4)*ldb4 + n*4 + (k%4)] = B(k, n),   ldb4 >= 4*N (bytes)
   K4 is the number of k groups, ceil(K/4): the packer pads the last group with zeros, which
   add nothing. C is int32 as above; sums wrap modulo 2^32 (the hardware's arithmetic), which
   cannot happen from a zero start for K4 <= 16384: 4 * 16384 products of magnitude at most
   255 * 128 sum to less than 2^31. */

/* A signed, B signed (SMOPA). */
void megalide_sme_gemm_s8s8(int64_t M, int64_t N, int64_t K4, const int8_t *Ap, int64_t lda4,
                            const int8_t *Bp, int64_t ldb4, int32_t *C, int64_t ldc,
                            int accumulate);

/* A unsigned, B signed (USMOPA): the asymmetric-activation times symmetric-weight form. */
void megalide_sme_gemm_u8s8(int64_t M, int64_t N, int64_t K4, const uint8_t *Ap, int64_t lda4,
                            const int8_t *Bp, int64_t ldb4, int32_t *C, int64_t ldc,
                            int accumulate);

#ifdef __cplusplus
}
#endif

#endif
