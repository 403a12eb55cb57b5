"""Generated files: stamps, byte-identical regeneration, the committed golden, cross compilation, CLI.

Regenerate the golden after an intended change of the generated C with
``PQK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_codegen_generate.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, require_tools
from pqk_mcu import __version__
from pqk_mcu.atomic import MARKER
from pqk_mcu.cli import main
from pqk_mcu.codegen import RUNTIME_DIR, generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.codegen import core_graph
from test_codegen_sparse import other_ops_graph

GOLDEN_MODEL = "hello_world_int8"
GOLDEN_DIR = Path(__file__).parent / "golden" / GOLDEN_MODEL
# Rendered files of a library folder (beside them runtime/ holds copies of the kernels it calls).
GENERATED = ("model.h", "model.c", "model_weights.c", "manifest.json", "CMakeLists.txt", "model.mk",
             "zephyr/module.yml", "zephyr/CMakeLists.txt", "README.md")
GOLDEN_FILES = ("model.h", "model.c", "model_weights.c")  # the manifest holds cost estimates that get tuned
ARM_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-O2", "-mcpu=cortex-m4", "-mthumb")


def _files(directory: Path) -> dict[str, bytes]:
    """Every file of a folder by relative path."""
    return {path.relative_to(directory).as_posix(): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_every_file_is_stamped(tmp_path):
    graph = load_tflite(FIXTURES / "micro_speech_quantized.tflite")
    generated = generate_c(graph, tmp_path / "gen")
    files = _files(tmp_path / "gen")
    files.pop(MARKER)  # pqk_mcu.atomic's record that compile wrote the folder, not part of the library
    assert sorted(path.relative_to(generated.out_dir).as_posix() for path in generated.files) == sorted(files)
    copies = {name for name in files if name.startswith("runtime/")}
    assert sorted(set(files) - copies) == sorted(GENERATED)
    for name in GENERATED:
        # Rendered files open with the stamp; the JSON manifest carries it in its keys.
        head = files[name].decode("utf-8")[: None if name.endswith(".json") else 400]
        assert "generated — do not edit" in head, name
        assert f"pqk-mcu {__version__}" in head and graph.fingerprint() in head, name
    for name in copies:  # the runtime files the model calls, unchanged
        assert files[name] == (RUNTIME_DIR / Path(name).name).read_bytes(), name


@pytest.mark.parametrize("weight_format", ["auto", "csr"])
def test_regeneration_is_byte_identical(weight_format, tmp_path):
    graph = load_tflite(FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite")
    generate_c(graph, tmp_path / "first", weight_format)
    generate_c(load_tflite(FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite"), tmp_path / "second", weight_format)
    assert _files(tmp_path / "first") == _files(tmp_path / "second")


def test_golden_generated_c(tmp_path):
    generate_c(load_tflite(FIXTURES / f"{GOLDEN_MODEL}.tflite"), tmp_path / "gen")
    fresh = {name: data for name, data in _files(tmp_path / "gen").items() if name in GOLDEN_FILES}
    if os.environ.get("PQK_UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        for name, data in fresh.items():
            (GOLDEN_DIR / name).write_bytes(data)
    for name, data in fresh.items():
        assert (GOLDEN_DIR / name).read_bytes() == data, (
            f"{name} differs from tests/golden/{GOLDEN_MODEL}; if intended, rerun with PQK_UPDATE_GOLDEN=1"
        )


def test_generated_c_cross_compiles_for_cortex_m4(tmp_path):
    """Generated files and every portable kernel they use build warning-free for Cortex-M4."""
    require_tools("arm-none-eabi-gcc")
    models = [
        (load_tflite(FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite"), "csr"),
        (load_tflite(FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite"), "dense"),
        (load_tflite(FIXTURES / "micro_speech_quantized.tflite"), "csr"),
        (load_tflite(FIXTURES / "micro_speech_quantized.tflite"), "dense"),
        # micro_speech's depthwise has one input channel: it runs as CONV_2D; MobileNet's others do not
        (load_tflite(FIXTURES / "person_detect.tflite"), "csr"),
        (load_tflite(FIXTURES / "person_detect.tflite"), "dense"),
        (other_ops_graph(), "auto"),
    ]
    kernels: set[Path] = set()
    for number, (graph, weight_format) in enumerate(models):
        generated = generate_c(graph, tmp_path / f"gen{number}", weight_format)
        kernels.update(generated.runtime_sources)
        sources = [generated.out_dir / "model.c", generated.out_dir / "model_weights.c"]
        sources += sorted(kernels) if number == len(models) - 1 else []
        for hooks in ((), ("-DPQK_HOOKS",)):
            for source in sources:
                result = subprocess.run(
                    ["arm-none-eabi-gcc", *ARM_FLAGS, *hooks, "-I", str(generated.out_dir), "-I", str(RUNTIME_DIR),
                     "-c", str(source), "-o", str(tmp_path / "out.o")],
                    capture_output=True, text=True, check=False,
                )
                assert result.returncode == 0, f"{source.name}: {result.stderr}"
    assert len(kernels) == 15  # every portable kernel


def test_float_edges_split_off_and_recorded():
    graph = core_graph(load_tflite(FIXTURES / "mlperf_tiny_ad_toycar_float_io.tflite"))
    assert {graph.tensor(name).dtype for name in (*graph.inputs, *graph.outputs)} == {"int8"}
    assert {op.kind for op in graph.ops} == {"FULLY_CONNECTED"}
    assert "pqk.split_input_quantize" in graph.metadata_map and "pqk.split_output_dequantize" in graph.metadata_map


def test_unsupported_graph_leaves_no_output(tmp_path):
    b = GraphBuilder()
    x = b.input((1, 8), scale=0.1, zero_point=0)
    y = b.quantize(b.dequantize(x), 0.2, 1)  # a float tensor in the middle of the graph
    graph = b.build([b.fully_connected(y, np.ones((4, 8), np.int8), 0.01, None, 0.05, 0)])
    with pytest.raises(PqkError, match="DEQUANTIZE"):
        generate_c(graph, tmp_path / "gen")
    assert not (tmp_path / "gen").exists()


def test_cli_compile(tmp_path, capsys):
    out = tmp_path / "compiled"
    main(["compile", str(FIXTURES / "micro_speech_quantized.tflite"), "-o", str(out), "--format", "csr"])
    assert sorted(name for name in _files(out) if not name.startswith("runtime/")) == sorted([*GENERATED, MARKER])
    assert "arena 4,004 B" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", str(tmp_path / "missing.tflite"), "-o", str(tmp_path / "never")])
    assert exit_info.value.code == 2
    assert not (tmp_path / "never").exists()
    assert capsys.readouterr().err.startswith("error: ")
