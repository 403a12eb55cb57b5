"""int8 HARD_SWISH: the reference (TFLite's int16 fixed-point arithmetic) equals TensorFlow Lite Micro on
every int8 input over scales from 1e-4 to 3, the generated C (a pqk_lut_s8 table) equals the reference on
the host, and the op survives the .tflite round trip."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import UnsupportedModelError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import NoAttrs
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.reference import run_reference

from op_checks import assert_bit_exact


def _graph(in_scale: float, out_scale: float, seed: int, shape=(1, 256)):
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input(shape, float(np.float32(in_scale)), int(rng.integers(-128, 128)))
    return b.build([b.op("HARD_SWISH", (x,), NoAttrs(), float(np.float32(out_scale)), int(rng.integers(-128, 128)))])


@pytest.mark.parametrize("seed", range(4))
def test_reference_equals_tflm_on_every_input(seed):
    rng = np.random.default_rng(seed)
    values = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for trial in range(10):
        in_scale = 10 ** rng.uniform(-4, 0.5)  # the relu-ish factor shifts left and right
        graph = _graph(in_scale, in_scale * 10 ** rng.uniform(-2, 1), seed * 10 + trial)
        report = verify_model(graph, export_tflite(graph), "reference", [[values]])
        assert report.mismatches == []


def test_bit_exact_on_host(tmp_path):
    graph = _graph(0.05, 0.04, seed=1, shape=(1, 5, 7, 3))
    assert [layer.kernel for layer in generate_c(graph, tmp_path / "gen").layers] == ["pqk_lut_s8"]
    assert_bit_exact(graph, "host", 3, seed=2)


def test_export_round_trip():
    graph = _graph(0.1, 0.05, seed=3)
    assert load_tflite(export_tflite(graph)) == graph


def test_an_output_scale_tflite_micro_refuses_is_refused():
    graph = _graph(1.0, 0.005, seed=4)  # input scale / 128 / output scale > 1
    with pytest.raises(UnsupportedModelError, match="HARD_SWISH"):
        run_reference(graph, [np.zeros((1, 256), dtype=np.int8)])
