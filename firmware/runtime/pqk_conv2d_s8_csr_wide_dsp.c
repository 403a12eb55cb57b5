/* pqk_conv2d_s8_csr_wide_dsp: int8 CONV_2D, CSR weights of any row length, DSP extension.
 *
 * input  [batches][input_h][input_w][input_c]     int8
 * weights one uint32 stream (pqk_mcu/codegen/weights.py WideCsr), per output channel in order:
 *           twice its folded bias (int32);
 *           its nonzeros in ascending columns, one entry each: 2 * value << 16 | (last of its row) << 15 |
 *           column, column (fh * filter_w + fw) * input_c + ic < 2^15 (a row without nonzeros: one entry
 *           1 << 15, value 0);
 *           right shift (-shift), offset (pqk_dsp.h's h + zero_point * 2^e; 0 outside the fast bounds)
 *           and multiplier (int32).
 * output [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_csr_wide_dsp_buffer_size() bytes, 4-byte aligned.
 * Same bytes as pqk_conv2d_s8_csr on the same matrix. Channels outside pqk_dsp.h's fast bounds run the
 * exact form (requant.checked); the lowering checks that twice every accumulator fits an int32.
 *
 * Output pixels are taken eight at a time: their im2col columns are gathered into scratch as int16,
 * 16 bytes per column (one word per pixel pair 0-1, 2-3, 4-5, 6-7, the even pixel in the low half),
 * so a nonzero costs the load of its entry, its column's address, two LDRD and eight SMLATB/SMLATT
 * (14 instructions for 8 MACs in the assembly); the accumulators hold twice the sum, which
 * pqk_fast_requantize_doubled() takes. Unlike pqk_conv2d_s8_csr_dsp (packed entries of 16 bits, at
 * most 64 columns) any im2col row length runs, and the per-channel requantization sits in the stream
 * between the rows, so one pointer walks everything a channel needs. The output may overlap the input
 * (the memory plan places it so, pqk_mcu.codegen.memory write_lead): a block's inputs are in scratch
 * before its outputs are written, and the blocks run forward when the output starts at or before the
 * input, backward when after it (memmove's rule).
 * On cores with the DSP extension the two usual requantization modes (ReLU onto all of int8, and all
 * of int8 without a clamp) run in Thumb-2 assembly, block_channels_asm_*(); the C block_channels()
 * is the general and portable path (narrower clamps, requant.checked, host builds).
 */
#include "pqk_wide_block.h"

/* wide_block_buffer_size() bytes */
int32_t pqk_conv2d_s8_csr_wide_dsp_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    return wide_block_buffer_size(params);
}

/* Bytes offset .. offset + size - 1 of the eight pixels' rows -> the lanes of columns 0 .. size - 1:
 * per four columns, each pixel pair's two words go through PKHBT/PKHTB and four SXTB16 into the
 * four columns' word of that pair (pixel 2j's byte in the low half, 2j + 1's in the high half). */
static void transpose_rows(const int8_t *const *row, int32_t offset, int32_t size, uint32_t *lanes)
{
    /* locals: gcc keeps the eight pointers in registers (an array it reloads per pair) */
    const int8_t *const r0 = row[0], *const r1 = row[1], *const r2 = row[2], *const r3 = row[3];
    const int8_t *const r4 = row[4], *const r5 = row[5], *const r6 = row[6], *const r7 = row[7];
    uint32_t *const four_end = lanes + PAIRS * (size & ~3), *const end = lanes + PAIRS * size;
    int32_t k = offset;
#define PQK_TRANSPOSE_PAIR(pair, a, b)                                                                   \
    do {                                                                                                 \
        const uint32_t wa = pqk_load_s8x4((a) + k), wb = pqk_load_s8x4((b) + k);                         \
        const uint32_t low = pqk_pack_low_halves(wa, wb), high = pqk_pack_high_halves(wa, wb);           \
        lanes[pair] = pqk_sxtb16(low);                                                                   \
        lanes[PAIRS + (pair)] = pqk_sxtb16_ror8(low);                                                    \
        lanes[2 * PAIRS + (pair)] = pqk_sxtb16(high);                                                    \
        lanes[3 * PAIRS + (pair)] = pqk_sxtb16_ror8(high);                                               \
    } while (0)
    while (lanes != four_end) {
        PQK_TRANSPOSE_PAIR(0, r0, r1);
        PQK_TRANSPOSE_PAIR(1, r2, r3);
        PQK_TRANSPOSE_PAIR(2, r4, r5);
        PQK_TRANSPOSE_PAIR(3, r6, r7);
        lanes += 4 * PAIRS;
        k += 4;
    }
#undef PQK_TRANSPOSE_PAIR
#define PQK_PAIR_WORD(a, b) ((uint32_t)(uint16_t)(int16_t)(a)[k] | (uint32_t)(int32_t)(b)[k] << 16)
    while (lanes != end) {
        lanes[0] = PQK_PAIR_WORD(r0, r1);
        lanes[1] = PQK_PAIR_WORD(r2, r3);
        lanes[2] = PQK_PAIR_WORD(r4, r5);
        lanes[3] = PQK_PAIR_WORD(r6, r7);
        lanes += PAIRS;
        ++k;
    }
#undef PQK_PAIR_WORD
}

/* All output channels of one block. Locals hold everything the loops read: the output stores
 * could alias *params as far as the compiler knows. */
static inline __attribute__((always_inline)) void block_channels(const pqk_conv2d_s8_params_t *params,
                                                                 const uint32_t *stream, const uint32_t *lanes,
                                                                 int8_t *output, int32_t count, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t out_c = params->window.output_c;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
    int8_t *out = output;
    int32_t oc;
    for (oc = 0; oc < out_c; ++oc) {
        /* twice the sum (doubled bias and values); the first entry starts from the bias */
        const int32_t bias = (int32_t)*stream++;
        int32_t acc0 = bias, acc1 = bias, acc2 = bias, acc3 = bias, acc4 = bias, acc5 = bias, acc6 = bias, acc7 = bias;
        uint32_t entry;
        do {
            const uint32_t *x;
            entry = *stream++;
            x = lanes + PAIRS * (entry & COLUMN_MASK);
            /* the value is the entry's high half: SMLABT / SMLATT with the lanes first */
            acc0 = pqk_smlabt(x[0], entry, acc0);
            acc1 = pqk_smlatt(x[0], entry, acc1);
            acc2 = pqk_smlabt(x[1], entry, acc2);
            acc3 = pqk_smlatt(x[1], entry, acc3);
            acc4 = pqk_smlabt(x[2], entry, acc4);
            acc5 = pqk_smlatt(x[2], entry, acc5);
            acc6 = pqk_smlabt(x[3], entry, acc6);
            acc7 = pqk_smlatt(x[3], entry, acc7);
        } while (!(entry & LAST_OF_ROW));
        {
            pqk_fast_requant_t q;
            int8_t *o = out;
            if (mode & PQK_FAST_CHECKED) {
                q = pqk_fast_requant_make((int32_t)stream[2], -(int32_t)stream[0], odd_zero_point, PQK_FAST_CHECKED);
            } else {
                q.right_shift = (int32_t)stream[0];
                q.offset = (int32_t)stream[1];
                q.multiplier = (int32_t)stream[2];
            }
            stream += TRAILER_WORDS;
#define PQK_STORE(j, acc)                                                                                \
    if (count > (j)) {                                                                                   \
        *o = wide_requantize(acc, &q, mode, PQK_FORMS_PLAIN, activation_min, activation_max);            \
        o += out_c;                                                                                      \
    }
            PQK_STORE(0, acc0)
            PQK_STORE(1, acc1)
            PQK_STORE(2, acc2)
            PQK_STORE(3, acc3)
            PQK_STORE(4, acc4)
            PQK_STORE(5, acc5)
            PQK_STORE(6, acc6)
            PQK_STORE(7, acc7)
#undef PQK_STORE
        }
        ++out;
    }
}

#if PQK_HAVE_DSP
/* What block_channels_asm_*() read. */
typedef struct {
    const uint32_t *stream; /* the first channel's bias */
    const uint32_t *lanes;
    int32_t out_c;
    int32_t out_c3;         /* 3 * out_c */
    int8_t *output_last;    /* the block's pixel 0, last channel */
    int8_t *output;         /* the block's pixel 0, channel 0 */
} wide_walk_t;
_Static_assert(offsetof(wide_walk_t, stream) == 0 && offsetof(wide_walk_t, lanes) == 4, "ldm r0!, {r10, r11}");
_Static_assert(offsetof(wide_walk_t, out_c) == 8 && offsetof(wide_walk_t, out_c3) == 12 &&
                   offsetof(wide_walk_t, output_last) == 16 && offsetof(wide_walk_t, output) == 20,
               "ldm r0, {r1-r4}: frame words 0-3 (str lr, [sp, #12] is output; [sp, #16] follows them)");

/* block_channels(count 1 .. BLOCK) in assembly for two modes. In C, gcc keeps the eight accumulators
 * in registers but spills the channel loop's state around the sum. Here the sum holds exactly the 14
 * registers: r2-r9 the accumulators of pixels 0-7, r10 the stream, r11 the lanes, r0/r1 a column's
 * lane words, r12 the entry, lr its column's address (entry << 17: bit 15, the row's end, goes to
 * the carry and the column's 15 bits to the top; >> 13 is column * 16). The channel loop's state is a
 * 20-byte frame: 0 out_c, 1 3 * out_c, 2 the last channel's output of pixel 0, 3 output (this channel
 * of pixel 0), 4 where a partial block's stores start (Thumb address). Per channel: the bias, 14 instructions per entry,
 * the trailer's right shift (r0), offset (r1) and multiplier (r12) in one LDM, eight
 * requantizations, eight stores and the loop. A partial block (count < 8) runs a copy of the loop
 * that jumps into the stores (4 bytes each, last pixel first) to store pixels count - 1 .. 0 only.
 * Same instructions as the C path (SMLABT/SMLATT, SMMLAR, SSAT), hence the same bytes. Thumb-2 with
 * DSP: cortex-m4, m7, m33, m55. */
#define PQK_ENTRY(from0, from1, from2, from3, from4, from5, from6, from7)                                \
        "ldr    r12, [r10], #4\n\t"                                                                     \
        "lsls   lr, r12, #17\n\t"                                                                       \
        "add    lr, r11, lr, lsr #13\n\t"                                                               \
        "ldrd   r0, r1, [lr]\n\t"                                                                       \
        "smlatb r2, r12, r0, " from0 "\n\t"                                                             \
        "smlatt r3, r12, r0, " from1 "\n\t"                                                             \
        "smlatb r4, r12, r1, " from2 "\n\t"                                                             \
        "smlatt r5, r12, r1, " from3 "\n\t"                                                             \
        "ldrd   r0, r1, [lr, #8]\n\t"                                                                   \
        "smlatb r6, r12, r0, " from4 "\n\t"                                                             \
        "smlatt r7, r12, r0, " from5 "\n\t"                                                             \
        "smlatb r8, r12, r1, " from6 "\n\t"                                                             \
        "smlatt r9, r12, r1, " from7 "\n\t"
/* the bias into r9 (the accumulator written last), the first entry from it, the others while the
 * carry (the entry's end-of-row bit) is clear, then the trailer */
#define PQK_CHANNEL_SUM(more, sum_done)                                                                  \
        "ldr    r9, [r10], #4\n\t"                                                                      \
        PQK_ENTRY("r9", "r9", "r9", "r9", "r9", "r9", "r9", "r9")                                        \
        "bcs    " sum_done "f\n\t"                                                                       \
        more ":\n\t"                                                                                     \
        PQK_ENTRY("r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9")                                        \
        "bcc    " more "b\n\t"                                                                           \
        sum_done ":\n\t"                                                                                 \
        "ldm    r10!, {r0, r1, r12}\n\t"
/* pqk_fast_requantize_doubled() with PQK_FAST_NEGATIVES_CLAMPED (no sign term) and without */
#define PQK_REQUANTIZE_CLAMPED(acc)                                                                      \
        "smmlar " acc ", " acc ", r12, r1\n\t"                                                           \
        "asr.w  " acc ", " acc ", r0\n\t"                                                                \
        "ssat   " acc ", #8, " acc "\n\t"
#define PQK_REQUANTIZE_SIGNED(acc)                                                                       \
        "add    lr, r1, " acc ", asr #31\n\t"                                                            \
        "smmlar " acc ", " acc ", r12, lr\n\t"                                                           \
        "asr.w  " acc ", " acc ", r0\n\t"                                                                \
        "ssat   " acc ", #8, " acc "\n\t"
#define PQK_REQUANTIZE_PIXELS(requantize)                                                                \
        requantize("r2") requantize("r3") requantize("r4") requantize("r5")                              \
        requantize("r6") requantize("r7") requantize("r8") requantize("r9")                              \
        "ldm    sp, {r0, r1, r12, lr}\n\t"                                                               \
        "subs   r12, r12, lr\n\t" /* Z: the last channel (kept through the stores) */                  \
        "add    r12, lr, r0, lsl #2\n\t"
/* lr = pixel 0's output, r12 = pixel 4's, r0 = out_c, r1 = 3 * out_c; last pixel first, 4 bytes each */
#define PQK_STORE_PIXELS                                                                                 \
        "strb.w r9, [r12, r1]\n\t"                                                                       \
        "strb.w r8, [r12, r0, lsl #1]\n\t"                                                               \
        "strb.w r7, [r12, r0]\n\t"                                                                       \
        "strb.w r6, [r12]\n\t"                                                                           \
        "strb.w r5, [lr, r1]\n\t"                                                                        \
        "strb.w r4, [lr, r0, lsl #1]\n\t"                                                                \
        "strb.w r3, [lr, r0]\n\t"                                                                        \
        "strb.w r2, [lr]\n\t"
#define PQK_NEXT_CHANNEL(channel)                                                                        \
        "add    lr, lr, #1\n\t"                                                                          \
        "str    lr, [sp, #12]\n\t"                                                                       \
        "bne    " channel "b\n\t"
#define PQK_BLOCK_CHANNELS_ASM(requantize)                                                               \
        "push   {r4-r11, lr}\n\t"                                                                        \
        "sub    sp, sp, #20\n\t"                                                                         \
        /* frame word 4: the store of pixel count - 1; Z set for a full block (kept: nothing up to    \
         * the BEQ sets flags) */                                                                        \
        "adr.w  r12, 8f\n\t"                                                                             \
        "rsbs   r1, r1, #8\n\t"                                                                          \
        "add    r12, r12, r1, lsl #2\n\t"                                                                \
        "orr    r12, r12, #1\n\t"                                                                        \
        "str    r12, [sp, #16]\n\t"                                                                      \
        "ldm    r0!, {r10, r11}\n\t"                                                                     \
        "ldm    r0, {r1-r4}\n\t"                                                                         \
        "stm    sp, {r1-r4}\n\t"                                                                         \
        "beq    1f\n\t"                                                                                  \
        /* partial block */                                                                              \
        "5:\n\t"                                                                                         \
        PQK_CHANNEL_SUM("6", "7")                                                                        \
        PQK_REQUANTIZE_PIXELS(requantize)                                                                \
        "ldr    pc, [sp, #16]\n\t"                                                                       \
        "8:\n\t"                                                                                         \
        PQK_STORE_PIXELS                                                                                 \
        PQK_NEXT_CHANNEL("5")                                                                            \
        "b      4f\n\t"                                                                                  \
        /* full block */                                                                                 \
        "1:\n\t"                                                                                         \
        PQK_CHANNEL_SUM("2", "3")                                                                        \
        PQK_REQUANTIZE_PIXELS(requantize)                                                                \
        PQK_STORE_PIXELS                                                                                 \
        PQK_NEXT_CHANNEL("1")                                                                            \
        "4:\n\t"                                                                                         \
        "add    sp, sp, #20\n\t"                                                                         \
        "pop    {r4-r11, pc}\n\t"

/* PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED (ReLU onto all of int8). */
static __attribute__((naked, noinline)) void block_channels_asm_clamped(const wide_walk_t *walk
                                                                        __attribute__((unused)),
                                                                        int32_t count __attribute__((unused)))
{
    __asm__ volatile(PQK_BLOCK_CHANNELS_ASM(PQK_REQUANTIZE_CLAMPED));
}

/* PQK_FAST_FULL_RANGE (no activation onto all of int8: the sign term). */
static __attribute__((naked, noinline)) void block_channels_asm_signed(const wide_walk_t *walk
                                                                       __attribute__((unused)),
                                                                       int32_t count __attribute__((unused)))
{
    __asm__ volatile(PQK_BLOCK_CHANNELS_ASM(PQK_REQUANTIZE_SIGNED));
}
#undef PQK_BLOCK_CHANNELS_ASM
#undef PQK_NEXT_CHANNEL
#undef PQK_STORE_PIXELS
#undef PQK_REQUANTIZE_PIXELS
#undef PQK_REQUANTIZE_SIGNED
#undef PQK_REQUANTIZE_CLAMPED
#undef PQK_CHANNEL_SUM
#undef PQK_ENTRY
#endif

void pqk_conv2d_s8_csr_wide_dsp(const pqk_conv2d_s8_params_t *params, const uint32_t *weights, const int8_t *input,
                                int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t pixels = win->batches * win->output_h * win->output_w;
    const int mode = pqk_fast_mode(&params->requant);
    uint32_t *lanes = (uint32_t *)(void *)scratch;
    int8_t *rows = scratch + BLOCK * (int32_t)sizeof(int16_t) * columns_of(win);
    const int32_t blocks = (pixels + BLOCK - 1) / BLOCK;
    const int backward = (uintptr_t)output > (uintptr_t)input;
    int32_t step, i;
#if PQK_HAVE_DSP
    wide_walk_t walk;
    walk.stream = weights;
    walk.lanes = lanes;
    walk.out_c = win->output_c;
    walk.out_c3 = 3 * win->output_c;
#endif
    if (!is_pointwise(win)) {
        for (i = 0; i < win->filter_w * win->input_c; ++i) {
            rows[i] = (int8_t)params->input_zero_point;
        }
    }
    for (step = 0; step < blocks; ++step) {
        const int32_t first = (backward ? blocks - 1 - step : step) * BLOCK;
        const int32_t count = pixels - first < BLOCK ? pixels - first : BLOCK;
        int8_t *out = output + first * win->output_c;
        gather_block(params, input, first, count, lanes, rows);
#if PQK_HAVE_DSP
        walk.output = out;
        walk.output_last = out + win->output_c - 1;
        if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            block_channels_asm_clamped(&walk, count);
            continue;
        }
        if (mode == PQK_FAST_FULL_RANGE) {
            block_channels_asm_signed(&walk, count);
            continue;
        }
#else
        /* host builds: the modes the assembly takes, each instantiated as on the target */
        if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            block_channels(params, weights, lanes, out, count, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
            continue;
        }
        if (mode == PQK_FAST_FULL_RANGE) {
            block_channels(params, weights, lanes, out, count, PQK_FAST_FULL_RANGE);
            continue;
        }
#endif
        /* Constant requantization mode (see pqk_fast_mode()): the checked one for a layer with channels
         * outside the fast bounds, else the general one, exact for any clamp. */
        if (mode & PQK_FAST_CHECKED) {
            block_channels(params, weights, lanes, out, count, PQK_FAST_CHECKED);
        } else {
            block_channels(params, weights, lanes, out, count, 0);
        }
    }
}
