/* Prototypes of the kernel variants for cores without the DSP extension (*_smlal.c, *_mla.c;
 * pqk_mla.h has their helpers).
 *
 * Each returns the same bytes as the portable kernel and takes its arguments, with weights in the
 * layout its file gives and, where it has a _buffer_size(), a scratch area of that many bytes, 4-byte
 * aligned, planned in the arena by pqk_mcu.codegen. pqk_mcu.codegen.cost_model offers them on cores
 * without the DSP extension, for layers that meet each kernel's conditions (see each file).
 */
#ifndef PQK_RUNTIME_MLA_H
#define PQK_RUNTIME_MLA_H

#include "pqk_runtime.h"

int32_t pqk_conv2d_s8_smlal_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_smlal(const pqk_conv2d_s8_params_t *params, const int32_t *weights, const int8_t *input,
                         int8_t *output, int8_t *scratch);
/* Weights: pqk_conv2d_s8_csr_wide_dsp's stream (rows whose pixel-pair lanes separate; see the file). */
int32_t pqk_conv2d_s8_csr_wide_smlal_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_csr_wide_smlal(const pqk_conv2d_s8_params_t *params, const uint32_t *weights, const int8_t *input,
                                  int8_t *output, int8_t *scratch);
int32_t pqk_depthwise_conv2d_s8_mla_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params);
void pqk_depthwise_conv2d_s8_mla(const pqk_depthwise_conv2d_s8_params_t *params, const int32_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch);

#endif /* PQK_RUNTIME_MLA_H */
