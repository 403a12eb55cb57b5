"""Every CLI option fuzzed: hypothesis draws command lines from the click parameters of every command.

Each drawn command line runs in process through ``pqk_mcu.cli.main`` in a sandbox folder and must end
with exit code 0, 1 (verify found a mismatch) or 2 with exactly one ``error:`` line, never an uncaught
exception; a folder of the user's survives unless ``--force`` was drawn. Values come from each
parameter's type (ranges with their edges and beyond, nan and infinity, choices, key=value lists,
junk text) and paths from a pool of small files (a tiny model, an ELF, a WAV, a board file, a folder
of the user's, devices). Cases stay cheap: ``PATH`` holds no tool, so builds, QEMU, espeak-ng and
programmers stop at their tool check; training data loading is stubbed; verify draws a few inputs.
``make fuzz`` runs 10,000 cases (the ``fuzz`` profile), ``make test`` a sample.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import click
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import arm_elf
from pqk_mcu.cli import cli, main
from pqk_mcu.options import KeyValues, NumberList
from pqk_mcu.errors import PqkError
from test_errors_cli import HELLO, board_yaml, tone, write_wav

SMALL_EXAMPLES = 150
TEXT = st.text(alphabet="abc-_.,=:/ 0123456789eEnaifx", max_size=12)  # what a hand could type, no NUL
PQK_KEYS = ("tau", "ce_weight", "kd_weight", "warmup_fraction", "lr_scale", "student_lr_scale", "teacher_precision",
            "teacher_bn", "nope")
BOARDS = ("cortex-m4", "cortex-m55", "nucleo-f446re", "host", "reference", "tflm", "cortex-m99", "", "board.yaml",
          "bad.yaml", "missing.yaml", "dir/")
PATHS = ("model.tflite", "fw.elf", "clip.wav", "input.npy", "board.yaml", "text.txt", "empty", "missing", "dir",
         "precious", "out", "out/sub", "-", ".", "/dev/null", "/dev/full", "/proc/pqk-fuzz")


def _commands() -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(cli.commands.items()):
        if isinstance(command, click.Group):
            found += [((name, sub), leaf) for sub, leaf in sorted(command.commands.items())]
        else:
            found.append(((name,), command))
    return found


COMMANDS = _commands()

numbers = st.one_of(
    st.integers(-3, 40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-1", "1e9", "4294967296", "99999999999999999999", "0.5", "1", "nan", "-inf", "", "x"]),
)
# Options whose every value is cheap for the type, but not for the work it orders.
OVERRIDES = {("verify", "count"): st.sampled_from(["1", "2", "0", "-1", "x"])}


def _values(path: tuple[str, ...], param: click.Parameter) -> st.SearchStrategy[str]:
    kind = param.type
    if (path[0], param.name) in OVERRIDES:
        return OVERRIDES[(path[0], param.name)]
    if isinstance(kind, click.Path):
        return st.sampled_from(PATHS)
    if isinstance(kind, click.Choice):
        return st.one_of(st.sampled_from(list(kind.choices)), TEXT)
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return numbers
    if isinstance(kind, NumberList):
        return st.one_of(st.lists(numbers, min_size=1, max_size=3).map(",".join), TEXT)
    if isinstance(kind, KeyValues):
        pair = st.tuples(st.sampled_from(PQK_KEYS), st.one_of(numbers, st.sampled_from(["fp32", "int8", "shared"])))
        return st.one_of(st.lists(pair.map("=".join), min_size=1, max_size=2).map(",".join), TEXT)
    if param.name == "board":
        return st.one_of(st.sampled_from(BOARDS), TEXT)
    return st.one_of(TEXT, st.sampled_from(["a,b,c", "yes,no", "1,2", "harness", "kws"]))


@st.composite
def command_lines(draw) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    argv = list(path)
    for param in command.params:
        if isinstance(param, click.Argument):
            argv.append(draw(_values(path, param)))
        elif draw(st.integers(0, 9)) < (8 if param.required else 3):
            if param.is_flag:
                argv.append(param.opts[-1])
                continue
            for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
                argv += [draw(st.sampled_from(param.opts)), draw(_values(path, param))]
    return argv


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-fuzz")
    (root / "model.tflite").write_bytes(HELLO.read_bytes())
    arm_elf(root / "fw.elf")
    write_wav(root / "clip.wav", 16000, tone(0.2))
    np.save(root / "input.npy", np.zeros(1, np.int8))
    board_yaml(root, lambda data: None, name="board")
    (root / "bad.yaml").write_text("name: [unclosed\n")
    (root / "text.txt").write_text("not a model\n")
    (root / "empty").write_bytes(b"")
    (root / "dir").mkdir()
    (root / "bin").mkdir()
    return root


class StubbedDataLoading(PqkError):
    """Training data are not loaded while fuzzing: the option checks before it are what is fuzzed."""


def _stub_data_loading(*args, **kwargs):
    raise StubbedDataLoading("training data not loaded while fuzzing")


def run_command_line(argv: list[str], root: Path) -> None:
    from pqk_mcu.train import experiment, run

    precious = root / "precious"
    precious.mkdir(exist_ok=True)
    (precious / "important.txt").write_text("precious\n")
    out, err = io.TextIOWrapper(io.BytesIO(), write_through=True), io.TextIOWrapper(io.BytesIO(), write_through=True)
    environment = {"PATH": str(root / "bin")}  # no cross compiler, QEMU, gcc, espeak-ng or programmer
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.chdir(root))
        stack.enter_context(_patched(os.environ, environment))
        stack.enter_context(_patched(vars(run), {"load_run_data": _stub_data_loading}))
        stack.enter_context(_patched(vars(experiment), {"load_run_data": _stub_data_loading}))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            main(argv)
            code = 0
        except SystemExit as exited:
            code = exited.code
    stderr = err.buffer.getvalue().decode(errors="replace")
    assert "Traceback" not in stderr, (argv, stderr)
    assert code in (0, 1, 2, None), (argv, code, stderr)
    if code == 2:
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and stderr.rstrip().splitlines()[-1] == errors[0], (argv, stderr)
    if "--force" not in argv:
        assert (precious / "important.txt").read_text() == "precious\n", argv


@contextlib.contextmanager
def _patched(mapping: dict, values: dict):
    saved = {key: mapping.get(key) for key in values}
    mapping.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                mapping.pop(key, None)
            else:
                mapping[key] = value


def test_every_command_is_fuzzed() -> None:
    assert {" ".join(path) for path, _ in COMMANDS} >= {"compile", "verify", "train", "kws run", "data stream", "flash"}


@settings(max_examples=SMALL_EXAMPLES, derandomize=True, database=None)
@given(argv=command_lines())
def test_cli_options_give_clean_exits(sandbox: Path, argv: list[str]) -> None:
    run_command_line(argv, sandbox)


@pytest.mark.fuzz
@given(argv=command_lines())
def test_fuzz_cli_options(sandbox: Path, argv: list[str]) -> None:
    run_command_line(argv, sandbox)
