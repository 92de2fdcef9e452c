"""The cohort (a validated folder, or a synthetic cohort generated once into the cache) and each variable's
vocabulary (its terms from its definition, the lexicon and the train split's table values)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinrag.errors import ClinragError
from clinrag.experiment.cache import source_hash, stable_hash
from clinrag.experiment.stages.base import Stage
from clinrag.io import atomic_write_json

if TYPE_CHECKING:
    from clinrag.experiment.runner import Run


class CohortStage(Stage):
    """The cohort, its variables read with their vocabulary (:class:`VocabularyStage`), the evaluated variables
    and patients. Its "key" is the cohort's fingerprint with the vocabulary applied, which later keys hold."""

    name = "cohort"
    cache = "cohort"
    reads = ("cohort_dir", "config")
    writes = ("cohort", "cohort_source", "cohort_hash", "vocabulary", "variables", "evaluated")

    def payload(self, run: Run) -> dict[str, Any]:
        synth = run.config.cohort.synth
        return {"synth": synth.model_dump(), "clinrag": clinrag_version(), "generator": generator_hash()}

    def compute(self, run: Run, staging: Path) -> None:
        from clinrag.synth import write_synthetic_cohort

        synth = run.config.cohort.synth
        write_synthetic_cohort(staging / "cohort", synth.patients, synth.seed)

    def execute(self, run: Run) -> None:
        from clinrag.data.validate import load_cohort

        start = time.perf_counter()
        if run.cohort_dir is not None:
            run.cohort_source = {"path": str(run.cohort_dir.resolve())}
            cohort = load_cohort(run.cohort_dir)
            cached = False
        else:
            key = run.cache.key(self.cache, self.payload(run))
            folder, cached = run.cache.build(self.cache, key, lambda staging: self.compute(run, staging))
            run.cohort_dir = folder / "cohort"
            run.cohort_source = {
                "synthetic": run.config.cohort.synth.model_dump(),
                "path": str(run.cohort_dir),
            }
            cohort = load_cohort(run.cohort_dir)
        if cohort.table is None:
            raise ClinragError(
                f"{run.cohort_dir}/table.csv: missing; `clinrag run` trains and scores on table values "
                "(apply a trained run to patients without values with `clinrag fill`)"
            )
        run.cohort_source["sha256"] = cohort.fingerprint()
        run.cohort = cohort
        VocabularyStage().execute(run)
        cohort.variables = run.vocabulary.apply(cohort.variables)
        # the cache keys see the variables as the stages read them (their vocabulary included)
        run.cohort_hash = cohort.fingerprint()
        run._stage(
            self.name,
            run.cohort_hash,
            cached,
            time.perf_counter() - start,
            f"{len(cohort.patients)} patients",
        )
        run.variables = _variables(run.config, cohort)
        split = run.config.evaluation.split
        run.evaluated = cohort.split_patients(split)
        if not run.evaluated:
            raise ClinragError(f"{run.cohort_dir}: no patient in the {split} split to evaluate")


class VocabularyStage(Stage):
    """Each variable's terms (:func:`clinrag.text.vocabulary.build_vocabulary`), learned on the train split."""

    name = "vocabulary"
    cache = "vocabulary"
    reads = ("cohort", "cohort_source")
    writes = ("vocabulary",)

    def payload(self, run: Run) -> dict[str, Any]:
        from clinrag.text.vocabulary import lexicon_file

        settings = run.config.vocabulary
        lexicon = lexicon_file(settings.lexicon).read_text(encoding="utf-8") if settings.lexicon else None
        return {
            "cohort": run.cohort_source["sha256"],
            "settings": settings.model_dump(),
            "lexicon": stable_hash(lexicon),
            "clinrag": clinrag_version(),
        }

    def compute(self, run: Run, staging: Path) -> None:
        from clinrag.text.vocabulary import build_vocabulary

        cohort, settings = run.cohort, run.config.vocabulary
        train = cohort.split_patients("train")
        documents = {pid: [d.text for d in cohort.documents_of(pid)] for pid in train}
        table = {pid: (cohort.table or {}).get(pid, {}) for pid in train}
        vocabulary = build_vocabulary(
            cohort.variables, documents, table, learn=settings.learn, lexicon=settings.lexicon
        )
        atomic_write_json(staging / "vocabulary.json", vocabulary.to_json())

    def load(self, run: Run, folder: Path) -> str:
        from clinrag.text.vocabulary import Vocabulary

        run.vocabulary = Vocabulary.from_json(
            json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        )
        learned = sum(len(items) for v in run.vocabulary.variables.values() for items in v.learned.values())
        return f"{learned} terms learned"


def _variables(config, cohort):
    names = config.variables or cohort.table_columns
    unknown = [n for n in names if n not in cohort.table_columns]
    if unknown:
        raise ClinragError(
            f"variables: {', '.join(unknown)} not in the cohort's table (columns: {', '.join(cohort.table_columns)})"
        )
    return [cohort.variable(n) for n in names]


def generator_hash() -> str:
    """The synthetic generator's sources and its variables.yaml: a cohort generated before they changed is not
    reused (the package version alone does not change with them)."""
    return source_hash("clinrag.synth")


def clinrag_version() -> str:
    import clinrag

    return clinrag.__version__
