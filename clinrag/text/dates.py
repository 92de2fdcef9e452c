"""Dates written in French clinical text, absolute ("12/03/2023", "12 mars 2023", "12.03.23") or relative to
the document's date ("la veille", "ce jour", "hier", "ce matin"; a day and month without the year, "le 16/01",
"le 3 mars", in the year that puts it nearest before the document)."""

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
    "avant-hier": -2,
    "avant hier": -2,
    "hier": -1,
    "ce jour": 0,
    "aujourd'hui": 0,
    "ce matin": 0,
    "cette nuit": 0,
    "ce soir": 0,
    "cet apres-midi": 0,
    "cet apres midi": 0,
    "le lendemain": 1,
}
_RELATIVE_PATTERN = re.compile(
    r"(?<![\w'-])(?:" + "|".join(re.escape(p) for p in sorted(_RELATIVE, key=len, reverse=True)) + r")(?![\w-])"
)
# a day and a month without the year, as notes write the days of the stay ("le 16/01", "le 3 mars"): the month
# in two figures, so that a fraction ("mRS 2/6", "TA 12/8") is no date
_DAY_MONTH = re.compile(r"(?<![\d/.,])(\d{1,2})[/.](0[1-9]|1[0-2])(?![/.]?\d)")
_TEXTUAL_NO_YEAR = re.compile(r"(?<!\d)(\d{1,2})(?:er)?\s+([a-z]+)(?!\s+\d)")


def _near(reference: dt.date, month: int, day: int) -> dt.date:
    """The date of ``day``/``month`` nearest before ``reference`` or in the month after it (a note written in
    January speaks of "le 28/12" of the year before)."""
    for year in (reference.year, reference.year - 1, reference.year + 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            return None
        if -300 <= (reference - candidate).days <= 330 and candidate <= reference + dt.timedelta(days=31):
            return candidate
    return None


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
        for match in _RELATIVE_PATTERN.finditer(folded):
            found.append((match.start(), match.end(), reference + dt.timedelta(days=_RELATIVE[match.group()])))
        taken = [(start, end) for start, end, _ in found]
        partial = [(m, int(m.group(2)), int(m.group(1))) for m in _DAY_MONTH.finditer(folded)]
        partial += [
            (m, FRENCH_MONTHS[m.group(2)], int(m.group(1)))
            for m in _TEXTUAL_NO_YEAR.finditer(folded)
            if m.group(2) in FRENCH_MONTHS
        ]
        for match, month, day in partial:
            if any(start <= match.start() < end for start, end in taken):
                continue
            date = _near(reference, month, day)
            if date is not None:
                found.append((match.start(), match.end(), date))
    return sorted(found)


# Offsets counted from the index event (the stroke, the admission): "J3" is the third day after it, "H24" the
# 24th hour, "à 3 mois" the visit three months on. Month notations ("M1", "M3") are left out on purpose: in a
# stroke note "M1" is a segment of the middle cerebral artery far more often than a month.
_EVENT_DAY = re.compile(r"(?<![\w/.,-])([jh])\s?\+?\s?(\d{1,3})(?![\w/])")
_EVENT_AFTER = re.compile(
    r"(?<![\w'])(?<!y )(?:a|au bout de)\s+(\d{1,3}|un|une|deux|trois|six|douze)\s+(jours?|semaines?|mois|ans?|heures?|h)\b"
)
_WORD_NUMBERS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "six": 6, "douze": 12}


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):  # the 31st plus one month is the last day of the shorter month
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def find_event_offsets(text: str, index_date: dt.date) -> list[tuple[int, int, dt.date]]:
    """Day counts from the index event ("J3", "J+3", "H24", "à 3 mois", "à 6 semaines"), resolved against
    ``index_date`` (the event's or the admission's date): ``(start, end, date)``, offsets indexing ``text``.

    Hours count in whole days ("H24" and "à 48 h" are one and two days on); months and years are calendar ones.
    """
    folded = strip_accents(text).lower()
    if len(folded) != len(text):
        folded = text.lower()
    found: list[tuple[int, int, dt.date]] = []
    for match in _EVENT_DAY.finditer(folded):
        count = int(match.group(2))
        if match.group(1) == "h":
            if (
                count > 72
            ):  # "H120" is no clinical hour count; "h" followed by a large number is something else
                continue
            count //= 24
        elif count > 400:
            continue
        found.append((match.start(), match.end(), index_date + dt.timedelta(days=count)))
    for match in _EVENT_AFTER.finditer(folded):
        raw, unit = match.group(1), match.group(2)
        count = _WORD_NUMBERS[raw] if raw in _WORD_NUMBERS else int(raw)
        if unit.startswith("jour"):
            day = index_date + dt.timedelta(days=count)
        elif unit.startswith("semaine"):
            day = index_date + dt.timedelta(weeks=count)
        elif unit == "mois":
            day = _add_months(index_date, count)
        elif unit.startswith("an"):
            day = _add_months(index_date, 12 * count)
        else:  # hours
            day = index_date + dt.timedelta(days=count // 24)
        found.append((match.start(), match.end(), day))
    return sorted(found)
