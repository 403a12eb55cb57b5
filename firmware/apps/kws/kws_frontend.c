/*
 * kws_frontend.c - compiles the MFCC front-end (firmware/frontend/) into the KWS app: the firmware
 * build compiles an app's own folder, so the variant the board needs is included here, float32 on
 * FPU cores and integer-only without an FPU (PQK_KWS_FIXED_POINT, from the generated kws_config.h).
 */
#include "kws_config.h"

#if PQK_KWS_FIXED_POINT
#include "../../frontend/pqk_log2_q16.c"
#include "../../frontend/pqk_mfcc_q15.c"
#include "../../frontend/pqk_mfcc_q15_features.c"
#include "../../frontend/pqk_rfft_magnitude_q15.c"
#else
#include "../../frontend/pqk_log_f32.c"
#include "../../frontend/pqk_mfcc_f32.c"
#include "../../frontend/pqk_mfcc_f32_features.c"
#include "../../frontend/pqk_rfft_magnitude_f32.c"
#endif
#include "../../frontend/pqk_mfcc_tables.c"
