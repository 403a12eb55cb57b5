/* pqk_add_s8_lut: int8 ADD with 4-D broadcasting by table lookup (TFLite int8 semantics).
 *
 * input1, input2 int8 read through params->shape strides; output [d0][d1][d2][d3] int8 in
 * [activation_min, activation_max].
 * TFLite rescales each input on its own before the sum, so that value depends on the int8 input
 * alone: input<k>_table[x + 128] is twice the rescaled value of x (|value| < 2^29), computed at compile
 * time by pqk_mcu.codegen. An element is then two table loads, an add and one requantization of the
 * sum: pqk_dsp.h's fast form where fast_requantize says its bounds hold (checked at compile time),
 * else the exact pqk_requantize() of the halved sum. Works on every core (pqk_dsp.h has plain-C
 * fallbacks). The shape comes collapsed from the compiler (an ADD without broadcasting is one row);
 * rows where both inputs advance run four elements per iteration.
 */
#include "pqk_dsp.h"
#include "pqk_requantize.h"
#include "pqk_runtime.h"

/* Mode bit beside pqk_dsp.h's PQK_FAST_*: requantize with the exact pqk_requantize(). */
enum { EXACT_REQUANTIZE = 8 };

typedef struct {
    const int32_t *table1, *table2; /* indexed by the int8 value itself, -128..127 */
    pqk_fast_requant_t fast;
    int32_t multiplier, shift, zero_point, activation_min, activation_max;
} add_t;

static inline __attribute__((always_inline)) int8_t add_one(const add_t *k, int8_t x1, int8_t x2, int mode)
{
    const int32_t twice_sum = k->table1[x1] + k->table2[x2];
    if (mode & EXACT_REQUANTIZE) {
        /* the tables hold even values: the halving is exact */
        const int32_t value = pqk_requantize(twice_sum >> 1, k->multiplier, k->shift) + k->zero_point;
        return pqk_clamp_s8(value, k->activation_min, k->activation_max);
    }
    return pqk_fast_clamp(pqk_fast_requantize_doubled(twice_sum, &k->fast, mode), mode, k->activation_min,
                          k->activation_max);
}

/* One row of n outputs, input k at step_k (1, or 0 where it repeats); where both inputs advance, four
 * elements per iteration (the loop test costs as much as an add). */
static inline __attribute__((always_inline)) void add_row(const add_t *k, const int8_t *a, int32_t step1,
                                                          const int8_t *b, int32_t step2, int8_t *out, int32_t n,
                                                          int mode)
{
    int32_t i = 0;
    if (!(mode & EXACT_REQUANTIZE) && step1 == 1 && step2 == 1) {
        for (; i + 4 <= n; i += 4) {
            out[i] = add_one(k, a[i], b[i], mode);
            out[i + 1] = add_one(k, a[i + 1], b[i + 1], mode);
            out[i + 2] = add_one(k, a[i + 2], b[i + 2], mode);
            out[i + 3] = add_one(k, a[i + 3], b[i + 3], mode);
        }
    }
    for (; i < n; ++i) {
        out[i] = add_one(k, a[i * step1], b[i * step2], mode);
    }
}

void pqk_add_s8_lut(const pqk_add_s8_lut_params_t *params, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    /* a copy: the byte stores could alias *params as far as the compiler knows */
    const pqk_broadcast_t shape = params->shape;
    const int32_t n = shape.output_shape[3], step1 = shape.input1_strides[3], step2 = shape.input2_strides[3];
    const int mode = params->fast_requantize
                         ? pqk_fast_mode_of(params->output_zero_point, params->activation_min, params->activation_max)
                         : EXACT_REQUANTIZE;
    const pqk_fast_requant_t unused_fast = {0, 1, 0, 0, 0};
    add_t k;
    int32_t i0, i1, i2;
    k.table1 = params->input1_table + 128;
    k.table2 = params->input2_table + 128;
    k.multiplier = params->output_multiplier;
    k.shift = params->output_shift;
    k.zero_point = params->output_zero_point;
    k.activation_min = params->activation_min;
    k.activation_max = params->activation_max;
    /* outside the fast bounds the shift may be >= 0, which pqk_fast_requant_make() does not take */
    k.fast = params->fast_requantize ? pqk_fast_requant_make(k.multiplier, k.shift, (uint32_t)k.zero_point * 2u + 1u, 0)
                                     : unused_fast;
    for (i0 = 0; i0 < shape.output_shape[0]; ++i0) {
        for (i1 = 0; i1 < shape.output_shape[1]; ++i1) {
            for (i2 = 0; i2 < shape.output_shape[2]; ++i2) {
                const int8_t *a = input1 + i0 * shape.input1_strides[0] + i1 * shape.input1_strides[1]
                                  + i2 * shape.input1_strides[2];
                const int8_t *b = input2 + i0 * shape.input2_strides[0] + i1 * shape.input2_strides[1]
                                  + i2 * shape.input2_strides[2];
                /* constant modes (see pqk_fast_mode()) */
                if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
                    add_row(&k, a, step1, b, step2, output, n, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
                } else if (mode == PQK_FAST_FULL_RANGE) {
                    add_row(&k, a, step1, b, step2, output, n, PQK_FAST_FULL_RANGE);
                } else if (mode == EXACT_REQUANTIZE) {
                    add_row(&k, a, step1, b, step2, output, n, EXACT_REQUANTIZE);
                } else {
                    add_row(&k, a, step1, b, step2, output, n, 0);
                }
                output += n;
            }
        }
    }
}
