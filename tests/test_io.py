"""Atomic writes: whole files and folders, usual permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clinrag.io import atomic_folder, atomic_write_text


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "out" / "file.txt", "é\n")
    finally:
        os.umask(mask)
    path = tmp_path / "out" / "file.txt"
    assert path.read_text(encoding="utf-8") == "é\n"
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]  # no temporary left behind


def test_atomic_folder_renames_into_place_with_the_usual_permissions(tmp_path):
    target = tmp_path / "parent" / "out"
    mask = os.umask(0o022)
    try:
        with atomic_folder(target) as staging:
            assert staging.parent == target.parent and staging.name.startswith(".out.")
            (staging / "a.txt").write_text("a", encoding="utf-8")
            assert not target.exists()  # nothing visible before the block ends
    finally:
        os.umask(mask)
    assert (target / "a.txt").read_text(encoding="utf-8") == "a"
    assert target.stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
    assert [p.name for p in target.parent.iterdir()] == ["out"]


def test_atomic_folder_without_replace_takes_an_empty_folder_only(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with atomic_folder(target) as staging:
        (staging / "new.txt").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    with pytest.raises(FileExistsError, match="not an empty folder"), atomic_folder(target) as staging:
        (staging / "other.txt").write_text("other", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["new.txt"]  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the staging folder is gone


@pytest.mark.parametrize("existing", ["folder", "file"])
def test_atomic_folder_replaces_a_folder_or_a_file(tmp_path, existing):
    target = tmp_path / "out"
    if existing == "folder":
        target.mkdir()
        (target / "old.txt").write_text("old", encoding="utf-8")
    else:
        target.write_text("old", encoding="utf-8")
    with atomic_folder(target, replace=True, prefix=".staging.") as staging:
        assert staging.name.startswith(".staging.")
        (staging / "new.txt").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the old one is removed


def test_atomic_folder_keeps_the_old_folder_when_the_block_or_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="boom"), atomic_folder(target, replace=True) as staging:
        (staging / "new.txt").write_text("new", encoding="utf-8")
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (target / "old.txt").is_file()

    rename = Path.rename

    def failing_rename(self, destination):
        if self.name.startswith(".out.") and Path(destination) == target:
            raise OSError("rename refused")
        return rename(self, destination)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="rename refused"), atomic_folder(target, replace=True) as staging:
        (staging / "new.txt").write_text("new", encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # put back, nothing left aside
    assert [p.name for p in target.iterdir()] == ["old.txt"]


def test_a_replacing_folder_replaces(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    with atomic_folder(target, replace=True) as staging:
        (staging / "new.txt").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
