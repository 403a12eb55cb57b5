/* pqk_depthwise_conv2d_s8_csr_dsp: int8 DEPTHWISE_CONV_2D (depth multiplier 1), CSR weights, DSP extension.
 *
 * input  [batches][input_h][input_w][channels]    int8
 * weights packed CSR (pqk_packed_csr_s8_t, bias, multiplier and shift per row in it)
 *         [channels][filter_h * filter_w], column fh * filter_w + fw
 * output [batches][output_h][output_w][channels]  int8 in [activation_min, activation_max]
 * scratch pqk_depthwise_conv2d_s8_csr_dsp_buffer_size() bytes.
 * Same bytes as pqk_depthwise_conv2d_s8_csr on the same matrix (the lowering checks pqk_dsp.h's
 * fast-requantization bounds). Right shifts may spread over up to 32 values (the record's high code
 * bits, info_bits 11).
 *
 * One channel at a time. A channel without nonzero taps is a constant (its record holds it; up to
 * four adjacent ones are stored together, a halfword or word per pixel); one with a single tap
 * reads the input directly (taps in the padding give a constant). Otherwise its plane is copied
 * into a padded plane in scratch (the border holds input_zero_point, written once), so every
 * nonzero tap is one load at a fixed offset with no bounds test, and channels with up to four
 * nonzeros keep weights and offsets in registers. Output may equal input (in place), whatever the
 * stride: output channel c overwrites input channel c only, copied channels work on their copy and
 * single-tap channels run in an order that reads every input pixel before it is overwritten (where
 * the shape changes, those whose order cannot are copied too: single_taps_in_order()).
 */
#include "pqk_dsp.h"

#define MAX_TAPS 15 /* the packed format's limit (pqk_mcu.codegen.weights.DEPTHWISE_MAX_COLUMNS) */

static int32_t padded_height(const pqk_window_t *win)
{
    return (win->output_h - 1) * win->stride_h + (win->filter_h - 1) * win->dilation_h + 1;
}

static int32_t padded_width(const pqk_window_t *win)
{
    return (win->output_w - 1) * win->stride_w + (win->filter_w - 1) * win->dilation_w + 1;
}

int32_t pqk_depthwise_conv2d_s8_csr_dsp_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params)
{
    return padded_height(&params->window) * padded_width(&params->window);
}

/* Outputs of one channel; ``count`` (nonzero taps) is a constant at each call site, so the tap
 * sum is unrolled with weights and offsets in registers. */
static inline __attribute__((always_inline)) void channel_plane(const pqk_depthwise_conv2d_s8_params_t *params,
                                                                const int8_t *plane, int32_t plane_w,
                                                                const int32_t *offsets, const int32_t *taps,
                                                                int32_t count, int32_t bias,
                                                                const pqk_fast_requant_t *q, int32_t c, int8_t *out,
                                                                int mode)
{
    const pqk_window_t *win = &params->window;
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    /* locals: the output stores could alias *params as far as the compiler knows */
    const int32_t channels = win->output_c, out_h = win->output_h, out_w = win->output_w;
    const int32_t step_x = win->stride_w, step_y = win->stride_h * plane_w;
    const int32_t o0 = count > 0 ? offsets[0] : 0, o1 = count > 1 ? offsets[1] : 0;
    const int32_t o2 = count > 2 ? offsets[2] : 0, o3 = count > 3 ? offsets[3] : 0;
    const int32_t w0 = count > 0 ? taps[0] : 0, w1 = count > 1 ? taps[1] : 0;
    const int32_t w2 = count > 2 ? taps[2] : 0, w3 = count > 3 ? taps[3] : 0;
    const int8_t *row = plane;
    int8_t *o = out + c;
    int32_t oy, k;
    for (oy = 0; oy < out_h; ++oy) {
        const int8_t *x = row;
        int8_t *const o_end = o + out_w * channels;
        while (o != o_end) {
            int32_t acc = bias;
            if (count > 4) {
                for (k = 0; k < count; ++k) {
                    acc += taps[k] * x[offsets[k]];
                }
            } else {
                acc += count > 0 ? w0 * x[o0] : 0;
                acc += count > 1 ? w1 * x[o1] : 0;
                acc += count > 2 ? w2 * x[o2] : 0;
                acc += count > 3 ? w3 * x[o3] : 0;
            }
            *o = pqk_fast_clamp(pqk_fast_requantize(acc, q, mode), mode, activation_min, activation_max);
            o += channels;
            x += step_x;
        }
        row += step_y;
    }
}

/* width bytes (1, 2 or 4) of value, low byte first, at a possibly unaligned p (Cortex-M STR and
 * STRH handle unaligned addresses). */
static inline __attribute__((always_inline)) void store_bytes(int8_t *p, uint32_t value, int32_t width)
{
    memcpy(p, &value, (size_t)width);
}

/* n groups of width (1, 2 or 4) adjacent outputs from o on, o_step apart, each group equal to the
 * low width bytes of value. */
static inline __attribute__((always_inline)) void fill_run_bytes(int8_t *o, int32_t n, int32_t o_step,
                                                                 uint32_t value, int32_t width)
{
    /* eight stores per iteration: the loop test costs as much as a store (eight rather than four:
     * DS-CNN 95%: -5k instructions, measured) */
    for (; n >= 8; n -= 8) {
        int8_t *const half = o + 4 * o_step;
        store_bytes(o, value, width);
        store_bytes(o + o_step, value, width);
        store_bytes(o + 2 * o_step, value, width);
        store_bytes(o + 3 * o_step, value, width);
        store_bytes(half, value, width);
        store_bytes(half + o_step, value, width);
        store_bytes(half + 2 * o_step, value, width);
        store_bytes(half + 3 * o_step, value, width);
        o = half + 4 * o_step;
    }
    for (; n > 0; --n) {
        store_bytes(o, value, width);
        o += o_step;
    }
}

/* n outputs from o on, o_step apart, all equal to value. */
static inline __attribute__((always_inline)) void fill_run(int8_t *o, int32_t n, int32_t o_step, int8_t value)
{
    fill_run_bytes(o, n, o_step, (uint8_t)value, 1);
}

/* The channel whose record ends at record_end has no taps: it and the next ones without taps (four
 * at most, remaining at most; o is its output of pixel 0) get their constants at every pixel, one
 * word or halfword store per pixel for two or more adjacent ones (DS-CNN 95%: 11k instructions
 * fewer than a store per channel and pixel, measured). Returns how many channels it filled. Out of
 * line: its three loops stay out of the kernel's channel loop (slightly less text, measured). */
static __attribute__((noinline)) int32_t constant_channels(const pqk_depthwise_conv2d_s8_params_t *params,
                                                          const pqk_packed_csr_s8_t *weights,
                                                          const uint8_t *record_end, int32_t remaining, int8_t *o)
{
    const int32_t n = params->window.output_h * params->window.output_w, o_step = params->window.output_c;
    const int32_t pad_bits = 32 - 8 * weights->record_bytes;
    uint32_t constants = 0;
    int32_t run = 0;
    do {
        const int32_t packed = pqk_packed_word(record_end) >> pad_bits;
        constants |= (uint32_t)(uint8_t)(packed >> weights->info_bits) << (8 * run);
        ++run;
        record_end += weights->record_bytes;
    } while (run < 4 && run < remaining && ((pqk_packed_word(record_end) >> pad_bits) & 0xf0) == 0);
    if (run == 4) {
        fill_run_bytes(o, n, o_step, constants, 4);
        return run;
    }
    if (run >= 2) {
        fill_run_bytes(o, n, o_step, constants, 2);
    }
    if (run & 1) {
        fill_run_bytes(o + run - 1, n, o_step, constants >> (8 * (run - 1)), 1);
    }
    return run;
}

/* Of the outputs i = 0 .. count - 1 whose tap reads input index start + i * step (step >= 1), the
 * ones inside [0, size) are [*first, *end). */
static void inside_range(int32_t start, int32_t step, int32_t size, int32_t count, int32_t *first, int32_t *end)
{
    const int32_t lo = start >= 0 ? 0 : (step - 1 - start) / step;
    const int32_t hi = size - start <= 0 ? 0 : (size - start + step - 1) / step;
    *first = lo < count ? lo : count;
    *end = hi < *first ? *first : (hi < count ? hi : count);
}

/* n outputs of one tap: o[i * o_step] = requantize(bias + weight * x[i * x_step]), four (stride 1)
 * or two per iteration (the loop test and pointer steps cost as much as a requantization);
 * twice_bias and twice_weight are doubled so that the products are the doubled accumulators
 * themselves. In place (stride 1) x = o + d * o_step with d >= 0 (single_tap_channel() picks the
 * direction): output i reads what output i + d writes, so writing each output right after
 * computing it never overwrites an input still to be read. */
static inline __attribute__((always_inline)) void tap_run(int8_t *o, const int8_t *x, int32_t n, int32_t o_step,
                                                          int32_t x_step, int32_t twice_bias, int32_t twice_weight,
                                                          const pqk_fast_requant_t *q, int mode,
                                                          int32_t activation_min, int32_t activation_max)
{
    int8_t *const pairs_end = o + (n & ~1) * o_step;
#define PQK_TAP(value)                                                                                          \
    pqk_fast_clamp(pqk_fast_requantize_doubled(twice_bias + twice_weight * (value), q, mode), mode,               \
                   activation_min, activation_max)
    if (x_step == o_step) {
        /* input and output step together (stride 1): two output pointers and two distances keep
         * the loop in registers (an input pointer more made gcc spill, measured). Unless in place,
         * x and o are in different arrays of the one flat address space; taking the distance
         * through intptr_t instead cost 3k instructions (gcc loses the pointer relation). */
        const int32_t distance = (int32_t)(x - o), next_distance = distance + o_step;
        int8_t *const quads_end = o + (n & ~3) * o_step;
        while (o != quads_end) {
            int8_t *const third = o + 2 * o_step;
            o[0] = PQK_TAP(o[distance]);
            o[o_step] = PQK_TAP(o[next_distance]);
            third[0] = PQK_TAP(third[distance]);
            third[o_step] = PQK_TAP(third[next_distance]);
            o = third + 2 * o_step;
        }
        if (o != pairs_end) {
            o[0] = PQK_TAP(o[distance]);
            o[o_step] = PQK_TAP(o[next_distance]);
            o += 2 * o_step;
        }
        x = o + distance;
    } else {
        while (o != pairs_end) {
            const int32_t first = x[0], second = x[x_step];
            o[0] = PQK_TAP(first);
            o[o_step] = PQK_TAP(second);
            o += 2 * o_step;
            x += 2 * x_step;
        }
    }
    if (n & 1) {
        *o = PQK_TAP(*x);
    }
#undef PQK_TAP
}

/* A channel with one nonzero tap (column ``column``, weight ``weight``), read straight from the input
 * without a plane copy: outputs whose tap falls into the padding are requantize(bias + weight *
 * input_zero_point). The outputs whose tap is inside the input (a rectangle) come first, then the
 * constant border, which reads nothing. When input and output rows have the same width (stride 1)
 * the rectangle's rows are one run through the plane: the outputs between its rows (border
 * columns) read some other input pixel and are overwritten with the border afterwards. In place
 * (output == input, stride 1) an output is written only after every output that reads the same
 * input pixel: outputs run forward when the tap reads a later pixel (or the same), backward
 * otherwise. */
static inline __attribute__((always_inline)) void single_tap_channel(
    const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *image, int32_t column, int32_t weight, int32_t bias,
    const pqk_fast_requant_t *q, int32_t c, int8_t *out, int mode)
{
    const pqk_window_t *win = &params->window;
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    /* once per channel: the general mode */
    const int8_t pad_value = pqk_fast_clamp(pqk_fast_requantize(bias + weight * params->input_zero_point, q, 0), 0,
                                            activation_min, activation_max);
    const int32_t channels = win->output_c, out_h = win->output_h, out_w = win->output_w;
    const int32_t fy = column / win->filter_w;
    const int32_t y0 = fy * win->dilation_h - win->pad_top;                           /* input row of output row 0 */
    const int32_t x0 = (column - fy * win->filter_w) * win->dilation_w - win->pad_left; /* input column of column 0 */
    const int forward = y0 > 0 || (y0 == 0 && x0 >= 0);
    int32_t oy_first, oy_end, ox_first, ox_end, k;
    inside_range(y0, win->stride_h, win->input_h, out_h, &oy_first, &oy_end);
    inside_range(x0, win->stride_w, win->input_w, out_w, &ox_first, &ox_end);
    if (oy_first == oy_end || ox_first == ox_end) {
        fill_run(out + c, out_h * out_w, channels, pad_value);
        return;
    }
    {
        const int32_t first_y = forward ? oy_first : oy_end - 1;
        const int32_t first_x = forward ? ox_first : ox_end - 1;
        const int32_t o_step = forward ? channels : -channels;
        const int32_t x_step = win->stride_w * o_step;
        const int32_t o_row_step = forward ? out_w * channels : -out_w * channels;
        const int32_t x_row_step = (forward ? win->stride_h : -win->stride_h) * win->input_w * channels;
        const int32_t width = ox_end - ox_first;
        int8_t *o = out + (first_y * out_w + first_x) * channels + c;
        const int8_t *x =
            image + ((first_y * win->stride_h + y0) * win->input_w + first_x * win->stride_w + x0) * channels + c;
        /* rows that follow one another in input and output: one run from the rectangle's first
         * output to its last; else one run per row */
        const int one_run = o_row_step == out_w * o_step && x_row_step == out_w * x_step;
        const int32_t runs = one_run ? 1 : oy_end - oy_first;
        const int32_t length = one_run ? (oy_end - oy_first - 1) * out_w + width : width;
        /* only the runs are instantiated per requantization mode (see pqk_fast_mode()) */
#define PQK_TAP_RUNS(run_mode)                                                                                 \
    for (k = 0; k < runs; ++k) {                                                                               \
        tap_run(o, x, length, o_step, x_step, 2 * bias, 2 * weight, q, run_mode, activation_min, activation_max); \
        o += o_row_step;                                                                                       \
        x += x_row_step;                                                                                       \
    }
        if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            PQK_TAP_RUNS(PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)
        } else if (mode == PQK_FAST_FULL_RANGE) {
            PQK_TAP_RUNS(PQK_FAST_FULL_RANGE)
        } else {
            PQK_TAP_RUNS(0)
        }
#undef PQK_TAP_RUNS
    }
    /* the border: whole rows above and below the rectangle, the columns left and right of it */
    fill_run(out + c, oy_first * out_w, channels, pad_value);
    fill_run(out + oy_end * out_w * channels + c, (out_h - oy_end) * out_w, channels, pad_value);
    for (k = 0; k < out_w; ++k) {
        if (k == ox_first) {
            k = ox_end - 1; /* the rectangle's columns */
        } else {
            fill_run(out + (oy_first * out_w + k) * channels + c, oy_end - oy_first, out_w * channels, pad_value);
        }
    }
}

/* The columns (bit per tap position) whose single-tap channels single_tap_channel() may run over their
 * own input (output == input) when the shape changes (strides or VALID padding): its outputs run
 * forward, and the input pixel an output reads minus the output's own index never decreases along
 * them, so when the first output reads at or after its own index no output reads a pixel that an
 * earlier one overwrote. The others are copied like multi-tap channels. */
static uint32_t single_taps_in_order(const pqk_window_t *win)
{
    uint32_t in_order = 0;
    int32_t column;
    for (column = 0; column < win->filter_h * win->filter_w; ++column) {
        const int32_t fy = column / win->filter_w;
        const int32_t y0 = fy * win->dilation_h - win->pad_top;
        const int32_t x0 = (column - fy * win->filter_w) * win->dilation_w - win->pad_left;
        int32_t oy_first, oy_end, ox_first, ox_end;
        inside_range(y0, win->stride_h, win->input_h, win->output_h, &oy_first, &oy_end);
        inside_range(x0, win->stride_w, win->input_w, win->output_w, &ox_first, &ox_end);
        if (oy_first == oy_end || ox_first == ox_end || /* all padding: reads nothing */
            ((y0 > 0 || (y0 == 0 && x0 >= 0)) && /* single_tap_channel()'s forward order */
             (oy_first * win->stride_h + y0) * win->input_w + ox_first * win->stride_w + x0 >=
                 oy_first * win->output_w + ox_first)) {
            in_order |= 1u << column;
        }
    }
    return in_order;
}

/* rows x cols pixels of one channel of the input (from src, channels apart) into the padded plane
 * (from dst, rows plane_w apart). Out of line: its loop then keeps its registers whatever the
 * kernel's channel loop holds (inlined, it cost 2.5k to 6k instructions more per DS-CNN layer at
 * 50% after unrelated changes there, measured). */
static __attribute__((noinline)) void copy_plane(const pqk_window_t *win, const int8_t *src, int8_t *dst,
                                                int32_t plane_w, int32_t rows, int32_t cols)
{
    const int32_t channels = win->input_c, src_row_step = win->input_w * channels;
    int32_t y, x;
    for (y = 0; y < rows; ++y) {
        const int8_t *s = src;
        for (x = 0; x < cols; ++x) {
            dst[x] = *s;
            s += channels;
        }
        src += src_row_step;
        dst += plane_w;
    }
}

/* One instantiation per small tap count (and full range or not: mode is PQK_FAST_FULL_RANGE or 0);
 * larger counts share a loop. */
static void channel_dispatch(const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *plane, int32_t plane_w,
                             const int32_t *offsets, const int32_t *taps, int32_t count, int32_t bias,
                             const pqk_fast_requant_t *q, int32_t c, int8_t *out, int mode)
{
#define PQK_CHANNEL_CASE(n)                                                                          \
    case n:                                                                                          \
        if (mode) {                                                                                  \
            channel_plane(params, plane, plane_w, offsets, taps, n, bias, q, c, out, PQK_FAST_FULL_RANGE); \
        } else {                                                                                     \
            channel_plane(params, plane, plane_w, offsets, taps, n, bias, q, c, out, 0);              \
        }                                                                                            \
        break
    switch (count) {
        PQK_CHANNEL_CASE(2);
        PQK_CHANNEL_CASE(3);
        PQK_CHANNEL_CASE(4);
    default:
        channel_plane(params, plane, plane_w, offsets, taps, count, bias, q, c, out, 0);
        break;
    }
#undef PQK_CHANNEL_CASE
}

void pqk_depthwise_conv2d_s8_csr_dsp(const pqk_depthwise_conv2d_s8_params_t *params,
                                     const pqk_packed_csr_s8_t *weights, const int8_t *input, int8_t *output,
                                     int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t channels = win->input_c;
    const int32_t plane_h = padded_height(win), plane_w = padded_width(win);
    const int mode = pqk_fast_mode(&params->requant);
    const int32_t rows = win->input_h < plane_h - win->pad_top ? win->input_h : plane_h - win->pad_top;
    const int32_t cols = win->input_w < plane_w - win->pad_left ? win->input_w : plane_w - win->pad_left;
    const uint32_t base_offset = pqk_odd_zero_point(&params->requant) << (weights->right_shift_base - 1);
    const int32_t pad_bits = 32 - 8 * weights->record_bytes, info_bits = weights->info_bits;
    /* the record's high bits of the shift code (info_bits 11: shifts spread over more than four values),
     * as the bits of packed >> 6 that they are in the code */
    const int32_t high_code_bits = ((1 << (info_bits - 8)) - 1) << 2;
    /* in place over an input of another shape: single-tap channels check their order */
    const int shrinks = output == input && (win->output_h != win->input_h || win->output_w != win->input_w);
    const uint32_t single_taps = shrinks ? single_taps_in_order(win) : 0;
    int32_t offsets[MAX_TAPS], taps[MAX_TAPS];
    int32_t b, c, k;
    memset(scratch, params->input_zero_point, (size_t)(plane_h * plane_w));
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * win->input_w * channels;
        int8_t *out = output + b * win->output_h * win->output_w * channels;
        const uint8_t *record_end = weights->records + 4;
        const uint32_t *multiplier_shift = weights->multiplier_shift;
        const int8_t *value = weights->values;
        const uint8_t *column = weights->columns;
        for (c = 0; c < channels; ++c, record_end += weights->record_bytes) {
            const int32_t packed = pqk_packed_word(record_end) >> pad_bits;
            const int32_t bias = packed >> info_bits, count = (packed >> 4) & 15, first = packed & 15;
            pqk_fast_requant_t q;
            if (count == 0) {
                const int32_t run = constant_channels(params, weights, record_end, channels - c, out + c);
                c += run - 1;
                record_end += (run - 1) * weights->record_bytes;
                continue;
            }
            {
                const uint32_t word = *multiplier_shift++;
                const int32_t code = (int32_t)(word >> 30) + ((packed >> 6) & high_code_bits);
                q.multiplier = (int32_t)((word & 0x3FFFFFFFu) | 0x40000000u);
                q.right_shift = weights->right_shift_base + code;
                q.offset = (int32_t)(base_offset << code);
            }
            if (count == 1 && (!shrinks || (single_taps >> first) & 1)) {
                single_tap_channel(params, image, first, *value, bias, &q, c, out, mode);
                ++value;
                continue;
            }
            for (k = 0; k < count; ++k) {
                const int32_t tap = k == 0 ? first : *column++;
                const int32_t fy = tap / win->filter_w;
                offsets[k] = fy * win->dilation_h * plane_w + (tap - fy * win->filter_w) * win->dilation_w;
                taps[k] = *value++;
            }
            copy_plane(win, image + c, scratch + win->pad_top * plane_w + win->pad_left, plane_w, rows, cols);
            /* multi-tap channels keep the sign term: their instantiations per mode cost 0.5 KB and
             * saved nothing on the DS-CNN at 50-95% sparsity (measured) */
            channel_dispatch(params, scratch, plane_w, offsets, taps, count, bias, &q, c, out,
                             mode & PQK_FAST_FULL_RANGE);
        }
    }
}
