"""Host runs of the generated C: build with gcc under ASan/UBSan, run the harness, read traces.

``build_host`` compiles the generated model, the runtime kernels it uses and a host app
(firmware/apps/<app>/*.c) with strict warnings and sanitizers. ``HostModel`` generates, builds once
and runs batches of inputs in one process, converting float graph edges with the reference's own
QUANTIZE / DEQUANTIZE. ``host_backend`` is the ``host`` backend for ``pqk-mcu verify``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from pqk_mcu.atomic import atomic_file
from pqk_mcu.codegen import RUNTIME_DIR, GeneratedModel, generate_c
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.resources import cache_dir
from pqk_mcu.runner.core_io import CoreIO, parse_trace
from pqk_mcu.verify.backends import register_backend

APPS_DIR = RUNTIME_DIR.parent / "apps"
WARNING_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Werror")
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-DPQK_SEPARATE_SCRATCH")
EXECUTABLE = "pqk_host_harness"
RESULT_OK = "PQK_RESULT ok"
RUN_TIMEOUT_S = 600


def _gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ToolMissingError("gcc is not installed (needed to build the generated C on the host)")
    return gcc


def _runtime_sources(gen_dir: Path) -> list[Path]:
    manifest = gen_dir / "manifest.json"
    if manifest.exists():
        names = json.loads(manifest.read_text(encoding="utf-8"))["runtime_sources"]
        return [RUNTIME_DIR / name for name in names]
    return sorted(RUNTIME_DIR.glob("*.c"))


def build_host(gen_dir: str | Path, app: str = "host_harness", sanitize: bool = True,
               out_dir: str | Path | None = None, optimize: str = "-O1") -> Path:
    """Compile ``gen_dir`` (from ``generate_c``) with the host app; returns the executable."""
    gen_dir = Path(gen_dir)
    app_dir = APPS_DIR / app
    app_sources = sorted(app_dir.glob("*.c"))
    if not app_sources:
        raise PqkError(f"host app '{app}' has no C sources in {app_dir}")
    out = Path(out_dir) if out_dir is not None else gen_dir / "host"
    out.mkdir(parents=True, exist_ok=True)
    executable = out / EXECUTABLE
    # PQK_DEBUG: model.c also checks its pointer contract (host builds are verification builds).
    flags = [*WARNING_FLAGS, optimize, "-g", *(SANITIZE_FLAGS if sanitize else ()), "-DPQK_HOOKS", "-DPQK_DEBUG"]
    objects = [_runtime_object(source, flags) for source in _runtime_sources(gen_dir)]
    command = [
        _gcc(), *flags, "-I", str(gen_dir), "-I", str(RUNTIME_DIR),
        str(gen_dir / "model.c"), str(gen_dir / "model_weights.c"), *(str(path) for path in app_sources),
        *(str(path) for path in objects), "-o", str(executable),
    ]
    _check_gcc(subprocess.run(command, capture_output=True, text=True, check=False), f"host build of {gen_dir}")
    return executable


def _check_gcc(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["(no compiler output)"])[:20]
        raise PqkError(f"{what} failed (gcc exit {result.returncode}): " + " | ".join(first))


def _runtime_object(source: Path, flags: list[str]) -> Path:
    """The object file of one runtime kernel, from the cache when flags and sources are unchanged."""
    digest = hashlib.sha256("\0".join(flags).encode())
    for path in (source, *sorted(RUNTIME_DIR.glob("*.h"))):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = cache_dir("host-runtime") / f"{source.stem}-{digest.hexdigest()[:20]}.o"
    if not target.exists():
        with atomic_file(target) as tmp:
            command = [_gcc(), *flags, "-I", str(RUNTIME_DIR), "-c", str(source), "-o", str(tmp)]
            _check_gcc(subprocess.run(command, capture_output=True, text=True, check=False), f"compiling {source.name}")
    return target


def run_host(executable: str | Path, input_bytes: bytes, trace: bool = True, timeout: float = RUN_TIMEOUT_S) -> tuple[bytes, list[tuple[int, bytes]]]:
    """Run the harness on concatenated samples; returns the outputs and the (op index, bytes) trace."""
    with tempfile.TemporaryDirectory(prefix="pqk-host-run-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(input_bytes)
        command = [str(executable), str(work / "input.bin"), str(work / "output.bin")]
        if trace:
            command.append(str(work / "trace.bin"))
        environment = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, check=False)
        except subprocess.TimeoutExpired:
            raise PqkError(f"host run of {executable} timed out after {timeout:.0f} s") from None
        marker = [line for line in result.stdout.splitlines() if line.startswith("PQK_RESULT")]
        if result.returncode != 0 or marker != [RESULT_OK]:
            detail = (marker or result.stderr.strip().splitlines()[:12] or ["no output"])
            raise PqkError(f"host run failed (exit {result.returncode}): " + " | ".join(detail))
        outputs = (work / "output.bin").read_bytes()
        records = parse_trace((work / "trace.bin").read_bytes(), f"host run of {executable}") if trace else []
    return outputs, records


class HostModel:
    """A graph generated and built for the host once, then run on any number of inputs."""

    def __init__(self, graph: Graph, weight_format: str = "auto", work_dir: str | Path | None = None,
                 sanitize: bool = True) -> None:
        self.graph = graph
        if work_dir is None:
            work_dir = tempfile.mkdtemp(prefix="pqk-host-")
            atexit.register(shutil.rmtree, work_dir, True)
        self.work_dir = Path(work_dir)
        self.generated: GeneratedModel = generate_c(graph, self.work_dir / "gen", weight_format)
        self.executable = build_host(self.generated.out_dir, sanitize=sanitize, out_dir=self.work_dir / "build")
        self.io = CoreIO.of(graph, self.generated)

    def run(self, samples: Sequence[Sequence[np.ndarray]]) -> list[dict]:
        """Run each sample (one array per graph input); per sample {"outputs": [...], "tensors": {...}}."""
        core_inputs = [self.io.core_inputs(sample) for sample in samples]
        outputs, records = run_host(self.executable, b"".join(map(self.io.pack, core_inputs)))
        size = self.generated.output_size
        if len(outputs) != size * len(samples):
            raise PqkError(f"host run wrote {len(outputs)} output bytes for {len(samples)} sample(s)")
        ops = len(self.generated.layers)
        if len(records) != ops * len(samples):
            raise PqkError(f"host trace has {len(records)} records, expected {ops * len(samples)}")
        return [
            self.io.result(arrays, outputs[number * size : (number + 1) * size], records[number * ops : (number + 1) * ops])
            for number, arrays in enumerate(core_inputs)
        ]


_MODELS: dict[tuple[str, str], HostModel] = {}


def host_model(graph: Graph, weight_format: str = "auto") -> HostModel:
    """The built ``HostModel`` of ``graph`` (built once per process and weight format)."""
    key = (graph.fingerprint(), weight_format)
    if key not in _MODELS:
        _MODELS[key] = HostModel(graph, weight_format)
    return _MODELS[key]


def host_backend(graph: Graph, model_bytes: bytes | None, inputs: Sequence[np.ndarray]) -> dict:
    """``pqk-mcu verify --board host``: the generated C under ASan/UBSan on one sample."""
    return host_model(graph).run([inputs])[0]


register_backend("host", host_backend)
