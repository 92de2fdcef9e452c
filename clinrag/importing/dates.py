"""Reading one date of an export: a document's date (with its time when written) or a table's date cell.

French forms, day first whenever the day and the month are numbers: ``02/06/2024``, ``2/6/24``,
``02.06.2024``, ``02-06-2024``, ``2 juin 2024``, ``1er juin 2024``, ``dimanche 2 juin 2024``, ``2 juin 2024 à
14h05``; ISO: ``2024-06-02``, ``2024-06-02T14:05``, ``2024-06-02 14:05:00``. A time is ``14:05``, ``14h05``,
``14h`` or ``14:05:00`` (seconds are dropped: the cohort format keeps hours and minutes).

The words are those of :mod:`clinrag.text.dates` (the month names and their abbreviations, the weekdays, the
two-digit-year pivot); the three patterns below are this module's own because none of the readings there is this
one, and making one of them serve would change what it accepts:

* :func:`clinrag.text.dates.parse_date` reads a cohort's table cell: no time, no two-digit year, no abbreviated
  month or weekday ("2/6/24", "dimanche 2 juin 2024 à 14h05" are refused), mixed separators accepted ("02/06-2024");
  widening it would change what ``clinrag validate`` accepts in a cohort;
* :data:`clinrag.text.dates.DATE_FORMATS` reads back whatever span a detector found, to write it shifted: mixed
  separators, spaces and ``|`` around them, no year ("3 janv."), a time only after ``T``; as the reader of an
  export it would take "2 juin" or "02/06-2024" for dates, which is guessing;
* :func:`clinrag.text.dates.find_dates` finds dates inside running text, relative ones included ("la veille").

Here the whole cell must be one date, its separator the same throughout, its year written, its weekday the
date's, and each error says which part is wrong. ``dateparser`` was weighed too (``languages=['fr']``,
``DATE_ORDER='DMY'``, ``STRICT_PARSING``), and is not exact here: it reads ``2024-13-01`` as the 13th of
January, accepts ``lundi 2 juin 2024`` although that day was a Sunday, reads ``hier`` as yesterday from the day
it runs, and returns midnight both for ``02/06/2024`` and ``02/06/2024 00:00``, so whether a time was written
is lost. Nothing is guessed here: a form outside the grammar, an impossible day, a weekday that disagrees with
the date or a two-digit year that would fall in the future is an error.
"""

from __future__ import annotations

import datetime as dt
import re

from clinrag.data.values import strip_accents
from clinrag.text.dates import MONTH_FORMS, WEEKDAYS, expand_year

# a time after the date: "14:05", "14:05:00", "14h05", "14h", after a space, "T", ", " or " à "
_TIME = (
    r"(?:(?:\s*t\s*|\s+a\s+|,?\s+)(?P<hour>\d{1,2})"
    r"(?::(?P<minute>\d{2})(?::\d{2})?|\s?h\s?(?P<h_minute>\d{2})?))?"
)
_NUMERIC = re.compile(
    rf"(?P<day>\d{{1,2}})(?P<sep>[/.-])(?P<month>\d{{1,2}})(?P=sep)(?P<year>\d{{4}}|\d{{2}}){_TIME}"
)
_YEAR_FIRST = re.compile(
    rf"(?P<year>\d{{4}})(?P<sep>[/-])(?P<month>\d{{1,2}})(?P=sep)(?P<day>\d{{1,2}}){_TIME}"
)
_WRITTEN = re.compile(
    rf"(?:(?P<weekday>[a-z]+),?\s+)?(?P<day>1er|\d{{1,2}})\s+(?P<month>[a-z]+)\.?\s+(?P<year>\d{{4}}){_TIME}"
)
_MAX_SHOWN = 40  # characters of an unreadable date repeated in its error


class DateError(ValueError):
    """A date that cannot be read exactly; the message is short and may quote the raw date, never more."""


def read_date(raw: str, today: dt.date | None = None) -> tuple[dt.datetime, bool]:
    """Read a date written in one of the module's forms.

    Args:
        raw: The cell's text.
        today: The day a two-digit year must not pass (default: today).

    Returns:
        The date and time (midnight when no time is written), and whether a time was written.

    Raises:
        DateError: Not such a date, an impossible day or time, a weekday that disagrees with the date, or a
            two-digit year that would be in the future.
    """
    folded = re.sub(r"\s+", " ", strip_accents(raw).casefold().strip())
    match = _YEAR_FIRST.fullmatch(folded) or _NUMERIC.fullmatch(folded) or _WRITTEN.fullmatch(folded)
    if match is None:
        raise DateError(
            f"unreadable date '{_shown(raw)}' (expected DD/MM/YYYY, 2 juin 2024 or YYYY-MM-DD, "
            "optionally with a time HH:MM)"
        )
    year = _year(match["year"], raw, today or dt.date.today())
    month = _month(match["month"], raw)
    day = 1 if match["day"] == "1er" else int(match["day"])
    has_time = match["hour"] is not None
    try:
        value = dt.datetime(
            year, month, day, int(match["hour"] or 0), int(match["minute"] or match["h_minute"] or 0)
        )
    except ValueError as err:
        raise DateError(f"'{_shown(raw)}' is not a calendar date and time ({err})") from None
    weekday = match.groupdict().get("weekday")
    if weekday is not None:
        _check_weekday(weekday, value, raw)
    return value, has_time


def _shown(raw: str) -> str:
    raw = raw.strip()
    return raw if len(raw) <= _MAX_SHOWN else raw[: _MAX_SHOWN - 1] + "…"


def _year(text: str, raw: str, today: dt.date) -> int:
    year = expand_year(text)
    if len(text) == 2 and year > today.year:
        raise DateError(f"'{_shown(raw)}': the two-digit year would be {year}; write the year in full")
    return year


def _month(text: str, raw: str) -> int:
    if text.isdigit():
        return int(text)
    if text not in MONTH_FORMS:
        raise DateError(f"'{_shown(raw)}': unknown month '{text}'")
    return MONTH_FORMS[text]


def _check_weekday(name: str, value: dt.datetime, raw: str) -> None:
    if name not in WEEKDAYS:
        raise DateError(f"'{_shown(raw)}': '{name}' is not a day of the week")
    actual = WEEKDAYS[value.weekday()]
    if name != actual:
        raise DateError(f"'{_shown(raw)}': {value.date().isoformat()} is a {actual}, not a {name}")
