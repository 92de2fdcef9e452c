"""A registry table made table.csv: its columns matched to variables, each cell in the variable's canonical form.

Cells are read by the rules of :mod:`clinrag.data.values` (French booleans, decimal commas, units, category
spellings and synonyms), with what exports add: dates in every form of :mod:`clinrag.importing.dates`, ``x``
for a ticked box, and the usual markers of a missing value (``vide``, ``NA``, ``nd``, ``NR``, ``non
renseigné``, ``-``) read as "not documented".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from clinrag.data.values import canonical_cell, normalize_text
from clinrag.data.variables import SNAKE_CASE, Variable
from clinrag.errors import ClinragError
from clinrag.importing.dates import read_date
from clinrag.importing.mapping import ColumnChoice, TableMapping, choose_column, find_column, header_key
from clinrag.importing.report import RowError
from clinrag.importing.sources import Cell, Sheet, cell_text
from clinrag.text.folding import fold

MISSING_MARKERS = frozenset(
    {
        "vide",
        "na",
        "n/a",
        "nan",
        "nd",
        "nr",
        "nc",
        "null",
        "none",
        "non renseigne",
        "non communique",
        "non disponible",
        "non documente",
        "non precise",
        "inconnu",
        "not documented",
        "unknown",
        "—",
        "–",
    }
)
"""Spellings of a missing value, compared by :func:`~clinrag.data.values.normalize_text` (which also reduces
``-``, ``?`` and ``...`` to nothing)."""
TICKED = "x"
"""A ticked box: true in a boolean column."""
# a number followed by what may be its unit ("6,4 g/L", "37,2 °C", "45 %"); a unit is a short word that starts
# with a letter, "%" or "°" ("mmol/L", "kg/m²", "mmHg"), never a date's "/06/2024"
_NUMBER_AND_REST = re.compile(r"^[+-]?\d[\d \u00a0\u202f]*(?:[.,]\d+)?\s*([^\d\s].*)$")
_UNIT = re.compile(r"^(?:%|°[CF]?|[^\W\d_][^\W_]*(?:/[^\W\d_][^\W_]*)?)$")
_MAX_UNIT_CHARS = 12


@dataclass
class TableColumns:
    """The table's patient column, the variable each other column fills, and the columns left out."""

    patient: ColumnChoice
    variables: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def is_missing(value: Cell) -> bool:
    """Whether a cell says nothing: empty, or one of :data:`MISSING_MARKERS`."""
    key = normalize_text(cell_text(value))
    return not key or key in MISSING_MARKERS


def number_unit(value: Cell) -> str | None:
    """The unit a number cell carries (``"6,4 g/L"``: ``g/L``), or None: no unit, or not a number."""
    if not isinstance(value, str):
        return None
    found = _NUMBER_AND_REST.match(value.strip())
    unit = found.group(1).strip() if found else ""
    return unit if unit and len(unit) <= _MAX_UNIT_CHARS and _UNIT.match(unit) else None


def snake_case(header: str) -> str:
    """A variable name made from a column's header: ``"NIHSS à l'entrée"`` is ``nihss_a_l_entree``."""
    name = fold(header, "ascii").replace(" ", "_")
    if not name:
        return "colonne"
    return name if name[0].isalpha() else f"v_{name}"


def table_columns(
    sheet: Sheet, mapping: TableMapping, variables: list[Variable] | None, documents_patient: str
) -> TableColumns:
    """Match the table's columns: the patient's, then each other to a variable.

    With ``variables``, a column fills the variable the mapping's ``columns`` names, else the one whose
    ``source_column`` it is (a drafted variable renamed), else the one named as the column or as its
    :func:`snake_case`; without, a variable to draft, named by the mapping or :func:`snake_case`.

    Raises:
        ClinragError: No patient column, no other column, a column that fills no variable, or two columns for
            one variable.
    """
    patient = _patient_column(sheet, mapping, documents_patient)
    ignored = [find_column(sheet.header, name, sheet.file, "table.ignore") for name in mapping.ignore]
    renames = {
        find_column(sheet.header, h, sheet.file, "table.columns"): n for h, n in mapping.columns.items()
    }
    known = {var.name for var in variables or []}
    sources = {var.metadata.get("source_column"): var.name for var in variables or []}
    columns = TableColumns(patient, ignored=ignored)
    unknown = []
    for header in sheet.header:
        if header == patient.column or header in ignored:
            continue
        name = (
            renames.get(header) or sources.get(header) or _variable_name(header, known, variables is not None)
        )
        if name is None:
            unknown.append(header)
        else:
            columns.variables[header] = name
    if unknown:
        raise ClinragError(
            f"{sheet.file}: column(s) {', '.join(unknown)} match no variable of variables.yaml (map them in "
            "the mapping's table.columns, or leave them out with table.ignore)"
        )
    if not columns.variables:
        raise ClinragError(f"{sheet.file}: no column besides the patient's: no variable to import")
    _check_names(columns.variables, known if variables is not None else None, sheet.file)
    return columns


def _patient_column(sheet: Sheet, mapping: TableMapping, documents_patient: str) -> ColumnChoice:
    choice = choose_column(sheet.header, "patient", mapping.patient, sheet.file, required=False)
    if choice.column is not None:
        return choice
    if any(header_key(h) == header_key(documents_patient) for h in sheet.header):
        return ColumnChoice(find_column(sheet.header, documents_patient, sheet.file, "the patient"), True)
    raise ClinragError(
        f"{sheet.file}: no patient column found (columns: {', '.join(sheet.header)}); name it in the "
        "mapping's table.patient"
    )


def _variable_name(header: str, known: set[str], given: bool) -> str | None:
    if not given:
        return snake_case(header)
    for name in (header, snake_case(header)):
        if name in known:
            return name
    return None


def _check_names(names: dict[str, str], known: set[str] | None, file: str) -> None:
    seen: dict[str, str] = {}
    for header, name in names.items():
        if known is not None and name not in known:
            raise ClinragError(
                f"{file}: column '{header}' is mapped to '{name}', no variable of variables.yaml"
            )
        if not SNAKE_CASE.match(name) or name == "patient_id":
            raise ClinragError(f"{file}: column '{header}': '{name}' is no variable name (snake_case)")
        if name in seen:
            raise ClinragError(f"{file}: columns '{seen[name]}' and '{header}' both fill '{name}'")
        seen[name] = header


def read_table(
    sheet: Sheet,
    columns: TableColumns,
    variables: dict[str, Variable],
    patients: set[str],
    blank_means_false: set[str],
    notes: dict[str, str] | None = None,
) -> tuple[dict[str, dict[str, str]], list[RowError]]:
    """Read every row into canonical cells; a row with any unreadable cell is reported and left out.

    Args:
        sheet: The table as read.
        columns: Its columns' variables.
        variables: The variables by name.
        patients: The patients with documents (a row of another patient is an error).
        blank_means_false: Boolean variables whose blank cell is false.
        notes: By variable, words added to each of its cell errors (why a drafted variable has its type).

    Returns:
        ``patient -> variable -> canonical cell`` in row order, and the row errors.
    """
    assert columns.patient.column is not None
    table: dict[str, dict[str, str]] = {}
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for row in sheet.rows:
        row_errors: list[RowError] = []
        patient = cell_text(row.cells[columns.patient.column]).strip()
        if not patient:
            row_errors.append(RowError(sheet.file, row.line, columns.patient.column, "missing patient id"))
        elif patient in first_line:
            reason = f"duplicate patient (first on line {first_line[patient]})"
            row_errors.append(RowError(sheet.file, row.line, columns.patient.column, reason))
        elif patient not in patients:
            reason = "the patient has no document in the export"
            row_errors.append(RowError(sheet.file, row.line, columns.patient.column, reason))
        cells: dict[str, str] = {}
        for header, name in columns.variables.items():
            try:
                cells[name] = read_cell(variables[name], row.cells[header], name in blank_means_false)
            except ValueError as err:
                note = (notes or {}).get(name)
                reason = f"{err}; {note}" if note else str(err)
                row_errors.append(RowError(sheet.file, row.line, header, reason))
        if row_errors:
            errors.extend(row_errors)
            continue
        first_line[patient] = row.line
        table[patient] = cells
    return table, errors


def read_cell(var: Variable, value: Cell, blank_means_false: bool = False) -> str:
    """A table cell in the variable's canonical form (``""``: not documented).

    Raises:
        ValueError: The cell is not of the variable's type; the message quotes no cell text (a date excepted).
    """
    text = cell_text(value).strip()
    if var.type == "category":
        try:
            return canonical_cell(var, text)
        except ValueError:
            pass
    if is_missing(value):
        return "false" if blank_means_false and not text else ""
    if var.type == "date":
        return _date_cell(value)
    if var.type == "boolean" and normalize_text(text) == TICKED:
        return "true"
    try:
        return canonical_cell(var, text)
    except ValueError:
        raise ValueError(_reason(var, text)) from None


def _date_cell(value: Cell) -> str:
    if isinstance(value, dt.date):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    return read_date(cell_text(value))[0].date().isoformat()


def _reason(var: Variable, text: str) -> str:
    """Why ``text`` is not a value of ``var``, in words that do not repeat it."""
    if var.type in ("integer", "number"):
        kind = "an integer" if var.type == "integer" else "a number"
        try:
            canonical_cell(var.model_copy(update={"minimum": None, "maximum": None}), text)
        except ValueError:
            units = [u for u in [var.unit, *(var.unit_conversions or {})] if u]
            if number_unit(text) is not None:  # a number, in a unit the variable does not have
                if units:
                    return f"not {kind} in the variable's units ({', '.join(units)})"
                return f"not {kind}: the cell has a unit, and the variable none (declare it as its unit)"
            return f"not {kind}" + (f" (units: {', '.join(units)})" if units else "")
        bounds = [
            f"{word} {bound:g}"
            for word, bound in (("minimum", var.minimum), ("maximum", var.maximum))
            if bound is not None
        ]
        return f"outside the variable's bounds ({', '.join(bounds)})"
    if var.type == "boolean":
        return "not a boolean (oui/non, vrai/faux, o/n, 1/0, x, or a synonym of the mapping)"
    if var.type == "category":
        return f"not one of the categories ({', '.join(var.values or [])}); add it to the mapping's synonyms"
    return "unreadable value"  # pragma: no cover - text and date cells are read above
