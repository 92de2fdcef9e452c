"""What a reader may answer for a variable: the allowed options, or the grammar of a free-form answer.

Every answer the reader returns goes through :func:`parse_answer`, so it is a canonical cell of the variable's
type, in range and category, or "" (not documented), or an explicit failure; never a default value.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from clinrag.data.values import canonical_cell
from clinrag.data.variables import Variable
from clinrag.text.dates import find_dates
from clinrag.text.evidence import find_integers, find_numbers

NOT_DOCUMENTED = "non documenté"


def _escape(text: str) -> str:
    """re.escape, but spaces stay spaces (xgrammar's regex dialect rejects an escaped space)."""
    return re.escape(text).replace("\\ ", " ")


@dataclass(frozen=True)
class Answer:
    """A parsed answer: the canonical cell ("" = not documented) or a failure with its reason."""

    cell: str
    raw: str
    failed: str | None = None


def options(var: Variable, max_options: int) -> dict[str, str] | None:
    """``answer text -> canonical cell`` for variables with few values (boolean, category, bounded integer),
    "non documenté" included; None when the variable is free-form or has too many values."""
    choices: dict[str, str] | None = None
    if var.type == "boolean":
        choices = {"oui": "true", "non": "false"}
    elif var.type == "category":
        choices = {value.replace("_", " "): value for value in var.values or []}
    elif var.type == "integer" and var.minimum is not None and var.maximum is not None:
        low, high = int(var.minimum), int(var.maximum)
        if high - low + 1 <= max_options - 1:
            choices = {str(i): str(i) for i in range(low, high + 1)}
    if choices is None:
        return None
    return {**choices, NOT_DOCUMENTED: ""}


def stated_values(var: Variable, text: str, reference: str) -> list[tuple[int, int, str, str]]:
    """Values of ``var`` written in ``text``: ``(start, end, answer, cell)`` with the answer as the reader writes
    it and the canonical cell, in text order. Integers ("NIHSS 12"), numbers with their unit as written
    ("1,32 g/L", converted by the cell), dates absolute or relative to the note's date (``reference``, ISO:
    "la veille"); only values valid for the variable (type, range). Other types state nothing here."""
    if var.type == "integer":
        found = [(s, e, str(value)) for s, e, value in find_integers(text)]
    elif var.type == "number":
        found = [(s, e, " ".join(raw.split())) for s, e, raw in find_numbers(var, text)]
    elif var.type == "date":
        found = [
            (s, e, day.isoformat()) for s, e, day in find_dates(text, dt.date.fromisoformat(reference[:10]))
        ]
    else:
        return []
    stated = []
    for start, end, answer in found:
        try:
            stated.append((start, end, answer, canonical_cell(var, answer)))
        except ValueError:
            continue
    return stated


def answer_regex(var: Variable) -> str:
    """A regular expression of every well-formed answer of a free-form variable (xgrammar compiles it)."""
    # as many integer digits as the maximum has (a bounded variable cannot be "2024")
    digits = len(str(int(abs(var.maximum)))) if var.maximum is not None else 6
    if var.type == "integer":
        body = "-?" if var.minimum is None or var.minimum < 0 else ""
        body += f"[0-9]{{1,{digits}}}"
    elif var.type == "number":
        units = [u for u in [var.unit, *(var.unit_conversions or {})] if u]
        unit = "( (" + "|".join(_escape(u) for u in units) + "))?" if units else ""
        # a value written in another unit may need more digits than the maximum in the table's unit
        digits = max(digits, 4) if var.unit_conversions else digits
        body = f"[0-9]{{1,{digits}}}([.,][0-9]{{1,4}})?" + unit
    elif var.type == "date":
        body = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    elif var.type == "boolean":
        body = "oui|non"
    elif var.type == "category":
        body = "|".join(_escape(v.replace("_", " ")) for v in var.values or [])
    else:
        body = r"[^\n]{1,120}"
    return f"({_escape(NOT_DOCUMENTED)}|{body})"


def answer_format(var: Variable) -> str:
    """How the prompt describes the expected answer, in French."""
    if var.type == "integer":
        bounds = ""
        if var.minimum is not None and var.maximum is not None:
            bounds = f" entre {int(var.minimum)} et {int(var.maximum)}"
        return f"un nombre entier{bounds}"
    if var.type == "number":
        return f"un nombre{' en ' + var.unit if var.unit else ''}"
    if var.type == "boolean":
        return "oui ou non"
    if var.type == "category":
        return "une valeur parmi : " + ", ".join(v.replace("_", " ") for v in var.values or [])
    if var.type == "date":
        return "une date au format AAAA-MM-JJ"
    return "un texte court"


def parse_answer(var: Variable, raw: str) -> Answer:
    """Turn a decoder's answer into a canonical cell, or a failure (never a guessed value)."""
    text = raw.strip().strip(".").strip()
    if text.casefold() == NOT_DOCUMENTED.casefold():
        return Answer("", raw)
    choices = options(var, 10**6) or {}
    if text in choices:
        return Answer(choices[text], raw)
    try:
        return Answer(canonical_cell(var, text), raw)
    except ValueError as err:
        return Answer("", raw, failed=str(err))


def answer_text(var: Variable, cell: str) -> str:
    """The answer a reader should write for a canonical cell (the training target)."""
    if cell == "":
        return NOT_DOCUMENTED
    if var.type == "boolean":
        return "oui" if cell == "true" else "non"
    if var.type == "category":
        return cell.replace("_", " ")
    return cell
