"""``clinrag run``: one config in, a full experiment out (Contract 3 of ../shared/DESIGN.md).

The run is the list of stages :data:`clinrag.experiment.stages.STAGES`, in order: the cohort (with each
variable's vocabulary), the merge of a ``merge`` recipe, retrieval (the retriever prepared — trained into the cache
where it learns — and the top passages of every cell read), the reader's LoRA adapters, what the train table
decides without the decoder (priors), and the generations, read in fixed chunks so that a killed run resumes. Each
stage declares what it reads and writes on the :class:`Run`, and its cache key: its inputs' hashes, the settings it
reads and the version of the code that computes it (:mod:`clinrag.experiment.cache`).

Then the run folder: predictions.csv, provenance.jsonl, metrics.json, config.yaml, manifest.json, report.html,
vocabulary.json, variables.yaml and models/ (the trained retriever and adapter, the priors, and the merged decoder
of a ``merge`` recipe, which ``clinrag fill`` applies to new patients). Every file is written atomically. Logs name
stages, counts and keys, never document text or identifiers.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.experiment.cache import Cache, default_cache_dir
from clinrag.experiment.config import ExperimentConfig, dump_experiment
from clinrag.io import atomic_folder, atomic_write_json, atomic_write_jsonl, atomic_write_text
from clinrag.text.passages import PassageStore


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class RunResult:
    """What a run produced: its folder, metrics, and each stage's timing and cache status."""

    run_dir: Path
    metrics: dict[str, Any]
    stages: list[dict[str, Any]] = field(default_factory=list)


class Run:
    """One experiment run (see the module docstring); :func:`run_experiment` is the entry point."""

    def __init__(
        self,
        config: ExperimentConfig,
        out: str | Path,
        cohort_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        progress: bool = True,
        log: Callable[[str], None] = _log_stderr,
        engine: Any = None,
    ):
        self.config = config
        self.original_config = config  # as given: `config` gets the trained folders filled in
        self.out = Path(out)
        self.cohort_dir = (
            Path(cohort_dir) if cohort_dir else (Path(config.cohort.path) if config.cohort.path else None)
        )
        self.cache = Cache(cache_dir or default_cache_dir())
        self.progress = progress
        self.log = log
        self.engine = engine  # where the generations are read (clinrag.experiment.engine; None: this process)
        self.stages: list[dict[str, Any]] = []
        self.keys: dict[str, str] = {}
        self.model_hashes: dict[str, dict[str, str]] = {}
        self.trained: dict[str, Path] = {}
        self.merge_record: dict[str, Any] | None = None
        self.vocabulary = None  # clinrag.text.vocabulary.Vocabulary, built with the cohort
        self.priors: dict = {}  # variable -> clinrag.generation.priors.Prior (reader.unmentioned: prior)
        self.boolean_model = None  # clinrag.generation.priors.BooleanModel (reader.booleans: qualifiers)
        self.value_model = None  # clinrag.generation.candidates.ValueModel (reader.values: candidates)
        self.weak_evidence: dict | None = (
            None  # {patient: {variable: passage index | None}}, lora.weak_evidence
        )
        # what the stages set (clinrag.experiment.stages: each declares what it reads and writes)
        self.cohort: Cohort | None = None
        self.cohort_source: dict[str, Any] = {}
        self.cohort_hash = ""
        self.variables: list[Variable] = []
        self.evaluated: list[str] = []
        self.store: PassageStore | None = None
        self.hits: dict = {}
        self.retrieval_metrics: dict | None = None
        self.results: list = []

    # ---- helpers --------------------------------------------------------------------------------------------
    def _stage(self, name: str, key: str, cached: bool, seconds: float, detail: str = "") -> None:
        self.keys[name] = key
        self.stages.append({"stage": name, "key": key, "cached": cached, "seconds": round(seconds, 2)})
        status = "cached" if cached else f"{seconds:.1f} s"
        self.log(f"[{name}] {status}{' — ' + detail if detail else ''} (key {key[:12]})")

    def _model_hash(self, role: str, spec: str, path: Path) -> str:
        digest = self.cache.folder_hash(path)
        self.model_hashes[role] = {"spec": spec, "path": str(path), "sha256": digest}
        return digest

    def reader_identity(self) -> dict[str, Any]:
        """What the reader's answers depend on, besides its inputs (decoder, adapter, settings; for a model
        behind a server, :meth:`~clinrag.generation.server.ServerReaderConfig.identity`)."""
        from clinrag.generation.decoder import resolve_decoder_path

        reader = self.config.reader
        served = getattr(reader, "identity", None)
        if (
            served is not None
        ):  # a model behind an inference server (reader.type server): its name, not a hash
            self.model_hashes["decoder"] = {"spec": f"server:{reader.model}", "revision": reader.revision}
            return served()
        from clinrag.generation.base import reader_class

        if hasattr(reader_class(reader.type), "trained_name"):  # a trained folder of its own (segment_bilstm)
            return {
                "model": self._model_hash("reader", reader.path, Path(reader.path)),
                "settings": reader.model_dump(exclude={"path", "device", "threads", "train"}),
            }
        decoder = resolve_decoder_path(reader.model)
        identity = {
            "model": self._model_hash("decoder", reader.model, decoder),
            "settings": reader.model_dump(exclude={"model", "adapter", "lora", "device"}),
        }
        if reader.adapter:
            identity["adapter"] = self._model_hash("adapter", reader.adapter, Path(reader.adapter))
        return identity

    def request(self, pid: str, var: Variable, k: int):
        """The cell (pid, var) with the passages the retrieval stage found for it: the top ``k`` for the decoder,
        all of them for the candidate model."""
        from clinrag.generation.pipeline import cell_requests

        return cell_requests([(pid, var)], self.store, self.found, k)[0]

    def found(self, pid: str, var: Variable) -> list[int]:
        """The passages the retrieval stage found for the cell (pid, var): indices in ``store``, best first."""
        return [int(index) for index, _ in self.hits[pid][var.name]]

    def load_cohort(self) -> Cohort:
        """Run the cohort stage alone (the cohort, its vocabulary, the evaluated variables and patients)."""
        from clinrag.experiment.stages import CohortStage

        CohortStage().execute(self)
        return self.cohort

    # ---- the whole run ------------------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        from clinrag.baselines import MajorityBaseline
        from clinrag.data.cohort import table_to_csv, variables_to_yaml
        from clinrag.evaluation import BootstrapSpec, evaluate_table
        from clinrag.experiment.stages import STAGES
        from clinrag.generation.pipeline import provenance_records, rows_of

        started = time.time()
        self._check_out_dir()
        # a bad input is refused now, not after the stages before the one that reads it (minutes of training)
        self.config.check_inputs(self.cohort_dir)
        for stage in STAGES:
            if stage.wanted(self):
                stage.execute(self)
        cohort, variables, evaluated, results = self.cohort, self.variables, self.evaluated, self.results
        self.variable_types = {v.name: v.type for v in variables}
        config = self.config
        split = config.evaluation.split
        retrieval_metrics = self.retrieval_metrics
        columns = [v.name for v in variables]
        rows = rows_of(results)
        spec = BootstrapSpec(config.evaluation.bootstrap, seed=config.evaluation.seed)
        metrics = evaluate_table(cohort, rows, split, spec, columns)
        if retrieval_metrics is not None:
            metrics["retrieval"] = retrieval_metrics
        baselines = {}
        if "majority" in config.evaluation.baselines:
            majority = evaluate_table(
                cohort, MajorityBaseline().fit(cohort).predict(evaluated), split, spec, columns
            )
            baselines["majority"] = {k: majority["overall"][k] for k in ("accuracy", "accuracy_ci", "n")}
        if baselines:
            metrics["baselines"] = baselines
        metrics["reader"] = {
            "cells": len(results),
            "failed": sum(1 for r in results if r.failed),
            "documented": sum(1 for r in results if r.cell),
            "prompt_tokens_per_cell": round(sum(r.tokens for r in results) / max(1, len(results)), 1),
        }
        provenance = provenance_records(cohort, results)
        out = self.out
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", dump_experiment(self.original_config))
        self._copy_models(out)
        atomic_write_text(out / "predictions.csv", table_to_csv(columns, sorted(rows.items())))
        atomic_write_jsonl(out / "provenance.jsonl", provenance)
        atomic_write_json(out / "vocabulary.json", self.vocabulary.to_json())
        atomic_write_text(out / "variables.yaml", variables_to_yaml(variables))
        atomic_write_json(out / "metrics.json", metrics)
        manifest = self.manifest(started)
        atomic_write_json(out / "manifest.json", manifest)
        self._report(out, cohort, rows, provenance, metrics, manifest)
        self.log(
            f"[done] accuracy {metrics['overall']['accuracy']:.3f} {metrics['overall']['accuracy_ci']} on "
            f"{metrics['overall']['n']} {split} cells — report: {out / 'report.html'}"
        )
        return RunResult(out, metrics, self.stages)

    def _check_out_dir(self) -> None:
        config_file = self.out / "config.yaml"
        if config_file.is_file() and config_file.read_text(encoding="utf-8") != dump_experiment(
            self.original_config
        ):
            raise ClinragError(
                f"{self.out}: holds a run of another config (config.yaml differs); choose another --out or "
                "remove it (the cache keeps what was computed)"
            )

    def _copy_models(self, out: Path) -> None:
        for name, source in self.trained.items():
            target = out / "models" / name
            if target.is_dir() and self.cache.folder_hash(source) == self.cache.folder_hash(target):
                continue
            # a merged model is as big as its base: hard links, where the file system allows, spare the copy
            with atomic_folder(target, replace=True, prefix=f".{name}.partial.") as staging:
                shutil.copytree(
                    source,
                    staging,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".complete"),
                    copy_function=_link_or_copy,
                )

    def _report(self, out, cohort, rows, provenance, metrics, manifest) -> None:
        from clinrag.evaluation.report import write_report

        write_report(
            out / "report.html",
            cohort,
            rows,
            provenance,
            metrics,
            self.original_config.model_dump(mode="json"),
            manifest,
            title=f"clinrag run — {self.config.name}",
            with_text=self.config.report.with_text,  # patient text only when asked (report.with_text)
            passages=self.store.passages if self.store is not None else None,
        )

    def manifest(self, started: float) -> dict[str, Any]:
        from clinrag.retrieval.base import walk_retrievers

        config = self.original_config
        seeds = {
            "evaluation.seed": config.evaluation.seed,
            "reader.lora.seed": config.reader.lora.seed,
        }
        for path, section in walk_retrievers(config.retriever):
            if hasattr(section, "train"):
                seeds[f"{path}.train.seed"] = section.train.seed
        if self.cohort_source.get("synthetic"):
            seeds["cohort.synth.seed"] = config.cohort.synth.seed
        if self.merge_record is not None:
            seeds["merge.random_seed"] = self.merge_record["random_seed"]
        return {
            "clinrag_component": "run",
            "name": config.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started, 1),
            "command": sys.argv,
            "git": _git_info(),
            "versions": _versions(),
            "cohort": self.cohort_source,
            "variables": self.variable_types,
            "models": self.model_hashes,
            "trained": {
                name: {"cache": str(folder), "run": f"models/{name}"} for name, folder in self.trained.items()
            },
            "seeds": seeds,
            "merge": self.merge_record,
            "cache": {"root": str(self.cache.root), "keys": self.keys},
            "stages": self.stages,
        }


def run_experiment(
    config: ExperimentConfig,
    out: str | Path,
    cohort_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = _log_stderr,
    engine: Any = None,
) -> RunResult:
    """Run one experiment into ``out`` (see the module docstring); ``engine`` reads the generations
    (:func:`clinrag.experiment.engine.open_engine`; None: this process), with the same results.

    Raises:
        ClinragError: An invalid cohort, a variable not in its table, an untrained temporal retriever without
            training, or ``out`` holding a run of another config; before any stage runs, a missing input or a
            model folder that cannot be loaded (:meth:`~clinrag.experiment.config.ExperimentConfig.check_inputs`).
    """
    return Run(config, out, cohort_dir, cache_dir, progress, log, engine).execute()


def _link_or_copy(source: str, target: str) -> str:
    """Hard-link ``source`` to ``target`` (cache entries are never modified in place), else copy it."""
    import os

    try:
        os.link(source, target)
        return target
    except OSError:
        return shutil.copy2(source, target)


def _versions() -> dict[str, str]:
    from clinrag.io import package_versions

    return package_versions(
        "clinrag",
        "torch",
        "transformers",
        "peft",
        "sentence-transformers",
        "faiss-cpu",
        "edsnlp",
        "xgrammar",
        "numpy",
        "pydantic",
        "bm25s",
    )


def _git_info() -> dict[str, Any] | None:
    """The commit of clinrag's source tree (and whether it had uncommitted changes), when it is a git checkout."""
    import subprocess

    source = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}
