"""Model -> generated C -> firmware, and the firmware run, for ``pqk-mcu compile``, ``build``, ``run`` and
``flash``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pqk_mcu.atomic import atomic_dir, atomic_file
from pqk_mcu.boards import Board, load_board
from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.report import layer_table, memory_line
from pqk_mcu.errors import PqkError
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.runner.arm import FirmwareBuild, build_firmware, require_cross_compiler
from pqk_mcu.runner.flash import flash
from pqk_mcu.runner.qemu import FirmwareRun, run_firmware


def compile_model(model: str, out_dir: str, weight_format: str, board: str | None, name: str | None,
                  force: bool):
    """``pqk-mcu compile``: the library folder; returns its layer table (a rich renderable) and memory line."""
    graph = load_tflite(model)
    generated = generate_c(graph, out_dir, weight_format, board=load_board(board) if board else None, name=name,
                           force=force)
    return layer_table(generated, title=model), memory_line(generated)


FIRMWARE_MANIFEST = "firmware.json"


def build_model(
    model: str | Path, board: Board | str | Path, out_dir: str | Path,
    weight_format: str = "auto", app: str = "harness", force: bool = False,
) -> FirmwareBuild:
    """``pqk-mcu build``: .tflite -> generated C (``out_dir/gen``) -> firmware for ``board``.

    ``out_dir`` is replaced only when everything succeeded, and only when an earlier build wrote it
    or with ``force`` (``pqk_mcu.atomic.atomic_dir``). Besides the ELF, map and size report
    it holds ``firmware.json``: board, model hash and the shapes and quantization of the C core's
    inputs and outputs (``pqk-mcu run`` reads it to shape the output).
    """
    board = board if isinstance(board, Board) else load_board(board)
    require_cross_compiler()
    graph = load_tflite(Path(model))
    target = Path(out_dir)
    with atomic_dir(target, "build", force) as tmp:
        generated = generate_c(graph, tmp / "gen", weight_format=weight_format, board=board)
        build = build_firmware(tmp / "gen", board, app=app, out_dir=tmp, runtime_sources=generated.runtime_sources)

        def edges(names, quant):
            return [
                {"name": name, "shape": list(generated.graph.tensor(name).shape),
                 "dtype": generated.graph.tensor(name).dtype,
                 "scale": scale, "zero_point": zero_point}
                for name, (scale, zero_point) in zip(names, quant)
            ]

        manifest = {
            "board": board.name,
            "app": app,
            "model": Path(model).name,
            "model_sha256": generated.model_sha256,
            "inputs": edges(generated.graph.inputs, generated.input_quant),
            "outputs": edges(generated.graph.outputs, generated.output_quant),
            "arena_bytes": generated.arena_bytes,
        }
        (tmp / FIRMWARE_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return FirmwareBuild(
        elf=target / build.elf.name, map_file=target / build.map_file.name, size=build.size,
    )


def run_npy(elf: str | Path, board: Board | str, input_path: str | Path, output_path: str | Path,
            timeout: float = 60.0) -> FirmwareRun:
    """``pqk-mcu run``: one int8 input array (.npy) through the firmware, output saved as .npy.

    With the ``firmware.json`` that ``pqk-mcu build`` writes next to the ELF, the input size is
    checked before QEMU starts and the output gets the model's shape; otherwise it is flat int8.
    A 16x8 model's firmware takes and returns its edges' type (int16; int32 where QUANTIZE takes it).
    """
    try:
        array = np.load(input_path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise PqkError(f"cannot read {input_path} as .npy: {error}") from None
    manifest_path = Path(elf).with_name(FIRMWARE_MANIFEST)
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    input_dtype = _edge_dtype(manifest, "inputs")
    if input_dtype is None:
        raise PqkError(f"{input_path}: the firmware's inputs differ in type; pqk-mcu run takes one array of one type")
    if array.dtype != np.dtype(input_dtype):
        raise PqkError(
            f"{input_path}: the firmware takes {input_dtype} input (the C core's quantized values), got {array.dtype}"
        )
    if manifest is not None:
        wanted = sum(int(np.prod(edge["shape"])) for edge in manifest["inputs"])
        if array.size != wanted:
            raise PqkError(
                f"{input_path}: the model takes {wanted} {input_dtype} values, got {array.size} {list(array.shape)}"
            )
    result = run_firmware(elf, board, np.ascontiguousarray(array).tobytes(), timeout)
    output = np.frombuffer(result.output, dtype=np.dtype(_edge_dtype(manifest, "outputs") or "int8").newbyteorder("<"))
    if manifest is not None and len(manifest["outputs"]) == 1:
        output = output.reshape(manifest["outputs"][0]["shape"])
    with atomic_file(output_path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, output)
    return result


def _edge_dtype(manifest: dict | None, role: str) -> str | None:
    """The one type of the firmware's inputs or outputs (int8 without a manifest; None when they differ)."""
    dtypes = {edge.get("dtype", "int8") for edge in manifest[role]} if manifest is not None else {"int8"}
    return dtypes.pop() if len(dtypes) == 1 else None


def flash_firmware(elf: str, board: str, dry_run: bool, tool: str | None) -> list[str]:
    """``pqk-mcu flash``: program ``elf`` into ``board`` (``pqk_mcu.runner.flash``); returns the command."""
    return flash(elf, board, dry_run=dry_run, tool=tool)
