"""Where a passage states a value: the numbers, dates and terms of a variable's type written in French clinical
text, and whether a passage states a given cell (:func:`states_value`). Distant supervision labels passages with
it (:mod:`clinrag.retrieval.supervision`), the reader finds its candidates and its supporting passage with it.

A passage states a cell of a variable when:

* integer: the number, next to one of the variable's terms (``NIHSS à l'arrivée : 12``), not a duration ("3
  mois");
* number: a number that equals the value by the type's rules (units converted), next to a term;
* for both, when the variable's ``timepoint`` is a label of :data:`clinrag.text.timepoints.TIMEPOINT_CUES`: the
  number's clause names that timepoint or none (``NIHSS de sortie 12`` is no evidence of an admission NIHSS of
  12, and a 1-year visit's "Rankin 1" none of a 3-month mRS of 1, even when the values are equal);
* boolean: a term of the variable that is affirmed (value true) or negated (value false), never hypothetical
  or about a relative (edsnlp's qualifiers);
* category: a term naming the value (a value or one of its synonyms), not hypothetical or about a relative;
* date: a date equal to the value (absolute, or relative to the document's date: "la veille"), next to a term;
* text: the normalized value inside the normalized passage.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from clinrag.data.values import cells_match, normalize_text, parse_value
from clinrag.data.variables import Variable
from clinrag.text.annotate import Mention
from clinrag.text.dates import find_dates
from clinrag.text.numbers import gram_values, spelled_numbers
from clinrag.text.passages import Passage
from clinrag.text.timepoints import (
    BOUNDARY,
    TIMEPOINT_PATTERNS,
    timepoint_label,
    value_timepoints,
    without_durations,
)

WINDOW_BEFORE = 40  # characters between a term and the value it announces
WINDOW_AFTER = 15  # "85 ans": the term may follow the number
_INTEGER = re.compile(r"(?<![\w/,.])(\d{1,3})(?![\d]|[.,]\d)")  # not inside a word: "H24", "M1"
COMMON_UNITS = ("mmol/l", "µmol/l", "umol/l", "g/l", "mg/l", "mg/dl", "g/dl", "mmhg", "%", "kg", "cm", "ui/l")
"""Units of French laboratory and vital-sign values: a number followed by one of them is read with it, so that a
value in a unit the variable does not know is refused rather than read as a bare number."""


def _number_pattern(var: Variable) -> re.Pattern[str]:
    """Numbers with an optional unit: the variable's unit and conversions, and :data:`COMMON_UNITS`."""
    return _units_pattern(tuple(u.casefold() for u in [var.unit, *(var.unit_conversions or {})] if u))


@functools.lru_cache(maxsize=256)
def _units_pattern(units: tuple[str, ...]) -> re.Pattern[str]:
    # longest first, so that "mg/dl" is not read as "mg"
    alternatives = "|".join(
        re.escape(u) for u in sorted(set(units) | set(COMMON_UNITS), key=len, reverse=True)
    )
    return re.compile(rf"(?<![\w/])(\d+(?:[.,]\d+)?)\s*({alternatives})?", re.IGNORECASE)


def _terms(mentions: list[Mention]) -> list[tuple[int, int]]:
    """The spans of the variable's own terms among ``mentions`` (not those naming a category's value)."""
    return [(m.start, m.end) for m in mentions if m.value == ""]


def _near_terms(text: str, mentions: list[Mention], values: list[tuple[int, int, object]]) -> list[bool]:
    """For each value ``(start, end, ...)``, whether a term of the variable is within the window around it
    (:func:`attached` without its clause rules): the rule of weak labels and of the retrievers' feature."""
    return attached(text, _terms(mentions), [(v[0], v[1]) for v in values], clause=False)


_CONNECTORS = frozenset(
    {"à", "a", "au", "aux", "puis", "et", "de", "du", "la", "le", "l'", "en", "était", "est"}
)


def _continues(gap: str) -> bool:
    """Whether the words between two values only carry the first value's term on ("12, à H24 : 8", "12 puis
    8"): connectors and timepoint cues, no other noun ("16, mRS de sortie 5")."""
    for pattern in TIMEPOINT_PATTERNS:
        gap = pattern.sub(" ", gap)
    words = re.findall(r"[^\W\d_]+'?", gap.lower())
    return not BOUNDARY.search(gap) and "/" not in gap and all(w in _CONNECTORS for w in words)


def attached(
    text: str, terms: list[tuple[int, int]], values: list[tuple[int, int]], clause: bool = True
) -> list[bool]:
    """Which of the ``values`` (``(start, end)`` spans of ``text``, in text order) a term of the variable
    (``terms``, spans of ``text``) announces: the one rule of "a value next to its term".

    The window: a term ending at most :data:`WINDOW_BEFORE` characters before the value, or starting at most
    :data:`WINDOW_AFTER` characters after it ("85 ans"). With ``clause`` (the reader's candidates), the term
    must also be in the value's clause, and before the value no earlier value may stand between them ("NIHSS
    initial 15"); a value that continues an announced one is announced too ("NIHSS 12, à H24 : 8"; not the 42 of
    "NIHSS 4/42" nor the 5 of "NIHSS 16, mRS 5"). Without ``clause`` (weak labels, :func:`states_value`, and
    the retrievers' :func:`value_near_term`), the window alone: the labels the models learned from."""
    result: list[bool] = []
    for index, (start, end) in enumerate(values):
        previous_end = values[index - 1][1] if clause and index else -1
        announced = any(
            term_end <= start
            and start - term_end <= WINDOW_BEFORE
            and term_end >= previous_end
            and not (clause and BOUNDARY.search(text[term_end:start]))
            for _, term_end in terms
        )
        announced = announced or (
            clause and index > 0 and result[-1] and _continues(text[previous_end:start])
        )
        announced = announced or any(
            term_start >= end
            and term_start - end <= WINDOW_AFTER
            and not (clause and BOUNDARY.search(text[end:term_start]))
            for term_start, _ in terms
        )
        result.append(announced)
    return result


def find_integers(text: str) -> list[tuple[int, int, int]]:
    """Whole numbers of at most 3 digits written in ``text`` in figures (not inside a word, a decimal or a date)
    or in words ("soixante-douze", :func:`clinrag.text.numbers.spelled_numbers`): ``(start, end, value)``, in
    text order."""
    dates = [(start, end) for start, end, _ in find_dates(text)]  # "03/04/1940", "3 avril 1940"
    found = [(m.start(), m.end(), int(m.group(1))) for m in _INTEGER.finditer(text)]
    found += [
        (start, end, int(value))
        for start, end, value, _ in spelled_numbers(text)
        if value.is_integer() and 0 <= value < 1000
    ]
    return sorted(v for v in found if not any(start <= v[0] < end for start, end in dates))


def find_numbers(var: Variable, text: str) -> list[tuple[int, int, str]]:
    """Numbers written in ``text`` that parse as values of ``var`` (with a unit when one follows):
    ``(start, end, text as written)``."""
    pattern = _number_pattern(var)
    matches = [(m.start(), m.end(), m.group(0).strip()) for m in pattern.finditer(text)]
    for start, end, _, digits in spelled_numbers(text):  # "un virgule deux g/L" -> "1,2 g/L"
        unit = pattern.match("0" + text[end:])
        if unit.group(2):
            end, digits = end + unit.end() - 1, digits + unit.group(0)[1:]
        matches.append((start, end, digits))
    grams = gram_values(text)  # "un gramme trente-cinq", "1g35": one value, not a 1 and a 35
    matches = [m for m in matches if not any(s <= m[0] < e for s, e, _ in grams)] + list(grams)
    found = []
    for start, end, candidate in sorted(matches):
        try:
            parse_value(var, candidate)
        except ValueError:
            continue
        found.append((start, end, candidate))
    return found


def value_near_term(var: Variable, passage: Passage, mentions: list[Mention]) -> bool:
    """Whether the passage holds something shaped like a value of ``var`` next to one of its terms (whatever the
    value): a number for integer/number variables (not a duration, and at the variable's timepoint as
    :func:`states_value` requires), a date for dates, a value term for categories, a term for booleans and text.
    A feature for retrievers: it needs no table value."""
    mentions = [m for m in mentions if m.variable == var.name]
    if var.type in ("integer", "number"):
        return any(_near_terms(passage.text, mentions, _timed_values(var, passage.text)))
    if var.type == "date":
        reference = dt.date.fromisoformat(passage.date[:10])
        return any(_near_terms(passage.text, mentions, find_dates(passage.text, reference)))
    if var.type == "category":
        return any(m.value for m in mentions)
    return bool(mentions)


def _timed_values(var: Variable, text: str) -> list[tuple[int, int, int | str]]:
    """The integers (not durations: "3 mois", "J3") or numbers of ``text`` that can be values of ``var`` at its
    timepoint: when ``var.timepoint`` is a label of the timepoint lexicon, those whose clause names that
    timepoint or none (:func:`~clinrag.text.timepoints.value_timepoints`); otherwise all of them."""
    if var.type == "integer":
        found: list = without_durations(text, find_integers(text), var.unit)
    else:
        found = find_numbers(var, text)
    wanted = timepoint_label(var.timepoint)
    if wanted is None:
        return found
    labels = value_timepoints(text, [(s, e) for s, e, _ in found])
    return [
        value
        for value, label in zip(found, labels, strict=True)
        if label is None or label.casefold() == wanted.casefold()
    ]


def states_value(var: Variable, cell: str, passage: Passage, mentions: list[Mention]) -> bool:
    """Whether ``passage`` states the canonical ``cell`` of ``var`` (see the module's rules).

    Args:
        var: The variable.
        cell: Its canonical table cell ("" never matches).
        passage: The passage.
        mentions: The passage's mentions (offsets relative to the passage text).
    """
    if cell == "":
        return False
    mentions = [m for m in mentions if m.variable == var.name]
    text = passage.text
    if var.type == "integer":
        gold = int(cell)
        found = _timed_values(var, text)
        near = _near_terms(text, mentions, found)
        return any(value == gold and n for (_, _, value), n in zip(found, near, strict=True))
    if var.type == "number":
        found = _timed_values(var, text)
        near = _near_terms(text, mentions, found)
        return any(cells_match(var, cell, c) and n for (_, _, c), n in zip(found, near, strict=True))
    if var.type == "boolean":
        value = parse_value(var, cell)
        terms = [m for m in mentions if m.value == "" and not m.family and not m.hypothetical]
        return any(m.negated != value for m in terms)
    if var.type == "category":
        named = [m for m in mentions if m.value == cell and not m.family and not m.hypothetical]
        if not named:
            return False
        # A short single word ("droit", "décès") names the value only next to one of the variable's keywords.
        has_keyword = any(m.value == "" for m in mentions)
        return has_keyword or any(" " in text[m.start : m.end].strip() or m.end - m.start >= 7 for m in named)
    if var.type == "date":
        gold = dt.date.fromisoformat(cell)
        reference = dt.date.fromisoformat(passage.date[:10])
        dates = find_dates(text, reference)
        near = _near_terms(text, mentions, dates)
        return any(found == gold and n for (_, _, found), n in zip(dates, near, strict=True))
    return normalize_text(cell) in normalize_text(text)
