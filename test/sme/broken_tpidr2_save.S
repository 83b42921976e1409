/* The negative control of sme_abi_test: an __arm_tpidr2_save that commits nothing. It returns
   as if the lazy save had happened; the caller's private-ZA callee then turns ZA on (which
   zeroes it), and the caller's __arm_tpidr2_restore reloads ZA from a buffer nothing was
   stored to. The lazy-save test must see that and fail; if it passes anyway it is not looking
   at ZA at all. run_sme_tests.sh links this object ahead of a copy of sme_abi.o whose
   __arm_tpidr2_save was made weak (objcopy --weaken-symbol), so this definition wins. */
    .arch armv9-a+sme
    .text
    .globl __arm_tpidr2_save
    .type __arm_tpidr2_save, %function
    .variant_pcs __arm_tpidr2_save
    .p2align 2
__arm_tpidr2_save:
    hint #34
    ret
    .size __arm_tpidr2_save, . - __arm_tpidr2_save

    .section .note.GNU-stack, "", @progbits
