"""int16x8 TRANSPOSE_CONV (int16 activations with zero point 0, int8 filter, int64 bias): the reference
equals TensorFlow Lite Micro bit for bit on TFLM's SEANet layer and on random layers (strides, SAME and
VALID, per-tensor and per-channel filters, with and without bias, fused activations), the generated C
(pqk_transpose_conv_s16) equals the reference on the host and under QEMU, and the graphs survive the
.tflite round trip. The SEANet file feeds the output shape from a graph input TFLM never reads.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.cli import main
from pqk_mcu.codegen import generate_c
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite, tflite_inputs
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.graph import QuantParams
from pqk_mcu.ir.ops import TransposeConvAttrs
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs


def _seanet(fixtures_dir) -> bytes:
    return (fixtures_dir / "tflm" / "seanet_transpose_conv0.tflite").read_bytes()


def _full_and_quiet(graph, count: int, seed: int) -> list:
    """Inputs uniform over int16, and the same divided by 64 (full-scale inputs saturate most outputs)."""
    loud = random_inputs(graph, count, seed=seed)
    return loud + [[x // 64 for x in sample] for sample in loud]


def test_seanet_output_shape_input_becomes_a_constant(fixtures_dir):
    model = _seanet(fixtures_dir)
    graph = load_tflite(model)
    (op,) = graph.ops
    shape_input, data_input = tflite_inputs(model)
    assert shape_input[1] == "int32" and data_input == (op.inputs[2], "int16")
    assert graph.inputs == (op.inputs[2],) and op.inputs[0] == shape_input[0]
    assert tuple(graph.tensor(op.inputs[0]).data) == graph.tensor(op.outputs[0]).shape == (1, 3, 12, 64)
    assert graph.tensor(op.inputs[3]).dtype == "int64"


def test_seanet_reference_equals_tflm(fixtures_dir):
    model = _seanet(fixtures_dir)
    graph = load_tflite(model)
    report = verify_model(graph, model, "reference", _full_and_quiet(graph, 4, seed=1))
    assert report.inputs == 8 and report.mismatches == []


def test_seanet_lowers_to_the_int16_kernel(fixtures_dir, tmp_path):
    generated = generate_c(load_tflite(_seanet(fixtures_dir)), tmp_path / "gen")
    assert [info.kernel for info in generated.layers] == ["pqk_transpose_conv_s16"]
    assert generated.input_size == 1 * 1 * 5 * 64 * 2
    assert (tmp_path / "gen" / "runtime" / "pqk_transpose_conv_s16.c").is_file()


def test_seanet_bit_exact_on_host(fixtures_dir):
    graph = load_tflite(_seanet(fixtures_dir))
    report = verify_model(graph, None, "host", _full_and_quiet(graph, 2, seed=2))
    assert report.inputs == 4 and report.mismatches == []


def test_seanet_bit_exact_in_qemu(toolchain, fixtures_dir):
    graph = load_tflite(_seanet(fixtures_dir))
    report = verify_model(graph, None, "cortex-m4", _full_and_quiet(graph, 1, seed=3))
    assert report.inputs == 2 and report.mismatches == []


def test_seanet_export_round_trip(fixtures_dir):
    graph = load_tflite(_seanet(fixtures_dir))
    assert load_tflite(export_tflite(graph)) == graph


CASES = [  # (input h, w, c), out_c, kernel, stride, padding, per_channel, bias, activation
    ((4, 5, 3), 4, (3, 3), (2, 2), "SAME", True, True, "NONE"),
    ((3, 3, 2), 3, (4, 4), (2, 2), "SAME", False, False, "RELU"),
    ((2, 4, 5), 2, (3, 2), (1, 3), "VALID", True, False, "RELU6"),
    ((1, 6, 1), 5, (1, 5), (1, 2), "VALID", False, True, "RELU_N1_TO_1"),
    ((5, 2, 4), 1, (2, 3), (3, 1), "SAME", True, True, "RELU"),
]


def _graph(cases=CASES, seed: int = 0):
    """16x8 TRANSPOSE_CONVs with filters holding -128 (TFLite's 16x8 converter writes it) and large
    int64 biases."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    outputs = []
    for (h, w, c), out_c, (k_h, k_w), (s_h, s_w), padding, per_channel, with_bias, activation in cases:
        in_scale = 0.0004
        x = b.input((1, h, w, c), in_scale, 0, dtype="int16")
        out_h, out_w = (h * s_h, w * s_w) if padding == "SAME" else ((h - 1) * s_h + k_h, (w - 1) * s_w + k_w)
        scales = tuple(rng.uniform(0.002, 0.02, out_c)) if per_channel else (0.01,)
        axis = 0 if len(scales) > 1 else None
        weights = rng.integers(-128, 128, (out_c, k_h, k_w, c))
        inputs = [b.constant(np.array([1, out_h, out_w, out_c]), "int32"),
                  b.constant(weights, "int8", QuantParams(scales, (0,) * len(scales), axis)), x]
        if with_bias:
            bias_scales = tuple(float(np.float32(in_scale) * np.float32(s)) for s in scales)
            inputs.append(b.constant(rng.integers(-(1 << 24), 1 << 24, out_c), "int64",
                                     QuantParams(bias_scales, (0,) * len(scales), axis)))
        out_scale = float(in_scale * max(scales) * np.sqrt(k_h * k_w * c) * 60)
        outputs.append(b.op("TRANSPOSE_CONV", inputs, TransposeConvAttrs(s_h, s_w, padding, activation), out_scale, 0))
    return b.build(outputs)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_reference_equals_tflm(case):
    graph = _graph([CASES[case]], seed=case)
    report = verify_model(graph, export_tflite(graph), "reference", _full_and_quiet(graph, 3, seed=case))
    assert report.inputs == 6 and report.mismatches == []


def test_bit_exact_on_host():
    graph = _graph()
    report = verify_model(graph, None, "host", _full_and_quiet(graph, 2, seed=4))
    assert report.inputs == 4 and report.mismatches == []


def test_bit_exact_in_qemu(toolchain):
    graph = _graph()
    report = verify_model(graph, None, "cortex-m4", _full_and_quiet(graph, 1, seed=5))
    assert report.inputs == 2 and report.mismatches == []


def test_export_round_trip():
    graph = _graph()
    assert load_tflite(export_tflite(graph)) == graph


def test_cli_verify_feeds_tflm_the_folded_output_shape(fixtures_dir, capsys):
    main(["verify", str(fixtures_dir / "tflm" / "seanet_transpose_conv0.tflite"), "--inputs", "20"])
    assert "verified 20/20 inputs bit-exact on reference" in capsys.readouterr().out
