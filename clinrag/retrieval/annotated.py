"""A retriever re-ranked with the corpus annotations: qualifiers of the variable's mentions, sections, dates.

Any base retriever scores the patient's passages; the scores are then adjusted with what edsnlp says about each
passage:

* **qualifiers**: a passage whose mentions of the variable's terms are all about a relative (``demote_family``),
  all hypothetical (``demote_hypothetical``) or all negated (``demote_negated``) has its score multiplied by
  ``demote``. Negated mentions are evidence of a boolean's "false" ("pas de diabète"), so that one is off by
  default;
* **section prior** (``section_weight``): the share of the variable's weak positives (train split, distant
  supervision: :mod:`clinrag.retrieval.supervision`) that lie in the passage's section, learned by :meth:`fit`;
  the score is multiplied by ``1 + section_weight * share``;
* **date prior** (``date_weight``): the same for the passage's time since the patient's index event (the first
  document that affirms a stroke, per :mod:`clinrag.text.entities`), in buckets.

Scores stay non-negative multiples of the base scores, so a passage the base retriever gives 0 stays at 0.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import numpy as np

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.retrieval.base import RetrieverBase, build_retriever, register_retriever
from clinrag.retrieval.config import AnnotatedConfig
from clinrag.retrieval.supervision import passage_mentions, weak_labels
from clinrag.text.annotate import Mention
from clinrag.text.passages import PassageStore

DAY_BUCKETS = (-1, 1, 14, 60, 120, 300)
"""Upper bounds (days since the index event) of the date prior's buckets: before, day 0-1, first two weeks,
up to 2 months, the 3-month window, up to 10 months, later."""


def day_bucket(days: float | None) -> int:
    """The bucket of a time since the index event (``len(DAY_BUCKETS) + 1`` when unknown)."""
    if days is None:
        return len(DAY_BUCKETS) + 1
    return next((i for i, bound in enumerate(DAY_BUCKETS) if days <= bound), len(DAY_BUCKETS))


@register_retriever("annotated", AnnotatedConfig)
class AnnotatedRetriever(RetrieverBase):
    """A base retriever whose scores the annotations adjust (see the module docstring).

    Args:
        config: The settings (``base`` is any retriever section).
        variables: The variables whose mentions are annotated at :meth:`index` (default: the attached cohort's;
            others are annotated on first use).
    """

    children = ("base",)

    def __init__(self, config: AnnotatedConfig | None = None, variables: list[Variable] | None = None):
        self.config = config or AnnotatedConfig()
        self.base = build_retriever(self.config.base)
        self.variables = list(variables or [])
        self.cohort: Cohort | None = None
        self.store: PassageStore | None = None
        self.mentions: dict[str, list[list[Mention]]] = {}
        self.section_prior: dict[str, dict[str, float]] = {}
        self.date_prior: dict[str, dict[int, float]] = {}
        self.passage_days: list[float | None] = []

    def attach_cohort(self, cohort: Cohort) -> None:
        """The cohort whose train split's weak labels the priors are learned from, at :meth:`index`
        (:func:`~clinrag.retrieval.pipeline.make_retriever` attaches it)."""
        self.cohort = cohort
        if not self.variables:
            self.variables = list(cohort.variables)

    def index(
        self,
        store: PassageStore,
        mentions: list[list[Mention]] | None = None,
        index_dates: dict[str, dt.date] | None = None,
    ) -> None:
        """Index the base retriever and annotate the variables' mentions in each passage (or take ``mentions``,
        as :func:`~clinrag.retrieval.supervision.passage_mentions` gives them for ``variables``); with a cohort
        attached, learn the priors (:meth:`learn_priors`)."""
        self.base.index(store)
        self.store = store
        self.mentions = {}
        if self.variables:
            per_passage = mentions if mentions is not None else passage_mentions(store, self.variables)
            for var in self.variables:
                self.mentions[var.name] = [[m for m in ms if m.variable == var.name] for ms in per_passage]
        if self.cohort is not None:
            self.learn_priors(self.cohort, index_dates=index_dates)

    def _mentions_of(self, variable: Variable) -> list[list[Mention]]:
        if variable.name not in self.mentions:
            found = passage_mentions(self.store, [variable])
            self.mentions[variable.name] = [[m for m in ms if m.variable == variable.name] for ms in found]
        return self.mentions[variable.name]

    def learn_priors(
        self, cohort: Cohort, patients: list[str] | None = None, index_dates: dict[str, dt.date] | None = None
    ) -> None:
        """Learn the section and date priors from the weak labels of ``patients`` (default: the train split); a
        cohort without a table (or with the priors' weights at 0) learns none.

        Args:
            cohort: The indexed store's cohort.
            patients: Whose table values give the weak labels.
            index_dates: Each patient's index date (default: found by
                :meth:`~clinrag.text.entities.EntityAnnotator.patient_index_dates`).
        """
        if self.store is None:
            raise RuntimeError("index() must be called before learn_priors()")
        cfg = self.config
        if cfg.date_weight > 0:
            if index_dates is None:
                from clinrag.text.entities import AnnotationConfig, EntityAnnotator

                finder = EntityAnnotator(AnnotationConfig(cim10=False, drugs=False))
                index_dates = finder.patient_index_dates(cohort.documents)
            self.passage_days = [
                (dt.date.fromisoformat(p.date[:10]) - index_dates[p.patient_id]).days
                if p.patient_id in index_dates
                else None
                for p in self.store.passages
            ]
        if cohort.table is None or (cfg.section_weight <= 0 and cfg.date_weight <= 0):
            return
        patients = patients if patients is not None else cohort.split_patients("train")
        variables = [cohort.variable(name) for name in cohort.table_columns]
        mentions: list[list[Mention]] = [[] for _ in self.store.passages]
        for var in variables:
            for i, found in enumerate(self._mentions_of(var)):
                mentions[i].extend(found)
        labels = weak_labels(cohort, self.store, mentions, patients, variables)
        sections: dict[str, Counter] = defaultdict(Counter)
        buckets: dict[str, Counter] = defaultdict(Counter)
        for (patient_id, name), positive in labels.items():
            start, _ = self.store.patient_range(patient_id)
            for offset in np.flatnonzero(positive):
                passage = self.store.passages[start + offset]
                sections[name][passage.section] += 1
                if self.passage_days:
                    buckets[name][day_bucket(self.passage_days[start + offset])] += 1
        self.section_prior = {
            name: {s: n / sum(counts.values()) for s, n in counts.items()}
            for name, counts in sections.items()
        }
        self.date_prior = {
            name: {b: n / sum(counts.values()) for b, n in counts.items()} for name, counts in buckets.items()
        }

    def scores(self, patient_id: str, variable: Variable) -> np.ndarray:
        """The base scores of the patient's passages, adjusted by the annotations."""
        scores = np.asarray(self.base.scores(patient_id, variable), dtype=np.float64).copy()
        start, end = self.store.patient_range(patient_id)
        cfg = self.config
        demoting = cfg.demote_family or cfg.demote_hypothetical or cfg.demote_negated
        mentions = self._mentions_of(variable)[start:end] if demoting else []
        sections = self.section_prior.get(variable.name, {}) if cfg.section_weight > 0 else {}
        dates = self.date_prior.get(variable.name, {}) if cfg.date_weight > 0 else {}
        for i in range(end - start):
            factor = 1.0
            found = mentions[i] if demoting else []
            if found and all(
                (cfg.demote_family and m.family)
                or (cfg.demote_hypothetical and m.hypothetical)
                or (cfg.demote_negated and m.negated)
                for m in found
            ):
                factor *= cfg.demote
            if sections:
                factor *= 1 + cfg.section_weight * sections.get(self.store.passages[start + i].section, 0.0)
            if dates and self.passage_days:
                factor *= 1 + cfg.date_weight * dates.get(day_bucket(self.passage_days[start + i]), 0.0)
            scores[i] *= factor
        return scores.astype(np.float32)
