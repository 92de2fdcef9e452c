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
from clinrag.errors import ClinragError


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
    from clinrag.data.validate import load_cohort
    from clinrag.generation.base import build_reader
    from clinrag.generation.lora import train_lora, training_pairs
    from clinrag.io import check_output_folder
    from clinrag.retrieval.base import check_ready
    from clinrag.retrieval.pipeline import prepare_retrieval

    check_output_folder(
        out_dir,
        "--out",
        inputs=cohort_inputs(cohort_dir),
        marks=("adapter_config.json", "clinrag_reader.json"),
    )
    settings = pipeline_settings(config_file, overrides)
    check_ready(settings.retriever)  # the passages come from it: before any reading
    if settings.reader.type != "llm":
        raise ClinragError("reader.type: only the llm (RAG) reader is LoRA-tuned")
    cohort = load_cohort(cohort_dir)
    if cohort.table is None:
        raise ClinragError(f"{cohort_dir}/table.csv: missing; training needs table values")
    store, retriever = prepare_retrieval(settings, cohort, progress=not quiet)
    pairs = training_pairs(
        cohort, store, retriever, cohort.split_patients("train"), settings.retrieval.k, progress=not quiet
    )
    if not pairs:
        raise ClinragError(f"{cohort_dir}: no patient in the train split")
    reader = build_reader(settings.reader)
    history = train_lora(reader, pairs, settings.reader.lora, out_dir, progress=not quiet)
    out.print(
        f"LoRA adapter trained on {len(pairs) if settings.reader.lora.max_pairs is None else min(len(pairs), settings.reader.lora.max_pairs)} pairs, final loss {history[-1]['loss']:.4f}: {out_dir}",
        markup=False,
    )


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
    from clinrag.data.validate import load_cohort
    from clinrag.generation.base import build_reader, reader_class
    from clinrag.generation.pipeline import fill_cells, write_predictions
    from clinrag.generation.reader import retrieval_depth
    from clinrag.io import check_output_folder
    from clinrag.retrieval.base import check_ready
    from clinrag.retrieval.pipeline import prepare_retrieval

    check_output_folder(
        out_dir, "--out", inputs=cohort_inputs(cohort_dir), marks=("predictions.csv", "provenance.jsonl")
    )
    settings = pipeline_settings(config_file, overrides)
    cohort = load_cohort(cohort_dir)
    chosen = cohort.select_patients(patients.value)
    if not chosen:
        raise ClinragError(f"{cohort_dir}: no {patients} patient to fill")
    if reader_class(settings.reader.type).needs_retrieval:
        check_ready(settings.retriever)  # before the decoder is loaded and the cohort indexed
    columns = cohort.table_columns or [v.name for v in cohort.variables]
    variables = [cohort.variable(n) for n in columns]
    reader = build_reader(settings.reader)
    store = retriever = None
    if reader.needs_retrieval:
        store, retriever = prepare_retrieval(settings, cohort, progress=not quiet)
    k = settings.retrieval.k
    results = fill_cells(
        cohort, chosen, variables, reader, store, retriever, k, not quiet, retrieval_depth(settings.reader, k)
    )
    write_predictions(out_dir, cohort, results, columns)
    failed = sum(1 for r in results if r.failed)
    documented = sum(1 for r in results if r.cell)
    out.print(
        f"filled {len(results)} cells of {len(chosen)} patients ({documented} documented, {failed} failed answers): {out_dir}/predictions.csv, provenance.jsonl",
        markup=False,
    )
