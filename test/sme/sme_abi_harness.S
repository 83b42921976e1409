/* A harness that calls one SME ABI support routine under controlled conditions and records
   what the call changed, for test/sme/sme_abi_test.c.

   Compiled code only ever relies on the part of the special PCS it happens to use, so a
   routine that clobbers, say, X9 can pass every C-level test. This harness fills every
   general register the caller could keep live (X1-X15, X19-X29; X0 carries the argument)
   with a distinct pattern, makes the call, and records X0-X30 and SP after it; the C side
   then checks exactly the registers the AAPCS64 makes callee-saved for that routine.

   void megalide_test_abi_call(struct abi_call *c), with the fields below (all 8 bytes;
   sme_abi_test.c asserts the same offsets):
     ROUTINE     the routine to call
     X0_IN       X0 at the call
     TPIDR2_IN   TPIDR2_EL0 at the call
     STREAMING   nonzero: call in streaming mode (SMSTART SM first)
     ZA_ON       nonzero: PSTATE.ZA = 1 at the call (SMSTART ZA, which zeroes ZA)
     ZA_IN       if ZA_ON and nonnull: SVL*SVL bytes loaded into ZA first (row i from
                 ZA_IN + i*SVL)
     ZA_OUT      if nonnull and PSTATE.ZA is still 1 after the call: ZA stored here
     REGS        out: X0..X30 right after the call
     SP_BEFORE / SP_AFTER, SVCR_AFTER, TPIDR2_AFTER: out
   On return TPIDR2_EL0 is 0 and streaming mode and ZA are off again, so the C caller, an
   ordinary private-ZA function, finds the state it had; D8-D15 are saved around the mode
   switches, which zero the vector registers. Uses the generic system-register
   encodings: SVCR is s3_3_c4_c2_2, TPIDR2_EL0 s3_3_c13_c0_5. */

#define ROUTINE 0
#define X0_IN 8
#define TPIDR2_IN 16
#define STREAMING 24
#define ZA_ON 32
#define ZA_IN 40
#define ZA_OUT 48
#define REGS 56
#define SP_BEFORE 304
#define SP_AFTER 312
#define SVCR_AFTER 320
#define TPIDR2_AFTER 328

/* The pattern of register \r: 0xa5a5 in the top half-word, \r * 0x101 in the bottom one. */
.macro FILL_PATTERN regs:vararg
    .irp r, \regs
    movz x\r, #(\r * 0x101)
    movk x\r, #0xa5a5, lsl #48
    .endr
.endm

    .arch armv9-a+sme
    .text
    .globl megalide_test_abi_call
    .type megalide_test_abi_call, %function
    .p2align 4
megalide_test_abi_call:
    .cfi_startproc
    hint #34
    stp x29, x30, [sp, #-176]!
    .cfi_def_cfa_offset 176
    .cfi_offset w30, -168
    .cfi_offset w29, -176
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    str x0, [sp, #96]
    stp d8, d9, [sp, #112]
    stp d10, d11, [sp, #128]
    stp d12, d13, [sp, #144]
    stp d14, d15, [sp, #160]
    mov x9, x0

    ldr x10, [x9, #STREAMING]
    cbz x10, 1f
    smstart sm
1:
    ldr x10, [x9, #ZA_ON]
    cbz x10, 3f
    smstart za
    ldr x11, [x9, #ZA_IN]
    cbz x11, 3f
    rdsvl x13, #1
    mov w12, #0
2:
    ldr za[w12, 0], [x11]
    addsvl x11, x11, #1
    add w12, w12, #1
    cmp w12, w13
    b.lo 2b
3:
    ldr x10, [x9, #TPIDR2_IN]
    msr s3_3_c13_c0_5, x10
    mov x10, sp
    str x10, [x9, #SP_BEFORE]
    ldr x16, [x9, #ROUTINE]
    ldr x0, [x9, #X0_IN]
    /* X9 (the struct pointer) is overwritten here too: it is reloaded from the frame. X29 as
       well: the frame is addressed through SP only until it is restored. */
    FILL_PATTERN 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    FILL_PATTERN 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
    blr x16

    stp x0, x1, [sp, #-16]!
    ldr x0, [sp, #16 + 96]
    add x1, x0, #REGS
    stp x2, x3, [x1, #16]
    stp x4, x5, [x1, #32]
    stp x6, x7, [x1, #48]
    stp x8, x9, [x1, #64]
    stp x10, x11, [x1, #80]
    stp x12, x13, [x1, #96]
    stp x14, x15, [x1, #112]
    stp x16, x17, [x1, #128]
    stp x18, x19, [x1, #144]
    stp x20, x21, [x1, #160]
    stp x22, x23, [x1, #176]
    stp x24, x25, [x1, #192]
    stp x26, x27, [x1, #208]
    stp x28, x29, [x1, #224]
    str x30, [x1, #240]
    ldp x2, x3, [sp], #16
    stp x2, x3, [x1]
    mov x2, sp
    str x2, [x0, #SP_AFTER]
    mrs x2, s3_3_c4_c2_2
    str x2, [x0, #SVCR_AFTER]
    mrs x3, s3_3_c13_c0_5
    str x3, [x0, #TPIDR2_AFTER]

    tbz x2, #1, 5f
    ldr x3, [x0, #ZA_OUT]
    cbz x3, 5f
    rdsvl x13, #1
    mov w12, #0
4:
    str za[w12, 0], [x3]
    addsvl x3, x3, #1
    add w12, w12, #1
    cmp w12, w13
    b.lo 4b
5:
    msr s3_3_c13_c0_5, xzr
    smstop
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp d8, d9, [sp, #112]
    ldp d10, d11, [sp, #128]
    ldp d12, d13, [sp, #144]
    ldp d14, d15, [sp, #160]
    ldp x29, x30, [sp], #176
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc
    .size megalide_test_abi_call, . - megalide_test_abi_call

    .section .note.GNU-stack, "", @progbits
