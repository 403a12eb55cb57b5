"""Bad input through the real command line: one ``error: ...`` line, exit code 2, nothing left behind.

Every case builds its bad input inside ``tmp_path``, runs ``.venv/bin/pqk-mcu`` as a user would and
checks that stderr ends with exactly one ``error:`` line holding the expected words, that no
traceback was printed, and that the run created no file or folder (not even a hidden temporary
one) anywhere under ``tmp_path``. Missing tools are simulated with a ``PATH`` that holds none;
hanging and faulting firmware are small hand-written models built with the runner's API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import flatbuffers
import numpy as np
import pytest
import yaml
from scipy.io import wavfile

from conftest import FIXTURES, REPO, arm_elf, require_tools
from pqk_mcu.boards import BOARDS_DIR
from pqk_mcu.cli import main
from pqk_mcu.exporters.tflite import save_tflite
from pqk_mcu.frontends.tflite_schema import BUILTIN_CODES, FILE_IDENTIFIER, schema
from pqk_mcu.ir.builder import GraphBuilder

PQK_MCU = REPO / ".venv" / "bin" / "pqk-mcu"
HELLO = FIXTURES / "hello_world_int8.tflite"
SINE_FLOAT = Path(schema.__file__).parents[4] / "python" / "tflite_micro" / "sine_float.tflite"
CLI_TIMEOUT_S = 300


# --------------------------------------------------------------------------------------------
# Bad models.


def mutated_hello(change: Callable) -> bytes:
    """hello_world_int8.tflite (three FULLY_CONNECTED ops, tensors 7 and 8 between them) after ``change``."""
    model = schema.ModelT.InitFromPackedBuf(HELLO.read_bytes(), 0)
    change(model, model.subgraphs[0])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def set_tensor(index: int, **fields) -> Callable:
    def change(model, subgraph) -> None:
        for name, value in fields.items():
            setattr(subgraph.tensors[index], name, value)

    return change


def set_types(indices: tuple[int, ...], tensor_type: int) -> Callable:
    def change(model, subgraph) -> None:
        for index in indices:
            subgraph.tensors[index].type = tensor_type

    return change


def set_builtin(name: str) -> Callable:
    def change(model, subgraph) -> None:
        code = BUILTIN_CODES[name]
        model.operatorCodes[0].builtinCode = code
        model.operatorCodes[0].deprecatedBuiltinCode = min(code, 127)

    return change


def custom_op(model, subgraph) -> None:
    model.operatorCodes[0].builtinCode = BUILTIN_CODES["CUSTOM"]
    model.operatorCodes[0].deprecatedBuiltinCode = BUILTIN_CODES["CUSTOM"]
    model.operatorCodes[0].customCode = "MyFancyOp"


def op_input(op: int, slot: int, tensor: int) -> Callable:
    def change(model, subgraph) -> None:
        inputs = [int(i) for i in subgraph.operators[op].inputs]
        inputs[slot] = tensor
        subgraph.operators[op].inputs = inputs

    return change


def opcode_index(op: int, index: int) -> Callable:
    def change(model, subgraph) -> None:
        subgraph.operators[op].opcodeIndex = index

    return change


def two_subgraphs(model, subgraph) -> None:
    model.subgraphs.append(model.subgraphs[0])


ACTIVATIONS = (0, 7, 8, 9)  # hello_world's input, two hidden activations and output


def big_weights_model(path: Path) -> Path:
    """One FULLY_CONNECTED with 256x256 int8 weights: 64 KiB of flash."""
    b = GraphBuilder()
    x = b.input((1, 256), 0.05, 0)
    weights = np.random.default_rng(0).integers(-127, 128, size=(256, 256)).astype(np.int8)
    save_tflite(b.build([b.fully_connected(x, weights, 0.01, None, 0.5, 0)]), path)
    return path


def big_activations_model(path: Path) -> Path:
    """A 1x1 MAX_POOL_2D over a 96x96x8 image: 72 KiB input plus 72 KiB output in RAM."""
    b = GraphBuilder()
    x = b.input((1, 96, 96, 8), 0.05, 0)
    save_tflite(b.build([b.max_pool2d(x, 1, 1, "VALID")]), path)
    return path


# --------------------------------------------------------------------------------------------
# Bad boards.


def board_yaml(directory: Path, change: Callable[[dict], None], name: str = "tiny-m4") -> Path:
    """A copy of cortex-m4.yaml after ``change(data)``."""
    data = yaml.safe_load((BOARDS_DIR / "cortex-m4.yaml").read_text())
    data["name"] = name
    change(data)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def memory(flash: int | None = None, ram: int | None = None, stack: int = 1024) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        if flash is not None:
            data["memory"]["flash"]["size"] = flash
        if ram is not None:
            data["memory"]["ram"]["size"] = ram
        data["stack_bytes"] = stack

    return change


def delete_field(*keys: str) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


# --------------------------------------------------------------------------------------------
# Firmware that hangs or faults (hand-written model, built with the runner's API).


def hand_firmware(directory: Path, extra: str) -> Path:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    from test_runner_qemu import build_hand, hand_model

    return build_hand(hand_model(directory / "gen", extra=extra), "cortex-m4", directory / "fw").elf


HANG = "for (volatile int spin = 1; spin;) { }"
FAULT = "arena[0] = *(volatile int8_t *)0xF0000000u;"


def int8_input(path: Path, size: int = 16) -> Path:
    np.save(path, np.zeros(size, dtype=np.int8))
    return path


# --------------------------------------------------------------------------------------------
# Bad WAVs and data folders.

KWS_WORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")


def tone(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


def write_wav(path: Path, rate: int, samples: np.ndarray) -> Path:
    wavfile.write(path, rate, samples)
    return path


def speech_folder(root: Path, corrupt: str | None = None) -> Path:
    """Speech Commands layout, one clip per keyword, every clip in the training split; ``corrupt``
    names a word whose folder also holds a corrupt WAV (RIFF header, no fmt chunk)."""
    for word in KWS_WORDS:
        (root / word).mkdir(parents=True)
        write_wav(root / word / "speaker0_nohash_0.wav", 16000, tone())
    (root / "validation_list.txt").write_text("")
    (root / "testing_list.txt").write_text("")
    if corrupt:
        corrupt_wav(root / corrupt / "speaker1_nohash_0.wav")
    return root


# --------------------------------------------------------------------------------------------
# The table.


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], list[str]]   # writes the bad input into tmp_path, returns the CLI arguments
    words: tuple[str, ...]               # must all appear in the error line
    bare_path: bool = False              # run with a PATH that holds no tool at all
    tools: tuple[str, ...] = field(default=())  # tools the case needs to reach its error


def model_file(data: bytes | Callable[[Path], Path], command: str = "compile") -> Callable[[Path], list[str]]:
    """Arguments running ``command`` on a model file written from ``data``."""

    def setup(tmp: Path) -> list[str]:
        if callable(data):
            path = data(tmp / "model.tflite")
        else:
            path = tmp / "model.tflite"
            path.write_bytes(data)
        if command == "compile":
            return ["compile", str(path), "-o", str(tmp / "out")]
        if command == "build":
            return ["build", str(path), "--board", "cortex-m4", "-o", str(tmp / "out")]
        return [command, str(path)]

    return setup


def build_on(model: Callable[[Path], Path] | Path, board: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        path = model if isinstance(model, Path) else model(tmp / "model.tflite")
        return ["build", str(path), "--board", board(tmp), "-o", str(tmp / "out")]

    return setup


def run_firmware_case(extra: str | None, board: str = "cortex-m4", timeout: float = 20,
                      input_array: Callable[[Path], Path] = int8_input) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        elf = hand_firmware(tmp, extra) if extra is not None else tmp / "firmware.elf"
        return ["run", str(elf), "--board", board, "--input", str(input_array(tmp / "input.npy")),
                "--output", str(tmp / "output.npy"), "--timeout", f"{timeout:g}"]

    return setup


def kws_wav(make: Callable[[Path], Path], model: Path = HELLO) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        return ["kws", "run", "--model", str(model), "--wav", str(make(tmp / "clip.wav")), "-o", str(tmp / "out")]

    return setup


def train_on(make: Callable[[Path], Path], *extra: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        return ["train", "--task", "kws", "--data", str(make(tmp / "data")), "--out", str(tmp / "run"),
                "--epochs", "1,1", *extra]

    return setup


def not_a_wav(path: Path) -> Path:
    path.write_text("this is text, not audio\n")
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def empty_wav(path: Path) -> Path:
    return write_wav(path, 16000, np.zeros(0, dtype=np.int16))


def stereo_wav(path: Path) -> Path:
    return write_wav(path, 16000, np.stack([tone(), tone()], axis=1))


def eight_bit_wav(path: Path) -> Path:
    return write_wav(path, 16000, (tone() // 256 + 128).astype(np.uint8))


def wav_44k(path: Path) -> Path:
    return write_wav(path, 44100, tone(rate=44100))


def corrupt_wav(path: Path) -> Path:
    """A RIFF/WAVE header and junk, no fmt chunk."""
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    return path


def empty_folder(path: Path) -> Path:
    path.mkdir()
    return path


CASES = [
    # ---- unreadable model files
    Case("tflite-empty", model_file(b"", "inspect"), ("model.tflite", "not a .tflite model", "0 bytes")),
    Case("tflite-truncated", model_file(HELLO.read_bytes()[:600]), ("model.tflite", "malformed .tflite flatbuffer")),
    Case("tflite-random-bytes", model_file(np.random.default_rng(7).bytes(4096)), ("not a .tflite model", "file identifier")),
    Case("tflite-random-bytes-with-identifier",
         model_file(b"\x1c\x00\x00\x00TFL3" + np.random.default_rng(8).bytes(4096), "verify"),
         ("malformed .tflite flatbuffer",)),
    Case("tflite-missing-file", lambda tmp: ["inspect", str(tmp / "absent.tflite")], ("cannot read", "absent.tflite")),
    # ---- valid flatbuffers that lie
    Case("tflite-buffer-index-out-of-range", model_file(mutated_hello(set_tensor(4, buffer=99))),
         ("tensor 4", "refers to buffer 99", "13 buffers")),
    Case("tflite-tensor-index-out-of-range", model_file(mutated_hello(op_input(1, 1, 42))),
         ("op 1 (FULLY_CONNECTED) input 1", "tensor index 42", "10 tensors")),
    Case("tflite-opcode-index-out-of-range", model_file(mutated_hello(opcode_index(2, 5))),
         ("op 2", "operator code 5")),
    Case("tflite-shape-disagrees-with-buffer", model_file(mutated_hello(set_tensor(4, shape=[16, 8]))),
         ("tensor 4", "256 bytes of data", "[16, 8]", "needs 128")),
    Case("tflite-shape-disagrees-with-op", model_file(mutated_hello(set_tensor(7, shape=[1, 8]))),
         ("op 0 (FULLY_CONNECTED)", "has shape (1, 8)", "produces (1, 16)")),
    Case("tflite-two-subgraphs", model_file(mutated_hello(two_subgraphs)), ("2 subgraphs",)),
    # ---- models pqk-mcu does not compile
    Case("model-float", model_file(SINE_FLOAT.read_bytes()), ("float", "not supported", "int8")),
    # FULLY_CONNECTED runs 16x8: int16 activations there need zero point 0
    Case("model-int16-activations", model_file(mutated_hello(set_types(ACTIVATIONS, schema.TensorType.INT16))),
         ("op 0 (FULLY_CONNECTED)", "int16", "zero point -128")),
    Case("model-mixed-float-hidden-tensor", model_file(mutated_hello(set_types((8,), schema.TensorType.FLOAT32))),
         ("op 1 (FULLY_CONNECTED)", "float32 output tensor 8", "float models are not supported")),
    Case("model-uint8-activations", model_file(mutated_hello(set_types(ACTIVATIONS, schema.TensorType.UINT8)), "build"),
         ("uint8", "only int8 activations")),
    Case("op-unsupported-builtin", model_file(mutated_hello(set_builtin("LSTM"))),
         ("op 0 (LSTM)", "not supported")),
    Case("op-unsupported-builtin-build", model_file(mutated_hello(set_builtin("GATHER")), "build"),
         ("op 0 (GATHER)", "not supported")),
    Case("tflite-two-subgraphs-inspect", model_file(mutated_hello(two_subgraphs), "inspect"), ("2 subgraphs",)),
    Case("op-custom", model_file(mutated_hello(custom_op)), ("op 0", "custom op 'MyFancyOp'")),
    Case("shape-dynamic-signature", model_file(mutated_hello(set_tensor(7, shapeSignature=[1, -1]))),
         ("tensor 7", "dynamic shape")),
    Case("shape-negative-dimension", model_file(mutated_hello(set_tensor(8, shape=[1, -1]))),
         ("tensor 8", "dynamic shape [1, -1]")),
    Case("shape-zero-sized", model_file(mutated_hello(set_tensor(7, shape=[1, 0]))),
         ("tensor 7", "zero-sized shape [1, 0]")),
    # ---- boards
    Case("board-unknown", build_on(HELLO, lambda tmp: "cortex-m99"), ("unknown board 'cortex-m99'", "known boards: ")),
    Case("board-file-missing", build_on(HELLO, lambda tmp: str(tmp / "nope.yaml")), ("board file not found", "nope.yaml")),
    Case("board-yaml-not-yaml", build_on(HELLO, lambda tmp: str(_write(tmp / "bad.yaml", "name: [unclosed\n"))),
         ("bad.yaml", "not valid YAML")),
    Case("board-yaml-missing-field", build_on(HELLO, lambda tmp: str(board_yaml(tmp, delete_field("memory", "ram", "size")))),
         ("tiny-m4.yaml", "field 'memory.ram.size' is missing")),
    Case("board-yaml-wrong-type", build_on(HELLO, lambda tmp: str(board_yaml(tmp, lambda d: d.update(stack_bytes="lots")))),
         ("field 'stack_bytes'", "must be an integer", "'lots'")),
    Case("board-yaml-unknown-field", build_on(HELLO, lambda tmp: str(board_yaml(tmp, lambda d: d.update(clock_hz=1)))),
         ("field 'clock_hz'", "not a known field")),
    Case("board-too-small-flash", build_on(big_weights_model, lambda tmp: str(board_yaml(tmp, memory(flash=32768)))),
         ("does not fit board tiny-m4", "flash needs", "> 32,768 B", "weights 65,536"),
         tools=("arm-none-eabi-gcc",)),
    Case("board-too-small-ram", build_on(big_activations_model, lambda tmp: str(board_yaml(tmp, memory(ram=65536)))),
         ("does not fit board tiny-m4", "RAM needs", "> 65,536 B", "stack 1,024"), tools=("arm-none-eabi-gcc",)),
    # ---- tools
    Case("tool-missing-cross-compiler", build_on(HELLO, lambda tmp: "cortex-m4"),
         ("arm-none-eabi-gcc not found", "install it with", "apt-get install gcc-arm-none-eabi"), bare_path=True),
    Case("tool-missing-qemu", run_firmware_case(None), ("qemu-system-arm not found", "apt-get install qemu-system-arm"),
         bare_path=True),
    Case("tool-missing-espeak", lambda tmp: ["data", "synth-kws", "--out", str(tmp / "corpus")],
         ("espeak-ng is not installed", "apt-get install espeak-ng"), bare_path=True),
    # ---- firmware runs
    Case("firmware-hangs", run_firmware_case(HANG, timeout=2), ("firmware hung", "no result after 2 s", "cortex-m4"),
         tools=("arm-none-eabi-gcc", "qemu-system-arm")),
    Case("firmware-faults", run_firmware_case(FAULT),
         ("firmware faulted on cortex-m4", "fault=HardFault", "pc=0x", "cfsr=0x", "bfar=0xf0000000", "model.c"),
         tools=("arm-none-eabi-gcc", "qemu-system-arm")),
    Case("firmware-missing-elf", run_firmware_case(None), ("firmware not found", "firmware.elf"),
         tools=("qemu-system-arm",)),
    Case("run-board-not-emulated", run_firmware_case(None, board="nucleo-l4r5zi"), ("nucleo-l4r5zi", "not emulated")),
    Case("run-input-float32", run_firmware_case(None, input_array=lambda p: _npy(p, np.zeros(16, np.float32))),
         ("input.npy", "int8 input", "float32")),
    Case("run-input-not-npy", run_firmware_case(None, input_array=lambda p: _write(p, "1,2,3\n")),
         ("input.npy", "cannot read", ".npy")),
    # ---- audio: `kws run` resamples and down-mixes any PCM WAV (stereo, 8-bit, 44.1 kHz: see
    # test_kws_run_accepts_any_pcm_wav); the speech corpus reader for training insists on 16 kHz mono.
    Case("wav-empty-file", kws_wav(empty_file), ("clip.wav", "not a WAV file")),
    Case("wav-no-samples", kws_wav(empty_wav), ("clip.wav", "holds no samples")),
    Case("wav-not-a-wav", kws_wav(not_a_wav), ("clip.wav", "not a WAV file")),
    Case("wav-no-fmt-chunk", kws_wav(corrupt_wav), ("clip.wav", "corrupt WAV")),
    Case("wav-missing-file", kws_wav(lambda p: p), ("clip.wav", "no such WAV file")),
    Case("kws-model-not-kws", kws_wav(lambda p: write_wav(p, 16000, tone())),
         ("49x10 int8 MFCC features", "int8 [1, 1]")),
    Case("kws-classify-no-clips", lambda tmp: ["kws", "classify", str(HELLO), "--data", str(tmp),
                                               "-o", str(tmp / "out")],
         ("no clips in Speech Commands layout",)),
    Case("kws-classify-model-not-kws", lambda tmp: ["kws", "classify", str(HELLO), "--data",
                                                    str(FIXTURES / "speech_commands"), "-o", str(tmp / "out")],
         ("49x10 int8 MFCC features",)),
    Case("train-wav-stereo", train_on(lambda p: _replace_clip(speech_folder(p), stereo_wav)),
         ("speaker0_nohash_0.wav", "2 channels, expected mono")),
    Case("train-wav-44100-hz", train_on(lambda p: _replace_clip(speech_folder(p), wav_44k)),
         ("speaker0_nohash_0.wav", "sample rate 44100 Hz, expected 16000 Hz")),
    # ---- training data
    Case("train-data-missing", train_on(lambda p: p), ("data", "is not a folder")),
    Case("train-data-no-classes", train_on(empty_folder), ("no word folders with .wav files",)),
    Case("train-data-missing-keyword", train_on(lambda p: _drop(speech_folder(p), "yes")),
         ("no training clips of yes",)),
    Case("train-data-unreadable-file", train_on(lambda p: speech_folder(p, corrupt="go")),
         ("speaker1_nohash_0.wav", "unreadable or corrupt WAV")),
    Case("train-bad-epochs", train_on(empty_folder, "--epochs", "two"), ("--epochs", "comma-separated numbers", "'two'")),
    Case("train-bad-pqk-option", train_on(empty_folder, "--pqk-option", "tau"), ("--pqk-option", "key=value", "'tau'")),
    Case("train-bad-sparsity", train_on(empty_folder, "--sparsity", "1.5"), ("--sparsity", "1.5", "0<=x<1")),
    # ---- bench and flash
    Case("bench-bad-model", lambda tmp: ["bench", str(_write(tmp / "m.tflite", "TFL3")), "--board", "cortex-m4",
                                         "--json", str(tmp / "bench.json")], ("m.tflite", "not a .tflite model")),
    Case("bench-unknown-board", lambda tmp: ["bench", str(HELLO), "--board", "cortex-m99", "--json", str(tmp / "b.json")],
         ("unknown board 'cortex-m99'",)),
    Case("bench-board-too-small", lambda tmp: ["bench", str(big_weights_model(tmp / "big.tflite")), "--board",
                                               str(board_yaml(tmp, memory(flash=32768))), "--json", str(tmp / "b.json")],
         ("does not fit board tiny-m4", "flash needs"), tools=("arm-none-eabi-gcc",)),
    Case("flash-board-not-flashable", lambda tmp: ["flash", str(_write(tmp / "fw.elf", "x")), "--board", "cortex-m4"],
         ("cortex-m4", "not flashable")),
    Case("flash-missing-elf", lambda tmp: ["flash", str(tmp / "fw.elf"), "--board", "nucleo-f446re"],
         ("fw.elf", "no such ELF file")),
    Case("flash-tool-missing", lambda tmp: ["flash", str(arm_elf(tmp / "fw.elf")), "--board", "nucleo-f446re"],
         ("pyocd is not installed", "pip install pyocd", "OpenOCD comes with `make setup`"), bare_path=True),
    Case("prune-sparsity-out-of-range", lambda tmp: ["prune", str(HELLO), "--sparsity", "1.5", "-o", str(tmp / "p.tflite")],
         ("--sparsity", "1.5", "0<=x<1")),
    Case("prune-unsupported-model", lambda tmp: ["prune", str(SINE_FLOAT), "--sparsity", "0.5", "-o", str(tmp / "p.tflite")],
         ("float", "not supported")),
    Case("verify-unknown-backend", lambda tmp: ["verify", str(HELLO), "--board", "cortex-m99"],
         ("unknown board or backend 'cortex-m99'",)),
    Case("verify-input-wrong-dtype", lambda tmp: ["verify", str(HELLO), "--input", str(_npy(tmp / "x.npy", np.zeros((3, 1), np.float32)))],
         ("x.npy", "float32", "int8")),
    Case("stream-corpus-empty", lambda tmp: ["data", "stream", str(empty_folder(tmp / "corpus")), "--out", str(tmp / "s.wav")],
         ("no word folders with .wav files",)),
    # ---- outputs that cannot be written
    Case("output-parent-is-a-file", lambda tmp: ["compile", str(HELLO), "-o", str(_write(tmp / "taken", "x") / "out")],
         ("taken",)),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def _drop(root: Path, word: str) -> Path:
    for wav in (root / word).iterdir():
        wav.unlink()
    (root / word).rmdir()
    return root


def _replace_clip(root: Path, make: Callable[[Path], Path], word: str = "up") -> Path:
    make(root / word / "speaker0_nohash_0.wav")
    return root


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _commands() -> set[str]:
    """Command paths of the CLI (``inspect``, ``kws run``, ``data synth-kws``...)."""
    from pqk_mcu.cli import cli

    names = set()
    for name, command in cli.commands.items():
        names.add(name)
        names.update(f"{name} {sub}" for sub in getattr(command, "commands", {}))
    return names


def test_case_table_is_large_named_and_covers_every_command(tmp_path: Path):
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 30
    covered = set()
    for number, case in enumerate(CASES):
        work = tmp_path / str(number)
        work.mkdir()
        if case.tools:  # their setup builds firmware; every command also has a case without tools
            continue
        argv = case.setup(work)
        covered.add(" ".join(argv[:2]) if argv[0] in ("kws", "data") else argv[0])
    # experiment is the train grid over the same data and config checks.
    assert _commands() - covered <= {"experiment", "kws", "data"}, sorted(_commands() - covered)


def _check_error_output(stderr: str, code: int | None, case: Case) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in stderr, stderr
    assert code == 2, stderr
    assert len(errors) == 1, stderr
    assert stderr.rstrip().splitlines()[-1] == errors[0], stderr  # progress bars may come before it
    for word in case.words:
        assert word in errors[0], f"{word!r} not in {errors[0]!r}"


def _prepare(case: Case, tmp_path: Path) -> tuple[list[str], Path, dict[str, str]]:
    if case.tools:
        require_tools(*case.tools)
    work = tmp_path / "work"
    work.mkdir()
    argv = case.setup(work)
    environment = dict(os.environ)
    if case.bare_path:
        (tmp_path / "empty-bin").mkdir()
        environment["PATH"] = str(tmp_path / "empty-bin")
    return argv, work, environment


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_one_error_line_and_exit_2(case: Case, tmp_path: Path, capsys, monkeypatch) -> None:
    """In process through ``pqk_mcu.cli.main`` (what the console script calls): torch and the codegen
    are imported once per test process instead of once per case."""
    argv, work, environment = _prepare(case, tmp_path)
    monkeypatch.setenv("PATH", environment["PATH"])
    before = _tree(work)

    with pytest.raises(SystemExit) as exited:
        main(argv)

    _check_error_output(capsys.readouterr().err, exited.value.code, case)
    assert _tree(work) == before, f"left behind: {sorted(_tree(work) - before)}"


SCRIPT_CASES = ("tflite-empty", "shape-zero-sized", "board-yaml-missing-field", "tool-missing-cross-compiler",
                "wav-not-a-wav", "output-parent-is-a-file")


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SCRIPT_CASES], ids=SCRIPT_CASES)
def test_console_script_prints_one_error_line(case: Case, tmp_path: Path) -> None:
    """The installed ``pqk-mcu`` script, as a separate process, for a sample of the table."""
    argv, work, environment = _prepare(case, tmp_path)
    before = _tree(work)

    result = subprocess.run([str(PQK_MCU), *argv], capture_output=True, text=True, env=environment,
                            timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)

    _check_error_output(result.stderr, result.returncode, case)
    assert _tree(work) == before, f"left behind: {sorted(_tree(work) - before)}"


@pytest.mark.parametrize("make", [stereo_wav, eight_bit_wav, wav_44k], ids=["stereo", "8-bit", "44100-hz"])
def test_kws_run_accepts_any_pcm_wav(make, tmp_path: Path) -> None:
    """``kws run`` documents that it down-mixes and resamples: these WAVs are not errors there."""
    from pqk_mcu.audio.wav import read_wav_16k

    samples = read_wav_16k(make(tmp_path / "clip.wav"))
    assert samples.dtype == np.int16 and samples.shape == (16000,)
    reference = tone().astype(np.float64)
    correlation = np.corrcoef(samples[200:-200], reference[200:-200])[0, 1]
    assert correlation > 0.99


def test_failed_command_keeps_the_previous_output(tmp_path: Path, capsys) -> None:
    """A failing compile or run leaves an earlier successful output exactly as it was."""
    out = tmp_path / "out"
    main(["compile", str(HELLO), "-o", str(out)])
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(mutated_hello(set_builtin("LSTM")))

    with pytest.raises(SystemExit) as exited:
        main(["compile", str(bad), "-o", str(out)])

    assert exited.value.code == 2
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tflite", "out"]


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_interrupted_build_leaves_nothing_behind(toolchain, tmp_path: Path, signal_name: str) -> None:
    """Ctrl-C or SIGTERM while `pqk-mcu build` compiles: exit 2 naming the signal, no output folder, no
    temporary folder."""
    import signal

    model = FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite"
    work = tmp_path / "work"
    work.mkdir()
    # A cross compiler whose first compile reports on a FIFO and then stalls (later calls and queries
    # are real): the signal lands inside the build however fast or loaded the machine is. The stall is
    # bounded: a signal caught while Python is still starting the child waits for that child to end.
    slow_bin = tmp_path / "bin"
    slow_bin.mkdir()
    real_gcc = shutil.which("arm-none-eabi-gcc")
    compiling = tmp_path / "compiling"
    os.mkfifo(compiling)
    (slow_bin / "arm-none-eabi-gcc").write_text(
        f'#!/bin/sh\ncase "$*" in *" -c "*|*" -o "*) [ -e {tmp_path / "started"} ] || '
        f'{{ touch {tmp_path / "started"}; echo compiling > {compiling}; exec sleep 10; }};; esac\n'
        f'exec {real_gcc} "$@"\n')
    (slow_bin / "arm-none-eabi-gcc").chmod(0o755)
    env = {**os.environ, "PATH": f"{slow_bin}{os.pathsep}{os.environ['PATH']}"}
    # Background jobs (nohup, CI runners) may inherit SIGINT ignored; Ctrl-C at a terminal is not.
    process = subprocess.Popen([str(PQK_MCU), "build", str(model), "--board", "cortex-m4", "-o", str(work / "out")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert compiling.read_text() == "compiling\n"  # blocks until the first compile starts
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == f"error: interrupted by {signal_name}"
    assert os.listdir(work) == []
