"""Which column of an export is which: the mapping YAML, the command's options, and auto-detection of the usual
French and English header names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from clinrag.config import build_settings, load_yaml_mapping
from clinrag.data.values import normalize_text
from clinrag.errors import ClinragError
from clinrag.importing.sources import check_file


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentsMapping(_Section):
    """The ``documents:`` section: the columns of the document export (or of a text folder's manifest)."""

    patient: str | None = None
    """The patient's identifier."""
    document: str | None = None
    """The document's identifier (absent: generated from the patient, the date and the row)."""
    date: str | None = None
    """The document's date."""
    type: str | None = None
    """The document's type (absent: every document is of type ``document``)."""
    text: str | None = None
    """The document's text (an export file)."""
    file: str | None = None
    """The text file's name, relative to the folder (a manifest)."""
    metadata: list[str] = Field(default_factory=list)
    """Other columns kept in documents.jsonl (none by default: an export's other columns may identify people)."""
    sheet: str | None = None
    """The workbook's sheet (default: the first)."""
    encoding: str | None = None
    """The text encoding (default: detected)."""
    delimiter: str | None = None
    """The delimiter (default: detected)."""


class TableMapping(_Section):
    """The ``table:`` section: the registry table."""

    patient: str | None = None
    """The patient's identifier (default: detected, else the documents' patient column name)."""
    columns: dict[str, str] = Field(default_factory=dict)
    """A column's header to the variable it fills, where the header is not the variable's name."""
    ignore: list[str] = Field(default_factory=list)
    """Columns not imported."""
    blank_means_false: list[str] = Field(default_factory=list)
    """Boolean variables whose blank cell means false (a column of ticks), not "not documented"."""
    sheet: str | None = None
    """The workbook's sheet (default: the first)."""
    encoding: str | None = None
    """The text encoding (default: detected)."""
    delimiter: str | None = None
    """The delimiter (default: detected)."""


class ImportMapping(_Section):
    """The mapping YAML of ``clinrag import --mapping``; every key is optional."""

    documents: DocumentsMapping = Field(default_factory=DocumentsMapping)
    table: TableMapping = Field(default_factory=TableMapping)
    synonyms: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    """Per variable, other spellings of each value: ``{toast: {cardioembolique: [CE, cardio-embolique]}}``
    (for a boolean, the values are ``true`` and ``false``)."""


def load_mapping(path: Path | None) -> ImportMapping:
    """Read a mapping YAML (None: the empty mapping).

    Raises:
        ClinragError: Missing file (or a folder), bad YAML, an unknown key or a value of the wrong type (one line).
    """
    if path is None:
        return ImportMapping()
    check_file(path, "mapping file")
    return build_settings(ImportMapping, str(path), load_yaml_mapping(path))


# Header names recognized for each role, compared by :func:`header_key` (accents, case, spaces and hyphens
# ignored).
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "patient": (
        "patient",
        "patient_id",
        "id_patient",
        "idpatient",
        "ipp",
        "nip",
        "num_patient",
        "numero_patient",
        "no_patient",
        "n_patient",
        "patient_number",
        "subject_id",
    ),
    "document": (
        "doc_id",
        "document_id",
        "id_document",
        "id_doc",
        "num_document",
        "numero_document",
        "note_id",
        "id_cr",
    ),
    "date": (
        "date",
        "date_document",
        "date_doc",
        "date_examen",
        "date_exam",
        "date_cr",
        "date_compte_rendu",
        "date_redaction",
        "date_creation",
        "document_date",
        "note_date",
    ),
    "type": (
        "type",
        "type_document",
        "type_doc",
        "doc_type",
        "document_type",
        "nature",
        "categorie",
        "note_type",
    ),
    "text": ("texte", "text", "contenu", "compte_rendu", "cr", "note", "note_text", "content", "body"),
    "file": ("fichier", "nom_fichier", "file", "filename", "file_name", "chemin", "path"),
}
ROLE_OPTIONS: dict[str, str] = {
    "patient": "--patient-col",
    "document": "--document-col",
    "date": "--date-col",
    "type": "--type-col",
    "text": "--text-col",
    "file": "--file-col",
}


def header_key(name: str) -> str:
    """A header compared loosely: ``"Date d'examen"`` and ``"date_examen"`` differ, ``"Date examen"`` and
    ``"DATE_EXAMEN"`` do not."""
    return re.sub(r"\s+", "_", normalize_text(name))


@dataclass(frozen=True)
class ColumnChoice:
    """The column chosen for a role, and whether it was detected from the header (rather than given)."""

    column: str | None
    detected: bool = False


def find_column(header: list[str], given: str, file: str, what: str) -> str:
    """The header's column named ``given``: exactly, else compared by :func:`header_key` when one column matches.

    Raises:
        ClinragError: No such column.
    """
    if given in header:
        return given
    loose = [name for name in header if header_key(name) == header_key(given)]
    if len(loose) == 1:
        return loose[0]
    raise ClinragError(f"{file}: no column '{given}' for {what} (columns: {', '.join(header)})")


def choose_column(header: list[str], role: str, given: str | None, file: str, required: bool) -> ColumnChoice:
    """The column of ``role``: the one given, else the one header whose name is among :data:`ROLE_NAMES`.

    Raises:
        ClinragError: The column given is absent, several columns could be the one, or a required one is not
            found.
    """
    option = ROLE_OPTIONS[role]
    if given:
        return ColumnChoice(find_column(header, given, file, option))
    candidates = [name for name in header if header_key(name) in ROLE_NAMES[role]]
    if len(candidates) > 1:
        raise ClinragError(
            f"{file}: several columns could be the {role} ({', '.join(candidates)}); choose with {option}"
        )
    if candidates:
        return ColumnChoice(candidates[0], detected=True)
    if required:
        raise ClinragError(
            f"{file}: no {role} column found (columns: {', '.join(header)}); name it with {option}"
        )
    return ColumnChoice(None)


def check_distinct(choices: dict[str, ColumnChoice], file: str) -> None:
    """Refuse one column chosen for two roles.

    Raises:
        ClinragError: Two roles share a column.
    """
    seen: dict[str, str] = {}
    for role, choice in choices.items():
        if choice.column is None:
            continue
        if choice.column in seen:
            raise ClinragError(
                f"{file}: column '{choice.column}' is chosen both for the {seen[choice.column]} and the {role}"
            )
        seen[choice.column] = role
