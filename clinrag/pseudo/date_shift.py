"""Dates written back in their original format, shifted by a patient's offset: :func:`shift_date_text` for a date
as a text writes it ("12/03/24", "1er mars 2024", "mars 2024", "en 2007"), :func:`shift_iso_date` for table cells
and document ``date`` fields. A year alone is shifted from its middle (see :mod:`clinrag.pseudo.replace`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from clinrag.data.values import strip_accents
from clinrag.pseudo.surrogates import match_case
from clinrag.pseudo.vocabulary import fold
from clinrag.text.dates import (
    DATE_FORMATS,
    FULL_MONTHS,
    ISO_TIMESTAMP,
    MONTH_FORMS,
    WEEKDAY_ABBREVIATIONS,
    WEEKDAYS,
    expand_year,
    month_name,
)

if TYPE_CHECKING:
    from clinrag.pseudo.replace import PatientKey

#: The leap year in which a day and month without a year ("29/02") are shifted.
_REFERENCE_YEAR = 2000


# ---------------------------------------------------------------------------------------------------------
# dates in their original format
# ---------------------------------------------------------------------------------------------------------
def _write_year(year: int, like: str) -> str:
    """The year with as many digits as ``like`` (and its apostrophe: "'93")."""
    digits = like.lstrip("'")
    written = f"{year % 100:02d}" if len(digits) == 2 else f"{year:04d}"
    return like[: len(like) - len(digits)] + written


def _pad(number: int, like: str) -> str:
    """A day or month number zero-padded like ``like`` ("03" -> "05", "3" -> "5")."""
    return f"{number:0{len(like)}d}" if len(like) == 2 else str(number)


def _month_number(word: str) -> int:
    """The month of a French month name or abbreviation (any case, accents optional)."""
    return MONTH_FORMS[fold(word).rstrip(".")]


def _write_month(month: int, like: str) -> str:
    """A month name in the form of ``like``: full or abbreviated, accented or not, in its case."""
    abbreviated = fold(like) not in FULL_MONTHS
    name = month_name(month, abbreviated)
    original_name = month_name(_month_number(like), abbreviated)
    if original_name != strip_accents(original_name) and like == strip_accents(like):
        name = strip_accents(name)  # the writer left accents out ("fevrier"): so do we
    return match_case(name, like)


def _write_day(day: int, like: str) -> str:
    """A day of month in text, written like ``like``: "1er" kept for the first, zero padding kept."""
    if like.lower() == "1er":
        return "1er" if day == 1 else str(day)
    return _pad(day, like)


def _shift_numeric(m: re.Match[str], key: PatientKey) -> str:
    new = key.shift(dt.date(expand_year(m["year"]), int(m["month"]), int(m["day"])))
    return (
        f"{_pad(new.day, m['day'])}{m['sep1']}{_pad(new.month, m['month'])}{m['sep2']}"
        f"{_write_year(new.year, m['year'])}"
    )


def _shift_iso(m: re.Match[str], key: PatientKey) -> str:
    new = key.shift(dt.date(int(m["year"]), int(m["month"]), int(m["day"])))
    return (
        f"{new.year:04d}{m['sep1']}{_pad(new.month, m['month'])}{m['sep2']}{_pad(new.day, m['day'])}"
        f"{m['time'] or ''}"
    )


def _shift_compact(m: re.Match[str], key: PatientKey) -> str:
    new = key.shift(dt.date(int(m["year"]), int(m["month"]), int(m["day"])))
    return f"{new.day:02d}{new.month:02d}{new.year:04d}"


def _shift_text(m: re.Match[str], key: PatientKey) -> str:
    weekday = m["weekday"]
    abbreviated = weekday is not None and weekday.endswith(".")
    if weekday is not None and fold(weekday.rstrip(".")) not in (
        WEEKDAY_ABBREVIATIONS if abbreviated else WEEKDAYS
    ):
        raise ValueError(f"'{weekday}' is not a weekday")
    day = 1 if m["day"].lower() == "1er" else int(m["day"])
    year = int(m["year"]) if m["year"] else _REFERENCE_YEAR
    new = key.shift(dt.date(year, _month_number(m["month"]), day))
    dot = "." if m["month"].endswith(".") else ""
    written = (
        f"{_write_day(new.day, m['day'])}{m['sep1']}{_write_month(new.month, m['month'].rstrip('.'))}{dot}"
    )
    if m["year"]:
        written += f"{m['sep2']}{new.year:04d}"
    if weekday is not None:
        name = WEEKDAY_ABBREVIATIONS[new.weekday()] + "." if abbreviated else WEEKDAYS[new.weekday()]
        written = f"{match_case(name, weekday)}{m['wsep']}{written}"
    return written


def _shift_month_year(m: re.Match[str], key: PatientKey) -> str:
    """A month without its day: the 15th is shifted, so the month moves as the patient's dates do."""
    new = key.shift(dt.date(expand_year(m["year"]), _month_number(m["month"]), 15))
    dot = "." if m["month"].endswith(".") else ""
    return (
        f"{_write_month(new.month, m['month'].rstrip('.'))}{dot}{m['sep']}{_write_year(new.year, m['year'])}"
    )


def _shift_numeric_month_year(m: re.Match[str], key: PatientKey) -> str:
    new = key.shift(dt.date(int(m["year"]), int(m["month"]), 15))
    return f"{_pad(new.month, m['month'])}{m['sep']}{new.year:04d}"


def _shift_day_month(m: re.Match[str], key: PatientKey) -> str:
    """A day and month without a year: shifted within a leap year, so "29/02" is a date too."""
    new = key.shift(dt.date(_REFERENCE_YEAR, int(m["month"]), int(m["day"])))
    return f"{_pad(new.day, m['day'])}{m['sep']}{_pad(new.month, m['month'])}"


def _shift_year(m: re.Match[str], key: PatientKey) -> str:
    return str(key.shift(dt.date(int(m["year"]), 7, 2)).year)


#: How each of :data:`clinrag.text.dates.DATE_FORMATS` is written shifted, in its own format.
_WRITERS: dict[str, Callable[[re.Match[str], PatientKey], str]] = {
    "iso": _shift_iso,
    "numeric": _shift_numeric,
    "compact": _shift_compact,
    "written": _shift_text,
    "month_year": _shift_month_year,
    "numeric_month_year": _shift_numeric_month_year,
    "day_month": _shift_day_month,
    "year": _shift_year,
}


def shift_date_text(text: str, key: PatientKey) -> str | None:
    """A date as written in a text, shifted by the patient's offset and written in the same format.

    Args:
        text: The date ("12/03/2024", "1er mars 2024", "mars 2024", "12/03", "2024-03-12", ...).
        key: The patient's key.

    Returns:
        The shifted date, or ``None`` when ``text`` is no date this module can read (the caller masks it).
    """
    for name, pattern in DATE_FORMATS.items():
        match = pattern.fullmatch(text)
        if match is None:
            continue
        write = _WRITERS[name]
        try:
            return write(match, key)
        except (KeyError, ValueError, OverflowError):
            continue
    return None


def shift_iso_date(value: str, key: PatientKey) -> str:
    """Shift a table cell or a document's ``date`` field: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]``.

    The shift is the one applied to the patient's texts, so the cohort's tables stay consistent with them.

    Raises:
        ValueError: Any other form, or an impossible date.
    """
    match = ISO_TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"'{value}' is not an ISO date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM)")
    new = key.shift(dt.date(int(match["year"]), int(match["month"]), int(match["day"])))
    return new.isoformat() + (match["time"] or "")
