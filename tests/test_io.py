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


def test_a_model_folder_is_identified_by_its_content_wherever_it_lies(tmp_path):
    """One identity for a model folder (clinrag.io.folder_sha256): the stage cache's and the embedding cache's,
    the same for a copy elsewhere, another when a file changes."""
    import shutil

    from clinrag.experiment.cache import Cache
    from clinrag.io import folder_sha256, model_folder_sha256

    folder = tmp_path / "encoder"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}\n', encoding="utf-8")
    (folder / "1_Pooling" / "config.json").write_text(
        '{"pooling_mode_mean_tokens": true}\n', encoding="utf-8"
    )
    copy = Path(shutil.copytree(folder, tmp_path / "elsewhere" / "encoder"))
    identity = folder_sha256(folder)
    assert model_folder_sha256(folder) == model_folder_sha256(copy) == identity
    assert Cache(tmp_path / "runs").folder_hash(copy) == identity
    (copy / "config.json").write_text('{"hidden_size": 16}\n', encoding="utf-8")
    assert model_folder_sha256(copy) != identity and Cache(tmp_path / "runs").folder_hash(copy) != identity


def test_embeddings_are_cached_by_the_encoders_content(tiny_encoder_dir, tmp_path):
    """A copy of an encoder folder reuses the embeddings the original computed."""
    import shutil

    import numpy as np

    from clinrag.io import cache_home
    from clinrag.retrieval.encoders import encode_texts, load_sentence_encoder

    texts = ["NIHSS à l'arrivée : 12.", "Pas de fibrillation atriale."]
    embeddings = cache_home() / "embeddings"
    before = set(embeddings.glob("*.npy")) if embeddings.is_dir() else set()
    first = encode_texts(load_sentence_encoder(tiny_encoder_dir), texts)
    made = set(embeddings.glob("*.npy")) - before
    assert len(made) == 1
    copy = shutil.copytree(tiny_encoder_dir, tmp_path / "copy")
    again = encode_texts(load_sentence_encoder(copy), texts)
    assert set(embeddings.glob("*.npy")) - before == made and np.array_equal(first, again)
