/* generated — do not edit
 * pqk-mcu 0.1.0, model sha256 07606aa9defb18c9139ca33662cfeeb13d97a9d77d1f432de945424bc7cc7ef5
 *
 * Op sequence of the model; tensors live in input, output or one static arena of
 * PQK_MODEL_ARENA_SIZE bytes (offsets planned at compile time from tensor lifetimes).
 */
#include <string.h>

#include "model.h"
#include "pqk_runtime.h"

extern const pqk_fully_connected_s8_params_t pqk_op0_params;
extern const int8_t pqk_op0_weights[];
extern const pqk_fully_connected_s8_params_t pqk_op1_params;
extern const int8_t pqk_op1_weights[];
extern const pqk_fully_connected_s8_params_t pqk_op2_params;
extern const int8_t pqk_op2_weights[];

/* int32_t words keep the arena word-aligned. */
static int32_t pqk_arena_words[8];

int pqk_model_invoke(const int8_t *input, int8_t *output)
{
#ifdef PQK_DEBUG
    /* Debug builds check the caller's side of the contract in model.h. */
    if (input == NULL || output == NULL) {
        return PQK_MODEL_ERROR_NULL;
    }
    if ((uintptr_t)input < (uintptr_t)output + PQK_MODEL_OUTPUT_SIZE &&
        (uintptr_t)output < (uintptr_t)input + PQK_MODEL_INPUT_SIZE) {
        return PQK_MODEL_ERROR_OVERLAP;
    }
#endif
    int8_t *const arena = (int8_t *)pqk_arena_words;
    (void)arena;

    /* op 0: FULLY_CONNECTED fully_connected_0 -> 'sequential/dense/MatMul;sequential/dense/Relu;sequential/dense/BiasAdd', dense 0.0% sparse */
    PQK_BEFORE_OP(0);
    pqk_fully_connected_s8(&pqk_op0_params, pqk_op0_weights, input + 0, arena + 0);
    PQK_AFTER_OP(0, arena + 0, 16u);

    /* op 1: FULLY_CONNECTED fully_connected_1 -> 'sequential/dense_1/MatMul;sequential/dense_1/Relu;sequential/dense_1/BiasAdd', dense 1.6% sparse */
    PQK_BEFORE_OP(1);
    pqk_fully_connected_s8(&pqk_op1_params, pqk_op1_weights, arena + 0, arena + 16);
    PQK_AFTER_OP(1, arena + 16, 16u);

    /* op 2: FULLY_CONNECTED fully_connected_2 -> 'StatefulPartitionedCall:0', dense 0.0% sparse */
    PQK_BEFORE_OP(2);
    pqk_fully_connected_s8(&pqk_op2_params, pqk_op2_weights, arena + 16, output + 0);
    PQK_AFTER_OP(2, output + 0, 1u);
    return 0;
}
