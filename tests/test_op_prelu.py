"""int8 PRELU: the reference equals TensorFlow Lite Micro, the generated C (pqk_prelu_s8) equals the
reference on the host and under QEMU, and the op survives the .tflite round trip."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder, per_tensor
from pqk_mcu.ir.ops import NoAttrs

from op_checks import assert_bit_exact

# (input scale, alpha scale, output scale): ordinary, an identity multiplier above 1, a tiny alpha scale.
SCALES = ((0.05, 0.01, 0.04), (0.2, 0.004, 0.05), (0.02, 1e-4, 0.03))


def _graph():
    """Per-channel alphas (a constant, as converters write them), a scalar alpha and an alpha input."""
    rng = np.random.default_rng(4)
    b = GraphBuilder()
    outputs = []
    for in_scale, alpha_scale, out_scale in SCALES:
        x = b.input((1, 3, 5, 4), in_scale, int(rng.integers(-128, 128)))
        alpha_quant = per_tensor(alpha_scale, int(rng.integers(-128, 128)))
        channel_alpha = b.constant(rng.integers(-128, 128, (1, 1, 4)), "int8", alpha_quant)
        outputs.append(b.op("PRELU", (x, channel_alpha), NoAttrs(), out_scale, int(rng.integers(-128, 128))))
        scalar_alpha = b.constant(rng.integers(-128, 128, (1,)), "int8", alpha_quant)
        outputs.append(b.op("PRELU", (x, scalar_alpha), NoAttrs(), out_scale, int(rng.integers(-128, 128))))
    alpha_input = b.input((5, 1), 0.01, 3)
    outputs.append(b.op("PRELU", (b.input((1, 3, 5, 4), 0.05, -2), alpha_input), NoAttrs(), 0.04, 7))
    return b.build(outputs)


def test_reference_equals_tflm(tmp_path):
    graph = _graph()
    assert {layer.kernel for layer in generate_c(graph, tmp_path / "gen").layers} == {"pqk_prelu_s8"}
    assert_bit_exact(graph, "reference", 4, seed=1)


@pytest.mark.parametrize("board", ["host", "cortex-m4"])
def test_bit_exact_generated_c(board, request):
    if board != "host":
        request.getfixturevalue("toolchain")
    graph = _graph()
    assert_bit_exact(graph, board, 2, seed=2)


def test_export_round_trip():
    graph = _graph()
    assert load_tflite(export_tflite(graph)) == graph
