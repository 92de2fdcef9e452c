"""``clinrag run``: one config in, a full experiment out (Contract 3 of ../shared/DESIGN.md).

Stages, each cached under a key that hashes what it depends on (:mod:`clinrag.experiment.cache`):

1. **cohort**: a folder (validated), or a synthetic cohort generated once into the cache;
2. **retriever**: the temporal retriever trained on the train split's table values (early stopping on dev), or a
   dense encoder fine-tuned on weak labels, saved as a folder (key: cohort, chunking, retriever section, encoder
   hash);
3. **retrieval**: the top passages of every (patient, variable) of the train and evaluated splits (``retrieval.k``
   for the decoder, ``reader.candidate_passages`` for the candidate model), and the retrieval metrics against
   gold evidence (key: retriever, k, depth, evaluation settings);
3b. **merge** (only with ``merge`` set): the config's recipe built with mergekit (key: the recipe's content, seed
   and inputs' content hashes); the merged folder then replaces ``reader.model`` (:mod:`clinrag.merging`);
4. **reader**: LoRA adapters tuned on (variable, retrieved passages, table value) pairs of the train split, for
   the variables the decoder answers (key: the passages the pairs show, decoder hash, reader and LoRA settings;
   skipped when the train split's table decides every variable);
4b. **priors**: what the train split's table decides without the decoder (:mod:`clinrag.generation.candidates`,
   :mod:`clinrag.generation.priors`): the candidate model of integers, numbers and categories, the booleans'
   qualifier model, the unmentioned cells' habit;
5. **generations**: the evaluated cells, read in fixed chunks of ``cell_batch`` cells, each chunk written
   atomically as soon as it is done: a run killed at any point resumes at its first missing chunk, and the fixed
   chunks make the result independent of where it was killed.

Then the run folder: predictions.csv, provenance.jsonl, metrics.json, config.yaml, manifest.json, report.html,
and models/ (the trained retriever and adapter, and the merged decoder of a ``merge`` recipe, which ``clinrag
fill`` applies to new patients). Every file is written atomically. Logs name stages, counts and keys, never
document text or identifiers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
from clinrag.experiment.cache import Cache, default_cache_dir, fault_point, source_hash, stable_hash
from clinrag.experiment.config import ExperimentConfig, dump_experiment
from clinrag.io import atomic_folder, atomic_write_json, atomic_write_jsonl, atomic_write_text
from clinrag.text.passages import Passage, PassageStore, build_passages


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

    # ---- 1. cohort --------------------------------------------------------------------------------------------
    def load_cohort(self) -> Cohort:
        from clinrag.data.validate import load_cohort

        start = time.perf_counter()
        if self.cohort_dir is not None:
            self.cohort_source = {"path": str(self.cohort_dir.resolve())}
            cohort = load_cohort(self.cohort_dir)
            cached = False
        else:
            from clinrag.synth import write_synthetic_cohort

            synth = self.config.cohort.synth
            key = self.cache.key(
                "cohort",
                {"synth": synth.model_dump(), "clinrag": _clinrag_version(), "generator": _generator_hash()},
            )
            folder, cached = self.cache.build(
                "cohort",
                key,
                lambda staging: write_synthetic_cohort(staging / "cohort", synth.patients, synth.seed),
            )
            self.cohort_dir = folder / "cohort"
            self.cohort_source = {"synthetic": synth.model_dump(), "path": str(self.cohort_dir)}
            cohort = load_cohort(self.cohort_dir)
        if cohort.table is None:
            raise ClinragError(
                f"{self.cohort_dir}/table.csv: missing; `clinrag run` trains and scores on table values "
                "(apply a trained run to patients without values with `clinrag fill`)"
            )
        self.cohort_source["sha256"] = cohort.fingerprint()
        self.vocabulary = self.build_vocabulary(cohort)
        cohort.variables = self.vocabulary.apply(cohort.variables)
        # the cache keys see the variables as the stages read them (their vocabulary included)
        self.cohort_hash = cohort.fingerprint()
        self._stage(
            "cohort",
            self.cohort_hash,
            cached,
            time.perf_counter() - start,
            f"{len(cohort.patients)} patients",
        )
        return cohort

    def build_vocabulary(self, cohort: Cohort):
        """Each variable's terms from its definition, the lexicon and the train split's table values."""
        from clinrag.text.vocabulary import Vocabulary, build_vocabulary, lexicon_file

        settings = self.config.vocabulary
        lexicon = lexicon_file(settings.lexicon).read_text(encoding="utf-8") if settings.lexicon else None
        key = self.cache.key(
            "vocabulary",
            {
                "cohort": self.cohort_source["sha256"],
                "settings": settings.model_dump(),
                "lexicon": stable_hash(lexicon),
                "clinrag": _clinrag_version(),
            },
        )

        def build(staging: Path) -> None:
            train = cohort.split_patients("train")
            documents = {pid: [d.text for d in cohort.documents_of(pid)] for pid in train}
            table = {pid: (cohort.table or {}).get(pid, {}) for pid in train}
            vocabulary = build_vocabulary(
                cohort.variables, documents, table, learn=settings.learn, lexicon=settings.lexicon
            )
            atomic_write_json(staging / "vocabulary.json", vocabulary.to_json())

        start = time.perf_counter()
        folder, cached = self.cache.build("vocabulary", key, build)
        vocabulary = Vocabulary.from_json(
            json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        )
        learned = sum(len(items) for v in vocabulary.variables.values() for items in v.learned.values())
        self._stage("vocabulary", key, cached, time.perf_counter() - start, f"{learned} terms learned")
        return vocabulary

    def variables(self, cohort: Cohort) -> list[Variable]:
        names = self.config.variables or cohort.table_columns
        unknown = [n for n in names if n not in cohort.table_columns]
        if unknown:
            raise ClinragError(
                f"variables: {', '.join(unknown)} not in the cohort's table (columns: {', '.join(cohort.table_columns)})"
            )
        return [cohort.variable(n) for n in names]

    # ---- 2. retriever -----------------------------------------------------------------------------------------
    def resolve_retriever(self, retriever: Any, cohort: Cohort, store: PassageStore, role: str = "retriever"):
        """The retriever section with trained folders filled in, and its identity (what its scores depend on):
        each retriever gets itself ready (:meth:`~clinrag.retrieval.base.RetrieverBase.prepare`)."""
        from clinrag.retrieval.base import prepare_retriever

        return prepare_retriever(retriever, _RetrieverContext(self, cohort, store), role)

    # ---- merge (optional) -------------------------------------------------------------------------------------
    def build_merge(self) -> None:
        """Build the config's merge recipe into the cache (keyed by the recipe's content, seed and inputs' content
        hashes); sets ``reader.model`` to the merged folder."""
        from clinrag.merging import build_merge, input_hashes, load_recipe
        from clinrag.merging.build import merge_record

        recipe_file = Path(self.config.merge)
        recipe = load_recipe(recipe_file)
        hashes = input_hashes(recipe, self.cache.folder_hash)
        key = self.cache.key("merge", recipe.identity(hashes))
        start = time.perf_counter()
        folder, cached = self.cache.build(
            "merge", key, lambda staging: build_merge(recipe, staging / "model", progress=self.progress)
        )
        merged = folder / "model"
        self._stage(
            "merge",
            key,
            cached,
            time.perf_counter() - start,
            f"{recipe.method} of {len(recipe.inputs)} input(s)",
        )
        record = merge_record(recipe, hashes)
        self.merge_record = {
            "recipe_file": str(recipe_file),
            "recipe_file_sha256": hashlib.sha256(recipe_file.read_bytes()).hexdigest(),
            "recipe_sha256": record["recipe_sha256"],
            "merge_method": recipe.method,
            "random_seed": recipe.seed,
            "recipe": record["recipe"],
            "inputs": record["inputs"],
            "folder": str(merged),
        }
        for number, item in enumerate(record["inputs"]):
            self.model_hashes[f"merge.input{number}"] = {
                "spec": item["reference"],
                "path": item["model"]["path"],
                "sha256": item["model"]["sha256"],
                **({"adapter": item["adapter"]} if "adapter" in item else {}),
            }
        self.trained["merged"] = merged
        self.config = self.config.model_copy(
            update={"reader": self.config.reader.model_copy(update={"model": str(merged)})}
        )

    # ---- 3. retrieval -----------------------------------------------------------------------------------------
    def retrieval(self, cohort: Cohort, store: PassageStore, variables: list[Variable], patients: list[str]):
        """Top-k hits of every (patient, variable) asked, and the retrieval metrics (cached)."""
        config = self.config
        resolved, identity = self.resolve_retriever(config.retriever, cohort, store)
        evaluation = config.evaluation
        # the train patients whose training pairs need the weak evidence the top-k lack (lora.weak_evidence)
        from clinrag.generation.reader import decoder_variables

        tuned = decoder_variables(config.reader, variables)
        supervised = (
            sorted(set(patients) & set(cohort.split_patients("train")))
            if config.training.reader == "lora" and config.reader.lora.weak_evidence and tuned
            else []
        )
        payload = {
            "cohort": self.cohort_hash,
            "chunking": config.chunking.model_dump(),
            "retriever": identity,
            "k": config.retrieval.k,
            "depth": _depth(config),
            "patients": stable_hash(patients),
            "variables": [v.name for v in variables],
            "weak_evidence": stable_hash([supervised, [v.name for v in tuned]]) if supervised else None,
            "metrics": {
                "split": evaluation.split,
                "ks": config.retrieval.eval_ks,
                "bootstrap": evaluation.bootstrap,
                "seed": evaluation.seed,
                "on": evaluation.retrieval,
            },
        }
        key = self.cache.key("retrieval", payload)
        start = time.perf_counter()

        def build(staging: Path) -> None:
            from clinrag.config import RetrievalSettings
            from clinrag.evaluation import BootstrapSpec
            from clinrag.retrieval.base import retrieve
            from clinrag.retrieval.evaluation import evaluate_retriever
            from clinrag.retrieval.pipeline import make_retriever

            settings = RetrievalSettings(
                chunking=config.chunking, retriever=resolved, retrieval=config.retrieval
            )
            retriever = make_retriever(settings, cohort)
            retriever.index(store)
            hits = {
                pid: {
                    v.name: [
                        [h.index, round(h.score, 6)]
                        for h in retrieve(retriever, store, pid, v, _depth(config))
                    ]
                    for v in variables
                }
                for pid in patients
            }
            atomic_write_json(staging / "hits.json", hits)
            if supervised:
                from clinrag.generation.lora import find_weak_evidence

                evidence = find_weak_evidence(cohort, store, retriever, supervised, tuned)
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
                    )
                except ValueError:
                    metrics = None
            atomic_write_json(staging / "metrics.json", {"retrieval": metrics})

        folder, cached = self.cache.build("retrieval", key, build)
        self._stage(
            "retrieval",
            key,
            cached,
            time.perf_counter() - start,
            f"top-{_depth(config)} of {len(patients)} patients",
        )
        hits = json.loads((folder / "hits.json").read_text(encoding="utf-8"))
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["retrieval"]
        evidence_file = folder / "weak_evidence.json"
        self.weak_evidence = (
            json.loads(evidence_file.read_text(encoding="utf-8")) if evidence_file.exists() else None
        )
        return hits, metrics

    # ---- 4. reader ----------------------------------------------------------------------------------------------
    def reader_identity(self) -> dict[str, Any]:
        """What the reader's answers depend on, besides its inputs (decoder, adapter, settings)."""
        from clinrag.generation.decoder import resolve_decoder_path

        reader = self.config.reader
        decoder = resolve_decoder_path(reader.model)
        identity = {
            "model": self._model_hash("decoder", reader.model, decoder),
            "settings": reader.model_dump(exclude={"model", "adapter", "lora", "device"}),
        }
        if reader.adapter:
            identity["adapter"] = self._model_hash("adapter", reader.adapter, Path(reader.adapter))
        return identity

    def train_reader(
        self, cohort: Cohort, store: PassageStore, variables: list[Variable], hits: dict
    ) -> None:
        """LoRA-tune the reader on the train split (cached); sets ``reader.adapter`` to the trained folder."""
        from clinrag.generation.lora import train_lora

        config = self.config
        reader_config = config.reader
        if reader_config.adapter:
            raise ClinragError(
                "reader.adapter is set and training.reader=lora: train new adapters (unset reader.adapter) or use "
                "the given ones (training.reader=none)"
            )
        identity = self.reader_identity()
        train = cohort.split_patients("train")
        if not train:
            raise ClinragError(f"{self.cohort_dir}: no patient in the train split to tune the reader on")
        from clinrag.generation.reader import decoder_variables

        variables = decoder_variables(reader_config, variables)
        if not variables:
            self.log("[reader] skipped — the decoder answers no variable (reader.values, reader.booleans)")
            return
        k = config.retrieval.k
        payload = {
            # the passages the pairs show: the train cells' top-k hits and their weak evidence
            "passages": {
                "cohort": self.cohort_hash,
                "chunking": config.chunking.model_dump(),
                "hits": stable_hash(
                    {pid: {v.name: hits[pid][v.name][:k] for v in variables} for pid in train}
                ),
                "weak_evidence": stable_hash(self.weak_evidence)
                if reader_config.lora.weak_evidence
                else None,
            },
            "decoder": identity["model"],
            "reader": reader_config.model_dump(
                include={
                    "prompt",
                    "max_passages",
                    "max_passage_chars",
                    "mark_mentions",
                    "mark_timepoints",
                    "dtype",
                    "lora",
                }
            ),
            "variables": [v.name for v in variables],
        }
        key = self.cache.key("reader_adapter", payload)
        start = time.perf_counter()

        def tune(staging: Path) -> None:
            from clinrag.generation.base import build_reader
            from clinrag.generation.lora import labelled_pairs, with_weak_evidence

            requests = [_request(store, pid, var, hits, k) for pid in train for var in variables]
            if reader_config.lora.weak_evidence:
                requests = with_weak_evidence(requests, self.weak_evidence or {}, store, cohort)
            pairs = labelled_pairs(cohort, requests)
            train_lora(
                build_reader(reader_config), pairs, reader_config.lora, staging, progress=self.progress
            )

        folder, cached = self.cache.build("reader_adapter", key, tune)
        self._stage("reader", key, cached, time.perf_counter() - start, "LoRA adapters tuned on train")
        self.trained["adapter"] = folder
        self.config = config.model_copy(
            update={"reader": reader_config.model_copy(update={"adapter": str(folder)})}
        )

    # ---- 5. generations -----------------------------------------------------------------------------------------
    def learn_priors(
        self, cohort: Cohort, store: PassageStore, variables: list[Variable], hits: dict
    ) -> None:
        """What the reader learns from the train split's table without the decoder (cached;
        :mod:`clinrag.generation.priors`): the unmentioned boolean and category cells (``reader.unmentioned``) and
        the booleans' qualifier model (``reader.booleans``)."""
        from clinrag.generation.candidates import VERSION as VALUE_MODEL_VERSION
        from clinrag.generation.candidates import load_value_model, save_value_model
        from clinrag.generation.priors import (
            PRIOR_TYPES,
            learn_boolean_model,
            learn_priors,
            load_boolean_model,
            load_priors,
            request_mentions,
            save_boolean_model,
            save_priors,
        )
        from clinrag.generation.reader import CellRequest

        reader = self.config.reader
        train = [pid for pid in cohort.split_patients("train") if pid in hits]
        if not train or cohort.table is None:
            return
        payload = {
            "cohort": self.cohort_hash,
            "retrieval": self.keys["retrieval"],
            "reader": reader.model_dump(
                include={"max_passages", "max_passage_chars", "values", "dates", "candidate_passages"}
            ),
            "k": self.config.retrieval.k,
            "variables": [v.name for v in variables],
            "learns": ["priors.json", "booleans.json:3", f"values.json:{VALUE_MODEL_VERSION}"],
        }
        key = self.cache.key("reader_priors", payload)
        start = time.perf_counter()
        k = self.config.retrieval.k

        def build(staging: Path) -> None:
            from clinrag.generation.candidates import candidates, learn_value_model
            from clinrag.generation.reader import candidate_types

            chosen = candidate_types(reader)
            every = [_request(store, pid, var, hits, k) for pid in train for var in variables]
            every = [r for r in every if r.variable.type in (*chosen, *PRIOR_TYPES)]
            # one annotation of every passage retrieved; the decoder's passages are the first of them
            wide = request_mentions(
                [CellRequest(r.patient_id, r.variable, r.candidates) for r in every], None
            )
            narrow = [m[: len(r.passages[: reader.max_passages])] for r, m in zip(every, wide, strict=True)]
            model = None
            if reader.values == "candidates":
                cells = [
                    (r.patient_id, r.variable, candidates(r.variable, r.candidates, m, r.deceased))
                    for r, m in zip(every, wide, strict=True)
                    if r.variable.type in chosen
                ]
                model = learn_value_model(cohort.table, cells, store.deceased())
            save_value_model(model, staging)
            prior = [i for i, r in enumerate(every) if r.variable.type in PRIOR_TYPES]
            requests, mentions = [every[i] for i in prior], [narrow[i] for i in prior]
            priors = learn_priors(cohort, requests, reader.max_passages, reader.max_passage_chars, mentions)
            booleans = [i for i in prior if every[i].variable.type == "boolean"]
            model = learn_boolean_model(
                cohort,
                [every[i] for i in booleans],
                reader.max_passages,
                [narrow[i] for i in booleans],
                [wide[i] for i in booleans],
            )
            save_priors(priors, staging)
            save_boolean_model(model, staging)

        folder, cached = self.cache.build("reader_priors", key, build)
        self.priors = load_priors(folder)
        self.boolean_model = load_boolean_model(folder)
        self.value_model = load_value_model(folder)
        self._stage(
            "priors",
            key,
            cached,
            time.perf_counter() - start,
            f"{len(self.priors)} variables' unmentioned cells, "
            f"{len(self.boolean_model.variables) if self.boolean_model else 0} booleans' qualifiers, "
            f"{len(self.value_model.variables) if self.value_model else 0} variables' candidates learned on train",
        )
        self.trained["priors"] = folder

    def generate(
        self, cohort: Cohort, store: PassageStore, variables: list[Variable], patients: list[str], hits
    ):
        """Read every (patient, variable) of ``patients`` in fixed chunks, each cached as soon as it is done."""
        from clinrag.generation.base import CellRequest, Learned, build_reader, reader_class

        config = self.config
        identity = self.reader_identity()
        full_record = not reader_class(config.reader.type).needs_retrieval
        payload = {
            "cohort": self.cohort_hash,
            "reader": identity,
            # the passages each evaluated cell reads (not the whole retrieval stage: a run that also retrieved
            # for training reads the same cells as one that did not)
            "passages": None
            if full_record
            else {
                "chunking": config.chunking.model_dump(),
                "hits": stable_hash({pid: hits[pid] for pid in patients}),
            },
            "patients": patients,
            "variables": [v.name for v in variables],
            "cell_batch": config.cell_batch,
            "priors": {name: dataclasses.asdict(prior) for name, prior in sorted(self.priors.items())},
            "booleans": self.boolean_model.to_json() if self.boolean_model else None,
            "values": self.value_model.to_json() if self.value_model else None,
        }
        key = self.cache.key("generations", payload)
        folder = self.cache.path("generations", key)
        folder.mkdir(parents=True, exist_ok=True)
        if full_record:  # the full-record reader reads a patient's record for all variables at once
            per_chunk = max(1, config.cell_batch // max(1, len(variables)))
            units = [patients[i : i + per_chunk] for i in range(0, len(patients), per_chunk)]
        else:
            cells = [(pid, var) for pid in patients for var in variables]
            units = [cells[i : i + config.cell_batch] for i in range(0, len(cells), config.cell_batch)]
        reader = None
        results = []
        computed = 0
        start = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(units), desc="reading (chunks)", unit="chunk")
        for number, unit in enumerate(units):
            chunk_file = folder / f"chunk-{number:05d}.jsonl"
            if chunk_file.is_file():
                records = [json.loads(line) for line in chunk_file.read_text(encoding="utf-8").splitlines()]
            else:
                if reader is None:
                    reader = build_reader(config.reader)
                    reader.attach(cohort, Learned(self.priors, self.boolean_model, self.value_model))
                if full_record:
                    chunk = reader.read([CellRequest(pid, var, []) for pid in unit for var in variables])
                else:
                    chunk = reader.read(
                        [_request(store, pid, var, hits, config.retrieval.k) for pid, var in unit]
                    )
                records = [_result_record(r) for r in chunk]
                atomic_write_jsonl(chunk_file, records)
                fault_point(f"generations:{number}")
                computed += 1
            results.extend(_result_from_record(r) for r in records)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        (folder / ".complete").write_text("", encoding="utf-8")
        self._stage(
            "generations",
            key,
            computed == 0,
            time.perf_counter() - start,
            f"{len(results)} cells, {computed} of {len(units)} chunks read now",
        )
        return results

    # ---- the whole run ------------------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        from clinrag.baselines import MajorityBaseline
        from clinrag.data.cohort import table_to_csv, variables_to_yaml
        from clinrag.evaluation import BootstrapSpec, evaluate_table
        from clinrag.generation.pipeline import provenance_records, rows_of

        started = time.time()
        self._check_out_dir()
        cohort = self.load_cohort()
        variables = self.variables(cohort)
        self.variable_types = {v.name: v.type for v in variables}
        config = self.config
        split = config.evaluation.split
        evaluated = cohort.split_patients(split)
        if not evaluated:
            raise ClinragError(f"{self.cohort_dir}: no patient in the {split} split to evaluate")
        if config.merge:
            self.build_merge()
            config = self.config
        store = build_passages(cohort, config.chunking)
        hits: dict = {}
        retrieval_metrics = None
        from clinrag.generation.base import reader_class

        kind = reader_class(config.reader.type)
        if kind.needs_retrieval:
            tuned = kind.learns_from_table and config.training.reader == "lora"
            learns = tuned or (kind.learns_from_table and _learns_from_table(config.reader))
            needed = sorted(set(evaluated) | (set(cohort.split_patients("train")) if learns else set()))
            hits, retrieval_metrics = self.retrieval(cohort, store, variables, needed)
            if tuned:
                self.train_reader(cohort, store, variables, hits)
            if kind.learns_from_table and _learns_from_table(config.reader):
                self.learn_priors(cohort, store, variables, hits)
        results = self.generate(cohort, store, variables, evaluated, hits)
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


class _RetrieverContext:
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


def run_experiment(
    config: ExperimentConfig,
    out: str | Path,
    cohort_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = _log_stderr,
) -> RunResult:
    """Run one experiment into ``out`` (see the module docstring).

    Raises:
        ClinragError: An invalid cohort, a variable not in its table, an untrained temporal retriever without
            training, a model folder that is not one, or ``out`` holding a run of another config.
    """
    return Run(config, out, cohort_dir, cache_dir, progress, log).execute()


def _link_or_copy(source: str, target: str) -> str:
    """Hard-link ``source`` to ``target`` (cache entries are never modified in place), else copy it."""
    import os

    try:
        os.link(source, target)
        return target
    except OSError:
        return shutil.copy2(source, target)


# ---- small helpers ------------------------------------------------------------------------------------------
def _learns_from_table(reader) -> bool:
    """Whether the reader's settings use what :meth:`Run.learn_priors` learns."""
    return reader.unmentioned == "prior" or reader.booleans == "qualifiers" or reader.values == "candidates"


def _generator_hash() -> str:
    """The synthetic generator's sources and its variables.yaml: a cohort generated before they changed is not
    reused (the package version alone does not change with them)."""
    return source_hash("clinrag.synth")


def _depth(config: ExperimentConfig) -> int:
    """How many passages the retrieval stage keeps per cell: ``retrieval.k`` for the decoder, more for the
    candidate model (``reader.candidate_passages``)."""
    from clinrag.generation.reader import retrieval_depth

    return retrieval_depth(config.reader, config.retrieval.k)


def _request(store: PassageStore, pid: str, var: Variable, hits: dict[str, dict[str, list]], k: int):
    """The cell (pid, var) with the passages the retrieval stage found for it: the top ``k`` for the decoder,
    all of them for the candidate model."""
    from clinrag.generation.reader import CellRequest

    found = [store.passages[int(index)] for index, _ in hits[pid][var.name]]
    return CellRequest(pid, var, found[:k], found, pid in store.deceased())


def _result_record(result) -> dict[str, Any]:
    record = dataclasses.asdict(result)
    record.pop("seconds", None)  # wall time: not part of the result
    return record


def _result_from_record(record: dict[str, Any]):
    from clinrag.generation.reader import CellResult

    support = record.get("support")
    return CellResult(
        patient_id=record["patient_id"],
        variable=record["variable"],
        cell=record["cell"],
        raw=record["raw"],
        failed=record["failed"],
        score=record["score"],
        support=Passage(**support) if support else None,
        tokens=record["tokens"],
        seconds=0.0,
        extra=record.get("extra") or {},
    )


def _clinrag_version() -> str:
    import clinrag

    return clinrag.__version__


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
