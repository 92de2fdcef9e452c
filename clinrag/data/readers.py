"""The cohort files, one reader each: ``variables.yaml``, ``documents.jsonl``, ``evidence.jsonl``, ``phi.jsonl``,
``table.csv`` and ``splits.csv``.

Each reader checks its file as it reads it and appends every defect to the shared issue list as an
:class:`~clinrag.errors.Issue` naming file, line and field; :mod:`clinrag.data.validate` runs them over a
cohort directory in order and checks what links the files.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from clinrag.data.cohort import PHI_LABELS, SPLITS, Document, EvidenceSpan, PhiSpan
from clinrag.data.values import canonical_cell, parse_document_date
from clinrag.data.variables import KNOWN_KEYS, SNAKE_CASE, VARIABLE_TYPES, Variable
from clinrag.errors import Issue, quoted


class _Collector:
    """Gathers issues for one file."""

    def __init__(self, file: str, issues: list[Issue]):
        self.file = file
        self.issues = issues

    def error(self, line: int | None, field: str | None, message: str) -> None:
        self.issues.append(Issue(self.file, line, field, message, "error"))

    def warning(self, line: int | None, field: str | None, message: str) -> None:
        self.issues.append(Issue(self.file, line, field, message, "warning"))


def _decode_lines(path: Path, out: _Collector) -> list[tuple[int, str]] | None:
    """Read a file as UTF-8 lines, reporting each line that is not valid UTF-8 (and skipping it)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        out.error(None, None, f"cannot read: {err.strerror}")
        return None
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            out.error(
                number, None, f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
            )
            continue
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        lines.append((number, text.rstrip("\r")))
    if lines and lines[-1][1] == "":
        lines.pop()
    return lines


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


# ---------------------------------------------------------------------------------------------------------
# variables.yaml
# ---------------------------------------------------------------------------------------------------------
def _yaml_item_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each item of the top-level ``variables`` list: its line and the line of each of its keys."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "variables" and isinstance(value, yaml.SequenceNode):
            result = []
            for item in value.value:
                keys = {}
                if isinstance(item, yaml.MappingNode):
                    keys = {k.value: k.start_mark.line + 1 for k, _ in item.value}
                result.append((item.start_mark.line + 1, keys))
            return result
    return []


def read_variables(path: Path, issues: list[Issue], file_name: str = "variables.yaml") -> list[Variable]:
    """Read and check variables.yaml; defects are appended to ``issues``.

    Returns:
        The variables that are valid (an invalid one is left out and reported).
    """
    out = _Collector(file_name, issues)
    if not path.exists():
        out.error(None, None, "required file is missing")
        return []
    lines = _decode_lines(path, out)
    if lines is None or any(i.file == file_name and i.severity == "error" for i in issues):
        return []
    text = "\n".join(line for _, line in lines)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        out.error(mark.line + 1 if mark else None, None, f"malformed YAML: {problem}")
        return []
    if not isinstance(data, dict) or not isinstance(data.get("variables"), list):
        out.error(1, "variables", "expected a top-level 'variables:' list")
        return []
    positions = _yaml_item_lines(text)
    variables: list[Variable] = []
    seen: set[str] = set()
    for index, item in enumerate(data["variables"]):
        item_line, key_lines = positions[index] if index < len(positions) else (None, {})

        def line_of(key: str, item_line: int | None = item_line, key_lines: dict = key_lines) -> int | None:
            return key_lines.get(key, item_line)

        if not isinstance(item, dict):
            out.error(item_line, None, f"each variable must be a mapping, got {_type_name(item)}")
            continue
        ok = True
        for required in ("name", "type", "description"):
            if required not in item or item[required] in (None, ""):
                out.error(item_line, required, "missing required field")
                ok = False
            elif not isinstance(item[required], str):
                out.error(line_of(required), required, f"expected a string, got {_type_name(item[required])}")
                ok = False
        if not ok:
            continue
        name, vtype = item["name"], item["type"]
        if item["description"].lstrip().upper().startswith("TODO"):
            out.warning(
                line_of("description"),
                "description",
                "still a TODO (a drafted variables.yaml): describe the variable in French as the registry defines it; "
                "the reader is given this description",
            )
        if not SNAKE_CASE.match(name):
            out.error(line_of("name"), "name", f"'{name}' is not snake_case")
            ok = False
        elif name == "patient_id":
            out.error(line_of("name"), "name", "'patient_id' is reserved for the table's key column")
            ok = False
        elif name in seen:
            out.error(line_of("name"), "name", f"duplicate variable '{name}'")
            ok = False
        seen.add(name)
        if vtype not in VARIABLE_TYPES:
            out.error(
                line_of("type"),
                "type",
                f"unknown type '{vtype}' (expected one of {', '.join(VARIABLE_TYPES)})",
            )
            continue
        for key, types in KNOWN_KEYS.items():
            if key in item and item[key] is not None and vtype not in types:
                out.error(line_of(key), key, f"'{key}' does not apply to a {vtype} variable")
                ok = False
        if vtype == "category":
            values = item.get("values")
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
            ):
                out.error(
                    line_of("values"), "values", "a category variable needs a non-empty list of strings"
                )
                ok = False
            elif len(set(values)) != len(values):
                out.error(line_of("values"), "values", "duplicate category values")
                ok = False
        if not ok:
            continue
        try:
            var = Variable(**item)
        except ValidationError as err:
            for detail in err.errors():
                loc = ".".join(str(part) for part in detail["loc"])
                out.error(line_of(str(detail["loc"][0])), loc, detail["msg"])
            continue
        if var.minimum is not None and var.maximum is not None and var.minimum > var.maximum:
            out.error(line_of("minimum"), "minimum", f"minimum {var.minimum} is above maximum {var.maximum}")
            continue
        if var.synonyms and var.type == "category":
            unknown = [v for v in var.synonyms if v not in (var.values or [])]
            if unknown:
                out.error(
                    line_of("synonyms"),
                    "synonyms",
                    f"synonyms given for unknown values: {', '.join(unknown)}",
                )
                continue
        variables.append(var)
    if not data["variables"]:
        out.error(1, "variables", "the list of variables is empty")
    return variables


# ---------------------------------------------------------------------------------------------------------
# JSON Lines files
# ---------------------------------------------------------------------------------------------------------
def _read_jsonl(path: Path, out: _Collector) -> list[tuple[int, dict[str, Any]]]:
    lines = _decode_lines(path, out)
    records = []
    for number, line in lines or []:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            out.error(number, None, f"malformed JSON: {err.msg} at column {err.colno}")
            continue
        if not isinstance(record, dict):
            out.error(number, None, f"expected a JSON object, got {_type_name(record)}")
            continue
        records.append((number, record))
    return records


def _require(out: _Collector, number: int, record: dict, name: str, kind: type) -> Any:
    """A field of ``kind`` (str fields must be non-empty); reports and returns None when it is not."""
    if name not in record:
        out.error(number, name, "missing required field")
        return None
    value = record[name]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            out.error(number, name, f"expected an integer, got {_type_name(value)}")
            return None
        return value
    if not isinstance(value, kind):
        out.error(number, name, f"expected a string, got {_type_name(value)}")
        return None
    return value


def read_documents(path: Path, issues: list[Issue]) -> list[Document]:
    """Read and check documents.jsonl; defects are appended to ``issues``."""
    out = _Collector("documents.jsonl", issues)
    if not path.exists():
        out.error(None, None, "required file is missing")
        return []
    documents: list[Document] = []
    seen: dict[str, int] = {}
    for number, record in _read_jsonl(path, out):
        fields = {
            name: _require(out, number, record, name, str)
            for name in ("patient_id", "doc_id", "date", "doc_type", "text")
        }
        for name in ("patient_id", "doc_id"):
            if isinstance(fields[name], str) and not fields[name].strip():
                out.error(number, name, "must not be empty")
                fields[name] = None
        date = None
        if fields["date"] is not None:
            try:
                date = parse_document_date(fields["date"])
            except ValueError as err:
                out.error(number, "date", str(err))
        doc_id = fields["doc_id"]
        if doc_id is not None:
            if doc_id in seen:
                out.error(number, "doc_id", f"duplicate doc_id '{doc_id}' (first on line {seen[doc_id]})")
                continue
            seen[doc_id] = number
        if any(value is None for value in fields.values()) or date is None:
            continue
        if not fields["text"].strip():
            out.warning(number, "text", f"document '{doc_id}' is empty")
        metadata = {k: v for k, v in record.items() if k not in fields}
        documents.append(
            Document(
                patient_id=fields["patient_id"],
                doc_id=doc_id,
                date=date,
                doc_type=fields["doc_type"],
                text=fields["text"],
                has_time="T" in fields["date"],
                metadata=metadata,
            )
        )
    if not documents and not any(i.file == "documents.jsonl" and i.severity == "error" for i in issues):
        out.error(None, None, "no documents")
    return documents


def _check_offsets(out: _Collector, number: int, start: int, end: int, doc: Document) -> bool:
    if not 0 <= start < end <= len(doc.text):
        field = "start" if not 0 <= start < len(doc.text) else "end"
        out.error(
            number,
            field,
            f"offsets {start}-{end} are outside the text of '{doc.doc_id}' (length {len(doc.text)})",
        )
        return False
    return True


def read_evidence(
    path: Path,
    issues: list[Issue],
    docs: dict[str, Document],
    variable_names: set[str],
    documents_read: bool = True,
    variables_read: bool = True,
) -> list[EvidenceSpan]:
    """Read and check evidence.jsonl against the documents and variables (an unknown document or variable is an
    error only when documents.jsonl or variables.yaml gave some: ``documents_read``, ``variables_read``)."""
    out = _Collector("evidence.jsonl", issues)
    spans = []
    for number, record in _read_jsonl(path, out):
        pid = _require(out, number, record, "patient_id", str)
        variable = _require(out, number, record, "variable", str)
        doc_id = _require(out, number, record, "doc_id", str)
        start = _require(out, number, record, "start", int)
        end = _require(out, number, record, "end", int)
        if None in (pid, variable, doc_id, start, end):
            continue
        if variable not in variable_names:
            if variables_read:
                out.error(number, "variable", f"unknown variable '{variable}'")
            continue
        if doc_id not in docs:
            if documents_read:
                out.error(number, "doc_id", f"unknown document '{doc_id}'")
            continue
        if docs[doc_id].patient_id != pid:
            out.error(number, "patient_id", f"document '{doc_id}' belongs to another patient")
            continue
        if _check_offsets(out, number, start, end, docs[doc_id]):
            spans.append(EvidenceSpan(pid, variable, doc_id, start, end))
    return spans


def read_phi(
    path: Path, issues: list[Issue], docs: dict[str, Document], documents_read: bool = True
) -> list[PhiSpan]:
    """Read and check phi.jsonl against the documents (an unknown document is an error only when documents.jsonl
    gave some: ``documents_read``)."""
    out = _Collector("phi.jsonl", issues)
    spans = []
    for number, record in _read_jsonl(path, out):
        doc_id = _require(out, number, record, "doc_id", str)
        start = _require(out, number, record, "start", int)
        end = _require(out, number, record, "end", int)
        label = _require(out, number, record, "label", str)
        if None in (doc_id, start, end, label):
            continue
        if label not in PHI_LABELS:
            out.error(number, "label", f"unknown label '{label}' (expected one of {', '.join(PHI_LABELS)})")
            continue
        if doc_id not in docs:
            if documents_read:
                out.error(number, "doc_id", f"unknown document '{doc_id}'")
            continue
        if _check_offsets(out, number, start, end, docs[doc_id]):
            spans.append(PhiSpan(doc_id, start, end, label))
    return spans


# ---------------------------------------------------------------------------------------------------------
# CSV files
# ---------------------------------------------------------------------------------------------------------
def _read_csv(path: Path, out: _Collector) -> list[tuple[int, list[str]]]:
    lines = _decode_lines(path, out)
    if not lines:
        if lines is not None and not any(i.file == out.file for i in out.issues):
            out.error(None, None, "empty file (expected a header line)")
        return []
    text = "\n".join(line for _, line in lines) + "\n"
    numbers = [n for n, _ in lines]
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            # csv counts physical lines; map back to file lines (bad UTF-8 lines were dropped)
            rows.append((numbers[min(reader.line_num, len(numbers)) - 1], row))
    except csv.Error as err:
        out.error(numbers[min(reader.line_num, len(numbers)) - 1], None, f"malformed CSV: {err}")
    return [(n, r) for n, r in rows if any(cell.strip() for cell in r)]


def read_table(
    path: Path,
    issues: list[Issue],
    variables: list[Variable],
    patients: set[str],
    file_name: str = "table.csv",
    check_patients: bool = True,
    strict_cells: bool = True,
    check_columns: bool = True,
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Read a table (table.csv, or predictions in the same shape) and check every cell.

    Args:
        path: The CSV file.
        issues: Defects are appended here.
        variables: The cohort's variables.
        patients: Patients that have documents.
        file_name: Name used in issues.
        check_patients: Report rows whose patient has no documents.
        strict_cells: An invalid cell is an error and is left out of its row; when False (predictions) it is a
            warning and kept as written, so that evaluation counts it as an invalid answer.
        check_columns: Report columns that are not variables; when False (variables.yaml gave no variable) such
            a table is left unread, without an error.

    Returns:
        The variable columns, and ``patient_id -> variable -> canonical cell`` for the rows that could be read.
    """
    out = _Collector(file_name, issues)
    rows = _read_csv(path, out)
    if not rows:
        return [], {}
    header_line, header = rows[0]
    header = [h.strip() for h in header]
    by_name = {var.name: var for var in variables}
    if not header or header[0] != "patient_id":
        out.error(header_line, header[0] if header else None, "the first column must be 'patient_id'")
        return [], {}
    columns: list[str] = []
    for name in header[1:]:
        if name not in by_name:
            if check_columns:
                out.error(header_line, name, f"column '{name}' is not a variable of variables.yaml")
        elif name in columns:
            out.error(header_line, name, f"duplicate column '{name}'")
        else:
            columns.append(name)
    if len(columns) != len(header) - 1:
        return [], {}
    missing = [var.name for var in variables if var.name not in columns]
    if missing and file_name == "table.csv":
        out.warning(header_line, None, f"no column for {len(missing)} variable(s): {', '.join(missing)}")
    table: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    non_canonical: dict[str, tuple[int, int, str, str]] = {}
    for number, row in rows[1:]:
        if len(row) != len(header):
            out.error(number, None, f"expected {len(header)} cells, found {len(row)}")
            continue
        pid = row[0].strip()
        if not pid:
            out.error(number, "patient_id", "must not be empty")
            continue
        if pid in first_line:
            out.error(number, "patient_id", f"duplicate patient '{pid}' (first on line {first_line[pid]})")
            continue
        first_line[pid] = number
        if check_patients and pid not in patients:
            out.error(number, "patient_id", f"patient '{pid}' has no documents")
        cells: dict[str, str] = {}
        for name, raw in zip(columns, row[1:], strict=True):
            try:
                cell = canonical_cell(by_name[name], raw)
            except ValueError as err:
                if strict_cells:
                    out.error(number, name, str(err))
                else:
                    out.warning(number, name, f"{err}; scored as an invalid answer")
                    cells[name] = raw.strip()
                continue
            if strict_cells and cell != raw.strip():
                count, line, first_raw, first_cell = non_canonical.get(name, (0, number, raw, cell))
                non_canonical[name] = (count + 1, line, first_raw, first_cell)
            cells[name] = cell
        table[pid] = cells
    for name, (count, line, raw, cell) in non_canonical.items():
        out.warning(
            line,
            name,
            f"{count} cell(s) not in canonical form, read by the variable's rules (e.g. {quoted(raw)} as {quoted(cell)})",
        )
    return columns, table


def read_splits(path: Path, issues: list[Issue], patients: set[str] | None) -> dict[str, str]:
    """Read and check splits.csv (``patients``: those with documents, None when documents.jsonl gave none)."""
    out = _Collector("splits.csv", issues)
    rows = _read_csv(path, out)
    if not rows:
        return {}
    header_line, header = rows[0]
    if [h.strip() for h in header] != ["patient_id", "split"]:
        out.error(header_line, None, "the header must be 'patient_id,split'")
        return {}
    splits: dict[str, str] = {}
    for number, row in rows[1:]:
        if len(row) != 2:
            out.error(number, None, f"expected 2 cells, found {len(row)}")
            continue
        pid, split = row[0].strip(), row[1].strip()
        if split not in SPLITS:
            out.error(number, "split", f"unknown split '{split}' (expected train, dev or test)")
            continue
        if patients is not None and pid not in patients:
            out.error(number, "patient_id", f"unknown patient '{pid}' (no documents)")
            continue
        if pid in splits:
            out.error(number, "patient_id", f"patient '{pid}' is listed twice")
            continue
        splits[pid] = split
    return splits
