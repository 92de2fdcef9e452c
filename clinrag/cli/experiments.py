"""Experiment commands: a run, a grid, a merge, filling a table from a trained run."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import (
    ADDRESS_OPTION,
    ENGINE_OPTION,
    GPUS_OPTION,
    QUIET_OPTION,
    WITH_TEXT_OPTION,
    WORKERS_OPTION,
    EngineName,
    Patients,
    app,
    engine_spec,
    err,
    out,
)


def _log(message: str) -> None:
    err.print(message, markup=False, soft_wrap=True)


@app.command("run")
def run_command(
    config_file: Path = typer.Argument(
        ..., help="Experiment YAML (configs/default.yaml, configs/server.yaml)."
    ),
    overrides: list[str] | None = typer.Argument(
        None, help="Dotted overrides: retriever.type=bm25 retrieval.k=5 reader.lora.epochs=2."
    ),
    cohort_dir: Path | None = typer.Option(None, "--cohort", help="The cohort folder (else the config's)."),
    out_dir: Path = typer.Option(Path("runs/run"), "--out", help="The run folder to write (Contract 3)."),
    cache_dir: Path | None = typer.Option(
        None, "--cache", help="Stage cache (default $CLINRAG_CACHE_DIR/runs, ~/.cache/clinrag/runs)."
    ),
    with_text: bool = WITH_TEXT_OPTION,
    engine: EngineName = ENGINE_OPTION,
    address: str | None = ADDRESS_OPTION,
    workers: int | None = WORKERS_OPTION,
    gpus_per_worker: float = GPUS_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Run one experiment: train on the train split, score the evaluated split, write the run folder.

    Every stage is cached by content: a run started again (after a crash or a kill) resumes where it stopped,
    and gives the same files. The ray engine reads the evaluated cells on Ray workers (the same files)."""
    from clinrag.experiment.config import load_experiment
    from clinrag.experiment.engine import open_engine
    from clinrag.experiment.runner import run_experiment
    from clinrag.io import check_cache_folder, check_output_folder

    spec = engine_spec(engine, address, workers, gpus_per_worker)

    config = load_experiment(
        config_file, [*(overrides or []), *(["report.with_text=true"] if with_text else [])]
    )
    check_output_folder(
        out_dir,
        "--out",
        inputs={"the cohort": cohort_dir or config.cohort.path},
        marks=("manifest.json", "config.yaml"),
    )
    check_cache_folder(cache_dir)
    with open_engine(spec, _log) as reading:
        reading.check_devices(config.reader)  # retrieval runs here: only the reader on the workers
        result = run_experiment(config, out_dir, cohort_dir, cache_dir, progress=not quiet, engine=reading)
    overall = result.metrics["overall"]
    low, high = overall["accuracy_ci"]
    out.print(
        f"{config.name}: accuracy {overall['accuracy']:.3f} [{low:.3f}, {high:.3f}] on {overall['n']} "
        f"{result.metrics['split']} cells; report: {result.run_dir / 'report.html'}",
        markup=False,
    )


@app.command("grid")
def grid_command(
    config_file: Path = typer.Argument(..., help="The base experiment YAML."),
    overrides: list[str] | None = typer.Argument(None, help="Dotted overrides applied to every combination."),
    axes: list[str] = typer.Option(
        ..., "--axis", help="An axis, repeatable: --axis retriever.type=bm25,temporal --axis retrieval.k=3,5."
    ),
    out_dir: Path = typer.Option(Path("runs/grid"), "--out", help="The grid folder."),
    cohort_dir: Path | None = typer.Option(None, "--cohort", help="The cohort folder (else the config's)."),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="Reference combination label, e.g. 'retriever.type=temporal retrieval.k=3' (default: the first).",
    ),
    cache_dir: Path | None = typer.Option(None, "--cache", help="Stage cache shared by the runs."),
    with_text: bool = WITH_TEXT_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Run every combination of the axes (resumable), then a results table (Markdown, CSV, LaTeX) with 95%
    intervals and paired bootstrap tests against the reference, and a figure (PNG)."""
    from clinrag.experiment.grid import run_grid
    from clinrag.io import check_cache_folder, check_output_folder

    check_output_folder(out_dir, "--out", inputs={"the cohort": cohort_dir})
    check_cache_folder(cache_dir)
    if with_text:
        overrides = [*(overrides or []), "report.with_text=true"]
    summary = run_grid(
        config_file, axes, out_dir, overrides, cohort_dir, cache_dir, reference, progress=not quiet
    )
    out.print((out_dir / "results.md").read_text(encoding="utf-8"), markup=False)
    out.print(
        f"{len(summary['rows'])} runs; tables: {out_dir}/results.md, results.csv, results.tex; figure: {out_dir}/results.png",
        markup=False,
    )


@app.command("merge")
def merge_command(
    recipe_file: Path = typer.Argument(
        ...,
        help="A merge recipe in mergekit's YAML format (merge_method, base_model, models with parameters, dtype); "
        "models are folders, embedded:NAME or MODEL+ADAPTER (a LoRA adapter folder applied to MODEL).",
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="The merged model folder to write (must be empty or absent)."
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Seed of randomized methods (DARE's drops); default the recipe's random_seed, else 0.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Merge models with mergekit (linear, task_arithmetic, ties, dare_ties, dare_linear, ...) into a model folder
    that loads as a decoder (reader.model), recording the recipe, its inputs' hashes and the versions used.

    Inputs of different architectures, shapes or vocabularies are refused before any weight is read."""
    from clinrag.io import check_output_folder
    from clinrag.merging import build_merge, load_recipe

    check_output_folder(out_dir, "--out", overwrite, marks=("clinrag_merge.json",))
    recipe = load_recipe(recipe_file, seed=seed)
    folder = build_merge(recipe, out_dir, overwrite=overwrite, progress=not quiet)
    out.print(
        f"merged {len(recipe.inputs)} input(s) with {recipe.method} (seed {recipe.seed}) into {folder}; "
        f"recipe sha256 {recipe.sha256()[:12]}",
        markup=False,
    )


@app.command("fill")
def fill_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort whose patients to fill."),
    run_dir: Path = typer.Option(..., "--run", help="A run folder from `clinrag run` (its trained models)."),
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder for table.csv, predictions.csv, provenance.jsonl."
    ),
    patients: Patients = typer.Option(
        Patients.UNLABELED, "--patients", help="Patients to fill (unlabeled: those without a table row)."
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache", help="Stage cache (default $CLINRAG_CACHE_DIR/runs): a killed fill resumes from it."
    ),
    with_text: bool = WITH_TEXT_OPTION,
    engine: EngineName = ENGINE_OPTION,
    address: str | None = ADDRESS_OPTION,
    workers: int | None = WORKERS_OPTION,
    gpus_per_worker: float = GPUS_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Apply a trained run to patients without values: the filled table, every value with its evidence.

    Patients are read in chunks kept in the stage cache: a fill started again resumes where it stopped.
    The ray engine reads them on Ray workers (the same files)."""
    from clinrag.experiment.engine import open_engine
    from clinrag.experiment.fill import fill_table
    from clinrag.io import check_cache_folder, check_output_folder

    spec = engine_spec(engine, address, workers, gpus_per_worker)
    check_output_folder(
        out_dir,
        "--out",
        inputs={"the cohort": cohort_dir, "the run": run_dir},
        marks=("manifest.json", "predictions.csv"),
    )
    check_cache_folder(cache_dir)
    with open_engine(spec, _log) as reading:
        summary = fill_table(
            cohort_dir,
            run_dir,
            out_dir,
            patients.value,
            progress=not quiet,
            with_text=with_text,
            engine=reading,
            cache_dir=cache_dir,
        )
    scored = ""
    if summary["metrics"]:
        overall = summary["metrics"]["overall"]
        scored = f"; accuracy against the known values {overall['accuracy']:.3f} {overall['accuracy_ci']}"
    out.print(
        f"filled {summary['cells']} cells of {summary['patients']} patients ({summary['documented']} documented, "
        f"{summary['failed']} failed answers){scored}: {out_dir}/table.csv, predictions.csv, provenance.jsonl, report.html",
        markup=False,
    )
    renamed = [
        f"{name} as {v['run_variable']}"
        for name, v in summary["variables"].items()
        if v["matched_by"] != "name"
    ]
    if renamed:
        out.print(f"read by concept: {', '.join(renamed)}", markup=False)
    if summary["not_filled"]:
        out.print(
            f"not filled (no matching variable in the run): {', '.join(summary['not_filled'])}", markup=False
        )
