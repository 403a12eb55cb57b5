/* generated — do not edit
 * pqk-mcu 0.1.0, model sha256 07606aa9defb18c9139ca33662cfeeb13d97a9d77d1f432de945424bc7cc7ef5
 *
 * int8 model API: pqk_model_invoke() reads PQK_MODEL_INPUT_SIZE bytes from input (graph inputs
 * concatenated in order) and writes PQK_MODEL_OUTPUT_SIZE bytes to output; returns 0 on success.
 */
#ifndef PQK_MODEL_H
#define PQK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define PQK_MODEL_INPUT_SIZE 1
#define PQK_MODEL_OUTPUT_SIZE 1
#define PQK_MODEL_ARENA_SIZE 32
#define PQK_MODEL_INPUT_SCALE 0.0244801156f
#define PQK_MODEL_INPUT_ZERO_POINT (-128)
#define PQK_MODEL_OUTPUT_SCALE 0.00829095673f
#define PQK_MODEL_OUTPUT_ZERO_POINT (5)
#define PQK_MODEL_NUM_OPS 3

/* Return codes of pqk_model_invoke. The errors are checked only in builds with PQK_DEBUG defined:
 * input and output must both be given and must not overlap. */
#define PQK_MODEL_OK 0
#define PQK_MODEL_ERROR_NULL 1
#define PQK_MODEL_ERROR_OVERLAP 2

#ifdef PQK_HOOKS
/* Provided by the application: called around every op (layer-by-layer traces, per-layer counts). */
void pqk_before_op(int index);
void pqk_after_op(int index, const int8_t *data, size_t bytes);
#define PQK_BEFORE_OP(index) pqk_before_op(index)
#define PQK_AFTER_OP(index, data, bytes) pqk_after_op((index), (data), (bytes))
#else
#define PQK_BEFORE_OP(index) ((void)0)
#define PQK_AFTER_OP(index, data, bytes) ((void)0)
#endif

int pqk_model_invoke(const int8_t *input, int8_t *output);

#endif /* PQK_MODEL_H */
