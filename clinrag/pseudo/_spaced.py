"""Numbers dictated digit by digit ("0 1 4 5 ...") and runs of them written one after the other.

A run of single digits separated by single spaces is cut into pieces that each read as a date (8 digits,
DDMMYYYY), a phone number (10 digits from 0) or a social security number (13 digits, or 15 with a valid key):
"0 8 0 6 2 0 2 5 1 8 5 0 6 2 9 3 1 7 2 1 2" is a date then a NIR. A run that cannot be cut so is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from clinrag.pseudo._dates import is_birth_date, valid_date
from clinrag.pseudo._numbers import nir_is_valid, nir_structure_ok
from clinrag.pseudo.labels import Span

# A maximal run: no lone digit just before or after it (that digit would belong to the run).
_RUN = re.compile(r"(?<![\w+])(?<!\b\d )\d(?: \d){6,}(?!\w)(?! \d\b)")
_PIECE_LENGTHS = (15, 13, 10, 8)


def piece_label(digits: str) -> str | None:
    """What a run of digits reads as on its own: ``DATE``, ``TEL``, ``SECU``, or None."""
    n = len(digits)
    if n == 8 and digits[4:6] in ("19", "20") and valid_date(digits[:2], digits[2:4], int(digits[4:])):
        return "DATE"
    if n == 10 and digits[0] == "0":
        return "TEL"
    if (n == 13 and nir_structure_ok(digits)) or (n == 15 and nir_is_valid(digits)):
        return "SECU"
    return None


def segment(digits: str) -> list[tuple[int, int, str]] | None:
    """Cut ``digits`` into the fewest pieces that each have a :func:`piece_label`.

    Returns:
        ``(first digit, end digit, label)`` for each piece, or None when no cut covers every digit.
    """
    n = len(digits)
    best: list[list[tuple[int, int, str]] | None] = [None] * (n + 1)
    best[0] = []
    for start in range(n):
        if best[start] is None:
            continue
        for length in _PIECE_LENGTHS:
            end = start + length
            label = piece_label(digits[start:end]) if end <= n else None
            if label is not None and (best[end] is None or len(best[end]) > len(best[start]) + 1):
                best[end] = [*best[start], (start, end, label)]
    return best[n]


def find_spaced_numbers(text: str) -> Iterator[Span]:
    """Dates, phone numbers and NIR dictated digit by digit, alone or several in a row. A run that cannot be cut
    into such pieces is still an identifier (no clinical value is written as seven lone digits or more, bar a
    scale's steps "0 1 2 3 4 5 6"): labelled by its length and first digit."""
    for run in _RUN.finditer(text):
        digits = run.group().replace(" ", "")
        pieces = segment(digits)
        if pieces is None:
            if digits not in "0123456789" and digits not in "9876543210":
                yield Span.of(text, run.start(), run.end(), _guess(digits))
            continue
        for first, end, label in pieces:
            start, stop = run.start() + 2 * first, run.start() + 2 * (end - 1) + 1
            if label == "DATE" and is_birth_date(text, start, stop):
                label = "DATE_NAISSANCE"
            yield Span.of(text, start, stop, label)


def _guess(digits: str) -> str:
    """The label of a run of digits that reads as no single identifier: a NIR's length from a sex digit, a
    phone's from 0, a date's, or else a patient number."""
    if 13 <= len(digits) <= 16 and digits[0] in "1278":
        return "SECU"
    if digits[0] == "0" and 9 <= len(digits) <= 12:
        return "TEL"
    if len(digits) in (7, 8) and ("19" in digits[3:] or "20" in digits[3:]):
        return "DATE"
    return "IPP"
