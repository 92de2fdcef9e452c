"""Adaptive masking (``clinrag pseudonymize --mode adaptive``): how much of a block is masked depends on its
section sensitivity (:mod:`clinrag.pseudo.sections`).

* Everywhere, the detector's identifiers are masked (``[NOM]``); dates are shifted by the patient's offset, as
  the ``surrogate`` mode does (``dates: shift``, the clinical timeline kept), or masked (``dates: mask``).
* **identity** blocks (letterhead, patient identification, addressee, signature): every line is masked whole
  (``[IDENTITE]``); a field name that holds no identifier stays ("IPP : [IDENTITE]").
* **clinical** blocks: the identifiers, plus what could be one the detector missed: a capitalized word inside a
  sentence that no medical or common vocabulary knows (:func:`clinrag.pseudo.medical_words.known_words`), or a
  first name, city or surname of clinrag's lists, and numbers of 7 digits or more (``[MASQUE]``). Medical terms
  (the protected vocabulary, CIM-10 and ATC words, the stroke lexicons) are kept.
* **general** blocks (advice, leaflets, hospital information): the identifiers alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from clinrag.pseudo.labels import Span
from clinrag.pseudo.replace import OffsetMap, PatientKey, Replaced, replacement_for
from clinrag.pseudo.sections import LabelledSegment, Segment
from clinrag.pseudo.surrogates import DATE_LABELS, SURNAMES, mask_of

IDENTITY_MASK = "[IDENTITE]"
EXTRA_MASK = "[MASQUE]"
_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]")
_LONG_NUMBER = re.compile(r"(?<![\w])\d(?:[ .\-/]?\d){6,}(?![\w])")
_SENTENCE_START = set('.!?:;•*-–—(«"')
_FIELD = re.compile(r"[ \t]*(?:[-•*][ \t]*)?[A-ZÀ-Ý][^:\n]{0,39}?[ \t]*:[ \t]*")


class AdaptiveConfig(BaseModel):
    """Settings of ``--mode adaptive`` (``adaptive.`` in the pseudonymization settings)."""

    model_config = ConfigDict(extra="forbid")

    classifier: str | None = None
    """Folder of a section classifier (``clinrag train-sections``); None: the section rules label the blocks."""
    dates: Literal["shift", "mask"] = "shift"
    """Dates outside identity blocks: shifted by the patient's offset (intervals kept) or masked."""
    identity_lines: bool = True
    """Mask every line of an identity block whole (false: its identifiers only)."""
    clinical_words: bool = True
    """In clinical blocks, also mask unknown capitalized words and long numbers (false: identifiers only)."""


@dataclass(frozen=True)
class Region:
    """One masked stretch of the original text.

    Attributes:
        start: Offset of its first character.
        end: Offset after its last one.
        kind: ``identifier`` (a detector span), ``line`` (an identity line), ``word`` or ``number`` (clinical).
        sensitivity: The sensitivity of the block it lies in.
        span: The detector span, for an identifier.
    """

    start: int
    end: int
    kind: str
    sensitivity: str
    span: Span | None = None


@dataclass(frozen=True)
class Rewritten:
    """A text rewritten adaptively: the new text, its offset map and replaced identifiers (:class:`Replaced`),
    and every masked region of the original text."""

    replaced: Replaced
    regions: list[Region]

    def records(self, text: str) -> list[tuple[str, str, str]]:
        """``(label or kind, original, replacement)`` of each region, for the mapping file (the key)."""
        out = []
        for region, (_, _, start, end) in zip(self.regions, self.replaced.offsets.edits, strict=True):
            label = region.span.label if region.span is not None else region.kind.upper()
            out.append((label, text[region.start : region.end], self.replaced.text[start:end]))
        return out


def _sensitivity_at(labelled: Sequence[LabelledSegment], offset: int) -> str:
    for item in labelled:
        if item.segment.start <= offset < item.segment.end:
            return item.label
    return "clinical"


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out, cursor = [], start
    while cursor < end:
        stop = text.find("\n", cursor, end)
        stop = end if stop == -1 else stop
        out.append((cursor, stop))
        cursor = stop + 1
    return out


def _identity_lines(text: str, seg: Segment, spans: Sequence[Span]) -> list[tuple[int, int]]:
    """The masked part of each line of an identity block: from its first character (or after a field name that
    holds no identifier) to its last."""
    out = []
    for start, end in _lines(text, seg.start, seg.end):
        line = text[start:end]
        first = start + len(line) - len(line.lstrip())
        field = _FIELD.match(line)
        if field and not any(s.start < start + field.end() and start < s.end for s in spans):
            first = max(first, start + field.end())
        last = start + len(line.rstrip())
        if last > first:
            out.append((first, last))
    return out


def _unknown(word: str) -> bool:
    """Whether a capitalized word could be a name: a first name, city or surname of clinrag's lists, or a word
    that no vocabulary knows (each part of a compound checked)."""
    from clinrag.pseudo.medical_words import fold_word, known_words
    from clinrag.pseudo.vocabulary import is_protected

    if is_protected(word):
        return False
    whole = fold_word(word)
    parts = [fold_word(p) for p in re.split(r"[-'’]", word) if p]
    if whole in _name_words() or any(p in _name_words() for p in parts):
        return True
    known = known_words()
    return not (whole in known or all(p in known or len(p) < 3 for p in parts))


@cache
def _name_words() -> frozenset[str]:
    """Folded first names, cities and surnames of clinrag's lists."""
    from clinrag.pseudo.medical_words import fold_word
    from clinrag.pseudo.vocabulary import cities, first_names

    return frozenset(first_names()) | {fold_word(c) for c in cities()} | {fold_word(n) for n in SURNAMES}


def _clinical_extras(text: str, seg: Segment, taken: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Unknown capitalized words inside sentences and long numbers of a clinical block, outside ``taken``."""
    from clinrag.pseudo.vocabulary import protected_ranges

    body = text[seg.start : seg.end]
    blocked = [*taken, *((seg.start + s, seg.start + e) for s, e in protected_ranges(body))]

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in blocked)

    out = []
    for match in _WORD.finditer(body):
        word = match.group()
        start, end = seg.start + match.start(), seg.start + match.end()
        letters = [c for c in word if c.isalpha()]
        if not word[0].isupper() or len(letters) < 3 or not free(start, end):
            continue
        if all(c.isupper() for c in letters) and len(letters) <= 5:
            continue  # an acronym: HTA, NIHSS, USINV
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line = text[line_start : len(text) if line_end == -1 else line_end]
        if not any(c.islower() for c in line):
            continue  # a title in capitals
        before = text[line_start:start].rstrip()
        if not before or before[-1] in _SENTENCE_START or before[-1].isdigit():
            continue  # a sentence's first word
        if _unknown(word):
            out.append((start, end, "word"))
    for match in _LONG_NUMBER.finditer(body):
        start, end = seg.start + match.start(), seg.start + match.end()
        if free(start, end):
            out.append((start, end, "number"))
    return out


def plan(
    text: str, spans: Sequence[Span], labelled: Sequence[LabelledSegment], config: AdaptiveConfig
) -> list[Region]:
    """The regions of ``text`` to mask, in text order, without overlaps.

    Args:
        text: The document.
        spans: The detector's identifiers (non-overlapping).
        labelled: Its blocks with their sensitivity.
        config: Settings.
    """
    lines: list[tuple[int, int]] = []
    if config.identity_lines:
        for item in labelled:
            if item.label == "identity":
                lines += _identity_lines(text, item.segment, spans)
    # a line swallows the identifiers it touches, and grows to cover them whole
    merged: list[list[int]] = []
    for start, end in sorted(lines):
        for span in spans:
            if span.start < end and start < span.end:
                start, end = min(start, span.start), max(end, span.end)
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    regions = [Region(s, e, "line", "identity") for s, e in merged]
    for span in spans:
        if not any(s < span.end and span.start < e for s, e in merged):
            regions.append(
                Region(span.start, span.end, "identifier", _sensitivity_at(labelled, span.start), span)
            )
    if config.clinical_words:
        taken = [(r.start, r.end) for r in regions]
        for item in labelled:
            if item.label == "clinical":
                for start, end, kind in _clinical_extras(text, item.segment, taken):
                    regions.append(Region(start, end, kind, "clinical"))
    return sorted(regions, key=lambda r: r.start)


def _replacement(region: Region, key: PatientKey, config: AdaptiveConfig) -> str:
    if region.kind == "line":
        return IDENTITY_MASK
    if region.span is None:
        return EXTRA_MASK
    if region.span.label in DATE_LABELS and config.dates == "shift" and region.sensitivity != "identity":
        return replacement_for(region.span, key, "surrogate")
    return mask_of(region.span.label)


def rewrite(
    text: str,
    spans: Sequence[Span],
    labelled: Sequence[LabelledSegment],
    key: PatientKey,
    config: AdaptiveConfig,
) -> Rewritten:
    """Mask ``text`` adaptively (see the module docstring).

    Args:
        text: The document.
        spans: The detector's identifiers (non-overlapping).
        labelled: Its blocks with their sensitivity.
        key: The patient's key (date offset).
        config: Settings.

    Returns:
        The new text, its identifiers' replacements and offset map, and the masked regions.
    """
    regions = plan(text, spans, labelled, config)
    pieces: list[str] = []
    new_spans: list[Span] = []
    edits: list[tuple[int, int, int, int]] = []
    cursor = length = 0
    for region in regions:
        pieces.append(text[cursor : region.start])
        length += region.start - cursor
        replacement = _replacement(region, key, config)
        pieces.append(replacement)
        edits.append((region.start, region.end, length, length + len(replacement)))
        if region.span is not None:
            new_spans.append(
                Span(length, length + len(replacement), region.span.label, replacement, "adaptive")
            )
        length += len(replacement)
        cursor = region.end
    pieces.append(text[cursor:])
    return Rewritten(Replaced("".join(pieces), new_spans, OffsetMap(tuple(edits))), regions)


def whole_text(text: str, sensitivity: str = "clinical") -> list[LabelledSegment]:
    """One block covering ``text`` with the given sensitivity (a table's free-text cell)."""
    return [LabelledSegment(Segment(0, len(text), "", False, "", 0), sensitivity, "whole text")]


def coverage_spans(text: str, regions: Sequence[Region]) -> list[Span]:
    """The masked regions as spans, for the redaction metrics of :func:`clinrag.pseudo.evaluate.score` (which
    read what is covered, not labels): an identifier keeps its label; a line, word or number mask is scored as
    a NOM span, so only the label-free metrics (redact, redact full, redact precision) mean anything."""
    return [
        r.span if r.span is not None else Span.of(text, r.start, r.end, "NOM", f"adaptive-{r.kind}")
        for r in regions
    ]
