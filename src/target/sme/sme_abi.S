/* The SME ABI support routines of the AAPCS64 ("Support routines" / "SME support routines"):
   __arm_sme_state, __arm_tpidr2_save, __arm_za_disable, __arm_tpidr2_restore, and
   __arm_get_current_vg (clang-19 calls it in the prologue of a locally-streaming function when
   the target lacks non-streaming SVE, e.g. -march=armv8.7-a+sme, to record VG for unwinding;
   with SVE it inlines CNTD instead).

   Why megalide carries them: clang emits calls to these routines around every function with
   ZA state (the lazy-save protocol), and Debian 12's GCC 12 libgcc has none and there is no
   aarch64 compiler-rt, so a link of SME code fails with "undefined reference to
   __arm_tpidr2_save" until someone provides them (see shared/targets/SME.md).

   Calling convention: not the base PCS. The spec makes X0-X13, X19-X29, SP, Z0-Z31 and P0-P15
   callee-saved for __arm_tpidr2_save, __arm_za_disable and __arm_tpidr2_restore, X2-X15,
   X19-X29, SP, Z, P for __arm_sme_state (which returns in X0/X1), and X1-X15, X19-X29, SP, Z,
   P for __arm_get_current_vg (returns in X0). So the routines below use only X14-X17 as
   scratch (X16/X17 alone in the last two), never touch X18 (the platform
   register), never touch Z or P registers, and make no calls except to abort(). The condition
   flags are not callee-saved in any AAPCS64 variant, so they are clobbered freely.
   `.variant_pcs` marks the symbols so that a dynamic linker binds them eagerly: its lazy
   binding trampoline assumes the base PCS and may clobber registers these callers keep live.

   Detecting SME. The routines must behave as no-ops (return 0 for __arm_sme_state) on a CPU
   without SME, where touching TPIDR2_EL0 or SVCR would raise SIGILL. They cannot call
   getauxval() (it is a base-PCS function and would clobber X0-X13), so a constructor of
   priority 101 (the earliest a program may use) reads HWCAP2_SME (and HWCAP_SVE, for
   __arm_get_current_vg) once and caches them in a file-local byte, megalide_sme_abi_hwcaps,
   that each routine reads. This was
   preferred to reading ID_AA64PFR1_EL1 with MRS on every call, which Linux emulates by
   trapping to the kernel (a full exception per __arm_sme_state call) and which older kernels
   without that emulation answer with SIGILL. Before the constructor runs the routines behave
   as on a CPU without SME; that is sound because no code can have made ZA live (or set
   TPIDR2_EL0) by then. Linux grants access to TPIDR2_EL0 exactly when it grants SME, so one
   flag answers both questions.

   TPIDR2 block (AAPCS64 "TPIDR2_EL0"): bytes 0-7 za_save_buffer, bytes 8-9
   num_za_save_slices, bytes 10-15 reserved and required to be zero; a nonzero reserved byte
   makes these routines abort, as the spec allows, so that state from a future ABI revision is
   never silently mishandled.

   Saving: the spec asks for the first num_za_save_slices horizontal slices, each SVL bytes
   (STR ZA[Wv, #0] stores one byte-row of the SVL x SVL byte array; the address and the slice
   advance together). The count is clamped to SVL bytes, the number of such rows ZA has, so
   that a corrupt count cannot make the loop write past a buffer sized for ZA. clang always
   sets the count to SVL (RDSVL #1), and a ZA save buffer is SVL*SVL bytes. */

/* SVCR and TPIDR2_EL0 by their generic encodings, so that the file assembles with assemblers
   that do not know the SME register names. */
#define SVCR_REG s3_3_c4_c2_2
#define TPIDR2_EL0_REG s3_3_c13_c0_5

#define AT_HWCAP 16
#define AT_HWCAP2 26
#define HWCAP_SVE_BIT 22
#define HWCAP2_SME_BIT 23

/* Bits of megalide_sme_abi_hwcaps. */
#define CACHED_SME_BIT 0
#define CACHED_SVE_BIT 1

/* PACIASP / AUTIASP are hint-space: NOPs on cores without pointer authentication, so the
   object runs everywhere and still matches a program built with -mbranch-protection. */
#if defined(__ARM_FEATURE_PAC_DEFAULT)
#define SIGN_LR hint #25
#define AUTH_LR hint #29
#else
#define SIGN_LR
#define AUTH_LR
#endif

    .arch armv9-a+sme
    .text

/* Entry of a global routine. BTI C (a hint, a NOP without FEAT_BTI) makes it a valid indirect
   branch target in a program with branch protection enabled. */
.macro SME_ROUTINE name
    .globl \name
    .type \name, %function
    .variant_pcs \name
    .p2align 4
\name:
    .cfi_startproc
    hint #34
.endm

.macro SME_ROUTINE_END name
    .cfi_endproc
    .size \name, . - \name
.endm

/* Loads the cached HWCAP bits into W16. */
.macro LOAD_HWCAPS
    adrp x16, megalide_sme_abi_hwcaps
    ldrb w16, [x16, :lo12:megalide_sme_abi_hwcaps]
.endm

/* Branches to \no_sme when the process has no SME. Uses X16. */
.macro IF_NO_SME_GOTO no_sme
    LOAD_HWCAPS
    tbz w16, #CACHED_SME_BIT, \no_sme
.endm

/* Aborts (branches to megalide_sme_abi_abort) unless the reserved bytes 10-15 of the TPIDR2
   block at \blk are zero. Uses W17. */
.macro CHECK_RESERVED_BYTES blk
    ldrh w17, [\blk, #10]
    cbnz w17, megalide_sme_abi_abort
    ldr w17, [\blk, #12]
    cbnz w17, megalide_sme_abi_abort
.endm

/* Loads the slice count of the block at \blk into X17, clamped to SVL bytes, and the buffer
   pointer into X16 (\blk may be X16). Uses X15. */
.macro LOAD_SAVE_GEOMETRY blk
    ldrh w17, [\blk, #8]
    ldr x16, [\blk]
    rdsvl x15, #1
    cmp x17, x15
    csel x17, x17, x15, ls
.endm

/* The commit of a lazy save shared by __arm_tpidr2_save and __arm_za_disable: if TPIDR2_EL0
   points to a block with a buffer, store the block's slices of ZA there. Continues at \done.
   Uses X15-X17 only (W15 is the slice index: STR ZA takes its index in W12-W15 only). */
.macro COMMIT_LAZY_SAVE done
    mrs x16, TPIDR2_EL0_REG
    cbz x16, \done
    CHECK_RESERVED_BYTES x16
    LOAD_SAVE_GEOMETRY x16
    cbz x16, \done
    cbz x17, \done
    mov w15, #0
1:
    str za[w15, 0], [x16]
    addsvl x16, x16, #1
    add w15, w15, #1
    cmp w15, w17
    b.lo 1b
.endm

/* __arm_sme_state: X0 = bit 63 (SME available) | bit 62 (TPIDR2_EL0 accessible) |
   PSTATE.ZA << 1 | PSTATE.SM (the SVCR bit layout), X1 = TPIDR2_EL0; both zero without SME.
   Scratch: X16 only (X14/X15 are callee-saved for this routine). */
SME_ROUTINE __arm_sme_state
    IF_NO_SME_GOTO 1f
    mrs x0, SVCR_REG
    and x0, x0, #3
    orr x0, x0, #0xc000000000000000
    mrs x1, TPIDR2_EL0_REG
    ret
1:
    mov x0, #0
    mov x1, #0
    ret
SME_ROUTINE_END __arm_sme_state

/* __arm_tpidr2_save: commit a pending lazy save. Leaves TPIDR2_EL0 and PSTATE.ZA alone. */
SME_ROUTINE __arm_tpidr2_save
    IF_NO_SME_GOTO 2f
    COMMIT_LAZY_SAVE 2f
2:
    ret
SME_ROUTINE_END __arm_tpidr2_save

/* __arm_za_disable: commit a pending lazy save, then TPIDR2_EL0 = 0 and PSTATE.ZA = 0. */
SME_ROUTINE __arm_za_disable
    IF_NO_SME_GOTO 3f
    COMMIT_LAZY_SAVE 2f
2:
    msr TPIDR2_EL0_REG, xzr
    smstop za
3:
    ret
SME_ROUTINE_END __arm_za_disable

/* __arm_tpidr2_restore(X0 = block): reload ZA after a committed lazy save. The caller has
   already turned ZA on; TPIDR2_EL0 must be null (a live lazy save here means the caller's
   bookkeeping is broken, and the spec asks for an abort). */
SME_ROUTINE __arm_tpidr2_restore
    IF_NO_SME_GOTO 2f
    mrs x16, TPIDR2_EL0_REG
    cbnz x16, megalide_sme_abi_abort
    CHECK_RESERVED_BYTES x0
    LOAD_SAVE_GEOMETRY x0
    cbz x16, 2f
    cbz x17, 2f
    mov w15, #0
1:
    ldr za[w15, 0], [x16]
    addsvl x16, x16, #1
    add w15, w15, #1
    cmp w15, w17
    b.lo 1b
2:
    ret
SME_ROUTINE_END __arm_tpidr2_restore

/* __arm_get_current_vg: X0 = the vector length in 64-bit granules now in force: the streaming
   one (SVL / 64) in streaming mode, else the SVE one, else 0 without SVE. CNTD is an SVE
   instruction, so it runs only where HWCAP_SVE said so. */
SME_ROUTINE __arm_get_current_vg
    LOAD_HWCAPS
    tbz w16, #CACHED_SME_BIT, 1f
    mrs x17, SVCR_REG
    tbz x17, #0, 1f
    rdsvl x0, #1
    lsr x0, x0, #3
    ret
1:
    tbz w16, #CACHED_SVE_BIT, 2f
    cntd x0
    ret
2:
    mov x0, #0
    ret
SME_ROUTINE_END __arm_get_current_vg

/* The common abort path. abort() is non-streaming code that may use Advanced SIMD, which traps
   in streaming mode on cores without FEAT_SME_FA64; leave streaming mode first. A BL (not B)
   keeps the routine that found the fault in a backtrace, and a symbol of its own (local, not
   .L) keeps that backtrace from naming whichever routine happens to precede it. Reached only
   with SME present. */
    .p2align 2
    .type megalide_sme_abi_abort, %function
megalide_sme_abi_abort:
    .cfi_startproc
    smstop sm
    bl abort
    .cfi_endproc
    .size megalide_sme_abi_abort, . - megalide_sme_abi_abort

/* The constructor that fills megalide_sme_abi_hwcaps; an ordinary base-PCS function. */
    .p2align 2
    .type megalide_sme_abi_init, %function
megalide_sme_abi_init:
    .cfi_startproc
    hint #34
    SIGN_LR
    stp x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset w30, -24
    .cfi_offset w29, -32
    str x19, [sp, #16]
    .cfi_offset w19, -16
    mov x29, sp
    mov x0, #AT_HWCAP2
    bl getauxval
    ubfx x19, x0, #HWCAP2_SME_BIT, #1
    mov x0, #AT_HWCAP
    bl getauxval
    ubfx x0, x0, #HWCAP_SVE_BIT, #1
    orr w19, w19, w0, lsl #CACHED_SVE_BIT
    adrp x1, megalide_sme_abi_hwcaps
    strb w19, [x1, :lo12:megalide_sme_abi_hwcaps]
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    .cfi_restore w19
    .cfi_restore w29
    .cfi_restore w30
    .cfi_def_cfa_offset 0
    AUTH_LR
    ret
    .cfi_endproc
    .size megalide_sme_abi_init, . - megalide_sme_abi_init

    .section .init_array.00101, "aw", @init_array
    .p2align 3
    .xword megalide_sme_abi_init

/* CACHED_SME_BIT / CACHED_SVE_BIT, set by the constructor. File-local: each linked image
   answers for itself without a GOT load, and the name stays out of every symbol table but
   this object's. */
    .bss
    .type megalide_sme_abi_hwcaps, %object
    .size megalide_sme_abi_hwcaps, 1
megalide_sme_abi_hwcaps:
    .byte 0

    .section .note.GNU-stack, "", @progbits

/* GNU property note, emitted only when the program is built with branch protection so that
   the linker keeps BTI/PAC enforcement on for the whole image (every indirect-branch target
   above starts with BTI C, and the one frame above signs its return address). */
#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#define GNU_PROPERTY_AARCH64_FEATURE_1_AND 0xc0000000
#define FEATURE_1_BTI 1
#define FEATURE_1_PAC 2
#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define FEATURE_BTI_FLAG FEATURE_1_BTI
#else
#define FEATURE_BTI_FLAG 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT)
#define FEATURE_PAC_FLAG FEATURE_1_PAC
#else
#define FEATURE_PAC_FLAG 0
#endif
    .section .note.gnu.property, "a"
    .p2align 3
    .word 4
    .word 16
    .word 5
    .asciz "GNU"
    .word GNU_PROPERTY_AARCH64_FEATURE_1_AND
    .word 4
    .word (FEATURE_BTI_FLAG | FEATURE_PAC_FLAG)
    .word 0
#endif
