"""Firmware under QEMU: build for every emulated board, run, and report hangs, faults and misfits.

Generated models must match pqk_mcu.reference bit for bit; the failure paths use small
hand-written model.c files (written into tmp_path by each test) that hang, fault or overflow.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from pqk_mcu.boards import BOARDS_DIR, emulated_board_names, load_board
from pqk_mcu.cli import main
from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.reference import run_reference
from pqk_mcu.runner import arm, qemu
from pqk_mcu.runner.arm import build_firmware
from pqk_mcu.runner.qemu import count_instructions, run_elf, run_firmware
from pqk_mcu.pipeline.core_io import CoreIO
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs

pytestmark = pytest.mark.toolchain

MODEL_H = """\
#ifndef MODEL_H
#define MODEL_H
#include <stddef.h>
#include <stdint.h>
#define PQK_MODEL_INPUT_SIZE 16
#define PQK_MODEL_OUTPUT_SIZE 16
#define PQK_MODEL_NUM_OPS 2
#ifdef PQK_HOOKS
void pqk_before_op(int index);
void pqk_after_op(int index, const int8_t *data, size_t bytes);
#define PQK_BEFORE_OP(index) pqk_before_op(index)
#define PQK_AFTER_OP(index, data, bytes) pqk_after_op(index, data, bytes)
#else
#define PQK_BEFORE_OP(index) ((void)0)
#define PQK_AFTER_OP(index, data, bytes) ((void)0)
#endif
int pqk_model_invoke(const int8_t *input, int8_t *output);
#endif
"""

# Two "ops": add a weight per element, then double and add a column index; {weights} sizes the table.
MODEL_C = """\
#include "model.h"
extern const int8_t layer_weights[{weights}];
extern const uint8_t layer_columns[4];
extern const int32_t layer_multiplier[2];
static int8_t arena[{arena}];
int pqk_model_invoke(const int8_t *input, int8_t *output)
{{
    PQK_BEFORE_OP(0);
    for (int i = 0; i < 16; ++i) {{
        arena[i] = (int8_t)(input[i] + layer_weights[i]);
    }}
    {extra}
    PQK_AFTER_OP(0, arena, 16);
    PQK_BEFORE_OP(1);
    for (int i = 0; i < 16; ++i) {{
        output[i] = (int8_t)(arena[i] * 2 + layer_columns[i & 3] + (layer_multiplier[i & 1] >> 30));
    }}
    PQK_AFTER_OP(1, output, 16);
    return 0;
}}
"""

MODEL_WEIGHTS_C = """\
#include <stdint.h>
const int8_t layer_weights[{weights}] = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
const uint8_t layer_columns[4] = {{0, 1, 2, 3}};
const int32_t layer_multiplier[2] = {{1073741824, 5}};
"""


def hand_model(directory: Path, extra: str = "", weights: int = 16, arena: int = 32) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.h").write_text(MODEL_H)
    (directory / "model.c").write_text(MODEL_C.format(extra=extra, weights=weights, arena=arena))
    (directory / "model_weights.c").write_text(MODEL_WEIGHTS_C.format(weights=weights))
    return directory


def build_hand(gen: Path, board, out: Path):
    """Firmware for a hand-written model: it calls no runtime kernel, so none is compiled."""
    return build_firmware(gen, board, out_dir=out, runtime_sources=())


def hand_model_expected(data: bytes) -> tuple[bytes, bytes]:
    x = np.frombuffer(data, dtype=np.int8).astype(np.int32)
    first = (x + np.arange(1, 17)).astype(np.int8)
    second = (first.astype(np.int32) * 2 + np.tile([0, 1, 2, 3], 4) + np.tile([1, 0], 8)).astype(np.int8)
    return first.tobytes(), second.tobytes()


def small_board(tmp_path: Path, stack: int = 1024, **memory: int) -> Path:
    """A copy of cortex-m4 with shrunken regions, e.g. flash_size=2048."""
    data = yaml.safe_load((BOARDS_DIR / "cortex-m4.yaml").read_text())
    data["name"] = "tiny-m4"
    for key, value in memory.items():
        region, field = key.split("_")
        data["memory"][region][field] = value
    data["stack_bytes"] = stack
    path = tmp_path / "tiny-m4.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("board", emulated_board_names())
def test_hand_model_runs_on_every_emulated_board(toolchain, tmp_path, board):
    build = build_hand(hand_model(tmp_path / "gen"), board, tmp_path / "out")
    data = bytes((np.arange(16) * 37 - 100).astype(np.int8).tobytes())
    run = run_firmware(build.elf, board, data, trace=True)
    first, second = hand_model_expected(data)
    assert run.output == second
    assert run.trace == [(0, first), (1, second)]
    assert 0 < run.stack_bytes < load_board(board).stack_bytes
    assert run_elf(build.elf, board, data) == second

    size = build.size
    assert size.parts["weights"]["rodata"] == 16
    assert size.parts["indices"]["rodata"] == 4
    assert size.parts["requant"]["rodata"] == 8
    assert size.parts["arena"]["bss"] == 32
    assert (tmp_path / "out" / "size.json").is_file() and (tmp_path / "out" / "firmware.map").is_file()


def test_instruction_count_is_deterministic(toolchain, tmp_path):
    build = build_hand(hand_model(tmp_path / "gen"), "cortex-m4", tmp_path / "out")
    data = bytes(range(16))
    first = count_instructions(build.elf, "cortex-m4", data)
    second = count_instructions(build.elf, "cortex-m4", data)
    assert first == second
    assert len(first["per_op"]) == 2 and all(n > 16 for n in first["per_op"])
    assert sum(first["per_op"]) < first["total"] < sum(first["per_op"]) + 64
    assert first["stack_bytes"] > 0


def test_hang_is_reported_as_timeout(toolchain, tmp_path):
    gen = hand_model(tmp_path / "gen", extra="for (volatile int spin = 1; spin;) { }")
    build = build_hand(gen, "cortex-m4", tmp_path / "out")
    with pytest.raises(PqkError, match=r"firmware hung: no result after 2 s on cortex-m4"):
        run_elf(build.elf, "cortex-m4", bytes(16), timeout=2)


@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m33"])
def test_fault_is_reported_with_registers(toolchain, tmp_path, board):
    gen = hand_model(tmp_path / "gen", extra="arena[0] = *(volatile int8_t *)0xF0000000u;")
    build = build_hand(gen, board, tmp_path / "out")
    with pytest.raises(PqkError) as error:
        run_elf(build.elf, board, bytes(16))
    message = str(error.value)
    assert f"firmware faulted on {board}: fault=HardFault" in message
    for register in ("pc=0x", "cfsr=0x00008200", "hfsr=0x40000000", "bfar=0xf0000000"):
        assert register in message
    assert "at pqk_model_invoke (model.c:" in message


@pytest.mark.parametrize(
    "extra, problem",
    [
        ("pqk_exit(0);", "exited with code 0 without a PQK_RESULT line"),
        ('pqk_puts("PQK_RESULT ok stack=lots\\n"); pqk_exit(0);', "garbled marker line 'PQK_RESULT ok stack=lots'"),
        ('pqk_puts("PQK_RESULT ok stack=8\\n"); pqk_exit(1);', "printed PQK_RESULT ok but exited with code 1"),
        ('pqk_puts("PQK_RESULT ok stack=8\\n");', "printed 2 PQK_RESULT lines"),
    ],
)
def test_broken_marker_line_is_an_error(toolchain, tmp_path, extra, problem):
    declarations = "void pqk_puts(const char *text); void pqk_exit(int code);"
    build = build_hand(hand_model(tmp_path / "gen", extra=declarations + extra), "cortex-m4", tmp_path / "out")
    with pytest.raises(PqkError, match=re.escape(problem)):
        run_elf(build.elf, "cortex-m4", bytes(16))


DEEP_STACK = "volatile int8_t deep[1536]; for (int i = 0; i < 1536; ++i) { deep[i] = (int8_t)i; } arena[0] += deep[5];"


def test_stack_overflow_into_bss_is_reported(toolchain, tmp_path):
    board = small_board(tmp_path, stack=1024)
    build = build_hand(hand_model(tmp_path / "gen", extra=DEEP_STACK, arena=4096), board, tmp_path / "out")
    with pytest.raises(PqkError, match="firmware failed on tiny-m4: stack overflow: every byte"):
        run_elf(build.elf, board, bytes(16))


def test_stack_overflow_past_ram_is_reported_as_fault(toolchain, tmp_path):
    board = small_board(tmp_path, stack=1024)
    build = build_hand(hand_model(tmp_path / "gen", extra=DEEP_STACK), board, tmp_path / "out")
    with pytest.raises(PqkError, match=r"firmware faulted on tiny-m4: fault=HardFault .*stack-overflow=outside-ram"):
        run_elf(build.elf, board, bytes(16))


def test_wrong_input_size_fails_cleanly(toolchain, tmp_path):
    build = build_hand(hand_model(tmp_path / "gen"), "cortex-m3", tmp_path / "out")
    with pytest.raises(PqkError, match="firmware failed on cortex-m3: input file size differs"):
        run_elf(build.elf, "cortex-m3", bytes(15))


def test_model_too_big_for_flash_is_refused_with_numbers(toolchain, tmp_path):
    board = small_board(tmp_path, flash_size=8192)
    gen = hand_model(tmp_path / "gen", weights=16384)
    with pytest.raises(PqkError) as error:
        build_hand(gen, board, tmp_path / "out")
    message = str(error.value)
    assert message.startswith("model does not fit board tiny-m4: flash needs ")
    assert "> 8,192 B" in message and "weights 16,384" in message
    assert not (tmp_path / "out" / "firmware.elf").exists()


def test_model_too_big_for_ram_is_refused_with_numbers(toolchain, tmp_path):
    board = small_board(tmp_path, ram_size=4096, stack=1024)
    gen = hand_model(tmp_path / "gen", arena=8000)
    with pytest.raises(PqkError, match=r"RAM needs [\d,]+ B > 4,096 B \(arena 8,000.*stack 1,024\)"):
        build_hand(gen, board, tmp_path / "out")


def test_board_without_qemu_builds_but_does_not_run(toolchain, tmp_path):
    build = build_hand(hand_model(tmp_path / "gen"), "nucleo-l4r5zi", tmp_path / "out")
    assert build.size.flash_limit == 2 * 1024 * 1024
    with pytest.raises(PqkError, match="board nucleo-l4r5zi is not emulated"):
        run_elf(build.elf, "nucleo-l4r5zi", bytes(16))


def test_missing_tools_give_install_hints(tmp_path, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if "arm" in name else real_which(name))
    with pytest.raises(ToolMissingError, match="arm-none-eabi-gcc not found; install it with: sudo apt-get"):
        arm.build_firmware(hand_model(tmp_path / "gen"), "cortex-m4", out_dir=tmp_path / "out")
    with pytest.raises(ToolMissingError, match="qemu-system-arm not found; install it with: sudo apt-get"):
        qemu.run_elf(tmp_path / "firmware.elf", "cortex-m4", bytes(16))


# ---- generated models ----


def elf_section_sizes(elf: Path) -> dict[str, int]:
    listing = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    rows = (line.split() for line in listing.stdout.splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) == 3 and row[0].startswith(".") and row[1].isdigit()}

HELLO = Path(__file__).parent / "fixtures" / "hello_world_int8.tflite"


@pytest.mark.parametrize("board", emulated_board_names())
def test_generated_model_is_bit_exact_on_every_emulated_board(toolchain, board):
    graph = load_tflite(HELLO)
    report = verify_model(graph, HELLO.read_bytes(), board, random_inputs(graph, 3, seed=1))
    assert report.passed and report.bit_exact == 3


@pytest.mark.parametrize("weight_format", ["dense", "csr"])
def test_generated_model_traces_every_layer_and_sizes_match_codegen(toolchain, tmp_path, weight_format):
    graph = load_tflite(HELLO)
    generated = generate_c(graph, tmp_path / "gen", weight_format=weight_format)
    build = build_firmware(tmp_path / "gen", "cortex-m4", out_dir=tmp_path / "out",
                           runtime_sources=generated.runtime_sources)
    io = CoreIO.of(graph, generated)
    (inputs,) = random_inputs(graph, 1, seed=7)
    run = run_firmware(build.elf, "cortex-m4", io.input_bytes(inputs), trace=True)
    expected = run_reference(graph, inputs, keep_intermediates=True)
    np.testing.assert_array_equal(io.outputs(run.output)[0], expected["outputs"][0])
    traced = io.tensors(run.trace)
    assert len(run.trace) == len(generated.layers)
    for name, value in traced.items():
        if name in expected["tensors"]:
            np.testing.assert_array_equal(value, expected["tensors"][name])

    report = build.size.to_json()
    for category in ("weights", "indices", "requant", "tables"):
        assert report["flash_bytes"][category] == generated.flash_bytes[category], category
    assert (report["flash_bytes"]["indices"] > 0) == (weight_format == "csr")
    assert report["ram_bytes"]["arena"] >= generated.arena_bytes
    assert report["flash_bytes"]["kernels"] > 0
    sections = elf_section_sizes(build.elf)
    flash = sum(sections[name] for name in (".isr_vector", ".text", ".rodata", ".data") if name in sections)
    assert report["flash_bytes"]["total"] == flash
    assert report["ram_bytes"]["total"] == sections[".data"] + sections[".bss"] + sections[".stack"]


def test_generated_model_instruction_counts(toolchain, tmp_path):
    graph = load_tflite(HELLO)
    generated = generate_c(graph, tmp_path / "gen")
    build = build_firmware(tmp_path / "gen", "cortex-m4", out_dir=tmp_path / "out",
                           runtime_sources=generated.runtime_sources)
    data = CoreIO.of(graph, generated).input_bytes(random_inputs(graph, 1, seed=3)[0])
    first = count_instructions(build.elf, "cortex-m4", data)
    assert first == count_instructions(build.elf, "cortex-m4", data)
    assert len(first["per_op"]) == len(generated.layers)
    assert all(count > 0 for count in first["per_op"])
    assert sum(first["per_op"]) < first["total"]


def test_cli_build_and_run(toolchain, tmp_path, capsys):
    out = tmp_path / "fw"
    main(["build", str(HELLO), "--board", "cortex-m4", "-o", str(out)])
    printed = capsys.readouterr().out
    assert "size report for cortex-m4" in printed and "weights" in printed
    for name in ("firmware.elf", "firmware.map", "size.json", "size.txt", "firmware.json", "gen/model.c"):
        assert (out / name).is_file(), name

    graph = load_tflite(HELLO)
    (inputs,) = random_inputs(graph, 1, seed=5)
    np.save(tmp_path / "x.npy", inputs[0])
    main(["run", str(out / "firmware.elf"), "--board", "cortex-m4",
          "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), run_reference(graph, inputs)["outputs"][0])


def test_cli_refuses_a_model_too_big_for_the_board(toolchain, tmp_path, capsys):
    board = small_board(tmp_path, flash_size=16 * 1024)
    out = tmp_path / "fw"
    with pytest.raises(SystemExit) as exit_info:
        main(["build", str(HELLO.with_name("micro_speech_quantized.tflite")), "--board", str(board), "-o", str(out)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: model does not fit board tiny-m4: flash needs ") and "> 16,384 B" in error
    assert len(error.splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".fw.*"))


def test_cli_run_reports_a_hang(toolchain, tmp_path, capsys):
    build = build_hand(hand_model(tmp_path / "gen", extra="for (volatile int spin = 1; spin;) { }"),
                       "cortex-m3", tmp_path / "out")
    np.save(tmp_path / "x.npy", np.zeros(16, dtype=np.int8))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(build.elf), "--board", "cortex-m3", "--input", str(tmp_path / "x.npy"),
              "--output", str(tmp_path / "y.npy"), "--timeout", "1.5"])
    assert exit_info.value.code == 2
    assert "error: firmware hung: no result after 1.5 s on cortex-m3" in capsys.readouterr().err
    assert not (tmp_path / "y.npy").exists()
