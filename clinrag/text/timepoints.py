"""When a score was taken: the timepoint a clinical note attaches to a value, and the numbers that are durations.

A note often states the same score several times ("NIHSS initial 15, NIHSS à H24 12, NIHSS de sortie 9"); which
one a registry column wants depends on the words before the value, not on the value. :func:`value_timepoints`
gives each value written in a text the timepoint its clause names (the nearest cue to its left, after the
previous value and within its sentence; else a cue right after it, "mRS 2 à 3 mois"), from a lexicon of French
clinical expressions (:data:`TIMEPOINT_CUES`, editable). :func:`duration_spans` finds numbers that are durations
("3 mois", "24 heures", "J3"), which are never a score's value.
"""

from __future__ import annotations

import re

from clinrag.text.numbers import spelled_numbers

_TREATMENT = r"(?:la |sa |une )?(?:thrombolyse|fibrinolyse|TIV|thrombectomie|TM|revascularisation|traitement)"
TIMEPOINT_CUES: dict[str, tuple[str, ...]] = {
    "admission": (
        r"arriv[ée]e",
        r"admission",
        r"\badmise?\b",
        r"\bentr[ée]e\b",
        r"initia(?:l|le|ux|les)\b",
        rf"avant {_TREATMENT}",
        r"pr[ée][- ]?(?:thrombolyse|TIV|thrombectomie)",
        r"accueil",
        r"\b[HJ] ?0\b",
        r"aux urgences",
    ),
    "après traitement": (
        rf"apr[èe]s {_TREATMENT}",
        r"post[- ]?(?:thrombolyse|TIV|TM|thrombectomie|traitement)",
    ),
    "24 heures": (r"\bH ?24\b", r"\b24 ?h(?:eures)?\b", r"\bJ ?1\b", r"lendemain"),
    "sortie": (r"sortie", r"fin (?:de |d')(?:l'|la )?(?:hospitalisation|s[ée]jour)"),
    "3 mois": (r"\b3 mois\b", r"trois mois", r"\bM ?3\b", r"\bJ ?90\b", r"\b90 jours\b"),
    "6 mois": (r"\b6 mois\b", r"six mois", r"\bM ?6\b", r"\bJ ?180\b"),
    "1 an": (r"\b(?:1|un) an\b", r"\b(?:12|douze) mois\b", r"\bM ?12\b", r"\bJ ?365\b"),
    "avant l'AVC": (
        r"ant[ée]rieure?s?\b",
        r"avant l'AVC",
        r"pr[ée][- ]?(?:AVC|morbide|AIC)",
        r"pr[ée]alable",
        r"habituel(?:le)?",
        r"\bde base\b",
        r"\bautonomie\b",  # "Autonomie : mRS 2" in an admission note (a later one names its own timepoint)
    ),
}
"""Canonical timepoint label -> regular expressions of its cues (case-insensitive), French clinical wordings of
the timepoints registries use (HAS 2009 and SSNAP: arrival, after revascularisation, 24 hours, discharge, 3, 6 and
12 months, before the stroke). The same cues read a variable's ``timepoint`` in the registry's own words
(:func:`timepoint_label`: "M3", "J90", "à l'arrivée", "pré-AVC", "sortie d'UNV"...) and the clause of a value in a
note (:func:`value_timepoints`)."""

TIMEPOINT_DAYS: dict[str, int] = {"3 mois": 91, "6 mois": 182, "1 an": 365}
"""Days since the stroke of the follow-up timepoints: an interval stated in a note ("revu 93 jours après l'AVC")
is that timepoint within :func:`follow_up_window`."""

_CUES = [
    (label, re.compile(pattern, re.IGNORECASE))
    for label, patterns in TIMEPOINT_CUES.items()
    for pattern in patterns
]
TIMEPOINT_PATTERNS = [pattern for _, pattern in _CUES]
"""The compiled cues of every timepoint."""
_DURATION = re.compile(
    r"(?<![\w/,.])(\d{1,3})\s*(?:mois|jours?|semaines?|heures?|h\b|min\b|minutes?|ans?\b|années?)"
    r"|\b[JM](\d{1,3})\b"
    r"|(?<![\w/,.])(\d{1,2}) ?h ?\d{2}\b",  # a clock time, "8h17"
    re.IGNORECASE,
)
_SPELLED_DURATION = re.compile(
    r"\s*(?:mois|jours?|semaines?|heures?|h\b|min\b|minutes?|ans?\b|années?)", re.IGNORECASE
)
BOUNDARY = re.compile(r"[.;!?]\s|\n")
_INTERVAL = re.compile(
    r"(?<![\w/,.])(\d{1,3})\s*(jours?|semaines?|mois)\s+(?:apr[èe]s|post)\b", re.IGNORECASE
)
_UNIT_DAYS = {"jour": 1, "semaine": 7, "mois": 30.4}  # by the unit's singular, a prefix of its plural
_RIGHT = re.compile(r"\s*(?:à|au|en|de|du)\s", re.IGNORECASE)
LEFT_CHARS = 60
"""How far left of a value its cue is looked for (within its sentence, after the previous value)."""
RIGHT_CHARS = 25
"""How far right of a value a cue introduced by a preposition is looked for."""


def duration_spans(text: str, unit: str | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of the numbers of ``text`` that are durations, day numbers or clock times ("3 mois",
    "trois mois", "24 h", "J3", "8h17"),
    except those in ``unit`` (an age in "ans" is a value, not a duration)."""
    spans = []
    for match in _DURATION.finditer(text):
        group = next(g for g in (1, 2, 3) if match.group(g) is not None)
        if unit and match.group(0).lower().rstrip().endswith(unit.lower()):
            continue
        spans.append((match.start(group), match.end(group)))
    for start, end, _, _ in spelled_numbers(text):
        match = _SPELLED_DURATION.match(text, end)
        if match and not (unit and match.group(0).lower().rstrip().endswith(unit.lower())):
            spans.append((start, end))
    return sorted(spans)


def without_durations(text: str, values: list, unit: str | None = None) -> list:
    """``values`` (tuples that begin with a ``(start, end)`` span of ``text``) less those that start inside a
    duration, day number or clock time (:func:`duration_spans`; durations in ``unit`` are kept)."""
    durations = duration_spans(text, unit)
    return [v for v in values if not any(start <= v[0] < end for start, end in durations)]


def follow_up_window(days: int) -> tuple[float, float]:
    """The days since the stroke that count as a follow-up timepoint of ``days`` days: two weeks either side, or a
    fifth of the delay when that is more (90 +/- 18 days for 3 months, 365 +/- 73 for one year)."""
    margin = max(14.0, 0.2 * days)
    return days - margin, days + margin


def timepoint_label(timepoint: str | None) -> str | None:
    """The canonical label (a key of :data:`TIMEPOINT_CUES`) of a variable's ``timepoint`` written in the
    registry's own words, or None when it names none of them ("séjour index", "phase aiguë": the whole stay, no
    timepoint to tell values apart). The label itself is read as such; otherwise the cue found first in the text
    decides ("sortie de l'hospitalisation initiale": sortie)."""
    text = (timepoint or "").strip()
    if not text:
        return None
    for label in TIMEPOINT_CUES:
        if text.casefold() == label.casefold():
            return label
    first: tuple[int, str] | None = None
    for label, pattern in _CUES:
        match = pattern.search(text)
        if match and (first is None or match.start() < first[0]):
            first = (match.start(), label)
    return first[1] if first else None


def _last_cue(text: str) -> str | None:
    return _last_cue_end(text)[0]


def _first_cue_end(text: str) -> tuple[str | None, int]:
    """The label of the first cue of ``text`` and where it ends (-1 without one)."""
    best, best_start, best_end = None, len(text) + 1, -1
    for label, pattern in _CUES:
        for match in pattern.finditer(text):
            if match.start() < best_start or (match.start() == best_start and match.end() > best_end):
                best, best_start, best_end = label, match.start(), match.end()
            break
    return best, best_end


def _last_cue_end(text: str) -> tuple[str | None, int]:
    """The label of the last cue of ``text`` and where it ends (-1 without one)."""
    best, best_end = None, -1
    for label, pattern in _CUES:
        for match in pattern.finditer(text):
            if match.end() > best_end:
                best, best_end = label, match.end()
    return best, best_end


def _interval_label(intervals: list[re.Match[str]], before: int) -> str | None:
    """The timepoint of the last of ``intervals`` (:data:`_INTERVAL` matches, in text order) that ends by
    ``before`` ("revu 93 jours après l'AVC"): a follow-up label of :data:`TIMEPOINT_DAYS` whose
    :func:`follow_up_window` holds it, else the interval as written ("39 jours")."""
    last = next((m for m in reversed(intervals) if m.end() <= before), None)
    if last is None:
        return None
    number, unit = int(last.group(1)), last.group(2).lower()
    days = number * next(per_unit for singular, per_unit in _UNIT_DAYS.items() if unit.startswith(singular))
    for label, target in TIMEPOINT_DAYS.items():
        low, high = follow_up_window(target)
        if low <= days <= high:
            return label
    return f"{number} {unit}"


def value_timepoints(text: str, values: list[tuple[int, int]]) -> list[str | None]:
    """The timepoint label of each ``(start, end)`` value span of ``text`` (in text order), or None.

    The cue is the last one in the value's left context: from the end of the previous value (or the start of its
    sentence, or :data:`LEFT_CHARS` before it, whichever is nearest) to the value. Without one, a cue introduced
    by a preposition right after the value ("2 à 3 mois") counts; without either, the last interval since the
    event stated before the value in ``text`` ("revu 93 jours après l'AVC. mRS 2": "3 mois"; "39 jours après":
    "39 jours"). A cue inside a number of the span itself is not read (the "3" of "3 mois" is no value).
    """
    labels = []
    previous_end = 0
    spans = sorted(values)
    intervals = list(_INTERVAL.finditer(text))
    for index, (start, end) in enumerate(spans):
        floor = max(previous_end, start - LEFT_CHARS)
        boundaries = [m.end() for m in BOUNDARY.finditer(text, floor, start)]
        if boundaries:
            floor = boundaries[-1]
        label = _last_cue(text[floor:start])
        ceiling = spans[index + 1][0] if index + 1 < len(spans) else len(text)
        ceiling = min(ceiling, end + RIGHT_CHARS)
        stop = BOUNDARY.search(text, end, ceiling)
        right = text[end : stop.start() if stop else ceiling]
        right_label, right_end = _first_cue_end(right) if _RIGHT.match(right) else (None, -1)
        if label is None:
            label = right_label
        if label is None:
            label = _interval_label(intervals, start)
        labels.append(label)
        # a cue introduced right after this value is its own ("5 à l'entrée, 5 à H24"): not the next one's
        previous_end = end + right_end if right_label is not None else end
    return labels
