/*
 * Harness app: runs the generated model once on one input tensor.
 *
 * Command line (semihosting, given by pqk_mcu.runner.qemu): "harness INPUT OUTPUT [TRACE]".
 * Reads PQK_MODEL_INPUT_SIZE bytes from INPUT, calls pqk_model_invoke between the
 * instruction-count markers, writes PQK_MODEL_OUTPUT_SIZE bytes to OUTPUT and, when TRACE is
 * given, every op's output as records {int32 op index, uint32 byte count, bytes}.
 * Prints one marker line, "PQK_RESULT ok stack=<peak stack bytes>" or
 * "PQK_RESULT fail <reason>", and exits with PQK_EXIT_OK / PQK_EXIT_FAIL.
 */
#include "model.h"
#include "pqk_platform.h"

#define MAX_ARGS 4
#define CMDLINE_BYTES 256

static int8_t model_input[PQK_MODEL_INPUT_SIZE];
static int8_t model_output[PQK_MODEL_OUTPUT_SIZE];
static int trace_handle = -1;
static int trace_failed;

/* Hooks called by model.c around every op (PQK_HOOKS is defined for the harness build).
 * noipa keeps them real functions: the counting plugin watches their entry addresses. */
__attribute__((noipa)) void pqk_before_op(int index)
{
    (void)index;
}

__attribute__((noipa)) void pqk_after_op(int index, const int8_t *data, size_t bytes)
{
    if (trace_handle >= 0) {
        const uint32_t header[2] = {(uint32_t)index, (uint32_t)bytes};
        if (pqk_sh_write(trace_handle, header, sizeof header) != 0 || pqk_sh_write(trace_handle, data, bytes) != 0) {
            trace_failed = 1;
        }
    }
}

static int fail(const char *reason)
{
    pqk_puts("PQK_RESULT fail ");
    pqk_puts(reason);
    pqk_puts("\n");
    return PQK_EXIT_FAIL;
}

int main(void)
{
    static char cmdline[CMDLINE_BYTES];
    char *arguments[MAX_ARGS];
    const int count = pqk_sh_arguments(cmdline, sizeof cmdline, arguments, MAX_ARGS);
    if (count < 0) {
        return fail("no semihosting command line");
    }
    if (count < 3) {
        return fail("usage: harness INPUT OUTPUT [TRACE]");
    }

    const int input = pqk_sh_open(arguments[1], PQK_SH_MODE_READ_BINARY);
    if (input < 0) {
        return fail("cannot open input file");
    }
    if (pqk_sh_flen(input) != (long)PQK_MODEL_INPUT_SIZE) {
        pqk_sh_close(input);
        return fail("input file size differs from PQK_MODEL_INPUT_SIZE");
    }
    const int read_status = pqk_sh_read(input, model_input, sizeof model_input);
    pqk_sh_close(input);
    if (read_status != 0) {
        return fail("cannot read input file");
    }
    if (count > 3) {
        trace_handle = pqk_sh_open(arguments[3], PQK_SH_MODE_WRITE_BINARY);
        if (trace_handle < 0) {
            return fail("cannot open trace file");
        }
    }

    pqk_bench_begin();
    const int status = pqk_model_invoke(model_input, model_output);
    pqk_bench_end();

    if (trace_handle >= 0 && (pqk_sh_close(trace_handle) != 0 || trace_failed)) {
        return fail("cannot write trace file");
    }
    if (status != 0) {
        return fail("pqk_model_invoke returned an error");
    }
    const int output = pqk_sh_open(arguments[2], PQK_SH_MODE_WRITE_BINARY);
    if (output < 0) {
        return fail("cannot open output file");
    }
    const int write_status = pqk_sh_write(output, model_output, sizeof model_output);
    if (pqk_sh_close(output) != 0 || write_status != 0) {
        return fail("cannot write output file");
    }
    const uint32_t stack_bytes = pqk_stack_peak_bytes();
    if (stack_bytes >= pqk_stack_reserved_bytes()) {
        return fail("stack overflow: every byte of the board's stack_bytes was used");
    }
    pqk_puts("PQK_RESULT ok stack=");
    pqk_put_u32(stack_bytes);
    pqk_puts("\n");
    return PQK_EXIT_OK;
}
