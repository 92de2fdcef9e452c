"""The merge of the config's recipe (optional), and retrieval: the retriever got ready (trained into the cache
where it learns), the top passages of every (patient, variable) the run reads, the retrieval metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinrag.experiment.cache import stable_hash
from clinrag.experiment.stages.base import Stage
from clinrag.io import atomic_write_json, file_sha256

if TYPE_CHECKING:
    from clinrag.data.cohort import Cohort
    from clinrag.experiment.runner import Run
    from clinrag.text.passages import PassageStore


class MergeStage(Stage):
    """The config's merge recipe built with mergekit (key: the recipe's content, seed and inputs' content hashes);
    the merged folder then replaces ``reader.model`` (:mod:`clinrag.merging`)."""

    name = "merge"
    cache = "merge"
    reads = ("config",)
    writes = ("config", "merge_record", "trained", "model_hashes")

    def wanted(self, run: Run) -> bool:
        return bool(run.config.merge)

    def execute(self, run: Run) -> None:
        from clinrag.merging import input_hashes, load_recipe

        # read once: the recipe and its inputs' content hashes serve the key, the build and the record
        self.recipe = load_recipe(Path(run.config.merge))
        self.hashes = input_hashes(self.recipe, run.cache.folder_hash)
        super().execute(run)

    def payload(self, run: Run) -> dict[str, Any]:
        return self.recipe.identity(self.hashes)

    def compute(self, run: Run, staging: Path) -> None:
        from clinrag.merging import build_merge

        build_merge(self.recipe, staging / "model", progress=run.progress)

    def load(self, run: Run, folder: Path) -> str:
        from clinrag.merging.build import merge_record

        recipe_file, recipe, hashes = Path(run.config.merge), self.recipe, self.hashes
        merged = folder / "model"
        record = merge_record(recipe, hashes)
        run.merge_record = {
            "recipe_file": str(recipe_file),
            "recipe_file_sha256": file_sha256(recipe_file),
            "recipe_sha256": record["recipe_sha256"],
            "merge_method": recipe.method,
            "random_seed": recipe.seed,
            "recipe": record["recipe"],
            "inputs": record["inputs"],
            "folder": str(merged),
        }
        for number, item in enumerate(record["inputs"]):
            run.model_hashes[f"merge.input{number}"] = {
                "spec": item["reference"],
                "path": item["model"]["path"],
                "sha256": item["model"]["sha256"],
                **({"adapter": item["adapter"]} if "adapter" in item else {}),
            }
        run.trained["merged"] = merged
        run.config = run.config.model_copy(
            update={"reader": run.config.reader.model_copy(update={"model": str(merged)})}
        )
        return f"{recipe.method} of {len(recipe.inputs)} input(s)"


class RetrievalStage(Stage):
    """The passages, the retriever got ready (each retriever prepares itself, training into the cache where it
    learns: :meth:`~clinrag.retrieval.base.RetrieverBase.prepare`), the top passages of every (patient, variable)
    of the evaluated split and, when the reader learns from the table, of the train split (``retrieval.k`` for the
    decoder, ``reader.candidate_passages`` for the candidate model), the weak evidence of the LoRA pairs and the
    retrieval metrics against gold evidence. A reader that reads whole records needs only the passages."""

    name = "retrieval"
    cache = "retrieval"
    reads = ("cohort", "cohort_hash", "variables", "evaluated", "config")
    writes = ("store", "hits", "retrieval_metrics", "weak_evidence", "trained", "model_hashes")

    def execute(self, run: Run) -> None:
        from clinrag.generation.base import reader_class
        from clinrag.generation.reader import decoder_variables
        from clinrag.retrieval.base import prepare_retriever
        from clinrag.text.passages import build_passages

        config, cohort = run.config, run.cohort
        run.store = build_passages(cohort, config.chunking, progress=run.progress)
        kind = reader_class(config.reader.type)
        if not kind.needs_retrieval:
            return
        learns = kind.learns_from_table and (
            config.training.reader == "lora" or learns_from_table(config.reader)
        )
        train = set(cohort.split_patients("train")) if learns else set()
        self.patients = sorted(set(run.evaluated) | train)
        self.resolved, self.identity = prepare_retriever(
            config.retriever, RetrieverContext(run, cohort, run.store), "retriever"
        )
        # the train patients whose training pairs need the weak evidence the top-k lack (lora.weak_evidence)
        self.tuned = decoder_variables(config.reader, run.variables)
        self.supervised = (
            sorted(set(self.patients) & set(cohort.split_patients("train")))
            if config.training.reader == "lora" and config.reader.training_evidence() and self.tuned
            else []
        )
        super().execute(run)

    def payload(self, run: Run) -> dict[str, Any]:
        config, evaluation = run.config, run.config.evaluation
        return {
            "cohort": run.cohort_hash,
            "chunking": config.chunking.model_dump(),
            "retriever": self.identity,
            "k": config.retrieval.k,
            "depth": depth(config),
            "patients": stable_hash(self.patients),
            "variables": [v.name for v in run.variables],
            "weak_evidence": stable_hash([self.supervised, [v.name for v in self.tuned]])
            if self.supervised
            else None,
            "metrics": {
                "split": evaluation.split,
                "ks": config.retrieval.eval_ks,
                "bootstrap": evaluation.bootstrap,
                "seed": evaluation.seed,
                "on": evaluation.retrieval,
            },
        }

    def compute(self, run: Run, staging: Path) -> None:
        from clinrag.config import RetrievalSettings
        from clinrag.evaluation import BootstrapSpec
        from clinrag.progress import progress_bar
        from clinrag.retrieval.base import retrieve
        from clinrag.retrieval.evaluation import evaluate_retriever
        from clinrag.retrieval.pipeline import make_retriever

        config, cohort, store, evaluation = run.config, run.cohort, run.store, run.config.evaluation
        settings = RetrievalSettings(
            chunking=config.chunking, retriever=self.resolved, retrieval=config.retrieval
        )
        retriever = make_retriever(settings, cohort)
        retriever.index(store)
        hits = {
            pid: {
                v.name: [
                    [h.index, round(h.score, 6)] for h in retrieve(retriever, store, pid, v, depth(config))
                ]
                for v in run.variables
            }
            for pid in progress_bar(self.patients, enabled=run.progress, desc="retrieving", unit="patient")
        }
        atomic_write_json(staging / "hits.json", hits)
        if self.supervised:
            from clinrag.generation.lora import find_weak_evidence

            evidence = find_weak_evidence(cohort, store, retriever, self.supervised, self.tuned)
            atomic_write_json(staging / "weak_evidence.json", evidence)
        metrics = None
        if evaluation.retrieval and cohort.evidence:
            try:
                metrics = evaluate_retriever(
                    cohort,
                    store,
                    retriever,
                    evaluation.split,
                    tuple(config.retrieval.eval_ks),
                    BootstrapSpec(evaluation.bootstrap, seed=evaluation.seed),
                    progress=run.progress,
                )
            except ValueError:
                metrics = None
        atomic_write_json(staging / "metrics.json", {"retrieval": metrics})

    def load(self, run: Run, folder: Path) -> str:
        run.hits = json.loads((folder / "hits.json").read_text(encoding="utf-8"))
        run.retrieval_metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["retrieval"]
        evidence_file = folder / "weak_evidence.json"
        run.weak_evidence = (
            json.loads(evidence_file.read_text(encoding="utf-8")) if evidence_file.exists() else None
        )
        return f"top-{depth(run.config)} of {len(self.patients)} patients"


class RetrieverContext:
    """What a run lends a retriever section to get ready (:class:`~clinrag.retrieval.base.RetrieverContext`)."""

    def __init__(self, run: Run, cohort: Cohort, store: PassageStore):
        self.run, self.cohort, self.store = run, cohort, store
        self.training = run.config.training
        self.progress = run.progress

    def inputs(self) -> dict[str, Any]:
        return {"cohort": self.run.cohort_hash, "chunking": self.run.config.chunking.model_dump()}

    def model_hash(self, role: str, spec: str) -> str:
        from clinrag.models import resolve_model_path

        return self.run._model_hash(role, spec, resolve_model_path(spec))

    def build(self, stage: str, role: str, payload: dict, build: Callable[[Path], None], detail: str) -> Path:
        key = self.run.cache.key(stage, payload)
        start = time.perf_counter()
        folder, cached = self.run.cache.build(stage, key, build)
        self.run._stage(role, key, cached, time.perf_counter() - start, detail)
        return folder

    def keep(self, name: str, folder: Path) -> None:
        self.run.trained[name] = folder


def learns_from_table(reader) -> bool:
    """Whether the reader's settings use what the priors stage learns (those of the ``llm`` reader and the readers
    built on it: :func:`~clinrag.generation.reader.reads_retrieved`)."""
    from clinrag.generation.reader import reads_retrieved

    return reads_retrieved(reader) and (
        reader.unmentioned == "prior" or reader.booleans == "qualifiers" or reader.values == "candidates"
    )


def depth(config) -> int:
    """How many passages the retrieval stage keeps per cell: ``retrieval.k`` for the decoder, more for the
    candidate model (``reader.candidate_passages``)."""
    from clinrag.generation.reader import retrieval_depth

    return retrieval_depth(config.reader, config.retrieval.k)
