"""Rows of an export (or of a text folder's manifest) made documents of the cohort format."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clinrag.data.cohort import Document
from clinrag.importing.dates import read_date
from clinrag.importing.mapping import ColumnChoice
from clinrag.importing.report import RowError
from clinrag.importing.sources import (
    Row,
    Sheet,
    cell_text,
    codec_name,
    normalize_newlines,
    read_text_file,
)
from clinrag.io import file_sha256

DEFAULT_TYPE = "document"
"""The type of every document when the export has no type column."""

TextReader = Callable[[Row], str]
"""A document's text from its row; raises ValueError with a short reason (quoting no text)."""
_Fail = Callable[[str | None, str], None]  # reports a problem of the row: its column and the reason


@dataclass
class DocumentColumns:
    """The export's columns for each field of a document (``text`` names the column the text comes from: the
    text itself, or a text file's name)."""

    patient: ColumnChoice
    document: ColumnChoice
    date: ColumnChoice
    type: ColumnChoice
    text: ColumnChoice
    metadata: list[str] = field(default_factory=list)


def export_text(column: str) -> TextReader:
    """The text of an export's row: its ``column``, line ends made ``\\n``."""

    def read(row: Row) -> str:
        return normalize_newlines(cell_text(row.cells[column]))

    return read


class FolderTexts:
    """The text of a manifest's row: the file it names in ``folder``, decoded with ``encoding`` (None: detected
    file by file; ``option`` says where it was given, for messages). Keeps count of the encodings found and of
    the files read."""

    def __init__(self, folder: Path, column: str, encoding: str | None, option: str = "--encoding"):
        self.folder = folder.resolve()
        self.column = column
        if encoding:
            codec_name(encoding)  # an unknown one refused here, once
        self.encoding = encoding or None
        self.option = option
        self.encodings: Counter[str] = Counter()
        self.read_files: dict[Path, str] = {}  # file -> sha256

    def __call__(self, row: Row) -> str:
        name = cell_text(row.cells[self.column]).strip()
        if not name:
            raise ValueError("missing file name")
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder):
            raise ValueError("the file is outside the folder")
        if not path.is_file():
            raise ValueError(f"no such file in {self.folder.name}/")
        text, encoding = read_text_file(path, self.encoding, self.option)
        self.encodings[encoding] += 1
        self.read_files[path] = file_sha256(path)
        return text

    def unlisted_files(self, exclude: set[Path]) -> int:
        """Files of the folder (at any depth) that no manifest row names, ``exclude`` left aside."""
        files = {p.resolve() for p in self.folder.rglob("*") if p.is_file() and not p.name.startswith(".")}
        return len(files - set(self.read_files) - {p.resolve() for p in exclude})


def read_documents(
    sheet: Sheet, columns: DocumentColumns, text_of: TextReader
) -> tuple[list[Document], list[RowError]]:
    """Make a document of each row; a row with any unreadable field is reported (every field at fault) and left
    out.

    Returns:
        The documents, in row order, and the row errors.
    """
    documents: list[Document] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for row in sheet.rows:
        row_errors: list[RowError] = []
        document = _document(sheet.file, row, columns, text_of, row_errors)
        if document is not None and document.doc_id in first_line:
            column = columns.document.column
            message = f"duplicate document id (first on line {first_line[document.doc_id]})"
            row_errors.append(RowError(sheet.file, row.line, column, message))
        if row_errors:
            errors.extend(row_errors)
            continue
        assert document is not None
        first_line[document.doc_id] = row.line
        documents.append(document)
    return documents, errors


def _document(
    file: str, row: Row, columns: DocumentColumns, text_of: TextReader, errors: list[RowError]
) -> Document | None:
    """The row's document, or None with its problems appended to ``errors``."""

    def fail(column: str | None, reason: str) -> None:  # a _Fail
        errors.append(RowError(file, row.line, column, reason))

    patient_col, date_col, text_col = columns.patient.column, columns.date.column, columns.text.column
    assert patient_col is not None and date_col is not None and text_col is not None
    patient = cell_text(row.cells[patient_col]).strip()
    if not patient:
        fail(patient_col, "missing patient id")
    date, has_time = _date(row, date_col, fail)
    doc_type = DEFAULT_TYPE
    if columns.type.column is not None:
        doc_type = cell_text(row.cells[columns.type.column]).strip()
        if not doc_type:
            fail(columns.type.column, "missing document type")
    try:
        text = text_of(row)
    except ValueError as err:
        fail(text_col, str(err))
        text = None
    if text is not None and not text.strip():
        fail(text_col, "empty text")
    doc_id = _doc_id(row, columns.document.column, patient, date, fail)
    if errors or date is None or text is None or doc_id is None:
        return None
    metadata = {name: cell_text(row.cells[name]) for name in columns.metadata}
    return Document(patient, doc_id, date, doc_type, text, has_time=has_time, metadata=metadata)


def _date(row: Row, column: str, fail: _Fail) -> tuple[dt.datetime | None, bool]:
    """The row's date and whether it has a time; (None, False) after reporting an unreadable one."""
    value = row.cells[column]
    if isinstance(value, dt.date):
        return _spreadsheet_date(value)
    raw = cell_text(value)
    if not raw.strip():
        fail(column, "missing date")
        return None, False
    try:
        return read_date(raw)
    except ValueError as err:
        fail(column, str(err))
        return None, False


def _spreadsheet_date(value: dt.date) -> tuple[dt.datetime, bool]:
    """A workbook's date cell; a date-time at exactly midnight is a date alone, as workbooks store their date
    cells that way (seconds are dropped: the cohort format keeps hours and minutes)."""
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day), False
    return value.replace(second=0, microsecond=0), value.time() != dt.time(0, 0)


def _doc_id(row: Row, column: str | None, patient: str, date: dt.datetime | None, fail: _Fail) -> str | None:
    """The row's document id: its column, else ``PATIENT_YYYYMMDD_LINE``."""
    if column is None:
        return f"{patient}_{date:%Y%m%d}_{row.line}" if patient and date is not None else None
    doc_id = cell_text(row.cells[column]).strip()
    if not doc_id:
        fail(column, "missing document id")
        return None
    return doc_id
