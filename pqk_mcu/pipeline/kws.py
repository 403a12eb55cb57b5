"""Keyword spotting on a microcontroller: build the KWS app for a model, stream a WAV, flash boards.

``build_kws`` generates the model's C (pqk_mcu.codegen), renders the app's configuration
(templates/mfcc_kws_config.*.j2: labels, stride, threshold, input quantization, front-end variant)
into the same folder and builds firmware/apps/kws for a board, or for the host with gcc.
``run_kws`` streams a WAV through it (QEMU semihosting, or the host executable) and checks the lines
it prints against the Python streaming reference (pqk_mcu.audio.streaming), which runs the same
integer model through pqk_mcu.reference. ``classify_kws`` runs every clip of a Speech Commands folder
through it, one label per clip. ``bench_kws`` counts its instructions under QEMU.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pqk_mcu import __version__
from pqk_mcu.atomic import atomic_dir
from pqk_mcu.audio import mfcc_fixed, streaming
from pqk_mcu.audio.mfcc import FEATURE_SHAPE
from pqk_mcu.audio.speech_commands_layout import CLIP_SAMPLES, SAMPLE_RATE, TESTING_LIST, UNKNOWN_LABEL
from pqk_mcu.audio.wav import read_wav_16k
from pqk_mcu.boards import load_board
from pqk_mcu.errors import PqkError, UnsupportedModelError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.render import render_template
from pqk_mcu.resources import resource_dir
from pqk_mcu.runner.arm import SizeReport, build_firmware
from pqk_mcu.runner.host import SANITIZE_FLAGS, build_host_program, run_host_program
from pqk_mcu.runner.qemu import count_instructions, run_firmware, run_usart_console

FIRMWARE = resource_dir("firmware")
KWS_APP = FIRMWARE / "apps" / "kws"
# The MFCC front-end (firmware/frontend) the app links, per variant (``frontend_for``).
FRONTEND_SOURCES = {
    name: tuple(FIRMWARE / "frontend" / f"pqk_{part}.c" for part in (*parts, "mfcc_tables"))
    for name, parts in {
        "f32": ("log_f32", "mfcc_f32", "mfcc_f32_features", "rfft_magnitude_f32"),
        "q15": ("log2_q16", "mfcc_q15", "mfcc_q15_features", "rfft_magnitude_q15"),
    }.items()
}
CONSOLE_SOURCE = FIRMWARE / "console" / "pqk_console_usart.c"
# USARTs CONSOLE_SOURCE can drive (its #error says the same).
CONSOLE_USARTS = {0x40004400: "STM32F4 USART2 (0x40004400)"}
HOST_BOARD = "host"
LABELS_KEY = "pqk_labels"
_LABEL = re.compile(r"^[A-Za-z0-9_+\-.']{1,32}$")
_RESULT_LINE = re.compile(r"^kws: t=\d+\.\d{3}s (word|top)=\S+ score=\d\.\d\d$")
_TOP_LINE = re.compile(r"^kws: t=\S+ top=(?P<label>\S+) score=(?P<score>\S+)$")
# Speech Commands layout (pqk_mcu.train.data.speech_commands, which needs the [train] extra).
HOST_CFLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-DPQK_HOOKS")
# A run counts as hung after this long: emulation time grows with the stream, so the limit does too.
TIMEOUT_BASE_S = 60.0
TIMEOUT_PER_AUDIO_SECOND_S = 10.0


def kws_timeout(audio_seconds: float) -> float:
    """Seconds a KWS run on ``audio_seconds`` of audio may take before it counts as hung."""
    return TIMEOUT_BASE_S + TIMEOUT_PER_AUDIO_SECOND_S * audio_seconds


@dataclass(frozen=True)
class KwsModel:
    """The int8 core of a KWS model (float edges split off) and what the app needs to know about it."""

    graph: Graph
    labels: tuple[str, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int


def load_kws_model(model: str | Path | Graph, labels: Sequence[str] | str | None = None) -> KwsModel:
    """Load a .tflite (or Graph) with a 49x10 MFCC int8 input; labels from the option or the metadata."""
    from pqk_mcu.frontends.tflite import load_tflite
    from pqk_mcu.codegen import core_graph

    graph = model if isinstance(model, Graph) else load_tflite(Path(model))
    core = core_graph(graph)
    if len(core.inputs) != 1 or len(core.outputs) != 1:
        raise UnsupportedModelError(
            f"a KWS model has one input and one output, this one {len(core.inputs)} and {len(core.outputs)}"
        )
    source, target = core.tensor(core.inputs[0]), core.tensor(core.outputs[0])
    if source.size != FEATURE_SHAPE[0] * FEATURE_SHAPE[1] or source.dtype != "int8" or source.quant is None:
        raise UnsupportedModelError(
            f"the KWS app feeds 49x10 int8 MFCC features; the model's input '{source.name}' is "
            f"{source.dtype} {list(source.shape)}"
        )
    if target.dtype != "int8" or target.quant is None:
        raise UnsupportedModelError(f"the model's output '{target.name}' is {target.dtype}, expected int8")
    names = resolve_labels(graph, labels, target.size)
    return KwsModel(
        graph=core,
        labels=names,
        input_scale=source.quant.scale[0],
        input_zero_point=source.quant.zero_point[0],
        output_scale=target.quant.scale[0],
        output_zero_point=target.quant.zero_point[0],
    )


def resolve_labels(graph: Graph, labels: Sequence[str] | str | None, num_classes: int) -> tuple[str, ...]:
    """Class names from ``--labels a,b,c`` or the model's ``pqk_labels`` metadata (comma or newline separated)."""
    if labels is None:
        text = graph.metadata_map.get(LABELS_KEY)
        if text is None:
            raise PqkError(f"the model has no '{LABELS_KEY}' metadata; give the class names with --labels a,b,c")
        labels = text
    if isinstance(labels, str):
        labels = labels.split("\n") if "\n" in labels else labels.split(",")
    names = tuple(label.strip() for label in labels if label.strip())
    if len(names) != num_classes:
        raise PqkError(f"{len(names)} labels given for a model with {num_classes} outputs")
    for name in names:
        if not _LABEL.match(name):
            raise PqkError(f"label {name!r}: use 1-32 letters, digits and _+-.' only")
    return names


def frontend_for(board_name: str) -> streaming.Frontend:
    """float32 front-end where the core has an FPU (and on the host), integer-only elsewhere."""
    if board_name == HOST_BOARD:
        return streaming.FRONTENDS["f32"]
    return streaming.FRONTENDS["f32" if load_board(board_name).has_fpu else "q15"]


def render_config(model: KwsModel, config: streaming.DetectionConfig, frontend: streaming.Frontend,
                  bench: int = 0, trace: bool = False) -> dict[str, str]:
    """kws_config.h and kws_config.c for the app (byte-identical for the same inputs)."""
    multiplier, shift = mfcc_fixed.input_multiplier(model.input_scale)
    context = {
        "version": __version__,
        "model_hash": model.graph.fingerprint()[:16],
        "fixed_point": int(frontend.name == "q15"),
        "stride_ms": config.stride_ms,
        "average_windows": config.average_windows,
        "threshold_q15": config.threshold_q15,
        "suppression_ms": config.suppression_ms,
        "labels": list(model.labels),
        "input_scale": f"{float(np.float32(model.input_scale)):.9g}f",
        "input_zero_point": model.input_zero_point,
        "input_multiplier": multiplier,
        "input_shift": shift,
        "output_is_probability": int(streaming.output_is_probability(model.output_scale, model.output_zero_point)),
        "exp_q15": [int(v) for v in streaming.exp_table_q15(model.output_scale)],
        "bench": bench,
        "trace": int(trace),
    }
    return {
        "kws_config.h": render_template("mfcc_kws_config.h.j2", context),
        "kws_config.c": render_template("mfcc_kws_config.c.j2", context),
    }


@dataclass(frozen=True)
class KwsBuild:
    elf: Path  # the firmware ELF, or the host executable
    board: str
    model: KwsModel
    config: streaming.DetectionConfig
    frontend: streaming.Frontend
    size: SizeReport | None  # None for the host
    trace: bool = False  # the app prints each window's features and outputs


def build_kws(model_path: str | Path | Graph, board: str, out_dir: str | Path,
              labels: Sequence[str] | str | None = None,
              config: streaming.DetectionConfig = streaming.DetectionConfig(), bench: int = 0,
              trace: bool = False, force: bool = False) -> KwsBuild:
    """Build the KWS app for ``board`` (a board name or ``host``) into ``out_dir`` (replaced on success,
    when an earlier KWS build wrote it or with ``force``: ``pqk_mcu.atomic.atomic_dir``).

    ``bench`` places the instruction-count markers (1: each inference, 2: the first MFCC frame); ``trace``
    makes the app print every window's int8 features and outputs, which ``run_kws`` then checks.
    """
    from pqk_mcu.codegen import generate_c

    model = load_kws_model(model_path, labels)
    frontend = frontend_for(board)
    board_spec = None if board == HOST_BOARD else load_board(board)
    target = Path(out_dir)
    with atomic_dir(target, "kws run", force) as tmp:
        # The board widens the kernel choice (DSP variants); the host build keeps portable C.
        generated = generate_c(model.graph, tmp / "gen", board=board_spec)
        if board_spec is None:
            for name, text in render_config(model, config, frontend, bench, trace=trace).items():
                (tmp / "gen" / name).write_text(text)
            _build_host(tmp / "gen", [*generated.runtime_sources, *FRONTEND_SOURCES[frontend.name]], tmp / "kws")
            elf, size = target / "kws", None
        else:
            usart = board_spec.console.base if board_spec.console.kind == "usart" else 0
            if usart and usart not in CONSOLE_USARTS:
                raise PqkError(f"board {board_spec.name}: the KWS app's USART console drives "
                               f"{', '.join(CONSOLE_USARTS.values())}, not the console at 0x{usart:08x}")
            for name, text in render_config(model, config, frontend, bench, trace=trace).items():
                (tmp / "gen" / name).write_text(text)
            build = build_firmware(tmp / "gen", board_spec, app="kws", out_dir=tmp,
                                   runtime_sources=generated.runtime_sources,
                                   extra_sources=[*FRONTEND_SOURCES[frontend.name], CONSOLE_SOURCE],
                                   defines=[f"PQK_CONSOLE_USART_BASE=0x{usart:08x}u"] if usart else [])
            elf, size = target / build.elf.name, build.size
    return KwsBuild(elf=elf, board=board, model=model, config=config, frontend=frontend, size=size, trace=trace)


def _build_host(gen_dir: Path, library_sources: Sequence[Path], executable: Path) -> None:
    sources = [
        *sorted(gen_dir.glob("*.c")), *library_sources,
        *sorted(KWS_APP.glob("kws_*.c")), KWS_APP / "host" / "main.c",
    ]
    includes = [gen_dir, FIRMWARE / "runtime", FIRMWARE / "boards", KWS_APP]
    # The host build of generated C always runs under ASan/UBSan.
    build_host_program(sources, includes, [*HOST_CFLAGS, *SANITIZE_FLAGS], executable, "KWS app")


@dataclass(frozen=True)
class KwsSession:
    """``pqk-mcu kws run`` before streaming: the built app, the audio and the time it may take."""

    build: KwsBuild
    audio: np.ndarray  # int16 at 16 kHz
    timeout: float

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def prepare_kws_session(model: str | Path, board: str, wav: str | Path, labels: str | None, stride_ms: int,
                        average: int, threshold: float, suppression_ms: int, out_dir: str | Path,
                        timeout: float | None, force: bool) -> KwsSession:
    """Check the detection settings, read the WAV and build the app; ``timeout`` defaults to ``kws_timeout``."""
    config = streaming.DetectionConfig(stride_ms=stride_ms, average_windows=average, threshold=threshold,
                                       suppression_ms=suppression_ms)
    audio = read_wav_16k(wav)
    build = build_kws(model, board, out_dir, labels, config, force=force)
    return KwsSession(build=build, audio=audio, timeout=timeout or kws_timeout(len(audio) / SAMPLE_RATE))


@dataclass(frozen=True)
class KwsRun:
    lines: list[str]  # what the app printed, one result line each
    reference: list[str]  # what the Python streaming reference prints
    stack_bytes: int
    seconds: float  # length of the stream

    @property
    def agrees(self) -> bool:
        return self.lines == self.reference


def stream_bytes(audio: np.ndarray) -> bytes:
    """The file the app reads: int16 little endian, padded to 1 s and whole 10 ms blocks."""
    return streaming.prepare_stream(audio).astype("<i2").tobytes()


def reference_windows(model: KwsModel, audio: np.ndarray, config: streaming.DetectionConfig,
                      frontend: streaming.Frontend, progress: bool = False) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(end sample, int8 features, int8 model output) of every window: Python twins + reference interpreter."""
    from tqdm import tqdm

    from pqk_mcu.reference import run_reference

    windows = streaming.stream_features(audio, config, frontend, model.input_scale, model.input_zero_point)
    shape = model.graph.tensor(model.graph.inputs[0]).shape
    return [
        (end, features, run_reference(model.graph, [features.reshape(shape)])["outputs"][0].reshape(-1))
        for end, features in tqdm(windows, desc="Python reference", unit="window", leave=False,
                                  disable=None if progress else True)
    ]


def _result_lines(model: KwsModel, config: streaming.DetectionConfig,
                  windows: list[tuple[int, np.ndarray, np.ndarray]]) -> list[str]:
    return streaming.detections([output for _, _, output in windows], [end for end, _, _ in windows],
                                model.labels, config, model.output_scale, model.output_zero_point)


def reference_lines(model: KwsModel, audio: np.ndarray, config: streaming.DetectionConfig,
                    frontend: streaming.Frontend) -> list[str]:
    """The app's result lines, computed by the Python twins and the reference interpreter."""
    return _result_lines(model, config, reference_windows(model, audio, config, frontend))


def run_kws(build: KwsBuild, audio: np.ndarray | str | Path, timeout: float | None = None,
            progress: bool = False) -> KwsRun:
    """Stream audio (int16 at 16 kHz, or a WAV path) through the built app and through the reference.

    ``timeout`` defaults to ``kws_timeout`` of the stream's length; ``progress`` shows a bar over the
    reference's windows on a terminal."""
    if not isinstance(audio, np.ndarray):
        audio = read_wav_16k(audio)
    data = stream_bytes(audio)
    timeout = timeout or kws_timeout(len(data) / 2 / SAMPLE_RATE)
    if build.board == HOST_BOARD:
        text, stack = run_host_program(build.elf, data, timeout, "KWS app"), 0
    elif load_board(build.board).console.qemu_serial is not None:
        text, stack = run_usart_console(build.elf, build.board, data, timeout, program="kws", what="the KWS app")
    else:
        result = run_firmware(build.elf, build.board, data, timeout)
        text, stack = result.output.decode("ascii", errors="replace"), result.stack_bytes
    lines = text.splitlines()
    traces = [line for line in lines if line.startswith("trace ")]
    lines = [line for line in lines if not line.startswith("trace ")]
    bad = [line for line in lines if not _RESULT_LINE.match(line)]
    if bad:
        raise PqkError(f"the KWS app printed an unexpected line: {bad[0]!r}")
    reference = reference_windows(build.model, audio, build.config, build.frontend, progress)
    if build.trace:
        _check_traces(traces, reference)
    return KwsRun(lines=lines, reference=_result_lines(build.model, build.config, reference),
                  stack_bytes=stack, seconds=len(data) / 2 / SAMPLE_RATE)


def _check_traces(traces: list[str], reference: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    """Every window's int8 features and outputs from the app must equal the twins' and the reference's."""
    if len(traces) != len(reference):
        raise PqkError(f"the KWS app traced {len(traces)} windows, the reference has {len(reference)}")
    for index, (trace, (end, features, output)) in enumerate(zip(traces, reference)):
        _, feature_hex, output_hex = trace.split(" ")
        if bytes.fromhex(feature_hex) != features.astype(np.int8).tobytes():
            raise PqkError(f"window {index} (ending {end / SAMPLE_RATE:.3f} s): the app's MFCC features differ "
                           "from the Python twin's")
        if bytes.fromhex(output_hex) != output.astype(np.int8).tobytes():
            raise PqkError(f"window {index} (ending {end / SAMPLE_RATE:.3f} s): the model outputs differ "
                           "from the reference interpreter's")


@dataclass(frozen=True)
class ClipLabel:
    clip: str  # "<word>/<file>.wav" under the data folder
    truth: str  # the model's label for the word (``_unknown_`` for words it does not know)
    predicted: str
    score: float


@dataclass(frozen=True)
class KwsClassification:
    """``pqk-mcu kws classify``: the app's label of every clip and what they add up to."""

    labels: tuple[str, ...]
    clips: list[ClipLabel]
    skipped: int  # clips of words the model has no label for, and no _unknown_
    out_dir: Path

    @property
    def accuracy(self) -> float:
        return sum(c.truth == c.predicted for c in self.clips) / max(len(self.clips), 1)

    @property
    def confusion(self) -> np.ndarray:
        """Clip counts, rows the true label, columns the app's, in the model's label order."""
        index = {label: i for i, label in enumerate(self.labels)}
        matrix = np.zeros((len(self.labels), len(self.labels)), np.int64)
        for clip in self.clips:
            matrix[index[clip.truth], index[clip.predicted]] += 1
        return matrix

    def table(self) -> str:
        """The confusion matrix as text: one row per true label, its count per app label."""
        width = max(6, *map(len, self.labels))
        corner = "true\\app"
        lines = [f"{corner:>{width}} " + " ".join(f"{label:>{width}}" for label in self.labels)]
        for label, row in zip(self.labels, self.confusion):
            lines.append(f"{label:>{width}} " + " ".join(f"{int(count):>{width}}" for count in row))
        return "\n".join(lines)


def folder_clips(data_dir: str | Path) -> list[str]:
    """The clips of a Speech Commands folder, as "<word>/<clip>.wav" paths under it.

    Clips are the WAVs of the word folders (those starting with ``_``, such as ``_background_noise_``, are
    not words), only those named in ``testing_list.txt`` when the folder has one.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise PqkError(f"{root}: no such data folder")
    clips = sorted(path.relative_to(root).as_posix() for path in root.glob("*/*.wav")
                   if not path.parent.name.startswith("_"))
    if (root / TESTING_LIST).is_file():
        listed = set((root / TESTING_LIST).read_text().split())
        clips = [clip for clip in clips if clip in listed]
    if not clips:
        raise PqkError(f"{root}: no clips in Speech Commands layout (<word>/<clip>.wav)")
    return clips


def clip_truth(clip: str, labels: Sequence[str]) -> str | None:
    """The model's label for a clip's word: the word, else ``_unknown_``; None when the model has neither."""
    word = clip.split("/")[0]
    return word if word in labels else UNKNOWN_LABEL if UNKNOWN_LABEL in labels else None


def classify_kws(model: str | Path, board: str, data_dir: str | Path, out_dir: str | Path,
                 labels: str | None = None, force: bool = False, progress: bool = False) -> KwsClassification:
    """Build the KWS app for ``board`` (``host``: gcc) with the default detector and label every clip of a
    Speech Commands folder with it, into ``out_dir`` (replaced on success: ``pqk_mcu.atomic.atomic_dir``).

    A clip's label is the app's one ``top=`` line: the class with the largest posterior averaged over all
    the clip's windows (a clip of at most 1 s is one window: the argmax of the model's scores on it, as
    TFLM's micro_speech test scores its clips). Every clip's line must equal the Python reference's.
    ``out_dir`` gets the app (``app/``), ``classification.json`` and ``confusion.png`` (with matplotlib).
    """
    from tqdm import tqdm

    config = streaming.DetectionConfig()
    clips = folder_clips(data_dir)
    names = load_kws_model(model, labels).labels
    known = [(clip, truth) for clip in clips if (truth := clip_truth(clip, names)) is not None]
    if not known:
        raise PqkError(f"{data_dir}: none of its words is a label of the model ({', '.join(names)})")
    target = Path(out_dir)
    with atomic_dir(target, "kws classify", force) as tmp:
        build = build_kws(model, board, tmp / "app", labels, config)
        results = []
        for clip, truth in tqdm(known, desc="clips", unit="clip", disable=None if progress else True):
            audio = read_wav_16k(Path(data_dir) / clip)
            windows = len(streaming.window_starts(streaming.prepare_stream(audio).size, config.stride_samples))
            if windows > config.average_windows:
                raise PqkError(f"{clip}: {len(audio) / SAMPLE_RATE:.2f} s is longer than one clip of the app "
                               f"({config.average_windows} windows at {config.stride_ms} ms stride)")
            run = run_kws(build, audio)
            if not run.agrees:
                raise PqkError(f"{clip}: the app printed {run.lines}, the Python streaming reference {run.reference}")
            match = _TOP_LINE.match(run.lines[0])
            results.append(ClipLabel(clip, truth, match["label"], float(match["score"])))
        result = KwsClassification(build.model.labels, results, len(clips) - len(known), target)
        summary = {
            "model": str(model), "board": board, "data": str(data_dir), "labels": list(result.labels),
            "clips": len(results), "skipped": result.skipped, "accuracy": result.accuracy,
            "confusion": result.confusion.tolist(),
            "predictions": [{"clip": c.clip, "truth": c.truth, "predicted": c.predicted, "score": c.score}
                            for c in results],
        }
        (tmp / "classification.json").write_text(json.dumps(summary, indent=1) + "\n")
        _plot_confusion(result, tmp / "confusion.png")
    return result


def _plot_confusion(result: KwsClassification, path: Path) -> None:
    """The confusion matrix as a PNG: counts in cells, rows true labels; skipped without matplotlib."""
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = result.confusion
    size = 2.0 + 0.45 * len(result.labels)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            axes.text(column, row, str(count), ha="center", va="center",
                      color="white" if count > matrix.max() / 2 else "black", fontsize=8)
    ticks = range(len(result.labels))
    axes.set_xticks(ticks, result.labels, rotation=90)
    axes.set_yticks(ticks, result.labels)
    axes.set(xlabel="label of the app", ylabel="true label",
             title=f"{len(result.clips)} clips, accuracy {100 * result.accuracy:.1f}%")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=120)
    plt.close(figure)


def bench_kws(model_path: str | Path | Graph, board: str, out_dir: str | Path,
              labels: Sequence[str] | str | None = None, force: bool = False) -> dict:
    """Instructions per inference and per MFCC frame (QEMU instruction counts on a 1 s window), sizes."""
    counts = {}
    # Noise, not silence: the engine skips the FFT of all-zero frames.
    window = stream_bytes(np.random.default_rng(0).normal(0, 1000, CLIP_SAMPLES).astype(np.int16))
    size = None
    for bench, key in ((1, "inference"), (2, "mfcc_frame")):
        build = build_kws(model_path, board, Path(out_dir) / f"bench{bench}", labels, bench=bench, force=force)
        counts[key] = count_instructions(build.elf, board, window)["total"]
        size = build.size
    return {"board": board, "instructions": counts, "size": size.to_json() if size is not None else None}
