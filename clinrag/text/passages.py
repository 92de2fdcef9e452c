"""Documents split into passages that keep their provenance (document, offsets, date, type, section).

Passages are built patient by patient, documents in date order, so each patient's passages form one contiguous
range of the store: retrievers search that range only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from clinrag.data.cohort import Cohort, Document
from clinrag.errors import ClinragError
from clinrag.io import atomic_write_jsonl
from clinrag.text.annotate import DocumentAnnotation


class ChunkingConfig(BaseModel):
    """How documents are cut into passages."""

    model_config = ConfigDict(extra="forbid")

    unit: Literal["sentence", "paragraph"] = "sentence"
    """Pack whole sentences (edsnlp's sentence splitter) or whole paragraphs (blank-line separated) into passages."""
    max_chars: int = Field(250, ge=20)
    """A passage holds units until adding the next would pass this many characters (a longer unit stands alone);
    a section title always starts a new passage."""
    overlap: int = Field(0, ge=0)
    """Units repeated at the start of the next passage."""


@dataclass(frozen=True)
class Passage:
    """A span of a document, the unit of retrieval.

    Attributes:
        patient_id: The patient.
        doc_id: The document.
        start: Offset of the passage in the document's text.
        end: End offset (exclusive).
        text: ``document.text[start:end]``.
        date: The document's date (ISO, with time when known).
        doc_type: The document's type.
        section: The edsnlp section the passage starts in ("" when none).
        doc_index: Rank of the document among the patient's, in date order (0 = first).
        days: Days from the patient's first document to this one.
    """

    patient_id: str
    doc_id: str
    start: int
    end: int
    text: str
    date: str
    doc_type: str
    section: str
    doc_index: int
    days: float


class PassageStore:
    """All passages of a cohort, with each patient's contiguous range."""

    def __init__(self, passages: list[Passage]):
        self.passages = passages
        self._deceased: frozenset[str] | None = None
        self.ranges: dict[str, tuple[int, int]] = {}
        for index, passage in enumerate(passages):
            start, end = self.ranges.get(passage.patient_id, (index, index))
            if end != index:
                raise ValueError(f"passages of patient {passage.patient_id} are not contiguous")
            self.ranges[passage.patient_id] = (start, index + 1)

    def __len__(self) -> int:
        return len(self.passages)

    def patient_range(self, patient_id: str) -> tuple[int, int]:
        """``(start, end)`` indices of a patient's passages.

        Raises:
            ClinragError: The patient has no passage.
        """
        if patient_id not in self.ranges:
            raise ClinragError(f"patient '{patient_id}' has no documents in this cohort")
        return self.ranges[patient_id]

    def of_patient(self, patient_id: str) -> list[Passage]:
        """A patient's passages, documents in date order."""
        start, end = self.patient_range(patient_id)
        return self.passages[start:end]

    def deceased(self) -> frozenset[str]:
        """The patients whose passages report their death (:func:`clinrag.text.death.deceased_patients`),
        computed once."""
        if self._deceased is None:
            from clinrag.text.death import deceased_patients

            self._deceased = deceased_patients(self.passages)
        return self._deceased

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.passages]

    def fingerprint(self) -> str:
        """SHA-256 of every passage's provenance and text (cache key for embeddings and indexes)."""
        digest = hashlib.sha256()
        for p in self.passages:
            digest.update(f"{p.doc_id}\x00{p.start}\x00{p.end}\x00{p.text}\x00".encode())
        return digest.hexdigest()

    def save(self, path: str | Path) -> None:
        """Write the passages as JSON Lines."""
        atomic_write_jsonl(path, (asdict(p) for p in self.passages))

    @classmethod
    def load(cls, path: str | Path) -> PassageStore:
        """Read passages written by :meth:`save`."""
        with open(path, encoding="utf-8") as handle:
            return cls([Passage(**json.loads(line)) for line in handle if line.strip()])


def _paragraph_units(text: str) -> list[tuple[int, int]]:
    units, start = [], 0
    for block in text.split("\n\n"):
        stripped = block.strip()
        if stripped:
            offset = start + block.index(stripped)
            units.append((offset, offset + len(stripped)))
        start += len(block) + 2
    return units


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def chunk_document(
    doc: Document, annotation: DocumentAnnotation | None, config: ChunkingConfig
) -> list[tuple[int, int]]:
    """Passage offsets of one document.

    Args:
        doc: The document.
        annotation: Its sentences (needed for ``unit="sentence"``).
        config: Chunking settings.
    """
    if config.unit == "sentence":
        if annotation is None:
            raise ValueError("sentence chunking needs the document's annotation")
        units = [_trim(doc.text, s, e) for s, e in annotation.sentences]
    else:
        units = _paragraph_units(doc.text)
    units = [(s, e) for s, e in units if e > s]
    # a passage never runs across a section title: a title starts a new passage
    section_starts = {start for start, _, _ in annotation.sections} if annotation else set()
    starts_section = [any(s <= t < e for t in section_starts) for s, e in units]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and units[j][1] - units[i][0] <= config.max_chars and not starts_section[j]:
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        i = max(i + 1, j - config.overlap)
    return spans


def build_passages(
    cohort: Cohort,
    config: ChunkingConfig | None = None,
    annotations: dict[str, DocumentAnnotation] | None = None,
    progress: bool | None = None,
) -> PassageStore:
    """Split every document of the cohort into passages.

    Args:
        cohort: The cohort.
        config: Chunking settings (default: sentences packed up to 250 characters).
        annotations: edsnlp annotations by doc_id (computed when not given).
        progress: A progress bar while annotating (None: for more than 2,000 documents).
    """
    config = config or ChunkingConfig()
    if annotations is None:
        from clinrag.text.annotate import Annotator

        annotations = Annotator(cohort.variables).annotate(cohort.documents, progress)
    passages: list[Passage] = []
    for patient_id in cohort.patients:
        docs = cohort.documents_of(patient_id)
        first = docs[0].date
        for doc_index, doc in enumerate(docs):
            annotation = annotations.get(doc.doc_id)
            for start, end in chunk_document(doc, annotation, config):
                passages.append(
                    Passage(
                        patient_id=patient_id,
                        doc_id=doc.doc_id,
                        start=start,
                        end=end,
                        text=doc.text[start:end],
                        date=doc.date_str,
                        doc_type=doc.doc_type,
                        section=annotation.section_at(start) if annotation else "",
                        doc_index=doc_index,
                        days=round((doc.date - first).total_seconds() / 86400, 4),
                    )
                )
    return PassageStore(passages)


def passage_overlaps(passage: Passage, doc_id: str, start: int, end: int) -> bool:
    """Whether a passage shares at least one character with a span of a document."""
    return passage.doc_id == doc_id and passage.start < end and start < passage.end


def overlap_matrix(passages: list[Passage], spans: list[tuple[str, int, int]]) -> np.ndarray:
    """Boolean vector: which passages overlap any of the spans ``(doc_id, start, end)``."""
    return np.array([any(passage_overlaps(p, d, s, e) for d, s, e in spans) for p in passages], dtype=bool)
