"""Pseudonymization: finding the personal identifiers of French clinical text (rules; a trainable NER model
comes later), and scoring a detector against gold annotations the way eds-pseudo does."""

from __future__ import annotations

from clinrag.pseudo.evaluate import score
from clinrag.pseudo.labels import LABELS, Span
from clinrag.pseudo.rules import detect, resolve_overlaps

__all__ = ["LABELS", "Span", "detect", "resolve_overlaps", "score"]
