/* pqk_conv2d_s8_csr_taps_dsp: int8 CONV_2D over few input channels, CSR weights as taps, DSP extension.
 *
 * input  [batches][input_h][input_w][input_c]     int8
 * weights pqk_conv2d_s8_csr_wide_dsp's uint32 stream (pqk_mcu/codegen/weights.py WideCsr), per output
 *         channel: twice its folded bias; its nonzeros, 2 * value << 16 | (last of its row) << 15 |
 *         column, column (fh * filter_w + fw) * input_c + ic; right shift (-shift), offset (0 outside
 *         pqk_dsp.h's fast bounds) and multiplier.
 * output [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_csr_taps_dsp_buffer_size() bytes, 4-byte aligned.
 * stride_w * input_c is 1, 2, 3, 4, 6 or 8 (the pixel steps it has an instance for; cost_model.py
 * TAPS_CONV_STEPS).
 * Same bytes as pqk_conv2d_s8_csr on the same matrix. Channels outside pqk_dsp.h's fast bounds run the
 * exact form (requant.checked); the lowering checks that twice every accumulator fits an int32.
 *
 * For layers with few input channels and large filters (micro_speech: 10x8 over one channel) gathering
 * im2col columns costs more than the multiplications. Here a nonzero is a tap: its column's input
 * offset from the window's top-left byte (a table built per call) applied to eight output pixels of one
 * output row at once, stride_w * input_c bytes apart: one load of the entry and of its offset, eight
 * byte loads and eight SMLABT (the accumulators hold twice the sum, as in the wide kernel). Blocks whose
 * windows reach past the input, and the last, partial block of a row, read a patch instead: the
 * block's filter rows copied into scratch with the padding filled in (input_zero_point), addressed by a
 * second offset table. The output may overlap the input (pqk_mcu.codegen.memory write_lead, per pixel):
 * a block reads all its inputs before it writes, and the blocks run forward when the output starts at
 * or before the input, backward when after it (memmove's rule).
 */
#include <stddef.h>
#include <string.h>

#include "pqk_dsp.h"

#define BLOCK 8
#define LAST_OF_ROW 0x8000u /* entry bit 15 */
#define COLUMN_MASK 0x7FFFu /* entry bits 0 .. 14 */
#define TRAILER_WORDS 3     /* right shift, offset, multiplier */
#define USUAL_MODE (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)

static int32_t columns_of(const pqk_window_t *win)
{
    return win->filter_h * win->filter_w * win->input_c;
}

/* Bytes of one patch row: the filter row of BLOCK windows a stride apart. */
static int32_t patch_pitch(const pqk_window_t *win)
{
    return ((BLOCK - 1) * win->stride_w + (win->filter_w - 1) * win->dilation_w + 1) * win->input_c;
}

/* Two int32 offset tables (input, patch) of one entry per column, then the patch (one row per filter row). */
int32_t pqk_conv2d_s8_csr_taps_dsp_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    return 2 * (int32_t)sizeof(int32_t) * columns_of(win) + win->filter_h * patch_pitch(win);
}

/* Column -> byte offset of its tap from the window's top-left byte in an image whose rows are ``pitch``
 * bytes apart and whose filter rows are ``row_step`` image rows apart. */
static void fill_offsets(const pqk_window_t *win, int32_t pitch, int32_t row_step, int32_t *offsets)
{
    int32_t fy, fx, ic;
    for (fy = 0; fy < win->filter_h; ++fy) {
        for (fx = 0; fx < win->filter_w; ++fx) {
            for (ic = 0; ic < win->input_c; ++ic) {
                *offsets++ = fy * row_step * pitch + fx * win->dilation_w * win->input_c + ic;
            }
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__)
/* The spans are a few bytes: calls to newlib's memset/memcpy would cost more than the copies. */
#define PQK_NO_LIBC_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define PQK_NO_LIBC_CALLS
#endif

/* n bytes, a word at a time while four are left (Cortex-M LDR / STR handle unaligned words). */
static inline PQK_NO_LIBC_CALLS void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        const uint32_t word = pqk_load_s8x4(src);
        memcpy(dst, &word, sizeof word);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

/* n bytes of value ``word`` (four copies of the byte), a word at a time while four are left. */
static inline PQK_NO_LIBC_CALLS void fill_bytes(int8_t *dst, uint32_t word, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4) {
        memcpy(dst, &word, sizeof word);
    }
    for (; n > 0; --n) {
        *dst++ = (int8_t)word;
    }
}

/* The filter rows of ``count`` windows starting at input row iy0, column ix0 of ``image`` into the
 * patch: taps outside the input, and those of missing pixels, are input_zero_point. */
static PQK_NO_LIBC_CALLS void fill_patch(const pqk_conv2d_s8_params_t *params, const int8_t *image, int32_t iy0,
                                         int32_t ix0, int32_t count, int8_t *patch)
{
    const pqk_window_t *win = &params->window;
    const int32_t channels = win->input_c, pitch = patch_pitch(win);
    const int32_t used = ((count - 1) * win->stride_w + (win->filter_w - 1) * win->dilation_w + 1) * channels;
    const int32_t lead = (ix0 < 0 ? -ix0 : 0) * channels;
    const int32_t reach = (win->input_w - ix0) * channels; /* bytes of the row up to the input's end */
    const int32_t body_end = reach < used ? reach : used;
    const int32_t row_step = win->dilation_h * win->input_w * channels, input_h = win->input_h;
    const uint32_t fill = (uint32_t)(uint8_t)params->input_zero_point * 0x01010101u;
    int8_t *const end = patch + win->filter_h * pitch;
    /* the first body byte of the row (an offset: the row may lie above the input) */
    int32_t at = (iy0 * win->input_w + ix0) * channels + lead, iy = iy0;
    for (; patch != end; patch += pitch, at += row_step, iy += win->dilation_h) {
        if (iy < 0 || iy >= input_h) {
            fill_bytes(patch, fill, pitch);
            continue;
        }
        fill_bytes(patch, fill, lead);
        copy_bytes(patch + lead, image + at, body_end - lead);
        fill_bytes(patch + body_end, fill, pitch - body_end);
    }
}

/* One block's requantization and stores, every mode but the usual one (out of line: rare). */
static __attribute__((noinline)) void store_general(const pqk_conv2d_s8_params_t *params, const uint32_t *trailer,
                                                    const int32_t *acc, int8_t *out, int32_t count, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t out_c = params->window.output_c;
    pqk_fast_requant_t q;
    int32_t j;
    if (mode & PQK_FAST_CHECKED) {
        q = pqk_fast_requant_make((int32_t)trailer[2], -(int32_t)trailer[0], pqk_odd_zero_point(rq), PQK_FAST_CHECKED);
    } else {
        q.right_shift = (int32_t)trailer[0];
        q.offset = (int32_t)trailer[1];
        q.multiplier = (int32_t)trailer[2];
    }
    for (j = 0; j < count; ++j, out += out_c) {
        /* the checked form takes the accumulator itself: twice it is even and fits an int32 */
        const int32_t value = (mode & PQK_FAST_CHECKED) ? pqk_fast_requantize(acc[j] >> 1, &q, mode)
                                                        : pqk_fast_requantize_doubled(acc[j], &q, mode);
        *out = pqk_fast_clamp(value, mode, rq->activation_min, rq->activation_max);
    }
}

/* What a block's channel loop reads. */
typedef struct {
    const pqk_conv2d_s8_params_t *params;
    const uint32_t *stream;  /* the first channel's bias */
    const int32_t *offsets;  /* column -> offset from origin */
    const int8_t *origin;    /* pixel 0's top-left tap (in the input or the patch) */
    int8_t *output;          /* pixel 0, channel 0 */
    int32_t count;           /* pixels 1 .. BLOCK */
    int mode;
} taps_block_t;

/* All output channels of one block, pixels ``step`` bytes apart (a constant in each instance, so the
 * eight loads take immediate offsets). */
static inline __attribute__((always_inline)) void block_channels(const taps_block_t *block, int32_t step)
{
    const uint32_t *stream = block->stream;
    const int32_t *const offsets = block->offsets;
    const int8_t *const origin = block->origin;
    const int32_t out_c = block->params->window.output_c, count = block->count;
    const int usual = block->mode == USUAL_MODE;
    int8_t *out = block->output;
    int32_t oc;
    for (oc = 0; oc < out_c; ++oc, ++out) {
        /* twice the sum (doubled bias and values); the first entry starts from the bias (no copies of it) */
        const int32_t bias = (int32_t)stream[0];
        uint32_t entry = stream[1];
        const int8_t *x = origin + offsets[entry & COLUMN_MASK];
        /* the value is the entry's high half; a loaded byte's low half is itself */
        int32_t acc0 = pqk_smlabt((uint32_t)(int32_t)x[0], entry, bias);
        int32_t acc1 = pqk_smlabt((uint32_t)(int32_t)x[step], entry, bias);
        int32_t acc2 = pqk_smlabt((uint32_t)(int32_t)x[2 * step], entry, bias);
        int32_t acc3 = pqk_smlabt((uint32_t)(int32_t)x[3 * step], entry, bias);
        int32_t acc4 = pqk_smlabt((uint32_t)(int32_t)x[4 * step], entry, bias);
        int32_t acc5 = pqk_smlabt((uint32_t)(int32_t)x[5 * step], entry, bias);
        int32_t acc6 = pqk_smlabt((uint32_t)(int32_t)x[6 * step], entry, bias);
        int32_t acc7 = pqk_smlabt((uint32_t)(int32_t)x[7 * step], entry, bias);
        stream += 2;
        while (!(entry & LAST_OF_ROW)) {
            entry = *stream++;
            x = origin + offsets[entry & COLUMN_MASK];
            acc0 = pqk_smlabt((uint32_t)(int32_t)x[0], entry, acc0);
            acc1 = pqk_smlabt((uint32_t)(int32_t)x[step], entry, acc1);
            acc2 = pqk_smlabt((uint32_t)(int32_t)x[2 * step], entry, acc2);
            acc3 = pqk_smlabt((uint32_t)(int32_t)x[3 * step], entry, acc3);
            acc4 = pqk_smlabt((uint32_t)(int32_t)x[4 * step], entry, acc4);
            acc5 = pqk_smlabt((uint32_t)(int32_t)x[5 * step], entry, acc5);
            acc6 = pqk_smlabt((uint32_t)(int32_t)x[6 * step], entry, acc6);
            acc7 = pqk_smlabt((uint32_t)(int32_t)x[7 * step], entry, acc7);
        }
        if (usual && count == BLOCK) {
            pqk_fast_requant_t q;
            q.right_shift = (int32_t)stream[0];
            q.offset = (int32_t)stream[1];
            q.multiplier = (int32_t)stream[2];
            out[0] = (int8_t)pqk_fast_requantize_doubled(acc0, &q, USUAL_MODE);
            out[out_c] = (int8_t)pqk_fast_requantize_doubled(acc1, &q, USUAL_MODE);
            out[2 * out_c] = (int8_t)pqk_fast_requantize_doubled(acc2, &q, USUAL_MODE);
            out[3 * out_c] = (int8_t)pqk_fast_requantize_doubled(acc3, &q, USUAL_MODE);
            out[4 * out_c] = (int8_t)pqk_fast_requantize_doubled(acc4, &q, USUAL_MODE);
            out[5 * out_c] = (int8_t)pqk_fast_requantize_doubled(acc5, &q, USUAL_MODE);
            out[6 * out_c] = (int8_t)pqk_fast_requantize_doubled(acc6, &q, USUAL_MODE);
            out[7 * out_c] = (int8_t)pqk_fast_requantize_doubled(acc7, &q, USUAL_MODE);
        } else if (usual) {
            pqk_fast_requant_t q;
            int8_t *o = out;
            q.right_shift = (int32_t)stream[0];
            q.offset = (int32_t)stream[1];
            q.multiplier = (int32_t)stream[2];
#define PQK_STORE(j, acc)                                                                                \
    if (count > (j)) {                                                                                   \
        *o = (int8_t)pqk_fast_requantize_doubled(acc, &q, USUAL_MODE);                                   \
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
        } else {
            const int32_t acc[BLOCK] = {acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7};
            store_general(block->params, stream, acc, out, count, block->mode);
        }
        stream += TRAILER_WORDS;
    }
}

/* One instance per pixel step (stride_w * input_c): strides 1 and 2 over 1 to 4 channels. */
static __attribute__((noinline)) void block_channels_step1(const taps_block_t *block)
{
    block_channels(block, 1);
}

static __attribute__((noinline)) void block_channels_step2(const taps_block_t *block)
{
    block_channels(block, 2);
}

static __attribute__((noinline)) void block_channels_step3(const taps_block_t *block)
{
    block_channels(block, 3);
}

static __attribute__((noinline)) void block_channels_step4(const taps_block_t *block)
{
    block_channels(block, 4);
}

static __attribute__((noinline)) void block_channels_step6(const taps_block_t *block)
{
    block_channels(block, 6);
}

static __attribute__((noinline)) void block_channels_step8(const taps_block_t *block)
{
    block_channels(block, 8);
}

void pqk_conv2d_s8_csr_taps_dsp(const pqk_conv2d_s8_params_t *params, const uint32_t *weights, const int8_t *input,
                                int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t columns = columns_of(win), channels = win->input_c;
    const int32_t step = win->stride_w * channels;
    const int32_t per_line = (win->output_w + BLOCK - 1) / BLOCK; /* blocks per output row */
    const int32_t blocks = win->batches * win->output_h * per_line;
    const int32_t image_bytes = win->input_h * win->input_w * channels;
    const int32_t last_row = win->input_h - 1 - (win->filter_h - 1) * win->dilation_h;
    const int32_t last_column = win->input_w - 1 - (BLOCK - 1) * win->stride_w - (win->filter_w - 1) * win->dilation_w;
    const int backward = (uintptr_t)output > (uintptr_t)input;
    int32_t *const input_offsets = (int32_t *)(void *)scratch;
    int32_t *const patch_offsets = input_offsets + columns;
    int8_t *const patch = (int8_t *)(patch_offsets + columns);
    taps_block_t block;
    int32_t index;
    fill_offsets(win, win->input_w * channels, win->dilation_h, input_offsets);
    fill_offsets(win, patch_pitch(win), 1, patch_offsets);
    block.params = params;
    block.stream = weights;
    block.mode = pqk_fast_mode(&params->requant);
    for (index = 0; index < blocks; ++index) {
        const int32_t at = backward ? blocks - 1 - index : index;
        const int32_t line = at / per_line, b = line / win->output_h;
        const int32_t oy = line - b * win->output_h, ox = (at - line * per_line) * BLOCK;
        const int32_t iy0 = oy * win->stride_h - win->pad_top, ix0 = ox * win->stride_w - win->pad_left;
        const int8_t *const image = input + b * image_bytes;
        block.count = win->output_w - ox < BLOCK ? win->output_w - ox : BLOCK;
        block.output = output + (line * win->output_w + ox) * win->output_c;
        if (block.count == BLOCK && iy0 >= 0 && iy0 <= last_row && ix0 >= 0 && ix0 <= last_column) {
            block.origin = image + (iy0 * win->input_w + ix0) * channels;
            block.offsets = input_offsets;
        } else {
            fill_patch(params, image, iy0, ix0, block.count, patch);
            block.origin = patch;
            block.offsets = patch_offsets;
        }
        switch (step) {
        case 1:
            block_channels_step1(&block);
            break;
        case 2:
            block_channels_step2(&block);
            break;
        case 3:
            block_channels_step3(&block);
            break;
        case 4:
            block_channels_step4(&block);
            break;
        case 6:
            block_channels_step6(&block);
            break;
        default: /* 8 */
            block_channels_step8(&block);
            break;
        }
    }
}
