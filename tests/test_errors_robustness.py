"""Bad input, round 2: every option value, every output path, every signal.

The table runs like ``test_errors_cli``'s: one ``error:`` line, exit code 2, no traceback, and the
work folder exactly as it was (nothing left behind, nothing of the user's removed). The tests after it
cover what a table row cannot: outputs that must arrive (FIFOs, stdout), folders that must survive,
inputs that must stream.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from conftest import FIXTURES, arm_elf
from pqk_mcu.atomic import MARKER, atomic_dir
from pqk_mcu.cli import main
from pqk_mcu.options import MODEL_NAMES
from test_errors_cli import (
    HELLO,
    Case,
    _check_error_output,
    _prepare,
    _tree,
    _write,
    board_yaml,
    empty_folder,
    int8_input,
    kws_wav,
    model_file,
    mutated_hello,
    run_firmware_case,
    tone,
    train_on,
    write_wav,
)


def users_folder(path: Path) -> Path:
    """A folder the user made: a file and a subfolder that pqk-mcu never wrote."""
    (path / "results").mkdir(parents=True)
    (path / "important.txt").write_text("precious\n")
    (path / "results" / "run1.csv").write_text("1,2,3\n")
    return path


def earlier_output(command: str, extra: str | None = None) -> Callable[[Path], Path]:
    """A folder an earlier ``command`` run wrote; ``extra`` names a file the user added to it since."""

    def make(path: Path) -> Path:
        with atomic_dir(path, command) as tmp:
            (tmp / "model.c").write_text("int x;\n")
        if extra:
            (path / extra).write_text("mine\n")
        return path

    return make


def compile_into(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda tmp: ["compile", str(HELLO), "-o", str(make(tmp / "d"))]


def verify_with(*options: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["verify", str(HELLO), *options]


def stream_with(*options: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["data", "stream", str(tmp / "corpus"), "--out", str(tmp / "s.wav"), *options]


def experiment_with(*options: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["experiment", "--task", "digits", "--out", str(tmp / "grid"), *options]


def flash_elf(make: Callable[[Path], Path], board: str = "nucleo-f446re") -> Callable[[Path], list[str]]:
    return lambda tmp: ["flash", str(make(tmp / "fw.elf")), "--board", board, "--dry-run"]


def built_for(board: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        (path.parent / "firmware.json").write_text(json.dumps({"board": board}))
        return arm_elf(path)

    return make


def header_cut_at(size: int) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        full = write_wav(path, 16000, tone())
        full.write_bytes(full.read_bytes()[:size])
        return path

    return make


def a_tone(path: Path) -> Path:
    return write_wav(path, 16000, tone())


def schema_version(version: int) -> Callable:
    def change(model, subgraph) -> None:
        model.version = version

    return change


CASES = [
    # ---- 1. output folders that hold the user's files
    Case("compile-into-a-folder-of-the-users", compile_into(users_folder), ("d", "did not write", "--force")),
    Case("compile-into-its-output-after-adding-a-file", compile_into(earlier_output("compile", extra="notes.txt")),
         ("d", "`pqk-mcu compile` did not write", "--force")),
    Case("compile-into-a-build-folder", compile_into(earlier_output("build")), ("`pqk-mcu compile` did not write",)),
    Case("compile-onto-a-file", lambda tmp: ["compile", str(HELLO), "-o", str(_write(tmp / "d", "x"))],
         ("--out", "d' is a file")),
    Case("build-into-a-folder-of-the-users",
         lambda tmp: ["build", str(HELLO), "--board", "cortex-m4", "-o", str(users_folder(tmp / "out"))],
         ("out", "did not write", "--force"), tools=("arm-none-eabi-gcc",)),
    Case("synth-kws-into-a-folder-of-the-users",
         lambda tmp: ["data", "synth-kws", "--out", str(users_folder(tmp / "corpus")), "--variants", "1",
                     "--engines", "espeak-ng"],
         ("corpus", "did not write", "--force"), tools=("espeak-ng",)),
    # ---- 3. option values that used to raise
    Case("verify-negative-seed", verify_with("--seed", "-5"), ("--seed", "-5")),
    Case("train-negative-seed", train_on(empty_folder, "--seed", "-1"), ("--seed", "-1")),
    Case("train-zero-epochs-in-both-phases", train_on(empty_folder, "--epochs", "0,0"), ("--epochs", "0", "x>=1")),
    Case("train-pqk-option-not-a-number", train_on(empty_folder, "--pqk-option", "tau=abc"),
         ("PQK option tau", "expected a number", "'abc'")),
    Case("train-pqk-option-nan", train_on(empty_folder, "--pqk-option", "tau=nan"), ("tau must be a finite number",)),
    Case("train-pqk-option-negative-weight", train_on(empty_folder, "--pqk-option", "kd_weight=-1"),
         ("kd_weight must not be negative",)),
    Case("train-pqk-option-unknown", train_on(empty_folder, "--pqk-option", "temperature=2"),
         ("unknown PQK option 'temperature'",)),
    Case("train-negative-learning-rate", train_on(empty_folder, "--lr", "-1"), ("--lr", "-1")),
    Case("train-nan-learning-rate", train_on(empty_folder, "--lr", "nan"), ("--lr", "'nan' is not a finite number")),
    *(Case(f"kws-run-wav-header-cut-at-{size}-bytes", kws_wav(header_cut_at(size)), ("clip.wav", "corrupt WAV"))
      for size in range(20, 36)),
    # ---- 4. accepted before, silently wrong
    Case("train-zero-epochs", train_on(empty_folder, "--epochs", "0"), ("--epochs", "x>=1")),
    Case("train-three-epoch-counts", train_on(empty_folder, "--epochs", "1,1,1"),
         ("--epochs", "3 number(s) for 2 phase(s)", "one per phase")),
    Case("train-one-epoch-count-for-two-phases", train_on(empty_folder, "--epochs", "4"),
         ("--epochs", "1 number(s) for 2 phase(s)")),
    Case("tflite-schema-version-99", model_file(mutated_hello(schema_version(99))),
         ("model.tflite", "schema version 99", "version 3")),
    # ---- 5. leftovers
    Case("train-unknown-model", train_on(empty_folder, "--model", "vgg16"), ("--model", "'vgg16'")),
    # ---- 6. firmware for another target
    Case("flash-elf-linked-for-cortex-m4", flash_elf(lambda p: arm_elf(p, address=0)),
         ("fw.elf", "linked at 0x00000000", "outside nucleo-f446re's flash 0x08000000-0x0807ffff")),
    Case("flash-elf-built-for-another-board", flash_elf(built_for("stm32f4-discovery")),
         ("fw.elf", "built for stm32f4-discovery", "firmware.json", "not nucleo-f446re")),
    Case("flash-a-tflite-model", flash_elf(lambda p: _write(p, "TFL3")), ("fw.elf", "not an ELF file")),
    Case("flash-an-x86-elf", flash_elf(lambda p: arm_elf(p, machine=62)), ("fw.elf", "x86-64", "not ARM")),
    Case("flash-a-truncated-elf", flash_elf(lambda p: p.write_bytes(arm_elf(p).read_bytes()[:60]) and p),
         ("fw.elf", "truncated or malformed ELF")),
    Case("run-a-tflite-model", lambda tmp: ["run", str(HELLO), "--board", "cortex-m4", "--input",
                                            str(int8_input(tmp / "input.npy")), "--output", str(tmp / "output.npy")],
         ("hello_world_int8.tflite", "not an ELF file"), tools=("qemu-system-arm",)),
    Case("verify-on-a-board-file-without-qemu",
         lambda tmp: ["verify", str(HELLO), "--board", str(board_yaml(tmp, lambda d: d.update(qemu_machine=None)))],
         ("board tiny-m4 is not emulated",)),
    # ---- 7. messages
    Case("verify-truncated-model-names-the-file", model_file(HELLO.read_bytes()[:600], "verify"),
         ("model.tflite", "malformed .tflite flatbuffer")),
    Case("compile-under-proc", lambda tmp: ["compile", str(HELLO), "-o", "/proc/pqk-mcu-out"],
         ("cannot write /proc/pqk-mcu-out",)),
    # ---- 8. special files
    Case("prune-into-dev-full", lambda tmp: ["prune", str(HELLO), "--sparsity", "0.5", "-o", "/dev/full"],
         ("cannot write /dev/full", "No space left on device")),
    Case("prune-onto-a-folder", lambda tmp: ["prune", str(HELLO), "--sparsity", "0.5", "-o", str(empty_folder(tmp / "p"))],
         ("--out", "p' is a directory")),
    Case("stream-to-stdout", stream_with("--out", "-"), ("--out", "needs a file name")),
    # ---- every other numeric and key=value option
    Case("prune-nan-sparsity", lambda tmp: ["prune", str(HELLO), "--sparsity", "nan", "-o", str(tmp / "p.tflite")],
         ("--sparsity", "not a finite number")),
    Case("stream-nan-seconds", stream_with("--seconds", "nan"), ("--seconds", "not a finite number")),
    Case("stream-a-billion-seconds", stream_with("--seconds", "1e9"), ("--seconds", "1000000000.0", "0<x<=1800")),
    Case("stream-negative-keywords", stream_with("--keywords", "-1"), ("--keywords", "-1")),
    Case("stream-infinite-snr", stream_with("--snr", "inf"), ("--snr",)),
    Case("kws-run-nan-threshold", lambda tmp: kws_wav(a_tone)(tmp) + ["--threshold", "nan"],
         ("--threshold", "not a finite number")),
    Case("kws-run-stride-below-20-ms", lambda tmp: kws_wav(a_tone)(tmp) + ["--stride-ms", "5"],
         ("--stride-ms", "5", "20<=x<=1000")),
    Case("kws-run-zero-timeout", lambda tmp: kws_wav(a_tone)(tmp) + ["--timeout", "0"], ("--timeout",)),
    Case("run-infinite-timeout", run_firmware_case(None, timeout=float("inf")), ("--timeout", "not a finite number")),
    Case("train-infinite-width", train_on(empty_folder, "--width", "inf"), ("--width",)),
    Case("train-zero-batch-size", train_on(empty_folder, "--batch-size", "0"), ("--batch-size", "0")),
    Case("train-unknown-phases", train_on(empty_folder, "--phases", "2"), ("--phases", "'2'")),
    Case("experiment-nan-width", experiment_with("--widths", "1,nan"), ("--widths", "not a finite number")),
    Case("experiment-sparsity-of-one", experiment_with("--sparsities", "0.5,1"), ("--sparsities", "0<=x<1")),
    Case("experiment-empty-sparsities", experiment_with("--sparsities", "0.5,"),
         ("--sparsities", "comma-separated numbers")),
    Case("experiment-one-epoch-count", experiment_with("--epochs", "4"), ("--epochs", "1 number(s) for 2 phase(s)")),
    Case("experiment-ablation-without-value", experiment_with("--ablation", "tau"), ("--ablation", "key=value")),
    Case("experiment-ablation-not-a-number", experiment_with("--ablation", "tau=abc"), ("PQK option tau", "'abc'")),
    Case("synth-kws-negative-seed", lambda tmp: ["data", "synth-kws", "--out", str(tmp / "c"), "--seed", "-1"],
         ("--seed",)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_option_or_output_gives_one_error_line_and_exit_2(case: Case, tmp_path: Path, capsys, monkeypatch) -> None:
    argv, work, environment = _prepare(case, tmp_path)
    before = {path: path.read_bytes() for path in work.rglob("*") if path.is_file()}
    tree = _tree(work)

    with pytest.raises(SystemExit) as exited:
        main(argv)

    _check_error_output(capsys.readouterr().err, exited.value.code, case)
    assert _tree(work) == tree, f"left behind or removed: {sorted(_tree(work) ^ tree)}"
    assert {path: path.read_bytes() for path in work.rglob("*") if path.is_file()} == before


def test_bad_input_tests_number_at_least_60() -> None:
    from test_errors_cli import CASES as CLI_CASES

    assert len(CASES) + len(CLI_CASES) >= 60


def test_cli_model_names_are_the_trainers() -> None:
    from pqk_mcu.train.models import MODELS

    assert set(MODEL_NAMES) == set(MODELS)


# --------------------------------------------------------------------------------------------
# 1. Output folders: the tool's own output is replaced, the user's is not (even at the current folder).


def test_compile_replaces_its_own_earlier_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    main(["compile", str(HELLO), "-o", str(out)])
    (out / "model.c").write_text("stale")
    main(["compile", str(HELLO), "-o", str(out)])
    assert (out / "model.c").read_text() != "stale" and (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_compile_with_force_replaces_a_folder_of_the_users(tmp_path: Path, capsys) -> None:
    out = users_folder(tmp_path / "out")
    main(["compile", str(HELLO), "-o", str(out), "--force"])
    assert not (out / "important.txt").exists() and (out / "model.c").is_file()


def test_compile_into_the_current_folder_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(users_folder(tmp_path / "here"))
    for target in (".", str(tmp_path)):
        with pytest.raises(SystemExit) as exited:
            main(["compile", str(HELLO), "-o", target])
        assert exited.value.code == 2
        assert capsys.readouterr().err.strip().endswith("is the current folder or holds it; give a folder to create")
    assert (tmp_path / "here" / "important.txt").read_text() == "precious\n"
    assert sorted(p.name for p in (tmp_path / "here").iterdir()) == ["important.txt", "results"]


# --------------------------------------------------------------------------------------------
# 2. verify makes its inputs one at a time.


def test_verify_with_a_huge_input_count_streams_them(tmp_path: Path, capsys, monkeypatch) -> None:
    """99999999999999999999 inputs: the first are checked before more are made, so Ctrl-C after
    three leaves a process that made three, not one that filled the memory first."""
    from pqk_mcu.pipeline import backends

    made = []
    real = backends.BACKENDS["reference"]

    def interrupted_after_three(graph, model_bytes, inputs):
        made.append(inputs)
        if len(made) == 3:
            raise KeyboardInterrupt
        return real(graph, model_bytes, inputs)

    monkeypatch.setitem(backends.BACKENDS, "reference", interrupted_after_three)
    with pytest.raises(SystemExit) as exited:
        main(["verify", str(HELLO), "--board", "reference", "--inputs", "99999999999999999999"])
    assert exited.value.code == 2 and capsys.readouterr().err.strip().splitlines()[-1] == "error: aborted"
    assert len(made) == 3


# --------------------------------------------------------------------------------------------
# 6. A board file works wherever a board name does.


def test_verify_accepts_a_board_file(toolchain, tmp_path: Path, capsys) -> None:
    board = board_yaml(tmp_path, lambda data: None)
    main(["verify", str(HELLO), "--board", str(board), "--inputs", "2"])
    assert capsys.readouterr().out.strip().endswith("verified 2/2 inputs bit-exact on " + str(board))


def test_flash_without_a_probe_says_what_to_check(tmp_path: Path, capsys, monkeypatch) -> None:
    """OpenOCD's own words ("open failed") plus what the user can do about them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "openocd").write_text("#!/bin/sh\necho 'Error: open failed' >&2\nexit 1\n")
    (bin_dir / "openocd").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(SystemExit) as exited:
        main(["flash", str(arm_elf(tmp_path / "fw.elf")), "--board", "nucleo-f446re", "--tool", "openocd"])
    error = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and len(error.splitlines()) == 1
    for words in ("openocd failed (exit 1): Error: open failed", "nucleo-f446re's debug probe", "connected over USB"):
        assert words in error


# --------------------------------------------------------------------------------------------
# 7. Undecodable flatbuffers are described in the file's terms.


@pytest.mark.parametrize("seed", range(6))
def test_garbage_flatbuffer_error_shows_no_python_internals(tmp_path: Path, seed: int) -> None:
    from pqk_mcu.errors import PqkError
    from pqk_mcu.frontends.tflite import load_tflite

    model = tmp_path / "model.tflite"
    model.write_bytes(b"\x1c\x00\x00\x00TFL3" + np.random.default_rng(seed).bytes(4096))
    with pytest.raises(PqkError) as error:
        load_tflite(model)
    message = str(error.value)
    assert message.startswith(f"{model}: ") and "\n" not in message
    for internal in ("unpack_from", "struct", "Error:", "buffer of at least", "index out of range"):
        assert internal not in message, message


# --------------------------------------------------------------------------------------------
# 8. Outputs that are not regular files receive the data and stay what they are.



def _prune(out: str) -> None:
    main(["prune", str(HELLO), "--sparsity", "0.5", "-o", out])


def test_prune_to_a_fifo_writes_into_it(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    _prune(str(fifo))
    reader.join()
    assert received[0][4:8] == b"TFL3" and fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.fifo"]


def test_prune_through_a_symlink_keeps_the_link(tmp_path: Path, capsys) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "pruned.tflite").write_text("old")
    (tmp_path / "latest.tflite").symlink_to("models/pruned.tflite")
    _prune(str(tmp_path / "latest.tflite"))
    assert (tmp_path / "latest.tflite").is_symlink()
    assert (tmp_path / "models" / "pruned.tflite").read_bytes()[4:8] == b"TFL3"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["pruned.tflite"]


def test_prune_to_standard_output(tmp_path: Path, capsysbinary, monkeypatch) -> None:
    """``-`` gets the model alone; the report goes to stderr."""
    monkeypatch.chdir(tmp_path)
    _prune("-")
    captured = capsysbinary.readouterr()
    _prune(str(tmp_path / "pruned.tflite"))
    assert captured.out == (tmp_path / "pruned.tflite").read_bytes()
    assert captured.err.decode().startswith("wrote - ")


# --------------------------------------------------------------------------------------------
# 9. Tables are whole in logs, modes follow the umask, the KWS time limit follows the stream.


def test_compile_table_is_not_cut_when_piped(tmp_path: Path, capsys) -> None:
    main(["compile", str(FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite"), "-o", str(tmp_path / "out")])
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) > 80
    assert not any("…" in line for line in lines)


def test_outputs_follow_the_umask(tmp_path: Path, capsys) -> None:
    old = os.umask(0o027)
    try:
        main(["compile", str(HELLO), "-o", str(tmp_path / "out")])
        _prune(str(tmp_path / "pruned.tflite"))
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "out" / "model.c").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "pruned.tflite").stat().st_mode & 0o777 == 0o640


def test_kws_time_limit_grows_with_the_stream() -> None:
    from pqk_mcu.pipeline.kws import kws_timeout

    assert kws_timeout(600) > 10 * kws_timeout(1) > kws_timeout(0) > 0


def test_training_that_fails_before_a_checkpoint_leaves_no_folder(tmp_path: Path, monkeypatch) -> None:
    from pqk_mcu.errors import PqkError
    from pqk_mcu.train import run
    from pqk_mcu.train.trainer import TrainConfig

    def fails(config, data, out):
        out.mkdir(parents=True)
        raise PqkError("model does not fit the data")

    monkeypatch.setattr(run, "train", fails)
    config = TrainConfig(task="digits", model="mnist-cnn", phases=(1,), epochs=(1, 0))
    with pytest.raises(PqkError):
        run.train_and_export(config, None, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
