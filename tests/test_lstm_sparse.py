"""The LSTM's gate products on DSP cores (pqk_lstm_s8_dsp: SMLAD over row quads) and from CSR
(pqk_lstm_s8_csr: either weight matrix or both, the zeros skipped), against the reference, on the host
(plain-C DSP fallbacks under ASan/UBSan) and on cortex-m4 in QEMU; the cost model picks CSR for pruned
gate weights only where it pays.

Random LSTMs of odd sizes (input size 13 or 3, 7 or 9 units: column tails of every length), batch 2 time
major and batch 1, dense and pruned (0.8 with rows of no nonzero, 0.95).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import Target, choose_lstm_kernel
from pqk_mcu.ir.prune import prune_array
from test_op_lstm import lstm_graph
from test_perf_kernels import _assert_bit_exact

TARGETS = ["host", "cortex-m4"]
INPUT_WEIGHT_SLOTS, RECURRENT_WEIGHT_SLOTS = (1, 2, 3, 4), (5, 6, 7, 8)
SHAPES = {
    "13x7_batch_2_time_major": dict(seed=11, input_size=13, units=7, batch=2, time_major=True, steps=3),
    "3x9": dict(seed=12, input_size=3, units=9, steps=5),
}


def _pruned(graph, sparsity: float, slots=INPUT_WEIGHT_SLOTS + RECURRENT_WEIGHT_SLOTS):
    """The LSTM with its weights in ``slots`` pruned to ``sparsity``, every third row of each emptied."""
    names = {graph.ops[0].inputs[slot] for slot in slots}

    def prune(tensor):
        data = prune_array(tensor.data, sparsity)
        data[::3] = 0
        return dataclasses.replace(tensor, data=data)

    return graph.replace(tensors=tuple(prune(t) if t.name in names else t for t in graph.tensors))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_lstm_dsp(tmp_path, toolchain, target, shape):
    generated = generate_c(lstm_graph(**SHAPES[shape]), tmp_path / "gen", weight_format="dense", board="cortex-m4")
    assert generated.layers[0].kernel == "pqk_lstm_s8_dsp"
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("board", [None, "cortex-m4"])
def test_sparse_lstm(tmp_path, toolchain, target, shape, board):
    generated = generate_c(_pruned(lstm_graph(**SHAPES[shape]), 0.8), tmp_path / "gen", weight_format="csr",
                           board=board)
    assert generated.layers[0].kernel == "pqk_lstm_s8_csr"
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("csr_slots", [INPUT_WEIGHT_SLOTS, RECURRENT_WEIGHT_SLOTS])
def test_one_matrix_in_csr(tmp_path, toolchain, target, csr_slots):
    """Only one matrix pruned (0.95): auto stores that one as CSR, the other dense."""
    graph = _pruned(lstm_graph(seed=13, input_size=40, units=24, steps=6), 0.95, csr_slots)
    generated = generate_c(graph, tmp_path / "gen", weight_format="auto")
    assert generated.layers[0].kernel == "pqk_lstm_s8_csr"
    weights_c = (generated.out_dir / "model_weights.c").read_text()
    sparse, dense = ("input", "recurrent") if csr_slots == INPUT_WEIGHT_SLOTS else ("recurrent", "input")
    assert f"_{sparse}_weights_csr" in weights_c and f"_{dense}_weights_csr" not in weights_c
    _assert_bit_exact(generated, target, tmp_path)


def test_cost_model_keeps_dense_weights_dense_and_pruned_ones_sparse():
    rng = np.random.default_rng(0)
    dense = rng.integers(-127, 128, (4 * 80, 257)).astype(np.int8)
    recurrent = rng.integers(-127, 128, (4 * 80, 80)).astype(np.int8)

    def kernel(input_weights, recurrent_weights, target):
        return choose_lstm_kernel(input_weights, recurrent_weights, (input_weights, recurrent_weights), 49, "auto",
                                  target).kernel

    for target, dense_kernel in ((Target(), "pqk_lstm_s8"), (Target(has_dsp=True, thumb2=True), "pqk_lstm_s8_dsp")):
        assert kernel(dense, recurrent, target) == dense_kernel
        assert kernel(prune_array(dense, 0.9), prune_array(recurrent, 0.9), target) == "pqk_lstm_s8_csr"
