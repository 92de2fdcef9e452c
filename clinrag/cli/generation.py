"""Reader commands: LoRA-tune the reader, fill cells."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import (
    PIPELINE_CONFIG,
    QUIET_OPTION,
    SET_OPTION,
    Patients,
    app,
    cohort_inputs,
    out,
    pipeline_settings,
)


@app.command("train-reader")
def train_reader_command(
    cohort_dir: Path = typer.Option(
        ..., "--cohort", help="The cohort directory (its table's train split is used)."
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder to write the LoRA adapter to (a standard peft folder)."
    ),
    config_file: Path | None = PIPELINE_CONFIG,
    overrides: list[str] | None = SET_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """LoRA-tune the reader from the table alone: (variable, passages retrieved for a train patient, table value
    or "non documenté") pairs. Settings: reader.model, reader.lora.*, retriever.*, retrieval.k."""
    from clinrag.generation.pipeline import ADAPTER_MARKS, train_reader
    from clinrag.io import check_output_folder

    check_output_folder(
        out_dir, "--out", inputs=cohort_inputs(cohort_dir), marks=ADAPTER_MARKS
    )  # before the settings
    settings = pipeline_settings(config_file, overrides)
    pairs, loss = train_reader(cohort_dir, out_dir, settings, progress=not quiet)
    out.print(f"LoRA adapter trained on {pairs} pairs, final loss {loss:.4f}: {out_dir}", markup=False)


@app.command("extract")
def extract_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for predictions.csv and provenance.jsonl."),
    patients: Patients = typer.Option(
        Patients.UNLABELED, "--patients", help="Patients to fill (unlabeled: those without a table row)."
    ),
    config_file: Path | None = PIPELINE_CONFIG,
    overrides: list[str] | None = SET_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Fill the table: every value with its supporting passage, document and date, or "not documented"."""
    from clinrag.generation.pipeline import EXTRACTED_MARKS, extract_table
    from clinrag.io import check_output_folder

    check_output_folder(
        out_dir, "--out", inputs=cohort_inputs(cohort_dir), marks=EXTRACTED_MARKS
    )  # before the settings
    settings = pipeline_settings(config_file, overrides)
    filled = extract_table(cohort_dir, out_dir, settings, patients.value, progress=not quiet)
    out.print(
        f"filled {filled.cells} cells of {filled.patients} patients ({filled.documented} documented, "
        f"{filled.failed} failed answers): {out_dir}/predictions.csv, provenance.jsonl",
        markup=False,
    )
