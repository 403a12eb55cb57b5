/*
 * pqk_rfft_magnitude_f32 - |X[k]| for k < 128 of the 512-point FFT of a real frame.
 * data[512] float (destroyed); magnitude[128] float, which may be data itself: bin k only reads
 * complex values k and 256 - k, and floats below k belong to complex values already done. The real frame is packed as 256 complex values
 * (even samples real, odd imaginary), transformed by an in-place radix-2 decimation-in-time FFT and
 * split into the real spectrum. Operation order is that of pqk_mcu/audio/mfcc_f32.py:rfft_magnitude
 * (bit-identical: no fused multiply-adds).
 */
/* No fused multiply-adds: the twin rounds every product. */
#pragma GCC optimize("fp-contract=off")
#include <math.h>

#include "pqk_mfcc.h"

/* Correctly rounded IEEE square root: the FPU instruction on Arm (no libm in the firmware link),
 * libm's sqrtf elsewhere. */
static float square_root(float value)
{
#if defined(__ARM_FP)
    float root;
    __asm__("vsqrt.f32 %0, %1" : "=t"(root) : "t"(value));
    return root;
#else
    return sqrtf(value);
#endif
}

#define HALF (PQK_MFCC_FFT_LENGTH / 2)

void pqk_rfft_magnitude_f32(float *data, float *magnitude)
{
    for (unsigned i = 0; i < HALF; ++i) {
        const unsigned j = pqk_mfcc_bit_reverse[i];
        if (j > i) {
            const float re = data[2 * i];
            const float im = data[2 * i + 1];
            data[2 * i] = data[2 * j];
            data[2 * i + 1] = data[2 * j + 1];
            data[2 * j] = re;
            data[2 * j + 1] = im;
        }
    }
    for (unsigned half = 1; half < HALF; half <<= 1) {
        const unsigned step = HALF / half; /* twiddle stride in the 512-point table */
        for (unsigned group = 0; group < HALF; group += 2 * half) {
            for (unsigned j = 0; j < half; ++j) {
                const float wr = pqk_mfcc_twiddle_re_f32[j * step];
                const float wi = pqk_mfcc_twiddle_im_f32[j * step];
                float *a = &data[2 * (group + j)];
                float *b = &data[2 * (group + j + half)];
                const float tr = wr * b[0] - wi * b[1];
                const float ti = wr * b[1] + wi * b[0];
                const float ar = a[0];
                const float ai = a[1];
                b[0] = ar - tr;
                b[1] = ai - ti;
                a[0] = ar + tr;
                a[1] = ai + ti;
            }
        }
    }
    for (unsigned k = 0; k < PQK_MFCC_MAG_BINS; ++k) {
        const unsigned mirror = (HALF - k) % HALF;
        const float zr = data[2 * k];
        const float zi = data[2 * k + 1];
        const float cr = data[2 * mirror];
        const float ci = data[2 * mirror + 1];
        const float er = 0.5f * (zr + cr);
        const float ei = 0.5f * (zi - ci);
        const float orr = 0.5f * (zi + ci);
        const float oi = 0.5f * (cr - zr);
        const float wr = pqk_mfcc_twiddle_re_f32[k];
        const float wi = pqk_mfcc_twiddle_im_f32[k];
        const float xr = er + (wr * orr - wi * oi);
        const float xi = ei + (wr * oi + wi * orr);
        magnitude[k] = square_root(xr * xr + xi * xi);
    }
}
