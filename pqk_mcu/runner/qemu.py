"""Run firmware under QEMU: one inference per run, files over semihosting, counted instructions.

``run_elf(elf, board, input_bytes, timeout)`` starts ``qemu-system-arm`` for the board's machine
in a fresh temporary folder, hands the harness the input file name on the semihosting command
line and returns the bytes it wrote to the output file. ``run_usart_console`` runs firmware that
prints to the board's USART console instead, read from the QEMU serial port wired to it. Whatever goes wrong becomes a
``PqkError`` saying what happened: a hang (timeout), a fault (with the fault registers the
firmware printed), a missing or garbled marker line, or an exit code that disagrees with it.

``count_instructions`` runs the same ELF with the project's TCG plugin
(``firmware/tools/insn_count_plugin.c``, built here with the host gcc) and returns the number of
instructions between the ``pqk_bench_begin``/``pqk_bench_end`` markers and per op between the
``pqk_before_op``/``pqk_after_op`` hooks, with the same windows' instruction classes and estimated
Cortex-M4 cycles (the plugin's cycle model, README "Cycle estimate"). The counts are identical from
run to run.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pqk_mcu.atomic import atomic_file
from pqk_mcu.boards import Board, load_board
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.resources import cache_dir, resource_dir
from pqk_mcu.runner.elf import check_firmware
from pqk_mcu.runner.trace import parse_trace

PLUGIN_SOURCE = resource_dir("firmware") / "tools" / "insn_count_plugin.c"

QEMU = "qemu-system-arm"
QEMU_INSTALL_HINT = "install it with: sudo apt-get install qemu-system-arm"
NM = "arm-none-eabi-nm"
ADDR2LINE = "arm-none-eabi-addr2line"
HOST_GCC = "gcc"

# Exit codes of firmware/boards/pqk_platform.h.
EXIT_OK, EXIT_FAIL, EXIT_FAULT = 0, 1, 3

_MARKER = re.compile(r"^PQK_RESULT (ok|fail)(?: (.*))?$", re.MULTILINE)
_USART_MARKER = re.compile(r"^PQK_RESULT ok stack=(\d+)$")
_STACK = re.compile(r"^stack=(\d+)$")
_WATCHED_SYMBOLS = {
    "begin": "pqk_bench_begin", "end": "pqk_bench_end",
    "before": "pqk_before_op", "after": "pqk_after_op",
}


@dataclass(frozen=True)
class FirmwareRun:
    output: bytes
    stack_bytes: int                      # peak stack use measured by stack painting
    trace: list[tuple[int, bytes]] | None  # (op index, op output bytes) when traced
    console: str


def require_qemu() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise ToolMissingError(f"{QEMU} not found; {QEMU_INSTALL_HINT}")
    return path


def run_elf(elf: str | Path, board: Board | str, input_bytes: bytes, timeout: float = 60.0) -> bytes:
    """Run the harness ELF on one input under QEMU; returns the output tensor bytes."""
    return run_firmware(elf, board, input_bytes, timeout).output


def run_firmware(
    elf: str | Path, board: Board | str, input_bytes: bytes, timeout: float = 60.0, trace: bool = False,
) -> FirmwareRun:
    """Run the harness ELF once; with ``trace`` also collect every op's output bytes."""
    board = _emulated(board)
    with tempfile.TemporaryDirectory(prefix="pqk-qemu-") as workdir:
        work = Path(workdir)
        (work / "input.bin").write_bytes(input_bytes)
        files = ["input.bin", "output.bin"] + (["trace.bin"] if trace else [])
        console = _run_qemu(elf, board, files, work, timeout, plugin_args=None)
        stack_bytes = _stack_from_marker(console, board)
        output_path = work / "output.bin"
        if not output_path.is_file():
            raise PqkError(f"firmware on {board.name} reported success but wrote no output file")
        records = _read_trace(work / "trace.bin", board) if trace else None
        return FirmwareRun(output=output_path.read_bytes(), stack_bytes=stack_bytes, trace=records, console=console)


def run_usart_console(elf: str | Path, board: Board | str, input_bytes: bytes, timeout: float, program: str,
                      what: str) -> tuple[str, int]:
    """Run firmware that prints to the board's USART console (``console.qemu_serial``) and writes the same
    lines over semihosting to ``output.txt``; its argv is ``program input.bin output.txt``.

    The USART must carry exactly those lines and then the marker; returns the text and the peak stack.
    ``what`` names the firmware in errors.
    """
    board = _emulated(board)
    index = board.console.qemu_serial
    if index is None:
        raise PqkError(f"board {board.name} has no USART console wired to a QEMU serial port (console.qemu_serial)")
    with tempfile.TemporaryDirectory(prefix="pqk-kws-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(input_bytes)
        serials = []
        for port in range(index + 1):
            serials += ["-serial", f"file:{work / 'usart.txt'}" if port == index else "null"]
        command = [
            require_qemu(), "-machine", board.qemu_machine, "-nographic", "-monitor", "none", *serials,
            "-semihosting-config", f"enable=on,target=native,arg={program},arg=input.bin,arg=output.txt",
            "-kernel", str(Path(elf).resolve()),
        ]
        try:
            result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=timeout,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PqkError(f"{what} hung: no result after {timeout:g} s on {board.name}") from None
        usart = (work / "usart.txt").read_text(errors="replace") if (work / "usart.txt").is_file() else ""
        usart_lines = usart.replace("\r\n", "\n").splitlines()
        marker = _USART_MARKER.match(usart_lines[-1]) if usart_lines else None
        if result.returncode != 0 or marker is None:
            detail = (usart_lines or result.stdout.strip().splitlines() or ["no output"])[-1]
            raise PqkError(f"{what} failed on {board.name} (exit {result.returncode}): {detail}")
        text = (work / "output.txt").read_text()
        if usart_lines[:-1] != text.splitlines():
            raise PqkError(f"{what}'s USART output on {board.name} differs from its semihosting output")
        return text, int(marker.group(1))


def count_instructions(
    elf: str | Path, board: Board | str, input_bytes: bytes, timeout: float = 300.0,
) -> dict:
    """Instructions of one inference and where they go.

    ``{"total": int, "per_op": [int, ...], "stack_bytes": int, "profile": dict, "per_op_profile": [dict, ...]}``:
    ``total`` counts from the entry of ``pqk_bench_begin`` to the entry of ``pqk_bench_end``;
    ``per_op[i]`` from the entry of ``pqk_before_op`` to the entry of ``pqk_after_op`` for op i
    (the hook bodies and their call set-up add a handful of instructions per op). ``profile`` and
    ``per_op_profile`` describe the same windows (see ``_profile``).
    """
    board = _emulated(board)
    plugin = build_plugin()
    addresses = symbol_addresses(elf, _WATCHED_SYMBOLS.values())
    with tempfile.TemporaryDirectory(prefix="pqk-count-") as workdir:
        work = Path(workdir)
        (work / "input.bin").write_bytes(input_bytes)
        counts_path = work / "counts.txt"
        plugin_args = [f"out={counts_path}"] + [
            f"{key}=0x{addresses[symbol]:x}" for key, symbol in _WATCHED_SYMBOLS.items()
        ]
        console = _run_qemu(elf, board, ["input.bin", "output.bin"], work, timeout,
                            plugin_args=(plugin, plugin_args))
        stack_bytes = _stack_from_marker(console, board)
        if not counts_path.is_file():
            raise PqkError(f"instruction-count plugin wrote no counts for {elf}")
        lines = [line.split() for line in counts_path.read_text().splitlines()]
    return _counts_from_events(lines, elf) | {"stack_bytes": stack_bytes}


def _counts_from_events(lines: list[list[str]], elf: str | Path) -> dict:
    """Windows between the marker events of the plugin's log (first line: "fields NAME...")."""
    if any(name == "error" for name, *_ in lines):
        raise PqkError("instruction-count plugin ran out of memory recording events")
    if not lines or lines[0][0] != "fields":
        raise PqkError(f"{elf}: the instruction-count plugin's log lacks its fields line")
    fields = lines[0][1:]
    marks: dict[str, list[dict[str, int]]] = {key: [] for key in _WATCHED_SYMBOLS}
    for name, *values in lines[1:]:
        if name in marks:
            marks[name].append(dict(zip(fields, map(int, values))))
    if len(marks["begin"]) != 1 or len(marks["end"]) != 1:
        raise PqkError(
            f"{elf}: expected one pqk_bench_begin and one pqk_bench_end hit, "
            f"got {len(marks['begin'])} and {len(marks['end'])}"
        )
    before, after = marks["before"], marks["after"]
    if len(before) != len(after) or any(b["instructions"] > a["instructions"] for b, a in zip(before, after)):
        raise PqkError(f"{elf}: pqk_before_op/pqk_after_op hits do not pair up ({len(before)} vs {len(after)})")
    begin, end = marks["begin"][0], marks["end"][0]
    return {
        "total": end["instructions"] - begin["instructions"],
        "per_op": [a["instructions"] - b["instructions"] for b, a in zip(before, after)],
        "profile": _profile(begin, end),
        "per_op_profile": [_profile(b, a) for b, a in zip(before, after)],
    }


def _profile(start: dict[str, int], stop: dict[str, int]) -> dict:
    """``estimated_m4_cycles``, ``taken_branches`` and ``instruction_classes`` (class -> count) of a window."""
    delta = {name: stop[name] - start[name] for name in start}
    return {
        "estimated_m4_cycles": delta.pop("cycles"),
        "taken_branches": delta.pop("taken_branches"),
        "instruction_classes": {name: count for name, count in delta.items() if name != "instructions"},
    }


def symbol_addresses(elf: str | Path, names) -> dict[str, int]:
    """Code addresses of the named functions in the ELF (Thumb bit cleared)."""
    if shutil.which(NM) is None:
        raise ToolMissingError(f"{NM} not found; install it with: sudo apt-get install binutils-arm-none-eabi")
    result = subprocess.run([NM, str(elf)], capture_output=True, text=True)
    if result.returncode != 0:
        raise PqkError(f"cannot read symbols of {elf}: {result.stderr.strip()}")
    table = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "TtWw":  # weak: the default op hooks of markers.c
            table[fields[2]] = int(fields[0], 16) & ~1
    missing = [n for n in names if n not in table]
    if missing:
        raise PqkError(f"{elf} lacks the marker functions {', '.join(missing)} (not built by pqk-mcu?)")
    return {n: table[n] for n in names}


def build_plugin() -> Path:
    """Compile the counting plugin once per source version into the user cache; returns the .so path."""
    gcc = shutil.which(HOST_GCC)
    if gcc is None:
        raise ToolMissingError(f"{HOST_GCC} not found; install it with: sudo apt-get install gcc")
    source = PLUGIN_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    plugin = cache_dir() / f"insn_count_plugin-{digest}.so"
    if plugin.is_file():
        return plugin
    with atomic_file(plugin) as tmp:
        result = subprocess.run(
            [gcc, "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror",
             "-o", str(tmp), str(PLUGIN_SOURCE)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise PqkError(f"building the instruction-count plugin failed:\n{result.stderr.strip()}")
    return plugin


def _emulated(board: Board | str) -> Board:
    board = board if isinstance(board, Board) else load_board(board)
    if board.qemu_machine is None:
        raise PqkError(f"board {board.name} is not emulated (no QEMU machine); build it and flash the hardware")
    return board


def _run_qemu(elf: str | Path, board: Board, files: list[str], work: Path, timeout: float,
              plugin_args: tuple[Path, list[str]] | None) -> str:
    """Run QEMU to completion; returns the console text after checking marker line and exit code."""
    qemu = require_qemu()
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise PqkError(f"firmware not found: {elf}")
    check_firmware(elf, board)
    semihosting = ",".join(["enable=on", "target=native", "arg=harness", *(f"arg={f}" for f in files)])
    command = [
        qemu, "-machine", board.qemu_machine, "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", semihosting, "-kernel", str(elf),
    ]
    if plugin_args is not None:
        plugin, args = plugin_args
        command += ["-plugin", ",".join([f"file={plugin}", *(f"arg={a}" for a in args)])]
    try:
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, errors="replace",
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PqkError(f"firmware hung: no result after {timeout:g} s on {board.name} ({elf.name})") from None
    console = result.stdout + result.stderr
    markers = _MARKER.findall(console)
    if not markers:
        tail = console.strip().splitlines()[-3:]
        raise PqkError(
            f"firmware on {board.name} exited with code {result.returncode} without a PQK_RESULT line"
            + (f"; last output: {' | '.join(tail)}" if tail else "")
        )
    if len(markers) > 1:
        raise PqkError(f"firmware on {board.name} printed {len(markers)} PQK_RESULT lines; expected one")
    verdict, detail = markers[0]
    if verdict == "fail":
        if detail.startswith("fault="):
            raise PqkError(f"firmware faulted on {board.name}: {detail}{_fault_location(elf, detail)}")
        raise PqkError(f"firmware failed on {board.name}: {detail}")
    if result.returncode != EXIT_OK:
        raise PqkError(f"firmware on {board.name} printed PQK_RESULT ok but exited with code {result.returncode}")
    return console


def _fault_location(elf: Path, detail: str) -> str:
    """" at function (file:line)" for the stacked PC of a fault line, when the ELF can tell."""
    pc = re.search(r"\bpc=(0x[0-9a-fA-F]+)", detail)
    addr2line = shutil.which(ADDR2LINE)
    if pc is None or addr2line is None:
        return ""
    result = subprocess.run([addr2line, "-f", "-s", "-e", str(elf), pc.group(1)], capture_output=True, text=True)
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2 or lines[0] == "??":
        return ""
    return f" at {lines[0]} ({lines[1]})"


def _stack_from_marker(console: str, board: Board) -> int:
    detail = _MARKER.search(console).group(2) or ""
    match = _STACK.match(detail.strip())
    if match is None:
        raise PqkError(f"firmware on {board.name}: garbled marker line 'PQK_RESULT ok {detail}'")
    peak = int(match.group(1))
    if peak >= board.stack_bytes:  # no painted word left: the stack ran into .bss, results are suspect
        raise PqkError(
            f"firmware on {board.name} overflowed its stack: peak use reached all {board.stack_bytes:,} B "
            f"(stack_bytes in {board.source.name})"
        )
    return peak


def _read_trace(path: Path, board: Board) -> list[tuple[int, bytes]]:
    if not path.is_file():
        raise PqkError(f"firmware on {board.name} wrote no trace file")
    return parse_trace(path.read_bytes(), f"firmware on {board.name}")
