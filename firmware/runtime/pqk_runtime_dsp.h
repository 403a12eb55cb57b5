/* Prototypes of the DSP-extension kernel variants (*_dsp.c; pqk_dsp.h has their helpers).
 *
 * Each takes the portable kernel's arguments (plus, where it has a _buffer_size(), a scratch area of
 * that many bytes, 4-byte aligned, planned in the arena by pqk_mcu.codegen) and returns the same
 * bytes as the portable kernel. pqk_mcu.codegen.cost_model picks one for a layer only on boards with the DSP
 * extension and only when the layer meets the kernel's conditions (see each file).
 */
#ifndef PQK_RUNTIME_DSP_H
#define PQK_RUNTIME_DSP_H

#include "pqk_runtime.h"

int32_t pqk_conv2d_s8_dsp_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_dsp(const pqk_conv2d_s8_params_t *params, const int8_t *weights, const int8_t *input,
                       int8_t *output, int8_t *scratch);
int32_t pqk_conv2d_s8_csr_dsp_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_csr_dsp(const pqk_conv2d_s8_params_t *params, const pqk_packed_csr_s8_t *weights, const int8_t *input,
                           int8_t *output, int8_t *scratch);
/* Weights: one uint32 stream per layer, each channel's twice folded bias, nonzero entries (any row
 * length up to 2^15 columns) and requantization (see the file; pqk_mcu/codegen/weights.py WideCsr);
 * the params' requant arrays are then NULL. */
int32_t pqk_conv2d_s8_csr_wide_dsp_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_csr_wide_dsp(const pqk_conv2d_s8_params_t *params, const uint32_t *weights, const int8_t *input,
                                int8_t *output, int8_t *scratch);
/* Weights: pqk_conv2d_s8_csr_wide_dsp's stream (few input channels, filters beyond 1x1; see the file). */
int32_t pqk_conv2d_s8_csr_taps_dsp_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_csr_taps_dsp(const pqk_conv2d_s8_params_t *params, const uint32_t *weights, const int8_t *input,
                                int8_t *output, int8_t *scratch);
int32_t pqk_depthwise_conv2d_s8_dsp_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params);
/* Weights widened to int16 pairs in groups of four channels (see the file). */
void pqk_depthwise_conv2d_s8_dsp(const pqk_depthwise_conv2d_s8_params_t *params, const int32_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch);
int32_t pqk_depthwise_conv2d_s8_csr_dsp_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params);
void pqk_depthwise_conv2d_s8_csr_dsp(const pqk_depthwise_conv2d_s8_params_t *params, const pqk_packed_csr_s8_t *weights,
                                     const int8_t *input, int8_t *output, int8_t *scratch);
/* Weights in row quads (see the file). */
int32_t pqk_fully_connected_s8_dsp_buffer_size(const pqk_fully_connected_s8_params_t *params);
void pqk_fully_connected_s8_dsp(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                                const int8_t *input, int8_t *output, int8_t *scratch);
/* At most 16 input features; weights: per output feature a record of its doubled bias and doubled int16
 * weights (see the file); no scratch; requant.bias unused. */
void pqk_fully_connected_s8_narrow_dsp(const pqk_fully_connected_s8_params_t *params, const uint32_t *weights,
                                       const int8_t *input, int8_t *output);
/* Plain CSR weights (pqk_csr_s8_t); no scratch. */
void pqk_fully_connected_s8_csr_dsp(const pqk_fully_connected_s8_params_t *params, const pqk_csr_s8_t *weights,
                                    const int8_t *input, int8_t *output);
/* Column pairs and singles in one uint32 stream; scratch: one input row widened to int16. */
int32_t pqk_fully_connected_s8_csr_pairs_dsp_buffer_size(const pqk_fully_connected_s8_params_t *params);
void pqk_fully_connected_s8_csr_pairs_dsp(const pqk_fully_connected_s8_params_t *params, const uint32_t *weights,
                                          const int8_t *input, int8_t *output, int8_t *scratch);
/* Weight matrices in row quads of their rows unit by unit (see the file); no scratch. */
void pqk_lstm_s8_dsp(const pqk_lstm_s8_params_t *params, const int8_t *input, int8_t *hidden_state,
                     int16_t *cell_state, int8_t *output);
/* Channels a multiple of 4, at most 256 taps per window; no scratch. */
void pqk_avg_pool2d_s8_dsp(const pqk_pool2d_s8_params_t *params, const int8_t *input, int8_t *output);

#endif /* PQK_RUNTIME_DSP_H */
