"""The experiment configuration of ``clinrag run`` and ``clinrag grid``: pydantic models (extra keys forbidden),
stored as YAML, adjusted by dotted overrides (``retriever.type=bm25 retrieval.k=5``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from clinrag.config import apply_overrides, build_settings, load_yaml_mapping, override_origins
from clinrag.encoders.augment import AugmentConfig
from clinrag.errors import ClinragError
from clinrag.generation.pipeline import PipelineSettings


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SynthCohort(_Config):
    """A synthetic cohort to generate when no cohort folder is given."""

    patients: int = Field(100, ge=5)
    """Patients to generate."""
    seed: int = 2026
    """Generator seed (the same seed gives the same cohort, byte for byte)."""


class CohortSource(_Config):
    """Where the cohort comes from: a folder (``path`` or ``--cohort``), else a synthetic one."""

    path: str | None = None
    """A cohort folder (the cohort format of ../shared/DESIGN.md); ``--cohort DIR`` replaces it."""
    synth: SynthCohort = Field(default_factory=SynthCohort)
    """Used only when no folder is given: the cohort is generated into the cache, once."""


class TrainingConfig(_Config):
    """What the run trains on the train split (table values only; gold evidence is never read)."""

    retriever: bool = True
    """Train the temporal retriever (unless ``retriever.path`` names a trained one); a hybrid's temporal part too."""
    dense: bool = False
    """Fine-tune a dense retriever's encoder on weak labels (``retriever.train``) instead of using it as is."""
    reader: Literal["lora", "none"] = "lora"
    """``lora``: tune LoRA adapters of the decoder (``reader.lora``); ``none``: zero-shot (or ``reader.adapter``)."""
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    """Augmented training cells of the ``segment_bilstm`` reader (:mod:`clinrag.generation.segment_training`):
    ``method`` none (default), rules, llm or rules+llm; ``per_example`` variants of each weak positive; ``seed``.
    Left out of the run's config.yaml while ``none``."""


class VocabularyConfig(_Config):
    """Where each variable's terms come from (``clinrag.text.vocabulary``): its definition read against a concept
    lexicon, its optional ``keywords``, and the words the train split's table teaches."""

    lexicon: str | None = "registry"
    """The concept lexicon: ``registry`` (the shipped stroke-registry lexicon), a YAML file of the same shape, or
    null (no lexicon: a variable is named by its keywords and its description's words)."""
    learn: bool = True
    """Learn terms from the train split under distant supervision (the words that set apart the passages stating
    a patient's table value)."""


class EvaluationConfig(_Config):
    """What is scored and how."""

    split: Literal["dev", "test"] = "test"
    """The split the run predicts and scores (dev while tuning, test for the paper)."""
    bootstrap: int = Field(1000, ge=10)
    """Bootstrap resamples of patients for the 95% intervals."""
    seed: int = 0
    """Seed of the bootstrap resamples."""
    retrieval: bool = True
    """Also score retrieval (recall@k, MRR) against the cohort's gold evidence, when it has some."""
    baselines: list[Literal["majority"]] = Field(default_factory=lambda: ["majority"])
    """Baselines scored beside the run (learned from the train split)."""


class ReportConfig(_Config):
    """What ``report.html`` shows. A presentation setting: no stage reads it, so it changes no cache key, and
    :func:`dump_experiment` leaves it out of the run's ``config.yaml`` (a run folder, and ``clinrag fill`` reading
    it, are the same with or without it)."""

    with_text: bool = False
    """Embed patient text in report.html (the cited documents, highlighted quotes and the decoder's raw answers);
    false: each cell shows its document id, date, section, offsets, value and score, with a masked view of the
    passage (:mod:`clinrag.evaluation.report`). ``clinrag run --with-text`` sets it."""


class ExperimentConfig(PipelineSettings):
    """One experiment: cohort, variables, chunking, retriever, retrieval, reader, training, evaluation."""

    name: str = "experiment"
    """A name for reports."""
    cohort: CohortSource = Field(default_factory=CohortSource)
    """The cohort."""
    variables: list[str] | None = None
    """Table columns to fill and score (None: all)."""
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    """What is trained."""
    vocabulary: VocabularyConfig = Field(default_factory=VocabularyConfig)
    """Each variable's terms: from its definition, a concept lexicon and the train split (``vocabulary.json``)."""
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    """What is scored."""
    merge: str | None = None
    """A merge recipe (mergekit's YAML, as ``clinrag merge`` reads it): the run builds the merged model into its
    cache (keyed by the recipe's content, its seed and its inputs' content hashes) and reads with it in place of
    ``reader.model``; ``clinrag grid --axis merge=a.yaml,b.yaml`` compares merges (``null``: no merge)."""
    cell_batch: int = Field(32, ge=1)
    """Cells read per cached chunk of generations: a killed run resumes from the last finished chunk."""
    report: ReportConfig = Field(default_factory=ReportConfig)
    """What report.html shows (not written to the run's config.yaml: see :class:`ReportConfig`)."""

    def check_inputs(self, cohort_dir: str | Path | None = None) -> None:
        """Refuse, before the first stage, an input a run would stop on later: the cohort folder (``cohort_dir``,
        else ``cohort.path``), the vocabulary's lexicon file, the merge recipe and its inputs
        (:func:`clinrag.merging.load_recipe`: config files only, no weight is read), and every model folder of
        the retriever and the reader (:meth:`check_models`; with a recipe, its merged model replaces
        ``reader.model``, which is then not checked), and given adapters with ``training.reader=lora``.

        Raises:
            ClinragError: One line naming the path, what is wrong and the field.
        """
        from clinrag.generation.base import reader_class
        from clinrag.merging import load_recipe
        from clinrag.text.vocabulary import lexicon_file

        cohort = cohort_dir or self.cohort.path
        if cohort is not None and not Path(cohort).is_dir():
            raise ClinragError(f"{cohort}: cohort folder not found")
        kind = reader_class(self.reader.type)
        tunes = kind.needs_retrieval and kind.learns_from_table and self.training.reader == "lora"
        if tunes and self.reader.adapter:
            raise ClinragError(
                "reader.adapter is set and training.reader=lora: train new adapters (unset reader.adapter) or use "
                "the given ones (training.reader=none)"
            )
        check_training = getattr(kind, "check_training", None)  # a reader that trains a model of its own
        if check_training is not None:
            check_training(self.reader, tunes)
        if self.training.augment.active and not (check_training is not None and tunes):
            raise ClinragError(
                f"training.augment.method={self.training.augment.method}: augmentation trains the segment_bilstm "
                f"reader (reader.type segment_bilstm, training.reader lora), not reader.type {self.reader.type} "
                f"with training.reader {self.training.reader}"
            )
        if self.vocabulary.lexicon:
            lexicon_file(self.vocabulary.lexicon)
        if self.merge:
            load_recipe(self.merge)
        self.check_models(decoder=not self.merge)


def load_experiment(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read an experiment YAML (None: all defaults) and apply dotted overrides.

    Raises:
        ClinragError: Missing or malformed file. ErrorList: every unknown key and bad value, one line each
            naming the override that set it, else the file and the key's line.
    """
    overrides = list(overrides or [])
    data = load_yaml_mapping(path) if path is not None else {}
    return build_settings(
        ExperimentConfig,
        Path(path) if path is not None else "config",
        apply_overrides(data, overrides),
        override_origins(overrides),
    )


PRESENTATION_FIELDS = frozenset({"report"})
"""Fields that only change how outputs are shown, never what a run computes: left out of ``config.yaml``."""


def dump_experiment(config: ExperimentConfig) -> str:
    """The resolved config as YAML: every field in declaration order but :data:`PRESENTATION_FIELDS`, so that
    the run's config.yaml (and the check that an output folder holds a run of the same config) is the same
    whether the report embeds patient text or not."""
    data = config.model_dump(mode="json", exclude=set(PRESENTATION_FIELDS))
    if not config.training.augment.active:  # as a clinrag before training.augment wrote it
        del data["training"]["augment"]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
