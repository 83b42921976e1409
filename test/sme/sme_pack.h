/* Test-only packers from plain layouts to the k-group-of-four layout of megalide's 8-bit SME
   kernels (src/target/sme/sme_kernels.h):
     dst[(k/4)*ld4 + r*4 + (k%4)] = src[r + k*ld],  0 <= r < rows, 0 <= k < K,
   zero for K <= k < 4*ceil(K/4) (the kernels sum whole groups, so the pad must add nothing).
   Works on bytes, so one packer serves int8 and uint8. Bytes of a group past 4*rows (the ld4
   padding) are filled with `pad_garbage`: a kernel that reads them, or that takes a padding
   row for a real one, then gets a wrong answer instead of a lucky zero. */
#ifndef MEGALIDE_TEST_SME_SME_PACK_H
#define MEGALIDE_TEST_SME_SME_PACK_H

#include <stdint.h>

static inline int64_t sme_pack_groups(int64_t K) { return (K + 3) / 4; }

static inline void sme_pack_k4(const uint8_t *src, int64_t rows, int64_t K, int64_t ld,
                               uint8_t *dst, int64_t ld4, uint8_t pad_garbage) {
    const int64_t groups = sme_pack_groups(K);
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t *group = dst + g * ld4;
        for (int64_t i = 4 * rows; i < ld4; ++i) group[i] = pad_garbage;
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t q = 0; q < 4; ++q) {
                const int64_t k = 4 * g + q;
                group[r * 4 + q] = k < K ? src[r + k * ld] : 0;
            }
        }
    }
}

#endif
