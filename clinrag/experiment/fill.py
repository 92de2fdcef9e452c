"""``clinrag fill``: apply a trained run to patients without values, writing the filled table with provenance.

The run folder gives the settings (config.yaml) and the trained components (models/retriever, models/encoder,
models/adapter, models/merged); the cohort gives the documents. Outputs: ``predictions.csv`` (the filled patients),
``table.csv`` (the cohort's known rows kept as they are, plus the filled rows), ``provenance.jsonl``,
``metrics.json`` when the filled patients have known values (e.g. ``--patients test``), and ``report.html``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from clinrag.data.cohort import Cohort, table_to_csv
from clinrag.errors import ClinragError
from clinrag.experiment.config import ExperimentConfig, load_experiment
from clinrag.experiment.transfer import Transfer, match_variables, run_variables, translate_results
from clinrag.io import atomic_write_json, atomic_write_jsonl, atomic_write_text


def trained_config(run_dir: Path) -> tuple[ExperimentConfig, list[str]]:
    """A run's config with its trained components filled in, and the columns it predicts.

    Raises:
        ClinragError: Not a run folder, a trained component it needs is missing, or a model folder it reads
            cannot be loaded.
    """
    from clinrag.generation.base import reader_class
    from clinrag.retrieval.base import retriever_from_run

    config_file = run_dir / "config.yaml"
    predictions = run_dir / "predictions.csv"
    if not config_file.is_file() or not predictions.is_file():
        raise ClinragError(
            f"{run_dir}: not a run folder (no config.yaml or predictions.csv; see `clinrag run`)"
        )
    config = load_experiment(config_file)
    with predictions.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    columns = header[1:]
    models = run_dir / "models"

    update: dict[str, Any] = {"retriever": retriever_from_run(config.retriever, models, config.training)}
    reader = config.reader
    if config.merge:  # the run read with the model its merge recipe built
        if not (models / "merged").is_dir():
            raise ClinragError(
                f"{run_dir}: models/merged is missing (the model the run's merge recipe built)"
            )
        reader = reader.model_copy(update={"model": str(models / "merged")})
    own = getattr(reader_class(config.reader.type), "from_run", None)
    if own is not None:  # a reader with a trained folder of its own in the run's models/ (segment_bilstm)
        reader = own(reader, models, config.training.reader == "lora")
    if config.reader.type == "llm" and config.training.reader == "lora":
        if (models / "adapter").is_dir():
            reader = reader.model_copy(update={"adapter": str(models / "adapter")})
        elif _decoder_reads(config, run_dir):
            raise ClinragError(f"{run_dir}: models/adapter is missing (the run's LoRA adapters)")
    if reader is not config.reader:
        update["reader"] = reader
    trained = config.model_copy(update=update)
    trained.check_models()  # before the cohort is read and indexed
    return trained, columns


def _decoder_reads(config: ExperimentConfig, run_dir: Path) -> bool:
    """Whether the run's decoder answers some of its variables (else the run tuned no adapter)."""
    from clinrag.generation.reader import decoder_variables

    variables = run_variables(run_dir)
    return variables is None or bool(decoder_variables(config.reader, variables))


def _model_hashes(config: ExperimentConfig, run_dir: Path, cache: Any) -> dict[str, str]:
    """Content hashes of the folders whose weights a fill reads (the run's ``models/``, the decoder, the
    retrievers' encoders), so that a model changed in place is read anew rather than served from the cache."""
    from clinrag.generation.decoder import resolve_decoder_path
    from clinrag.models import resolve_model_path
    from clinrag.retrieval.base import walk_retrievers

    hashes: dict[str, str] = {}
    if (run_dir / "models").is_dir():
        hashes["run"] = cache.folder_hash(run_dir / "models")
    if getattr(config.reader, "identity", None) is None:  # not a model behind a server (named in the config)
        hashes["reader.model"] = cache.folder_hash(resolve_decoder_path(config.reader.model))
    for path, section in walk_retrievers(config.retriever):
        for name in ("encoder", "model"):
            spec = getattr(section, name, None)
            if isinstance(spec, str):
                hashes[f"{path}.{name}"] = cache.folder_hash(resolve_model_path(spec))
    return hashes


def cohort_transfers(
    cohort: Cohort, columns: list[str], run_dir: Path, cohort_dir: Path
) -> tuple[list[Transfer], list[str]]:
    """The cohort's variables the run fills (:mod:`clinrag.experiment.transfer`), and those it cannot.

    A run folder written before runs saved their variables is matched by name, with the cohort's definitions.
    """
    run = run_variables(run_dir)
    if run is None:
        run = [v for v in cohort.variables if v.name in columns]
    return match_variables(cohort, run, columns, cohort_dir)


def fill_table(
    cohort_dir: str | Path,
    run_dir: str | Path,
    out: str | Path,
    patients: str = "unlabeled",
    progress: bool = True,
    with_text: bool = False,
    engine: Any = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Fill the chosen patients' cells with a trained run (see the module docstring).

    ``with_text`` embeds patient text in report.html (``clinrag fill --with-text``); the run's own
    ``report.with_text`` is not inherited (config.yaml does not hold it). The other files do not depend on it.

    The patients are read in chunks of whole patients (about ``cell_batch`` cells each) by ``engine``
    (:func:`clinrag.experiment.engine.open_engine`: this process by default, or Ray workers), each chunk kept in
    the stage cache (``cache_dir``, default ``$CLINRAG_CACHE_DIR/runs``) as soon as it is read: a fill killed at
    any point resumes at its first missing chunk, and every engine writes the same files.

    Returns:
        A summary: patients, cells, documented, failed, and the metrics when the patients have known values.

    Raises:
        ClinragError: Bad run folder or cohort, no patient to fill, a variable the cohort lacks.
    """
    from clinrag.config import RetrievalSettings
    from clinrag.data.validate import load_cohort
    from clinrag.evaluation import BootstrapSpec, evaluate_table
    from clinrag.evaluation.report import write_report
    from clinrag.experiment.cache import Cache, default_cache_dir
    from clinrag.experiment.engine import ReadingJob, patient_chunks, read_chunks
    from clinrag.generation.base import Learned, reader_class
    from clinrag.generation.pipeline import load_learned, provenance_records, rows_of
    from clinrag.generation.reader import retrieval_depth
    from clinrag.text.passages import build_passages

    cohort_dir, run_dir, out = Path(cohort_dir), Path(run_dir), Path(out)
    # model folders by absolute paths: the Ray workers do not share this process's working directory
    config, columns = trained_config(run_dir.resolve())
    if engine is not None:
        engine.check_devices(config.reader, config.retriever)
    cohort = load_cohort(cohort_dir)
    transfers, missing = cohort_transfers(cohort, columns, run_dir, cohort_dir)
    if not transfers:
        raise ClinragError(
            f"{cohort_dir}/variables.yaml: no variable the run can fill (the run reads {', '.join(columns)})"
        )
    chosen = cohort.select_patients(patients)
    if not chosen:
        raise ClinragError(f"{cohort_dir}: no {patients} patient to fill")
    variables = [t.internal for t in transfers]
    columns = [t.target.name for t in transfers]
    priors_dir = run_dir / "models" / "priors"
    # learned on the run's train split, keyed by its variables (the cohort's are read as those)
    learned = load_learned(priors_dir) if priors_dir.is_dir() else Learned()
    settings = store = None
    if reader_class(config.reader.type).needs_retrieval:
        settings = RetrievalSettings(
            chunking=config.chunking, retriever=config.retriever, retrieval=config.retrieval
        )
        store = build_passages(cohort, settings.chunking, progress=progress)
    cache = Cache(cache_dir or default_cache_dir())
    units = patient_chunks(chosen, len(variables), config.cell_batch)
    payload = {
        "cohort": cohort.fingerprint(),
        "config": config.model_dump(mode="json"),
        "models": _model_hashes(config, run_dir, cache),
        "variables": [v.model_dump(mode="json") for v in variables],
        "patients": chosen,
        "cell_batch": config.cell_batch,
    }
    k = config.retrieval.k
    depth = retrieval_depth(config.reader, k)
    results, _ = read_chunks(
        cache.path("fill", cache.key("fill", payload)),
        [("patients", unit) for unit in units],
        lambda: ReadingJob(config.reader, cohort, learned, variables, settings, store, k, depth),
        engine,
        progress,
        stage="fill",
    )
    results = translate_results(results, transfers)
    rows = rows_of(results)
    provenance = provenance_records(cohort, results)
    known = cohort.table or {}
    filled = {pid: dict(row) for pid, row in known.items()}
    for pid, row in rows.items():
        if pid not in known:
            filled[pid] = row
    atomic_write_text(out / "predictions.csv", table_to_csv(columns, sorted(rows.items())))
    atomic_write_text(out / "table.csv", table_to_csv(columns, sorted(filled.items())))
    atomic_write_jsonl(out / "provenance.jsonl", provenance)
    metrics: dict[str, Any] = {}
    scored = [pid for pid in chosen if pid in known]
    if scored and patients in ("train", "dev", "test"):
        # scored on the columns the cohort's table knows (a table may hold only some of the run's variables)
        scored_columns = [c for c in columns if c in cohort.table_columns]
        metrics = evaluate_table(
            cohort,
            rows,
            patients,
            BootstrapSpec(config.evaluation.bootstrap, seed=config.evaluation.seed),
            scored_columns,
        )
        atomic_write_json(out / "metrics.json", metrics)
    manifest = {
        "clinrag_component": "fill",
        "run": str(run_dir.resolve()),
        "cohort": {"path": str(cohort_dir.resolve()), "sha256": cohort.fingerprint()},
        "patients": patients,
        "variables": {
            t.target.name: {
                "run_variable": t.internal.name,
                "matched_by": t.how,
                **({"values_not_read": t.unread} if t.unread else {}),
            }
            for t in transfers
        },
        "not_filled": missing,
    }
    atomic_write_json(out / "manifest.json", manifest)
    write_report(
        out / "report.html",
        cohort,
        rows,
        provenance,
        metrics,
        config.model_dump(mode="json") | {"report": {"with_text": with_text}},
        manifest,
        title=f"clinrag fill — {config.name}",
        with_text=with_text,
        passages=store.passages if store is not None else None,
    )
    return {
        "patients": len(chosen),
        "cells": len(results),
        "documented": sum(1 for r in results if r.cell),
        "failed": sum(1 for r in results if r.failed),
        "metrics": metrics,
        "variables": manifest["variables"],
        "not_filled": missing,
    }
