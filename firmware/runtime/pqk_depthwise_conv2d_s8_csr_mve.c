/* pqk_depthwise_conv2d_s8_csr_mve: int8 DEPTHWISE_CONV_2D, any depth multiplier, sparse weights
 * gathered by Helium (MVE).
 *
 * input   [batches][input_h][input_w][input_c]             int8
 * weights pqk_gather_taps_s8_t of the [output_c][filter_h * filter_w] matrix
 *         (pqk_mcu.codegen.weights.encode_gather_taps: per output channel oc its nonzero taps, each as
 *         the byte offset of its input from the window's origin, input channel oc / depth_multiplier
 *         included, and its weight; input rows pqk_mve_band_w() columns apart where windows pad,
 *         else input_w)
 * output  [batches][output_h][output_w][output_c]           int8 in [activation_min, activation_max]
 * scratch pqk_depthwise_conv2d_s8_csr_mve_buffer_size() bytes.
 * Same bytes as pqk_depthwise_conv2d_s8, for any geometry and requantization.
 *
 * A depthwise convolution is a convolution whose rows have their nonzeros in one input channel; with the
 * offsets naming that channel, pqk_mve.h's pqk_mve_gather_conv() runs it as pqk_conv2d_s8_csr_mve does,
 * four output pixels at a time, but with the pixels in the lanes: a channel's few taps cost one
 * VLDRB.S32 gather (the four pixels' inputs) and one VMLA each, a pruned tap nothing, a channel
 * without taps only its requantization.
 */
#include "pqk_mve.h"

int32_t pqk_depthwise_conv2d_s8_csr_mve_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params)
{
    return pqk_mve_gather_buffer_size(&params->window);
}

#if PQK_HAVE_MVE

void pqk_depthwise_conv2d_s8_csr_mve(const pqk_depthwise_conv2d_s8_params_t *params,
                                     const pqk_gather_taps_s8_t *weights, const int8_t *input, int8_t *output,
                                     int8_t *scratch)
{
    pqk_mve_gather_conv(&params->window, params->input_zero_point, &params->requant, weights->taps,
                        weights->row_taps, 1, input, output, scratch);
}

#endif /* PQK_HAVE_MVE */
