/*
 * semihost.c - minimal Arm semihosting (M-profile: BKPT 0xAB, r0 = operation, r1 = argument).
 * Own layer instead of newlib's rdimon to keep the image small (no stdio, no heap).
 */
#include "pqk_platform.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_FLEN 0x0C
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost_call(int operation, const void *argument)
{
    register int r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static size_t string_length(const char *text)
{
    size_t length = 0;
    while (text[length] != '\0') {
        ++length;
    }
    return length;
}

int pqk_sh_open(const char *path, int mode)
{
    const uint32_t block[3] = {(uint32_t)path, (uint32_t)mode, (uint32_t)string_length(path)};
    return semihost_call(SYS_OPEN, block);
}

int pqk_sh_close(int handle)
{
    const uint32_t block[1] = {(uint32_t)handle};
    return semihost_call(SYS_CLOSE, block);
}

long pqk_sh_flen(int handle)
{
    const uint32_t block[1] = {(uint32_t)handle};
    return semihost_call(SYS_FLEN, block);
}

/* SYS_READ / SYS_WRITE return the number of bytes NOT transferred. */
int pqk_sh_read(int handle, void *buffer, size_t bytes)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)buffer, (uint32_t)bytes};
    return semihost_call(SYS_READ, block) == 0 ? 0 : -1;
}

int pqk_sh_write(int handle, const void *buffer, size_t bytes)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)buffer, (uint32_t)bytes};
    return semihost_call(SYS_WRITE, block) == 0 ? 0 : -1;
}

int pqk_sh_cmdline(char *buffer, size_t size)
{
    uint32_t block[2] = {(uint32_t)buffer, (uint32_t)size};
    return semihost_call(SYS_GET_CMDLINE, block) == 0 ? 0 : -1;
}

int pqk_sh_arguments(char *buffer, size_t size, char *arguments[], int max_arguments)
{
    if (pqk_sh_cmdline(buffer, size) != 0) {
        return -1;
    }
    int count = 0;
    char *line = buffer;
    while (*line != '\0' && count < max_arguments) {
        while (*line == ' ') {
            *line++ = '\0';
        }
        if (*line == '\0') {
            break;
        }
        arguments[count++] = line;
        while (*line != '\0' && *line != ' ') {
            ++line;
        }
    }
    return count;
}

int pqk_sh_write_text(int handle, const char *text)
{
    return pqk_sh_write(handle, text, string_length(text));
}

void pqk_puts(const char *text)
{
    semihost_call(SYS_WRITE0, text);
}

char *pqk_format_u32(uint32_t value, char buffer[11])
{
    char *cursor = &buffer[10];
    *cursor = '\0';
    do {
        *--cursor = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    return cursor;
}

void pqk_put_u32(uint32_t value)
{
    char digits[11];
    pqk_puts(pqk_format_u32(value, digits));
}

void pqk_put_hex32(uint32_t value)
{
    static const char hex[] = "0123456789abcdef";
    char text[11] = {'0', 'x'};
    for (int i = 0; i < 8; ++i) {
        text[2 + i] = hex[(value >> (28 - 4 * i)) & 0xFu];
    }
    text[10] = '\0';
    pqk_puts(text);
}

void pqk_exit(int code)
{
    /* SYS_EXIT_EXTENDED carries the subcode to QEMU's exit status on AArch32 too
     * (plain SYS_EXIT only distinguishes success from failure there). */
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost_call(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}
