"""ADD, SUB, MUL, MAXIMUM and MINIMUM (int8, numpy broadcasting), exact to TFLM's int8 reference kernels;
ADD and SUB also to its 16x8 ones (int16, the general rescaling path with 15 bits of headroom)."""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant import (
    ADD_LEFT_SHIFT_INT8,
    ADD_LEFT_SHIFT_INT16,
    AddParams,
    activation_range,
    add_params,
    mul_multiplier,
    multiply_by_quantized_multiplier_array,
)
from pqk_mcu.quant.fixed_point import wrap_int32
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


def _operands(call: KernelCall):
    (s1, z1), (s2, z2) = (scale_and_zero_point(t) for t in call.inputs[:2])
    a = call.values[0].astype(np.int64) - z1
    b = call.values[1].astype(np.int64) - z2
    return (s1, a), (s2, b)


def _finish(call: KernelCall, scaled: np.ndarray) -> np.ndarray:
    scale, zero_point = scale_and_zero_point(call.output)
    dtype = call.output.dtype
    low, high = activation_range(call.attrs.activation, scale, zero_point, dtype)
    values = np.clip(scaled.astype(np.int64) + zero_point, low, high).astype(dtype)
    return np.broadcast_to(values, call.output.shape).copy()


def _add_params(call: KernelCall, s1: float, s2: float) -> AddParams:
    """TFLM's ADD / SUB multipliers: 20 bits of headroom for int8, 15 for int16 (16x8)."""
    left_shift = ADD_LEFT_SHIFT_INT16 if call.output.dtype == "int16" else ADD_LEFT_SHIFT_INT8
    return add_params(s1, s2, scale_and_zero_point(call.output)[0], left_shift)


def _rescaled(a: np.ndarray, b: np.ndarray, p: AddParams) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs on a common scale with ``left_shift`` bits of headroom (int64)."""
    scaled_a = multiply_by_quantized_multiplier_array(a << p.left_shift, p.input1_multiplier, p.input1_shift)
    scaled_b = multiply_by_quantized_multiplier_array(b << p.left_shift, p.input2_multiplier, p.input2_shift)
    return scaled_a.astype(np.int64), scaled_b.astype(np.int64)


@kernel("ADD")
def add(call: KernelCall) -> list[np.ndarray]:
    """Both inputs move to a common scale with 20 (int16: 15) bits of headroom, are summed, then rescaled."""
    (s1, a), (s2, b) = _operands(call)
    p = _add_params(call, s1, s2)
    scaled_a, scaled_b = _rescaled(a, b, p)
    raw_sum = wrap_int32(scaled_a + scaled_b)
    return [_finish(call, multiply_by_quantized_multiplier_array(raw_sum, p.output_multiplier, p.output_shift))]


@kernel("SUB")
def sub(call: KernelCall) -> list[np.ndarray]:
    """ADD's arithmetic on the difference: TFLite Micro's SUB derives the same multipliers as its ADD."""
    (s1, a), (s2, b) = _operands(call)
    p = _add_params(call, s1, s2)
    scaled_a, scaled_b = _rescaled(a, b, p)
    raw_difference = wrap_int32(scaled_a - scaled_b)
    return [_finish(call, multiply_by_quantized_multiplier_array(raw_difference, p.output_multiplier, p.output_shift))]


@kernel("MUL")
def mul(call: KernelCall) -> list[np.ndarray]:
    (s1, a), (s2, b) = _operands(call)
    multiplier, shift = mul_multiplier(s1, s2, scale_and_zero_point(call.output)[0])
    return [_finish(call, multiply_by_quantized_multiplier_array(a * b, multiplier, shift))]


@kernel("MAXIMUM")
def maximum(call: KernelCall) -> list[np.ndarray]:
    """Raw int8 comparison: inputs and output share one quantization."""
    return [np.broadcast_to(np.maximum(call.values[0], call.values[1]), call.output.shape).astype(np.int8)]


@kernel("MINIMUM")
def minimum(call: KernelCall) -> list[np.ndarray]:
    return [np.broadcast_to(np.minimum(call.values[0], call.values[1]), call.output.shape).astype(np.int8)]
