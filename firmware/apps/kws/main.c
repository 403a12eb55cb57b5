/*
 * KWS app on Cortex-M: streams 16 kHz int16 audio from a host file over semihosting through the
 * keyword spotting engine (kws.h).
 *
 * Command line (semihosting, from pqk_mcu.runner.qemu): "kws INPUT OUTPUT". INPUT holds the samples
 * (little-endian int16, at least 1 s, whole 10 ms blocks); every result line is printed on the console
 * (semihosting, and the board's USART where it has one) and written to OUTPUT. Ends with the marker
 * line "PQK_RESULT ok stack=<peak stack bytes>" or "PQK_RESULT fail <reason>".
 */
#include "kws.h"
#include "pqk_platform.h"
#include "../../console/pqk_console.h"

#define MAX_ARGS 3
#define CMDLINE_BYTES 128
#define READ_BLOCKS 1

static int output_handle = -1;
static int output_failed;

/* model.c calls these around every op (the firmware build defines PQK_HOOKS). */
__attribute__((noipa)) void pqk_before_op(int index)
{
    (void)index;
}

__attribute__((noipa)) void pqk_after_op(int index, const int8_t *data, size_t bytes)
{
    (void)index;
    (void)data;
    (void)bytes;
}

static void print(const char *text)
{
    pqk_puts(text);
    pqk_console_write(text);
}

void kws_emit(const char *line)
{
    print(line);
    print("\n");
    if (pqk_sh_write_text(output_handle, line) != 0 || pqk_sh_write_text(output_handle, "\n") != 0) {
        output_failed = 1;
    }
}

static int fail(const char *reason)
{
    print("PQK_RESULT fail ");
    print(reason);
    print("\n");
    return PQK_EXIT_FAIL;
}

int main(void)
{
    static char cmdline[CMDLINE_BYTES];
    static int16_t samples[READ_BLOCKS * KWS_BLOCK_SAMPLES];
    char *arguments[MAX_ARGS];
    pqk_console_init();
    const int count = pqk_sh_arguments(cmdline, sizeof cmdline, arguments, MAX_ARGS);
    if (count < 0) {
        return fail("no semihosting command line");
    }
    if (count != 3) {
        return fail("usage: kws INPUT OUTPUT");
    }
    const int input = pqk_sh_open(arguments[1], PQK_SH_MODE_READ_BINARY);
    if (input < 0) {
        return fail("cannot open input file");
    }
    const long length = pqk_sh_flen(input);
    if (length < 0 || length % (long)sizeof(int16_t) != 0 ||
        kws_start((uint32_t)length / (uint32_t)sizeof(int16_t)) != 0) {
        pqk_sh_close(input);
        return fail("input must hold at least 1 s of int16 samples in whole 10 ms blocks");
    }
    output_handle = pqk_sh_open(arguments[2], PQK_SH_MODE_WRITE_BINARY);
    if (output_handle < 0) {
        pqk_sh_close(input);
        return fail("cannot open output file");
    }
    uint32_t remaining = (uint32_t)length / (uint32_t)(KWS_BLOCK_SAMPLES * sizeof(int16_t));
    int status = 0;
    while (remaining > 0 && status == 0) {
        const uint32_t blocks = remaining < READ_BLOCKS ? remaining : READ_BLOCKS;
        if (pqk_sh_read(input, samples, blocks * KWS_BLOCK_SAMPLES * sizeof(int16_t)) != 0) {
            status = -2;
            break;
        }
        for (uint32_t b = 0; b < blocks && status == 0; ++b) {
            status = kws_push_block(&samples[b * KWS_BLOCK_SAMPLES]);
        }
        remaining -= blocks;
    }
    pqk_sh_close(input);
    if (pqk_sh_close(output_handle) != 0 || output_failed) {
        return fail("cannot write output file");
    }
    if (status == -2) {
        return fail("cannot read input file");
    }
    if (status != 0) {
        return fail("pqk_model_invoke returned an error");
    }
    char digits[11];
    const char *stack = pqk_format_u32(pqk_stack_peak_bytes(), digits);
    print("PQK_RESULT ok stack=");
    print(stack);
    print("\n");
    return PQK_EXIT_OK;
}
