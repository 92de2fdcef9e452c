"""Replacing the identifiers found in a text: by a mask (``[NOM]``) or by a consistent surrogate.

A :class:`PatientKey` holds one patient's seeded state: a date offset (a function of the seed and the patient
id alone, so every document and table of the patient shifts by the same number of days and the intervals
between dates are kept exactly) and the surrogates drawn so far, so that the same original identifier gets the
same surrogate in all the patient's documents. :func:`replace` rewrites one text and returns, with the new text
and its spans, an :class:`OffsetMap` that carries offsets of the original text (gold answers, evidence spans)
to the new one. :func:`shift_iso_date` shifts the ISO dates of table cells and document ``date`` fields the
same way as the dates of the text.

Dates are written back in their original format ("12/03/24", "1er mars 2024", "mars 2024", "2024-03-12");
a date that cannot be read is masked, never left in clear. A year alone ("en 2007") is shifted from its
middle, so it changes only when the offset crosses a new year: a year alone is kept by HIPAA's safe harbour
too, and masking it would lose the patient's history.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from typing import Literal

from clinrag.pseudo.date_shift import shift_date_text, shift_iso_date  # noqa: F401  (re-exported: importable from here as before)
from clinrag.pseudo.labels import Span
from clinrag.pseudo.surrogates import (  # noqa: F401  (re-exported: importable from here as before)
    DATE_LABELS,
    GENERATORS,
    MAX_DRAWS,
    SURNAMES,
    leaks,
    mask_of,
    match_case,
    normalize_identifier,
    render,
)

Mode = Literal["mask", "surrogate"]


# ---------------------------------------------------------------------------------------------------------
# the patient's key
# ---------------------------------------------------------------------------------------------------------
class PatientKey:
    """One patient's pseudonymization state: a date offset and the surrogates drawn so far.

    Everything is a deterministic function of ``(seed, patient_id)``: the same key rebuilt later gives the
    same offset and the same surrogates. The same original identifier (compared case- and
    accent-insensitively, whitespace normalized; digits only for numbers) gets the same surrogate each time;
    another patient's key draws independently.

    Args:
        patient_id: The patient's identifier in the cohort.
        seed: The project's pseudonymization secret; whoever knows it and the patient id can undo the shift.
        max_shift_days: The largest date offset, in days, either way.
        min_shift_days: The smallest offset, in days, either way. The default, 32, makes every month-year
            ("mars 2024") change month, so no date is left in clear.

    Raises:
        ValueError: ``min_shift_days`` not in ``1..max_shift_days``.
    """

    def __init__(
        self, patient_id: str, seed: int, max_shift_days: int = 365, min_shift_days: int = 32
    ) -> None:
        if not 1 <= min_shift_days <= max_shift_days:
            raise ValueError(
                f"need 1 <= min_shift_days ({min_shift_days}) <= max_shift_days ({max_shift_days})"
            )
        self.patient_id = patient_id
        self.seed = seed
        self.max_shift_days = max_shift_days
        self.min_shift_days = min_shift_days
        self._surrogates: dict[tuple[str, str], str] = {}
        self._used: dict[str, set[str]] = {}
        self._originals: dict[str, set[str]] = {}
        width = max_shift_days - min_shift_days + 1
        draw = self._hash("date-offset") % (2 * width)
        self.offset_days = min_shift_days + draw if draw < width else -(min_shift_days + draw - width)

    def __repr__(self) -> str:
        return (
            f"PatientKey(patient_id={self.patient_id!r}, seed=<hidden>, max_shift_days={self.max_shift_days})"
        )

    def shift(self, date: dt.date) -> dt.date:
        """The date moved by the patient's offset (datetimes keep their time of day)."""
        return date + dt.timedelta(days=self.offset_days)

    def surrogate(self, label: str, original: str) -> str:
        """The patient's surrogate for an identifier that is not a date, in its canonical form.

        Names, cities and hospitals come in title case and numbers as their characters without separators;
        :func:`replace` then writes them in the case and layout of each occurrence.

        Args:
            label: The identifier's label (not DATE nor DATE_NAISSANCE).
            original: The identifier as written.

        Raises:
            KeyError: A label without a surrogate generator.
        """
        generate = GENERATORS[label]
        normalized = normalize_identifier(label, original)
        remembered = self._surrogates.get((label, normalized))
        if remembered is not None:
            return remembered
        self.register(label, original)
        used = self._used.setdefault(label, set())
        forbidden = self._originals[label]
        candidate = mask_of(label)
        for attempt in range(MAX_DRAWS):
            drawn = generate(self._rng(label, normalized, attempt), normalized)
            folded = normalize_identifier(label, drawn)
            if not leaks(forbidden, folded):
                candidate = drawn
                if folded not in used:
                    break
        # After MAX_DRAWS, a surrogate another identifier already has is reused rather than none (a patient
        # with more distinct names than the list holds); if every draw leaked, the identifier is masked.
        self._surrogates[(label, normalized)] = candidate
        used.add(normalize_identifier(label, candidate))
        return candidate

    def register(self, label: str, original: str) -> None:
        """Mark an identifier as one of the patient's, so that no surrogate of that label is ever written so.

        :func:`replace` registers every identifier of a text before drawing, so the doctor's surrogate cannot
        be the patient's real name; a caller that knows the patient's names can register them up front.
        """
        self._originals.setdefault(label, set()).add(normalize_identifier(label, original))

    def _hash(self, *parts: object) -> int:
        """A 256-bit integer drawn from the seed, the patient id and ``parts``."""
        message = "\x1f".join(str(part) for part in (self.seed, self.patient_id, *parts))
        return int.from_bytes(hashlib.sha256(message.encode("utf-8")).digest(), "big")

    def _rng(self, label: str, normalized: str, attempt: int) -> random.Random:
        """A generator seeded by the identifier itself, so its surrogate does not depend on document order."""
        return random.Random(self._hash(label, normalized, attempt))


# ---------------------------------------------------------------------------------------------------------
# replacing, and the offset map
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OffsetMap:
    """Carries offsets of the original text to the rewritten one.

    Attributes:
        edits: ``(old_start, old_end, new_start, new_end)`` of each replaced identifier, in text order.
    """

    edits: tuple[tuple[int, int, int, int], ...] = ()
    _old_ends: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_old_ends", tuple(edit[1] for edit in self.edits))

    def point(self, offset: int) -> int:
        """Where an offset of the original text falls in the new one.

        An offset at the boundary of a replaced identifier maps to the boundary of its replacement.

        Raises:
            ValueError: The offset is strictly inside a replaced identifier.
        """
        # Edits ending at or before the offset have all shifted it; the next edit may contain it.
        done = bisect.bisect_right(self._old_ends, offset)
        if done < len(self.edits) and self.edits[done][0] < offset:
            old_start, old_end, _, _ = self.edits[done]
            raise ValueError(f"offset {offset} cuts through the replaced identifier {old_start}..{old_end}")
        if done == 0:
            return offset
        _, old_end, _, new_end = self.edits[done - 1]
        return new_end + offset - old_end

    def map(self, start: int, end: int) -> tuple[int, int]:
        """The position in the new text of the original text's ``[start, end)``.

        Text untouched by the replacement keeps its characters; a span covering whole identifiers covers
        their replacements.

        Raises:
            ValueError: ``start > end``, or either end cuts through a replaced identifier.
        """
        if start > end:
            raise ValueError(f"invalid span {start}..{end}")
        return self.point(start), self.point(end)

    def widen(self, start: int, end: int) -> tuple[int, int]:
        """Like :meth:`map`, but an end that cuts through a replaced identifier moves outward to the edge of its
        replacement, so the span still covers (at least) what it covered.

        Raises:
            ValueError: ``start > end``.
        """
        if start > end:
            raise ValueError(f"invalid span {start}..{end}")
        for old_start, old_end, _, _ in self.edits:
            if old_start < start < old_end:
                start = old_start
            if old_start < end < old_end:
                end = old_end
        return self.point(start), self.point(end)


@dataclass(frozen=True)
class Replaced:
    """A text with its identifiers replaced.

    Attributes:
        text: The new text.
        spans: The replacements, labelled as the identifiers they replace, with offsets into :attr:`text`.
        offsets: Carries offsets of the original text to :attr:`text`.
    """

    text: str
    spans: list[Span]
    offsets: OffsetMap


def replacement_for(span: Span, key: PatientKey, mode: Mode) -> str:
    """What one identifier becomes: its mask, or the patient's surrogate written like it.

    A date that cannot be read is masked in both modes, so it never stays in clear.
    """
    if mode == "mask":
        return mask_of(span.label)
    if span.label in DATE_LABELS:
        return shift_date_text(span.text, key) or mask_of(span.label)
    return render(span.label, key.surrogate(span.label, span.text), span.text)


def replace(text: str, spans: list[Span], key: PatientKey, mode: Mode) -> Replaced:
    """Replace the identifiers of a text by masks or by the patient's surrogates.

    Args:
        text: The document.
        spans: Its identifiers (as :func:`~clinrag.pseudo.detect` returns them): non-overlapping, each
            ``span.text == text[span.start:span.end]``.
        key: The patient's key (its surrogates are remembered for the patient's next documents).
        mode: ``"mask"`` writes ``[LABEL]``; ``"surrogate"`` writes consistent fake values, dates shifted.

    Returns:
        The new text, its spans and the offset map from the original text.

    Raises:
        ValueError: An unknown mode, overlapping spans, or a span whose text is not the document's.
    """
    if mode not in ("mask", "surrogate"):
        raise ValueError(f"unknown replacement mode '{mode}' (expected 'mask' or 'surrogate')")
    ordered = _checked(text, spans)
    for span in ordered:
        if mode == "surrogate" and span.label in GENERATORS:
            key.register(span.label, span.text)
    pieces: list[str] = []
    new_spans: list[Span] = []
    edits: list[tuple[int, int, int, int]] = []
    cursor = new_length = 0
    for span in ordered:
        pieces.append(text[cursor : span.start])
        new_length += span.start - cursor
        replacement = replacement_for(span, key, mode)
        pieces.append(replacement)
        edits.append((span.start, span.end, new_length, new_length + len(replacement)))
        new_spans.append(
            Span(new_length, new_length + len(replacement), span.label, replacement, span.source)
        )
        new_length += len(replacement)
        cursor = span.end
    pieces.append(text[cursor:])
    return Replaced("".join(pieces), new_spans, OffsetMap(tuple(edits)))


def _checked(text: str, spans: list[Span]) -> list[Span]:
    """The spans in text order, after checking they fit the text and do not overlap."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for span in ordered:
        if span.end > len(text) or text[span.start : span.end] != span.text:
            raise ValueError(f"span {span.start}..{span.end} '{span.text}' does not match the text")
    for previous, span in zip(ordered, ordered[1:], strict=False):
        if span.start < previous.end:
            raise ValueError(f"overlapping spans '{previous.text}' and '{span.text}'")
    return ordered
