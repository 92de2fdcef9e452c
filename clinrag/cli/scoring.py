"""Scoring a predicted table, and the reference baselines."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import BaselineMethod, Patients, Split, app, cohort_inputs, err, out


@app.command()
def evaluate(
    cohort_dir: Path = typer.Option(
        ..., "--cohort", help="The cohort directory whose table.csv is the reference."
    ),
    predictions: Path = typer.Option(..., "--predictions", help="Predicted table (table.csv's shape)."),
    split: Split = typer.Option(Split.TEST, "--split", help="Patients of the table to score."),
    out_file: Path | None = typer.Option(None, "--out", help="Write metrics.json here."),
    n_resamples: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap resamples of patients."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    allow_missing: bool = typer.Option(
        False,
        "--allow-missing",
        help="Score the cells of scored patients without a row, and of columns the predictions lack, as "
        "abstentions (with a warning) instead of refusing the file.",
    ),
) -> None:
    """Score a predicted table against the cohort's table: per-variable metrics by type and overall accuracy,
    with 95% bootstrap intervals over patients."""
    from clinrag.evaluation import BootstrapSpec
    from clinrag.evaluation.display import metrics_table
    from clinrag.evaluation.metrics import evaluate_predictions

    metrics = evaluate_predictions(
        cohort_dir,
        predictions,
        split.value,
        BootstrapSpec(n_resamples, seed=seed),
        allow_missing,
        out_file,
        warn=lambda issue: err.print(f"warning: {issue}", markup=False, soft_wrap=True),
    )
    out.print(metrics_table(metrics))
    if out_file is not None:
        out.print(f"metrics written to {out_file}", markup=False)


@app.command()
def baseline(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory."),
    out_file: Path = typer.Option(..., "--out", help="Predictions CSV to write (table.csv's shape)."),
    method: BaselineMethod = typer.Option(
        BaselineMethod.MAJORITY,
        "--method",
        help="The baseline (majority: each variable's most frequent train value).",
    ),
    split: Patients = typer.Option(
        Patients.TEST, "--split", help="Patients to predict (unlabeled: those without a table row)."
    ),
) -> None:
    """Predict a table with a reference baseline, learned from the train split only."""
    from clinrag.baselines.registry import predict_baseline
    from clinrag.data.cohort import table_to_csv
    from clinrag.data.validate import load_cohort
    from clinrag.io import atomic_write_text, check_output_file

    check_output_file(out_file, "--out", inputs=cohort_inputs(cohort_dir))
    cohort = load_cohort(cohort_dir)
    rows = predict_baseline(cohort, method.value, split.value)
    atomic_write_text(out_file, table_to_csv(cohort.table_columns, rows.items()))
    out.print(f"{method} baseline: {len(rows)} patients predicted, written to {out_file}", markup=False)
