"""Fixed-point arithmetic (the one home of requantization rounding); see fixed_point.py."""

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

__all__ = [
    "INT8_MAX",
    "INT8_MIN",
    "INT32_MAX",
    "INT32_MIN",
    "activation_range",
    "conv_effective_scales",
    "conv_multipliers",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_array",
    "quantize_multiplier",
    "rounding_divide_by_pot",
    "rounding_divide_by_pot_array",
    "saturating_rounding_doubling_high_mul",
    "srdhm_array",
    "tflite_round",
]
