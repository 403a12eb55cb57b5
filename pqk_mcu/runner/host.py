"""Host runs of the generated C: build with gcc under ASan/UBSan, run the harness, read traces.

``build_host`` compiles the generated model, the runtime kernels it uses and a host app
(firmware/apps/<app>/*.c) with strict warnings and sanitizers; ``run_host`` runs that harness on
concatenated inputs. ``build_host_program`` / ``run_host_program`` build any given sources into an
executable that reads an input file and writes a text file (the KWS app's host build).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from pqk_mcu.atomic import atomic_file
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.resources import cache_dir
from pqk_mcu.runner.arm import APPS_DIR, RUNTIME_DIR
from pqk_mcu.runner.trace import parse_trace

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



def build_host_program(sources: Sequence[Path], include_dirs: Sequence[Path], flags: Sequence[str],
                       executable: Path, what: str) -> None:
    """Compile and link ``sources`` (with libm) into ``executable``; ``what`` names the program in errors."""
    command = [_gcc(), *flags, *(f"-I{d}" for d in include_dirs), *map(str, sources), "-lm", "-o", str(executable)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise PqkError(f"host build of the {what} failed: " + " | ".join(result.stderr.strip().splitlines()[:12]))


def run_host_program(executable: Path, input_bytes: bytes, timeout: float, what: str) -> str:
    """Run ``executable input.bin output.txt`` under ASan; returns output.txt after the program printed
    ``PQK_RESULT ok stack=0``. ``what`` names the program in errors."""
    with tempfile.TemporaryDirectory(prefix="pqk-kws-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(input_bytes)
        try:
            result = subprocess.run([str(executable), str(work / "input.bin"), str(work / "output.txt")],
                                    capture_output=True, text=True, timeout=timeout,
                                    env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        except subprocess.TimeoutExpired:
            raise PqkError(f"the host {what} hung: no result after {timeout:g} s") from None
        markers = [line for line in result.stdout.splitlines() if line.startswith("PQK_RESULT")]
        if result.returncode != 0 or markers != ["PQK_RESULT ok stack=0"]:
            detail = markers or result.stderr.strip().splitlines()[:5] or ["no output"]
            raise PqkError(f"the host {what} failed (exit {result.returncode}): {' | '.join(detail)}")
        return (work / "output.txt").read_text()
