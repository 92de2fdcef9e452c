"""Grid summaries: paired bootstrap comparisons of run directories, tables and figure."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import pytest

from clinrag.data.cohort import Cohort, table_to_csv
from clinrag.data.validate import load_cohort
from clinrag.evaluation import BootstrapSpec, evaluate_table
from clinrag.experiment.summary import GridRun, plot_grid, summarize_grid, write_grid_tables
from clinrag.io import atomic_write_json
from clinrag.synth import write_synthetic_cohort

SPEC = BootstrapSpec(n_resamples=500, seed=3)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Cohort:
    directory = tmp_path_factory.mktemp("grid_cohort") / "synth30"
    write_synthetic_cohort(directory, 30, seed=5)
    return load_cohort(directory)


def _degraded(cohort: Cohort, share: float, seed: int) -> dict[str, dict[str, str]]:
    """The known table with ``share`` of each test patient's documented cells blanked (at least one)."""
    rng = random.Random(seed)
    table = {pid: dict(cells) for pid, cells in cohort.table.items()}
    for pid in cohort.split_patients("test"):
        documented = [name for name, cell in table[pid].items() if cell]
        for name in rng.sample(documented, max(1, round(share * len(documented)))):
            table[pid][name] = ""
    return table


def _write_run(
    directory: Path, cohort: Cohort, table: dict[str, dict[str, str]], retrieval: dict | None = None
) -> Path:
    directory.mkdir(parents=True)
    (directory / "predictions.csv").write_text(table_to_csv(cohort.table_columns, table.items()))
    metrics = evaluate_table(cohort, table, "test", SPEC)
    if retrieval is not None:
        metrics["retrieval"] = {"split": "test", "overall": retrieval}
    atomic_write_json(directory / "metrics.json", metrics)
    (directory / "config.yaml").write_text("retriever:\n  type: bm25\n")
    return directory


@pytest.fixture(scope="module")
def grid(cohort, tmp_path_factory) -> list[GridRun]:
    """A perfect run (reference), a run with ~30% of test cells blanked, and the same degraded run again."""
    root = tmp_path_factory.mktemp("grid_runs")
    degraded = _degraded(cohort, 0.3, seed=1)
    recall = {"n": 80, "recall@1": 0.5, "recall@1_ci": [0.4, 0.6], "recall@5": 0.8, "recall@5_ci": [0.7, 0.9]}
    return [
        GridRun(
            "retriever.type=bm25",
            {"retriever.type": "bm25"},
            _write_run(root / "perfect", cohort, cohort.table, recall),
        ),
        GridRun(
            "retriever.type=dense_v2",
            {"retriever.type": "dense_v2"},
            _write_run(root / "degraded", cohort, degraded),
        ),
        GridRun(
            "retriever.type=dense_v2_again",
            {"retriever.type": "dense_v2_again"},
            _write_run(root / "degraded_again", cohort, degraded),
        ),
    ]


@pytest.fixture(scope="module")
def summary(cohort, grid) -> dict:
    return summarize_grid(cohort, grid, "test", spec=SPEC)


def _row(summary: dict, label: str) -> dict:
    return next(row for row in summary["rows"] if row["label"] == label)


def _markdown_cells(line: str) -> list[str]:
    """The cells of a Markdown table line, padding stripped (an escaped pipe stays inside its cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_accuracy_and_interval_match_evaluate_table(summary, grid):
    for run in grid:
        metrics = json.loads((run.run_dir / "metrics.json").read_text())
        row = _row(summary, run.label)
        assert row["accuracy"] == metrics["overall"]["accuracy"]
        # same seed, same patients: the same resamples as evaluate_table, hence the same interval
        assert row["accuracy_ci"] == metrics["overall"]["accuracy_ci"]
        assert row["n_cells"] == metrics["overall"]["n"]
        assert row["n_patients"] == metrics["overall"]["n_patients"]
        for name, accuracy in row["per_variable"].items():
            assert accuracy == metrics["variables"][name]["accuracy"]
        low, high = row["accuracy_ci"]
        assert low <= row["accuracy"] <= high
    assert summary["warnings"] == []


def test_summary_shape(summary, grid):
    assert summary["reference"] == grid[0].label
    assert summary["axes"] == ["retriever.type"]
    assert summary["split"] == "test"
    assert summary["bootstrap"]["n_resamples"] == SPEC.n_resamples
    assert [row["label"] for row in summary["rows"]] == [run.label for run in grid]
    reference = summary["rows"][0]
    assert reference["accuracy"] == 1.0
    assert reference["diff"] is None and reference["diff_ci"] is None and reference["p_value"] is None
    assert reference["retrieval"]["recall@5"] == 0.8
    assert summary["rows"][1]["retrieval"] == {}


def test_perfect_run_beats_degraded_run(summary, grid):
    row = _row(summary, grid[1].label)
    assert 0.6 < row["accuracy"] < 0.85
    assert row["diff"] == pytest.approx(row["accuracy"] - 1.0, abs=1e-4)
    low, high = row["diff_ci"]
    assert low <= row["diff"] <= high < 0
    assert row["p_value"] < 0.05


def test_identical_runs_differ_by_zero_with_p_one(cohort, grid):
    summary = summarize_grid(cohort, grid, "test", reference=grid[1].label, spec=SPEC)
    row = _row(summary, grid[2].label)
    assert row["diff"] == 0.0
    assert row["diff_ci"] == [0.0, 0.0]
    assert row["p_value"] == 1.0
    assert _row(summary, grid[1].label)["p_value"] is None
    assert _row(summary, grid[0].label)["diff"] > 0


def test_bad_grids_are_refused(cohort, grid, tmp_path):
    with pytest.raises(ValueError, match="reference"):
        summarize_grid(cohort, grid, reference="nope", spec=SPEC)
    with pytest.raises(ValueError, match="unique"):
        summarize_grid(cohort, [grid[0], grid[0]], spec=SPEC)
    with pytest.raises(ValueError, match="at least one run"):
        summarize_grid(cohort, [], spec=SPEC)
    with pytest.raises(Exception, match="no such file"):
        summarize_grid(cohort, [GridRun("missing", {}, tmp_path / "nothing")], spec=SPEC)


def test_stale_metrics_are_reported(cohort, grid, tmp_path):
    run_dir = _write_run(tmp_path / "stale", cohort, cohort.table)
    # predictions replaced after metrics.json was written
    (run_dir / "predictions.csv").write_text(
        table_to_csv(cohort.table_columns, _degraded(cohort, 0.5, seed=2).items())
    )
    summary = summarize_grid(cohort, [grid[0], GridRun("stale", {}, run_dir)], spec=SPEC)
    assert any("stale" in warning for warning in summary["warnings"])


def test_tables_are_written(summary, grid, tmp_path):
    paths = write_grid_tables(summary, tmp_path / "out")
    assert {path.name for path in paths.values()} == {
        "results.md",
        "results.csv",
        "results.tex",
        "summary.json",
    }
    for path in paths.values():
        assert path.is_file()
    markdown = paths["markdown"].read_text()
    latex = paths["latex"].read_text()
    rows = list(csv.DictReader(paths["csv"].open()))
    assert json.loads(paths["json"].read_text()) == summary

    assert [row["label"] for row in rows] == [run.label for run in grid]
    assert rows[0]["reference"] == "true" and rows[0]["diff"] == "" and rows[0]["recall@5"] == "0.8"
    assert float(rows[1]["diff_high"]) < 0 and float(rows[1]["p_value"]) < 0.05
    for run in grid:
        assert run.axes["retriever.type"] in markdown
        assert run.axes["retriever.type"].replace("_", r"\_") in latex
    assert "(reference)" in markdown and "recall@5" in markdown and "Δ vs reference" in markdown
    assert _markdown_cells(markdown.splitlines()[0])[:2] == ["retriever.type", "accuracy [95% CI]"]
    alignment = [
        "right" if rule.endswith(":") else "left" for rule in _markdown_cells(markdown.splitlines()[1])
    ]
    assert alignment == ["left", *["right"] * 4]
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lrrrr}"):
        assert rule in latex
    assert "dense_v2" not in latex  # every underscore escaped
    assert r"[95\% CI]" in latex and r"$\Delta$" in latex


def test_rows_that_axes_do_not_tell_apart_get_a_run_column(cohort, grid, tmp_path):
    same_axes = [GridRun(run.label, {"seed": 0}, run.run_dir) for run in grid]
    paths = write_grid_tables(summarize_grid(cohort, same_axes, spec=SPEC), tmp_path)
    markdown = paths["markdown"].read_text()
    assert _markdown_cells(markdown.splitlines()[0])[:2] == ["run", "seed"]
    for run in grid:
        assert run.label in markdown


def test_special_characters_are_escaped(cohort, grid, tmp_path):
    labels = ["a|b & 50% #1", "x_{y} <= z~"]
    runs = [GridRun(label, {"seed": 0}, run.run_dir) for label, run in zip(labels, grid, strict=False)]
    paths = write_grid_tables(summarize_grid(cohort, runs, spec=SPEC), tmp_path)
    markdown = paths["markdown"].read_text().splitlines()
    assert [_markdown_cells(line)[0] for line in markdown[2:4]] == [r"a\|b & 50% #1", "x_{y} <= z~"]
    latex = paths["latex"].read_text()
    assert r"a|b \& 50\% \#1 & 0 & " in latex
    assert r"x\_\{y\} \textless{}= z\textasciitilde  & 0 & " in latex
    assert r"& -- &" in latex and "—" not in latex and "Δ" not in latex


def test_figure_one_axis(summary, tmp_path):
    path = plot_grid(summary, tmp_path / "fig" / "results.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_figure_two_axes(cohort, grid, tmp_path):
    runs = [
        GridRun(
            f"retriever.type={kind} retrieval.k={k}", {"retriever.type": kind, "retrieval.k": k}, run.run_dir
        )
        for kind, k, run in [
            ("bm25", 3, grid[0]),
            ("bm25", 5, grid[1]),
            ("dense", 3, grid[1]),
            ("dense", 5, grid[0]),
            ("temporal", 3, grid[2]),
            ("temporal", 5, grid[0]),
        ]
    ]
    summary = summarize_grid(cohort, runs, spec=SPEC)
    assert summary["axes"] == ["retriever.type", "retrieval.k"]
    path = plot_grid(summary, tmp_path / "results.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
