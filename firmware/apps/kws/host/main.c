/*
 * KWS app on the host (pqk-mcu kws run --board host): the same engine (kws_engine.c) and front-end,
 * built with the host gcc. Usage: kws INPUT OUTPUT, INPUT as for the Cortex-M app (main.c); lines go
 * to stdout and OUTPUT; ends with "PQK_RESULT ok stack=0" (no stack painting on the host).
 */
#include <stdio.h>

#include "kws.h"
#include "pqk_platform.h"

static FILE *output_file;

void pqk_bench_begin(void)
{
}

void pqk_bench_end(void)
{
}

void pqk_before_op(int index)
{
    (void)index;
}

void pqk_after_op(int index, const int8_t *data, size_t bytes)
{
    (void)index;
    (void)data;
    (void)bytes;
}

void kws_emit(const char *line)
{
    printf("%s\n", line);
    fprintf(output_file, "%s\n", line);
}

static int fail(const char *reason)
{
    printf("PQK_RESULT fail %s\n", reason);
    return 1;
}

int main(int argc, char **argv)
{
    static int16_t block[KWS_BLOCK_SAMPLES];
    if (argc != 3) {
        return fail("usage: kws INPUT OUTPUT");
    }
    FILE *input = fopen(argv[1], "rb");
    if (input == NULL || fseek(input, 0, SEEK_END) != 0) {
        return fail("cannot open input file");
    }
    const long length = ftell(input);
    rewind(input);
    if (length < 0 || length % (long)sizeof(int16_t) != 0 ||
        kws_start((uint32_t)length / (uint32_t)sizeof(int16_t)) != 0) {
        return fail("input must hold at least 1 s of int16 samples in whole 10 ms blocks");
    }
    output_file = fopen(argv[2], "w");
    if (output_file == NULL) {
        return fail("cannot open output file");
    }
    long blocks = length / (long)sizeof block;
    for (; blocks > 0; --blocks) {
        if (fread(block, sizeof block, 1, input) != 1) {
            return fail("cannot read input file");
        }
        if (kws_push_block(block) != 0) {
            return fail("pqk_model_invoke returned an error");
        }
    }
    fclose(input);
    if (fclose(output_file) != 0) {
        return fail("cannot write output file");
    }
    printf("PQK_RESULT ok stack=0\n");
    return 0;
}
