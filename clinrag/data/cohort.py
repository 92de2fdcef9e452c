"""The cohort directory (Contract 1 of DESIGN.md): the typed model, and saving it.

Reading and validation are one pass (:mod:`clinrag.data.validate`), so a cohort that validates loads
without surprises.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clinrag.data.values import parse_value
from clinrag.data.variables import Variable
from clinrag.io import atomic_write_text, dumps_jsonl

SPLITS: tuple[str, ...] = ("train", "dev", "test")
PHI_LABELS: tuple[str, ...] = (
    "ADRESSE",
    "DATE",
    "DATE_NAISSANCE",
    "HOPITAL",
    "IPP",
    "MAIL",
    "NDA",
    "NOM",
    "PRENOM",
    "SECU",
    "TEL",
    "VILLE",
    "ZIP",
)
COHORT_FILES: tuple[str, ...] = (
    "variables.yaml",
    "documents.jsonl",
    "table.csv",
    "splits.csv",
    "evidence.jsonl",
    "phi.jsonl",
)


@dataclass
class Document:
    """One dated document of a patient.

    Attributes:
        patient_id: The patient the document belongs to.
        doc_id: Unique identifier across the cohort.
        date: When it was written (midnight when only the day is known).
        doc_type: Free label (``urgences``, ``imagerie``, ``lettre_sortie``...).
        text: The document's text; evidence and PHI offsets index into it.
        has_time: Whether ``date`` was given with a time of day.
        metadata: Other keys of the JSON line, kept as given.
    """

    patient_id: str
    doc_id: str
    date: dt.datetime
    doc_type: str
    text: str
    has_time: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def date_str(self) -> str:
        """The date as written in documents.jsonl."""
        return self.date.strftime("%Y-%m-%dT%H:%M" if self.has_time else "%Y-%m-%d")

    def to_json(self) -> dict[str, Any]:
        """The documents.jsonl record (contract fields first, then metadata)."""
        return {
            "patient_id": self.patient_id,
            "doc_id": self.doc_id,
            "date": self.date_str,
            "doc_type": self.doc_type,
            "text": self.text,
            **self.metadata,
        }


@dataclass(frozen=True)
class EvidenceSpan:
    """A gold passage stating a table value (evaluation only: training never reads it)."""

    patient_id: str
    variable: str
    doc_id: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        """The evidence.jsonl record."""
        return {
            "patient_id": self.patient_id,
            "variable": self.variable,
            "doc_id": self.doc_id,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class PhiSpan:
    """A gold personal identifier in a document (labels as eds-pseudo)."""

    doc_id: str
    start: int
    end: int
    label: str

    def to_json(self) -> dict[str, Any]:
        """The phi.jsonl record."""
        return {"doc_id": self.doc_id, "start": self.start, "end": self.end, "label": self.label}


@dataclass
class Cohort:
    """A loaded cohort directory.

    Attributes:
        variables: The registry variables, in variables.yaml's order.
        documents: Every document, in documents.jsonl's order.
        table: Known values, ``patient_id -> variable -> canonical cell`` (``""`` = not documented), or None
            when the cohort has no table.csv.
        table_columns: The variables that table.csv has a column for.
        splits: ``patient_id -> split`` for the table's patients.
        splits_given: Whether splits came from splits.csv (else: the seeded default split).
        evidence: Gold evidence spans (empty when absent).
        phi: Gold identifier spans (empty when absent).
        root: The directory it was read from, if any.
    """

    variables: list[Variable]
    documents: list[Document]
    table: dict[str, dict[str, str]] | None = None
    table_columns: list[str] = field(default_factory=list)
    splits: dict[str, str] = field(default_factory=dict)
    splits_given: bool = False
    evidence: list[EvidenceSpan] = field(default_factory=list)
    phi: list[PhiSpan] = field(default_factory=list)
    root: Path | None = None

    def __post_init__(self) -> None:
        self._by_patient: dict[str, list[Document]] | None = None
        self._by_doc: dict[str, Document] | None = None

    # ---- lookups -------------------------------------------------------------------------------------
    def variable(self, name: str) -> Variable:
        """The variable called ``name``.

        Raises:
            KeyError: No such variable.
        """
        for var in self.variables:
            if var.name == name:
                return var
        raise KeyError(name)

    @property
    def patients(self) -> list[str]:
        """Every patient with documents, in order of first appearance."""
        return list(self._patient_index())

    def documents_of(self, patient_id: str) -> list[Document]:
        """A patient's documents in date order (ties broken by doc_id)."""
        return self._patient_index().get(patient_id, [])

    def document(self, doc_id: str) -> Document:
        """The document called ``doc_id``."""
        if self._by_doc is None:
            self._by_doc = {doc.doc_id: doc for doc in self.documents}
        return self._by_doc[doc_id]

    def _patient_index(self) -> dict[str, list[Document]]:
        if self._by_patient is None:
            index: dict[str, list[Document]] = {}
            for doc in self.documents:
                index.setdefault(doc.patient_id, []).append(doc)
            for docs in index.values():
                docs.sort(key=lambda d: (d.date, d.doc_id))
            self._by_patient = index
        return self._by_patient

    def split_patients(self, split: str) -> list[str]:
        """The table's patients in ``split`` (train, dev or test), in table order."""
        return [pid for pid in (self.table or {}) if self.splits.get(pid) == split]

    def select_patients(self, choice: str) -> list[str]:
        """Patients by choice: ``all`` (with documents), ``unlabeled`` (no table row), or a split's table patients."""
        if choice == "all":
            return self.patients
        if choice == "unlabeled":
            return self.unlabeled_patients
        return self.split_patients(choice)

    @property
    def unlabeled_patients(self) -> list[str]:
        """Patients with documents but no row in the table: the ones to fill."""
        known = self.table or {}
        return [pid for pid in self.patients if pid not in known]

    def value(self, patient_id: str, variable: str) -> Any:
        """The parsed known value of a cell (None when not documented or unknown)."""
        cell = (self.table or {}).get(patient_id, {}).get(variable, "")
        return parse_value(self.variable(variable), cell)

    def documents_sha256(self) -> str:
        """A SHA-256 of the cohort's documents alone (ids, patients, dates, types, texts, in order): what a
        saved index or an annotation was made from."""
        digest = hashlib.sha256()
        for doc in self.documents:
            digest.update(
                json.dumps(
                    [doc.doc_id, doc.patient_id, doc.date_str, doc.doc_type, doc.text], ensure_ascii=False
                ).encode()
            )
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """A SHA-256 of the cohort's content (its files as :func:`save_cohort` would write them)."""
        digest = hashlib.sha256()
        for name, text in sorted(render_cohort_files(self).items()):
            digest.update(name.encode())
            digest.update(text.encode("utf-8"))
        return digest.hexdigest()


SPLIT_FRACTIONS: tuple[float, float, float] = (0.6, 0.2, 0.2)
"""Shares of train, dev and test of a seeded split: :func:`default_split` and an import's splits.csv
(:func:`clinrag.importing.splits.split_patients`)."""


def seeded_draw(seed: int, key: str) -> int:
    """A 64-bit number drawn from ``seed`` and ``key`` alone (the first 8 bytes of the SHA-256 of
    ``"seed:key"``): the same on every machine and in every run, and independent of the other keys. It draws a
    patient's default split (:func:`default_split`) and a note group's fold (:func:`clinrag.pseudo.corpora.folds`)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def default_split(
    patient_id: str, seed: int = 0, fractions: tuple[float, float] = SPLIT_FRACTIONS[:2]
) -> str:
    """The seeded patient-level split used when a cohort has no splits.csv.

    Each patient's split depends only on its id and the seed (a hash), so adding patients never moves others;
    the shares hold on average only (a small cohort may have no test patient). An imported table's splits.csv is
    cut otherwise (:func:`clinrag.importing.splits.split_patients`: exact shares, at least one test patient,
    written once).

    Args:
        patient_id: The patient.
        seed: Changes the draw.
        fractions: Shares of train and dev; test takes the rest.
    """
    u = seeded_draw(seed, patient_id) / 2**64
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "dev"
    return "test"


def table_to_csv(columns: list[str], rows: Iterable[tuple[str, dict[str, str]]]) -> str:
    """Render a table (``patient_id`` + columns) as CSV text, with ``\\n`` line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["patient_id", *columns])
    for patient_id, cells in rows:
        writer.writerow([patient_id, *(cells.get(col, "") for col in columns)])
    return buffer.getvalue()


def variables_to_yaml(variables: list[Variable]) -> str:
    """Render variables.yaml (documented keys in a fixed order, then metadata)."""
    items = []
    for var in variables:
        item = var.model_dump(exclude_none=True, exclude_defaults=False)
        if not item.get("keywords"):
            item.pop("keywords", None)
        items.append(item)
    return yaml.safe_dump({"variables": items}, allow_unicode=True, sort_keys=False, width=110)


def render_cohort_files(cohort: Cohort) -> dict[str, str]:
    """The text of each file of the cohort directory, as :func:`save_cohort` writes them."""
    files = {
        "variables.yaml": variables_to_yaml(cohort.variables),
        "documents.jsonl": dumps_jsonl(doc.to_json() for doc in cohort.documents),
    }
    if cohort.table is not None:
        files["table.csv"] = table_to_csv(cohort.table_columns, cohort.table.items())
    if cohort.splits_given and cohort.splits:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["patient_id", "split"])
        writer.writerows(cohort.splits.items())
        files["splits.csv"] = buffer.getvalue()
    if cohort.evidence:
        files["evidence.jsonl"] = dumps_jsonl(span.to_json() for span in cohort.evidence)
    if cohort.phi:
        files["phi.jsonl"] = dumps_jsonl(span.to_json() for span in cohort.phi)
    return files


def save_cohort(cohort: Cohort, directory: str | Path) -> None:
    """Write the cohort directory, each file atomically; files of the contract the cohort lacks are removed.

    Args:
        cohort: The cohort.
        directory: Destination (created if needed).
    """
    directory = Path(directory)
    files = render_cohort_files(cohort)
    for name, text in files.items():
        atomic_write_text(directory / name, text)
    for name in COHORT_FILES:
        if name not in files and (directory / name).exists():
            (directory / name).unlink()


def cohort_inputs(cohort_dir: str | Path | None) -> dict[str, Path]:
    """A cohort folder and the files it is read from, by what they are: what an output path must not be
    (:func:`clinrag.io.check_output_folder`'s ``inputs``)."""
    if cohort_dir is None:
        return {}
    cohort_dir = Path(cohort_dir)
    return {"the cohort": cohort_dir, **{f"the cohort's {name}": cohort_dir / name for name in COHORT_FILES}}
