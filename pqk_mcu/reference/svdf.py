"""SVDF, exact to TFLite Micro's int8 kernel (``EvalIntegerSvdfReference``).

The activation state holds, per batch and filter, the last ``memory`` feature projections. Each
invocation shifts the whole state left by one value, writes the new projection of the input
(requantized, saturated to the state's type, then the state zero point added with the wrap of
the narrowing store, as the TFLite Micro release pqk-mcu checks against does) into each filter's last slot,
takes every filter's dot product with its ``weights_time`` row (state zero point subtracted),
sums ``rank`` filters per unit onto the bias and requantizes to int8. The fused activation is
not applied (TFLite Micro's int8 kernel only saturates to int8).
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant import multiply_by_quantized_multiplier_array
from pqk_mcu.quant.fixed_point import wrap_int32
from pqk_mcu.quant.params import svdf_multipliers
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


@kernel("SVDF")
def svdf(call: KernelCall) -> list[np.ndarray]:
    x_tensor, feature_tensor, time_tensor, _, state_tensor = call.inputs
    x, feature, time, bias, state = call.values
    in_scale, in_zp = scale_and_zero_point(x_tensor)
    state_scale, state_zp = scale_and_zero_point(state_tensor)
    out_scale, out_zp = scale_and_zero_point(call.output)
    (feature_m, feature_s), (time_m, time_s) = svdf_multipliers(
        in_scale, feature_tensor.quant.scale[0], state_scale, time_tensor.quant.scale[0], out_scale)
    batch = x.shape[0]
    filters, memory = time.shape
    info = np.iinfo(state.dtype)

    # The flat state shifts left by one value: each filter's memory moves one step back in time.
    flat = state.astype(np.int64).reshape(-1)
    shifted = np.concatenate([flat[1:], flat[:1]]).reshape(batch, filters, memory)
    projection = wrap_int32((x.astype(np.int64) - in_zp) @ feature.astype(np.int64).T)
    projection = np.clip(multiply_by_quantized_multiplier_array(projection, feature_m, feature_s), info.min, info.max)
    shifted[:, :, -1] = (projection + state_zp).astype(state.dtype)  # wraps like the C store
    new_state = shifted.astype(state.dtype).reshape(state.shape)

    per_filter = wrap_int32(np.sum((shifted - state_zp) * time.astype(np.int64), axis=2))
    units = wrap_int32(per_filter.reshape(batch, -1, call.attrs.rank).sum(axis=2) + bias.astype(np.int64))
    scaled = multiply_by_quantized_multiplier_array(units, time_m, time_s) + out_zp
    return [np.clip(scaled, -128, 127).astype(np.int8), new_state]
