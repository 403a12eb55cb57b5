"""Atomic outputs: nothing half-written is ever left behind."""

from __future__ import annotations

import pytest

from pqk_mcu.atomic import MARKER, atomic_dir, atomic_file, write_text_atomic
from pqk_mcu.errors import PqkError


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "model.tflite"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(target, "compile") as tmp:
            (tmp / "model.c").write_text("int x;")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_its_own_earlier_output(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target, "compile") as tmp:
        (tmp / "stale.c").write_text("old")
        (tmp / "obj").mkdir()
    with atomic_dir(target, "compile") as tmp:
        (tmp / "model.c").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "model.c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("make_foreign", [
    lambda out: (out / "important.txt").write_text("precious"),  # a folder of the user's
    lambda out: (out / "notes.txt").write_text("mine"),          # a file added to an earlier output
], ids=["users-folder", "file-added-to-output"])
def test_atomic_dir_keeps_a_folder_it_did_not_write(tmp_path, make_foreign):
    target = tmp_path / "out"
    with atomic_dir(target, "compile") as tmp:
        (tmp / "model.c").write_text("old")
    make_foreign(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(PqkError, match="did not write.*--force"):
        with atomic_dir(target, "compile") as tmp:
            (tmp / "model.c").write_text("new")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    with atomic_dir(target, "compile", force=True) as tmp:
        (tmp / "model.c").write_text("new")
    assert (target / "model.c").read_text() == "new"


def test_atomic_dir_does_not_take_another_commands_folder(tmp_path):
    with atomic_dir(tmp_path / "out", "build") as tmp:
        (tmp / "firmware.elf").write_text("elf")
    with pytest.raises(PqkError, match="`pqk-mcu compile` did not write"):
        with atomic_dir(tmp_path / "out", "compile"):
            pass


def test_atomic_file_writes_into_a_fifo_and_through_a_symlink(tmp_path):
    import os
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_text_atomic(fifo, "through the pipe")
    reader.join()
    assert received == ["through the pipe"] and fifo.is_fifo()

    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_text_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"


def test_outputs_respect_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "file.txt", "x")
        with atomic_dir(tmp_path / "folder", "compile"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "file.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755
