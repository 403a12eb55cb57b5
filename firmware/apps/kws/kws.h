/*
 * kws.h - streaming keyword spotting engine of the KWS app (firmware/apps/kws/).
 *
 * Audio: 16 kHz int16 in blocks of 160 samples (10 ms); the stream holds at least 1 s and whole
 * blocks (the host pads it). Window k covers 16000 samples from k * stride rounded down to the 20 ms
 * frame step. Frames of 480 samples every 320 are turned into raw cepstra once, as their last block
 * arrives; a
 * complete window is quantized (pqk_mfcc_*_features), run through the model, turned into integer
 * posteriors, averaged over the last PQK_KWS_AVERAGE_WINDOWS windows and thresholded with
 * suppression; a stream of at most PQK_KWS_AVERAGE_WINDOWS windows is one clip and reports its top
 * class over all of them. Lines go out through kws_emit(). Python twin: pqk_mcu/audio/streaming.py.
 */
#ifndef PQK_KWS_H
#define PQK_KWS_H

#include <stdint.h>

#include "kws_config.h"

#define KWS_BLOCK_SAMPLES 160

/* Starts a stream of total_samples samples (>= 16000, a multiple of 160). Returns 0, or -1 if not. */
int kws_start(uint32_t total_samples);

/* Feeds the next block; returns 0, or -1 when the model fails. */
int kws_push_block(const int16_t *block);

/* Provided by the app's main: one output line, without its newline. */
void kws_emit(const char *line);

#endif /* PQK_KWS_H */
