/* Prototypes of the Helium (MVE) kernel variants (*_mve.c; pqk_mve.h has their helpers).
 *
 * Each takes the portable kernel's arguments (the weights in the layout its file describes) plus a
 * scratch area of its _buffer_size() bytes, 4-byte aligned, planned in the arena by pqk_mcu.codegen,
 * and returns the same bytes as the portable kernel. Without MVE the files compile to their
 * _buffer_size() only; pqk_mcu.codegen.cost_model picks them only on boards with has_mve.
 */
#ifndef PQK_RUNTIME_MVE_H
#define PQK_RUNTIME_MVE_H

#include "pqk_runtime.h"

/* Sparse weights of pqk_conv2d_s8_csr_mve (pqk_mcu.codegen.weights.GatherCsr): each output channel's
 * nonzeros in chunks of 8, a chunk being 8 uint16 byte offsets from the window's origin in the input
 * (((fy * dilation_h * row_w + fx * dilation_w) * input_c + input channel), row_w = input_w, or
 * pqk_mve_band_w() where windows pad) then its 8 int8 weights (4 uint16), a short last chunk padded
 * with zero weights at offset 0; row_chunks: per output channel its number of chunks (0 to 254). */
typedef struct {
    const uint16_t *chunks;
    const uint8_t *row_chunks;
} pqk_gather_csr_s8_t;

/* Sparse weights of pqk_depthwise_conv2d_s8_csr_mve and pqk_conv2d_s8_csr_taps_mve
 * (pqk_mcu.codegen.weights.GatherTaps): per output channel its nonzero taps, each two int32, the byte
 * offset of its input from the window's origin ((fy * dilation_h * row_w + fx * dilation_w) * input_c +
 * input channel, row_w as for pqk_gather_csr_s8_t) and its weight; row_taps: per output channel its
 * number of taps. */
typedef struct {
    const int32_t *taps;
    const uint8_t *row_taps;
} pqk_gather_taps_s8_t;

/* Sparse weights of pqk_fully_connected_s8_csr_mve (pqk_mcu.codegen.weights.GatherRows): output
 * features in groups of four (the last group padded with empty rows), each group as chunks of one
 * little-endian int32 byte offset into the input row (a panel of 256 features) and then, per row of the
 * group, 16 uint8 offsets from it and the 16 int8 weights; a row with fewer nonzeros in the panel than
 * the group's chunks pads with zero weights at offset 0. group_chunks: per group its chunks minus one
 * (every group has at least one). */
typedef struct {
    const uint32_t *chunks;
    const uint8_t *group_chunks;
} pqk_gather_rows_s8_t;

int32_t pqk_conv2d_s8_mve_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_mve(const pqk_conv2d_s8_params_t *params, const int8_t *weights, const int8_t *input,
                       int8_t *output, int8_t *scratch);
int32_t pqk_depthwise_conv2d_s8_mve_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params);
void pqk_depthwise_conv2d_s8_mve(const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch);
int32_t pqk_fully_connected_s8_mve_buffer_size(const pqk_fully_connected_s8_params_t *params);
void pqk_fully_connected_s8_mve(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                                const int8_t *input, int8_t *output, int8_t *scratch);

int32_t pqk_conv2d_s8_csr_mve_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_csr_mve(const pqk_conv2d_s8_params_t *params, const pqk_gather_csr_s8_t *weights,
                           const int8_t *input, int8_t *output, int8_t *scratch);
int32_t pqk_depthwise_conv2d_s8_csr_mve_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params);
void pqk_depthwise_conv2d_s8_csr_mve(const pqk_depthwise_conv2d_s8_params_t *params,
                                     const pqk_gather_taps_s8_t *weights, const int8_t *input, int8_t *output,
                                     int8_t *scratch);
int32_t pqk_conv2d_s8_csr_taps_mve_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_csr_taps_mve(const pqk_conv2d_s8_params_t *params, const pqk_gather_taps_s8_t *weights,
                                const int8_t *input, int8_t *output, int8_t *scratch);
int32_t pqk_fully_connected_s8_csr_mve_buffer_size(const pqk_fully_connected_s8_params_t *params);
void pqk_fully_connected_s8_csr_mve(const pqk_fully_connected_s8_params_t *params,
                                    const pqk_gather_rows_s8_t *weights, const int8_t *input, int8_t *output,
                                    int8_t *scratch);

#endif /* PQK_RUNTIME_MVE_H */
