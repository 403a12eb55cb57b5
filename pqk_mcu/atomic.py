"""Safe outputs: nothing half-written is left behind, and nothing of the user's is replaced or deleted.

Files (``atomic_file``): a regular file or a new path is written to a temporary sibling and renamed
into place only on success; a device, FIFO or ``/dev/stdout`` is written into, never replaced; a
symlink's target is replaced, never the link; ``-`` (or a path to the file standard output already
writes, such as ``/dev/stdout``) is standard output, written through it once complete.

Folders (``atomic_dir``): written to a temporary sibling and renamed into place on success. An
existing folder is replaced only when it is empty or holds nothing but what an earlier run of the
same command wrote (listed in its marker file ``MARKER``); anything else needs ``force``.

New files and folders get the modes the umask allows, as any other program's outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from pqk_mcu.errors import PqkError

STDOUT = "-"
MARKER = ".pqk-mcu-output"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_stdout(path: str | os.PathLike) -> bool:
    """Whether writing ``path`` means writing standard output (``-``, ``/dev/stdout``, the file it is redirected to)."""
    if str(path) == STDOUT:
        return True
    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except OSError:
        return False


def _staging_error(path: str | os.PathLike, error: OSError) -> PqkError:
    """The failure to write next to ``path``, naming it rather than the temporary sibling."""
    return PqkError(f"cannot write {path}: {error.strerror or error}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a path to write ``path``'s new content to; it becomes ``path`` when the block succeeds."""
    if is_stdout(path):  # reopening it would truncate what the command printed before
        with tempfile.TemporaryDirectory(prefix="pqk-stdout-") as folder:
            staged = Path(folder) / "output"
            yield staged
            sys.stdout.flush()
            sys.stdout.buffer.write(staged.read_bytes())
            sys.stdout.buffer.flush()
        return
    try:
        existing = os.stat(path)  # through symlinks: what a write would reach
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise PqkError(f"{path} is a folder; give a file name")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        try:
            yield Path(path)  # device, FIFO, socket, pipe: written into
        except OSError as error:
            raise _staging_error(path, error) from None
        return
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise _staging_error(path, error) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask())
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def _check_replaceable(path: str | os.PathLike, target: Path, command: str) -> None:
    """Refuse to replace a folder holding anything an earlier ``command`` run did not write there."""
    if not target.is_dir():
        raise PqkError(f"{path} exists and is not a folder")
    entries = {str(p.relative_to(target)) for p in target.rglob("*")}
    if not entries:
        return
    try:
        marker = json.loads((target / MARKER).read_text())
        written = set(marker["entries"]) if marker["command"] == command else set()
    except (OSError, ValueError, KeyError, TypeError):
        written = set()
    if not entries - {MARKER} <= written:
        raise PqkError(f"{path} holds files `pqk-mcu {command}` did not write; "
                       "choose another folder, or pass --force to replace it")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, command: str, force: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``path``; it replaces ``path`` when the block succeeds.

    ``command`` (``compile``, ``build``...) is recorded in the marker file with what the block
    wrote; an existing ``path`` is checked first (see the module docstring; ``force`` skips the
    check) and stays untouched until success. Nothing is left behind on failure.
    """
    target = Path(os.path.realpath(path))  # a symlinked folder: its target is replaced, not the link
    if target == Path.cwd() or target in Path.cwd().parents:
        raise PqkError(f"{path} is the current folder or holds it; give a folder to create")
    if target.exists() and not force:
        _check_replaceable(path, target, command)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as error:
        raise _staging_error(path, error) from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        entries = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
        (tmp / MARKER).write_text(json.dumps({"command": command, "entries": entries}, indent=1) + "\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.rmdir(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
