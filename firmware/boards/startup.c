/*
 * startup.c - reset and exception handling shared by every Cortex-M board (v7-M, v8-M, v8.1-M).
 *
 * Memory layout comes from the linker script rendered from the board file (cortex-m.ld.j2):
 * vector table at the start of flash, .data copied from flash, .bss zeroed, then a stack of
 * the board's stack_bytes at the end of the used RAM. The stack is painted at reset so
 * pqk_stack_peak_bytes() can report the deepest use.
 */
#include "pqk_platform.h"

#define STACK_PAINT 0xA5C3E1F0u

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];

int main(void);
void Reset_Handler(void);
void pqk_fault_entry(void);
void pqk_fault_report(const uint32_t *frame, uint32_t exception);

/* System exceptions only: the firmware enables no interrupts. */
__attribute__((section(".isr_vector"), used)) void (*const pqk_vector_table[16])(void) = {
    (void (*)(void))__stack_top,
    Reset_Handler,
    pqk_fault_entry, /* NMI */
    pqk_fault_entry, /* HardFault */
    pqk_fault_entry, /* MemManage */
    pqk_fault_entry, /* BusFault */
    pqk_fault_entry, /* UsageFault */
    pqk_fault_entry, /* SecureFault (v8-M) */
    0, 0, 0,
    pqk_fault_entry, /* SVCall */
    pqk_fault_entry, /* DebugMonitor */
    0,
    pqk_fault_entry, /* PendSV */
    pqk_fault_entry, /* SysTick */
};

#define REG32(address) (*(volatile uint32_t *)(address))
#define SCB_CPACR 0xE000ED88u
#define SCB_CFSR 0xE000ED28u
#define SCB_HFSR 0xE000ED2Cu
#define SCB_MMFAR 0xE000ED34u
#define SCB_BFAR 0xE000ED38u
#define SAU_SFSR 0xE000EDE4u
#define SAU_SFAR 0xE000EDE8u

void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Full access to CP10/CP11 (FPU and, on v8.1-M, MVE) before any code may use them. */
    REG32(SCB_CPACR) |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end;) {
        *dst++ = 0u;
    }
    /* Paint the free stack below this frame; volatile keeps the loop from becoming a
     * memset call whose own frame would land in the painted area. */
    uint32_t *stack_pointer;
    __asm__ volatile("mov %0, sp" : "=r"(stack_pointer));
    for (volatile uint32_t *word = __stack_bottom; word < stack_pointer;) {
        *word++ = STACK_PAINT;
    }
    pqk_exit(main());
}

uint32_t pqk_stack_peak_bytes(void)
{
    const uint32_t *word = __stack_bottom;
    while (word < __stack_top && *word == STACK_PAINT) {
        ++word;
    }
    return (uint32_t)((const uint8_t *)__stack_top - (const uint8_t *)word);
}

uint32_t pqk_stack_reserved_bytes(void)
{
    return (uint32_t)((const uint8_t *)__stack_top - (const uint8_t *)__stack_bottom);
}

/* Finds the exception frame (MSP or PSP, from EXC_RETURN bit 2) and the exception number, then
 * reports on a fresh stack: the program is over, and the faulting one may be unusable. */
__attribute__((naked)) void pqk_fault_entry(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mrs r1, ipsr\n\t"
        "ldr r2, =__stack_top\n\t"
        "mov sp, r2\n\t"
        "b pqk_fault_report\n\t");
}

static const char *exception_name(uint32_t exception)
{
    switch (exception) {
    case 2: return "NMI";
    case 3: return "HardFault";
    case 4: return "MemManage";
    case 5: return "BusFault";
    case 6: return "UsageFault";
    case 7: return "SecureFault";
    case 11: return "SVCall";
    case 12: return "DebugMonitor";
    case 14: return "PendSV";
    case 15: return "SysTick";
    default: return "IRQ";
    }
}

static void put_register(const char *name, uint32_t value)
{
    pqk_puts(name);
    pqk_put_hex32(value);
}

/* One marker line with the fault status registers and the stacked PC/LR/xPSR. */
void pqk_fault_report(const uint32_t *frame, uint32_t exception)
{
    exception &= 0x1FFu;
    pqk_puts("PQK_RESULT fail fault=");
    pqk_puts(exception_name(exception));
    pqk_puts(" exception=");
    pqk_put_u32(exception);
    if ((const uint32_t *)frame < __data_start || frame + 8 > __stack_top) {
        /* The frame could not be stacked in RAM: the stack ran past the bottom of RAM. */
        put_register(" sp=", (uint32_t)frame);
        pqk_puts(" stack-overflow=outside-ram");
    } else {
        put_register(" pc=", frame[6]);
        put_register(" lr=", frame[5]);
        put_register(" xpsr=", frame[7]);
        if (frame < __stack_bottom) {
            pqk_puts(" stack-overflow=into-bss");
        }
    }
    put_register(" cfsr=", REG32(SCB_CFSR));
    put_register(" hfsr=", REG32(SCB_HFSR));
    put_register(" mmfar=", REG32(SCB_MMFAR));
    put_register(" bfar=", REG32(SCB_BFAR));
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    put_register(" sfsr=", REG32(SAU_SFSR));
    put_register(" sfar=", REG32(SAU_SFAR));
#endif
    pqk_puts("\n");
    pqk_exit(PQK_EXIT_FAULT);
}
