"""Commands on a cohort directory: check it, generate a synthetic one."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import app, err, out


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
    from clinrag.data.validate import check_cohort

    check = check_cohort(directory)
    for issue in check.errors:
        err.print(f"error: {directory}/{issue}", markup=False, soft_wrap=True)
    if not quiet:
        for issue in check.warnings:
            err.print(f"warning: {directory}/{issue}", markup=False, soft_wrap=True)
    if check.cohort is None:
        err.print(check.summary(), markup=False)
        raise typer.Exit(2)
    out.print(check.summary(), markup=False)


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
    from clinrag.io import check_output_folder
    from clinrag.synth import write_synthetic_cohort

    check_output_folder(out_dir, "--out", overwrite, marks=("documents.jsonl",))
    cohort = write_synthetic_cohort(out_dir, patients, seed=seed, overwrite=overwrite)
    out.print(
        f"wrote {out_dir}: {len(cohort.patients)} patients, {len(cohort.documents)} documents, "
        f"{len(cohort.evidence)} evidence spans, {len(cohort.phi)} identifier spans (seed {seed})",
        markup=False,
    )
