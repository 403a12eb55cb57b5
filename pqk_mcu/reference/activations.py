"""RELU, RELU6, LEAKY_RELU, PRELU, HARD_SWISH, LOGISTIC, TANH and SOFTMAX (int8), exact to TFLM's reference kernels;
LOGISTIC, TANH and SOFTMAX on int16 inputs run ``activations_int16``.

LOGISTIC and TANH rescale the input into Q4.27 and evaluate gemmlowp's fixed-point logistic /
tanh; inputs beyond the representable radius saturate. SOFTMAX is TFLM's int8 -> int8 (or int16) path
(``reference_ops::Softmax``): differences to the row maximum are rescaled into Q5.26, exponentiated
with ``exp_on_negative_values``, summed in Q12.19 and multiplied by gemmlowp's reciprocal.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant import (
    INT8_MAX,
    INT8_MIN,
    hard_swish_params,
    leaky_relu_multipliers,
    mul_multiplier,
    multiply_by_quantized_multiplier_array,
    relu6_bounds,
    relu_bounds,
    requantize_multiplier,
    rounding_divide_by_pot_array,
    sigmoid_params,
    softmax_params,
    srdhm_array,
    wrap_int32,
)
from pqk_mcu.quant import gemmlowp
from pqk_mcu.quant.params import SIGMOID_INPUT_INTEGER_BITS, SOFTMAX_SCALED_DIFF_INTEGER_BITS
from pqk_mcu.errors import UnsupportedModelError
from pqk_mcu.reference.activations_int16 import logistic_int16, softmax_int16, tanh_int16
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point

SOFTMAX_ACCUMULATION_INTEGER_BITS = 12


@kernel("RELU")
def relu(call: KernelCall) -> list[np.ndarray]:
    in_scale, in_zp = scale_and_zero_point(call.inputs[0])
    out_scale, out_zp = scale_and_zero_point(call.output)
    multiplier, shift = requantize_multiplier(in_scale, out_scale)
    centered = call.values[0].astype(np.int64) - in_zp
    values = multiply_by_quantized_multiplier_array(centered, multiplier, shift).astype(np.int64) + out_zp
    low, high = relu_bounds(out_zp)
    return [np.clip(values, low, high).astype(np.int8)]


@kernel("RELU6")
def relu6(call: KernelCall) -> list[np.ndarray]:
    """TFLM clamps in the input's quantization and does not rescale to the output's."""
    low, high = relu6_bounds(*scale_and_zero_point(call.inputs[0]))
    return [np.clip(call.values[0], low, high).astype(np.int8)]


@kernel("LEAKY_RELU")
def leaky_relu(call: KernelCall) -> list[np.ndarray]:
    """Inputs at or above the zero point rescale by in / out, those below by in * alpha / out."""
    in_scale, in_zp = scale_and_zero_point(call.inputs[0])
    out_scale, out_zp = scale_and_zero_point(call.output)
    (identity, identity_shift), (negative, negative_shift) = leaky_relu_multipliers(in_scale, call.attrs.alpha, out_scale)
    centered = call.values[0].astype(np.int64) - in_zp
    values = np.where(
        centered >= 0,
        multiply_by_quantized_multiplier_array(centered, identity, identity_shift),
        multiply_by_quantized_multiplier_array(centered, negative, negative_shift),
    ).astype(np.int64) + out_zp
    limits = np.iinfo(call.output.dtype)  # int8, or int16 in 16x8 models
    return [np.clip(values, limits.min, limits.max).astype(call.output.dtype)]


@kernel("PRELU")
def prelu(call: KernelCall) -> list[np.ndarray]:
    """Inputs at or above the zero point rescale by in / out, those below are multiplied by their alpha
    (broadcast) and rescale by in * alpha / out."""
    (in_scale, in_zp), (alpha_scale, alpha_zp) = (scale_and_zero_point(t) for t in call.inputs[:2])
    out_scale, out_zp = scale_and_zero_point(call.output)
    identity, identity_shift = requantize_multiplier(in_scale, out_scale)
    negative, negative_shift = mul_multiplier(in_scale, alpha_scale, out_scale)
    centered = np.broadcast_to(call.values[0].astype(np.int64) - in_zp, call.output.shape)
    alpha = np.broadcast_to(call.values[1].astype(np.int64) - alpha_zp, call.output.shape)
    values = np.where(
        centered >= 0,
        multiply_by_quantized_multiplier_array(centered, identity, identity_shift),
        multiply_by_quantized_multiplier_array(centered * alpha, negative, negative_shift),
    ).astype(np.int64) + out_zp
    return [np.clip(values, INT8_MIN, INT8_MAX).astype(np.int8)]


def _int16(values: np.ndarray) -> np.ndarray:
    """C's narrowing to int16_t (wraps)."""
    return ((values + (1 << 15)) & 0xFFFF) - (1 << 15)


def _high16(numerator: np.ndarray) -> np.ndarray:
    """``numerator / (1 << 15)`` truncated toward zero, as int16."""
    return _int16(np.where(numerator >= 0, numerator >> 15, -((-numerator) >> 15)))


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp's int16 ``SaturatingRoundingDoublingHighMul``."""
    product = a * b
    rounded = _high16(product + np.where(product >= 0, 1 << 14, 1 - (1 << 14)))
    return np.where((a == b) & (a == -(1 << 15)), (1 << 15) - 1, rounded)


def _saturating_left_shift16(values: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(values * (1 << amount), -(1 << 15), (1 << 15) - 1)


@kernel("HARD_SWISH")
def hard_swish(call: KernelCall) -> list[np.ndarray]:
    """x * relu6(x + 3) / 6 in int16 fixed point (``reference_ops::HardSwish``)."""
    in_scale, in_zp = scale_and_zero_point(call.inputs[0])
    out_scale, out_zp = scale_and_zero_point(call.output)
    p = hard_swish_params(in_scale, out_scale)
    if p.output_exponent > 0:
        raise UnsupportedModelError(
            f"op {call.op.name} (HARD_SWISH): output scale {out_scale:.6g} is below the input scale / 128 "
            "that TFLite Micro's kernel accepts"
        )
    hires = (call.values[0].astype(np.int64) - in_zp) * (1 << 7)
    preshift = _srdhm16(hires, p.output_multiplier)
    reluish = hires
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift16(reluish, p.reluish_exponent - 1)
    reluish = _srdhm16(reluish, p.reluish_multiplier)
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if p.reluish_exponent < 0:
        reluish = rounding_divide_by_pot_array(reluish, -p.reluish_exponent).astype(np.int64)
    reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] -> [0, 1]
    # SaturatingDoublingHighMul: truncating, saturating only for -32768 * -32768 (reluish is never negative).
    product = _high16(reluish * preshift)
    values = _int16(rounding_divide_by_pot_array(product, -p.output_exponent).astype(np.int64) + out_zp)
    return [np.clip(values, INT8_MIN, INT8_MAX).astype(np.int8)]


def _sigmoid_input(call: KernelCall):
    """Input minus zero point, its Q4.27 rescaling, and the saturation masks."""
    scale, zero_point = scale_and_zero_point(call.inputs[0])
    p = sigmoid_params(scale)
    centered = call.values[0].astype(np.int64) - zero_point
    rescaled = multiply_by_quantized_multiplier_array(centered, p.input_multiplier, p.input_left_shift)
    return rescaled.astype(np.int64), centered <= -p.input_range_radius, centered >= p.input_range_radius


@kernel("LOGISTIC")
def logistic(call: KernelCall) -> list[np.ndarray]:
    """Output scale 1/256, zero point -128 (fixed by TFLM); int16: 2^-15, zero point 0."""
    if call.inputs[0].dtype == "int16":
        return [logistic_int16(call.values[0], call.inputs[0].quant.scale[0])]
    rescaled, below, above = _sigmoid_input(call)
    q0 = gemmlowp.logistic(rescaled, SIGMOID_INPUT_INTEGER_BITS)
    values = np.clip(rounding_divide_by_pot_array(q0, 31 - 8).astype(np.int64) - 128, INT8_MIN, INT8_MAX)
    return [np.where(below, INT8_MIN, np.where(above, INT8_MAX, values)).astype(np.int8)]


@kernel("TANH")
def tanh(call: KernelCall) -> list[np.ndarray]:
    """Output scale 1/128, zero point 0: TFLM adds no output zero point; int16: 2^-15, zero point 0."""
    if call.inputs[0].dtype == "int16":
        return [tanh_int16(call.values[0], call.inputs[0].quant.scale[0])]
    rescaled, below, above = _sigmoid_input(call)
    q0 = gemmlowp.tanh(rescaled, SIGMOID_INPUT_INTEGER_BITS)
    values = np.clip(rounding_divide_by_pot_array(q0, 31 - 7), INT8_MIN, INT8_MAX)
    return [np.where(below, INT8_MIN, np.where(above, INT8_MAX, values)).astype(np.int8)]


@kernel("SOFTMAX")
def softmax(call: KernelCall) -> list[np.ndarray]:
    """Along the last axis; output int8 with scale 1/256, zero point -128, or int16 with scale 1/65536,
    zero point -32768 (fixed by TFLM); int16 -> int16 with scale 2^-15, zero point 0."""
    scale, _ = scale_and_zero_point(call.inputs[0])
    if call.inputs[0].dtype == "int16":
        return [softmax_int16(call.values[0], scale, call.attrs.beta)]
    p = softmax_params(call.attrs.beta, scale)
    x = call.values[0].astype(np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    used = diff >= p.diff_min
    # MultiplyByQuantizedMultiplierGreaterThanOne: the left shift cannot overflow for diff >= diff_min.
    rescaled = srdhm_array(np.where(used, diff, 0) << p.input_left_shift, p.input_multiplier).astype(np.int64)
    exps = gemmlowp.exp_on_negative_values(rescaled, SOFTMAX_SCALED_DIFF_INTEGER_BITS)
    summands = gemmlowp.rescale(exps, 0, SOFTMAX_ACCUMULATION_INTEGER_BITS)
    sum_of_exps = wrap_int32(np.where(used, summands, 0).sum(axis=-1, keepdims=True))
    shifted_scale, num_bits_over_unit = gemmlowp.get_reciprocal(sum_of_exps, SOFTMAX_ACCUMULATION_INTEGER_BITS)
    limits = np.iinfo(call.output.dtype)
    exponent = num_bits_over_unit + 31 - limits.bits
    unsaturated = rounding_divide_by_pot_array(srdhm_array(shifted_scale, exps), exponent).astype(np.int64)
    values = np.clip(unsaturated + limits.min, limits.min, limits.max)
    return [np.where(used, values, limits.min).astype(call.output.dtype)]
