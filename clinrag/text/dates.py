"""Dates written in French clinical text, absolute ("12/03/2023", "12 mars 2023", "12.03.23") or relative to
the document's date ("la veille", "ce jour")."""

from __future__ import annotations

import datetime as dt
import re

from clinrag.data.values import FRENCH_MONTHS, strip_accents

_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?!\d)")
_TEXTUAL = re.compile(r"(?<!\d)(\d{1,2})(?:er)?\s+([a-z]+)\s+(\d{4})(?!\d)")
_RELATIVE = {
    "l'avant-veille": -2,
    "l'avant veille": -2,
    "la veille": -1,
    "ce jour": 0,
    "aujourd'hui": 0,
    "le lendemain": 1,
}


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


def find_dates(text: str, reference: dt.date | None = None) -> list[tuple[int, int, dt.date]]:
    """Every date in ``text``: ``(start, end, date)``, relative ones resolved against ``reference``.

    Matching is done on an accent-free lower-case copy of the same length, so offsets index ``text``.
    """
    folded = strip_accents(text).lower()
    if len(folded) != len(text):  # a character decomposed into several: fall back to the raw text
        folded = text.lower()
    found: list[tuple[int, int, dt.date]] = []
    for match in _NUMERIC.finditer(folded):
        try:
            found.append(
                (
                    match.start(),
                    match.end(),
                    dt.date(_year(match.group(3)), int(match.group(2)), int(match.group(1))),
                )
            )
        except ValueError:
            continue
    for match in _TEXTUAL.finditer(folded):
        month = FRENCH_MONTHS.get(match.group(2))
        if month:
            try:
                found.append(
                    (match.start(), match.end(), dt.date(int(match.group(3)), month, int(match.group(1))))
                )
            except ValueError:
                continue
    if reference is not None:
        for phrase, shift in _RELATIVE.items():
            for match in re.finditer(re.escape(phrase), folded):
                found.append((match.start(), match.end(), reference + dt.timedelta(days=shift)))
    return sorted(found)
