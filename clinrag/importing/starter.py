"""A starter variables.yaml, drafted from a registry table's columns when the user has none.

Each column's type is guessed from its values, read by the same rules that then normalize them
(:func:`clinrag.importing.table.read_cell`): boolean when every value is a French or English yes/no (or a
tick), integer, number, date, category when the column holds few distinct short values (each spelled as most
rows spell it), text otherwise. Descriptions are left as TODOs for the user, in French as the cohort format
wants them.
"""

from __future__ import annotations

from collections import Counter

from clinrag.data.cohort import variables_to_yaml
from clinrag.data.values import normalize_text
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.importing.sources import Cell, Sheet, cell_text
from clinrag.importing.table import TableColumns, is_missing, read_cell

MAX_CATEGORIES = 10
"""Most distinct values of a column drafted as a category."""
MAX_CATEGORY_CHARS = 40
"""Longest value of a column drafted as a category."""
BOOLEAN_KEYS = ("true", "false")

DRAFT_HEADER = """\
# DRAFT written by `clinrag import` from the columns of {source}: check it before any run.
# Each type was guessed from the column's values; for each variable:
#   - replace the TODO description by what the variable means, in French (it also seeds retrieval);
#   - check its type and, for a category, its values (spelled as most rows spell them);
#   - add what applies: minimum/maximum and unit (integer, number), timepoint ("admission", "à 3 mois").
# Then check the cohort with `clinrag validate`, and import again with --variables to normalize the table by
# the final version.
"""


def draft_variables(
    sheet: Sheet, columns: TableColumns, synonyms: dict[str, dict[str, list[str]]]
) -> list[Variable]:
    """A variable for each of the table's variable columns, in column order.

    Args:
        sheet: The table.
        columns: Which column fills which variable.
        synonyms: The mapping's synonyms by variable: a column that has some is a category (a boolean when
            they are for ``true`` and ``false``), and its values are read through them.
    """
    return [
        guess_variable(name, header, [row.cells[header] for row in sheet.rows], synonyms.get(name))
        for header, name in columns.variables.items()
    ]


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
    present = [value for value in values if not is_missing(value)]
    description = f"TODO: décrire la variable (colonne « {header} » du registre)"
    fields: dict[str, object] = {"name": name, "description": description, "source_column": header}
    if synonyms:
        fields["synonyms"] = synonyms
    if synonyms and set(synonyms) <= set(BOOLEAN_KEYS):
        return Variable(type="boolean", **fields)
    if synonyms:
        return Variable(type="category", values=_categories(present, synonyms), **fields)
    for kind in ("boolean", "integer", "number", "date"):
        if present and _all_read(present, Variable(type=kind, **fields)):
            if kind in ("integer", "number"):
                fields["description"] = description + _observed_range(present, kind)
            return Variable(type=kind, **fields)
    categories = _categories(present, {})
    if present and _looks_like_categories(categories, len(present)):
        return Variable(type="category", values=categories, **fields)
    return Variable(type="text", **fields)


def _all_read(values: list[Cell], var: Variable) -> bool:
    for value in values:
        try:
            read_cell(var, value)
        except ValueError:
            return False
    return True


def _observed_range(values: list[Cell], kind: str) -> str:
    numbers = [float(read_cell(Variable(name="v", type=kind, description="v"), value)) for value in values]
    low, high = min(numbers), max(numbers)
    return f" ; valeur observée {low:g}" if low == high else f" ; valeurs observées de {low:g} à {high:g}"


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
    """Few distinct short values, each seen about twice or more on average."""
    limit = min(MAX_CATEGORIES, max(2, count // 2))
    return len(categories) <= limit and all(len(value) <= MAX_CATEGORY_CHARS for value in categories)


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
