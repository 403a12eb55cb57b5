/* pqk_conv2d_s8_csr_mve: int8 CONV_2D, sparse weights gathered by Helium (MVE).
 *
 * input   [batches][input_h][input_w][input_c]     int8
 * weights pqk_gather_csr_s8_t of the [output_c][filter_h * filter_w * input_c] matrix
 *         (pqk_mcu.codegen.weights.encode_gather: per output channel its nonzeros in chunks of eight,
 *         each nonzero as the byte offset of its input from the window's origin and its weight; input
 *         rows pqk_mve_band_w() columns apart where windows pad, else input_w)
 * output  [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_csr_mve_buffer_size() bytes.
 * Same bytes as pqk_conv2d_s8, for any geometry and requantization (pqk_mve.h's exact vector form).
 *
 * Four output pixels at a time (pqk_mve.h pqk_mve_gather_conv()): one VLDRB.S16 gather per chunk and
 * pixel reads the chunk's eight inputs straight from the input (where windows pad, from a zero-point-
 * padded copy of the output row's input rows), one VMLADAVA.S16 multiplies them with the chunk's
 * weights; the sums are requantized four channels x one pixel per vector. No im2col copy, and nothing
 * for the pruned weights. A 1x1 stride-1 convolution with output_c == input_c may run in place
 * (output == input).
 */
#include "pqk_mve.h"

int32_t pqk_conv2d_s8_csr_mve_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    return pqk_mve_gather_buffer_size(&params->window);
}

#if PQK_HAVE_MVE

void pqk_conv2d_s8_csr_mve(const pqk_conv2d_s8_params_t *params, const pqk_gather_csr_s8_t *weights,
                           const int8_t *input, int8_t *output, int8_t *scratch)
{
    pqk_mve_gather_conv(&params->window, params->input_zero_point, &params->requant, weights->chunks,
                        weights->row_chunks, 0, input, output, scratch);
}

#endif /* PQK_HAVE_MVE */
