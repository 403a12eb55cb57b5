"""Hardening: strict warnings and sanitizers on generated C, the debug-build pointer contract,
stack use against the board, QEMU runs killed midway, and training runs that diverge or are interrupted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import FIXTURES, require_tools
from pqk_mcu.cli import main
from pqk_mcu.codegen import RUNTIME_DIR, generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.runner import arm, host
from pqk_mcu.runner.qemu import run_firmware

STRICT = {"-Wall", "-Wextra", "-Wconversion", "-Werror"}
MICRO_SPEECH = FIXTURES / "micro_speech_quantized.tflite"  # 1960-byte input: room to step out of bounds


# --------------------------------------------------------------------------------------------
# Warnings and sanitizers.


def test_every_c_build_is_strict():
    from pqk_mcu.pipeline import kws

    assert STRICT <= set(arm.COMPILE_FLAGS)
    assert STRICT <= set(host.WARNING_FLAGS)
    assert STRICT <= set(kws.HOST_CFLAGS)
    assert "-fsanitize=address,undefined" in host.SANITIZE_FLAGS
    assert "-fno-sanitize-recover=all" in host.SANITIZE_FLAGS


@pytest.mark.parametrize("weight_format", ["dense", "csr"])
@pytest.mark.parametrize("board", ["cortex-m3", "cortex-m4", "cortex-m55"])
def test_generated_c_builds_strict_for_arm(toolchain, board, weight_format, tmp_path):
    """-Wall -Wextra -Wconversion -Werror with each core's kernel variants (plain, DSP, MVE)."""
    gen = generate_c(load_tflite(FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite"), tmp_path / "gen", weight_format)
    build = arm.build_firmware(gen.out_dir, board, out_dir=tmp_path / "out", runtime_sources=gen.runtime_sources)
    assert build.elf.is_file() and build.size.fits


def _host_program(tmp_path: Path, main_c: str, *defines: str, model: Path = MICRO_SPEECH) -> Path:
    """The generated C of ``model`` plus ``main_c``, built like the host harness (strict, ASan, UBSan)."""
    require_tools("gcc")
    generated = generate_c(load_tflite(model), tmp_path / "gen")
    (tmp_path / "main.c").write_text(main_c)
    executable = tmp_path / "program"
    command = [
        "gcc", *host.WARNING_FLAGS, "-O1", "-g", *host.SANITIZE_FLAGS, *defines,
        "-I", str(generated.out_dir), "-I", str(RUNTIME_DIR),
        str(generated.out_dir / "model.c"), str(generated.out_dir / "model_weights.c"),
        *(str(path) for path in generated.runtime_sources), str(tmp_path / "main.c"), "-o", str(executable),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return executable


def _run(executable: Path) -> subprocess.CompletedProcess:
    environment = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    return subprocess.run([str(executable)], capture_output=True, text=True, timeout=120, env=environment)


SHORT_INPUT = """\
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
int main(void)
{
    /* One byte less than the contract asks for: the model reads past the end. */
    int8_t *input = malloc(PQK_MODEL_INPUT_SIZE - 1);
    int8_t output[PQK_MODEL_OUTPUT_SIZE];
    memset(input, 1, PQK_MODEL_INPUT_SIZE - 1);
    int status = pqk_model_invoke(input, output);
    printf("status=%d\\n", status);
    free(input);
    return 0;
}
"""


def test_address_sanitizer_is_live_on_generated_c(tmp_path):
    result = _run(_host_program(tmp_path, SHORT_INPUT))
    assert result.returncode != 0
    assert "AddressSanitizer: heap-buffer-overflow" in result.stderr
    assert "status=" not in result.stdout


CONTRACT = """\
#include <stdio.h>
#include "model.h"
static int8_t buffer[PQK_MODEL_INPUT_SIZE + PQK_MODEL_OUTPUT_SIZE];
int main(void)
{
    static int8_t input[PQK_MODEL_INPUT_SIZE], output[PQK_MODEL_OUTPUT_SIZE];
#ifdef PQK_DEBUG
    printf("null-input=%d\\n", pqk_model_invoke(NULL, output));
    printf("null-output=%d\\n", pqk_model_invoke(input, NULL));
    printf("overlap=%d\\n", pqk_model_invoke(buffer, buffer + PQK_MODEL_INPUT_SIZE - 1));
#endif
    printf("adjacent=%d\\n", pqk_model_invoke(buffer, buffer + PQK_MODEL_INPUT_SIZE));
    printf("valid=%d\\n", pqk_model_invoke(input, output));
    return 0;
}
"""


def test_debug_build_checks_the_pointer_contract(tmp_path):
    result = _run(_host_program(tmp_path, CONTRACT, "-DPQK_DEBUG"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["null-input=1", "null-output=1", "overlap=2", "adjacent=0", "valid=0"]
    release = _run(_host_program(tmp_path / "release", CONTRACT))
    assert release.returncode == 0, release.stderr
    assert release.stdout.split() == ["adjacent=0", "valid=0"]


def test_generated_header_documents_the_error_codes(tmp_path):
    generated = generate_c(load_tflite(FIXTURES / "hello_world_int8.tflite"), tmp_path / "gen")
    header = (generated.out_dir / "model.h").read_text()
    for line in ("#define PQK_MODEL_OK 0", "#define PQK_MODEL_ERROR_NULL 1", "#define PQK_MODEL_ERROR_OVERLAP 2"):
        assert line in header


# --------------------------------------------------------------------------------------------
# Firmware: stack use against the board, QEMU killed midway.


def _hand_firmware(tmp_path: Path, extra: str, board="cortex-m4", arena: int = 32):
    from test_runner_qemu import build_hand, hand_model

    return build_hand(hand_model(tmp_path / "gen", extra=extra, arena=arena), board, tmp_path / "fw")


STACK_LOCAL = "{{ volatile int8_t local[{n}]; for (int i = 0; i < {n}; ++i) {{ local[i] = (int8_t)i; }} arena[0] = local[{n} - 1]; }}"


def test_painted_stack_covers_a_local_buffer(toolchain, tmp_path):
    from pqk_mcu.boards import load_board

    build = _hand_firmware(tmp_path, STACK_LOCAL.format(n=2048))
    run = run_firmware(build.elf, "cortex-m4", bytes(16))
    assert 2048 <= run.stack_bytes < load_board("cortex-m4").stack_bytes


@pytest.mark.parametrize("arena, problem", [
    # The harness checks its painted stack itself; pqk_mcu.runner.qemu checks the reported peak for every app.
    (4096, r"firmware (failed on tiny-m4: stack overflow|on tiny-m4 overflowed its stack)"),
    (32, r"firmware faulted on tiny-m4: fault=HardFault .*stack-overflow=outside-ram"),
], ids=["into-bss", "out-of-ram"])
def test_stack_overflow_is_reported_not_returned(toolchain, tmp_path, arena, problem):
    """1.5 KiB of locals on a 1 KiB stack: with .bss below the stack the run completes over
    clobbered data and the painted stack gives it away; without, the write leaves RAM and faults."""
    from test_runner_qemu import small_board

    board = small_board(tmp_path, stack=1024)
    build = _hand_firmware(tmp_path, STACK_LOCAL.format(n=1536), board=board, arena=arena)
    with pytest.raises(PqkError, match=problem) as error:
        run_firmware(build.elf, board, bytes(16))
    assert "\n" not in str(error.value)


def _fake_qemu(tmp_path: Path, script: str) -> None:
    """A qemu-system-arm first on PATH that runs ``script`` (the real one is $REAL_QEMU)."""
    import shutil

    real = shutil.which("qemu-system-arm")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "qemu-system-arm"
    wrapper.write_text(f"#!/bin/sh\nREAL_QEMU={real}\n{script}\n")
    wrapper.chmod(0o755)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize("script", [
    'exec timeout -s KILL 1 "$REAL_QEMU" "$@"',                  # killed while the firmware runs
    "printf 'partial' > output.bin; kill -9 $$",                   # killed after writing part of the output
    "printf 'partial' > output.bin; echo 'PQK_RESULT ok stack=64' >&2; kill -9 $$",  # marker, then killed
], ids=["killed-while-running", "killed-after-partial-output", "killed-after-marker"])
def test_killed_qemu_is_reported_not_mistaken_for_a_result(toolchain, tmp_path, monkeypatch, capsys, script):
    build = _hand_firmware(tmp_path, "for (volatile int spin = 1; spin;) { }")
    monkeypatch.setenv("PATH", os.environ["PATH"])  # restored after _fake_qemu prepends to it
    _fake_qemu(tmp_path, script)
    with pytest.raises(PqkError) as error:
        run_firmware(build.elf, "cortex-m4", bytes(16), timeout=60)
    assert "code" in str(error.value) and "\n" not in str(error.value)

    np.save(tmp_path / "input.npy", np.zeros(16, np.int8))
    with pytest.raises(SystemExit) as exited:
        main(["run", str(build.elf), "--board", "cortex-m4", "--input", str(tmp_path / "input.npy"),
              "--output", str(tmp_path / "output.npy")])
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("error: firmware on cortex-m4")
    assert not (tmp_path / "output.npy").exists()


# --------------------------------------------------------------------------------------------
# Training: a diverging run stops naming the step and keeps its checkpoint; an interrupted run
# resumes from its checkpoint and ends exactly where an uninterrupted one does.


def _digits_config(**overrides):
    from pqk_mcu.train.trainer import TrainConfig

    settings = dict(task="digits", model="mnist-cnn", width=0.25, sparsity=0.5, phases=(1,), epochs=(1, 0),
                    batch_size=32, checkpoint_every=10, progress=False, seed=3)
    return TrainConfig(**(settings | overrides))


@pytest.fixture(scope="module")
def digits():
    from pqk_mcu.train.data import load_task

    return load_task("digits", seed=0, progress=False)


def test_nan_loss_stops_naming_the_step_and_keeps_the_checkpoint(digits, tmp_path):
    import dataclasses

    from pqk_mcu.train.trainer import CHECKPOINT_NAME, Plan, TrainingDivergedError, batch_indices, read_checkpoint, train

    config = _digits_config()
    x_train, y_train = digits.train
    poisoned_step = 23
    plan = Plan(config, len(y_train) // config.batch_size)
    x_bad = x_train.copy()
    x_bad[batch_indices(plan, len(y_train), poisoned_step, 0, 1)[0]] = np.nan
    data = dataclasses.replace(digits, train=(x_bad, y_train))

    with pytest.raises(TrainingDivergedError) as error:
        train(config, data, tmp_path / "run")
    message = str(error.value)
    assert f"loss is not finite at step {poisoned_step}" in message
    assert "(step 20) kept" in message and "\n" not in message
    assert read_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)["step"] == 20


def test_interrupted_training_resumes_without_lost_steps(digits, tmp_path, monkeypatch):
    from pqk_mcu.train import trainer

    config = _digits_config()
    whole = trainer.train(config, digits, tmp_path / "whole")

    real_step = trainer.training_step
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 26:  # after the checkpoint of step 20, in the middle of the next interval
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "training_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, digits, tmp_path / "resumed")
    assert trainer.read_checkpoint(tmp_path / "resumed" / trainer.CHECKPOINT_NAME)["step"] == 20

    calls.clear()

    def counted(*args, **kwargs):
        calls.append(1)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "training_step", counted)
    resumed = trainer.train(config, digits, tmp_path / "resumed")
    total = trainer.read_checkpoint(tmp_path / "resumed" / trainer.CHECKPOINT_NAME)["step"]
    assert len(calls) == total - 20  # every step after the checkpoint ran once, none twice
    expected, actual = whole.model.state_dict(), resumed.model.state_dict()
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
    assert resumed.history == whole.history
