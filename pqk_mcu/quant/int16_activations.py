"""Tables and Prepare-time parameters of TFLite Micro's int16 LOGISTIC, TANH and SOFTMAX (16x8 models).

LOGISTIC and TANH interpolate one 256-entry table of sigmoid(i / 24) in unsigned Q0.16 (TFLite's
``sigmoid_table_uint16``, shared with CMSIS-NN) after rescaling the input by an integer multiplier and a
rounding right shift. SOFTMAX interpolates two 513-entry int16 tables that TFLite Micro builds at Prepare
with ``gen_lut`` in float32 arithmetic: exp over [-10, 0] and 1 / (1 + x) over [0, 1].
"""

from __future__ import annotations

import math

import numpy as np

from pqk_mcu.quant.fixed_point import quantize_multiplier

# sigmoid(i / 24) in unsigned Q0.16 for i in 0..255, as TFLite's tables hold it (not a plain rounding of
# the function: a few entries differ by one from round(65536 * sigmoid(i / 24))).
SIGMOID_TABLE_UINT16 = (
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
)

SIGMOID_INPUT_INTEGER_BITS_INT16 = 3
# The input multiplier multiplies an int16 value inside int32 arithmetic (TFLite Micro DCHECKs this bound).
MAX_SIGMOID_INPUT_MULTIPLIER_INT16 = 32767


def _checked_log2(value: float) -> tuple[bool, int]:
    """TFLite's ``CheckedLog2``: whether ``value`` is a power of two (within 1e-3 in log2), and that power."""
    log2 = math.log(value) / math.log(2.0)
    rounded = math.floor(abs(log2) + 0.5) * (1 if log2 >= 0 else -1)
    return abs(log2 - rounded) < 1e-3, int(rounded)


def sigmoid_input_params_int16(input_scale: float, tanh: bool) -> tuple[int, int]:
    """The int16 LOGISTIC / TANH input rescaling ``(multiplier, right shift)``: the kernel looks the table up at
    ``(x * multiplier + rounding) >> shift``, where x * 3 / 4096 (power-of-two scales 2^-12, TANH also 2^-11) or
    x * scale * 3 * 4096 is the input in units of 1 / (3 * 4096). TFLite Micro's Prepare leaves multiplier 0 for
    the power-of-two case and its kernel then uses 3 << shift with no shift; that is folded in here."""
    power_of_two, log2 = _checked_log2(input_scale)
    left_shift = (15 - SIGMOID_INPUT_INTEGER_BITS_INT16) + log2
    if power_of_two and left_shift in ((0, 1) if tanh else (0,)):
        return 3 << left_shift, 0
    multiplier = float(input_scale) * 4096.0 * 3.0
    shift = 0
    while multiplier <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        multiplier *= 2.0
    return int(multiplier), shift


SOFTMAX_INT16_LUT_SIZE = 513


def softmax_input_params_int16(beta: float, input_scale: float) -> tuple[int, int]:
    """``(multiplier, shift)`` taking a difference to the row maximum to units where -65535 is -10.0."""
    return quantize_multiplier(float(input_scale) * float(np.float32(beta)) / (10.0 / 65535.0))


def _int16_lut(function, input_min: float, input_max: float) -> np.ndarray:
    """TFLite's ``gen_lut<float, int16_t, int16_t>`` with output range [-1, 1]: 512 samples of ``function``
    over [input_min, input_max] corrected by half the interpolation error at each midpoint, and the end value;
    float32 arithmetic throughout."""
    f32 = np.float32
    steps = 512
    step = (f32(input_max) - f32(input_min)) / f32(steps)
    half_step = step / f32(2)
    scaling = f32(65536) / (f32(1) - f32(-1))

    def rounded(value: np.float32) -> np.float32:
        return f32(math.floor(abs(float(value)) + 0.5) * (1 if value >= 0 else -1))

    lut = np.empty(steps + 1, dtype=np.int64)
    for i in range(steps):
        value = function(f32(input_min) + f32(i) * step)
        midpoint = function(f32(input_min) + f32(i) * step + half_step)
        following = function(f32(input_min) + f32(i + 1) * step)
        sample = rounded(value * scaling)
        interpolated = rounded((following * scaling + rounded(value * scaling)) / f32(2))
        bias = rounded((interpolated - rounded(midpoint * scaling)) / f32(2))
        lut[i] = min(max(sample - bias, -32768), 32767)
    lut[steps] = min(max(rounded(function(f32(input_max)) * scaling), -32768), 32767)
    return lut


def softmax_luts_int16() -> tuple[np.ndarray, np.ndarray]:
    """TFLite Micro's int16 SOFTMAX tables: exp over [-10, 0] and 1 / (1 + x) over [0, 1], 513 int16 each."""
    # expf of a float32, correctly rounded (libm's expf rounds correctly on these arguments).
    exp_lut = _int16_lut(lambda x: np.float32(math.exp(float(x))), -10.0, 0.0)
    reciprocal_lut = _int16_lut(lambda x: np.float32(1.0) / (np.float32(1.0) + x), 0.0, 1.0)
    return exp_lut, reciprocal_lut
