/*
 * markers.c - instruction-count markers. The QEMU counting plugin records the running
 * instruction count each time execution reaches one of these addresses (taken from the ELF).
 * noipa keeps every marker a distinct, real function: no inlining, no identical-code folding.
 */
#include "pqk_platform.h"

__attribute__((noipa)) void pqk_bench_begin(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noipa)) void pqk_bench_end(void)
{
    __asm__ volatile("" ::: "memory");
}

/* Default op hooks for apps that do not trace (model.c calls them when PQK_HOOKS is defined,
 * which every firmware build does so per-op instruction counts work for any app). An app
 * that wants the op outputs defines its own, stronger versions. */
__attribute__((weak, noipa)) void pqk_before_op(int index)
{
    (void)index;
}

__attribute__((weak, noipa)) void pqk_after_op(int index, const int8_t *data, size_t bytes)
{
    (void)index;
    (void)data;
    (void)bytes;
}
