/*
 * kws_engine.c - the streaming engine declared in kws.h. State is static: one stream at a time.
 * RAM: cepstra of the last 50 frames (2000 B as float), 100 block maxima, the 480-sample frame
 * history, the features and output of one window, the posterior history; the frame computation's
 * scratch (2 KB) lives on the stack only while a frame is computed.
 */
#include "kws.h"

#include <stddef.h>

#include "model.h"
#include "../../frontend/pqk_mfcc.h"
#include "pqk_platform.h"

#define WINDOW_BLOCKS (PQK_MFCC_WINDOW_SAMPLES / KWS_BLOCK_SAMPLES)
#define FRAME_BLOCKS (PQK_MFCC_FRAME_LENGTH / KWS_BLOCK_SAMPLES)
#define FRAME_STEP_BLOCKS (PQK_MFCC_FRAME_STEP / KWS_BLOCK_SAMPLES)
#define STRIDE_SAMPLES (PQK_KWS_STRIDE_MS * (PQK_MFCC_SAMPLE_RATE / 1000))
/* Windows start on the frame grid, so the frames of the window being filled are the last 49 computed;
 * one more slot holds the frame computed while the window completes. */
#define FRAME_SLOTS (PQK_MFCC_NUM_FRAMES + 1)
#define Q15_ONE 32768

_Static_assert(PQK_KWS_STRIDE_MS % 10 == 0 && PQK_KWS_STRIDE_MS >= 20 && PQK_KWS_STRIDE_MS <= 1000,
               "PQK_KWS_STRIDE_MS must be a multiple of 10 ms in [20, 1000]");
_Static_assert(PQK_MODEL_INPUT_SIZE == PQK_MFCC_NUM_FRAMES * PQK_MFCC_NUM_COEFFS,
               "the KWS app needs a model with a 49x10 MFCC input");
_Static_assert(PQK_MODEL_OUTPUT_SIZE == PQK_KWS_NUM_CLASSES, "one label per model output");

#if PQK_KWS_FIXED_POINT
typedef int32_t cepstrum_t;
#else
typedef float cepstrum_t;
#endif

static cepstrum_t cepstra[FRAME_SLOTS][PQK_MFCC_NUM_COEFFS]; /* by frame position / 320, mod 50 */
static uint8_t silent[FRAME_SLOTS];                            /* the frame's samples are all zero */
static int16_t block_max[WINDOW_BLOCKS];
static int16_t history[PQK_MFCC_FRAME_LENGTH]; /* the last three blocks */
static int8_t features[PQK_MODEL_INPUT_SIZE];
static int8_t output[PQK_MODEL_OUTPUT_SIZE];
static int32_t posteriors[PQK_KWS_AVERAGE_WINDOWS][PQK_KWS_NUM_CLASSES];
static uint32_t blocks_seen;
static uint32_t windows_seen;
static uint32_t total_windows;
static uint32_t next_window_start;
static uint32_t last_detection_ms;
static int detected_before;

/* Window k starts at k * stride rounded down to the frame step (pqk_mcu/audio/streaming.py:window_starts). */
static uint32_t window_start(uint32_t k)
{
    return k * STRIDE_SAMPLES / PQK_MFCC_FRAME_STEP * PQK_MFCC_FRAME_STEP;
}

int kws_start(uint32_t total_samples)
{
    if (total_samples < PQK_MFCC_WINDOW_SAMPLES || total_samples % KWS_BLOCK_SAMPLES != 0) {
        return -1;
    }
    blocks_seen = 0;
    windows_seen = 0;
    detected_before = 0;
    next_window_start = 0;
    total_windows = 0;
    while (window_start(total_windows) + PQK_MFCC_WINDOW_SAMPLES <= total_samples) {
        ++total_windows;
    }
    return 0;
}

/* Largest sample of the last `count` blocks (at most 100), at least 1. */
static int32_t recent_peak(uint32_t count)
{
    int32_t peak = 1;
    for (uint32_t i = 0; i < count; ++i) {
        const int32_t value = block_max[(blocks_seen - 1 - i) % WINDOW_BLOCKS];
        peak = value > peak ? value : peak;
    }
    return peak;
}

static void compute_frame(uint32_t slot, int32_t reference_peak)
{
    silent[slot] = 1;
    for (unsigned i = 0; i < PQK_MFCC_FRAME_LENGTH; ++i) {
        if (history[i] != 0) {
            silent[slot] = 0;
            break;
        }
    }
    if (silent[slot]) {
        return;
    }
#if PQK_KWS_FIXED_POINT
    int32_t scratch[PQK_MFCC_SCRATCH_ELEMENTS];
    pqk_mfcc_q15(history, reference_peak, scratch, cepstra[slot]);
#else
    float scratch[PQK_MFCC_SCRATCH_ELEMENTS];
    pqk_mfcc_f32(history, reference_peak, scratch, cepstra[slot]);
#endif
}

/* Decimal text helpers (no printf: keeps newlib's formatted I/O out of the image). */
static char *append_text(char *cursor, const char *text)
{
    while (*text != '\0') {
        *cursor++ = *text++;
    }
    return cursor;
}

static char *append_uint(char *cursor, uint32_t value, int min_digits)
{
    char digits[10];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u || count < min_digits);
    while (count > 0) {
        *cursor++ = digits[--count];
    }
    return cursor;
}

/* "kws: t=<s>.<ms>s <key>=<label> score=<x>.<xx>" */
static void emit_result(uint32_t time_ms, const char *key, int label, int32_t score_q15)
{
    char line[96];
    const uint32_t hundredths = ((uint32_t)score_q15 * 100u + (Q15_ONE / 2)) >> 15;
    char *cursor = append_text(line, "kws: t=");
    cursor = append_uint(cursor, time_ms / 1000u, 1);
    cursor = append_text(cursor, ".");
    cursor = append_uint(cursor, time_ms % 1000u, 3);
    cursor = append_text(cursor, "s ");
    cursor = append_text(cursor, key);
    cursor = append_text(cursor, "=");
    cursor = append_text(cursor, pqk_kws_labels[label]);
    cursor = append_text(cursor, " score=");
    cursor = append_uint(cursor, hundredths / 100u, 1);
    cursor = append_text(cursor, ".");
    cursor = append_uint(cursor, hundredths % 100u, 2);
    *cursor = '\0';
    kws_emit(line);
}

/* Integer posteriors in Q15 (pqk_mcu/audio/streaming.py:posteriors_q15). */
static void output_posteriors(int32_t *posterior)
{
#if PQK_KWS_OUTPUT_IS_PROBABILITY
    for (int c = 0; c < PQK_KWS_NUM_CLASSES; ++c) {
        posterior[c] = ((int32_t)output[c] - PQK_MODEL_OUTPUT_ZERO_POINT) * 128;
    }
#else
    int32_t largest = output[0];
    for (int c = 1; c < PQK_KWS_NUM_CLASSES; ++c) {
        largest = output[c] > largest ? output[c] : largest;
    }
    int64_t total = 0;
    for (int c = 0; c < PQK_KWS_NUM_CLASSES; ++c) {
        posterior[c] = pqk_kws_exp_q15[largest - output[c]];
        total += posterior[c];
    }
    for (int c = 0; c < PQK_KWS_NUM_CLASSES; ++c) {
        posterior[c] = (int32_t)(((int64_t)posterior[c] << 15) / total);
    }
#endif
}

static void decide(uint32_t end_sample)
{
    const uint32_t time_ms = end_sample / (PQK_MFCC_SAMPLE_RATE / 1000);
    int32_t *latest = posteriors[windows_seen % PQK_KWS_AVERAGE_WINDOWS];
    output_posteriors(latest);
    ++windows_seen;
    const uint32_t count = windows_seen < PQK_KWS_AVERAGE_WINDOWS ? windows_seen : PQK_KWS_AVERAGE_WINDOWS;
    if (total_windows <= PQK_KWS_AVERAGE_WINDOWS) {
        /* A stream shorter than the averaging span is one clip: its top class over all its windows. */
        if (windows_seen < total_windows) {
            return;
        }
        int top = 0;
        int32_t top_average = -1;
        for (int c = 0; c < PQK_KWS_NUM_CLASSES; ++c) {
            int32_t sum = 0;
            for (uint32_t w = 0; w < count; ++w) {
                sum += posteriors[w][c];
            }
            const int32_t average = sum / (int32_t)count;
            if (average > top_average) {
                top = c;
                top_average = average;
            }
        }
        emit_result(time_ms, "top", top, top_average);
        return;
    }
    int best = -1;
    int32_t best_average = -1;
    for (int c = 0; c < PQK_KWS_NUM_CLASSES; ++c) {
        if (pqk_kws_labels[c][0] == '_') {
            continue; /* _silence_, _unknown_ are never reported */
        }
        int32_t sum = 0;
        for (uint32_t w = 0; w < count; ++w) {
            sum += posteriors[(windows_seen - 1 - w) % PQK_KWS_AVERAGE_WINDOWS][c];
        }
        const int32_t average = sum / (int32_t)count;
        if (average > best_average) {
            best = c;
            best_average = average;
        }
    }
    if (best < 0 || best_average < PQK_KWS_THRESHOLD_Q15) {
        return;
    }
    if (detected_before && (int32_t)(time_ms - last_detection_ms) < PQK_KWS_SUPPRESSION_MS) {
        return;
    }
    detected_before = 1;
    last_detection_ms = time_ms;
    emit_result(time_ms, "word", best, best_average);
}

#if PQK_KWS_TRACE
static char *append_hex(char *cursor, const int8_t *bytes, unsigned count)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < count; ++i) {
        const uint8_t byte = (uint8_t)bytes[i];
        *cursor++ = hex[byte >> 4];
        *cursor++ = hex[byte & 0xFu];
    }
    return cursor;
}

static void emit_trace(void)
{
    char line[8 + 2 * (PQK_MODEL_INPUT_SIZE + PQK_MODEL_OUTPUT_SIZE)];
    char *cursor = append_text(line, "trace ");
    cursor = append_hex(cursor, features, PQK_MODEL_INPUT_SIZE);
    *cursor++ = ' ';
    cursor = append_hex(cursor, output, PQK_MODEL_OUTPUT_SIZE);
    *cursor = '\0';
    kws_emit(line);
}
#endif

static int run_window(uint32_t start_sample)
{
    const cepstrum_t *frames[PQK_MFCC_NUM_FRAMES];
    const uint32_t first_slot = start_sample / PQK_MFCC_FRAME_STEP;
    for (uint32_t f = 0; f < PQK_MFCC_NUM_FRAMES; ++f) {
        const uint32_t slot = (first_slot + f) % FRAME_SLOTS;
        frames[f] = silent[slot] ? NULL : cepstra[slot];
    }
    const int32_t peak = recent_peak(WINDOW_BLOCKS);
#if PQK_KWS_FIXED_POINT
    pqk_mfcc_q15_features(frames, peak, PQK_KWS_INPUT_MULTIPLIER, PQK_KWS_INPUT_SHIFT, PQK_KWS_INPUT_ZERO_POINT,
                          features);
#else
    pqk_mfcc_f32_features(frames, peak, PQK_KWS_INPUT_SCALE, PQK_KWS_INPUT_ZERO_POINT, features);
#endif
#if PQK_KWS_BENCH == 1
    pqk_bench_begin();
#endif
    const int status = pqk_model_invoke(features, output);
#if PQK_KWS_BENCH == 1
    pqk_bench_end();
#endif
    if (status != 0) {
        return -1;
    }
#if PQK_KWS_TRACE
    emit_trace();
#endif
    decide(start_sample + PQK_MFCC_WINDOW_SAMPLES);
    return 0;
}

int kws_push_block(const int16_t *block)
{
    int16_t largest = block[0];
    for (unsigned i = 0; i < PQK_MFCC_FRAME_LENGTH - KWS_BLOCK_SAMPLES; ++i) {
        history[i] = history[i + KWS_BLOCK_SAMPLES];
    }
    for (unsigned i = 0; i < KWS_BLOCK_SAMPLES; ++i) {
        history[PQK_MFCC_FRAME_LENGTH - KWS_BLOCK_SAMPLES + i] = block[i];
        largest = block[i] > largest ? block[i] : largest;
    }
    block_max[blocks_seen % WINDOW_BLOCKS] = largest;
    ++blocks_seen;
    if (blocks_seen >= FRAME_BLOCKS) {
        const uint32_t position = blocks_seen - FRAME_BLOCKS; /* frame start, in blocks */
        if (position % FRAME_STEP_BLOCKS == 0) {
            const uint32_t window = blocks_seen < WINDOW_BLOCKS ? blocks_seen : WINDOW_BLOCKS;
#if PQK_KWS_BENCH == 2
            if (position == 0) {
                pqk_bench_begin();
            }
#endif
            compute_frame(position / FRAME_STEP_BLOCKS % FRAME_SLOTS, recent_peak(window));
#if PQK_KWS_BENCH == 2
            if (position == 0) {
                pqk_bench_end();
            }
#endif
        }
    }
    if (blocks_seen * KWS_BLOCK_SAMPLES == next_window_start + PQK_MFCC_WINDOW_SAMPLES) {
        const uint32_t start = next_window_start;
        next_window_start = window_start(windows_seen + 1);
        return run_window(start);
    }
    return 0;
}
