"""The library folder of ``pqk-mcu compile``: built elsewhere with CMake or Make, two models in one program.

Each folder is copied away from where pqk-mcu wrote it before it is built: it must need nothing but
itself and a compiler. The test app (fixtures/two_models_app) links the unnamed model and one
compiled with ``--name second`` and runs both on one input file; the outputs must equal the
reference interpreter's bit for bit, on the host and under QEMU on cortex-m4.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, require_tools
from pqk_mcu.cli import main
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.reference import run_reference
from pqk_mcu.resources import resource_dir
from pqk_mcu.runner.arm import render_linker_script
from pqk_mcu.boards import load_board
from pqk_mcu.runner.qemu import run_firmware

pytestmark = pytest.mark.toolchain

APP = FIXTURES / "two_models_app"
FIRST_MODEL = FIXTURES / "micro_speech_quantized.tflite"
SECOND_MODEL = FIXTURES / "hello_world_int8.tflite"
BOARD = "cortex-m4"


def _library(model: Path, where: Path, *options: str) -> Path:
    """Compile ``model`` into a library folder, then move the folder to ``where``."""
    main(["compile", str(model), "-o", str(where.parent / f"{where.name}-compiled"), *options])
    shutil.copytree(where.parent / f"{where.name}-compiled", where)
    shutil.rmtree(where.parent / f"{where.name}-compiled")
    return where


def _libraries(tmp_path: Path, *options: str) -> tuple[Path, Path]:
    return (_library(FIRST_MODEL, tmp_path / "first", *options),
            _library(SECOND_MODEL, tmp_path / "second", *options, "--name", "second"))


def _input_and_expected(seed: int = 0) -> tuple[bytes, bytes]:
    """One input per model (int8 edges) and the reference outputs, concatenated as the app reads and writes them."""
    rng = np.random.default_rng(seed)
    inputs, outputs = b"", b""
    for model in (FIRST_MODEL, SECOND_MODEL):
        graph = load_tflite(model)
        (name,) = graph.inputs
        array = rng.integers(-128, 128, size=graph.tensor(name).shape, dtype=np.int8)
        inputs += array.tobytes()
        outputs += b"".join(np.asarray(out, np.int8).tobytes() for out in run_reference(graph, [array])["outputs"])
    return inputs, outputs


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def _cmake(app: Path, build: Path, *definitions: str) -> Path:
    _run(["cmake", "-S", str(app), "-B", str(build), *definitions], cwd=app)
    _run(["cmake", "--build", str(build)], cwd=app)
    return build / "two_models"


def test_library_folders_build_on_the_host_with_cmake_and_make(tmp_path):
    require_tools("gcc", "cmake", "make")
    first, second = _libraries(tmp_path)
    app = shutil.copytree(APP, tmp_path / "app")
    input_bytes, expected = _input_and_expected()
    (tmp_path / "input.bin").write_bytes(input_bytes)
    with_cmake = _cmake(app, tmp_path / "build", f"-DFIRST_MODEL={first}", f"-DSECOND_MODEL={second}")
    _run(["make", "-s", f"FIRST_MODEL={first}", f"SECOND_MODEL={second}"], cwd=app)
    for executable in (with_cmake, app / "two_models"):
        (tmp_path / "output.bin").unlink(missing_ok=True)
        _run([str(executable), str(tmp_path / "input.bin"), str(tmp_path / "output.bin")], cwd=tmp_path)
        assert (tmp_path / "output.bin").read_bytes() == expected, executable


def test_library_folders_link_into_one_cortex_m4_firmware(tmp_path):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "cmake", "make")
    first, second = _libraries(tmp_path, "--board", BOARD)
    linker_script = tmp_path / "firmware.ld"
    linker_script.write_text(render_linker_script(load_board(BOARD)))
    elf = _cmake(APP, tmp_path / "build", f"-DCMAKE_TOOLCHAIN_FILE={first / 'arm-none-eabi.cmake'}",
                 f"-DFIRST_MODEL={first}", f"-DSECOND_MODEL={second}",
                 f"-DPLATFORM_DIR={resource_dir('firmware') / 'boards'}", f"-DLINKER_SCRIPT={linker_script}")
    input_bytes, expected = _input_and_expected(seed=1)
    assert run_firmware(elf, BOARD, input_bytes).output == expected


def test_named_library_prefixes_every_symbol_and_macro(tmp_path):
    require_tools("gcc")
    _, second = _libraries(tmp_path)
    assert sorted(p.name for p in second.glob("second_model*")) == [
        "second_model.c", "second_model.h", "second_model.mk", "second_model_weights.c"]
    for name in ("second_model.h", "second_model.c", "second_model_weights.c"):
        text = (second / name).read_text()
        assert "PQK_MODEL" not in text and "pqk_model" not in text and "pqk_op" not in text, name
    objects = []
    for source in ("second_model.c", "second_model_weights.c"):
        objects.append(tmp_path / (source + ".o"))
        _run(["gcc", "-std=c99", "-c", "-I", str(second), "-I", str(second / "runtime"), str(second / source),
              "-o", str(objects[-1])], cwd=tmp_path)
    symbols = subprocess.run(["nm", "--defined-only", "--extern-only", *map(str, objects)], capture_output=True,
                             text=True, check=True).stdout
    exported = [line.split()[-1] for line in symbols.splitlines() if line.count(" ") == 2]
    assert exported and all(name.startswith("second_") for name in exported), exported
