/* pqk_fully_connected_s8_csr_mve: int8 FULLY_CONNECTED, sparse weights gathered by Helium (MVE).
 *
 * input   [batches][input_features]                 int8
 * weights pqk_gather_rows_s8_t of the [output_features][input_features] matrix
 *         (pqk_mcu.codegen.weights.encode_gather_rows: output features in groups of four, each group's
 *         nonzeros in chunks of 16 per row within a panel of 256 input features)
 * output  [batches][output_features]                int8 in [activation_min, activation_max]
 * scratch pqk_fully_connected_s8_csr_mve_buffer_size() bytes.
 * acc = folded bias + sum(w * x); requantized per output feature (or once per layer, per_channel 0)
 * with pqk_mve.h's exact vector form. Same bytes as pqk_fully_connected_s8.
 *
 * Per chunk and row one VLDRB.U8 gather of 16 inputs and one VMLADAVA.S8 (gather_rows_sums():
 * 16 MACs in four instructions, four rows per loop), then the sums are
 * requantized four output features at a time. One batch after another.
 */
#include "pqk_mve.h"

#define GROUP 4 /* rows per group of the weights */

/* The sums of every group's rows. */
int32_t pqk_fully_connected_s8_csr_mve_buffer_size(const pqk_fully_connected_s8_params_t *params)
{
    return (params->output_features + GROUP - 1) / GROUP * GROUP * (int32_t)sizeof(int32_t);
}

#if PQK_HAVE_MVE

/* sums[row] of every row (groups of four rows, pqk_gather_rows_s8_t) with the input row x: per chunk
 * one VLDRB.U8 gather of 16 inputs at the panel's base plus the row's offsets and one VMLADAVA.S8 with
 * its weights, for each of the group's four rows. Register map: %[w] walks the chunks, %[n] the
 * groups' chunk counts, %[s] the sums, %[groups] counts the groups down, %[x] the input, %[base] the
 * chunk's panel; %[a0..a3] the group's sums (even registers: "Te"); lr the chunks after the first
 * (WLS/LE); q0 offsets, q1 weights, q2 the gathered inputs. */
static void gather_rows_sums(const uint32_t *w, const uint8_t *n, int32_t groups, const int8_t *x, int32_t *sums)
{
    int32_t a0, a1, a2, a3;
    const int8_t *base;
#define PANEL(op)                                                                                           \
    "ldr %[base], [%[w]], #4\n\t"                                                                           \
    "add %[base], %[base], %[x]\n\t"                                                                        \
    "vldrb.u8 q0, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q1, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q2, [%[base], q0]\n\t"                                                                        \
    op ".s8 %[a0], q2, q1\n\t"                                                                              \
    "vldrb.u8 q0, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q1, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q2, [%[base], q0]\n\t"                                                                        \
    op ".s8 %[a1], q2, q1\n\t"                                                                              \
    "vldrb.u8 q0, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q1, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q2, [%[base], q0]\n\t"                                                                        \
    op ".s8 %[a2], q2, q1\n\t"                                                                              \
    "vldrb.u8 q0, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q1, [%[w]], #16\n\t"                                                                          \
    "vldrb.u8 q2, [%[base], q0]\n\t"                                                                        \
    op ".s8 %[a3], q2, q1\n\t"
    __asm__ volatile("1:\n\t"
                     "ldrb lr, [%[n]], #1\n\t" PANEL("vmladav") "wls lr, lr, 3f\n"
                     "2:\n\t" PANEL("vmladava") "le lr, 2b\n"
                     "3:\n\t"
                     "strd %[a0], %[a1], [%[s]], #8\n\t"
                     "strd %[a2], %[a3], [%[s]], #8\n\t"
                     "subs %[groups], %[groups], #1\n\t"
                     "bne 1b"
                     : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [base] "=&r"(base),
                       [w] "+r"(w), [n] "+r"(n), [s] "+r"(sums), [groups] "+r"(groups)
                     : [x] "r"(x)
                     : "q0", "q1", "q2", "lr", "memory", "cc");
#undef PANEL
}

void pqk_fully_connected_s8_csr_mve(const pqk_fully_connected_s8_params_t *params,
                                    const pqk_gather_rows_s8_t *weights, const int8_t *input, int8_t *output,
                                    int8_t *scratch)
{
    const int32_t features = params->input_features, outputs = params->output_features;
    const int usual = pqk_mve_mode(&params->requant) == (PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
    int32_t *const sums = (int32_t *)(void *)scratch;
    int32_t b;
    for (b = 0; b < params->batches; ++b) {
        gather_rows_sums(weights->chunks, weights->group_chunks, (outputs + GROUP - 1) / GROUP, input + b * features,
                         sums);
        /* per_channel a constant in each instantiation: no test of it in the loop */
        if (usual && params->per_channel) {
            pqk_mve_requantize_row(&params->requant, 1, sums, outputs, output + b * outputs,
                                   PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
        } else if (usual) {
            pqk_mve_requantize_row(&params->requant, 0, sums, outputs, output + b * outputs,
                                   PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
        } else {
            pqk_mve_requantize_row(&params->requant, params->per_channel, sums, outputs, output + b * outputs, 0);
        }
    }
}

#endif /* PQK_HAVE_MVE */
