/* Host harness: runs the generated model on a file of inputs (built by pqk_mcu.runner.host).
 *
 * usage: pqk_host_harness INPUT_FILE OUTPUT_FILE [TRACE_FILE]
 * INPUT_FILE holds N * PQK_MODEL_INPUT_SIZE bytes (N samples); OUTPUT_FILE receives
 * N * PQK_MODEL_OUTPUT_SIZE bytes. With TRACE_FILE (and PQK_HOOKS), every op's output is appended
 * as a record: uint32 op index, uint32 byte count (host byte order), then the bytes.
 * Every sample runs from the model's initial state (a stateful model is reset before each), like
 * one run of the reference or of TFLite Micro.
 * Prints one marker line, "PQK_RESULT ok" or "PQK_RESULT fail <reason>", and exits 0 or 1.
 */
#include <stdio.h>
#include <stdint.h>

#include "model.h"

static FILE *trace_file = NULL;
static int trace_failed = 0;

void pqk_before_op(int index)
{
    (void)index;
}

void pqk_after_op(int index, const int8_t *data, size_t bytes)
{
    uint32_t header[2];
    if (trace_file == NULL) {
        return;
    }
    header[0] = (uint32_t)index;
    header[1] = (uint32_t)bytes;
    if (fwrite(header, sizeof header, 1, trace_file) != 1 || fwrite(data, 1, bytes, trace_file) != bytes) {
        trace_failed = 1;
    }
}

static int fail(const char *reason)
{
    printf("PQK_RESULT fail %s\n", reason);
    return 1;
}

int main(int argc, char **argv)
{
    static int8_t input[PQK_MODEL_INPUT_SIZE];
    static int8_t output[PQK_MODEL_OUTPUT_SIZE];
    FILE *input_file;
    FILE *output_file;
    size_t got;
    int status = 0;
    if (argc != 3 && argc != 4) {
        return fail("usage: pqk_host_harness INPUT_FILE OUTPUT_FILE [TRACE_FILE]");
    }
    input_file = fopen(argv[1], "rb");
    if (input_file == NULL) {
        return fail("cannot open the input file");
    }
    output_file = fopen(argv[2], "wb");
    if (output_file == NULL) {
        fclose(input_file);
        return fail("cannot create the output file");
    }
    if (argc == 4) {
        trace_file = fopen(argv[3], "wb");
        if (trace_file == NULL) {
            fclose(input_file);
            fclose(output_file);
            return fail("cannot create the trace file");
        }
    }
    while ((got = fread(input, 1, sizeof input, input_file)) == sizeof input) {
#ifdef PQK_MODEL_HAS_STATE
        pqk_model_reset();
#endif
        if (pqk_model_invoke(input, output) != 0) {
            status = fail("pqk_model_invoke returned an error");
            break;
        }
        if (fwrite(output, 1, sizeof output, output_file) != sizeof output) {
            status = fail("cannot write the output file");
            break;
        }
    }
    if (status == 0 && got != 0) {
        status = fail("the input file is not a whole number of samples");
    }
    if (status == 0 && trace_failed) {
        status = fail("cannot write the trace file");
    }
    fclose(input_file);
    if (fclose(output_file) != 0 && status == 0) {
        status = fail("cannot write the output file");
    }
    if (trace_file != NULL && fclose(trace_file) != 0 && status == 0) {
        status = fail("cannot write the trace file");
    }
    if (status == 0) {
        printf("PQK_RESULT ok\n");
    }
    return status;
}
