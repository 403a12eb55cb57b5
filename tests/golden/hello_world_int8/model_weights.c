/* generated — do not edit
 * pqk-mcu 0.1.0, model sha256 07606aa9defb18c9139ca33662cfeeb13d97a9d77d1f432de945424bc7cc7ef5
 *
 * Constant data: weights (288 B), sparse indices (0 B),
 * requantization parameters (147 B), tables (0 B), and one parameter
 * block per op.
 */
#include <stddef.h>
#include <stdint.h>

#include "pqk_runtime.h"

const int8_t pqk_op0_weights[16] = {
    -9, -54, 57, 71, 104, 115, 98, 99, 64, -26, 127, 25, -82, 68, 95, 86,
};

static const int32_t pqk_op0_bias[16] = {
    -1152, -6912, 1858, 3573, 11960, 13220, 8392, 12588, 11588, -3328, 18237, -2381, -10496, 1740, 15567, 3791,
};

static const int32_t pqk_op0_multiplier[1] = {
    2039655759,
};

static const int8_t pqk_op0_shift[1] = {
    -7,
};

const int8_t pqk_op1_weights[256] = {
    -12, 26, -19, 9, 25, 33, -12, 36, -32, 33, -17, -68, -9, -11, -6, 25,
    3, -36, -46, 2, 6, -7, -12, 2, -1, -6, -17, -15, -17, -45, 39, -31,
    -5, 39, -35, -21, -37, -28, 5, 26, 23, -4, 36, 18, 21, -17, 30, -28,
    16, -2, 20, -38, 28, -8, -13, -15, -17, -30, -13, 9, -29, -23, -19, -29,
    -28, 21, 7, 11, 4, 27, 26, -2, -21, 1, -34, 33, -26, 11, -20, 3,
    35, 10, 34, 36, 30, 39, 3, -26, 3, 36, -1, -64, 17, -8, -4, -15,
    17, 12, -11, -32, -13, 7, 23, -27, -24, -19, -6, -36, -24, 35, -5, 7,
    -35, -5, -3, 0, 20, 38, 17, 23, -25, -15, 17, -22, 2, 38, 4, 4,
    37, 33, 29, 10, -37, 29, -36, 32, 1, -6, -29, 55, 11, -15, 26, 22,
    -17, 28, -25, 3, -32, 22, 2, 3, 33, 24, 9, 46, -39, -27, 20, 11,
    -22, 26, -4, -40, 19, 0, -60, -40, -20, -39, -2, 13, 25, 32, -40, -42,
    -30, 31, -23, -41, -54, -30, -35, -58, 19, -25, 4, 62, 0, 1, 20, -57,
    -37, -25, 21, 21, -11, 6, -42, 26, -36, 9, 34, -2, 8, 2, 19, -17,
    25, 30, -30, 9, -3, -13, 20, -35, -38, 32, -39, 15, -29, -7, -9, -18,
    -23, 36, -26, 41, 0, 7, 22, -30, 30, 13, 35, -45, -35, -9, 20, -6,
    8, 34, 38, 33, 9, 8, 15, 11, -32, 18, -12, 127, -36, 88, -27, 38,
};

static const int32_t pqk_op1_bias[16] = {
    -601, -21214, 3554, -20864, 1905, 15529, -12323, 6557, 21307, 8389, -20572, -23705, -2481, -11520, 2951, 35857,
};

static const int32_t pqk_op1_multiplier[1] = {
    1561796740,
};

static const int8_t pqk_op1_shift[1] = {
    -6,
};

const int8_t pqk_op2_weights[16] = {
    -39, 59, 39, 21, 28, -32, -34, -35, 15, 27, -59, -41, 18, -35, -7, 127,
};

static const int32_t pqk_op2_bias[1] = {
    7085,
};

static const int32_t pqk_op2_multiplier[1] = {
    1630361784,
};

static const int8_t pqk_op2_shift[1] = {
    -5,
};

const pqk_fully_connected_s8_params_t pqk_op0_params = {
    .batches = 1,
    .input_features = 1,
    .output_features = 16,
    .per_channel = 0,
    .requant.bias = pqk_op0_bias,
    .requant.multiplier = pqk_op0_multiplier,
    .requant.shift = pqk_op0_shift,
    .requant.output_zero_point = -128,
    .requant.activation_min = -128,
    .requant.activation_max = 127,
};

const pqk_fully_connected_s8_params_t pqk_op1_params = {
    .batches = 1,
    .input_features = 16,
    .output_features = 16,
    .per_channel = 0,
    .requant.bias = pqk_op1_bias,
    .requant.multiplier = pqk_op1_multiplier,
    .requant.shift = pqk_op1_shift,
    .requant.output_zero_point = -128,
    .requant.activation_min = -128,
    .requant.activation_max = 127,
};

const pqk_fully_connected_s8_params_t pqk_op2_params = {
    .batches = 1,
    .input_features = 16,
    .output_features = 1,
    .per_channel = 0,
    .requant.bias = pqk_op2_bias,
    .requant.multiplier = pqk_op2_multiplier,
    .requant.shift = pqk_op2_shift,
    .requant.output_zero_point = 5,
    .requant.activation_min = -128,
    .requant.activation_max = 127,
};

