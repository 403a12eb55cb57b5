/*
 * Cycle-probe app: a fixed Thumb-2 sequence between the instruction-count markers, so a test can
 * check the counting plugin's instruction classes and Cortex-M4 cycle estimate against numbers
 * worked out by hand (tests/test_cycle_estimate.py lists them, instruction by instruction).
 * Needs no model and reads no input; prints "PQK_RESULT ok stack=<peak>" like the harness.
 */
#include "pqk_platform.h"

/* Naked: no compiler-made prologue inside the measured window. r4-r7 are saved before
 * pqk_bench_begin and restored after pqk_bench_end. */
__attribute__((naked, noinline)) static void probe(void)
{
    __asm__ volatile(
        "push {r4-r7, lr}\n\t"
        "sub sp, #16\n\t"
        "bl pqk_bench_begin\n\t"
        "mov r7, sp\n\t"
        "movs r0, #4\n\t"
        "str r0, [r7]\n\t"           /* store after an ALU op */
        "ldr r1, [r7]\n\t"           /* load after a store: not pipelined */
        "ldr r2, [r7, r1]\n\t"       /* addressed by the loaded r1: not pipelined */
        "ldr.w r3, [r7, #8]\n\t"     /* independent load after a load: pipelined */
        "str r3, [r7, #12]\n\t"      /* store of the loaded value after a load: pipelined */
        "ldrd r4, r5, [r7]\n\t"
        "strd r4, r5, [r7, #8]\n\t"
        "push {r0, r1}\n\t"
        "pop {r0, r1}\n\t"
        "muls r0, r1, r0\n\t"
        "smlad r0, r1, r2, r0\n\t"
        "smull r4, r5, r1, r2\n\t"
        "udiv r0, r1, r1\n\t"
        "movs r6, #3\n"
        "1:\n\t"
        "subs r6, #1\n\t"
        "bne 1b\n\t"                 /* taken twice, falls through once */
        "cbz r6, 2f\n\t"             /* taken */
        "nop\n"
        "2:\n\t"
        "bl pqk_bench_end\n\t"
        "add sp, #16\n\t"
        "pop {r4-r7, pc}\n\t");
}

int main(void)
{
    probe();
    /* The counting plugin watches the op hooks too: one empty op keeps markers.c's defaults linked. */
    pqk_before_op(0);
    pqk_after_op(0, NULL, 0);
    pqk_puts("PQK_RESULT ok stack=");
    pqk_put_u32(pqk_stack_peak_bytes());
    pqk_puts("\n");
    return PQK_EXIT_OK;
}
