"""Atomic outputs: nothing half-written is ever left behind."""

from __future__ import annotations

import pytest

from pqk_mcu.atomic import atomic_dir, atomic_file, write_text_atomic


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
        with atomic_dir(target) as tmp:
            (tmp / "model.c").write_text("int x;")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_existing_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.c").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "model.c").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["model.c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
