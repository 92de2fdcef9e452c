"""Retrieval commands: index, retrieve, train and score a retriever."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import (
    CONFIG_OPTION,
    QUIET_OPTION,
    RETRIEVER_HELP,
    SET_OPTION,
    Split,
    TrainableRetriever,
    app,
    cohort_inputs,
    out,
    retrieval_settings,
)
from clinrag.errors import ClinragError


@app.command("index")
def index_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory."),
    out_dir: Path = typer.Option(..., "--out", help="Index folder to write (absent or empty)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a non-empty index folder (none of its files is kept)."
    ),
    retriever: str | None = typer.Option(None, "--retriever", help=RETRIEVER_HELP),
    config_file: Path | None = CONFIG_OPTION,
    overrides: list[str] | None = SET_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Cut a cohort into passages and index them; `clinrag retrieve --index` reuses the folder."""
    from clinrag.data.validate import load_cohort
    from clinrag.io import check_output_folder
    from clinrag.retrieval.base import check_ready
    from clinrag.retrieval.pipeline import build_index

    check_output_folder(out_dir, "--out", overwrite, inputs=cohort_inputs(cohort_dir), marks=("index.json",))
    settings = retrieval_settings(config_file, retriever, overrides)
    check_ready(settings.retriever)  # before the cohort is read and indexed
    cohort = load_cohort(cohort_dir)
    store = build_index(out_dir, settings, cohort, progress=not quiet, overwrite=overwrite)
    out.print(
        f"indexed {len(store)} passages of {len(cohort.patients)} patients with {settings.retriever.type}: {out_dir}",
        markup=False,
    )


@app.command("retrieve")
def retrieve_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory."),
    patient: str = typer.Option(..., "--patient", help="The patient id."),
    variable: str = typer.Option(..., "--variable", help="The variable name."),
    index_dir: Path | None = typer.Option(
        None, "--index", help="An index folder from `clinrag index` (else indexed now)."
    ),
    retriever: str | None = typer.Option(None, "--retriever", help=f"{RETRIEVER_HELP} Without --index."),
    k: int | None = typer.Option(None, "-k", min=1, help="Passages to show (default retrieval.k)."),
    config_file: Path | None = CONFIG_OPTION,
    overrides: list[str] | None = SET_OPTION,
) -> None:
    """Print a patient's top passages for a variable, with date, document and the variable's terms highlighted.

    This prints document text on purpose: run it where patient text may be shown."""
    from clinrag.data.validate import load_cohort
    from clinrag.evaluation.display import passages_markup
    from clinrag.retrieval.pipeline import search_passages

    cohort = load_cohort(cohort_dir)
    try:
        var = cohort.variable(variable)
    except KeyError:
        raise ClinragError(
            f"--variable: unknown variable '{variable}' (known: {', '.join(v.name for v in cohort.variables)})"
        ) from None
    if patient not in cohort.patients:
        raise ClinragError(f"--patient: unknown patient '{patient}'")
    settings = None if index_dir is not None else retrieval_settings(config_file, retriever, overrides)
    search = search_passages(cohort, patient, var, k, settings, index_dir)
    for line in passages_markup(search):
        out.print(line)


@app.command("train-retriever")
def train_retriever_command(
    cohort_dir: Path = typer.Option(
        ..., "--cohort", help="The cohort directory (its table's train split is used)."
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder to write the trained retriever (or dense encoder) to."
    ),
    kind: TrainableRetriever = typer.Option(
        TrainableRetriever.TEMPORAL,
        "--type",
        help="temporal (the temporal retriever) or dense (fine-tune the encoder).",
    ),
    config_file: Path | None = CONFIG_OPTION,
    overrides: list[str] | None = SET_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Train a retriever from the table values alone (distant supervision; gold evidence is never read).

    Early stopping uses the dev split's weak labels. Settings come from the retriever section
    (retriever.train.epochs, retriever.hidden, retriever.encoder, ...)."""
    from clinrag.data.validate import load_cohort
    from clinrag.io import check_output_folder
    from clinrag.retrieval.pipeline import train_retriever

    check_output_folder(out_dir, "--out", inputs=cohort_inputs(cohort_dir), marks=("config.json",))
    settings = retrieval_settings(
        config_file, None, [*([] if config_file else [f"retriever.type={kind}"]), *(overrides or [])]
    )
    if settings.retriever.type != kind:
        raise ClinragError(f"--type {kind} but the settings' retriever.type is {settings.retriever.type}")
    trained = train_retriever(settings, load_cohort(cohort_dir), out_dir, progress=not quiet)
    out.print(
        f"trained {kind} retriever for {len(trained.history)} epochs "
        f"(best dev weak-label recall@5 {trained.best_dev_recall:.3f}): {out_dir}",
        markup=False,
    )


@app.command("evaluate-retrieval")
def evaluate_retrieval_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory (needs evidence.jsonl)."),
    retriever: str | None = typer.Option(None, "--retriever", help=RETRIEVER_HELP),
    split: Split = typer.Option(Split.TEST, "--split", help="Patients of the table to score."),
    out_file: Path | None = typer.Option(None, "--out", help='Write {"retrieval": metrics} as JSON here.'),
    config_file: Path | None = CONFIG_OPTION,
    overrides: list[str] | None = SET_OPTION,
    n_resamples: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap resamples of patients."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Score a retriever against gold evidence: recall@k and MRR per variable and overall, 95% intervals."""
    from clinrag.data.validate import load_cohort
    from clinrag.evaluation import BootstrapSpec
    from clinrag.evaluation.display import retrieval_table
    from clinrag.io import atomic_write_json, check_output_file
    from clinrag.retrieval.pipeline import evaluate_retrieval

    if out_file is not None:
        check_output_file(out_file, "--out", inputs=cohort_inputs(cohort_dir))
    settings = retrieval_settings(config_file, retriever, overrides)
    cohort = load_cohort(cohort_dir)
    metrics = evaluate_retrieval(
        settings, cohort, split.value, BootstrapSpec(n_resamples), progress=not quiet
    )
    out.print(retrieval_table(metrics))
    if out_file is not None:
        atomic_write_json(out_file, {"retrieval": metrics})
        out.print(f"retrieval metrics written to {out_file}", markup=False)
