/* pqk_conv2d_s8_csr_taps_mve: int8 CONV_2D, sparse weights gathered by Helium (MVE) one nonzero at a time.
 *
 * input   [batches][input_h][input_w][input_c]     int8
 * weights pqk_gather_taps_s8_t of the [output_c][filter_h * filter_w * input_c] matrix
 *         (pqk_mcu.codegen.weights.encode_gather_taps: per output channel its nonzeros, each as the byte
 *         offset of its input from the window's origin and its weight; input rows pqk_mve_band_w()
 *         columns apart where windows pad, else input_w)
 * output  [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_csr_taps_mve_buffer_size() bytes.
 * Same bytes as pqk_conv2d_s8, for any geometry and requantization (pqk_mve.h's exact vector form).
 *
 * pqk_conv2d_s8_csr_mve for rows with few nonzeros: the same four-pixel blocks (pqk_mve.h
 * pqk_mve_gather_conv()), but with the pixels in the lanes, as pqk_depthwise_conv2d_s8_csr_mve: a
 * nonzero costs one VLDRB.S32 gather (the four pixels' inputs) and one VMLA, where a chunk of eight
 * costs ten instructions however few of its lanes hold nonzeros. A 1x1 stride-1 convolution with
 * output_c == input_c may run in place (output == input).
 */
#include "pqk_mve.h"

int32_t pqk_conv2d_s8_csr_taps_mve_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    return pqk_mve_gather_buffer_size(&params->window);
}

#if PQK_HAVE_MVE

void pqk_conv2d_s8_csr_taps_mve(const pqk_conv2d_s8_params_t *params, const pqk_gather_taps_s8_t *weights,
                                const int8_t *input, int8_t *output, int8_t *scratch)
{
    pqk_mve_gather_conv(&params->window, params->input_zero_point, &params->requant, weights->taps,
                        weights->row_taps, 1, input, output, scratch);
}

#endif /* PQK_HAVE_MVE */
