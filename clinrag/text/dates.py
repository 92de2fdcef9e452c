"""French dates, in one place: how they are written (month names and abbreviations, weekdays, numeric, ISO and
written forms, dates spelled out in words, two-digit years), reading one date, and finding the dates of a text.

Three readings share this grammar, each with its own reach:

* the dates that place a fact in time (retrieval, entities, constrained answers): :func:`find_dates` finds a
  day, a month and a year ("12/03/2023", "12 mars 2023", "12.03.23"), a day and a month in the year that puts
  them nearest before the document ("le 16/01", "le 3 mars"), and words relative to the document's date ("la
  veille", "ce jour", "hier", "ce matin"); :func:`find_event_offsets` the day counts from the index event
  ("J3", "H24", "à 3 mois");
* every date that could identify a patient (:mod:`clinrag.pseudo._dates`, with the patterns of
  :data:`IDENTIFYING_PATTERNS`: a month and a year, a year after "en", dates spelled out), read back whole by
  :data:`DATE_FORMATS` so that :mod:`clinrag.pseudo.replace` writes it shifted in its own format;
* a table cell (:func:`parse_date`) and a document's ``date`` field (:func:`parse_document_date`).

edsnlp's ``eds.dates``, which :mod:`clinrag.text.entities` runs on the documents it annotates, does not serve
these readings: its spans and normalized dates lose what the pseudonymizer must write back in place (the
separators, the padding, the month's form, the dot of "janv."), it misses "12032024" and keeps only the year
of "12 / 03 / 2024" and "12|03|2024", it reads "TA 12/8" as a date, and it runs about 35 times slower than these
patterns over the cohorts' 655 documents (2.2 s against 0.06 s).
"""

from __future__ import annotations

import datetime as dt
import re

from clinrag.data.values import normalize_text, strip_accents
from clinrag.errors import quoted
from clinrag.text.folding import fold_same_length

# ---------------------------------------------------------------------------------------------------------
# the words
# ---------------------------------------------------------------------------------------------------------
#: The months as French writes them: the full name, then its abbreviation as the Imprimerie nationale's
#: "Lexique des règles typographiques" gives it (janv., févr., avr., juil., sept., oct., nov., déc.; mars, mai,
#: juin and août are not abbreviated), then the three letters of date stamps ("jan", "fév", "sep").
MONTHS: tuple[tuple[str, ...], ...] = (
    ("janvier", "janv", "jan"),
    ("février", "févr", "fév"),
    ("mars",),
    ("avril", "avr"),
    ("mai",),
    ("juin",),
    ("juillet", "juil"),
    ("août",),
    ("septembre", "sept", "sep"),
    ("octobre", "oct"),
    ("novembre", "nov"),
    ("décembre", "déc"),
)
#: The days of the week, Monday first as :meth:`datetime.date.weekday` counts them.
WEEKDAYS: tuple[str, ...] = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
#: Their abbreviations, written with a dot in dated headers ("jeu. 16 janv. 2025", mail clients, agendas).
WEEKDAY_ABBREVIATIONS: tuple[str, ...] = tuple(day[:3] for day in WEEKDAYS)
#: Every form of :data:`MONTHS`, accents stripped, to its month number ("fevr": 2).
MONTH_FORMS: dict[str, int] = {strip_accents(form): n for n, forms in enumerate(MONTHS, 1) for form in forms}
#: The full month names alone, accents stripped ("fevrier": 2).
FULL_MONTHS: dict[str, int] = {strip_accents(forms[0]): n for n, forms in enumerate(MONTHS, 1)}


def month_name(month: int, abbreviated: bool = False) -> str:
    """The French name of a month ("février"), or its abbreviation without the dot ("févr"; "mars" for March)."""
    forms = MONTHS[month - 1]
    return forms[1] if abbreviated and len(forms) > 1 else forms[0]


def expand_year(text: str) -> int:
    """A year of four digits, or of two (``"24"`` is 2024, ``"87"`` 1987, ``"'93"`` 1993: the pivot is 70)."""
    digits = text.lstrip("'")
    year = int(digits)
    if len(digits) == 2:
        year += 2000 if year < 70 else 1900
    return year


def _accents_optional(word: str) -> str:
    """A regex matching ``word`` with or without its accents ("août" -> ``ao[ûu]t``)."""
    return "".join(f"[{c}{strip_accents(c)}]" if strip_accents(c) != c else c for c in word)


#: Any form of any month, accents optional (match it case-insensitively).
MONTH_PATTERN = "|".join(_accents_optional(form) for forms in MONTHS for form in forms)
#: A full month name, accents optional.
FULL_MONTH_PATTERN = "|".join(_accents_optional(forms[0]) for forms in MONTHS)
# Numbers written in words, as a date spelled out uses them ("trente et un décembre deux mille vingt-trois").
_NUMBER_WORD = (
    r"premier|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|"
    r"vingt|trente|et"
)
NUMBER_WORDS: tuple[str, ...] = tuple(_NUMBER_WORD.split("|"))
"""The French number words of dates, one a word (the augmenter writes small numbers with them)."""
_YEAR_WORD = rf"{_NUMBER_WORD}|mille|mil|cents?|quarante|cinquante|soixante|quatre-vingts?"
#: A word of a year spelled out ("deux mille vingt-sept": each of its words).
YEAR_WORD_PATTERN = _YEAR_WORD

# ---------------------------------------------------------------------------------------------------------
# the dates of a clinical note, absolute or relative to the note's date
# ---------------------------------------------------------------------------------------------------------
# Matched on an accent-free lower-case copy of the text: a year in two or four figures, a month named in full
# (checked against FULL_MONTHS).
_NOTE_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?!\d)")
_NOTE_WRITTEN = re.compile(r"(?<!\d)(\d{1,2})(?:er)?\s+([a-z]+)\s+(\d{4})(?!\d)")
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
    r"(?<![\w'-])(?:"
    + "|".join(re.escape(p) for p in sorted(_RELATIVE, key=len, reverse=True))
    + r")(?![\w-])"
)
# a day and a month without the year, as notes write the days of the stay ("le 16/01", "le 3 mars"): the month
# in two figures, so that a fraction ("mRS 2/6", "TA 12/8") is no date
_NOTE_DAY_MONTH = re.compile(r"(?<![\d/.,])(\d{1,2})[/.](0[1-9]|1[0-2])(?![/.]?\d)")
_NOTE_WRITTEN_NO_YEAR = re.compile(r"(?<!\d)(\d{1,2})(?:er)?\s+([a-z]+)(?!\s+\d)")


def _near(reference: dt.date, month: int, day: int) -> dt.date | None:
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


def find_dates(text: str, reference: dt.date | None = None) -> list[tuple[int, int, dt.date]]:
    """Every date in ``text``: ``(start, end, date)``, relative ones resolved against ``reference``.

    Matching is done on an accent-free lower-case copy of the same length, so offsets index ``text``.
    """
    folded = fold_same_length(text)
    found: list[tuple[int, int, dt.date]] = []
    for match in _NOTE_NUMERIC.finditer(folded):
        try:
            found.append(
                (
                    match.start(),
                    match.end(),
                    dt.date(expand_year(match.group(3)), int(match.group(2)), int(match.group(1))),
                )
            )
        except ValueError:
            continue
    for match in _NOTE_WRITTEN.finditer(folded):
        month = FULL_MONTHS.get(match.group(2))
        if month:
            try:
                found.append(
                    (match.start(), match.end(), dt.date(int(match.group(3)), month, int(match.group(1))))
                )
            except ValueError:
                continue
    if reference is not None:
        for match in _RELATIVE_PATTERN.finditer(folded):
            found.append(
                (match.start(), match.end(), reference + dt.timedelta(days=_RELATIVE[match.group()]))
            )
        taken = [(start, end) for start, end, _ in found]
        partial = [(m, int(m.group(2)), int(m.group(1))) for m in _NOTE_DAY_MONTH.finditer(folded)]
        partial += [
            (m, FULL_MONTHS[m.group(2)], int(m.group(1)))
            for m in _NOTE_WRITTEN_NO_YEAR.finditer(folded)
            if m.group(2) in FULL_MONTHS
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
    folded = fold_same_length(text)
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


# ---------------------------------------------------------------------------------------------------------
# one date, the whole text: a cell, a document's date field, a timestamp
# ---------------------------------------------------------------------------------------------------------
#: ``YYYY-MM-DD``, optionally followed by a time ``THH:MM`` or ``THH:MM:SS``.
ISO_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?P<time>T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
)


def parse_date(raw: str) -> dt.date:
    """Read a table cell's date: ``YYYY-MM-DD``, ``DD/MM/YYYY``, ``DD-MM-YYYY``, ``DD.MM.YYYY`` or ``12 mars 2024``
    (its case, accents and end punctuation ignored).

    Raises:
        ValueError: The text is not such a date, or not a real calendar day.
    """
    stripped = raw.strip()
    iso = ISO_TIMESTAMP.fullmatch(stripped)
    if iso is not None and iso["time"] is not None:
        iso = None
    numeric = _NOTE_NUMERIC.fullmatch(stripped)  # its year in four figures, below
    written = _NOTE_WRITTEN.fullmatch(normalize_text(raw))
    try:
        if iso is not None:
            return dt.date(int(iso["year"]), int(iso["month"]), int(iso["day"]))
        if numeric is not None and len(numeric.group(3)) == 4:
            return dt.date(int(numeric.group(3)), int(numeric.group(2)), int(numeric.group(1)))
        if written is not None and written.group(2) in FULL_MONTHS:
            return dt.date(int(written.group(3)), FULL_MONTHS[written.group(2)], int(written.group(1)))
    except ValueError as err:
        raise ValueError(f"{quoted(raw)} is not a calendar date") from err
    raise ValueError(f"{quoted(raw)} is not a date (expected YYYY-MM-DD)")


def parse_document_date(raw: str) -> dt.datetime:
    """Read a document's ``date`` field: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM``.

    Raises:
        ValueError: Any other form, or an impossible date or time.
    """
    m = ISO_TIMESTAMP.fullmatch(raw)
    if m is None or m["second"] is not None:
        raise ValueError(f"unparsable date {quoted(raw)} (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM)")
    try:
        return dt.datetime(
            int(m["year"]), int(m["month"]), int(m["day"]), int(m["hour"] or 0), int(m["minute"] or 0)
        )
    except ValueError as err:
        raise ValueError(f"unparsable date {quoted(raw)} ({err})") from err


# ---------------------------------------------------------------------------------------------------------
# every date that could identify a patient, and each read back in its own format
# ---------------------------------------------------------------------------------------------------------
#: The forms of a date in running text, each bounded so that it is no part of a longer number or word, with
#: groups ``day``, ``month`` and ``year`` where the form has them. Telling "12/8 mmHg" or "né le" apart is the
#: reader's part (:mod:`clinrag.pseudo._dates`).
IDENTIFYING_PATTERNS: dict[str, re.Pattern[str]] = {
    # 12/03/2024, 12.03.24, 12 - 03 - 2024, 12|03|2024: one separator throughout
    "numeric": re.compile(
        r"(?<![\w/.\-|])(?P<day>\d{1,2}) ?(?P<sep>[/.\-|]) ?(?P<month>\d{1,2}) ?(?P=sep) ?(?P<year>\d{4}|\d{2})"
        r"(?![\w]|[/.\-|]\d)"
    ),
    # 2024-03-12, 2024/3/12
    "iso": re.compile(
        r"(?<![\w/.\-])(?P<year>(?:19|20)\d{2})(?P<sep>[/.\-])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})"
        r"(?![\w]|[/.\-]\d)"
    ),
    # 12032024
    "compact": re.compile(r"(?<![\w])(?P<day>\d{2})(?P<month>\d{2})(?P<year>(?:19|20)\d{2})(?![\w])"),
    # 03/2024
    "numeric_month_year": re.compile(
        r"(?<![\w/.\-|])(?P<month>0?[1-9]|1[0-2]) ?/ ?(?P<year>(?:19|20)\d{2})(?![\w]|/\d)"
    ),
    # 12/03, 2/8: a day and a month, or a score, a pressure, a fraction
    "day_month": re.compile(r"(?<![\w/.\-|])(?P<day>\d{1,2}) ?/ ?(?P<month>\d{1,2})(?![\w]| ?/ ?\d)"),
    # 12 mars 2024, 1er mars, mardi 12 mars, jeu. 16 janv. 2025, 3 janv.
    "written": re.compile(
        rf"(?<![\w])(?:(?:{'|'.join(WEEKDAYS)}|(?:{'|'.join(WEEKDAY_ABBREVIATIONS)})\.),? )?"
        rf"(?P<day>1er|\d{{1,2}}),? ?(?P<month>{MONTH_PATTERN})\.?(?:,? ?(?P<year>\d{{4}}))?(?![\w])",
        re.IGNORECASE,
    ),
    # mars 2024, déc. 1993
    "month_year": re.compile(
        rf"(?<![\w])(?P<month>{MONTH_PATTERN})\.? ?(?P<year>(?:19|20)\d{{2}})(?![\w])", re.IGNORECASE
    ),
    # décembre 93: a full month name only, as abbreviations would be too loose ("mar 12")
    "month_short_year": re.compile(
        rf"(?<![\w])(?P<month>{FULL_MONTH_PATTERN}) (?P<year>'?\d{{2}})(?![\w])", re.IGNORECASE
    ),
    # a year alone, when a word makes it a date ("opéré en 2007", "depuis 1995")
    "year": re.compile(
        r"(?<![\w])(?i:en|depuis|d[èe]s|ann[ée]e|courant|fin|d[ée]but|avant|apr[èe]s) (?P<year>(?:19|20)\d{2})"
        r"(?![\w])"
    ),
    # trente et un décembre deux mille vingt-trois
    "spelled": re.compile(
        rf"(?<![\w])(?!et\b)(?:{_NUMBER_WORD})(?:[ \-](?:{_NUMBER_WORD})){{0,3}} (?P<month>{MONTH_PATTERN})"
        rf"(?: (?:{_YEAR_WORD})(?:[ \-](?:{_YEAR_WORD})){{0,6}})?(?![\w])",
        re.IGNORECASE,
    ),
}

_MONTH_WORD = r"[^\W\d_]{3,9}\.?"  # checked against MONTH_FORMS by the reader
#: The formats a date is read back in, the whole of it, its separators in groups (``sep1``, ``sep2``, ``sep``,
#: ``wsep``) so that the date can be written again in the same format; tried in this order. They admit more
#: than :data:`IDENTIFYING_PATTERNS` finds, as a trained model's spans are read too.
DATE_FORMATS: dict[str, re.Pattern[str]] = {
    # 2024-03-12, 2024-03-12T08:30
    "iso": re.compile(
        r"(?P<year>\d{4})(?P<sep1>[/.\-])(?P<month>\d{1,2})(?P<sep2>[/.\-])(?P<day>\d{1,2})"
        r"(?P<time>T\d{2}:\d{2}(?::\d{2})?)?"
    ),
    # 12/03/2024, 12.03.24
    "numeric": re.compile(
        r"(?P<day>\d{1,2})(?P<sep1> ?[/.\-|] ?)(?P<month>\d{1,2})(?P<sep2> ?[/.\-|] ?)(?P<year>\d{4}|\d{2})"
    ),
    # 12032024
    "compact": re.compile(r"(?P<day>\d{2})(?P<month>\d{2})(?P<year>\d{4})"),
    # lundi 4 mars 2024, 1er mars, 3 janv.
    "written": re.compile(
        rf"(?:(?P<weekday>[^\W\d_]+\.?)(?P<wsep>,? ))?(?P<day>1er|\d{{1,2}})(?P<sep1>,? ?)(?P<month>{_MONTH_WORD})"
        rf"(?:(?P<sep2>,? ?)(?P<year>\d{{4}}))?",
        re.IGNORECASE,
    ),
    # mars 2024, décembre 93, mars '93
    "month_year": re.compile(
        rf"(?P<month>{_MONTH_WORD})(?P<sep> ?)(?P<year>\d{{4}}|'?\d{{2}})", re.IGNORECASE
    ),
    # 03/2024
    "numeric_month_year": re.compile(r"(?P<month>\d{1,2})(?P<sep> ?/ ?)(?P<year>\d{4})"),
    # 12/03
    "day_month": re.compile(r"(?P<day>\d{1,2})(?P<sep> ?/ ?)(?P<month>\d{1,2})"),
    # 2007
    "year": re.compile(r"(?P<year>(?:19|20)\d{2})"),
}
