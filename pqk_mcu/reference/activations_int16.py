"""LOGISTIC, TANH and SOFTMAX on int16 activations (16x8 models), exact to TFLite Micro's int16 kernels.

LOGISTIC and TANH (``reference_integer_ops::Logistic`` / ``Tanh`` for int16): the rescaled input's magnitude
interpolates ``SIGMOID_TABLE_UINT16`` between neighbouring entries (tanh(x) = 2 sigmoid(2x) - 1 reads the same
table at twice the step), the sign folds the result; output scale 2^-15, zero point 0. SOFTMAX
(``reference_ops::SoftmaxInt16``): each difference to the row maximum, rescaled so that -65535 is -10, looks up
exp in a 513-entry table; the row sum, normalized, looks up its reciprocal in a second table; output scale
2^-15, zero point 0. The LOGISTIC / TANH / SOFTMAX kernels in ``activations`` call these for int16 inputs.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant import multiply_by_quantized_multiplier_array
from pqk_mcu.quant.int16_activations import (
    SIGMOID_TABLE_UINT16,
    sigmoid_input_params_int16,
    softmax_input_params_int16,
    softmax_luts_int16,
)

_TABLE = np.array(SIGMOID_TABLE_UINT16, dtype=np.int64)


def _rescaled(values: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    return (values.astype(np.int64) * multiplier + rounding) >> shift


def _interpolated(magnitude: np.ndarray, fraction_bits: int, saturated: int) -> np.ndarray:
    """The table at ``magnitude`` / 2^fraction_bits, interpolated on its low bits, scaled by 2^fraction_bits."""
    index = magnitude >> fraction_bits
    inside = np.minimum(index, 254)
    low, high = _TABLE[inside], _TABLE[inside + 1]
    fraction = magnitude & ((1 << fraction_bits) - 1)
    return np.where(index >= 255, saturated, (low << fraction_bits) + fraction * (high - low))


def table_sigmoid(values: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """Q0.15 sigmoid of int16 ``values`` rescaled by (x * multiplier + rounding) >> shift (TFLite's table steps)."""
    x = _rescaled(values, multiplier, shift)
    result = _interpolated(np.abs(x), 9, 0x7FFF << 10)
    result = np.where(x >= 0, result + (1 << 9), (1 << (16 + 9)) - result + (1 << 9) - 1)
    return (result >> 10).astype(np.int16)


def table_tanh(values: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """Q0.15 tanh of int16 ``values`` rescaled by (x * multiplier + rounding) >> shift."""
    x = _rescaled(values, multiplier, shift)
    result = _interpolated(np.abs(x), 8, 0xFFFF << 8)
    result = np.where(x >= 0, result - (1 << 23) + (1 << 7), -result + (1 << 23) + (1 << 7) - 1)
    return (result >> 8).astype(np.int16)


def logistic_int16(values: np.ndarray, input_scale: float) -> np.ndarray:
    """The int16 LOGISTIC op: input rescaling from its scale (TFLite Micro's Prepare)."""
    return table_sigmoid(values, *sigmoid_input_params_int16(input_scale, False))


def tanh_int16(values: np.ndarray, input_scale: float) -> np.ndarray:
    """The int16 TANH op: input rescaling from its scale (TFLite Micro's Prepare)."""
    return table_tanh(values, *sigmoid_input_params_int16(input_scale, True))


def int16_table_lookup(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLite's ``generic_int16_table_lookup``: 512 segments of 128 inputs, linear between entries (int16
    arithmetic for the slope and the sum, as in C)."""
    index = 256 + (values >> 7)
    offset = values & 0x7F
    base = lut[index]
    slope = _wrap16(lut[index + 1] - base)
    return _wrap16(base + ((slope * offset + 64) >> 7))


def _wrap16(values: np.ndarray) -> np.ndarray:
    return ((values + (1 << 15)) & 0xFFFF) - (1 << 15)


def softmax_int16(values: np.ndarray, input_scale: float, beta: float) -> np.ndarray:
    multiplier, shift = softmax_input_params_int16(beta, input_scale)
    exp_lut, reciprocal_lut = softmax_luts_int16()
    x = values.astype(np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    scaled = multiply_by_quantized_multiplier_array(diff, multiplier, shift).astype(np.int64)
    exps = int16_table_lookup(np.clip(scaled + 32767, -32768, 32767), exp_lut)
    sums = exps.sum(axis=-1, keepdims=True)
    # headroom_plus_one = leading zeros of the (positive, 32-bit) sum
    headroom_plus_one = 32 - np.vectorize(int.bit_length, otypes=[np.int64])(sums)
    shifted = ((sums << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    reciprocal = int16_table_lookup(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), reciprocal_lut)
    right_shift = 31 - headroom_plus_one
    result = (exps * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(result, 0, 32767).astype(np.int16)
