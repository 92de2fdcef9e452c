"""experiments/phi_records/build.py: the hand-written records' JSONL files are those of their raw files, and each
round goes to the split decided before any measurement (held-out sets never mixed with training rounds)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("phi_build", ROOT / "experiments/phi_records/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_jsonl_files_are_those_of_the_raw_files(build):
    records = build.read_records(ROOT / "experiments/data/phi_records/raw")
    split = build.splits(records)
    for name in build.SPLITS:
        path = ROOT / f"experiments/data/phi_records/{name}.jsonl"
        assert path.read_text(encoding="utf-8") == build.jsonl([r for r in records if split[r["id"]] == name])


def test_rounds_go_to_their_split(build, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "round7_a.txt").write_text(
        "### r900 | lettre | CH\nVu par le Dr [[NOM:Kerléo]].\n", encoding="utf-8"
    )
    (raw / "round10_a.txt").write_text(
        "### r901 | note | EHPAD\nAppel de [[PRENOM:Maëlys]].\n", encoding="utf-8"
    )
    records = build.read_records(raw)
    assert [(r["id"], r["round"]) for r in records] == [("r901", 10), ("r900", 7)]
    assert build.splits(records) == {"r900": "train7", "r901": "test7"}
    assert records[1]["text"] == "Vu par le Dr Kerléo."
    assert records[1]["entities"] == [{"start": 13, "end": 19, "label": "NOM"}]
    (raw / "round30_a.txt").write_text("### r902 | note | CH\ntexte\n", encoding="utf-8")
    with pytest.raises(ValueError, match="round 30 has no split"):
        build.read_records(raw)


def test_the_default_model_never_learns_from_the_held_out_sets(build):
    # scripts/setup.sh trains the default identifier model on record files it lists: each one a split of the
    # records, none of the confirmation's held-out sets
    import re

    setup = (ROOT / "scripts/setup.sh").read_text(encoding="utf-8")
    listed = re.search(r"for split in ([^;]+); do\n  RECORDS\+=", setup)
    assert listed is not None
    names = listed[1].split()
    assert set(names) <= set(build.SPLITS)
    assert not set(names) & set(build.HELD_OUT)
    assert {"dev", "test", "train7", "train18", "train19"} <= set(names)
