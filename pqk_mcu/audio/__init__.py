"""MFCC front-end shared by training and the KWS firmware.

mfcc.py is the float reference (TensorFlow's MLPerf Tiny KWS features); mfcc_f32.py and mfcc_fixed.py are
the exact twins of the C front-ends in firmware/frontend/; streaming.py runs the KWS app's sliding window.
"""

from pqk_mcu.audio.mfcc import FEATURE_SHAPE, mfcc_batch, quantize_features

__all__ = ["FEATURE_SHAPE", "mfcc_batch", "quantize_features"]
