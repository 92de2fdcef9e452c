"""A starter variables.yaml, drafted from a registry table's columns when the user has none.

Each column's type is guessed from its values, read by the same rules that then normalize them
(:func:`clinrag.importing.table.read_cell`): boolean when every value is a French or English yes/no (or a
tick), integer, number, date; else the one of these that the large majority of its values have (the others are
then row errors for the user to correct, not a reason to give up the type); else category when the column holds
few distinct short values that repeat (each spelled as most rows spell it), text otherwise. Descriptions are
left as TODOs for the user (each starts with ``TODO``), in French as the cohort format wants them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from fractions import Fraction

from clinrag.data.cohort import variables_to_yaml
from clinrag.data.values import normalize_text
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.importing.sources import Cell, Sheet, cell_text
from clinrag.importing.table import TableColumns, is_missing, number_unit, read_cell

MAX_CATEGORIES = 10
"""Most distinct values of a column drafted as a category."""
MAX_CATEGORY_CHARS = 40
"""Longest value of a column drafted as a category."""
MAX_CATEGORY_WORDS = 3
"""Most words of a value of a column drafted as a category: a longer one is free text (the column is text)."""
MAJORITY = Fraction(4, 5)
"""Share of a column's values that must be of a type for the draft to give it that type when some are not."""
MIN_MAJORITY_VALUES = 3
"""Fewest values of that type for the majority to count."""
TODO = "TODO"
"""How every drafted description starts (`clinrag validate` flags a description that still does)."""
BOOLEAN_KEYS = ("true", "false")
_TYPED_KINDS = ("boolean", "integer", "number", "date")
_ARTICLES = {"boolean": "a boolean", "integer": "an integer", "number": "a number", "date": "a date"}
_HEADER_UNIT = re.compile(r"[(\[]\s*([^()\[\]]+?)\s*[)\]]\s*$")

DRAFT_HEADER = """\
# DRAFT written by `clinrag import` from the columns of {source}: check it before any run.
# Each type was guessed from the column's values (the type most of them have); for each variable:
#   - replace the TODO description by what the variable means, in French (it also seeds retrieval);
#   - check its type and, for a category, its values (spelled as most rows spell them);
#   - add what applies: minimum/maximum and unit (integer, number), timepoint ("admission", "à 3 mois").
# Then check the cohort with `clinrag validate`, and import again with --variables to normalize the table by
# the final version.
"""


def draft_variables(
    sheet: Sheet, columns: TableColumns, synonyms: dict[str, dict[str, list[str]]]
) -> tuple[list[Variable], dict[str, str]]:
    """A variable for each of the table's variable columns, in column order.

    Args:
        sheet: The table.
        columns: Which column fills which variable.
        synonyms: The mapping's synonyms by variable: a column that has some is a category (a boolean when
            they are for ``true`` and ``false``), and its values are read through them.

    Returns:
        The variables, and for those typed by the majority of their values (some values are not of the type),
        a note for the errors of the others: "the draft makes the column an integer, as 5 of its 6 values are".
    """
    variables, notes = [], {}
    for header, name in columns.variables.items():
        var, note = _guess(name, header, [row.cells[header] for row in sheet.rows], synonyms.get(name))
        variables.append(var)
        if note:
            notes[name] = note
    return variables, notes


def draft_yaml(variables: list[Variable], source: str) -> str:
    """The drafted variables.yaml: a comment saying it is a draft and what to complete, then the variables."""
    return DRAFT_HEADER.format(source=source) + variables_to_yaml(variables)


def guess_variable(
    name: str, header: str, values: list[Cell], synonyms: dict[str, list[str]] | None = None
) -> Variable:
    """The variable a column's values suggest (see the module's docstring).

    Args:
        name: The variable's name.
        header: The column's header, kept as ``source_column`` and quoted in the TODO description.
        values: The column's cells.
        synonyms: Other spellings of its values, from the mapping.
    """
    return _guess(name, header, values, synonyms)[0]


def _guess(
    name: str, header: str, values: list[Cell], synonyms: dict[str, list[str]] | None
) -> tuple[Variable, str | None]:
    """The variable, and the note for the errors of its cells when its type is that of most values only."""
    present = [value for value in values if not is_missing(value)]
    description = f"{TODO}: décrire la variable (colonne « {header} » du registre)"
    fields: dict[str, object] = {"name": name, "description": description, "source_column": header}
    if synonyms:
        fields["synonyms"] = synonyms
    if synonyms and set(synonyms) <= set(BOOLEAN_KEYS):
        return Variable(type="boolean", **fields), None
    if synonyms:
        return Variable(type="category", values=_categories(present, synonyms), **fields), None
    unit = _guess_unit(header, present)
    best: tuple[int, Variable] | None = None
    # the values that may fail before a type cannot have the majority any more
    allowed = len(present) - max(MIN_MAJORITY_VALUES, math.ceil(MAJORITY * len(present)))
    for kind in _TYPED_KINDS:
        var = Variable(type=kind, unit=unit if kind in ("integer", "number") else None, **fields)
        read = _count_read(present, var, max(allowed, 0))
        if present and read == len(present):
            return _with_range(var, present), None
        if read > (best[0] if best else 0):
            best = (read, var)
    if best is not None and best[0] >= MIN_MAJORITY_VALUES and best[0] >= MAJORITY * len(present):
        read, var = best
        note = f"the draft makes the column {_ARTICLES[var.type]}, as {read} of its {len(present)} values are"
        return _with_range(var, present), note
    categories = _categories(present, {})
    if present and _looks_like_categories(categories, len(present)):
        return Variable(type="category", values=categories, **fields), None
    return Variable(type="text", **fields), None


def _count_read(values: list[Cell], var: Variable, allowed_failures: int) -> int:
    """How many of ``values`` ``var`` reads; 0 as soon as more than ``allowed_failures`` fail."""
    failures = 0
    for value in values:
        try:
            read_cell(var, value)
        except ValueError:
            failures += 1
            if failures > allowed_failures:
                return 0
    return len(values) - failures


def _with_range(var: Variable, values: list[Cell]) -> Variable:
    """An integer or number variable with the observed range of its readable values in its description."""
    if var.type not in ("integer", "number"):
        return var
    numbers = []
    for value in values:
        try:
            numbers.append(float(read_cell(var, value)))
        except ValueError:
            continue
    low, high = min(numbers), max(numbers)
    seen = f" ; valeur observée {low:g}" if low == high else f" ; valeurs observées de {low:g} à {high:g}"
    return var.model_copy(update={"description": var.description + seen})


def _guess_unit(header: str, values: list[Cell]) -> str | None:
    """The unit the column's numbers are written in, when some cells carry one: the one unit they carry (as most
    cells spell it), or, when they carry several, the one the header names in parentheses (``Glycémie
    (g/L)``); None when no cell carries one (the header alone is not trusted: ``Score (total)``)."""
    carried: dict[str, Counter[str]] = {}
    for value in values:
        unit = number_unit(value)
        if unit is not None:
            carried.setdefault(_unit_key(unit), Counter())[unit] += 1
    if len(carried) == 1:
        return next(iter(carried.values())).most_common(1)[0][0]
    declared = _HEADER_UNIT.search(header)
    if declared and _unit_key(declared.group(1)) in carried:
        return carried[_unit_key(declared.group(1))].most_common(1)[0][0]
    return None


def _unit_key(unit: str) -> str:
    return normalize_text(unit).replace(" ", "")


def _categories(values: list[Cell], synonyms: dict[str, list[str]]) -> list[str]:
    """The distinct values, in order of first appearance, each spelled as most rows spell it; a synonym counts
    as its canonical value, and every canonical value of ``synonyms`` is one."""
    canonical = {normalize_text(value): value for value in synonyms}
    canonical.update({normalize_text(s): value for value, spellings in synonyms.items() for s in spellings})
    spellings: dict[str, Counter[str]] = {}
    for value in values:
        text = " ".join(cell_text(value).split())
        key = normalize_text(text)
        spelled = canonical.get(key, text)
        spellings.setdefault(normalize_text(spelled), Counter())[spelled] += 1
    found = [counter.most_common(1)[0][0] for counter in spellings.values()]
    return found + [value for value in synonyms if value not in found]


def _looks_like_categories(categories: list[str], count: int) -> bool:
    """Few distinct short values, each seen twice or more on average, none of them free text (several
    words)."""
    limit = min(MAX_CATEGORIES, count // 2)
    return (
        1 <= len(categories) <= limit
        and all(len(value) <= MAX_CATEGORY_CHARS for value in categories)
        and all(len(value.split()) <= MAX_CATEGORY_WORDS for value in categories)
    )


def check_synonyms(
    synonyms: dict[str, dict[str, list[str]]], variables: dict[str, Variable], file: str
) -> dict[str, Variable]:
    """The variables with the mapping's synonyms added to their own.

    Raises:
        ClinragError: Synonyms of an unknown variable, of a type that has none, or of a value it does not have.
    """
    merged = dict(variables)
    for name, by_value in synonyms.items():
        var = variables.get(name)
        if var is None:
            raise ClinragError(f"{file}: synonyms of '{name}', which is no variable of the table")
        allowed = {"category": var.values or [], "boolean": list(BOOLEAN_KEYS)}.get(var.type)
        if allowed is None:
            raise ClinragError(
                f"{file}: synonyms of '{name}', a {var.type} variable (only category, boolean)"
            )
        unknown = [value for value in by_value if value not in allowed]
        if unknown:
            raise ClinragError(
                f"{file}: synonyms of '{name}' for {', '.join(unknown)}, not among its values "
                f"({', '.join(allowed)})"
            )
        combined = {value: list(spellings) for value, spellings in (var.synonyms or {}).items()}
        for value, spellings in by_value.items():
            combined.setdefault(value, []).extend(spellings)
        merged[name] = var.model_copy(update={"synonyms": combined})
    return merged
