"""Scoring identifier detection against gold spans, with eds-pseudo's metrics.

* ``entity``: per-label precision, recall and F1 on exact matches (same start, end and label).
* ``token``: the same on tokens (words and punctuation signs): a token belongs to a label when it overlaps a
  span of that label, in the gold or in the predictions.
* ``redact``: the share of identifier tokens (overlapping any gold span) covered by any predicted span, whatever
  the labels: what pseudonymization must get right. ``redact_full``: the share of documents where every
  identifier token is covered. ``redact_precision``: the share of masked tokens that are identifiers (the
  cost of over-masking). ``redact_per_label``: ``redact`` restricted to one gold label's tokens.

:func:`evaluate_detector` scores a configured detector on a cohort's split or an eds-pseudo file
(``clinrag evaluate-pseudo``).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinrag.data.cohort import Cohort
from clinrag.errors import ClinragError
from clinrag.pseudo.corpora import cohort_notes, evidence_ranges, load_eds_pseudo
from clinrag.pseudo.labels import LABELS, Span

if TYPE_CHECKING:
    from clinrag.pseudo.pipeline import PseudoConfig

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each token of ``text``: runs of word characters, and each other
    non-space character alone ("12/03" is three tokens)."""
    return [m.span() for m in _TOKEN.finditer(text)]


@dataclass
class _Counts:
    """True positives, predictions and gold items of one label."""

    tp: int = 0
    predicted: int = 0
    support: int = 0

    def add(self, tp: int, predicted: int, support: int) -> None:
        self.tp += tp
        self.predicted += predicted
        self.support += support

    def to_json(self) -> dict[str, Any]:
        """Precision (None without predictions), recall (None without gold), F1 (None without either)."""
        total = self.predicted + self.support
        return {
            "precision": self.tp / self.predicted if self.predicted else None,
            "recall": self.tp / self.support if self.support else None,
            "f1": 2 * self.tp / total if total else None,
            "tp": self.tp,
            "predicted": self.predicted,
            "support": self.support,
        }


def score(gold: list[list[Span]], predicted: list[list[Span]], texts: list[str]) -> dict[str, Any]:
    """Score predicted identifier spans against gold ones, document by document.

    Args:
        gold: For each document, its gold spans.
        predicted: For each document, the detector's spans (overlaps allowed).
        texts: For each document, its text (for tokens).

    Returns:
        ``{"n_documents", "entity": {"micro", "per_label"}, "token": {"micro", "per_label"}, "redact",
        "redact_full", "redact_precision", "redact_per_label"}``; each ``micro``/``per_label`` entry holds
        ``precision``, ``recall``, ``f1``, ``tp``, ``predicted`` and ``support``. ``redact`` is 1.0 when there is no
        identifier token at all (nothing was left to redact), and a document without identifiers counts as
        fully redacted, as in eds-pseudo.

    Raises:
        ValueError: The three lists differ in length, or a span does not fit its text.
    """
    if not len(gold) == len(predicted) == len(texts):
        raise ValueError(
            f"{len(gold)} gold, {len(predicted)} predicted and {len(texts)} texts: lengths differ"
        )
    entity = {label: _Counts() for label in LABELS}
    token = {label: _Counts() for label in LABELS}
    redact = {label: _Counts() for label in ("all", *LABELS)}
    complete = 0
    for doc_gold, doc_pred, text in zip(gold, predicted, texts, strict=True):
        _check_fit(doc_gold, text)
        _check_fit(doc_pred, text)
        _count_entities(entity, doc_gold, doc_pred)
        complete += _count_tokens(token, redact, doc_gold, doc_pred, tokenize(text))
    return {
        "n_documents": len(texts),
        "entity": _summary(entity),
        "token": _summary(token),
        "redact": redact["all"].tp / redact["all"].support if redact["all"].support else 1.0,
        "redact_full": complete / len(texts) if texts else 1.0,
        "redact_precision": redact["all"].tp / redact["all"].predicted if redact["all"].predicted else None,
        "redact_per_label": {
            label: counts.tp / counts.support if counts.support else None
            for label, counts in redact.items()
            if label != "all"
        },
    }


def evaluate_detector(
    config: PseudoConfig, source: Cohort | str | Path, split: str = "test", progress: bool = False
) -> dict[str, Any]:
    """Score the detector that ``config`` names against gold identifiers.

    Args:
        config: The pseudonymization settings (``detector``, ``model``, ``propagate_names``).
        source: A cohort (its ``phi.jsonl``; its gold evidence, when it has some, must stay intact) or an
            eds-pseudo JSONL file.
        split: The cohort's patients: ``train``, ``dev``, ``test`` or ``all`` (ignored for a file).
        progress: A progress bar while detecting.

    Returns:
        ``{"detector", "note" (when the detector had no model), "texts", **``:func:`~clinrag.pseudo.pipeline.evaluate_detection`'s metrics``}``.
        With ``mode: adaptive`` (then also ``"mode"``), what adaptive masking covers is scored (the identifiers plus the lines and
        words it masks): only the label-free metrics (redact, redact full, redact precision, intact shares)
        then mean anything.

    Raises:
        ClinragError: A cohort without ``phi.jsonl``, no text to score, an unreadable file, or a detector that
            cannot be built.
    """
    # imported here: the pipeline imports score() from this module
    from clinrag.pseudo.pipeline import (
        build_detector,
        check_detector,
        describe_detector,
        detect_notes,
        evaluate_detection,
    )

    check_detector(config)

    kept: list[list[tuple[int, int]]] = []
    if isinstance(source, Cohort):
        where = str(source.root) if source.root is not None else "cohort"
        if not source.phi:
            raise ClinragError(f"{where}/phi.jsonl: missing, nothing to score against")
        notes = cohort_notes(source, None if split == "all" else source.split_patients(split))
        if not notes:
            raise ClinragError(f"{where}: no document in the {split} split")
        kept = evidence_ranges(source, notes) if source.evidence else []
    else:
        notes = load_eds_pseudo(source)
    labeller = None
    if config.mode == "adaptive":  # a classifier folder that is not one is refused before any work
        from clinrag.pseudo.section_classifier import build_labeller

        labeller = build_labeller(config.adaptive.classifier)
    detector = build_detector(config)
    predicted = detect_notes(detector, notes, config.propagate_names, progress)
    note = getattr(detector, "note", None)
    head = {"detector": describe_detector(detector), **({"note": note} if note else {})}
    if labeller is None:
        return {**head, "texts": len(notes), **evaluate_detection(notes, predicted, kept)}
    # what adaptive masking covers: the identifiers, and the lines and words it masks beyond them
    from clinrag.pseudo.adaptive import coverage_spans, plan

    texts = [note.text for note in notes]
    labelled = labeller.label(texts, predicted)
    covered = [
        coverage_spans(text, plan(text, spans, blocks, config.adaptive))
        for text, spans, blocks in zip(texts, predicted, labelled, strict=True)
    ]
    return {
        **head,
        "mode": "adaptive",
        "texts": len(notes),
        **evaluate_detection(notes, covered, kept),
    }


def _check_fit(spans: Sequence[Span], text: str) -> None:
    for span in spans:
        if span.end > len(text):
            raise ValueError(
                f"span {span.start}..{span.end} ({span.label}) ends after the text ({len(text)} chars)"
            )


def _count_entities(counts: dict[str, _Counts], gold: Sequence[Span], predicted: Sequence[Span]) -> None:
    """Exact matches: a predicted span counts when a gold span has the same start, end and label."""
    gold_keys = Counter((s.start, s.end, s.label) for s in gold)
    pred_keys = Counter((s.start, s.end, s.label) for s in predicted)
    for label in LABELS:
        g = Counter({k: n for k, n in gold_keys.items() if k[2] == label})
        p = Counter({k: n for k, n in pred_keys.items() if k[2] == label})
        counts[label].add(sum((g & p).values()), sum(p.values()), sum(g.values()))


def _covered(spans: Sequence[Span], tokens: list[tuple[int, int]], starts: list[int]) -> dict[str, set[int]]:
    """For each label, the indices of the tokens that its spans overlap."""
    by_label: dict[str, set[int]] = {}
    for span in spans:
        first = max(0, bisect.bisect_right(starts, span.start) - 1)
        indices = by_label.setdefault(span.label, set())
        for index in range(first, len(tokens)):
            start, end = tokens[index]
            if start >= span.end:
                break
            if end > span.start:
                indices.add(index)
    return by_label


def _count_tokens(
    token: dict[str, _Counts],
    redact: dict[str, _Counts],
    gold: Sequence[Span],
    predicted: Sequence[Span],
    tokens: list[tuple[int, int]],
) -> bool:
    """Add one document's token counts; returns whether every identifier token of it is covered."""
    starts = [start for start, _ in tokens]
    gold_tokens = _covered(gold, tokens, starts)
    pred_tokens = _covered(predicted, tokens, starts)
    for label in LABELS:
        g, p = gold_tokens.get(label, set()), pred_tokens.get(label, set())
        token[label].add(len(g & p), len(p), len(g))
    any_gold = set().union(*gold_tokens.values())
    any_pred = set().union(*pred_tokens.values())
    for label in LABELS:
        g = gold_tokens.get(label, set())
        redact[label].add(len(g & any_pred), 0, len(g))
    redact["all"].add(len(any_gold & any_pred), len(any_pred), len(any_gold))
    return any_gold <= any_pred


def _summary(counts: dict[str, _Counts]) -> dict[str, Any]:
    micro = _Counts()
    for label_counts in counts.values():
        micro.add(label_counts.tp, label_counts.predicted, label_counts.support)
    return {"micro": micro.to_json(), "per_label": {label: c.to_json() for label, c in counts.items()}}
