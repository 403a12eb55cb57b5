/*
 * pqk_rfft_magnitude_q15 - integer magnitudes of the 512-point FFT of a real frame, no FPU.
 * data[512] int32 with |data| <= 2^15 (destroyed); magnitude[128] = floor(sqrt(|2 X[k]|^2)), k < 128,
 * which may be data itself (bin k only reads complex values k and 256 - k; words below k are done).
 * 256-point complex radix-2 FFT of the even/odd packed frame with Q30 twiddles, every product rounded
 * ((p + 2^29) >> 30); 9 doublings from 2^15 stay below 2^25, so no stage scaling is needed.
 * Bit-identical to pqk_mcu/audio/mfcc_fixed.py:rfft_magnitude_q.
 */
#include "pqk_mfcc.h"

#define HALF (PQK_MFCC_FFT_LENGTH / 2)
#define ROUND_Q30 ((int64_t)1 << 29)

static int32_t product_q30(int32_t w1, int32_t x1, int32_t w2, int32_t x2, int negate_second)
{
    const int64_t first = (int64_t)w1 * x1;
    const int64_t second = (int64_t)w2 * x2;
    const int64_t sum = negate_second ? first - second : first + second;
    return (int32_t)((sum + ROUND_Q30) >> 30);
}

static uint32_t isqrt64(uint64_t value)
{
    uint64_t root = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > value) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (value >= root + bit) {
            value -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)root;
}

void pqk_rfft_magnitude_q15(int32_t *data, uint32_t *magnitude)
{
    for (unsigned i = 0; i < HALF; ++i) {
        const unsigned j = pqk_mfcc_bit_reverse[i];
        if (j > i) {
            const int32_t re = data[2 * i];
            const int32_t im = data[2 * i + 1];
            data[2 * i] = data[2 * j];
            data[2 * i + 1] = data[2 * j + 1];
            data[2 * j] = re;
            data[2 * j + 1] = im;
        }
    }
    for (unsigned half = 1; half < HALF; half <<= 1) {
        const unsigned step = HALF / half;
        for (unsigned group = 0; group < HALF; group += 2 * half) {
            for (unsigned j = 0; j < half; ++j) {
                const int32_t wr = pqk_mfcc_twiddle_re_q30[j * step];
                const int32_t wi = pqk_mfcc_twiddle_im_q30[j * step];
                int32_t *a = &data[2 * (group + j)];
                int32_t *b = &data[2 * (group + j + half)];
                const int32_t tr = product_q30(wr, b[0], wi, b[1], 1);
                const int32_t ti = product_q30(wr, b[1], wi, b[0], 0);
                const int32_t ar = a[0];
                const int32_t ai = a[1];
                b[0] = ar - tr;
                b[1] = ai - ti;
                a[0] = ar + tr;
                a[1] = ai + ti;
            }
        }
    }
    for (unsigned k = 0; k < PQK_MFCC_MAG_BINS; ++k) {
        const unsigned mirror = (HALF - k) % HALF;
        const int32_t zr = data[2 * k];
        const int32_t zi = data[2 * k + 1];
        const int32_t cr = data[2 * mirror];
        const int32_t ci = data[2 * mirror + 1];
        const int32_t wr = pqk_mfcc_twiddle_re_q30[k];
        const int32_t wi = pqk_mfcc_twiddle_im_q30[k];
        const int32_t odd_re = zi + ci;
        const int32_t odd_im = cr - zr;
        const int64_t xr = (int64_t)(zr + cr) + product_q30(wr, odd_re, wi, odd_im, 1);
        const int64_t xi = (int64_t)(zi - ci) + product_q30(wr, odd_im, wi, odd_re, 0);
        magnitude[k] = isqrt64((uint64_t)(xr * xr + xi * xi));
    }
}
