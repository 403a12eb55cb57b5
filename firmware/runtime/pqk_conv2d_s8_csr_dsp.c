/* pqk_conv2d_s8_csr_dsp: int8 CONV_2D, CSR weights, DSP extension; pixel-block sparse times dense.
 *
 * input  [batches][input_h][input_w][input_c]     int8
 * weights packed CSR (pqk_packed_csr_s8_t: bias, multiplier and shift per row in it, nonzeros in
 *         value_columns) [output_c][filter_h * filter_w * input_c] (at most 64 columns), column
 *         (fh * filter_w + fw) * input_c + ic
 * output [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_csr_dsp_buffer_size() bytes, 4-byte aligned.
 * Same bytes as pqk_conv2d_s8_csr on the same matrix (the lowering checks pqk_dsp.h's
 * fast-requantization bounds).
 *
 * Output pixels are taken eight at a time: their im2col columns are gathered into scratch (straight
 * from the input, no im2col rows) as two 32-bit words per filter column (byte j = pixel j, padded
 * taps = input_zero_point), so each
 * nonzero weight is loaded once and applied to eight pixels with one LDRD, four SXTB16 and
 * eight SMLAxy. The output may overlap the input (the memory plan places it so, pqk_mcu.codegen.memory
 * write_lead): a block's inputs are in scratch before its outputs are written, and the blocks run
 * forward when the output starts at or before the input, backward when after it (memmove's rule).
 * On cores with the DSP extension the blocks (full and partial) of the usual requantization mode
 * (ReLU onto all of int8) take block_channels_asm(), the same computation in Thumb-2 assembly with
 * the channel loop's state kept out of the registers the sum needs; the C block_channels() is the
 * general and portable path (other modes, host builds).
 */
#include <stddef.h>

#include "pqk_dsp.h"

#define BLOCK 8

static int32_t columns_of(const pqk_window_t *win)
{
    return win->filter_h * win->filter_w * win->input_c;
}

/* Columns of the input with its left and right padding filled in (undilated filters). */
static int32_t padded_width(const pqk_window_t *win)
{
    return (win->output_w - 1) * win->stride_w + win->filter_w;
}

/* Whether the kernel first copies the input with its width padding filled in (plus one filter row
 * of input_zero_point for the rows above and below the input): every filter row of every window
 * is then one contiguous span, gathered by 4x4 transposes (a byte loop costs about three times
 * as much, measured). */
static int pads_width(const pqk_window_t *win)
{
    return (win->filter_h != 1 || win->filter_w != 1) && win->dilation_w == 1 &&
           (win->pad_left > 0 || padded_width(win) - win->pad_left > win->input_w);
}

/* The transposed block: BLOCK bytes per column; then, where pads_width(), the width-padded input
 * and its padding row. */
int32_t pqk_conv2d_s8_csr_dsp_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    const int32_t padded =
        pads_width(win) ? (win->batches * win->input_h * padded_width(win) + win->filter_w) * win->input_c : 0;
    return BLOCK * columns_of(win) + padded;
}

/* input -> padded: each input row between pad_left and the remaining padded columns, both
 * input_zero_point (input columns no window reaches are left out), then the padding row. */
static void pad_width(const pqk_window_t *win, int8_t fill, const int8_t *input, int8_t *padded)
{
    const int32_t channels = win->input_c, rows = win->batches * win->input_h;
    const int32_t lead = win->pad_left * channels, width = padded_width(win) * channels;
    const int32_t reached = padded_width(win) - win->pad_left;
    const int32_t body = (reached < win->input_w ? reached : win->input_w) * channels;
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        for (i = 0; i < lead; ++i) {
            *padded++ = fill;
        }
        for (i = 0; i < body; ++i) {
            *padded++ = input[i];
        }
        for (i = lead + body; i < width; ++i) {
            *padded++ = fill;
        }
        input += win->input_w * channels;
    }
    for (i = 0; i < win->filter_w * channels; ++i) {
        padded[i] = fill;
    }
}

/* 4x4 byte transpose: columns k .. k + 3 of four pixels' rows -> one word per column (byte j = row j).
 * UXTAB16 adds a's bytes into the gaps of b's masked ones (DS-CNN: 5k instructions fewer than UXTB16
 * and OR, measured); b's even bytes are moved up and masked by one AND of a rotated register
 * (pqk_and_rol8: 4k fewer than shift and mask, measured). */
static inline void transpose4(const int8_t *const *row, int32_t k, uint32_t *out)
{
    const uint32_t a = pqk_load_s8x4(row[0] + k), b = pqk_load_s8x4(row[1] + k);
    const uint32_t c = pqk_load_s8x4(row[2] + k), d = pqk_load_s8x4(row[3] + k);
    const uint32_t ab_even = pqk_uxtab16(pqk_and_rol8(0xFF00FF00u, b), a), ab_odd = pqk_uxtab16_ror8(b & 0xFF00FF00u, a);
    const uint32_t cd_even = pqk_uxtab16(pqk_and_rol8(0xFF00FF00u, d), c), cd_odd = pqk_uxtab16_ror8(d & 0xFF00FF00u, c);
    out[0] = pqk_pack_low_halves(ab_even, cd_even);
    out[2] = pqk_pack_low_halves(ab_odd, cd_odd);
    out[4] = pqk_pack_high_halves(ab_even, cd_even);
    out[6] = pqk_pack_high_halves(ab_odd, cd_odd);
}

/* Filters larger than 1x1: the taps of pixel j go straight to byte j of every column's pair (byte
 * BLOCK * column + j), padded taps = input_zero_point. Out of line: inlined into the kernel, it
 * costs the channel loop registers (measured). */
static __attribute__((noinline)) void gather_window(const pqk_conv2d_s8_params_t *params, const int8_t *input,
                                                    int32_t first, int32_t count, int8_t *bytes)
{
    const pqk_window_t *win = &params->window;
    /* locals: the byte stores could alias *win as far as the compiler knows */
    const int32_t input_h = win->input_h, input_w = win->input_w, channels = win->input_c;
    const int32_t filter_h = win->filter_h, filter_w = win->filter_w;
    const int32_t dilation_h = win->dilation_h, dilation_w = win->dilation_w;
    const int32_t out_w = win->output_w, plane = win->output_h * out_w;
    const int32_t stride_h = win->stride_h, stride_w = win->stride_w, pad_top = win->pad_top, pad_left = win->pad_left;
    const int32_t span = filter_w * channels; /* bytes of one filter row */
    const int8_t fill = (int8_t)params->input_zero_point;
    int32_t j, fy, fx, i;
    for (j = 0; j < BLOCK; ++j) {
        const int32_t pixel = first + (j < count ? j : 0); /* missing pixels repeat the first */
        const int32_t b = pixel / plane;
        const int32_t oy = (pixel - b * plane) / out_w;
        const int32_t ox = pixel - b * plane - oy * out_w;
        const int32_t iy0 = oy * stride_h - pad_top, ix0 = ox * stride_w - pad_left;
        /* undilated: each filter row is padding (lead bytes), one contiguous input span (body), padding */
        const int32_t left = ix0 >= 0 ? 0 : (-ix0 < filter_w ? -ix0 : filter_w);
        const int32_t right = input_w - ix0 < filter_w ? (input_w - ix0 > left ? input_w - ix0 : left) : filter_w;
        const int32_t lead = left * channels, body = (right - left) * channels, tail = span - lead - body;
        const int8_t *const image = input + b * input_h * input_w * channels;
        int8_t *dst = bytes + j;
        if (dilation_w == 1 && body == span && iy0 >= 0 && iy0 + (filter_h - 1) * dilation_h < input_h) {
            /* the whole window inside the input (the common case): filter rows of span input bytes */
            const int8_t *const window = image + (iy0 * input_w + ix0) * channels;
            for (fy = 0; fy < filter_h; ++fy) {
                const int8_t *const src = window + fy * dilation_h * input_w * channels;
                for (i = 0; i < span; ++i) {
                    *dst = src[i];
                    dst += BLOCK;
                }
            }
            continue;
        }
        for (fy = 0; fy < filter_h; ++fy) {
            const int32_t iy = iy0 + fy * dilation_h;
            if (iy < 0 || iy >= input_h) {
                for (i = 0; i < span; ++i) {
                    *dst = fill;
                    dst += BLOCK;
                }
            } else if (dilation_w == 1) {
                const int8_t *src = image + (iy * input_w + ix0 + left) * channels;
                for (i = 0; i < lead; ++i) {
                    *dst = fill;
                    dst += BLOCK;
                }
                for (i = 0; i < body; ++i) {
                    *dst = src[i];
                    dst += BLOCK;
                }
                for (i = 0; i < tail; ++i) {
                    *dst = fill;
                    dst += BLOCK;
                }
            } else {
                for (fx = 0; fx < filter_w; ++fx) {
                    const int32_t ix = ix0 + fx * dilation_w;
                    const int8_t *src = image + (iy * input_w + ix) * channels;
                    const int inside = ix >= 0 && ix < input_w;
                    for (i = 0; i < channels; ++i) {
                        *dst = inside ? src[i] : fill;
                        dst += BLOCK;
                    }
                }
            }
        }
    }
}

/* Bytes offset .. offset + size - 1 of the eight rows as two words per column (rows 0-3, then 4-7;
 * byte j = row j), four columns at a time. */
static void transpose_rows(const int8_t *const *row, int32_t offset, int32_t size, uint32_t *columns)
{
    int32_t j, k;
    for (k = 0; k + 4 <= size; k += 4) {
        transpose4(row, offset + k, columns + 2 * k);
        transpose4(row + 4, offset + k, columns + 2 * k + 1);
    }
    for (; k < size; ++k) {
        for (j = 0; j < 2; ++j) {
            const int8_t *const *r = row + 4 * j;
            columns[2 * k + j] = (uint32_t)(uint8_t)r[0][offset + k] | (uint32_t)(uint8_t)r[1][offset + k] << 8 |
                                 (uint32_t)(uint8_t)r[2][offset + k] << 16 | (uint32_t)(uint8_t)r[3][offset + k] << 24;
        }
    }
}

/* gather_window() on the width-padded input (pad_left 0, input_w its padded width): filter row
 * fy of pixel j is one span of the input, or fill_row above and below it. */
static void gather_padded(const pqk_window_t *win, const int8_t *input, const int8_t *fill_row, int32_t first,
                          int32_t count, uint32_t *columns)
{
    const int32_t channels = win->input_c, span = win->filter_w * channels, row_bytes = win->input_w * channels;
    const int32_t out_w = win->output_w, plane = win->output_h * out_w;
    int32_t top[BLOCK], origin[BLOCK]; /* first filter row: input row, byte offset of the window */
    const int8_t *row[BLOCK];
    int inside = 1;
    int32_t j, fy;
    for (j = 0; j < BLOCK; ++j) {
        const int32_t pixel = first + (j < count ? j : 0); /* missing pixels repeat the first */
        const int32_t b = pixel / plane;
        const int32_t oy = (pixel - b * plane) / out_w;
        const int32_t ox = pixel - b * plane - oy * out_w;
        top[j] = oy * win->stride_h - win->pad_top;
        origin[j] = ((b * win->input_h + top[j]) * win->input_w + ox * win->stride_w) * channels;
        inside = inside && top[j] >= 0 && top[j] + (win->filter_h - 1) * win->dilation_h < win->input_h;
    }
    if (inside) {
        /* every filter row inside the input (most blocks): the same row pointers for all filter
         * rows, at offsets (DS-CNN's first layer: 7.5k instructions fewer than row pointers per
         * filter row, measured) */
        for (j = 0; j < BLOCK; ++j) {
            row[j] = input + origin[j];
        }
        for (fy = 0; fy < win->filter_h; ++fy) {
            transpose_rows(row, fy * win->dilation_h * row_bytes, span, columns + 2 * span * fy);
        }
        return;
    }
    for (fy = 0; fy < win->filter_h; ++fy) {
        const int32_t down = fy * win->dilation_h;
        for (j = 0; j < BLOCK; ++j) {
            row[j] = (uint32_t)(top[j] + down) < (uint32_t)win->input_h ? input + origin[j] + down * row_bytes
                                                                         : fill_row;
        }
        transpose_rows(row, 0, span, columns + 2 * span * fy);
    }
}

/* Columns of output pixels first .. first + count - 1 as two words per column in ``columns``
 * (pixels 0-3, then 4-7; byte j = pixel j; missing pixels repeat the first, their results are
 * never stored). A 1x1 filter's column is an input pixel: four pixels are transposed at a time.
 * fill_row: see gather_padded(), NULL where the input is not width-padded. */
static void gather_block(const pqk_conv2d_s8_params_t *params, const int8_t *input, const int8_t *fill_row,
                         int32_t first, int32_t count, uint32_t *columns)
{
    const pqk_window_t *win = &params->window;
    const int8_t *row[BLOCK];
    int32_t j;
    if (fill_row != NULL) {
        gather_padded(win, input, fill_row, first, count, columns);
        return;
    }
    if (win->filter_h != 1 || win->filter_w != 1) {
        gather_window(params, input, first, count, (int8_t *)(void *)columns);
        return;
    }
    /* a 1x1 filter's im2col row is the input pixel itself (no copy); with stride 1 (no padding
     * then) output pixel p reads input pixel p: consecutive rows (stride tested once, not per
     * pixel: DS-CNN 1.5k instructions fewer, measured) */
    if (win->stride_h == 1 && win->stride_w == 1) {
        const int8_t *const pixel0 = input + first * win->input_c;
        for (j = 0; j < BLOCK; ++j) {
            row[j] = pixel0 + (j < count ? j : 0) * win->input_c;
        }
    } else {
        for (j = 0; j < BLOCK; ++j) {
            row[j] = pqk_im2col_row(win, params->input_zero_point, input, first + (j < count ? j : 0), NULL);
        }
    }
    transpose_rows(row, 0, columns_of(win), columns);
}

/* All output channels of one block. Locals hold everything the loops read: the output stores
 * could alias *params as far as the compiler knows. */
static inline __attribute__((always_inline)) void block_channels(const pqk_conv2d_s8_params_t *params,
                                                                 const pqk_packed_csr_s8_t *weights,
                                                                 const uint32_t *columns, int8_t *output,
                                                                 int32_t count, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t out_c = params->window.output_c;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    /* the channel loop walks this pointer (no separate counter to keep across the sum) */
    const uint32_t *multiplier_shift = weights->multiplier_shift, *const multiplier_shift_end = multiplier_shift + out_c;
    const int32_t right_shift_base = weights->right_shift_base, record_bytes = weights->record_bytes;
    const uint32_t base_offset = pqk_odd_zero_point(rq) << (right_shift_base - 1);
    const int32_t pad_bits = 32 - 8 * record_bytes;
    const uint8_t *record_end = weights->records + 4;
    /* one pointer walks value and column and the row ends at a flagged entry, so the sum's eight
     * accumulators, pointer, scratch base and four temporaries fit the 14 registers */
    const uint16_t *pair = weights->value_columns;
    int8_t *out = output;
    while (multiplier_shift != multiplier_shift_end) {
        /* twice the sum (doubled bias and values): what pqk_fast_requantize_doubled() takes */
        const int32_t bias = pqk_packed_word(record_end) >> pad_bits;
        int32_t acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7;
        int last;
        record_end += record_bytes;
        /* Entry ``*pair`` (twice the value (9 bits signed) << 7 | last of the row << 6 | column)
         * applied to its column's eight pixels, added to from0 .. from7. */
#define PQK_ADD_LANES(value, even, odd, from_even, from_odd)                                             \
    lanes = (value);                                                                                     \
    (even) = pqk_smlabb(w, lanes, from_even);                                                            \
    (odd) = pqk_smlabt(w, lanes, from_odd)
#define PQK_ADD_ENTRY(from0, from1, from2, from3, from4, from5, from6, from7)                            \
    do {                                                                                                 \
        const uint32_t nonzero = *pair++;                                                                \
        const uint32_t w = (uint32_t)((int32_t)(nonzero << 16) >> 23);                                   \
        uint32_t column_high, low, high, lanes; /* column << 26: >> 23 is its byte offset */             \
        PQK_SHIFT_OUT(nonzero, 26, last, column_high);                                                   \
        PQK_LOAD_PAIR((const uint8_t *)columns + (column_high >> 23), 0, low, high);                     \
        PQK_ADD_LANES(pqk_sxtb16(low), acc0, acc2, from0, from2);       /* pixels 0, 2 */                \
        PQK_ADD_LANES(pqk_sxtb16_ror8(low), acc1, acc3, from1, from3);  /* pixels 1, 3 */                \
        PQK_ADD_LANES(pqk_sxtb16(high), acc4, acc6, from4, from6);      /* pixels 4, 6 */                \
        PQK_ADD_LANES(pqk_sxtb16_ror8(high), acc5, acc7, from5, from7); /* pixels 5, 7 */                \
    } while (0)
        /* every row has an entry (a zero one when it has no nonzeros): the first starts from the
         * bias, which saves copying it to the eight accumulators */
        PQK_ADD_ENTRY(bias, bias, bias, bias, bias, bias, bias, bias);
        while (!last) {
            PQK_ADD_ENTRY(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7);
        }
#undef PQK_ADD_ENTRY
#undef PQK_ADD_LANES
        /* decoded after the sum: its three words would take registers the sum needs */
        const pqk_fast_requant_t q = pqk_fast_requant_packed(*multiplier_shift++, right_shift_base, base_offset);
        int8_t *o = out;
        /* unrolled (count is a constant 8 on the main path): an array would go through the stack */
        /* one moving pointer: eight precomputed addresses would not fit in registers */
#define PQK_STORE(j, acc)                                                                                           \
    if (count > (j)) {                                                                                              \
        *o = pqk_fast_clamp(pqk_fast_requantize_doubled(acc, &q, mode), mode, activation_min, activation_max);      \
        o += out_c;                                                                                                 \
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
        ++out;
    }
}

#if PQK_HAVE_DSP
/* What block_channels_asm() reads: the layer's constants and where each walk starts, copied to its
 * stack frame (words 3 .. 12, after the channel's decoded requantization). */
typedef struct {
    int8_t *output;                   /* one before the block's channel 0 (walks: + 1) */
    const uint8_t *record_end;        /* the first row's record end (walks: + record_bytes) */
    const uint32_t *multiplier_shift; /* walks: + 1 */
    int32_t record_bytes;
    int32_t pad_bits;            /* 32 - 8 * record_bytes */
    const uint8_t *record_stop;  /* record_end after the last row */
    int32_t right_shift_base;
    uint32_t base_offset;        /* as in block_channels() */
    int32_t out_c;
    int32_t out_c3;              /* 3 * out_c */
    const uint16_t *value_columns;
    const uint32_t *columns;
} block_walk_t;
/* block_channels_asm() copies walk words 0-9 with ldm r0!, {r1-r10} to frame words 3-12 (stm at sp + 12),
 * reads them back with ldm sp, {r0-r8, r12, lr} (r3 output .. lr base_offset) and ldrd r0, r1, [sp, #44],
 * and takes the last two words with ldrd r10, r11, [r0]; frame words 13 and 14 follow (sub sp, sp, #60). */
_Static_assert(offsetof(block_walk_t, output) == 0 && offsetof(block_walk_t, record_end) == 4 &&
                   offsetof(block_walk_t, multiplier_shift) == 8 && offsetof(block_walk_t, record_bytes) == 12 &&
                   offsetof(block_walk_t, pad_bits) == 16 && offsetof(block_walk_t, record_stop) == 20 &&
                   offsetof(block_walk_t, right_shift_base) == 24 && offsetof(block_walk_t, base_offset) == 28,
               "ldm sp, {r0-r8, r12, lr}: frame words 3-10 (sp + 12 + offset) are output .. base_offset");
_Static_assert(offsetof(block_walk_t, out_c) == 32 && offsetof(block_walk_t, out_c3) == 36,
               "ldrd r0, r1, [sp, #44]: frame words 11, 12 are out_c, 3 * out_c");
_Static_assert(offsetof(block_walk_t, value_columns) == 40 && offsetof(block_walk_t, columns) == 44 &&
                   sizeof(block_walk_t) == 48,
               "ldrd r10, r11, [r0] after ldm r0!, {r1-r10}: value_columns, columns; [sp, #52] is past the copy");

/* block_channels(count, mode PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED) for count 1 .. BLOCK,
 * in assembly. gcc keeps the sum's eight accumulators, entry pointer and scratch base in registers
 * but then has none left for the channel loop's pointers and constants and reloads them one by one
 * around the sum and the stores (27 instructions per channel, measured). Here the sum holds exactly
 * the 14 registers (r2-r9 the accumulators, r10 the entry pointer, r11 the columns, r0/r1 a
 * column's pair, r12 the weight, lr the address, then the odd lanes) and the channel loop's state
 * lives in a 60-byte frame that one LDM reads and one STM writes per channel:
 *   0 right shift, 1 offset, 2 multiplier (this channel's, pqk_fast_requant_packed()), 3 output
 *   (this channel of pixel 0), 4 record end, 5 multiplier_shift, 6 record_bytes, 7 pad_bits,
 *   8 record_stop, 9 right_shift_base, 10 base_offset, 11 out_c, 12 3 * out_c,
 *   13, 14 where a partial block's stores and requantizations start (Thumb addresses).
 * 67 instructions per channel with one entry instead of 77 (18 per further entry, as in C). Same
 * instructions as the C path (SXTB16, SMLABB/SMLABT, SMMLAR, SSAT), hence the same bytes. A full
 * block and a partial one run separate copies of the channel loop: the partial one requantizes and
 * stores pixels count - 1 .. 0 only, jumping into the eight requantizations (12 bytes each) and the
 * eight stores (4 bytes each), both written last pixel first; the two jumps per channel are not
 * paid on the main path. Thumb-2 with DSP: cortex-m4, m7, m33, m55. */
static __attribute__((naked, noinline)) void block_channels_asm(const block_walk_t *walk __attribute__((unused)),
                                                                int32_t count __attribute__((unused)))
{
    /* channel: r3 = output, r4 = record end, r5 = multiplier_shift, r6 = record_bytes,
     * r7 = pad_bits, r12 = right_shift_base, lr = base_offset; decoded into r0-r2 and stored
     * with the walks before the sum needs the registers; r9 = bias (twice) */
#define PQK_CHANNEL                                                                                      \
        "ldr    r2, [r5], #4\n\t"                                                                       \
        "lsr    r9, r2, #30\n\t"                                                                        \
        "add    r0, r12, r9\n\t"                                                                        \
        "lsl    r1, lr, r9\n\t"                                                                         \
        "bic    r2, r2, #0x80000000\n\t"                                                                \
        "orr    r2, r2, #0x40000000\n\t"                                                                \
        "add    r3, r3, #1\n\t"                                                                         \
        "ldr    r9, [r4, #-4]\n\t"                                                                      \
        "add    r4, r4, r6\n\t"                                                                         \
        "asr    r9, r9, r7\n\t"                                                                         \
        "stm    sp, {r0-r5}\n\t"
    /* entry: r12 = twice the value, carry = last of the row, lr = byte offset of its column's
     * pair, then the pixels' lanes (r0: 0 and 2, lr: 1 and 3, r1: 4 and 6, lr: 5 and 7) added to
     * the accumulators' sources (no flags set after the LSLS: the branch tests its carry) */
#define PQK_ENTRY(from0, from1, from2, from3, from4, from5, from6, from7)                                \
        "ldrh   r12, [r10], #2\n\t"                                                                     \
        "lsls   lr, r12, #26\n\t"                                                                       \
        "sbfx   r12, r12, #7, #9\n\t"                                                                   \
        "add    lr, r11, lr, lsr #23\n\t"                                                               \
        "ldrd   r0, r1, [lr]\n\t"                                                                       \
        "sxtb16 lr, r0, ror #8\n\t"                                                                     \
        "sxtb16 r0, r0\n\t"                                                                             \
        "smlabb r2, r12, r0, " from0 "\n\t"                                                             \
        "smlabt r4, r12, r0, " from2 "\n\t"                                                             \
        "smlabb r3, r12, lr, " from1 "\n\t"                                                             \
        "smlabt r5, r12, lr, " from3 "\n\t"                                                             \
        "sxtb16 lr, r1, ror #8\n\t"                                                                     \
        "sxtb16 r1, r1\n\t"                                                                             \
        "smlabb r6, r12, r1, " from4 "\n\t"                                                             \
        "smlabt r8, r12, r1, " from6 "\n\t"                                                             \
        "smlabb r7, r12, lr, " from5 "\n\t"                                                             \
        "smlabt r9, r12, lr, " from7 "\n\t"
    /* the first entry starts from the bias (r9, the accumulator written last) */
#define PQK_CHANNEL_SUM(more, sum_done)                                                                  \
        PQK_CHANNEL                                                                                      \
        PQK_ENTRY("r9", "r9", "r9", "r9", "r9", "r9", "r9", "r9")                                        \
        "bcs    " sum_done "f\n\t"                                                                       \
        more ":\n\t"                                                                                     \
        PQK_ENTRY("r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9")                                        \
        "bcc    " more "b\n\t"                                                                           \
        sum_done ":\n\t"                                                                                 \
        "ldm    sp, {r0, r1, r12, lr}\n\t"
    /* requantize in place (r0 = right shift, r1 = offset, r12 = multiplier; 12 bytes each, last
     * pixel first), then set up the stores through lr (pixel 0) and r12 (pixel 4) with r0 = out_c,
     * r1 = 3 * out_c */
#define PQK_REQUANTIZE(acc)                                                                              \
        "smmlar " acc ", " acc ", r12, r1\n\t"                                                           \
        "asr.w  " acc ", " acc ", r0\n\t"                                                                \
        "ssat   " acc ", #8, " acc "\n\t"
#define PQK_REQUANTIZE_PIXELS                                                                            \
        PQK_REQUANTIZE("r9") PQK_REQUANTIZE("r8") PQK_REQUANTIZE("r7") PQK_REQUANTIZE("r6")              \
        PQK_REQUANTIZE("r5") PQK_REQUANTIZE("r4") PQK_REQUANTIZE("r3") PQK_REQUANTIZE("r2")              \
        "ldrd   r0, r1, [sp, #44]\n\t"                                                                   \
        "add    r12, lr, r0, lsl #2\n\t"
    /* last pixel first, 4 bytes each */
#define PQK_STORE_PIXELS                                                                                 \
        "strb.w r9, [r12, r1]\n\t"                                                                       \
        "strb.w r8, [r12, r0, lsl #1]\n\t"                                                               \
        "strb.w r7, [r12, r0]\n\t"                                                                       \
        "strb.w r6, [r12]\n\t"                                                                           \
        "strb.w r5, [lr, r1]\n\t"                                                                        \
        "strb.w r4, [lr, r0, lsl #1]\n\t"                                                                \
        "strb.w r3, [lr, r0]\n\t"                                                                        \
        "strb.w r2, [lr]\n\t"
    /* the next channel's state, loaded here so that the loop test needs no load of its own */
#define PQK_NEXT_CHANNEL(channel)                                                                        \
        "ldm    sp, {r0-r8, r12, lr}\n\t"                                                                \
        "cmp    r4, r8\n\t"                                                                              \
        "bne    " channel "b\n\t"
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #60\n\t"
        /* word 13: the store of pixel count - 1; Z set for a full block (kept: nothing up to the BEQ
         * sets flags) */
        "adr.w  r12, 8f\n\t"
        "rsbs   r1, r1, #8\n\t"
        "add    r12, r12, r1, lsl #2\n\t"
        "orr    r12, r12, #1\n\t"
        "str    r12, [sp, #52]\n\t"
        /* word 14: the requantization of pixel count - 1 */
        "adr.w  r12, 9f\n\t"
        "add    r12, r12, r1, lsl #3\n\t"
        "add    r12, r12, r1, lsl #2\n\t"
        "orr    r12, r12, #1\n\t"
        "str    r12, [sp, #56]\n\t"
        "ldm    r0!, {r1-r10}\n\t"
        "add    r12, sp, #12\n\t"
        "stm    r12, {r1-r10}\n\t"
        "ldrd   r10, r11, [r0]\n\t"
        "ldm    sp, {r0-r8, r12, lr}\n\t"
        "beq    1f\n\t"
        /* partial block */
        "5:\n\t"
        PQK_CHANNEL_SUM("6", "7")
        "ldr    pc, [sp, #56]\n\t"
        "9:\n\t"
        PQK_REQUANTIZE_PIXELS
        "ldr    pc, [sp, #52]\n\t"
        "8:\n\t"
        PQK_STORE_PIXELS
        PQK_NEXT_CHANNEL("5")
        "b      4f\n\t"
        /* full block */
        "1:\n\t"
        PQK_CHANNEL_SUM("2", "3")
        PQK_REQUANTIZE_PIXELS
        PQK_STORE_PIXELS
        PQK_NEXT_CHANNEL("1")
        "4:\n\t"
        "add    sp, sp, #60\n\t"
        "pop    {r4-r11, pc}\n\t");
#undef PQK_NEXT_CHANNEL
#undef PQK_STORE_PIXELS
#undef PQK_REQUANTIZE_PIXELS
#undef PQK_REQUANTIZE
#undef PQK_CHANNEL_SUM
#undef PQK_ENTRY
#undef PQK_CHANNEL
}
#endif

void pqk_conv2d_s8_csr_dsp(const pqk_conv2d_s8_params_t *params, const pqk_packed_csr_s8_t *weights, const int8_t *input,
                           int8_t *output, int8_t *scratch)
{
    /* over its own input (the memory plan places it so): backward when the output starts after it */
    const int backward = (uintptr_t)output > (uintptr_t)input;
    pqk_conv2d_s8_params_t padded_params;
    const int8_t *fill_row = NULL;
    if (pads_width(&params->window)) {
        const pqk_window_t *win = &params->window;
        int8_t *const padded = scratch + BLOCK * columns_of(win);
        pad_width(win, (int8_t)params->input_zero_point, input, padded);
        fill_row = padded + win->batches * win->input_h * padded_width(win) * win->input_c;
        padded_params = *params;
        padded_params.window.input_w = padded_width(&params->window);
        padded_params.window.pad_left = 0;
        params = &padded_params;
        input = padded;
    }
    const pqk_window_t *win = &params->window;
    const int32_t pixels = win->batches * win->output_h * win->output_w;
    const int mode = pqk_fast_mode(&params->requant);
    uint32_t *columns = (uint32_t *)(void *)scratch;
    const int32_t blocks = (pixels + BLOCK - 1) / BLOCK;
    int32_t step;
#if PQK_HAVE_DSP
    block_walk_t walk;
    walk.record_end = weights->records + 4;
    walk.multiplier_shift = weights->multiplier_shift;
    walk.record_bytes = weights->record_bytes;
    walk.pad_bits = 32 - 8 * weights->record_bytes;
    walk.record_stop = walk.record_end + win->output_c * weights->record_bytes;
    walk.right_shift_base = weights->right_shift_base;
    walk.base_offset = pqk_odd_zero_point(&params->requant) << (weights->right_shift_base - 1);
    walk.out_c = win->output_c;
    walk.out_c3 = 3 * win->output_c;
    walk.value_columns = weights->value_columns;
    walk.columns = columns;
#endif
    for (step = 0; step < blocks; ++step) {
        const int32_t first = (backward ? blocks - 1 - step : step) * BLOCK;
        const int32_t count = pixels - first < BLOCK ? pixels - first : BLOCK;
        int8_t *out = output + first * win->output_c;
        gather_block(params, input, fill_row, first, count, columns);
        /* Constant count and requantization mode (see pqk_fast_mode() for the modes instantiated)
         * let the compiler drop the tests from the output loop. The last, partial block has its
         * own instantiation for the common mode only (text size; in the general mode it took 130
         * instructions per channel of DS-CNN's 5-pixel block instead of 79, measured); with the
         * DSP extension the assembly takes it (DS-CNN: 8k instructions fewer, measured). */
#if PQK_HAVE_DSP
        if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            walk.output = out - 1;
            block_channels_asm(&walk, count);
            continue;
        }
#else
        if (count != BLOCK && mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            block_channels(params, weights, columns, out, count, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
            continue;
        }
#endif
        if (count != BLOCK) {
            block_channels(params, weights, columns, out, count, 0);
        } else if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            block_channels(params, weights, columns, out, BLOCK, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
        } else if (mode == PQK_FAST_FULL_RANGE) {
            block_channels(params, weights, columns, out, BLOCK, PQK_FAST_FULL_RANGE);
        } else {
            block_channels(params, weights, columns, out, BLOCK, 0);
        }
    }
}
