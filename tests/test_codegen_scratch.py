"""Scratch sizes: each kernel's C <kernel>_buffer_size() is the truth, pqk_mcu.codegen.cost_model.scratch_bytes()
its compile-time twin that the memory plan reserves. Every kernel with a scratch argument is compiled on the
host (the *_mve files define their _buffer_size() on every target) and called on the params struct the code
generator wrote for one-layer graphs of many shapes; the Python value must be the same for each.

Sanitizer builds (PQK_SEPARATE_SCRATCH, which pqk_mcu.runner.host defines) give each op's scratch its own
array of the planned size, so a plan one byte short is an ASan error instead of a quiet write into the arena.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pqk_mcu.codegen.lower as lower
from pqk_mcu.codegen import RUNTIME_DIR, generate_c
from pqk_mcu.codegen.cost_model import scratch_bytes
from pqk_mcu.errors import PqkError
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.reference import run_reference

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-O0")

# weighted op -> the kernels with a scratch argument that run it
SCRATCH_KERNELS = {
    "CONV_2D": ("pqk_conv2d_s8_dsp", "pqk_conv2d_s8_csr_dsp", "pqk_conv2d_s8_csr_wide_dsp", "pqk_conv2d_s8_smlal",
                "pqk_conv2d_s8_mve", "pqk_conv2d_s8_csr_mve", "pqk_conv2d_s8_csr_taps_dsp",
                "pqk_conv2d_s8_csr_taps_mve", "pqk_conv2d_s8_csr_wide_smlal"),
    "DEPTHWISE_CONV_2D": ("pqk_depthwise_conv2d_s8_csr", "pqk_depthwise_conv2d_s8_dsp",
                          "pqk_depthwise_conv2d_s8_csr_dsp", "pqk_depthwise_conv2d_s8_mla",
                          "pqk_depthwise_conv2d_s8_mve", "pqk_depthwise_conv2d_s8_csr_mve"),
    "FULLY_CONNECTED": ("pqk_fully_connected_s8_dsp", "pqk_fully_connected_s8_mve", "pqk_fully_connected_s8_csr_mve",
                        "pqk_fully_connected_s8_csr_pairs_dsp"),
}
PARAMS_TYPES = {"CONV_2D": "pqk_conv2d_s8_params_t", "DEPTHWISE_CONV_2D": "pqk_depthwise_conv2d_s8_params_t",
                "FULLY_CONNECTED": "pqk_fully_connected_s8_params_t"}
ALL_SCRATCH_KERNELS = sorted(k for kernels in SCRATCH_KERNELS.values() for k in kernels)

# (input shape NHWC, weights OHWI, stride, padding, dilation)
CONV_SHAPES = {
    "1x1": ((1, 5, 6, 15), (17, 1, 1, 15), 1, "VALID", 1),
    "1x1 one channel": ((1, 3, 4, 1), (1, 1, 1, 1), 1, "VALID", 1),
    "1x1 strided": ((1, 7, 7, 3), (33, 1, 1, 3), 2, "VALID", 1),
    "3x3 same": ((1, 7, 9, 3), (8, 3, 3, 3), 1, "SAME", 1),
    "3x3 valid": ((1, 7, 9, 1), (33, 3, 3, 1), 1, "VALID", 1),
    "3x3 strided": ((1, 9, 8, 17), (3, 3, 3, 17), 2, "SAME", 1),
    "2x2 strided padded": ((1, 7, 7, 16), (5, 2, 2, 16), 2, "SAME", 1),
    "5x3 strided wide": ((1, 8, 10, 3), (15, 5, 3, 3), (1, 2), "SAME", 1),
    "3x3 dilated": ((1, 9, 9, 4), (6, 3, 3, 4), 1, "SAME", 2),
    "3x3 two batches": ((2, 5, 5, 3), (4, 3, 3, 3), 1, "SAME", 1),
    "1x1 large": ((1, 4, 4, 128), (96, 1, 1, 128), 1, "VALID", 1),
    "3x3 large": ((1, 6, 6, 64), (64, 3, 3, 64), 1, "SAME", 1),
}
# (input shape NHWC, filter (h, w), depth multiplier, stride, padding, dilation); the passes make a
# depthwise layer over one channel a CONV_2D (the conv shapes have those)
DEPTHWISE_SHAPES = {
    **{f"3x3 same {c} channels": ((1, 6, 7, c), (3, 3), 1, 1, "SAME", 1) for c in (3, 15, 17, 33)},
    "3x3 strided valid": ((1, 9, 8, 8), (3, 3), 1, 2, "VALID", 1),
    "3x3 strided same": ((1, 9, 8, 12), (3, 3), 1, 2, "SAME", 1),
    "depth multiplier 2": ((1, 5, 5, 3), (3, 3), 2, 1, "SAME", 1),
    "5x5 large": ((1, 8, 8, 96), (5, 5), 1, 1, "SAME", 1),
    "3x3 dilated": ((1, 9, 9, 5), (3, 3), 1, 1, "SAME", 2),
    "1x1": ((1, 4, 5, 16), (1, 1), 1, 1, "VALID", 1),
    "two batches": ((2, 4, 4, 4), (3, 3), 1, 1, "SAME", 1),
}
# (batches, input features, output features)
FULLY_CONNECTED_SHAPES = {
    "one feature": (1, 1, 2),  # (1, 1, 1): a lookup table, no FC kernel
    "odd features": (1, 15, 3),
    "direct outputs": (1, 17, 8),
    "widened outputs": (1, 17, 9),
    "direct whole groups": (1, 16, 16),
    "widened whole groups": (1, 16, 17),
    "whole vectors": (1, 32, 5),
    "two batches": (2, 33, 17),
    "three batches": (3, 7, 15),
    "large": (1, 256, 100),
}


def _weights(shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, size=shape).astype(np.int8)
    w[rng.random(shape) < 0.5] = 0
    return w


def _conv(input_shape, weights, stride, padding, dilation):
    b = GraphBuilder()
    x = b.input(input_shape, scale=0.05, zero_point=-3)
    y = b.conv2d(x, _weights(weights, 1), 0.005, None, 0.08, -2, stride=stride, padding=padding, dilation=dilation)
    return b.build(outputs=[y])


def _depthwise(input_shape, filter_hw, multiplier, stride, padding, dilation):
    b = GraphBuilder()
    x = b.input(input_shape, scale=0.05, zero_point=-3)
    weights = _weights((1, *filter_hw, input_shape[3] * multiplier), 2)
    y = b.depthwise_conv2d(x, weights, 0.005, None, 0.08, -2, stride=stride, padding=padding, dilation=dilation)
    return b.build(outputs=[y])


def _fully_connected(batches, features, outputs):
    b = GraphBuilder()
    x = b.input((batches, features), scale=0.05, zero_point=-3)
    y = b.fully_connected(x, _weights((outputs, features), 3), 0.005, None, 0.08, -2, keep_num_dims=True)
    return b.build(outputs=[y])


CASES = (
    [pytest.param("CONV_2D", _conv, shape, id=f"conv {name}") for name, shape in CONV_SHAPES.items()]
    + [pytest.param("DEPTHWISE_CONV_2D", _depthwise, shape, id=f"depthwise {name}")
       for name, shape in DEPTHWISE_SHAPES.items()]
    + [pytest.param("FULLY_CONNECTED", _fully_connected, shape, id=f"fully connected {name}")
       for name, shape in FULLY_CONNECTED_SHAPES.items()]
)


def test_every_buffer_size_is_covered():
    """A kernel that gains a scratch argument must join SCRATCH_KERNELS (and scratch_bytes())."""
    defined = {match for path in RUNTIME_DIR.glob("*.c")
               for match in re.findall(r"^int32_t (\w+)_buffer_size\(", path.read_text(), re.MULTILINE)}
    assert defined == set(ALL_SCRATCH_KERNELS)


@pytest.fixture(scope="module")
def kernel_objects(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("scratch-kernels")
    objects = []
    for kernel in ALL_SCRATCH_KERNELS:
        target = out / f"{kernel}.o"
        source = RUNTIME_DIR / f"{kernel}.c"
        subprocess.run(["gcc", *FLAGS, "-I", str(RUNTIME_DIR), "-c", str(source), "-o", str(target)], check=True)
        objects.append(target)
    return objects


def _c_buffer_sizes(gen_dir: Path, params: str, params_type: str, kernels, objects, work: Path) -> dict[str, int]:
    """Each kernel's _buffer_size() of the generated params struct ``params``, compiled and run on the host."""
    prints = "\n".join(f'    printf("{k} %ld\\n", (long){k}_buffer_size(&{params}));' for k in kernels)
    harness = work / "scratch_sizes.c"
    harness.write_text(f'#include <stdio.h>\n#include "pqk_runtime.h"\nextern const {params_type} {params};\n'
                       f"int main(void)\n{{\n{prints}\n    return 0;\n}}\n")
    executable = work / "scratch_sizes"
    subprocess.run(["gcc", *FLAGS, "-I", str(RUNTIME_DIR), "-I", str(gen_dir), str(harness),
                    str(gen_dir / "model_weights.c"), *map(str, objects), "-o", str(executable)], check=True)
    output = subprocess.run([str(executable)], capture_output=True, text=True, check=True).stdout
    return {name: int(value) for name, value in (line.split() for line in output.splitlines())}


@pytest.mark.parametrize("kind,build,shape", CASES)
def test_scratch_bytes_equal_the_c_buffer_size(kind, build, shape, kernel_objects, tmp_path, monkeypatch):
    seen = []
    kernel_choices = lower.kernel_choices

    def spy(matrix, dense_kernel, layout, *args, **kwargs):
        seen.append((matrix.shape, layout))
        return kernel_choices(matrix, dense_kernel, layout, *args, **kwargs)

    monkeypatch.setattr(lower, "kernel_choices", spy)
    generated = generate_c(build(*shape), tmp_path / "gen")
    (index,) = [layer.index for layer in generated.layers if layer.op == kind]
    (((rows, columns), layout),) = seen
    kernels = SCRATCH_KERNELS[kind]
    c_sizes = _c_buffer_sizes(generated.out_dir, f"pqk_op{index}_params", PARAMS_TYPES[kind], kernels, kernel_objects,
                              tmp_path)
    python_sizes = {kernel: scratch_bytes(kernel, layout, rows, columns) for kernel in kernels}
    assert python_sizes == c_sizes


def _dsp_conv_graph():
    """A 3x3 SAME conv that the cortex-m4 lowering runs with pqk_conv2d_s8_dsp (dense weights)."""
    return _conv((1, 6, 6, 8), (8, 3, 3, 8), 1, "SAME", 1)


def _build_and_run(graph, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The host sanitizer build's output for one random input, and the reference's."""
    from pqk_mcu.runner.host import build_host, run_host

    generated = generate_c(graph, tmp_path / "gen", weight_format="dense", board="cortex-m4")
    assert [layer.kernel for layer in generated.layers] == ["pqk_conv2d_s8_dsp"]
    executable = build_host(generated.out_dir, out_dir=tmp_path / "build")
    x = np.random.default_rng(5).integers(-128, 128, size=(1, 6, 6, 8), dtype=np.int8)
    output, _ = run_host(executable, x.tobytes(), trace=False)
    expected = run_reference(generated.graph, [x])["outputs"][0]
    return np.frombuffer(output, dtype=np.int8), expected.reshape(-1)


def test_sanitizer_build_runs_the_planned_scratch(tmp_path):
    output, expected = _build_and_run(_dsp_conv_graph(), tmp_path)
    assert output.tolist() == expected.tolist()


def test_sanitizer_build_catches_a_scratch_one_byte_short(tmp_path, monkeypatch):
    kernel_choices = lower.kernel_choices

    def one_byte_short(*args, **kwargs):
        return [dataclasses.replace(choice, scratch_bytes=choice.scratch_bytes - 1)
                for choice in kernel_choices(*args, **kwargs)]

    monkeypatch.setattr(lower, "kernel_choices", one_byte_short)
    with pytest.raises(PqkError, match="AddressSanitizer: global-buffer-overflow"):
        _build_and_run(_dsp_conv_graph(), tmp_path)
