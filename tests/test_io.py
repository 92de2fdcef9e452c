"""Atomic writes: whole files, usual permissions."""

from __future__ import annotations

import os

from clinrag.io import atomic_write_text


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
