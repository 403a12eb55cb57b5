/* Prototypes of the Helium (MVE) kernel variants (*_mve.c; pqk_mve.h has their helpers).
 *
 * Each takes the portable kernel's arguments (the weights in the layout its file describes) plus a
 * scratch area of its _buffer_size() bytes, 4-byte aligned, planned in the arena by pqk_mcu.codegen,
 * and returns the same bytes as the portable kernel. The files compile to nothing without MVE;
 * pqk_mcu.codegen.cost_model picks them only on boards with has_mve.
 */
#ifndef PQK_RUNTIME_MVE_H
#define PQK_RUNTIME_MVE_H

#include "pqk_runtime.h"

int32_t pqk_conv2d_s8_mve_buffer_size(const pqk_conv2d_s8_params_t *params);
void pqk_conv2d_s8_mve(const pqk_conv2d_s8_params_t *params, const int8_t *weights, const int8_t *input,
                       int8_t *output, int8_t *scratch);
int32_t pqk_depthwise_conv2d_s8_mve_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params);
void pqk_depthwise_conv2d_s8_mve(const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch);
int32_t pqk_fully_connected_s8_mve_buffer_size(const pqk_fully_connected_s8_params_t *params);
void pqk_fully_connected_s8_mve(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                                const int8_t *input, int8_t *output, int8_t *scratch);

#endif /* PQK_RUNTIME_MVE_H */
