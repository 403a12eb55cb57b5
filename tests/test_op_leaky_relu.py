"""int8 LEAKY_RELU: the reference equals TensorFlow Lite Micro on every int8 input, the generated C (a
256-entry table from the reference, pqk_lut_s8) equals the reference on the host, and the op survives
the .tflite round trip with its alpha."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import LeakyReluAttrs
from pqk_mcu.pipeline.verify import verify_model

from op_checks import assert_bit_exact

# (alpha, input scale, output scale): the usual slopes, none, a slope above 1, and an output scale that
# makes the identity multiplier exceed 1.
CASES = ((0.2, 0.05, 0.04), (0.01, 0.1, 0.1), (0.0, 0.02, 0.01), (1.5, 0.03, 0.06), (0.3, 0.2, 0.005))


def _leaky_relu_graph(alpha: float, in_scale: float, out_scale: float, seed: int, shape=(1, 256)):
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input(shape, in_scale, int(rng.integers(-128, 128)))
    return b.build([b.op("LEAKY_RELU", (x,), LeakyReluAttrs(float(np.float32(alpha))), out_scale,
                         int(rng.integers(-128, 128)))])


@pytest.mark.parametrize("alpha,in_scale,out_scale", CASES)
def test_reference_equals_tflm_on_every_input(alpha, in_scale, out_scale):
    graph = _leaky_relu_graph(alpha, in_scale, out_scale, seed=int(alpha * 100))
    values = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    report = verify_model(graph, export_tflite(graph), "reference", [[values]])
    assert report.mismatches == []


def test_bit_exact_on_host(tmp_path):
    graph = _leaky_relu_graph(0.2, 0.05, 0.04, seed=1, shape=(1, 5, 7, 3))
    assert [layer.kernel for layer in generate_c(graph, tmp_path / "gen").layers] == ["pqk_lut_s8"]
    assert_bit_exact(graph, "host", 3, seed=2)


def test_export_round_trip_keeps_alpha():
    graph = _leaky_relu_graph(0.3, 0.2, 0.005, seed=3)
    assert load_tflite(export_tflite(graph)) == graph
    assert graph.ops[0].attrs.alpha == float(np.float32(0.3))
