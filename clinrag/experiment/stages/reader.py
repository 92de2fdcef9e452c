"""What the reader learns on the train split: LoRA adapters of the decoder for the variables it answers
(:mod:`clinrag.generation.lora`), and what the train table decides without the decoder
(:mod:`clinrag.generation.candidates`, :mod:`clinrag.generation.priors`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinrag.errors import ClinragError
from clinrag.experiment.cache import stable_hash
from clinrag.experiment.stages.base import Stage
from clinrag.experiment.stages.retrieval import learns_from_table

if TYPE_CHECKING:
    from clinrag.experiment.runner import Run

VIEW_SETTINGS = {
    "prompt",
    "max_passages",
    "max_passage_chars",
    "mark_mentions",
    "mark_timepoints",
    "dtype",
    "lora",
}
"""The reader settings the LoRA pairs and training depend on."""


class ReaderStage(Stage):
    """LoRA adapters tuned on (variable, retrieved passages, table value) pairs of the train split, for the
    variables the decoder answers (skipped when the train table decides every variable); sets ``reader.adapter``
    to the trained folder. A reader that trains a model of its own (a class with ``train_model``: the
    ``segment_bilstm`` reader) is trained here instead, on every variable's train cells, into its folder."""

    name = "reader"
    cache = "reader_adapter"
    reads = ("cohort", "cohort_hash", "store", "variables", "hits", "weak_evidence", "config")
    writes = ("config", "trained", "model_hashes")

    def wanted(self, run: Run) -> bool:
        from clinrag.generation.base import reader_class

        kind = reader_class(run.config.reader.type)
        return kind.needs_retrieval and kind.learns_from_table and run.config.training.reader == "lora"

    def execute(self, run: Run) -> None:
        from clinrag.generation.base import reader_class
        from clinrag.generation.reader import decoder_variables

        kind = reader_class(run.config.reader.type)
        self.own = getattr(kind, "train_model", None) is not None
        if not self.own and not getattr(kind, "tunes_adapters", True):
            run.log(
                f"[reader] skipped — reader.type {run.config.reader.type} is not tuned here (the server holds the "
                "weights: serve tuned ones; training.reader=none silences this)"
            )
            return
        reader = run.config.reader  # a given reader.adapter was refused by ExperimentConfig.check_inputs
        self.train = run.cohort.split_patients("train")
        if not self.train:
            raise ClinragError(f"{run.cohort_dir}: no patient in the train split to tune the reader on")
        if self.own:  # a reader that trains its own model (the segment reader), on every variable
            from clinrag.models import resolve_model_path

            self.tuned = list(run.variables)
            self.identity = {
                "model": run._model_hash("reader.encoder", reader.encoder, resolve_model_path(reader.encoder))
            }
            super().execute(run)
            return
        self.identity = run.reader_identity()
        self.tuned = decoder_variables(reader, run.variables)
        if not self.tuned:
            run.log("[reader] skipped — the decoder answers no variable (reader.values, reader.booleans)")
            return
        super().execute(run)

    def payload(self, run: Run) -> dict[str, Any]:
        from clinrag.generation.base import reader_class
        from clinrag.generation.reader import retrieval_depth

        config, reader, k = run.config, run.config.reader, run.config.retrieval.k
        if self.own:
            depth = retrieval_depth(reader, k)
            return {
                "passages": {
                    "cohort": run.cohort_hash,
                    "chunking": config.chunking.model_dump(),
                    "hits": stable_hash(
                        {
                            pid: {v.name: run.hits[pid][v.name][:depth] for v in self.tuned}
                            for pid in self.train
                        }
                    ),
                    "weak_evidence": stable_hash(run.weak_evidence) if reader.training_evidence() else None,
                },
                "encoder": self.identity["model"],
                "reader": reader_class(reader.type).training_settings(reader),
                "variables": [v.name for v in self.tuned],
                **(
                    {"augment": config.training.augment.model_dump()}
                    if config.training.augment.active
                    else {}
                ),
            }
        return {
            # the passages the pairs show: the train cells' top-k hits and their weak evidence
            "passages": {
                "cohort": run.cohort_hash,
                "chunking": config.chunking.model_dump(),
                "hits": stable_hash(
                    {pid: {v.name: run.hits[pid][v.name][:k] for v in self.tuned} for pid in self.train}
                ),
                "weak_evidence": stable_hash(run.weak_evidence) if reader.lora.weak_evidence else None,
            },
            "decoder": self.identity["model"],
            "reader": reader.model_dump(include=VIEW_SETTINGS),
            "variables": [v.name for v in self.tuned],
        }

    def compute(self, run: Run, staging: Path) -> None:
        from clinrag.generation.base import build_reader, reader_class
        from clinrag.generation.lora import labelled_pairs, train_lora, with_weak_evidence
        from clinrag.generation.reader import retrieval_depth

        reader, k = run.config.reader, run.config.retrieval.k
        if self.own:  # the passages the reader reads: its retrieval depth
            k = retrieval_depth(reader, k)
        requests = [run.request(pid, var, k) for pid in self.train for var in self.tuned]
        if reader.training_evidence():
            requests = with_weak_evidence(requests, run.weak_evidence or {}, run.store, run.cohort)
        if self.own:
            reader_class(reader.type).train_model(
                reader,
                run.cohort,
                requests,
                staging,
                progress=run.progress,
                augment=run.config.training.augment,
            )
            return
        pairs = labelled_pairs(run.cohort, requests)
        train_lora(build_reader(reader), pairs, reader.lora, staging, progress=run.progress)

    def load(self, run: Run, folder: Path) -> str:
        if self.own:
            from clinrag.generation.base import reader_class

            kind = reader_class(run.config.reader.type)
            run.trained[kind.trained_name] = folder
            run.config = run.config.model_copy(
                update={"reader": kind.with_trained(run.config.reader, folder)}
            )
            added = _augmentation(folder)
            return f"{run.config.reader.type} reader trained on train" + (
                f" (augmented {added['method']}: {added['cells']} weak positives, {added['made']} new cells made, "
                f"{added['kept']} kept by the weak labeller)"
                if added
                else ""
            )
        run.trained["adapter"] = folder
        reader = run.config.reader.model_copy(update={"adapter": str(folder)})
        run.config = run.config.model_copy(update={"reader": reader})
        return "LoRA adapters tuned on train"


def _augmentation(folder: Path) -> dict[str, Any] | None:
    """The augmentation counts a trained segment reader folder records (None: trained without)."""
    import json

    from clinrag.generation.segment import RECORD_NAME

    record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    return (record.get("training") or {}).get("augmentation")


class PriorsStage(Stage):
    """What the train split's table decides without the decoder: the candidate model of integers, numbers,
    categories and dates (``reader.values``), the booleans' qualifier model (``reader.booleans``), the unmentioned
    cells' habit (``reader.unmentioned``)."""

    name = "priors"
    cache = "reader_priors"
    reads = ("cohort", "cohort_hash", "store", "variables", "vocabulary", "hits", "keys", "config")
    writes = ("priors", "boolean_model", "value_model", "trained")

    def wanted(self, run: Run) -> bool:
        from clinrag.generation.base import reader_class

        kind = reader_class(run.config.reader.type)
        return kind.needs_retrieval and kind.learns_from_table and learns_from_table(run.config.reader)

    def execute(self, run: Run) -> None:
        self.train = [pid for pid in run.cohort.split_patients("train") if pid in run.hits]
        if self.train and run.cohort.table is not None:
            super().execute(run)

    def payload(self, run: Run) -> dict[str, Any]:
        from clinrag.generation.candidates import VERSION as VALUE_MODEL_VERSION

        include = {"max_passages", "max_passage_chars", "values", "dates", "candidate_passages"}
        return {
            "cohort": run.cohort_hash,
            "retrieval": run.keys["retrieval"],
            "reader": run.config.reader.model_dump(include=include),
            "k": run.config.retrieval.k,
            "variables": [v.name for v in run.variables],
            "learns": ["priors.json", "booleans.json:4", f"values.json:{VALUE_MODEL_VERSION}"],
            "requires": run.vocabulary.requires() if run.vocabulary is not None else {},
        }

    def compute(self, run: Run, staging: Path) -> None:
        from clinrag.generation.base import CellRequest
        from clinrag.generation.candidates import candidates, learn_value_model, save_value_model
        from clinrag.generation.priors import (
            PRIOR_TYPES,
            learn_boolean_model,
            learn_priors,
            request_mentions,
            save_boolean_model,
            save_priors,
        )
        from clinrag.generation.reader import candidate_types

        cohort, reader = run.cohort, run.config.reader
        chosen = candidate_types(reader)
        every = [run.request(pid, var, run.config.retrieval.k) for pid in self.train for var in run.variables]
        every = [r for r in every if r.variable.type in (*chosen, *PRIOR_TYPES)]
        # one annotation of every passage retrieved; the decoder's passages are the first of them
        wide = request_mentions(
            [CellRequest(r.patient_id, r.variable, r.candidates) for r in every], None, run.progress
        )
        narrow = [m[: len(r.passages[: reader.max_passages])] for r, m in zip(every, wide, strict=True)]
        model = None
        if reader.values == "candidates":
            cells = [
                (r.patient_id, r.variable, candidates(r.variable, r.candidates, m, r.deceased))
                for r, m in zip(every, wide, strict=True)
                if r.variable.type in chosen
            ]
            model = learn_value_model(cohort.table, cells, run.store.deceased())
        save_value_model(model, staging)
        prior = [i for i, r in enumerate(every) if r.variable.type in PRIOR_TYPES]
        requests, mentions = [every[i] for i in prior], [narrow[i] for i in prior]
        priors = learn_priors(cohort, requests, reader.max_passages, reader.max_passage_chars, mentions)
        booleans = [i for i in prior if every[i].variable.type == "boolean"]
        boolean_model = learn_boolean_model(
            cohort,
            [every[i] for i in booleans],
            reader.max_passages,
            [narrow[i] for i in booleans],
            [wide[i] for i in booleans],
            run.vocabulary.requires() if run.vocabulary is not None else {},
        )
        save_priors(priors, staging)
        save_boolean_model(boolean_model, staging)

    def load(self, run: Run, folder: Path) -> str:
        from clinrag.generation.pipeline import load_learned

        learned = load_learned(folder)
        run.priors, run.boolean_model, run.value_model = (
            learned.priors,
            learned.boolean_model,
            learned.value_model,
        )
        run.trained["priors"] = folder
        booleans = len(run.boolean_model.variables) if run.boolean_model else 0
        values = len(run.value_model.variables) if run.value_model else 0
        return (
            f"{len(run.priors)} variables' unmentioned cells, {booleans} booleans' qualifiers, {values} variables' "
            "candidates learned on train"
        )
