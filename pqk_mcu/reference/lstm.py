"""UNIDIRECTIONAL_SEQUENCE_LSTM, exact to TFLite Micro's integer kernel (``lstm_eval_common.cc``, int8
activations and weights, int16 cell state, no peephole, projection or layer norm).

Per batch, per time step: each gate (input, forget, cell, output) is the int16 sum, saturated, of two
fully connected products (input x input weights + bias, hidden state x recurrent weights), each
requantized to Q3.12; sigmoid (tanh for the cell gate) of it in Q0.15 by TFLite's int16 table
interpolation. Then cell = saturate(forget x cell + input x cell gate), clipped to the cell clip;
hidden = output gate x tanh(cell), requantized to int8 with the hidden state's zero point, which is
also the step's output. The hidden and cell states carry from step to step and across invocations.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant import multiply_by_quantized_multiplier_array
from pqk_mcu.quant.params import lstm_params, lstm_tanh_input_scaling
from pqk_mcu.reference.activations_int16 import table_sigmoid, table_tanh
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point

INPUT_WEIGHT_SLOTS = (1, 2, 3, 4)  # input, forget, cell, output gates
RECURRENT_WEIGHT_SLOTS = (5, 6, 7, 8)
BIAS_SLOTS = (12, 13, 14, 15)
HIDDEN_STATE_SLOT = 18
CELL_STATE_SLOT = 19


def _saturate(values: np.ndarray, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(values, info.min, info.max).astype(dtype)


def _product(a: np.ndarray, b: np.ndarray, multiplier: tuple[int, int]) -> np.ndarray:
    """Element-wise product of two int16 vectors, requantized (``MulElementwise``, offsets 0)."""
    return multiply_by_quantized_multiplier_array(a.astype(np.int64) * b.astype(np.int64), *multiplier)


@kernel("UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(call: KernelCall) -> list[np.ndarray]:
    tensors, values = call.inputs, call.values
    x = values[0]
    in_scale, in_zp = scale_and_zero_point(tensors[0])
    hidden_scale, hidden_zp = scale_and_zero_point(tensors[HIDDEN_STATE_SLOT])
    cell_scale, _ = scale_and_zero_point(tensors[CELL_STATE_SLOT])
    p = lstm_params(in_scale, [tensors[s].quant.scale[0] for s in INPUT_WEIGHT_SLOTS], hidden_scale,
                    [tensors[s].quant.scale[0] for s in RECURRENT_WEIGHT_SLOTS], cell_scale, call.attrs.cell_clip)
    cell_tanh = lstm_tanh_input_scaling(p.cell_scale_power)
    gate_rescale = lstm_tanh_input_scaling(-12)  # Q3.12 into the table's steps, sigmoid and tanh alike
    input_weights = [values[s].astype(np.int64) for s in INPUT_WEIGHT_SLOTS]
    recurrent_weights = [values[s].astype(np.int64) for s in RECURRENT_WEIGHT_SLOTS]
    biases = [values[s].astype(np.int64) for s in BIAS_SLOTS]

    if call.attrs.time_major:
        x = x.transpose(1, 0, 2)
    batches, steps, _ = x.shape
    units = recurrent_weights[0].shape[0]
    hidden = values[HIDDEN_STATE_SLOT].reshape(batches, units).astype(np.int64)
    cell = values[CELL_STATE_SLOT].reshape(batches, units).astype(np.int64)
    output = np.empty((batches, steps, units), dtype=np.int8)
    for t in range(steps):
        features = x[:, t, :].astype(np.int64) - in_zp
        recurrent = hidden - hidden_zp
        gates = []
        for g in range(4):
            from_input = _saturate(multiply_by_quantized_multiplier_array(
                features @ input_weights[g].T + biases[g], *p.input_multipliers[g]), np.int16)
            from_hidden = _saturate(multiply_by_quantized_multiplier_array(
                recurrent @ recurrent_weights[g].T, *p.recurrent_multipliers[g]), np.int16)
            pre = _saturate(from_input.astype(np.int64) + from_hidden, np.int16)
            gates.append(table_tanh(pre, *gate_rescale) if g == 2 else table_sigmoid(pre, *gate_rescale))
        input_gate, forget_gate, cell_gate, output_gate = gates
        kept = _saturate(_product(forget_gate, cell, p.forget_multiplier), np.int16)
        added = _saturate(_product(input_gate, cell_gate, p.input_multiplier), np.int16)
        cell = _saturate(kept.astype(np.int64) + added, np.int16).astype(np.int64)
        if p.cell_clip:
            cell = np.clip(cell, -p.cell_clip, p.cell_clip)
        hidden = _saturate(_product(table_tanh(cell, *cell_tanh), output_gate, p.hidden_multiplier) + hidden_zp,
                           np.int8).astype(np.int64)
        output[:, t, :] = hidden
    if call.attrs.time_major:
        output = output.transpose(1, 0, 2)
    new_hidden = hidden.astype(np.int8).reshape(tensors[HIDDEN_STATE_SLOT].shape)
    new_cell = cell.astype(np.int16).reshape(tensors[CELL_STATE_SLOT].shape)
    return [np.ascontiguousarray(output), new_hidden, new_cell]
