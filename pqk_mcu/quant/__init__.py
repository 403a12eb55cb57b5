"""Fixed-point arithmetic (the one home of requantization rounding); see fixed_point.py.

gemmlowp.py holds the fixed-point exp / reciprocal / logistic / tanh used by SOFTMAX, LOGISTIC
and TANH; params.py derives per-op multipliers the way TFLite Micro's Prepare functions do;
affine.py converts between float32 and int8 at the graph edges.
"""

from pqk_mcu.quant.affine import affine_quantize_array, dequantize_array
from pqk_mcu.quant.fixed_point import (
    INT8_MAX,
    INT8_MIN,
    INT32_MAX,
    INT32_MIN,
    activation_range,
    conv_effective_scales,
    conv_multipliers,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_array,
    quantize_multiplier,
    rounding_divide_by_pot,
    rounding_divide_by_pot_array,
    saturating_rounding_doubling_high_mul,
    srdhm_array,
    tflite_round,
)
from pqk_mcu.quant.params import (
    AddParams,
    SigmoidParams,
    SoftmaxParams,
    add_params,
    calculate_input_radius,
    fully_connected_multiplier,
    mean_multiplier,
    mul_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one_exp,
    relu6_bounds,
    relu_bounds,
    requantize_multiplier,
    sigmoid_params,
    softmax_params,
)

__all__ = [
    "INT8_MAX",
    "INT8_MIN",
    "INT32_MAX",
    "INT32_MIN",
    "AddParams",
    "SigmoidParams",
    "SoftmaxParams",
    "activation_range",
    "add_params",
    "affine_quantize_array",
    "calculate_input_radius",
    "conv_effective_scales",
    "conv_multipliers",
    "dequantize_array",
    "fully_connected_multiplier",
    "mean_multiplier",
    "mul_multiplier",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_array",
    "quantize_multiplier",
    "quantize_multiplier_greater_than_one",
    "quantize_multiplier_smaller_than_one_exp",
    "relu6_bounds",
    "relu_bounds",
    "requantize_multiplier",
    "rounding_divide_by_pot",
    "rounding_divide_by_pot_array",
    "saturating_rounding_doubling_high_mul",
    "sigmoid_params",
    "softmax_params",
    "srdhm_array",
    "tflite_round",
]
