"""Reading export files into rows: delimited text (any delimiter, any Western encoding) and Excel workbooks.

Every row keeps the line it starts on (for a workbook, its sheet row), so that each problem is reported as
FILE:LINE. A row that cannot be decoded, or that has the wrong number of cells, is reported and left out; a
file without a usable header stops the import.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinrag.errors import ClinragError
from clinrag.importing.report import RowError
from clinrag.io import file_sha256

Cell = str | int | float | bool | dt.datetime | dt.date | dt.time | None
"""A cell as read: text from a delimited file; text, a number, a boolean or a date from a workbook."""

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
DELIMITERS = ",;\t|"
"""The delimiters detection chooses from."""
# Western encodings a French export is written in when it is not UTF-8; charset-normalizer chooses among them
# only, as over every code page it takes a short French text for Urdu (cp1006) or Cyrillic.
_LEGACY_ENCODINGS = ["cp1252", "latin_1", "iso8859_15"]
_SNIFF_CHARS = 64 * 1024
_MAX_CELL_CHARS = 16 * 1024 * 1024
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that the encoding could not decode (surrogateescape)


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; None means "detect".

    ``encoding_option`` names where a given encoding came from (``--encoding``, the mapping's
    ``table.encoding``...), for the messages about it.
    """

    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    encoding_option: str = "--encoding"


@dataclass
class Row:
    """A data row: the line it starts on and its cells by column name."""

    line: int
    cells: dict[str, Cell]


@dataclass
class Sheet:
    """A file read as a table.

    Attributes:
        file: The path as given, used in reports.
        header: Column names, in order.
        rows: The data rows that could be read.
        errors: The rows that could not (left out of ``rows``).
        info: What import.json records of the file: path, sha256, format, encoding, delimiter, sheet.
    """

    file: str
    header: list[str]
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def read_sheet(path: Path, options: ReadOptions) -> Sheet:
    """Read a delimited text file or an Excel workbook (by its suffix) into rows.

    Raises:
        ClinragError: The file is missing (or a folder), empty, of an unsupported format, its header is unusable
            or it has no row under its header.
    """
    check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ClinragError(f"{path}: the old Excel format .xls is not read; save it as .xlsx or CSV")
    sheet = _read_workbook(path, options.sheet) if is_workbook(path) else _read_delimited(path, options)
    if not sheet.rows and not sheet.errors:
        raise ClinragError(f"{path}: no rows under the header")
    sheet.info = {"path": str(path), "sha256": file_sha256(path), **sheet.info}
    return sheet


def check_file(path: Path, what: str = "file") -> None:
    """Refuse a path that is not a file: ``PATH: is a folder, not a file``, or ``PATH: no such WHAT``.

    Raises:
        ClinragError: The path is a folder, or nothing.
    """
    if path.is_dir():
        raise ClinragError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise ClinragError(f"{path}: no such {what}")


def is_workbook(path: Path) -> bool:
    """Whether the file is read as an Excel workbook (by its suffix)."""
    return path.suffix.lower() in EXCEL_SUFFIXES


# ---------------------------------------------------------------------------------------------------------
# encodings
# ---------------------------------------------------------------------------------------------------------
def codec_name(encoding: str) -> str:
    """The canonical name of an encoding (``latin-1`` is ``iso8859-1``).

    Raises:
        ClinragError: Python knows no such encoding.
    """
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ClinragError(f"unknown encoding '{encoding}'") from None


def detect_encoding(data: bytes) -> str | None:
    """The encoding of a text file: UTF-8 with or without a byte-order mark, UTF-16 with one, else the Western
    code page charset-normalizer finds most likely; None when none decodes it."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_LEGACY_ENCODINGS).best()
    return codec_name(best.encoding) if best is not None else None


def utf8_misread(data: bytes, encoding: str, option: str = "--encoding") -> str | None:
    """Why decoding ``data`` with the ``encoding`` given would garble it: the bytes are valid UTF-8 and not all
    ASCII, so a legacy code page would read each accent as two or three signs (``déficit`` as ``dÃ©ficit``);
    None when that is not so (a UTF-8 encoding given, invalid UTF-8, or ASCII only).

    Args:
        data: The file's bytes.
        encoding: The encoding given, as given.
        option: Where it was given, for the message (``--encoding``, the mapping's ``table.encoding``).
    """
    if codec_name(encoding) in ("utf-8", "utf-8-sig") or data.isascii():
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return f"the file decodes as UTF-8; {option} {encoding} would misread its accents: drop {option} or pass utf-8"


def decode_text(
    data: bytes, encoding: str | None, file: str, option: str = "--encoding"
) -> tuple[str, str, bool]:
    """Decode a file's bytes, undecodable bytes kept as lone surrogates (``surrogateescape``) for the caller to
    report where they are.

    Args:
        data: The file's bytes.
        encoding: The encoding given, or None to detect it.
        file: The file's name, for errors.
        option: Where the encoding was given, for errors.

    Returns:
        The text (without a byte-order mark), the encoding, and whether it was detected.

    Raises:
        ClinragError: Detection found no encoding, the one given is unknown, or it is a legacy code page while
            the file is UTF-8 with accents (:func:`utf8_misread`).
    """
    detected = encoding is None
    if encoding is None:
        encoding = detect_encoding(data)
        if encoding is None:
            raise ClinragError(f"{file}: cannot detect the encoding; give it with --encoding")
    else:
        misread = utf8_misread(data, encoding, option)
        if misread is not None:
            raise ClinragError(f"{file}: {misread}")
        encoding = codec_name(encoding)
    text = data.decode(encoding, errors="surrogateescape")
    return text.removeprefix("\ufeff"), encoding, detected


def undecodable_reason(
    text: str, encoding: str, detected_hint: str | None, option: str = "--encoding"
) -> str | None:
    """Why a cell is unreadable when it holds bytes that ``encoding`` could not decode, else None."""
    found = _UNDECODED.search(text)
    if found is None:
        return None
    return (
        f"{_undecodable_byte(found)} is not valid {encoding}: wrong {option}?{_hint(encoding, detected_hint)}"
    )


def _undecodable_byte(found: re.Match[str]) -> str:
    return f"byte 0x{ord(found.group()) - 0xDC00:02x}"


def _hint(encoding: str, detected_hint: str | None) -> str:
    return f" (the file looks like {detected_hint})" if detected_hint and detected_hint != encoding else ""


def read_text_file(path: Path, encoding: str | None, option: str = "--encoding") -> tuple[str, str]:
    """Read a whole text file: its text (line ends made ``\\n``) and its encoding.

    Raises:
        ValueError: It cannot be read or decoded, or the encoding given would garble it (the message is short
            and quotes no text).
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read the file ({err.strerror})") from None
    if encoding is not None:
        misread = utf8_misread(data, encoding, option)
        if misread is not None:
            raise ValueError(misread)
    try:
        text, encoding, _ = decode_text(data, encoding, path.name, option)
    except ClinragError:
        raise ValueError("cannot detect the file's encoding; give it with --encoding") from None
    if _UNDECODED.search(text):
        reason = undecodable_reason(text, encoding, detect_encoding(data), option)
        raise ValueError(f"the file's {reason}")
    return normalize_newlines(text), encoding


def normalize_newlines(text: str) -> str:
    """``\\r\\n`` and ``\\r`` made ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------------------
# delimited text
# ---------------------------------------------------------------------------------------------------------
def parse_delimiter(value: str) -> str:
    """A delimiter option: one character, or ``\\t``/``tab`` for a tab.

    Raises:
        ClinragError: Not one character.
    """
    value = "\t" if value in ("\\t", "tab", "TAB") else value
    if len(value) != 1:
        raise ClinragError(f"delimiter must be one character (or 'tab'), got '{value}'")
    return value


def detect_delimiter(text: str, file: str) -> str:
    """The delimiter of a delimited file: csv.Sniffer's guess over a sample when the sample reads consistently
    with it (a header of two columns or more, every row as long as the header), else the first of
    :data:`DELIMITERS` that does; else, when some rows are ragged (a cell too many or too few), the delimiter
    that fits the header and all rows but a few (:func:`few_misfits`), those rows being reported by the reader.

    Raises:
        ClinragError: No delimiter reads the sample consistently.
    """
    sample = text[:_SNIFF_CHARS]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    candidates = ([sniffed] if sniffed else []) + [d for d in DELIMITERS if d != sniffed]
    truncated = len(text) > len(sample)
    misfits: dict[str, int] = {}
    for delimiter in candidates:
        fit = _misfits(sample, delimiter, truncated)
        if fit is not None and (fit[0] == 0 or few_misfits(*fit)):
            misfits[delimiter] = fit[0]
    if misfits:  # the fewest misfits (none, best); on a tie, the sniffed one, then the order of DELIMITERS
        return min(misfits, key=misfits.__getitem__)
    raise ClinragError(f"{file}: cannot detect the delimiter; give it with --delimiter")


def few_misfits(misfits: int, rows: int) -> bool:
    """Whether ``misfits`` ragged rows out of ``rows`` are "a few": two at most or a tenth at most, and fewer
    than half."""
    return misfits <= max(2, rows // 10) and 2 * misfits < rows


def _misfits(sample: str, delimiter: str, truncated: bool) -> tuple[int, int] | None:
    """How many of the sample's data rows are not as long as its header, and how many data rows it has; None
    when the delimiter cannot be the one (unreadable, or a header of fewer than two columns)."""
    try:
        rows = [row for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if row]
    except csv.Error:
        return None
    if truncated:
        rows = rows[:-1]  # the sample may end inside the last row
    if not rows or len(rows[0]) < 2:
        return None
    return sum(len(row) != len(rows[0]) for row in rows[1:]), len(rows) - 1


def _read_delimited(path: Path, options: ReadOptions) -> Sheet:
    file = str(path)
    data = path.read_bytes()
    option = options.encoding_option
    text, encoding, detected = decode_text(data, options.encoding, file, option)
    if not text.strip():
        raise ClinragError(f"{file}: empty file")
    delimiter = parse_delimiter(options.delimiter) if options.delimiter else detect_delimiter(text, file)
    records = _records(text, delimiter, file)
    if not records:
        raise ClinragError(f"{file}: empty file")
    # what the file looks like, for the errors of an encoding given wrongly
    hint = detect_encoding(data) if not detected and _UNDECODED.search(text) else None
    header_line, raw_header = records[0]
    header = _header(raw_header, header_line, file, encoding, hint, option)
    sheet = Sheet(file, header)
    undecodable: list[tuple[RowError, re.Match[str]]] = []
    for line, cells in records[1:]:
        _add_text_row(sheet, line, cells, encoding, hint, option, undecodable)
    if len(undecodable) > 1:
        _group_undecodable(sheet, undecodable, len(records) - 1, encoding, hint, option)
    sheet.info = {
        "format": "delimited",
        "encoding": encoding,
        "encoding_detected": detected,
        "delimiter": delimiter,
        "delimiter_detected": options.delimiter is None,
    }
    return sheet


def _records(text: str, delimiter: str, file: str) -> list[tuple[int, list[str]]]:
    """The non-blank records of a delimited text, each with the line it starts on."""
    # a long report is one cell: lift csv's limit of 128 KiB a cell (process-wide, never lowered)
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_CELL_CHARS))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as err:
        raise ClinragError(f"{file}:{start}: malformed CSV ({err})") from None
    return records


def _header(
    cells: list[str], line: int, file: str, encoding: str, hint: str | None, option: str = "--encoding"
) -> list[str]:
    header = [cell.strip() or f"column {number}" for number, cell in enumerate(cells, start=1)]
    for number, name in enumerate(header, start=1):
        reason = undecodable_reason(name, encoding, hint, option)
        if reason is not None:
            raise ClinragError(f"{file}:{line}: header of column {number}: {reason}")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ClinragError(f"{file}:{line}: duplicate column(s) {', '.join(duplicates)}")
    return header


def _add_text_row(
    sheet: Sheet,
    line: int,
    cells: list[str],
    encoding: str,
    hint: str | None,
    option: str,
    undecodable: list[tuple[RowError, re.Match[str]]],
) -> None:
    """Add a row to the sheet, or its error: a wrong number of cells, else its first cell that holds bytes the
    encoding cannot decode (one error a row, kept in ``undecodable`` too)."""
    if len(cells) != len(sheet.header):
        sheet.errors.append(
            RowError(sheet.file, line, None, f"expected {len(sheet.header)} cells, found {len(cells)}")
        )
        return
    for name, cell in zip(sheet.header, cells, strict=True):
        found = _UNDECODED.search(cell)
        if found is not None:
            error = RowError(sheet.file, line, name, str(undecodable_reason(cell, encoding, hint, option)))
            sheet.errors.append(error)
            undecodable.append((error, found))
            return
    sheet.rows.append(Row(line, dict(zip(sheet.header, cells, strict=True))))


def _group_undecodable(
    sheet: Sheet,
    undecodable: list[tuple[RowError, re.Match[str]]],
    rows: int,
    encoding: str,
    hint: str | None,
    option: str,
) -> None:
    """Give the rows that an encoding cannot decode one line in reports: an encoding given wrongly fails most
    rows alike, and one line that says how many, where the first is and what the file looks like says more than
    the same message row after row (import.json still lists each row)."""
    first, found = undecodable[0]
    summary = (
        f"{sheet.file}: {len(undecodable)} of {rows} rows hold bytes that are not valid {encoding}, the first on "
        f"line {first.line} (column '{first.column}': {_undecodable_byte(found)}): wrong {option}?"
        f"{_hint(encoding, hint)}"
    )
    grouped = {id(error): dataclasses.replace(error, group=summary) for error, _ in undecodable}
    sheet.errors = [grouped.get(id(error), error) for error in sheet.errors]


# ---------------------------------------------------------------------------------------------------------
# Excel workbooks
# ---------------------------------------------------------------------------------------------------------
def _read_workbook(path: Path, sheet_name: str | None) -> Sheet:
    import openpyxl

    file = str(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises zipfile, XML and its own errors for a damaged file
        raise ClinragError(f"{file}: not a readable Excel workbook ({type(err).__name__})") from None
    try:
        if sheet_name is not None and sheet_name not in workbook.sheetnames:
            raise ClinragError(f"{file}: no sheet '{sheet_name}' (sheets: {', '.join(workbook.sheetnames)})")
        worksheet = workbook[sheet_name] if sheet_name else workbook.worksheets[0]
        rows = [
            (number, list(values))
            for number, values in enumerate(worksheet.iter_rows(min_row=1, values_only=True), start=1)
            if any(_filled(value) for value in values)
        ]
        title = worksheet.title
    finally:
        workbook.close()
    # the header is the first row of two cells or more: a workbook may have a title above it
    start = next((i for i, (_, values) in enumerate(rows) if sum(map(_filled, values)) >= 2), None)
    if start is None:
        raise ClinragError(f"{file}: sheet '{title}' has no header row (a row of two cells or more)")
    rows = rows[start:]
    header_line, raw_header = rows[0]
    width = max(number for number, value in enumerate(raw_header, start=1) if _filled(value))
    header = _header([_header_text(v) for v in raw_header[:width]], header_line, file, "utf-8", None)
    sheet = Sheet(file, header, info={"format": "xlsx", "sheet": title, "header_row": header_line})
    for number, values in rows[1:]:
        extra = [v for v in values[width:] if _filled(v)]
        if extra:
            sheet.errors.append(RowError(file, number, None, f"cells beyond the header's {width} columns"))
            continue
        values = values[:width] + [None] * (width - len(values))
        sheet.rows.append(Row(number, dict(zip(header, values, strict=True))))
    return sheet


def _filled(value: Cell) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _header_text(value: Cell) -> str:
    return "" if value is None else str(value)


def cell_text(value: Cell) -> str:
    """A cell as text: ``""`` when empty, ``true``/``false`` for a boolean, a whole number without ``.0``, a
    date or time in ISO form, text as it is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
