"""The ``clinrag`` command line: thin typed commands, the logic lives in the library.

Every command exits 0 on success and 2 with a one-line reason on bad input (no traceback for a user's mistake).
Logs and messages never print document text or identifiers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from clinrag.errors import ClinragError

app = typer.Typer(
    help="clinrag: fill a clinical registry table from French hospital documents, every value with its evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Embedded default models and local model folders.", no_args_is_help=True)
app.add_typer(models_app, name="models")

# Piped output (CI logs, files) gets wide lines instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)

SPLIT_CHOICES = ("train", "dev", "test", "all", "unlabeled")


@app.command()
def validate(
    directory: Path = typer.Argument(
        ..., help="The cohort directory (variables.yaml, documents.jsonl, ...)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only, not warnings."),
) -> None:
    """Check a cohort directory against the cohort format; print every defect as FILE:LINE: field 'F': reason.

    Exit 2 when any error is found, 0 otherwise (warnings, such as an empty document, do not fail).
    """
    from clinrag.data.validate import read_cohort

    cohort, issues = read_cohort(directory)
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity == "warning"]
    for issue in errors:
        err.print(f"error: {directory}/{issue}", markup=False, soft_wrap=True)
    if not quiet:
        for issue in warnings:
            err.print(f"warning: {directory}/{issue}", markup=False, soft_wrap=True)
    if cohort is None:
        err.print(
            f"{directory}: invalid cohort, {len(errors)} error(s), {len(warnings)} warning(s)", markup=False
        )
        raise typer.Exit(2)
    table = f", table of {len(cohort.table)} patients" if cohort.table is not None else ", no table"
    out.print(
        f"{directory}: valid cohort — {len(cohort.patients)} patients, {len(cohort.documents)} documents, "
        f"{len(cohort.variables)} variables{table}; {len(warnings)} warning(s)",
        markup=False,
    )


@app.command()
def synth(
    out_dir: Path = typer.Option(
        ..., "--out", help="Directory to write the cohort to (must be empty or absent)."
    ),
    patients: int = typer.Option(200, "--patients", min=1, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical files."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output directory."),
) -> None:
    """Generate a synthetic French longitudinal stroke cohort (documents, table, splits, gold evidence and PHI)."""
    from clinrag.synth import write_synthetic_cohort

    cohort = write_synthetic_cohort(out_dir, patients, seed=seed, overwrite=overwrite)
    out.print(
        f"wrote {out_dir}: {len(cohort.patients)} patients, {len(cohort.documents)} documents, "
        f"{len(cohort.evidence)} evidence spans, {len(cohort.phi)} identifier spans (seed {seed})",
        markup=False,
    )


@app.command()
def evaluate(
    cohort_dir: Path = typer.Option(
        ..., "--cohort", help="The cohort directory whose table.csv is the reference."
    ),
    predictions: Path = typer.Option(..., "--predictions", help="Predicted table (table.csv's shape)."),
    split: str = typer.Option("test", "--split", help="Patients to score: train, dev, test or all."),
    out_file: Path | None = typer.Option(None, "--out", help="Write metrics.json here."),
    n_resamples: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap resamples of patients."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
) -> None:
    """Score a predicted table against the cohort's table: per-variable metrics by type and overall accuracy,
    with 95% bootstrap intervals over patients."""
    from clinrag.data.validate import load_cohort, read_predictions
    from clinrag.evaluation import BootstrapSpec, evaluate_table
    from clinrag.evaluation.display import metrics_table
    from clinrag.io import atomic_write_json

    if split not in ("train", "dev", "test", "all"):
        raise ClinragError(f"--split: unknown split '{split}' (expected train, dev, test or all)")
    cohort = load_cohort(cohort_dir)
    if cohort.table is None:
        raise ClinragError(f"{cohort_dir}/table.csv: missing, nothing to evaluate against")
    table, issues = read_predictions(predictions, cohort)
    for issue in issues:
        err.print(f"warning: {issue}", markup=False, soft_wrap=True)
    try:
        metrics = evaluate_table(
            cohort, table, split=None if split == "all" else split, spec=BootstrapSpec(n_resamples, seed=seed)
        )
    except ValueError as error:
        raise ClinragError(f"{cohort_dir}: {error}") from error
    metrics["predictions"] = str(predictions)
    out.print(metrics_table(metrics))
    if out_file is not None:
        atomic_write_json(out_file, metrics)
        out.print(f"metrics written to {out_file}", markup=False)


@app.command()
def baseline(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory."),
    out_file: Path = typer.Option(..., "--out", help="Predictions CSV to write (table.csv's shape)."),
    method: str = typer.Option(
        "majority", "--method", help="Baseline: majority (most frequent train value)."
    ),
    split: str = typer.Option(
        "test", "--split", help="Patients to predict: train, dev, test, all or unlabeled."
    ),
) -> None:
    """Predict a table with a reference baseline, learned from the train split only."""
    from clinrag.baselines import MajorityBaseline
    from clinrag.data.cohort import table_to_csv
    from clinrag.data.validate import load_cohort
    from clinrag.io import atomic_write_text

    baselines = {"majority": MajorityBaseline}
    if method not in baselines:
        raise ClinragError(f"--method: unknown baseline '{method}' (known: {', '.join(baselines)})")
    if split not in SPLIT_CHOICES:
        raise ClinragError(f"--split: unknown split '{split}' (expected {', '.join(SPLIT_CHOICES)})")
    cohort = load_cohort(cohort_dir)
    try:
        model = baselines[method]().fit(cohort)
    except ValueError as error:
        raise ClinragError(f"{cohort_dir}: {error}") from error
    if split == "all":
        patients = cohort.patients
    elif split == "unlabeled":
        patients = cohort.unlabeled_patients
    else:
        patients = cohort.split_patients(split)
    rows = model.predict(patients)
    atomic_write_text(out_file, table_to_csv(cohort.table_columns, rows.items()))
    out.print(f"{method} baseline: {len(rows)} patients predicted, written to {out_file}", markup=False)


@models_app.command("list")
def models_list() -> None:
    """Show the embedded default models and where they live."""
    from rich.table import Table

    from clinrag.models import list_models

    table = Table(title="Embedded default models")
    for column in ("name", "role", "status", "path"):
        table.add_column(column)
    for row in list_models():
        table.add_row(row["name"], row["role"], row["status"], row["path"])
    out.print(table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line on stderr and exit status 2.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    try:
        app(args=argv, prog_name="clinrag")
    except ClinragError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
