"""`clinrag import` as one call: read the export, the table and the variables, check every row, write the cohort
directory in one atomic step, with an import.json that records how it was made."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinrag.data.cohort import Document, table_to_csv
from clinrag.data.validate import read_cohort, read_variables
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError, Issue
from clinrag.importing.documents import DocumentColumns, FolderTexts, export_text, read_documents
from clinrag.importing.mapping import (
    ColumnChoice,
    DocumentsMapping,
    ImportMapping,
    check_distinct,
    choose_column,
    find_column,
    load_mapping,
)
from clinrag.importing.report import BadRowsError, RowError, count_rows
from clinrag.importing.sources import ReadOptions, Sheet, check_file, is_workbook, read_sheet
from clinrag.importing.splits import FRACTIONS, split_patients, splits_csv
from clinrag.importing.starter import check_synonyms, draft_variables, draft_yaml
from clinrag.importing.table import TableColumns, read_table, table_columns
from clinrag.io import (
    atomic_folder,
    atomic_write_text,
    dumps_json,
    dumps_jsonl,
    file_sha256,
    package_versions,
)

MANIFEST_NAME = "manifest.csv"
"""The manifest looked for in a text folder when none is given."""
IMPORT_RECORD = "import.json"
COHORT_MARKERS = ("documents.jsonl", IMPORT_RECORD)
"""A folder that holds one of these is a cohort: ``--overwrite`` may replace it (and no other folder)."""
_CONTRACT_FIELDS = ("patient_id", "doc_id", "date", "doc_type", "text")


@dataclass(frozen=True)
class ImportRequest:
    """What to import and where.

    Attributes:
        source: The document export (CSV, TSV or any delimited text; .xlsx), or a folder of text files.
        out: The cohort directory to write.
        manifest: A folder's manifest (file name, patient, date, type); default ``SOURCE/manifest.csv``.
        table: The registry table (delimited text or .xlsx), if any.
        variables: A variables.yaml to use (else one is drafted from the table).
        mapping: A mapping YAML (columns, synonyms, table options).
        columns: Columns given on the command line, by role (patient, document, date, type, text, file); they
            override the mapping's.
        encoding: The encoding of the documents' text (the export, or a folder's files); default detected.
        delimiter: The delimiter of the export or the manifest; default detected.
        sheet: The export's or manifest's sheet; default the first (given for a file that is not a workbook:
            refused).
        table_sheet: The table's sheet; default the mapping's, else the first (refused likewise).
        seed: Seed of the train/dev/test split.
        skip_bad_rows: Import the rows that can be read and list the others in import.json.
        overwrite: Replace a non-empty ``out``.
    """

    source: Path
    out: Path
    manifest: Path | None = None
    table: Path | None = None
    variables: Path | None = None
    mapping: Path | None = None
    columns: dict[str, str | None] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    table_sheet: str | None = None
    seed: int = 0
    skip_bad_rows: bool = False
    overwrite: bool = False


@dataclass
class ImportResult:
    """A finished import: where it was written, its import.json record and the rows skipped."""

    out: Path
    record: dict[str, Any]
    skipped: list[RowError]

    def summary(self) -> str:
        """One line: what was read, how (encoding, delimiter, columns, detected or given) and what was written."""
        record = self.record
        counts, docs = record["counts"], record["sources"]["documents"]
        parts = [
            f"{self.out}: {counts['patients']} patients, {counts['documents']} documents from {docs['path']}",
            _read_how(docs),
            _columns_how(record["columns"]["documents"]),
        ]
        if "table" in record["sources"]:
            split = record["splits"]["counts"]
            parts.append(
                f"table of {counts['table_patients']} patients × {counts['table_variables']} variables, split "
                f"train/dev/test {split['train']}/{split['dev']}/{split['test']} (seed {record['splits']['seed']}), "
                f"{counts['unlabeled_patients']} unlabeled"
            )
        if self.skipped:
            parts.append(f"{count_rows(self.skipped)} bad row(s) skipped (listed in {IMPORT_RECORD})")
        if record["variables"]["drafted"]:
            parts.append(
                f"variables.yaml drafted ({record['variables']['types']}): complete its TODOs, then "
                f"`clinrag validate {self.out}`"
            )
        else:
            parts.append(f"next: `clinrag validate {self.out}`")
        return "; ".join(parts)


def import_cohort(request: ImportRequest) -> ImportResult:
    """Convert a hospital export into a cohort directory that `clinrag validate` accepts.

    Nothing is written when any row is unreadable (unless ``skip_bad_rows``) or any input is unusable; the
    directory appears whole or not at all.

    Raises:
        BadRowsError: Rows could not be read (every one of them is in ``error.errors``).
        ClinragError: An input is missing or unusable (a header, a column, the mapping, variables.yaml), an
            option does not apply (a sheet for a file that is no workbook), or the output folder is refused.
    """
    _check_output(request)
    _check_sheets(request)
    mapping = load_mapping(request.mapping)
    given_variables = _given_variables(request.variables)
    if given_variables is None and request.table is None:
        raise ClinragError(
            "a cohort needs its variables: give --variables FILE, or --table FILE to draft them"
        )
    docs = _import_documents(request, mapping)
    table = None
    if request.table is not None:
        mapping_file = str(request.mapping or "the mapping")
        table = _import_table(request, mapping, mapping_file, given_variables, docs)
    errors = docs.errors + (table.errors if table else [])
    if errors and not request.skip_bad_rows:
        raise BadRowsError(errors)
    if not docs.documents:
        raise ClinragError(f"{request.source}: no document could be read")
    splits = split_patients(list(table.table), request.seed) if table else {}
    record = _record(request, mapping, docs, table, given_variables or [], splits, errors)
    _write(request, _files(request, docs, table, splits, record))
    return ImportResult(request.out, record, errors if request.skip_bad_rows else [])


# ---------------------------------------------------------------------------------------------------------
# the output folder
# ---------------------------------------------------------------------------------------------------------
def _check_output(request: ImportRequest) -> None:
    """Refuse a file, a non-empty folder without ``overwrite``, and with it a folder that holds an input that
    replacing it would lose (its variables.yaml may be given: it is copied into the new folder as it is) or that
    is no cohort (no documents.jsonl, no import.json): ``--overwrite`` never deletes what clinrag did not write."""
    out = request.out
    if out.exists() and not out.is_dir():
        raise ClinragError(f"{out}: is a file, not a folder; choose another --out")
    if not (out.is_dir() and any(out.iterdir())):
        return
    if not request.overwrite:
        raise ClinragError(f"{out}: exists and is not empty; use --overwrite to replace it")
    target = out.resolve()
    inputs = [request.source, request.manifest, request.table, request.mapping]
    for path in inputs:
        if path is not None and path.resolve().is_relative_to(target):
            raise ClinragError(f"{out}: holds the input {path}; write the cohort to another folder")
    if not any((out / name).is_file() for name in COHORT_MARKERS):
        raise ClinragError(
            f"{out}: holds files clinrag did not write (no documents.jsonl or import.json); --overwrite "
            "replaces only a cohort folder"
        )


def _check_sheets(request: ImportRequest) -> None:
    """Refuse a sheet option for a file that is no workbook, where it would be silently ignored: ``--sheet`` is
    the export's (or a folder's manifest's), ``--table-sheet`` the table's.

    Raises:
        ClinragError: Either is given for a delimited file, or ``--table-sheet`` without ``--table``.
    """
    if request.sheet is not None:
        documents = _manifest_path(request) if request.source.is_dir() else request.source
        if documents.is_file() and not is_workbook(documents):
            raise ClinragError(f"--sheet: {documents} is not a workbook; the table's sheet is --table-sheet")
    if request.table_sheet is not None:
        if request.table is None:
            raise ClinragError("--table-sheet: no --table given")
        if request.table.is_file() and not is_workbook(request.table):
            raise ClinragError(f"--table-sheet: {request.table} is not a workbook")


def _write(request: ImportRequest, files: dict[str, str]) -> None:
    """Write the files into a staging folder, check that it reads as a valid cohort, then move it in place."""
    try:
        with atomic_folder(request.out, replace=request.overwrite) as staging:
            for name, text in files.items():
                atomic_write_text(staging / name, text)
            _, issues = read_cohort(staging)
            problems = [issue for issue in issues if issue.severity == "error"]
            if problems:  # a defect of the importer itself: say so, and write nothing
                raise ClinragError(f"the imported cohort does not validate ({problems[0]}); nothing written")
    except FileExistsError:
        raise ClinragError(f"{request.out}: exists and is not empty; use --overwrite to replace it") from None


# ---------------------------------------------------------------------------------------------------------
# variables.yaml
# ---------------------------------------------------------------------------------------------------------
def _given_variables(path: Path | None) -> list[Variable] | None:
    """The variables of a given variables.yaml (None when none is given).

    Raises:
        ClinragError: The file is missing or invalid (its first defect, and how many there are).
    """
    if path is None:
        return None
    check_file(path, "variables file")
    issues: list[Issue] = []
    variables = read_variables(path, issues, file_name=str(path))
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ClinragError(f"{errors[0]}{more}")
    return variables


# ---------------------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _DocumentsPart:
    """The documents as imported, the rows that failed, and what import.json records of their source."""

    documents: list[Document]
    errors: list[RowError]
    source: dict[str, Any]
    columns: DocumentColumns
    text_role: str  # "text" for an export, "file" for a folder's manifest


def _import_documents(request: ImportRequest, mapping: ImportMapping) -> _DocumentsPart:
    """The documents of the export, or of the folder and its manifest."""
    settings = _documents_settings(request, mapping.documents)
    folder = request.source if request.source.is_dir() else None
    manifest = _manifest_path(request) if folder else request.source
    # a folder's manifest is read with its own detected encoding: --encoding is the text files'
    encoding = None if folder else settings.encoding
    option = "--encoding" if request.encoding else "the mapping's documents.encoding"
    sheet = read_sheet(manifest, ReadOptions(encoding, settings.delimiter, settings.sheet, option))
    text_role = "file" if folder else "text"
    columns = _document_columns(sheet, settings, text_role)
    text_column = columns.text.column
    assert text_column is not None  # a required role
    texts = FolderTexts(folder, text_column, settings.encoding, option) if folder else None
    documents, errors = read_documents(sheet, columns, texts or export_text(text_column))
    source = dict(sheet.info)
    if texts is not None:
        source = {"path": str(request.source), "format": "folder", "manifest": sheet.info}
        source.update(_folder_record(texts, settings.encoding, exclude={manifest}))
    return _DocumentsPart(documents, sorted(sheet.errors + errors, key=_line), source, columns, text_role)


def _documents_settings(request: ImportRequest, mapping: DocumentsMapping) -> DocumentsMapping:
    """The mapping's documents section, with the command line's options over it."""
    given = {role: column for role, column in request.columns.items() if column}
    given.update(
        {
            key: value
            for key, value in (
                ("encoding", request.encoding),
                ("delimiter", request.delimiter),
                ("sheet", request.sheet),
            )
            if value
        }
    )
    return mapping.model_copy(update=given)


def _manifest_path(request: ImportRequest) -> Path:
    manifest = request.manifest or request.source / MANIFEST_NAME
    if manifest.is_dir():
        raise ClinragError(f"{manifest}: is a folder, not a file")
    if not manifest.is_file():
        raise ClinragError(
            f"{request.source}: a folder of text files needs a manifest (file, patient, date, type): "
            f"no {manifest}; give it with --manifest"
        )
    return manifest


def _document_columns(sheet: Sheet, settings: DocumentsMapping, text_role: str) -> DocumentColumns:
    header, file = sheet.header, sheet.file
    choices = {
        "patient": choose_column(header, "patient", settings.patient, file, required=True),
        "document": choose_column(header, "document", settings.document, file, required=False),
        "date": choose_column(header, "date", settings.date, file, required=True),
        "type": choose_column(header, "type", settings.type, file, required=False),
        text_role: choose_column(header, text_role, getattr(settings, text_role), file, required=True),
    }
    check_distinct(choices, file)
    metadata = [find_column(header, name, file, "documents.metadata") for name in settings.metadata]
    used = {choice.column for choice in choices.values()}
    clashes = [name for name in metadata if name in _CONTRACT_FIELDS or name in used]
    if clashes:
        raise ClinragError(
            f"{file}: metadata column(s) {', '.join(clashes)} clash with the document's fields"
        )
    return DocumentColumns(
        patient=choices["patient"],
        document=choices["document"],
        date=choices["date"],
        type=choices["type"],
        text=choices[text_role],
        metadata=metadata,
    )


def _folder_record(texts: FolderTexts, encoding: str | None, exclude: set[Path]) -> dict[str, Any]:
    """What import.json records of a text folder: a digest of its files (their names are not recorded, as they
    may name patients), their encodings, and how many files no row named."""
    digest = hashlib.sha256()
    for path, sha in sorted(texts.read_files.items()):
        digest.update(f"{path.relative_to(texts.folder).as_posix()}\0{sha}\n".encode())
    return {
        "files": len(texts.read_files),
        "sha256": digest.hexdigest(),
        "encodings": dict(sorted(texts.encodings.items())),
        "encoding_detected": encoding is None,
        "unlisted_files": texts.unlisted_files(exclude),
    }


def _columns_record(part: _DocumentsPart) -> dict[str, Any]:
    """import.json's record of the documents' columns: each role's column, and whether it was detected."""
    columns = part.columns
    roles = {
        "patient": columns.patient,
        "document": columns.document,
        "date": columns.date,
        "type": columns.type,
        part.text_role: columns.text,
    }
    record: dict[str, Any] = {role: _choice(choice) for role, choice in roles.items()}
    record["metadata"] = columns.metadata
    return record


def _choice(choice: ColumnChoice) -> dict[str, Any]:
    return {"column": choice.column, "detected": choice.detected}


def _line(error: RowError) -> int:
    return error.line or 0


# ---------------------------------------------------------------------------------------------------------
# the registry table
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _TablePart:
    """The table as imported: canonical cells by patient, the variables (given or drafted), the rows that failed,
    and what import.json records of its source and columns."""

    table: dict[str, dict[str, str]]
    variables: list[Variable]
    columns: TableColumns
    errors: list[RowError]
    source: dict[str, Any]
    drafted: bool

    @property
    def names(self) -> list[str]:
        """The variables the table has a column for, in column order."""
        return list(self.columns.variables.values())


def _import_table(
    request: ImportRequest,
    mapping: ImportMapping,
    mapping_file: str,
    given: list[Variable] | None,
    docs: _DocumentsPart,
) -> _TablePart:
    """The registry table, each cell in its variable's canonical form; variables drafted when none are given
    (a drafted type is the one most of the column's values have: the others are row errors).

    Raises:
        ClinragError: The table's columns do not fit the variables, or the mapping names what is not there.
    """
    assert request.table is not None
    settings = mapping.table
    options = ReadOptions(
        settings.encoding,
        settings.delimiter,
        request.table_sheet or settings.sheet,
        "the mapping's table.encoding",
    )
    sheet = read_sheet(request.table, options)
    assert docs.columns.patient.column is not None
    columns = table_columns(sheet, settings, given, docs.columns.patient.column)
    names = list(columns.variables.values())
    unknown = [name for name in mapping.synonyms if name not in names]
    if unknown:
        raise ClinragError(f"{mapping_file}: synonyms of {', '.join(unknown)}, no column of the table")
    notes: dict[str, str] = {}
    if given is None:  # the draft has the mapping's synonyms already
        variables, notes = draft_variables(sheet, columns, mapping.synonyms)
        by_name = {var.name: var for var in variables}
    else:
        variables = given
        by_name = check_synonyms(mapping.synonyms, {var.name: var for var in given}, mapping_file)
    blank_false = set(settings.blank_means_false)
    not_boolean = sorted(n for n in blank_false if n not in by_name or by_name[n].type != "boolean")
    if not_boolean:
        raise ClinragError(
            f"{mapping_file}: table.blank_means_false names {', '.join(not_boolean)}, no boolean variable"
        )
    patients = {doc.patient_id for doc in docs.documents}
    table, errors = read_table(sheet, columns, by_name, patients, blank_false, notes)
    errors = sorted(sheet.errors + errors, key=_line)
    return _TablePart(table, variables, columns, errors, dict(sheet.info), drafted=given is None)


# ---------------------------------------------------------------------------------------------------------
# the files
# ---------------------------------------------------------------------------------------------------------
def _files(
    request: ImportRequest,
    docs: _DocumentsPart,
    table: _TablePart | None,
    splits: dict[str, str],
    record: dict[str, Any],
) -> dict[str, str]:
    """Every file of the cohort directory, by name: a given variables.yaml is copied as it is (comments kept)."""
    if table is not None and table.drafted:
        variables_text = draft_yaml(table.variables, Path(table.source["path"]).name)
    else:
        assert request.variables is not None
        variables_text = request.variables.read_text(encoding="utf-8")
    files = {
        "variables.yaml": variables_text,
        "documents.jsonl": dumps_jsonl(doc.to_json() for doc in docs.documents),
    }
    if table is not None:
        files["table.csv"] = table_to_csv(table.names, table.table.items())
        files["splits.csv"] = splits_csv(splits)
    files[IMPORT_RECORD] = dumps_json(record)
    return files


def _record(
    request: ImportRequest,
    mapping: ImportMapping,
    docs: _DocumentsPart,
    table: _TablePart | None,
    given_variables: list[Variable],
    splits: dict[str, str],
    errors: list[RowError],
) -> dict[str, Any]:
    """import.json: where each input came from (with its sha256), how it was read, what was written. No text
    of a document, and no identifier, is recorded."""
    sources: dict[str, Any] = {"documents": docs.source}
    columns: dict[str, Any] = {"documents": _columns_record(docs)}
    if table is not None:
        sources["table"] = table.source
        columns["table"] = {
            "patient": _choice(table.columns.patient),
            "variables": table.columns.variables,
            "ignored": table.columns.ignored,
        }
    for name, path in (("variables", request.variables), ("mapping", request.mapping)):
        if path is not None:
            sources[name] = {"path": str(path), "sha256": file_sha256(path)}
    variables = table.variables if table else given_variables
    types = Counter(var.type for var in variables)
    return {
        "versions": package_versions("clinrag", "openpyxl", "charset-normalizer"),
        "sources": sources,
        "columns": columns,
        "variables": {
            "drafted": bool(table and table.drafted),
            "count": len(variables),
            "types": ", ".join(f"{n} {t}" for t, n in types.most_common()),
        },
        "synonyms": sorted(mapping.synonyms),
        "splits": _splits_record(splits, request.seed) if table else None,
        "counts": _counts(docs.documents, table, errors),
        "skipped": [error.to_json() for error in errors],
    }


def _splits_record(splits: dict[str, str], seed: int) -> dict[str, Any]:
    counts = Counter(splits.values())
    return {
        "seed": seed,
        "fractions": list(FRACTIONS),
        "counts": {name: counts[name] for name in ("train", "dev", "test")},
    }


def _counts(documents: list[Document], table: _TablePart | None, errors: list[RowError]) -> dict[str, int]:
    patients = {doc.patient_id for doc in documents}
    counts = {"patients": len(patients), "documents": len(documents)}
    if table is not None:
        counts.update(
            table_patients=len(table.table),
            table_variables=len(table.names),
            unlabeled_patients=len(patients - set(table.table)),
        )
    counts["skipped_rows"] = len(errors)
    return counts


# ---------------------------------------------------------------------------------------------------------
# the summary line
# ---------------------------------------------------------------------------------------------------------
def _read_how(source: dict[str, Any]) -> str:
    """How the documents were read: "cp1252 (detected), delimiter ';' (detected)", "sheet 'Export'"..."""

    def how(value: str, detected: bool) -> str:
        return f"{value} (detected)" if detected else value

    if source["format"] == "folder":
        encodings = ", ".join(f"{enc} ×{n}" for enc, n in source["encodings"].items()) or "none"
        return f"{source['files']} text files, encoding {how(encodings, source['encoding_detected'])}"
    if source["format"] == "xlsx":
        return f"sheet '{source['sheet']}'"
    delimiter = "tab" if source["delimiter"] == "\t" else f"'{source['delimiter']}'"
    return (
        f"encoding {how(source['encoding'], source['encoding_detected'])}, "
        f"delimiter {how(delimiter, source['delimiter_detected'])}"
    )


def _columns_how(columns: dict[str, Any]) -> str:
    """The columns used, those detected from the header marked with a star."""
    used = [
        f"{role}={choice['column']}{'*' if choice['detected'] else ''}"
        for role, choice in columns.items()
        if role != "metadata" and choice["column"] is not None
    ]
    notes = []
    if columns["document"]["column"] is None:
        notes.append("document ids generated")
    if columns["type"]["column"] is None:
        notes.append("no type column")
    if any(choice["detected"] for role, choice in columns.items() if role != "metadata"):
        notes.append("*: detected")
    return "columns " + ", ".join(used) + (f" ({', '.join(notes)})" if notes else "")
