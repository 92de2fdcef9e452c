"""The benchmark scripts' own logic: scripts/bench_scale.py (corpus replication, tiled vectors, the faiss stage and
its time budget, recall, growth slopes, the tables) and scripts/bench_generation.py's device arguments (a GPU row
only where torch sees a CUDA device, said so otherwise; checked on the CPU)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clinrag.text.passages import Passage, PassageStore

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bench_generation  # noqa: E402
import bench_scale  # noqa: E402

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux's /proc"
)


def _passage(patient: str, doc: str, text: str, index: int = 0) -> Passage:
    return Passage(patient, doc, 0, len(text), text, "2024-03-02", "cr_urgences", "", index, 0.0)


# ---- bench_scale: corpora -------------------------------------------------------------------------------------------
def test_replicate_gives_new_patients_with_copied_texts():
    source = [
        _passage("P1", "D1", "Patient de 71 ans, hémiplégie droite."),
        _passage("P1", "D2", "Scanner cérébral sans saignement.", 1),
        _passage("P2", "D3", "Pas de fibrillation atriale connue."),
    ]
    out = bench_scale.replicate(source, ["P1", "P2"], 5)
    store = PassageStore(out)  # each patient's passages contiguous, or this raises
    assert list(store.ranges) == ["P1", "P2", "P1~1", "P2~1", "P1~2"]
    assert len(store) == 3 + 3 + 2
    assert len({p.doc_id for p in out}) == len(out)
    copy = store.of_patient("P1~1")[0]
    assert copy.text == source[0].text and copy.text is not source[0].text
    assert copy.doc_id == "D1~1" and (copy.start, copy.end, copy.date) == (0, len(copy.text), "2024-03-02")


def test_tiled_vectors_and_counts(tmp_path):
    rng = np.random.default_rng(1)
    real = rng.standard_normal((7, 16)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    np.save(tmp_path / "embeddings.npy", real)
    vectors = bench_scale.tiled_vectors(tmp_path, 17, jitter=0.01)
    assert vectors.shape == (17, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.array_equal(vectors[:7], real)
    cosines = np.sum(vectors[7:14] * real, axis=1)
    assert np.all(cosines < 1 - 1e-6) and np.all(cosines > 0.9)  # near copies, never equal
    np.save(tmp_path / "counts_3.npy", np.array([2, 3, 2]))
    (tmp_path / "passages_3.jsonl").write_text("")
    assert bench_scale.passage_counts(tmp_path, 7).tolist() == [2, 3, 2, 2, 3, 2, 2]
    assert bench_scale.passage_counts(tmp_path, 3).tolist() == [2, 3, 2]


@pytest.fixture
def faiss_work(tmp_path):
    """A work folder as the encode and chunk stages leave it: 30 patients' passage counts, their embeddings and
    three query embeddings (random unit vectors)."""
    rng = np.random.default_rng(0)
    counts = rng.integers(3, 9, size=30)
    vectors = rng.standard_normal((int(counts.sum()), 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[[0, 10, 20]] + 0.1
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    np.save(tmp_path / "counts_30.npy", counts)
    (tmp_path / "passages_30.jsonl").write_text("")
    np.save(tmp_path / "embeddings.npy", vectors)
    np.save(tmp_path / "queries.npy", queries.astype(np.float32))
    return tmp_path


@needs_proc
@pytest.mark.parametrize("kind", bench_scale.FAISS_KINDS)
def test_faiss_stage_builds_and_projects_the_search(faiss_work, kind):
    spec = {"work": str(faiss_work), "size": 60, "kind": kind, "threads": 1, "jitter": 0.01, "budget": 60}
    build, search = bench_scale.job_faiss(spec)
    passages = int(2 * np.load(faiss_work / "counts_30.npy").sum())
    assert build["stage"] == f"faiss {kind} build" and build["how"] == "measured"
    assert build["passages"] == passages and build["peak_mb"] >= build["added_mb"] >= 0
    assert search["how"] == "projected" and search["cells"] == 60 * 3
    assert search["searches"] == 60 * 3  # fewer than 100 patients: every one searched, for each query
    assert math.isclose(search["seconds"], search["cells"] * search["ms_per_search"] / 1000)


@needs_proc
def test_hnsw_build_stops_at_the_budget_and_extrapolates(faiss_work, monkeypatch):
    monkeypatch.setattr(bench_scale, "HNSW_SLICE", 50)
    spec = {"work": str(faiss_work), "size": 30, "kind": "hnsw", "threads": 1, "jitter": 0.01, "budget": 0}
    build, search = bench_scale.job_faiss(spec)
    total = int(np.load(faiss_work / "counts_30.npy").sum())
    assert build["how"] == "stopped" and build["vectors_added"] == 50 < total
    assert math.isclose(build["seconds"], build["measured_seconds"] * total / 50)
    assert "50 vectors added" in search["note"]
    # only patients whose passages were all added are searched
    ends = np.cumsum(np.load(faiss_work / "counts_30.npy"))
    assert search["searches"] == int(np.sum(ends <= 50)) * 3


def test_overlap_counts_tied_passages_as_found():
    exact = (np.array([0.9, 0.8, 0.8, -1.0], np.float32), np.array([4, 7, 9, -1]))
    # found 4 and 12, a passage as good as 7 and 9 (the same sentence elsewhere), and a worse one
    approx = (np.array([0.9, 0.8, 0.5, 0.0], np.float32), np.array([4, 12, 3, -1]))
    assert bench_scale.overlap(exact, approx) == (1, 2, 3)
    assert bench_scale.overlap(exact, exact) == (3, 3, 3)
    nothing = (np.array([-1.0], np.float32), np.array([-1]))
    assert bench_scale.overlap(nothing, approx) == (0, 0, 0)
    assert bench_scale.overlap(exact, nothing) == (0, 0, 3)


def test_recall_of_the_exact_index_against_itself_bounds(faiss_work):
    rows = bench_scale.job_recall({"work": str(faiss_work), "size": 30, "threads": 1})
    assert {(r["index"], r["k"]) for r in rows} == {("ivf", 5), ("ivf", 10), ("hnsw", 5), ("hnsw", 10)}
    for row in rows:
        assert 0 <= row["within_patient_same_ids"] <= row["within_patient"] <= 1
        assert 0 <= row["cohort_wide_same_ids"] <= row["cohort_wide"] <= 1
        assert row["within_searches"] == 30 * 3 and row["cohort_searches"] == 3
    # HNSW over 150 vectors with efSearch 128 is all but exhaustive
    assert min(r["within_patient"] for r in rows if r["index"] == "hnsw") > 0.9


# ---- bench_scale: the tables ----------------------------------------------------------------------------------------
def test_slope_reads_the_power_of_growth():
    assert math.isclose(bench_scale.slope([1e3, 1e4, 1e5], [2, 20, 200]), 1.0)
    assert math.isclose(bench_scale.slope([1e3, 1e4], [1, 100]), 2.0)
    assert bench_scale.slope([1e3], [1]) is None
    assert bench_scale.slope([1e3, 1e4], [0, 1]) is None


def test_report_extrapolates_unmeasured_sizes_and_fits_growth(capsys):
    def row(stage, patients, passages, seconds, added, **extra):
        return {
            "stage": stage,
            "patients": patients,
            "passages": passages,
            "seconds": seconds,
            "peak_mb": added + 300,
            "added_mb": added,
            "how": "measured",
            "load": 1.0,
            **extra,
        }

    rows = [
        row("chunk", 1000, 30_000, 30.0, 50),
        row("bm25s index", 1000, 30_000, 3.0, 40),
        row("bm25s index", 10_000, 300_000, 33.0, 400),
        row("bm25s index", 100_000, 3_000_000, 360.0, 4000, corpus="replicated from 10,000"),
    ]
    bench_scale.report(rows, [1000, 10_000, 100_000])
    out = capsys.readouterr().out
    assert "| chunk | 100,000 | 3,000,000 | 3,000 | x10.0 |" in out
    assert "extrapolated; passages / 1,000 per s measured at 1,000" in out
    assert "corpus replicated from 10,000" in out
    line = next(
        line for line in out.splitlines() if line.startswith("| bm25s index | 1,000, 10,000, 100,000")
    )
    time_slope, memory_slope = (float(cell) for cell in line.split("|")[3:5])
    assert 1.0 < time_slope < 1.1 and math.isclose(memory_slope, 1.0)


def test_driver_refuses_bad_arguments(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, str(SCRIPTS / "bench_scale.py"), *args], capture_output=True, text=True
        )

    assert run("--sizes", "1000").returncode == 2  # no --work
    bad = run("--work", str(tmp_path), "--sizes", "1k")
    assert bad.returncode == 2 and "comma-separated integers" in bad.stderr
    assert run("--work", str(tmp_path), "--workers", "0").returncode == 2
    empty = run("--work", str(tmp_path), "--report")
    assert empty.returncode == 0 and "| stage |" in empty.stdout


# ---- bench_generation: devices ----------------------------------------------------------------------------------------
def test_generation_bench_plans_gpu_rows_only_with_a_cuda_device():
    runs, notes = bench_generation.plan_devices(["cpu", "cuda"], "bfloat16", cuda_available=True)
    assert runs == [("cpu", "float32"), ("cuda", "bfloat16")] and notes == []
    runs, notes = bench_generation.plan_devices(["cpu", "cuda"], "bfloat16", cuda_available=False)
    assert runs == [("cpu", "float32")]
    assert len(notes) == 1 and "cuda (bfloat16): not measured, no CUDA device" in notes[0]


def test_generation_bench_cuda_without_a_gpu_says_so_and_measures_nothing(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    bench_generation.main(["--devices", "cuda", "--cuda-dtype", "float16"])
    out = capsys.readouterr().out
    assert "cuda (float16): not measured, no CUDA device available here" in out
    assert "cells/s" not in out  # no table, no number


@pytest.mark.parametrize(
    "args",
    [
        ["--devices", "tpu"],
        ["--devices", ","],
        ["--cuda-dtype", "int8"],
        ["--batch-sizes", "1,x"],
        ["--cells", "0"],
    ],
)
def test_generation_bench_refuses_bad_arguments(args):
    with pytest.raises(SystemExit) as exit_:
        bench_generation.main(args)
    assert exit_.value.code == 2
