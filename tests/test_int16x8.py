"""int16x8 models (int16 activations with zero point 0, int8 weights; TFLite's 16x8 quantization): the
reference equals TensorFlow Lite Micro bit for bit on TFLM's single-layer SEANet models and on random
graphs, the generated C equals the reference on the host and under QEMU, and the graphs survive the
.tflite round trip. Ops without a 16x8 form keep refusing int16 activations.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pqk_mcu.cli import main
from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import LeakyReluAttrs, NoAttrs, StridedSliceAttrs
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.pipeline.bench import bench_graph
from pqk_mcu.pipeline.host import HostModel
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.reference import run_reference
from pqk_mcu.verify import random_inputs

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# TFLM's SEANet layers (tests/fixtures/tflm/seanet_<layer>.tflite) and the kernel each lowers to.
SEANET = {
    "pad0": "pqk_pad_s16",
    "strided_slice0": "pqk_strided_copy_s16",
    "quantize0": "pqk_quantize_s16",  # int32 -> int16
    "conv0": "pqk_conv2d_s16_csr",  # 64 % of its weights are zero: CSR takes fewer bytes
    "add0": "pqk_add_s16",
    "sub0": "pqk_sub_s16",  # broadcasts input2 [64]
    "leaky_relu0": "pqk_leaky_relu_s16",
}


def _seanet(fixtures_dir, layer: str) -> bytes:
    return (fixtures_dir / "tflm" / f"seanet_{layer}.tflite").read_bytes()


def _full_and_quiet(graph, count: int, seed: int) -> list:
    """Inputs uniform over their type, and the same divided by 64: full-scale int16 inputs saturate most
    outputs, quiet ones exercise the rounding."""
    loud = random_inputs(graph, count, seed=seed)
    return loud + [[x // 64 for x in sample] for sample in loud]


@pytest.mark.parametrize("layer", SEANET)
def test_seanet_reference_equals_tflm(fixtures_dir, layer):
    model = _seanet(fixtures_dir, layer)
    graph = load_tflite(model)
    report = verify_model(graph, model, "reference", _full_and_quiet(graph, 4, seed=1))
    assert report.inputs == 8 and report.mismatches == []


@pytest.mark.parametrize("layer", SEANET)
def test_seanet_lowers_to_the_int16_kernel(fixtures_dir, tmp_path, layer):
    generated = generate_c(load_tflite(_seanet(fixtures_dir, layer)), tmp_path / "gen")
    assert [info.kernel for info in generated.layers] == [SEANET[layer]]
    assert generated.input_size == sum(generated.graph.tensor(name).nbytes for name in generated.graph.inputs)
    assert (tmp_path / "gen" / "runtime" / f"{SEANET[layer]}.c").is_file()


@pytest.mark.parametrize("layer", SEANET)
def test_seanet_bit_exact_on_host(fixtures_dir, layer):
    graph = load_tflite(_seanet(fixtures_dir, layer))
    report = verify_model(graph, None, "host", _full_and_quiet(graph, 2, seed=2))
    assert report.inputs == 4 and report.mismatches == []


@pytest.mark.parametrize("layer", SEANET)
def test_seanet_bit_exact_in_qemu(toolchain, fixtures_dir, layer):
    graph = load_tflite(_seanet(fixtures_dir, layer))
    report = verify_model(graph, None, "cortex-m4", _full_and_quiet(graph, 1, seed=3))
    assert report.inputs == 2 and report.mismatches == []


@pytest.mark.parametrize("layer", SEANET)
def test_seanet_export_round_trip(fixtures_dir, layer):
    graph = load_tflite(_seanet(fixtures_dir, layer))
    assert load_tflite(export_tflite(graph)) == graph


@pytest.mark.parametrize("layer", ["conv0", "quantize0"])
def test_seanet_bench_counts_bit_exact_runs(toolchain, fixtures_dir, layer):
    """bench feeds each input uniform over its own type (int16; int32 for quantize0)."""
    result = bench_graph(load_tflite(_seanet(fixtures_dir, layer)), "cortex-m4")
    assert result.bit_exact and result.instructions > 0


def test_cli_build_and_run_take_and_return_int16(toolchain, fixtures_dir, tmp_path, capsys):
    model = fixtures_dir / "tflm" / "seanet_leaky_relu0.tflite"
    out = tmp_path / "fw"
    main(["build", str(model), "--board", "cortex-m4", "-o", str(out)])
    graph = load_tflite(model)
    (inputs,) = random_inputs(graph, 1, seed=15)
    np.save(tmp_path / "x.npy", inputs[0])
    main(["run", str(out / "firmware.elf"), "--board", "cortex-m4",
          "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    output = np.load(tmp_path / "y.npy")
    assert output.dtype == np.int16
    np.testing.assert_array_equal(output, run_reference(graph, inputs)["outputs"][0])
    np.save(tmp_path / "x8.npy", inputs[0].astype(np.int8))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(out / "firmware.elf"), "--board", "cortex-m4",
              "--input", str(tmp_path / "x8.npy"), "--output", str(tmp_path / "y8.npy")])
    assert exit_info.value.code == 2
    assert "the firmware takes int16 input (the C core's quantized values), got int8" in capsys.readouterr().err


def _data_movement_graph():
    """int16 PAD of ranks 2..4 and STRIDED_SLICEs with negative strides, masks and a dropped axis."""
    b = GraphBuilder()
    outputs = []
    x = b.input((1, 3, 5, 4), 0.0007, 0, dtype="int16")
    outputs.append(b.pad(x, [[0, 0], [1, 2], [0, 3], [2, 0]]))
    outputs.append(b.pad(b.input((6, 7), 0.002, 0, dtype="int16"), [[2, 1], [0, 4]]))
    for begin, end, strides, attrs in (
        ([0, 2, 4, 3], [1, 0, 0, 0], [1, -1, -2, -1], StridedSliceAttrs(begin_mask=0, end_mask=8)),
        ([0, 1, 1, 0], [1, 3, 5, 4], [1, 1, 2, 3], StridedSliceAttrs(shrink_axis_mask=1)),
    ):
        operands = [b.constant(np.array(v, dtype=np.int32), "int32") for v in (begin, end, strides)]
        outputs.append(b.op("STRIDED_SLICE", [x, *operands], attrs))
    return b.build(outputs)


def test_data_movement_reference_equals_tflm_and_c_on_host():
    graph = _data_movement_graph()
    inputs = random_inputs(graph, 3, seed=4)
    assert verify_model(graph, export_tflite(graph), "reference", inputs).mismatches == []
    assert verify_model(graph, None, "host", inputs).mismatches == []


def test_data_movement_in_qemu(toolchain):
    graph = _data_movement_graph()
    assert verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=5)).mismatches == []


def _conv_graph(sparsity: float = 0.0):
    """16x8 CONV_2Ds: strides, dilation, both paddings, every fused activation, per-tensor and
    per-channel weights holding -128, biases beyond int32, and output scales from saturating to fine."""
    rng = np.random.default_rng(8)
    b = GraphBuilder()
    x = b.input((1, 9, 11, 5), 0.0009, 0, dtype="int16")
    outputs = []
    for k, (activation, padding, stride, dilation, out_scale) in enumerate((
        ("NONE", "VALID", 1, 1, 0.0017), ("RELU", "SAME", 2, 1, 0.02), ("RELU6", "SAME", 1, 2, 0.0002),
        ("RELU_N1_TO_1", "VALID", (2, 1), (1, 2), 0.00005),
    )):
        out_c = 3 + k
        weights = rng.integers(-128, 128, (out_c, 3, 3, 5)).astype(np.int8)
        weights[rng.random(weights.shape) < sparsity] = 0
        scales = rng.uniform(0.002, 0.02, out_c) if k % 2 else 0.01
        bias = rng.integers(-(1 << 34), 1 << 34, out_c).astype(np.int64)
        outputs.append(b.conv2d(x, weights, scales, bias, out_scale, 0, stride, padding, dilation, activation))
    return b.build(outputs)


@pytest.mark.parametrize("weight_format", ["dense", "csr"])
def test_conv_reference_equals_tflm_and_c_on_host(tmp_path, weight_format):
    graph = _conv_graph(0.6)
    kernel = {"dense": "pqk_conv2d_s16", "csr": "pqk_conv2d_s16_csr"}[weight_format]
    model = HostModel(graph, weight_format, work_dir=tmp_path)
    assert {info.kernel for info in model.generated.layers} == {kernel}
    inputs = random_inputs(graph, 3, seed=9)
    assert verify_model(graph, export_tflite(graph), "reference", inputs).mismatches == []
    for sample, result in zip(inputs, model.run(inputs)):
        for expected, actual in zip(run_reference(graph, sample)["outputs"], result["outputs"], strict=True):
            assert expected.dtype == actual.dtype and np.array_equal(expected, actual)


def test_conv_in_qemu(toolchain):
    graph = _conv_graph(0.5)
    assert verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=10)).mismatches == []


def _add_sub_graph():
    """16x8 ADD and SUB: same shapes, broadcasting both ways, a constant operand, every fused activation,
    input scales 10^4 apart, the same input on both sides."""
    b = GraphBuilder()
    x = b.input((1, 4, 3, 6), 0.0006, 0, dtype="int16")
    y = b.input((1, 4, 3, 6), 0.0009, 0, dtype="int16")
    channel = b.input((6,), 0.00002, 0, dtype="int16")
    constant = b.constant(np.arange(-3000, 3000, 1000, dtype=np.int16), "int16", b.quant(x))
    outputs = []
    for kind in ("ADD", "SUB"):
        for k, (first, second, out_scale) in enumerate(
            ((x, y, 0.001), (x, channel, 0.0004), (channel, x, 0.2), (x, constant, 0.0011), (y, y, 0.00003))
        ):
            outputs.append(b.binary(kind, first, second, out_scale, 0, ACTIVATIONS[k % 4]))
    return b.build(outputs)


def test_add_sub_reference_equals_tflm_and_c_on_host(tmp_path):
    graph = _add_sub_graph()
    assert {info.kernel for info in generate_c(graph, tmp_path / "gen").layers} == {"pqk_add_s16", "pqk_sub_s16"}
    inputs = random_inputs(graph, 3, seed=11)
    inputs += [[(x // 16).astype(np.int16) for x in sample] for sample in inputs]  # away from saturation
    assert verify_model(graph, export_tflite(graph), "reference", inputs).mismatches == []
    assert verify_model(graph, None, "host", inputs).mismatches == []


def test_add_sub_in_qemu(toolchain):
    graph = _add_sub_graph()
    assert verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=12)).mismatches == []


def _leaky_relu_graph():
    """16x8 LEAKY_RELU: small, large and negative slopes, output scales finer and coarser than the input's."""
    b = GraphBuilder()
    x = b.input((2, 5, 7), 0.0011, 0, dtype="int16")
    return b.build([b.op("LEAKY_RELU", [x], LeakyReluAttrs(float(np.float32(alpha))), out_scale)
                    for alpha, out_scale in ((0.3, 0.0011), (0.01, 0.0004), (1.7, 0.003), (-0.5, 0.0009))])


def test_leaky_relu_reference_equals_tflm_and_c_on_host():
    graph = _leaky_relu_graph()
    inputs = random_inputs(graph, 3, seed=13)
    assert verify_model(graph, export_tflite(graph), "reference", inputs).mismatches == []
    assert verify_model(graph, None, "host", inputs).mismatches == []


def test_leaky_relu_in_qemu(toolchain):
    graph = _leaky_relu_graph()
    assert verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=14)).mismatches == []


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_leaky_relu_multipliers_match_tflm_on_random_scales(dtype):
    """Random slopes (negative and above 1 included) and scales, every int8 input or a sweep of int16 ones:
    the multipliers come from the scales in double (float32 arithmetic missed TFLM on rounding ties)."""
    rng = np.random.default_rng(16)
    b = GraphBuilder()
    wide = dtype == "int16"
    x = b.input((1, 256), 0.0011 if wide else 0.05, 0 if wide else 7, dtype=dtype)
    outputs = []
    for _ in range(24):  # decimal slopes and scales, as people write them, put products on ties
        alpha = float(np.float32(round(rng.choice([rng.uniform(-1, 0), rng.uniform(0, 1), rng.uniform(1, 3)]), 2)))
        out_scale = round(float(rng.uniform(0.0002, 0.004)), 4) if wide else round(float(rng.uniform(0.005, 0.2)), 3)
        outputs.append(b.op("LEAKY_RELU", [x], LeakyReluAttrs(alpha), out_scale, 0 if wide else -3))
    graph = b.build(outputs)
    values = (np.arange(-128, 128) * (128 if wide else 1) + (rng.integers(0, 128, 256) if wide else 0))
    report = verify_model(graph, export_tflite(graph), "reference", [[values.astype(dtype).reshape(1, 256)]])
    assert report.mismatches == []


def _requantize_graph():
    """QUANTIZE int16 -> int8, int16 -> int16 (rescaled up and down) and int8 -> int16."""
    b = GraphBuilder()
    x = b.input((3, 50), 0.0004, 0, dtype="int16")
    outputs = [b.quantize(x, 0.05, -7), b.quantize(x, 0.0011, 0, dtype="int16"),
               b.quantize(x, 0.00003, 0, dtype="int16")]
    outputs.append(b.quantize(b.input((2, 64), 0.02, 9), 0.0003, 0, dtype="int16"))
    return b.build(outputs)


def test_requantize_reference_equals_tflm_and_c_on_host(tmp_path):
    graph = _requantize_graph()
    assert {info.kernel for info in generate_c(graph, tmp_path / "gen").layers} == {"pqk_quantize_s16"}
    inputs = random_inputs(graph, 4, seed=6)
    assert verify_model(graph, export_tflite(graph), "reference", inputs).mismatches == []
    assert verify_model(graph, None, "host", inputs).mismatches == []


def test_requantize_in_qemu(toolchain):
    graph = _requantize_graph()
    assert verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=7)).mismatches == []


def test_float_quantizes_to_int8_only():
    b = GraphBuilder()
    quantized = b.quantize(b.float_input((1, 4)), 0.001, 0, dtype="int16")
    with pytest.raises(PqkError, match="quantizes to int8 only"):
        b.build([quantized])


def test_input_and_output_types_agree():
    b = GraphBuilder()
    graph = b.build([b.pad(b.input((1, 4), 0.001, 0, dtype="int16"), [[0, 0], [1, 1]])])
    narrowed = tuple(replace(t, dtype="int8") if t.name == graph.outputs[0] else t for t in graph.tensors)
    with pytest.raises(PqkError, match="they must agree"):
        verify_graph(replace(graph, tensors=narrowed))


def test_int16_needs_zero_point_0():
    b = GraphBuilder()
    padded = b.pad(b.input((1, 4), 0.001, 3, dtype="int16"), [[0, 0], [1, 1]])
    with pytest.raises(PqkError, match="int16 activations need 0"):
        b.build([padded])


def test_ops_without_a_16x8_form_refuse_int16():
    b = GraphBuilder()
    perm = b.constant(np.array([1, 0], dtype=np.int32), "int32")
    transposed = b.op("TRANSPOSE", [b.input((2, 4), 0.001, 0, dtype="int16"), perm], NoAttrs())
    with pytest.raises(PqkError, match="activations must be int8"):
        b.build([transposed])
