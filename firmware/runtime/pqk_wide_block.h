/* Shared by the wide-CSR CONV_2D kernels (pqk_conv2d_s8_csr_wide_dsp, pqk_conv2d_s8_csr_wide_smlal):
 * the stream's entry layout (pqk_mcu/codegen/weights.py WideCsr), the blocks of BLOCK output pixels
 * and the gathering of a block's im2col columns into scratch, PAIRS words per column (one per pixel
 * pair 0-1, 2-3, 4-5, 6-7; each kernel packs a pair into its word its own way, its transpose_rows()),
 * and the per-channel requantization from the stream's trailer.
 */
#ifndef PQK_WIDE_BLOCK_H
#define PQK_WIDE_BLOCK_H

#include <stddef.h>

#include "pqk_dsp.h"

#define BLOCK 8
#define PAIRS (BLOCK / 2)           /* words per column: pixels 2j and 2j + 1 */
#define LAST_OF_ROW 0x8000u         /* entry bit 15 */
#define COLUMN_MASK 0x7FFFu         /* entry bits 0 .. 14 */
#define TRAILER_WORDS 3             /* right shift, offset, multiplier */

static int32_t columns_of(const pqk_window_t *win)
{
    return win->filter_h * win->filter_w * win->input_c;
}

static int is_pointwise(const pqk_window_t *win)
{
    return win->filter_h == 1 && win->filter_w == 1;
}

/* The block's columns (PAIRS words each); filters larger than 1x1 add a filter row of
 * input_zero_point (rows above and below the input) and one filter row per pixel for windows that
 * cross the left or right border. */
static inline int32_t wide_block_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    const int32_t lanes = PAIRS * (int32_t)sizeof(uint32_t) * columns_of(win);
    return is_pointwise(win) ? lanes : lanes + (1 + BLOCK) * win->filter_w * win->input_c;
}

/* Bytes offset .. offset + size - 1 of the eight pixels' rows -> the words of columns 0 .. size - 1
 * (PAIRS per column): each kernel that includes this header defines it, packing a pixel pair into a
 * word as its sums take it. */
static void transpose_rows(const int8_t *const *row, int32_t offset, int32_t size, uint32_t *lanes);

/* Where the windows of a block's pixels start: ``window`` is the top-left tap's input byte when the
 * whole window lies inside the input with contiguous filter rows (dilation_w 1), else NULL, and then
 * the top-left tap's input row and column and the image (batch) say where it is; undilated, the
 * bytes [lead, body_end) of each filter row are inside the input. */
typedef struct {
    const int8_t *window[BLOCK];
    const int8_t *image[BLOCK];
    int32_t iy0[BLOCK], ix0[BLOCK];
    int32_t lead[BLOCK], body_end[BLOCK];
    int spans[BLOCK]; /* the filter rows inside the input vertically are spans of it */
    int inside;       /* every window */
} block_windows_t;

/* Pixels first .. first + count - 1, then the first again for the missing ones: one division per
 * block, the others follow by counting; a block within one output row whose first and last windows
 * are inside the input has every window inside, a stride apart (most blocks). */
static void locate_windows(const pqk_window_t *win, const int8_t *input, int32_t first, int32_t count,
                           block_windows_t *at)
{
    const int32_t plane = win->output_h * win->output_w, image_bytes = win->input_h * win->input_w * win->input_c;
    const int32_t last_row = win->input_h - 1 - (win->filter_h - 1) * win->dilation_h;
    const int32_t last_column = win->dilation_w == 1 ? win->input_w - win->filter_w : -1;
    const int32_t filter_w = win->filter_w;
    int32_t b = first / plane;
    int32_t oy = (first - b * plane) / win->output_w;
    int32_t ox = first - b * plane - oy * win->output_w;
    int32_t j;
    if (ox + count <= win->output_w) {
        const int32_t iy0 = oy * win->stride_h - win->pad_top, ix0 = ox * win->stride_w - win->pad_left;
        const int32_t step = win->stride_w * win->input_c;
        if (iy0 >= 0 && iy0 <= last_row && ix0 >= 0 && ix0 + (count - 1) * win->stride_w <= last_column) {
            const int8_t *const window = input + b * image_bytes + (iy0 * win->input_w + ix0) * win->input_c;
            for (j = 0; j < BLOCK; ++j) {
                at->window[j] = window + (j < count ? j : 0) * step;
            }
            at->inside = 1;
            return;
        }
    }
    at->inside = 1;
    for (j = 0; j < BLOCK; ++j) {
        if (j < count) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top, ix0 = ox * win->stride_w - win->pad_left;
            const int8_t *const image = input + b * image_bytes;
            if (iy0 >= 0 && iy0 <= last_row && ix0 >= 0 && ix0 <= last_column) {
                at->window[j] = image + (iy0 * win->input_w + ix0) * win->input_c;
            } else {
                /* what gather_block() reads of a window outside the input */
                const int32_t left = ix0 >= 0 ? 0 : (-ix0 < filter_w ? -ix0 : filter_w);
                const int32_t right =
                    win->input_w - ix0 < filter_w ? (win->input_w - ix0 > left ? win->input_w - ix0 : left) : filter_w;
                at->window[j] = NULL;
                at->inside = 0;
                at->image[j] = image;
                at->iy0[j] = iy0;
                at->ix0[j] = ix0;
                at->lead[j] = left * win->input_c;
                at->body_end[j] = right * win->input_c;
                at->spans[j] = win->dilation_w == 1 && left == 0 && right == filter_w;
            }
            if (++ox == win->output_w) {
                ox = 0;
                if (++oy == win->output_h) {
                    oy = 0;
                    ++b;
                }
            }
        } else {
            at->window[j] = at->window[0];
            at->image[j] = at->image[0];
            at->iy0[j] = at->iy0[0];
            at->ix0[j] = at->ix0[0];
            at->lead[j] = at->lead[0];
            at->body_end[j] = at->body_end[0];
            at->spans[j] = at->spans[0];
        }
    }
}

/* Filter row fy of pixel j's window when the row lies inside the input vertically but not
 * horizontally, assembled in ``temp``: the taps left of the input (input_zero_point), one span of
 * it, the taps right of it (undilated; dilated filters tap by tap). */
#if defined(__GNUC__) && !defined(__clang__)
/* The spans are a few bytes: calls to newlib's memset/memcpy would cost more than the copies. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static const int8_t *border_filter_row(const pqk_conv2d_s8_params_t *params, const block_windows_t *at, int32_t j,
                                       int32_t iy, int8_t *temp)
{
    const pqk_window_t *win = &params->window;
    const int32_t channels = win->input_c, filter_w = win->filter_w, span = filter_w * channels, ix0 = at->ix0[j];
    const int8_t fill = (int8_t)params->input_zero_point;
    const int8_t *const source = at->image[j] + iy * win->input_w * channels; /* input row iy */
    int32_t fx, i;
    if (win->dilation_w == 1) {
        const int32_t body_end = at->body_end[j];
        for (i = 0; i < at->lead[j]; ++i) {
            temp[i] = fill;
        }
        for (; i < body_end; ++i) {
            temp[i] = source[ix0 * channels + i];
        }
        for (; i < span; ++i) {
            temp[i] = fill;
        }
        return temp;
    }
    for (fx = 0; fx < filter_w; ++fx) {
        const int32_t ix = ix0 + fx * win->dilation_w;
        const int inside = ix >= 0 && ix < win->input_w;
        for (i = 0; i < channels; ++i) {
            temp[fx * channels + i] = inside ? source[ix * channels + i] : fill;
        }
    }
    return temp;
}

/* The im2col columns of output pixels first .. first + count - 1 into ``lanes`` (missing pixels
 * repeat the first; their results are never stored), filter row by filter row. ``rows``: scratch
 * past the lanes (filters larger than 1x1: the fill row, then a temporary filter row per pixel).
 * */
static void gather_block(const pqk_conv2d_s8_params_t *params, const int8_t *input, int32_t first, int32_t count,
                         uint32_t *lanes, int8_t *rows)
{
    const pqk_window_t *win = &params->window;
    const int32_t span = win->filter_w * win->input_c, down = win->dilation_h * win->input_w * win->input_c;
    const int8_t *row[BLOCK];
    block_windows_t at;
    int32_t j, fy;
    locate_windows(win, input, first, count, &at);
    for (fy = 0; fy < win->filter_h; ++fy, lanes += PAIRS * span) {
        if (at.inside) {
            /* every window inside (a 1x1 filter's always): filter rows are spans of the input */
            transpose_rows(at.window, fy * down, span, lanes);
            continue;
        }
        for (j = 0; j < BLOCK; ++j) {
            const int32_t iy = at.iy0[j] + fy * win->dilation_h;
            if (at.window[j] != NULL) {
                row[j] = at.window[j] + fy * down;
            } else if (iy < 0 || iy >= win->input_h) {
                row[j] = rows; /* the fill row */
            } else if (at.spans[j]) {
                row[j] = at.image[j] + (iy * win->input_w + at.ix0[j]) * win->input_c;
            } else {
                row[j] = border_filter_row(params, &at, j, iy, rows + (1 + j) * span);
            }
        }
        transpose_rows(row, 0, span, lanes);
    }
}

/* The row's requantization from its trailer (right shift, offset, multiplier); the checked form for
 * a layer with channels outside the fast bounds. */
static inline __attribute__((always_inline)) pqk_fast_requant_t wide_trailer_requant(const uint32_t *trailer,
                                                                                     uint32_t odd_zero_point, int mode)
{
    pqk_fast_requant_t q;
    if (mode & PQK_FAST_CHECKED) {
        q = pqk_fast_requant_make((int32_t)trailer[2], -(int32_t)trailer[0], odd_zero_point, PQK_FAST_CHECKED);
    } else {
        q.right_shift = (int32_t)trailer[0];
        q.offset = (int32_t)trailer[1];
        q.multiplier = (int32_t)trailer[2];
    }
    return q;
}

/* One output from twice its accumulator (``forms``: see pqk_fast_requantize_doubled_as()); the checked
 * form takes the accumulator itself: twice it is even and fits an int32. */
static inline __attribute__((always_inline)) int8_t wide_requantize(int32_t twice_acc, const pqk_fast_requant_t *q,
                                                                    int mode, int forms, int32_t activation_min,
                                                                    int32_t activation_max)
{
    const int32_t value = (mode & PQK_FAST_CHECKED) ? pqk_fast_requantize(twice_acc >> 1, q, mode)
                                                    : pqk_fast_requantize_doubled_as(twice_acc, q, mode, forms);
    return pqk_fast_clamp(value, mode, activation_min, activation_max);
}

#endif /* PQK_WIDE_BLOCK_H */
