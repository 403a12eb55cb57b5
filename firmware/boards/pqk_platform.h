/*
 * pqk_platform.h - what firmware apps get from the board layer (firmware/boards/).
 *
 * Startup (startup.c) sets up .data/.bss, paints the stack, enables the FPU/MVE where the
 * core has one, calls main() and exits through semihosting with main's return value.
 * Faults print one "PQK_RESULT fail fault=..." line with the fault registers and exit with
 * PQK_EXIT_FAULT. I/O (semihost.c) is a minimal Arm semihosting layer: files on the host
 * (relative to the emulator's working directory), console text, the command line, exit codes.
 */
#ifndef PQK_PLATFORM_H
#define PQK_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes the runner understands (semihosting SYS_EXIT_EXTENDED subcode). */
#define PQK_EXIT_OK 0
#define PQK_EXIT_FAIL 1
#define PQK_EXIT_FAULT 3

/* Semihosting open modes (ISO C fopen modes as numbered by the semihosting spec). */
#define PQK_SH_MODE_READ_BINARY 1   /* "rb" */
#define PQK_SH_MODE_WRITE_BINARY 5  /* "wb" */

/* Returns a host file handle >= 0, or -1. */
int pqk_sh_open(const char *path, int mode);
int pqk_sh_close(int handle);
/* Returns the file length in bytes, or -1. */
long pqk_sh_flen(int handle);
/* Read/write exactly `bytes` bytes; return 0 on success, -1 otherwise. */
int pqk_sh_read(int handle, void *buffer, size_t bytes);
int pqk_sh_write(int handle, const void *buffer, size_t bytes);
/* Copies the command line the emulator was given (NUL-terminated) into `buffer`; 0 on success. */
int pqk_sh_cmdline(char *buffer, size_t size);
/* The command line read into `buffer` and split in place at spaces into at most `max_arguments`
 * (arguments[0] is the program name); returns the number of arguments, or -1 without a command line. */
int pqk_sh_arguments(char *buffer, size_t size, char *arguments[], int max_arguments);
/* Writes the NUL-terminated `text` (without the NUL); 0 on success, -1 otherwise. */
int pqk_sh_write_text(int handle, const char *text);

/* Console text (semihosting SYS_WRITE0). */
void pqk_puts(const char *text);
void pqk_put_u32(uint32_t value);      /* decimal */
/* `value` in decimal, NUL-terminated, written into `buffer`; returns where the digits start. */
char *pqk_format_u32(uint32_t value, char buffer[11]);
void pqk_put_hex32(uint32_t value);    /* 0x%08x */

/* Ends the program with `code` as the emulator's exit status. */
void pqk_exit(int code) __attribute__((noreturn));

/* Peak stack use in bytes since reset, from the painted stack region. When it equals
 * pqk_stack_reserved_bytes() (the board's stack_bytes) the stack overflowed into .bss. */
uint32_t pqk_stack_peak_bytes(void);
uint32_t pqk_stack_reserved_bytes(void);

/* Instruction-count markers: empty functions whose entry addresses the QEMU plugin watches.
 * Call pqk_bench_begin() right before and pqk_bench_end() right after the measured work. */
void pqk_bench_begin(void);
void pqk_bench_end(void);

/* Op hooks the generated model.c calls around every op (PQK_HOOKS is defined for firmware
 * builds). markers.c has weak empty versions; an app may define its own (harness: tracing). */
void pqk_before_op(int index);
void pqk_after_op(int index, const int8_t *data, size_t bytes);

#endif /* PQK_PLATFORM_H */
