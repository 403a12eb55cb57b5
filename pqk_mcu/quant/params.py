"""Per-op integer parameters derived from scales exactly as TFLite Micro's Prepare functions do.

Every function here mirrors one Prepare-time computation of TFLite Micro's reference kernels,
including which products are taken in float32 and which in double, so that the multipliers and
shifts match TFLM bit for bit. Scales arrive as Python floats holding float32 values
(``QuantParams`` guarantees that), so ``float(x)`` is C's ``static_cast<double>(float)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pqk_mcu.quant.fixed_point import (
    INT8_MAX,
    INT8_MIN,
    multiply_by_quantized_multiplier_array,
    quantize_multiplier,
    tflite_round,
)


def _f32(value: float) -> np.float32:
    return np.float32(value)


def quantize_multiplier_smaller_than_one_exp(real_multiplier: float) -> tuple[int, int]:
    """``QuantizeMultiplierSmallerThanOneExp``: 0 < real < 1, returns ``(multiplier, shift <= 0)``."""
    if not 0.0 < real_multiplier < 1.0:
        raise ValueError(f"multiplier {real_multiplier!r} must lie in (0, 1)")
    return quantize_multiplier(real_multiplier)


def quantize_multiplier_greater_than_one(real_multiplier: float) -> tuple[int, int]:
    """``QuantizeMultiplierGreaterThanOne``: real > 1, returns ``(multiplier, left_shift >= 0)``."""
    if not real_multiplier > 1.0:
        raise ValueError(f"multiplier {real_multiplier!r} must exceed 1")
    return quantize_multiplier(real_multiplier)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """``CalculateInputRadius``: largest |input| whose rescaled value stays representable."""
    max_input_rescaled = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * (1 << (total_signed_bits - input_integer_bits))
        / (1 << input_left_shift)
    )
    return int(math.floor(max_input_rescaled))


def requantize_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    """int8 -> int8 rescale ``input_scale / output_scale`` in double (QUANTIZE, RELU, MEAN)."""
    return quantize_multiplier(float(input_scale) / float(output_scale))


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """MEAN over ``count`` values: ``reference_ops::QuantizedMeanOrSum`` folds 1/count into the
    input -> output multiplier (also when input and output quantization agree)."""
    multiplier, shift = requantize_multiplier(input_scale, output_scale)
    fold = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << fold) // count, shift - fold


def fully_connected_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple[int, int]:
    """Per-tensor FULLY_CONNECTED: ``GetQuantizedConvolutionMultipler``.

    The input*filter product is taken in float32 and only then widened to double, unlike the
    per-channel path (``conv_multipliers``), which multiplies in double.
    """
    product = float(_f32(input_scale) * _f32(filter_scale))
    return quantize_multiplier(product / float(output_scale))


@dataclass(frozen=True)
class AddParams:
    """int8 ADD rescaling (``CalculateOpDataAdd``): both inputs to a common 2^-20 scale, then output."""

    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int


ADD_LEFT_SHIFT_INT8 = 20
ADD_LEFT_SHIFT_INT16 = 15  # 16x8 ADD / SUB: 65535 << 15 still fits the int32 sum


def add_params(input1_scale: float, input2_scale: float, output_scale: float,
               left_shift: int = ADD_LEFT_SHIFT_INT8) -> AddParams:
    twice_max_input_scale = 2 * float(max(_f32(input1_scale), _f32(input2_scale)))
    real_input1_multiplier = float(input1_scale) / twice_max_input_scale
    real_input2_multiplier = float(input2_scale) / twice_max_input_scale
    real_output_multiplier = twice_max_input_scale / ((1 << left_shift) * float(output_scale))
    m1, s1 = quantize_multiplier_smaller_than_one_exp(real_input1_multiplier)
    m2, s2 = quantize_multiplier_smaller_than_one_exp(real_input2_multiplier)
    mo, so = quantize_multiplier_smaller_than_one_exp(real_output_multiplier)
    return AddParams(left_shift, m1, s1, m2, s2, mo, so)


def add_input_table(zero_point: int, left_shift: int, multiplier: int, shift: int) -> np.ndarray:
    """One ADD input's rescaled value for every int8 input x = -128..127 (int64 [256]): what int8 ADD
    computes per element before the sum, ``MultiplyByQuantizedMultiplierSmallerThanOneExp((x -
    zero_point) << left_shift, multiplier, shift)``; it depends on x alone, so a table can replace it."""
    values = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64)
    return multiply_by_quantized_multiplier_array((values - zero_point) << left_shift, multiplier, shift).astype(np.int64)


def mul_multiplier(input1_scale: float, input2_scale: float, output_scale: float) -> tuple[int, int]:
    """int8 MUL: ``in1 * in2 / out`` in double (``CalculateOpDataMul``)."""
    return quantize_multiplier(float(input1_scale) * float(input2_scale) / float(output_scale))


@dataclass(frozen=True)
class SoftmaxParams:
    """int8 SOFTMAX (``CalculateSoftmaxParams``): input diff rescaling into Q5.26 and its cut-off."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5


def softmax_params(beta: float, input_scale: float) -> SoftmaxParams:
    """``PreprocessSoftmaxScaling`` (double rounding build) and ``CalculateInputRadius``."""
    max_real_multiplier = (1 << 31) - 1.0
    real_multiplier = min(
        float(_f32(beta)) * float(input_scale) * (1 << (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS)), max_real_multiplier
    )
    multiplier, left_shift = quantize_multiplier_greater_than_one(real_multiplier)
    diff_min = -1 * calculate_input_radius(SOFTMAX_SCALED_DIFF_INTEGER_BITS, left_shift)
    return SoftmaxParams(multiplier, left_shift, diff_min)


@dataclass(frozen=True)
class SigmoidParams:
    """int8 LOGISTIC / TANH input rescaling into Q4.27 (``CalculateArithmeticOpDataLogistic``)."""

    input_multiplier: int
    input_left_shift: int
    input_range_radius: int


SIGMOID_INPUT_INTEGER_BITS = 4


def sigmoid_params(input_scale: float) -> SigmoidParams:
    """Shared by LOGISTIC and TANH. Uses ``frexp`` directly: no ``q == 2^31`` correction."""
    real_multiplier = float(input_scale) * float(1 << (31 - SIGMOID_INPUT_INTEGER_BITS))
    significand, left_shift = math.frexp(real_multiplier)
    # static_cast<int32_t> of 2^31 wraps to INT32_MIN on the hosts TFLM runs on.
    multiplier = tflite_round(significand * (1 << 31))
    multiplier = ((multiplier + (1 << 31)) % (1 << 32)) - (1 << 31)
    radius = calculate_input_radius(SIGMOID_INPUT_INTEGER_BITS, left_shift)
    return SigmoidParams(multiplier, left_shift, radius)


def relu6_bounds(input_scale: float, input_zero_point: int) -> tuple[int, int]:
    """RELU6 int8 clamps in the input's own quantization (``Relu6Prepare``): ``(zero, six)``."""
    six = tflite_round(float(_f32(6.0) / _f32(input_scale))) + int(input_zero_point)
    return int(input_zero_point), max(INT8_MIN, min(INT8_MAX, six))


def leaky_relu_multipliers(input_scale: float, alpha: float, output_scale: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """LEAKY_RELU (``CalculateOpDataLeakyRelu``): ``(multiplier, shift)`` for inputs at or above the zero
    point (in / out), then for those below (in * alpha / out), from the float32 values in double: float32
    arithmetic differs from TFLite Micro where a product lands on a rounding tie."""
    identity = quantize_multiplier(float(_f32(input_scale)) / float(_f32(output_scale)))
    negative = quantize_multiplier(float(_f32(input_scale)) * float(_f32(alpha)) / float(_f32(output_scale)))
    return identity, negative


@dataclass(frozen=True)
class HardSwishParams:
    """int8 HARD_SWISH (``HardSwishPrepare``): int16 fixed-point multipliers and their exponents for the
    input on the output scale and for the "relu-ish" factor (3.0 on the scale of 32768)."""

    output_multiplier: int
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int


def _int16_multiplier(multiplier: int) -> int:
    """``DownScaleInt32ToInt16Multiplier``: round a Q31 multiplier to Q15, saturating."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(input_scale: float, output_scale: float) -> HardSwishParams:
    """The scales' ratios are taken in float32, as TFLite Micro does."""
    hires_input_scale = _f32(1.0 / 128.0) * _f32(input_scale)
    reluish_scale = _f32(3.0) / _f32(32768.0)
    output_multiplier, output_exponent = quantize_multiplier(float(hires_input_scale / _f32(output_scale)))
    reluish_multiplier, reluish_exponent = quantize_multiplier(float(hires_input_scale / reluish_scale))
    return HardSwishParams(_int16_multiplier(output_multiplier), output_exponent,
                           _int16_multiplier(reluish_multiplier), reluish_exponent)


def relu_bounds(output_zero_point: int) -> tuple[int, int]:
    """RELU int8 output clamps (``CalculateReluOpData``): ``roundf(0 / scale)`` is 0."""
    return max(INT8_MIN, int(output_zero_point)), INT8_MAX


def svdf_multipliers(input_scale: float, feature_scale: float, state_scale: float, time_scale: float,
                     output_scale: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """int8 SVDF (``PrepareSvdf``): input x weights_feature -> state, and state x weights_time ->
    output; both effective scales are computed in float32 and only then widened to double."""
    feature_to_state = float(_f32(input_scale) * _f32(feature_scale) / _f32(state_scale))
    time_to_output = float(_f32(state_scale) * _f32(time_scale) / _f32(output_scale))
    return quantize_multiplier(feature_to_state), quantize_multiplier(time_to_output)


# TFLite Micro's integer LSTM (``lstm_eval_common.cc``, the 8x8->16 form: int8 activations and weights,
# int16 cell state): every gate's pre-activation is int16 with scale 2^-12 (Q3.12), every gate's output
# int16 with scale 2^-15 (Q0.15).
LSTM_GATE_INPUT_SCALE = 2.0 ** -12
LSTM_GATE_OUTPUT_SCALE = 2.0 ** -15

@dataclass(frozen=True)
class LstmParams:
    """Integer parameters of TFLite Micro's int8 LSTM (``PrepareGateParametersInteger``,
    ``CreateLstmCellStateInfo``). Gates in TFLite's order: input, forget, cell, output."""

    input_multipliers: tuple[tuple[int, int], ...]  # input x input weights -> gate pre-activation
    recurrent_multipliers: tuple[tuple[int, int], ...]  # hidden state x recurrent weights -> gate
    forget_multiplier: tuple[int, int]  # forget gate x cell state -> cell state
    input_multiplier: tuple[int, int]  # input gate x cell gate -> cell state
    hidden_multiplier: tuple[int, int]  # tanh(cell state) x output gate -> hidden state
    cell_scale_power: int  # cell state scale = 2^cell_scale_power
    cell_clip: int  # |cell state| limit in cell-state units; 0: no clipping


def lstm_params(input_scale: float, input_weight_scales, hidden_scale: float, recurrent_weight_scales,
                cell_scale: float, cell_clip: float) -> LstmParams:
    """The four gates' fully connected multipliers are ``GetQuantizedConvolutionMultipler``'s (float32
    product); the element-wise products' are ``CreateInterGateMulParams``' (double)."""

    def mul(scale1: float, scale2: float, output_scale: float) -> tuple[int, int]:
        return quantize_multiplier(float(scale1) * float(scale2) / float(output_scale))

    clip = 0
    if cell_clip > 0:
        clip = int(min(max(float(cell_clip) / float(cell_scale), -32768.0), 32767.0))
    return LstmParams(
        input_multipliers=tuple(fully_connected_multiplier(input_scale, s, LSTM_GATE_INPUT_SCALE)
                                for s in input_weight_scales),
        recurrent_multipliers=tuple(fully_connected_multiplier(hidden_scale, s, LSTM_GATE_INPUT_SCALE)
                                    for s in recurrent_weight_scales),
        forget_multiplier=mul(LSTM_GATE_OUTPUT_SCALE, cell_scale, cell_scale),
        input_multiplier=mul(LSTM_GATE_OUTPUT_SCALE, LSTM_GATE_OUTPUT_SCALE, cell_scale),
        hidden_multiplier=mul(LSTM_GATE_OUTPUT_SCALE, LSTM_GATE_OUTPUT_SCALE, hidden_scale),
        # CheckedLog2 rounds: a cell scale that is not a power of two runs as the nearest one, as in TFLM.
        cell_scale_power=round(math.log2(cell_scale)),
        cell_clip=clip,
    )


def lstm_tanh_input_scaling(scale_power: int) -> tuple[int, int]:
    """(multiplier, right shift) that bring an int16 value of scale 2^scale_power to the int16 TANH's
    input, (x * multiplier + rounding) >> shift (``lstm_internal::Tanh``; 3 is the table's 3/4 range
    expansion). The cell gate's Q3.12 pre-activation takes (3, 0), as the sigmoid gates do."""
    left_shift = 15 + scale_power - 3
    if left_shift >= 0:
        return 3 << left_shift, 0
    return 3, -left_shift
