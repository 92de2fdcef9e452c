"""Pseudonymization: finding the personal identifiers of French clinical text (rules, a trainable NER model, or
both), replacing them by masks or consistent surrogates, rewriting a whole cohort consistently, and scoring a
detector against gold annotations the way eds-pseudo does."""

from __future__ import annotations

from clinrag.pseudo.evaluate import score
from clinrag.pseudo.labels import LABELS, Span
from clinrag.pseudo.replace import OffsetMap, PatientKey, Replaced, replace, shift_iso_date
from clinrag.pseudo.rules import detect, resolve_overlaps

__all__ = [
    "LABELS",
    "OffsetMap",
    "PatientKey",
    "Replaced",
    "Span",
    "detect",
    "replace",
    "resolve_overlaps",
    "score",
    "shift_iso_date",
]
