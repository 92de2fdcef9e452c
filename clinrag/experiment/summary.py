"""Summaries of ablation grids: paired bootstrap comparisons of runs, as tables (Markdown, CSV, LaTeX) and a figure.

A grid is a set of runs of one experiment that vary some config axes (``retriever.type`` x ``retrieval.k``...).
Every run directory (Contract 3) holds ``predictions.csv``; its ``metrics.json`` may add a ``retrieval``
section. The summary re-scores each run's predictions against the cohort table on one split, so that all runs
are compared on exactly the same cells, whatever split their own ``metrics.json`` was computed on.

Method:

* A cell is one (patient, variable) of the split, for every column of the table; it is correct when
  :func:`clinrag.data.values.cells_match` says so (a gold-empty cell predicted empty is correct; a patient
  missing from predictions.csv abstains on every cell). A run's accuracy is correct cells / cells.
* Intervals are percentile bootstrap intervals over patients (:mod:`clinrag.evaluation.bootstrap`): ``B``
  resamples of the split's patients with replacement, drawn once from ``BootstrapSpec.seed``; a replicate's
  accuracy is the ratio of the resampled patients' correct cells to their cells. These are the resamples
  :func:`clinrag.evaluation.evaluate_table` draws for the same seed and split, so a run's interval equals the
  one in its metrics.json.
* Comparisons are paired: the same resample index matrix serves every run, so replicate ``b`` of run ``r``
  and of the reference score the same patients. The difference ``accuracy(r) - accuracy(reference)`` has as
  interval the percentiles of the ``B`` replicate differences, and a two-sided bootstrap p-value
  ``p = min(1, 2 * min(share of replicate differences <= 0, share >= 0))``. Two identical runs give
  differences that are all 0, hence p = 1; a run better on every replicate gives p = 0, which only says
  p < 1/B (tables print it as such). No correction for multiple comparisons is applied.
* Per-variable accuracy (point values) and the overall retrieval metrics of metrics.json (``recall@k``,
  ``mrr`` and their intervals, when present) are carried into each row as they are.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clinrag.data.cohort import Cohort
from clinrag.data.validate import read_predictions
from clinrag.data.values import cells_match
from clinrag.errors import ClinragError
from clinrag.evaluation.bootstrap import (
    BootstrapSpec,
    bootstrap_p_value,
    draw_resamples,
    percentile_interval,
    ratio_replicates,
)
from clinrag.io import atomic_write_bytes, atomic_write_json, atomic_write_text

# metrics.json's overall accuracy is rounded to 4 decimals: a larger gap means predictions.csv changed since.
_ACCURACY_TOLERANCE = 1e-3
_DASH = "—"


@dataclass
class GridRun:
    """One run of a grid.

    Attributes:
        label: A readable name, unique in the grid (e.g. ``"retriever.type=bm25 retrieval.k=3"``).
        axes: The values of the grid's axes for this run (``{"retriever.type": "bm25", "retrieval.k": 3}``).
        run_dir: The run directory (Contract 3), with at least ``predictions.csv``.
    """

    label: str
    axes: dict[str, Any]
    run_dir: Path


def summarize_grid(
    cohort: Cohort,
    runs: list[GridRun],
    split: str = "test",
    reference: str | None = None,
    spec: BootstrapSpec | None = None,
    variables: list[str] | None = None,
) -> dict[str, Any]:
    """Score every run of a grid on one split and compare each with a reference run (paired bootstrap).

    Args:
        cohort: The cohort the runs were made on, with its table.
        runs: The grid's runs, in the order rows should appear.
        split: The split whose table patients are scored (``train``, ``dev``, ``test``, or ``all``).
        reference: Label of the run the others are compared with (default: the first run).
        spec: Bootstrap settings (resamples, confidence, seed).
        variables: The columns the runs fill and are scored on (default: every column of the table).

    Returns:
        A JSON-ready dict: ``split``, ``bootstrap`` (settings), ``reference`` (label), ``axes`` (axis names in
        order of first appearance), ``rows`` (one per run: ``label``, ``axes``, ``run_dir``, ``accuracy``,
        ``accuracy_ci``, ``n_cells``, ``n_patients``, ``diff``, ``diff_ci``, ``p_value`` (None for the
        reference), ``per_variable`` (name -> accuracy), ``retrieval`` (overall retrieval metrics or ``{}``))
        and ``warnings`` (inconsistencies noticed in the run directories).

    Raises:
        ValueError: No runs, duplicate labels, an unknown reference, no table, or an empty split.
        ClinragError: A run's predictions.csv is missing or unreadable, or its metrics.json is not JSON.
    """
    spec = spec or BootstrapSpec()
    if not runs:
        raise ValueError("a grid summary needs at least one run")
    labels = [run.label for run in runs]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"run labels must be unique; repeated: {', '.join(duplicates)}")
    reference = reference if reference is not None else labels[0]
    if reference not in labels:
        raise ValueError(f"reference '{reference}' is not one of the runs: {', '.join(labels)}")
    if cohort.table is None:
        raise ValueError("the cohort has no table.csv: nothing to score the grid against")
    patients = list(cohort.table) if split == "all" else cohort.split_patients(split)
    if not patients:
        raise ValueError(f"no patient of the table is in split '{split}'")
    names = list(variables) if variables else cohort.table_columns
    if not names:
        raise ValueError("the cohort's table has no variable column: nothing to score")
    variables = [cohort.variable(name) for name in names]

    # One resample matrix for every run: replicate b scores the same patients in each run (paired test).
    resamples = draw_resamples(len(patients), spec)

    scored: list[dict[str, Any]] = []
    warnings: list[str] = []
    for run in runs:
        predictions, _ = read_predictions(Path(run.run_dir) / "predictions.csv", cohort)
        # correct[i, j]: patient i, variable j
        correct = np.array(
            [
                [
                    cells_match(
                        var, cohort.table[pid].get(var.name, ""), predictions.get(pid, {}).get(var.name, "")
                    )
                    for var in variables
                ]
                for pid in patients
            ],
            dtype=float,
        ).reshape(len(patients), len(names))
        n_cells = int(correct.size)
        # evaluate_table's overall accuracy: correct cells over cells (never 0 cells), summed per patient;
        # whole counts, so identical runs give exactly equal replicates
        accuracy, replicates = ratio_replicates(
            correct.sum(axis=1), np.full(len(patients), float(len(names))), resamples
        )
        metrics = _read_metrics(Path(run.run_dir))
        warnings.extend(_consistency_warnings(run, metrics, split, accuracy))
        scored.append(
            {
                "run": run,
                "accuracy": accuracy,
                "replicates": replicates,
                "n_cells": n_cells,
                "per_variable": {name: _round(float(correct[:, j].mean())) for j, name in enumerate(names)},
                "retrieval": _retrieval_overall(metrics),
            }
        )

    ref = scored[labels.index(reference)]
    rows = []
    for item in scored:
        run: GridRun = item["run"]
        row: dict[str, Any] = {
            "label": run.label,
            "axes": dict(run.axes),
            "run_dir": str(run.run_dir),
            "accuracy": _round(item["accuracy"]),
            "accuracy_ci": percentile_interval(item["replicates"], spec),
            "n_cells": item["n_cells"],
            "n_patients": len(patients),
            "diff": None,
            "diff_ci": None,
            "p_value": None,
        }
        if run.label != reference:
            differences = item["replicates"] - ref["replicates"]
            row["diff"] = _round(item["accuracy"] - ref["accuracy"])
            row["diff_ci"] = percentile_interval(differences, spec)
            row["p_value"] = bootstrap_p_value(differences)
        row["per_variable"] = item["per_variable"]
        row["retrieval"] = item["retrieval"]
        rows.append(row)

    axes: list[str] = []
    for run in runs:
        axes.extend(name for name in run.axes if name not in axes)
    return {
        "split": split,
        "bootstrap": {**spec.to_json(), "paired": True},
        "reference": reference,
        "axes": axes,
        "rows": rows,
        "warnings": warnings,
    }


def _round(value: float) -> float:
    # + 0.0 turns -0.0 (e.g. a difference of identical runs) into 0.0
    return round(value, 4) + 0.0


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ClinragError(f"{path}: not valid JSON ({err})") from err
    return metrics if isinstance(metrics, dict) else {}


def _retrieval_overall(metrics: dict[str, Any]) -> dict[str, Any]:
    """The overall retrieval metrics of a metrics.json (``recall@k``, ``mrr``, their intervals, ``n``)."""
    overall = (metrics.get("retrieval") or {}).get("overall") or {}
    keep = ("recall@", "mrr")
    return {key: value for key, value in overall.items() if key.startswith(keep) or key == "n"}


def _consistency_warnings(run: GridRun, metrics: dict[str, Any], split: str, accuracy: float) -> list[str]:
    notes = []
    recorded = (metrics.get("overall") or {}).get("accuracy")
    if (
        metrics.get("split") == split
        and recorded is not None
        and abs(recorded - accuracy) > _ACCURACY_TOLERANCE
    ):
        notes.append(
            f"{run.label}: metrics.json says accuracy {recorded} on {split}, predictions.csv scores "
            f"{accuracy:.4f} (predictions changed after evaluation?)"
        )
    retrieval_split = (metrics.get("retrieval") or {}).get("split")
    if retrieval_split is not None and retrieval_split != split:
        notes.append(
            f"{run.label}: retrieval metrics were computed on split '{retrieval_split}', not '{split}'"
        )
    return notes


# ---- tables ------------------------------------------------------------------------------------------


def write_grid_tables(summary: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write a grid summary as ``results.md``, ``results.csv``, ``results.tex`` and ``summary.json``.

    Markdown and LaTeX have one column per axis (plus a ``run`` column of labels when the axes do not tell the
    runs apart), then accuracy with its interval, the difference with the reference and its interval, the
    p-value, and recall@5 when runs have retrieval metrics (every recall@k present when none has recall@5).
    The CSV has the label, the axes and every number in its own column.

    Args:
        summary: What :func:`summarize_grid` returned.
        out_dir: Destination folder (created if needed).

    Returns:
        ``{"markdown", "csv", "latex", "json"}`` -> path written.
    """
    out_dir = Path(out_dir)
    paths = {
        "markdown": out_dir / "results.md",
        "csv": out_dir / "results.csv",
        "latex": out_dir / "results.tex",
        "json": out_dir / "summary.json",
    }
    atomic_write_text(paths["markdown"], render_markdown(summary))
    atomic_write_text(paths["csv"], render_csv(summary))
    atomic_write_text(paths["latex"], render_latex(summary))
    atomic_write_json(paths["json"], summary)
    return paths


def _confidence_pct(summary: dict[str, Any]) -> str:
    return f"{100 * summary['bootstrap']['confidence']:g}%"


def _identity_columns(summary: dict[str, Any]) -> list[str]:
    """Axis names, preceded by ``run`` (the label) when the axes alone do not identify each row."""
    axes = summary["axes"]
    keys = [tuple(_axis_cell(row["axes"], name) for name in axes) for row in summary["rows"]]
    if axes and len(set(keys)) == len(keys):
        return list(axes)
    return ["run", *axes]


def _identity_cells(row: dict[str, Any], columns: list[str]) -> list[str]:
    return [row["label"] if col == "run" else _axis_cell(row["axes"], col) for col in columns]


def _axis_cell(axes: dict[str, Any], name: str) -> str:
    """A run's value of an axis as text; empty when the run does not set that axis."""
    return _axis_text(axes[name]) if name in axes else ""


def _axis_text(value: Any) -> str:
    # as the grid's labels write values (YAML scalars)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _recall_keys(summary: dict[str, Any], table: bool) -> list[str]:
    """The recall@k keys present in any row, by k; for display tables, only recall@5 when it is there."""
    keys = {key for row in summary["rows"] for key in row["retrieval"] if _recall_k(key) is not None}
    ordered = sorted(keys, key=lambda key: _recall_k(key) or 0)
    if table and "recall@5" in keys:
        return ["recall@5"]
    return ordered


def _recall_k(key: str) -> int | None:
    if key.startswith("recall@") and key[len("recall@") :].isdigit():
        return int(key[len("recall@") :])
    return None


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return _DASH
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _fmt_ci(point: float | None, ci: list[float] | None, signed: bool = False) -> str:
    if point is None:
        return _DASH
    if not ci:
        return _fmt(point, signed)
    return f"{_fmt(point, signed)} [{_fmt(ci[0], signed)}, {_fmt(ci[1], signed)}]"


def _fmt_p(p: float | None, n_resamples: int) -> str:
    if p is None:
        return _DASH
    if p == 0:
        return f"< {1 / n_resamples:g}"
    return f"{p:.3f}"


def _display_table(summary: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """The text cells shared by the Markdown and LaTeX tables, and each column's alignment (``l``, ``r``)."""
    pct = _confidence_pct(summary)
    identity = _identity_columns(summary)
    recalls = _recall_keys(summary, table=True)
    header = [*identity, f"accuracy [{pct} CI]", f"Δ vs reference [{pct} CI]", "p", *recalls]
    n_resamples = summary["bootstrap"]["n_resamples"]
    body = []
    for row in summary["rows"]:
        is_reference = row["label"] == summary["reference"]
        body.append(
            [
                *_identity_cells(row, identity),
                _fmt_ci(row["accuracy"], row["accuracy_ci"]),
                "(reference)" if is_reference else _fmt_ci(row["diff"], row["diff_ci"], signed=True),
                _DASH if is_reference else _fmt_p(row["p_value"], n_resamples),
                *(_fmt(row["retrieval"].get(key)) for key in recalls),
            ]
        )
    align = ["l"] * len(identity) + ["r"] * (len(header) - len(identity))
    return pd.DataFrame(body, columns=header), align


def render_markdown(summary: dict[str, Any]) -> str:
    """The grid summary as a Markdown table, with a line saying how it was computed."""
    table, align = _display_table(summary)
    # tabulate leaves a "|" in a cell as it is, which would split the cell in two
    table = table.map(_markdown_pipe).rename(columns=_markdown_pipe)
    markdown = table.to_markdown(
        index=False,
        disable_numparse=True,  # cells are formatted text: "0.800" stays "0.800"
        colalign=["left" if side == "l" else "right" for side in align],
    )
    bootstrap = summary["bootstrap"]
    reference = summary["reference"]
    note = (
        f"Accuracy over every cell of the {summary['split']} split ({_n_phrase(summary)}); "
        f"{_confidence_pct(summary)} percentile bootstrap intervals over patients "
        f"({bootstrap['n_resamples']} paired resamples, seed {bootstrap['seed']}); "
        f"Δ and p: paired bootstrap against `{reference}`."
    )
    return f"{markdown}\n\n{note}\n"


def _markdown_pipe(text: str) -> str:
    return text.replace("|", "\\|")


def _n_phrase(summary: dict[str, Any]) -> str:
    row = summary["rows"][0]
    return f"{row['n_patients']} patients, {row['n_cells']} cells"


def render_csv(summary: dict[str, Any]) -> str:
    """The grid summary as CSV: label, axes, reference flag, then one numeric column per quantity."""
    recalls = _recall_keys(summary, table=False)
    has_mrr = any("mrr" in row["retrieval"] for row in summary["rows"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    numeric = [
        "accuracy",
        "ci_low",
        "ci_high",
        "diff",
        "diff_low",
        "diff_high",
        "p_value",
        "n_patients",
        "n_cells",
    ]
    writer.writerow(
        ["label", *summary["axes"], "reference", *numeric, *recalls, *(["mrr"] if has_mrr else [])]
    )
    for row in summary["rows"]:
        ci = row["accuracy_ci"] or [None, None]
        diff_ci = row["diff_ci"] or [None, None]
        values = [
            row["accuracy"],
            *ci,
            row["diff"],
            *diff_ci,
            row["p_value"],
            row["n_patients"],
            row["n_cells"],
            *(row["retrieval"].get(key) for key in recalls),
            *([row["retrieval"].get("mrr")] if has_mrr else []),
        ]
        writer.writerow(
            [
                row["label"],
                *(_axis_cell(row["axes"], name) for name in summary["axes"]),
                str(row["label"] == summary["reference"]).lower(),
                *("" if value is None else value for value in values),
            ]
        )
    return buffer.getvalue()


# pandas' LaTeX escaping handles & % $ # _ { } ~ ^ and \; these characters it leaves as they are.
_LATEX_BEYOND_PANDAS = {
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "Δ": r"$\Delta$",
    "—": "--",
}


def _latex_beyond_pandas(escaped: str) -> str:
    return "".join(_LATEX_BEYOND_PANDAS.get(char, char) for char in escaped)


def render_latex(summary: dict[str, Any]) -> str:
    """The grid summary as a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    table, align = _display_table(summary)
    # escape="latex" runs before the formatter, which then only sees the characters pandas does not escape
    styler = (
        table.style.hide(axis="index")
        .format(_latex_beyond_pandas, escape="latex")
        .format_index(_latex_beyond_pandas, escape="latex", axis=1)
    )
    tabular = styler.to_latex(column_format="".join(align), hrules=True)
    reference = " ".join(str(summary["reference"]).split())  # a comment line must stay one line
    return (
        f"% {summary['split']} split, {_n_phrase(summary)}; paired bootstrap against {reference}\n"
        "% requires \\usepackage{booktabs}\n"
        f"{tabular}"
    )


# ---- figure ------------------------------------------------------------------------------------------


def plot_grid(summary: dict[str, Any], path: Path) -> Path:
    """Plot every run's accuracy with its interval, the reference as a dashed line, and save a PNG.

    The first axis is on x; runs that differ in the other axes are separate, dodged series (one per value of
    the second axis when there are two). With no axes, each run is its own x position.

    Args:
        summary: What :func:`summarize_grid` returned.
        path: The PNG file to write (atomically).

    Returns:
        ``path``.
    """
    # The object-oriented API with its own canvas: no pyplot global state, and the caller's backend
    # (a notebook's, say) is left alone. Saving a PNG goes through Agg whatever the backend.
    from matplotlib.figure import Figure

    path = Path(path)
    rows = summary["rows"]
    axes = summary["axes"]
    reference = next(row for row in rows if row["label"] == summary["reference"])
    if axes:
        x_name, series_names = axes[0], axes[1:]
        x_values = _unique(_axis_cell(row["axes"], x_name) for row in rows)
        series_keys = _unique(
            ", ".join(_axis_cell(row["axes"], name) for name in series_names) for row in rows
        )
    else:
        x_name, series_names = "run", []
        x_values = [row["label"] for row in rows]
        series_keys = [""]

    # tick labels wrap at spaces; the figure widens with them (legend on the right), and past 14 inches they tilt
    ticks = [textwrap.fill(value, 20, break_long_words=False) for value in x_values]
    longest = max(len(line) for tick in ticks for line in tick.splitlines())
    per_x = max(0.9 * len(series_keys) ** 0.5, 0.075 * longest)
    wanted = 3.5 + per_x * len(x_values)
    width = max(6.0, min(14.0, wanted))
    fig = Figure(figsize=(width, 4.5), dpi=150)
    ax = fig.add_subplot()
    ax.axhline(
        reference["accuracy"],
        color="0.3",
        linestyle="--",
        linewidth=1,
        label=textwrap.fill(f"reference: {reference['label']} ({reference['accuracy']:.3f})", 28),
        zorder=1,
    )
    if reference["accuracy_ci"]:
        ax.axhspan(*reference["accuracy_ci"], color="0.5", alpha=0.12, linewidth=0, zorder=0)

    dodge = 0.7 / len(series_keys)
    for s, key in enumerate(series_keys):
        xs, ys, low, high = [], [], [], []
        for row in rows:
            if axes:
                row_key = ", ".join(_axis_cell(row["axes"], name) for name in series_names)
                if row_key != key:
                    continue
                x = x_values.index(_axis_cell(row["axes"], x_name))
            else:
                x = x_values.index(row["label"])
            ci = row["accuracy_ci"] or [row["accuracy"], row["accuracy"]]
            xs.append(x + (s - (len(series_keys) - 1) / 2) * dodge)
            ys.append(row["accuracy"])
            low.append(row["accuracy"] - ci[0])
            high.append(ci[1] - row["accuracy"])
        label = f"{', '.join(series_names)} = {key}" if series_names else None
        ax.errorbar(
            xs, ys, yerr=[low, high], fmt="o", capsize=4, markersize=6, linewidth=1.5, label=label, zorder=3
        )

    tilted = wanted > width
    ax.set_xticks(
        range(len(x_values)), ticks, rotation=30 if tilted else 0, ha="right" if tilted else "center"
    )
    ax.set_xlim(-0.6, len(x_values) - 0.4)
    ax.set_xlabel(x_name)
    ax.set_ylabel(f"accuracy ({summary['split']} split)")
    top = max((row["accuracy_ci"] or [0, row["accuracy"]])[1] for row in rows)
    bottom = min((row["accuracy_ci"] or [row["accuracy"], 0])[0] for row in rows)
    margin = max(0.02, 0.1 * (top - bottom))
    ax.set_ylim(max(0.0, bottom - margin), min(1.0, top + margin) + 0.01)
    ax.grid(axis="y", alpha=0.3)
    pct = _confidence_pct(summary)
    title = f"Accuracy by {' × '.join(axes)}" if axes else "Accuracy by run"
    ax.set_title(f"{title}\n{_n_phrase(summary)}, {pct} bootstrap intervals over patients", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _unique(values: Any) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
