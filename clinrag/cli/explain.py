"""`clinrag explain`: why a cell of a run has its value (passage, document, date, other candidates)."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import app, out


@app.command("explain")
def explain_command(
    run_dir: Path = typer.Option(
        ..., "--run", help="A run folder (`clinrag run`) or the output folder of `clinrag fill`."
    ),
    patient: str = typer.Option(..., "--patient", help="The patient id."),
    variable: str = typer.Option(..., "--variable", help="The variable name."),
    cohort_dir: Path | None = typer.Option(
        None,
        "--cohort",
        help="The cohort to read documents and table values from (default: the one the run's manifest.json "
        "names).",
    ),
) -> None:
    """Explain one cell of a run: its value and score, how the reader decided, the reference value when the
    table has one, the supporting passage (quote, document, type, date, section) and the other candidate values
    with their scores.

    This prints patient text (the supporting passage) on purpose: run it where patient text may be shown."""
    from clinrag.experiment.explain import explain_cell, explanation_lines

    explanation = explain_cell(run_dir, patient, variable, cohort_dir)
    for line in explanation_lines(explanation):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
