/* pqk_fully_connected_s8_mve: int8 FULLY_CONNECTED, dense weights in row chunks, Helium (MVE).
 *
 * input   [batches][input_features]                 int8
 * weights row chunks of the [output_features][input_features] matrix (see pqk_conv2d_s8_mve.c,
 *         pqk_mcu.codegen.weights.encode_row_chunks)
 * output  [batches][output_features]                int8 in [activation_min, activation_max]
 * scratch pqk_fully_connected_s8_mve_buffer_size() bytes.
 * acc = folded bias + sum(w * x); requantized per output feature (or once per layer, per_channel 0)
 * with pqk_mve.h's exact vector form. Same bytes as pqk_fully_connected_s8.
 *
 * Two batches at a time (one for the last of an odd count): their rows are copied into scratch
 * interleaved by 16-byte chunks (the last chunk zero-filled: nothing past a row is read), and
 * pqk_mve_rows_x_pixels() runs three output features per pass with VMLADAVA.S8 (16 MACs per
 * instruction), then requantizes four at a time. A single batch whose row is whole chunks is read
 * where it is, and its scratch holds one pixel's sums only. A tiny single batch (at most
 * STACK_OUTPUTS outputs, its row whole chunks or at most STACK_ROW_BYTES) keeps its sums and row on
 * the stack (at most 164 bytes) and takes no scratch (NULL): there the scratch would set the arena.
 */
#include "pqk_mve.h"

#define BATCHES 2
#define STACK_OUTPUTS 32 /* pqk_mcu.codegen.cost_model.MVE_FULLY_CONNECTED_STACK_OUTPUTS */
#define STACK_ROW_BYTES 32 /* pqk_mcu.codegen.cost_model.MVE_FULLY_CONNECTED_STACK_ROW */
#define STACK_SUMS ((STACK_OUTPUTS + PQK_MVE_ROWS - 1) / PQK_MVE_ROWS * PQK_MVE_ROWS)

/* Whether the layer's sums and row fit on the stack. */
static int on_stack(const pqk_fully_connected_s8_params_t *params)
{
    const int32_t row_bytes = (params->input_features + 15) & ~15;
    return params->batches == 1 && params->output_features <= STACK_OUTPUTS &&
           (row_bytes == params->input_features || row_bytes <= STACK_ROW_BYTES);
}

/* The block of two batches' rows (rounded up to 16 bytes) and their sums; for a single batch its row
 * (none when it is whole chunks) and its sums, nothing when they are on the stack. */
int32_t pqk_fully_connected_s8_mve_buffer_size(const pqk_fully_connected_s8_params_t *params)
{
    const int32_t row_bytes = (params->input_features + 15) & ~15;
    if (on_stack(params)) {
        return 0;
    }
    if (params->batches == 1) {
        return (row_bytes == params->input_features ? 0 : row_bytes) + pqk_mve_sums_bytes(params->output_features) / 2;
    }
    return BATCHES * row_bytes + pqk_mve_sums_bytes(params->output_features);
}

#if PQK_HAVE_MVE

void pqk_fully_connected_s8_mve(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                                const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t features = params->input_features, outputs = params->output_features;
    const int32_t row_bytes = (features + 15) & ~15;
    int32_t *const sums = (int32_t *)(void *)(scratch + BATCHES * row_bytes);
    int32_t first, lane;
    if (params->batches == 1) {
        int32_t stack_sums[STACK_SUMS];
        int8_t stack_row[STACK_ROW_BYTES];
        const int stack = scratch == NULL; /* the buffer size is 0 (on_stack()) */
        const int8_t *block = input;
        if (row_bytes != features) {
            int8_t *const row = stack ? stack_row : scratch;
            pqk_mve_interleave_row(input, features, row, 16);
            block = row;
        }
        pqk_mve_rows_x_pixels(&params->requant, weights, params->per_channel, outputs, row_bytes >> 4, block, 1,
                              output, outputs,
                              stack ? stack_sums
                                    : (int32_t *)(void *)(block == input ? scratch : scratch + row_bytes));
        return;
    }
    for (first = 0; first < params->batches; first += BATCHES) {
        const int32_t count = params->batches - first < BATCHES ? params->batches - first : BATCHES;
        for (lane = 0; lane < count; ++lane) {
            pqk_mve_interleave_row(input + (first + lane) * features, features, scratch + 16 * lane, 16 * count);
        }
        pqk_mve_rows_x_pixels(&params->requant, weights, params->per_channel, outputs, row_bytes >> 4, scratch,
                              count, output + first * outputs, outputs, sums);
    }
}

#endif /* PQK_HAVE_MVE */
