"""Value semantics by variable type, in one place: parsing, normalization, canonical form and comparison.

Every part of clinrag that reads or writes a table cell goes through here: validation of ``table.csv``,
evaluation of predictions, weak supervision and the reader's output parser. A cell is handled as text;
``""`` means "not documented".

Rules by type:

* integer: ``12``, ``+12``, ``12,0``; the variable's unit may follow. Compared exactly.
* number: French decimal comma (``6,4``), spaces between thousands, the declared unit or a unit listed in
  ``unit_conversions`` (converted). Compared within the precision of the gold cell: ``6.4`` matches any
  prediction in [6.35, 6.45].
* boolean: ``true/false``, ``oui/non``, ``vrai/faux``, ``1/0``, ``présent/absent``... plus the variable's synonyms.
* category: one of ``values``, case, accents, spaces, hyphens and underscores ignored, or one of its synonyms.
* date: ``YYYY-MM-DD``, ``DD/MM/YYYY``, ``DD-MM-YYYY``, ``12 mars 2024`` (read by :mod:`clinrag.text.dates`).
  Compared exactly.
* text: compared after case folding, accent stripping and whitespace collapsing.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from clinrag.data.variables import Variable
from clinrag.errors import quoted
from clinrag.text.folding import fold, strip_accents  # noqa: F401  (strip_accents: importable from here)

NOT_DOCUMENTED = ""

# Ways of writing "not documented" in a cell or a model's answer (compared after normalize_text).
_NULL_TOKENS = {
    "",
    "na",
    "n/a",
    "nan",
    "null",
    "none",
    "nd",
    "non documente",
    "non renseigne",
    "non precise",
    "non disponible",
    "inconnu",
    "not documented",
    "unknown",
}
_TRUE_TOKENS = {"true", "vrai", "oui", "yes", "1", "o", "y", "present", "presente", "positif", "positive"}
_FALSE_TOKENS = {"false", "faux", "non", "no", "0", "n", "absent", "absente", "negatif", "negative"}

_INT_RE = re.compile(r"^([+-]?\d+)(?:[.,]0+)?$")
_NUMBER_RE = re.compile(r"^([+-]?(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:[.,]\d+)?)\s*(.*)$")


def normalize_text(text: str) -> str:
    """Case-fold, strip accents, turn ``_``/``-`` into spaces, collapse whitespace and trim end punctuation
    (:func:`clinrag.text.folding.fold`, style ``"value"``)."""
    return fold(text, "value")


def is_null(raw: Any) -> bool:
    """Whether a cell or an answer means "not documented"."""
    if raw is None:
        return True
    if isinstance(raw, float) and raw != raw:  # NaN from pandas
        return True
    return isinstance(raw, str) and normalize_text(raw) in _NULL_TOKENS


def _normalize_unit(unit: str) -> str:
    return strip_accents(unit).casefold().replace(" ", "").replace("µ", "u").replace("μ", "u")


def _parse_decimal(var: Variable, raw: str) -> Decimal:
    """Parse a number with an optional unit into a Decimal expressed in the variable's unit."""
    match = _NUMBER_RE.match(raw.strip())
    if not match:
        raise ValueError(f"{quoted(raw)} is not a number")
    digits, unit = match.group(1), match.group(2).strip()
    digits = re.sub(r"[ \u00a0\u202f]", "", digits).replace(",", ".")
    try:
        value = Decimal(digits)
    except InvalidOperation as err:  # pragma: no cover - the regex admits only valid literals
        raise ValueError(f"{quoted(raw)} is not a number") from err
    if unit:
        wanted = _normalize_unit(unit)
        if var.unit and wanted == _normalize_unit(var.unit):
            pass
        else:
            factor = None
            for other, conversion in (var.unit_conversions or {}).items():
                if wanted == _normalize_unit(other):
                    factor = conversion
            if factor is None:
                known = ", ".join([u for u in [var.unit, *(var.unit_conversions or {})] if u]) or "none"
                raise ValueError(f"unknown unit '{unit}' in {quoted(raw)} (known: {known})")
            # Keep two more decimals than the source, so converting does not invent or lose precision.
            places = max(0, -value.as_tuple().exponent) + 2
            value = (value * Decimal(str(factor))).quantize(Decimal(1).scaleb(-places)).normalize()
            if value == value.to_integral_value():
                value = value.quantize(Decimal(1))
    return value


def _check_range(var: Variable, value: float | int, raw: str) -> None:
    if var.minimum is not None and value < var.minimum:
        raise ValueError(f"{quoted(raw)} is below the minimum {_fmt_bound(var.minimum)}")
    if var.maximum is not None and value > var.maximum:
        raise ValueError(f"{quoted(raw)} is above the maximum {_fmt_bound(var.maximum)}")


def _fmt_bound(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def parse_date(raw: str) -> dt.date:
    """Parse a date written ``YYYY-MM-DD``, ``DD/MM/YYYY``, ``DD-MM-YYYY`` or ``12 mars 2024``
    (:func:`clinrag.text.dates.parse_date`).

    Raises:
        ValueError: The text is not such a date, or not a real calendar day.
    """
    from clinrag.text import dates  # imported here: clinrag.text.dates folds accents with this module

    return dates.parse_date(raw)


def parse_document_date(raw: str) -> dt.datetime:
    """Parse a document's ``date`` field: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM``
    (:func:`clinrag.text.dates.parse_document_date`).

    Raises:
        ValueError: Any other form, or an impossible date or time.
    """
    from clinrag.text import dates  # imported here: clinrag.text.dates folds accents with this module

    return dates.parse_document_date(raw)


def _category_lookup(var: Variable) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for value in var.values or []:
        lookup[normalize_text(value)] = value
    for value, synonyms in (var.synonyms or {}).items():
        for synonym in synonyms:
            lookup.setdefault(normalize_text(synonym), value)
    return lookup


def parse_value(var: Variable, raw: Any) -> Any:
    """Parse a cell (or a model's answer) into the variable's Python value.

    Args:
        var: The variable the value belongs to.
        raw: Text (or an already typed value); empty and "not documented" spellings give None.

    Returns:
        ``int`` (integer), ``float`` (number), ``bool`` (boolean), canonical ``str`` (category),
        ``datetime.date`` (date), stripped ``str`` (text), or None when not documented.

    Raises:
        ValueError: The value is not of the variable's type, or outside its range or categories.
    """
    if var.type == "category" and isinstance(raw, str) and normalize_text(raw) in _category_lookup(var):
        return _category_lookup(var)[normalize_text(raw)]
    if is_null(raw):
        return None
    if isinstance(raw, bool):
        raw = "true" if raw else "false"
    text = str(raw).strip()
    if var.type == "integer":
        return _parse_integer(var, text)
    if var.type == "number":
        return float(_parse_number_decimal(var, text))
    if var.type == "boolean":
        key = normalize_text(text)
        for canonical, synonyms in (var.synonyms or {}).items():
            if key in {normalize_text(s) for s in synonyms}:
                return parse_value(var.model_copy(update={"synonyms": None}), canonical)
        if key in _TRUE_TOKENS:
            return True
        if key in _FALSE_TOKENS:
            return False
        raise ValueError(f"{quoted(raw)} is not a boolean (expected true or false)")
    if var.type == "category":
        allowed = ", ".join(var.values or [])
        raise ValueError(f"{quoted(raw)} is not one of the categories: {allowed}")
    if var.type == "date":
        return parse_date(text)
    return re.sub(r"\s+", " ", text)


def _parse_integer(var: Variable, text: str) -> int:
    body = text
    if var.unit and normalize_text(body).endswith(normalize_text(var.unit)):
        body = body[: len(body) - len(var.unit)].strip()
    match = _INT_RE.match(body)
    if not match:
        raise ValueError(f"'{text}' is not an integer")
    value = int(match.group(1))
    _check_range(var, value, text)
    return value


def _parse_number_decimal(var: Variable, text: str) -> Decimal:
    value = _parse_decimal(var, text)
    _check_range(var, float(value), text)
    return value


def format_value(var: Variable, value: Any) -> str:
    """Write a parsed value in the table's canonical form (``""`` for None)."""
    if value is None:
        return NOT_DOCUMENTED
    if var.type == "boolean":
        return "true" if value else "false"
    if var.type == "date":
        return value.isoformat()
    if var.type == "number":
        if isinstance(value, Decimal):
            return _format_decimal(value)
        return _format_decimal(Decimal(repr(float(value))))
    return str(value)


def _format_decimal(value: Decimal) -> str:
    # Written precision is kept ("6.40" stays "6.40"); a negative zero prints as zero.
    return format(abs(value) if value == 0 else value, "f")


def canonical_cell(var: Variable, raw: Any) -> str:
    """Parse and re-format a cell: the canonical text of what it says (``""`` when not documented).

    Raises:
        ValueError: As :func:`parse_value`.
    """
    if var.type == "number" and not is_null(raw):
        return _format_decimal(_parse_number_decimal(var, str(raw).strip()))
    return format_value(var, parse_value(var, raw))


def cells_match(var: Variable, gold: str, predicted: str) -> bool:
    """Whether a predicted cell agrees with the gold cell, by the rules of the variable's type.

    Both empty is a match (correct abstention); one empty and not the other is not. An unparsable prediction
    never matches.

    Args:
        var: The variable.
        gold: The gold cell as written in table.csv.
        predicted: The predicted cell.
    """
    try:
        gold_value = parse_value(var, gold)
    except ValueError:
        return False
    try:
        pred_value = parse_value(var, predicted)
    except ValueError:
        return False
    if gold_value is None or pred_value is None:
        return gold_value is None and pred_value is None
    if var.type == "number":
        exponent = _parse_number_decimal(var, str(gold).strip()).as_tuple().exponent
        tolerance = 0.5 * 10.0 ** min(0, exponent)
        return abs(pred_value - gold_value) <= tolerance + 1e-9
    if var.type == "text":
        return normalize_text(gold_value) == normalize_text(pred_value)
    return gold_value == pred_value
