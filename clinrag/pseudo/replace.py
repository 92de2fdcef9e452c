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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from clinrag.data.values import strip_accents
from clinrag.pseudo._numbers import nir_key
from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import fold
from clinrag.text.dates import (
    DATE_FORMATS,
    FULL_MONTHS,
    ISO_TIMESTAMP,
    MONTH_FORMS,
    WEEKDAYS,
    expand_year,
    month_name,
)

Mode = Literal["mask", "surrogate"]

# ---------------------------------------------------------------------------------------------------------
# built-in surrogate lists (common French names and places, written by hand)
# ---------------------------------------------------------------------------------------------------------
SURNAMES: tuple[str, ...] = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
    "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard",
    "Bonnet", "Dupuis", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André",
    "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Perrin",
    "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand",
)  # fmt: skip
MALE_FIRST_NAMES: tuple[str, ...] = (
    "Alain", "Antoine", "Bernard", "Bruno", "Christophe", "Daniel", "David", "Éric", "François", "Frédéric",
    "Gérard", "Guillaume", "Henri", "Jacques", "Jean", "Julien", "Laurent", "Louis", "Luc", "Marc",
    "Michel", "Nicolas", "Olivier", "Patrick", "Paul", "Philippe", "Pierre", "Thierry", "Vincent", "Yves",
)  # fmt: skip
FEMALE_FIRST_NAMES: tuple[str, ...] = (
    "Anne", "Brigitte", "Catherine", "Cécile", "Chantal", "Christine", "Claire", "Danielle", "Élise", "Françoise",
    "Hélène", "Isabelle", "Jacqueline", "Jeanne", "Julie", "Laure", "Louise", "Lucie", "Madeleine", "Marie",
    "Martine", "Monique", "Nathalie", "Nicole", "Odile", "Pauline", "Simone", "Sophie", "Sylvie", "Valérie",
)  # fmt: skip
CITIES: tuple[str, ...] = (
    "Amiens", "Angers", "Besançon", "Bordeaux", "Brest", "Caen", "Clermont-Ferrand", "Dijon", "Grenoble",
    "Le Havre", "Le Mans", "Lille", "Limoges", "Lyon", "Marseille", "Metz", "Montpellier", "Mulhouse", "Nancy",
    "Nantes", "Nice", "Nîmes", "Orléans", "Perpignan", "Poitiers", "Reims", "Rennes", "Rouen", "Saint-Étienne",
    "Strasbourg", "Toulon", "Toulouse", "Tours", "Valence", "Vannes",
)  # fmt: skip
_HOSPITAL_FORMS: tuple[str, ...] = ("CHU de {city}", "Centre hospitalier de {city}", "Hôpital de {city}")
_STREET_KINDS: tuple[str, ...] = ("rue", "avenue", "boulevard", "place", "allée", "impasse", "chemin")
_STREET_NAMES: tuple[str, ...] = (
    "des Lilas", "des Acacias", "des Tilleuls", "du Moulin", "de la Gare", "de l'Église", "Victor Hugo",
    "Jean Jaurès", "Pasteur", "de la République", "des Écoles", "du Château", "des Peupliers", "du Stade",
)  # fmt: skip
_MAIL_DOMAINS: tuple[str, ...] = ("exemple.fr", "exemple.com", "courriel.exemple.fr")

#: How many draws a surrogate gets to differ from the original and from the patient's other surrogates.
_MAX_DRAWS = 50
#: The leap year in which a day and month without a year ("29/02") are shifted.
_REFERENCE_YEAR = 2000


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
        generate = _GENERATORS[label]
        normalized = _normalize(label, original)
        remembered = self._surrogates.get((label, normalized))
        if remembered is not None:
            return remembered
        self.register(label, original)
        used = self._used.setdefault(label, set())
        forbidden = self._originals[label]
        candidate = mask_of(label)
        for attempt in range(_MAX_DRAWS):
            drawn = generate(self._rng(label, normalized, attempt), normalized)
            folded = _normalize(label, drawn)
            if not _leaks(forbidden, folded):
                candidate = drawn
                if folded not in used:
                    break
        # After _MAX_DRAWS, a surrogate another identifier already has is reused rather than none (a patient
        # with more distinct names than the list holds); if every draw leaked, the identifier is masked.
        self._surrogates[(label, normalized)] = candidate
        used.add(_normalize(label, candidate))
        return candidate

    def register(self, label: str, original: str) -> None:
        """Mark an identifier as one of the patient's, so that no surrogate of that label is ever written so.

        :func:`replace` registers every identifier of a text before drawing, so the doctor's surrogate cannot
        be the patient's real name; a caller that knows the patient's names can register them up front.
        """
        self._originals.setdefault(label, set()).add(_normalize(label, original))

    def _hash(self, *parts: object) -> int:
        """A 256-bit integer drawn from the seed, the patient id and ``parts``."""
        message = "\x1f".join(str(part) for part in (self.seed, self.patient_id, *parts))
        return int.from_bytes(hashlib.sha256(message.encode("utf-8")).digest(), "big")

    def _rng(self, label: str, normalized: str, attempt: int) -> random.Random:
        """A generator seeded by the identifier itself, so its surrogate does not depend on document order."""
        return random.Random(self._hash(label, normalized, attempt))


def _normalize(label: str, text: str) -> str:
    """How two writings of one identifier are compared: letters and digits only (upper case) for numbers,
    folded with whitespace collapsed otherwise."""
    if label in _LAYOUT_LABELS:
        return "".join(c for c in text if c.isalnum()).upper()
    return " ".join(fold(text).split())


def _leaks(originals: set[str], candidate: str) -> bool:
    """Whether a (normalized) surrogate is, or contains, one of the patient's identifiers of 3+ characters."""
    return any(
        original == candidate or (len(original) >= 3 and original in candidate) for original in originals
    )


# ---------------------------------------------------------------------------------------------------------
# surrogate generators: (rng, normalized original) -> canonical surrogate
# ---------------------------------------------------------------------------------------------------------
_MALE = frozenset(
    fold(name) for name in (*MALE_FIRST_NAMES, "jean-pierre", "jean-claude", "jean-marc", "rene")
)
_FEMALE = frozenset(
    fold(name) for name in (*FEMALE_FIRST_NAMES, "marie-claire", "mireille", "josiane", "eva")
)


def _surname(rng: random.Random, original: str) -> str:
    return rng.choice(SURNAMES)


def _first_name(rng: random.Random, original: str) -> str:
    """A first name of the original's gender when a small list knows it (a compound name by its first part)."""
    first = original.split("-")[0].split()[0] if original.split() else original
    if original in _MALE or first in _MALE:
        return rng.choice(MALE_FIRST_NAMES)
    if original in _FEMALE or first in _FEMALE:
        return rng.choice(FEMALE_FIRST_NAMES)
    return rng.choice(MALE_FIRST_NAMES + FEMALE_FIRST_NAMES)


def _city(rng: random.Random, original: str) -> str:
    return rng.choice(CITIES)


def _hospital(rng: random.Random, original: str) -> str:
    return rng.choice(_HOSPITAL_FORMS).format(city=rng.choice(CITIES))


def _address(rng: random.Random, original: str) -> str:
    street = f"{rng.choice(_STREET_KINDS)} {rng.choice(_STREET_NAMES)}"
    return f"{rng.randint(1, 120)} {street}" if original[:1].isdigit() else street


def _mail(rng: random.Random, original: str) -> str:
    first = strip_accents(rng.choice(MALE_FIRST_NAMES + FEMALE_FIRST_NAMES)).lower()
    last = strip_accents(rng.choice(SURNAMES)).lower()
    return f"{first}.{last}@{rng.choice(_MAIL_DOMAINS)}"


def _random_like(rng: random.Random, original: str, keep: int = 0) -> str:
    """Random characters of the original's kinds (digit for digit, letter for letter), the first ``keep``
    kept; a leading non-zero digit stays non-zero so the length does not look truncated."""
    out = list(original[:keep])
    for index, char in enumerate(original[keep:], start=keep):
        if char.isdigit():
            out.append(str(rng.randint(1 if index == 0 and char != "0" else 0, 9)))
        else:
            out.append(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
    return "".join(out)


def _phone(rng: random.Random, original: str) -> str:
    """Keeps the first two digits ("06" for a mobile, "33" of +33): they say the kind of line, not whose."""
    return _random_like(rng, original, keep=2 if len(original) >= 9 else 0)


def _postcode(rng: random.Random, original: str) -> str:
    if len(original) != 5 or not original.isdigit():
        return _random_like(rng, original)
    department = rng.choice([d for d in range(1, 96) if d != 20])
    return f"{department:02d}{rng.randint(0, 999):03d}"


def _social_security(rng: random.Random, original: str) -> str:
    """A well-formed NIR of the original's length (13 characters, or 15 with a valid key)."""
    if len(original) not in (13, 15):
        return _random_like(rng, original)
    sex = original[0] if original[0] in "12" else rng.choice("12")
    department = rng.choice([d for d in range(1, 96) if d != 20])
    body = (
        f"{sex}{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{department:02d}"
        f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    )
    return body if len(original) == 13 else f"{body}{nir_key(body):02d}"


_GENERATORS: dict[str, Callable[[random.Random, str], str]] = {
    "NOM": _surname,
    "PRENOM": _first_name,
    "VILLE": _city,
    "HOPITAL": _hospital,
    "ADRESSE": _address,
    "MAIL": _mail,
    "TEL": _phone,
    "ZIP": _postcode,
    "SECU": _social_security,
    "IPP": _random_like,
    "NDA": _random_like,
}
#: Labels whose surrogate keeps the original's layout: the same separators, only its letters and digits drawn.
_LAYOUT_LABELS = frozenset({"TEL", "ZIP", "SECU", "IPP", "NDA"})
_DATE_LABELS = frozenset({"DATE", "DATE_NAISSANCE"})


# ---------------------------------------------------------------------------------------------------------
# writing a surrogate like the original
# ---------------------------------------------------------------------------------------------------------
def match_case(new: str, like: str) -> str:
    """``new`` in the case style of ``like``: upper ("DUPONT"), lower, or as ``new`` is written with its first
    letter capitalized ("Dupont" -> "Martin", "Mars" -> "Avril", "CHU de Lyon" -> "Hôpital de Nantes")."""
    letters = [c for c in like if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return new.upper()
    if letters and all(c.islower() for c in letters):
        return new.lower()
    return new[:1].upper() + new[1:]


def _in_layout(characters: str, original: str) -> str:
    """The surrogate's characters put in the original's places, its separators kept ("06 12 34 56 78")."""
    chars = iter(characters)
    return "".join(next(chars, "0") if c.isalnum() else c for c in original)


def _render(label: str, canonical: str, original: str) -> str:
    """How one occurrence of an identifier is written, from the patient's canonical surrogate."""
    if canonical == mask_of(label):  # no surrogate could be drawn (see PatientKey.surrogate)
        return canonical
    if label in _LAYOUT_LABELS:
        return _in_layout(canonical, original)
    if label == "MAIL":
        return canonical
    return match_case(canonical, original)


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
    if weekday is not None and fold(weekday) not in WEEKDAYS:
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
        written = f"{match_case(WEEKDAYS[new.weekday()], weekday)}{m['wsep']}{written}"
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


def mask_of(label: str) -> str:
    """The mask of a label: ``"[NOM]"``, ``"[DATE]"``..."""
    return f"[{label}]"


def replacement_for(span: Span, key: PatientKey, mode: Mode) -> str:
    """What one identifier becomes: its mask, or the patient's surrogate written like it.

    A date that cannot be read is masked in both modes, so it never stays in clear.
    """
    if mode == "mask":
        return mask_of(span.label)
    if span.label in _DATE_LABELS:
        return shift_date_text(span.text, key) or mask_of(span.label)
    return _render(span.label, key.surrogate(span.label, span.text), span.text)


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
        if mode == "surrogate" and span.label in _GENERATORS:
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
