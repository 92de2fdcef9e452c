"""Texts with gold identifier spans, for training and scoring detectors: eds-pseudo's JSONL and cohorts.

eds-pseudo (AP-HP) writes one note a line: ``{"note_id", "note_text", "entities": [{"start", "end", "label"}]}``.
A cohort's gold identifiers are its ``phi.jsonl``. Both become :class:`Note` lists; a note's ``group`` is what
must not be split between training and scoring (the patient, for a cohort; the note itself for eds-pseudo).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clinrag.data.cohort import Cohort
from clinrag.errors import ClinragError
from clinrag.pseudo.labels import LABELS, Span


@dataclass(frozen=True)
class Note:
    """One text with its gold identifiers.

    Attributes:
        note_id: The note's (or document's) id.
        group: The unit kept whole by cross-validation (a patient, or the note itself).
        text: The text.
        spans: Its gold identifier spans.
    """

    note_id: str
    group: str
    text: str
    spans: tuple[Span, ...]


def load_eds_pseudo(path: str | Path) -> list[Note]:
    """Read eds-pseudo's JSONL format.

    Raises:
        ClinragError: A missing or non-UTF-8 file, a malformed line, a missing field, an unknown label or
            offsets outside the text; the message names the file, line and field.
    """
    path = Path(path)
    if not path.is_file():
        raise ClinragError(f"{path}: file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ClinragError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from err
    notes = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ClinragError(f"{where}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise ClinragError(f"{where}: expected a JSON object")
        for name, kind in (("note_id", str), ("note_text", str), ("entities", list)):
            if not isinstance(record.get(name), kind):
                raise ClinragError(f"{where}: field '{name}': missing or not a {kind.__name__}")
        text = record["note_text"]
        spans = []
        for index, entity in enumerate(record["entities"]):
            field = f"entities[{index}]"
            if not isinstance(entity, dict):
                raise ClinragError(f"{where}: field '{field}': expected an object")
            start, end, label = entity.get("start"), entity.get("end"), entity.get("label")
            if label not in LABELS:
                raise ClinragError(f"{where}: field '{field}.label': unknown label {label!r}")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                raise ClinragError(f"{where}: field '{field}': offsets {start}..{end} outside the text")
            spans.append(Span.of(text, start, end, label))
        notes.append(Note(record["note_id"], record["note_id"], text, tuple(sorted(spans))))
    if not notes:
        raise ClinragError(f"{path}: no note")
    return notes


def cohort_notes(cohort: Cohort, patients: Sequence[str] | None = None) -> list[Note]:
    """The documents of a cohort (of ``patients`` only, when given) with their phi.jsonl spans."""
    chosen = None if patients is None else set(patients)
    by_doc: dict[str, list[Span]] = {}
    for p in cohort.phi:
        by_doc.setdefault(p.doc_id, []).append(
            Span.of(cohort.document(p.doc_id).text, p.start, p.end, p.label)
        )
    return [
        Note(doc.doc_id, doc.patient_id, doc.text, tuple(sorted(by_doc.get(doc.doc_id, []))))
        for doc in cohort.documents
        if chosen is None or doc.patient_id in chosen
    ]


def evidence_ranges(cohort: Cohort, notes: Sequence[Note]) -> list[list[tuple[int, int]]]:
    """For each note (a cohort document), the character ranges of its gold evidence that pseudonymization must
    leave intact. Date variables are left out: their evidence is itself a DATE identifier, shifted as the table's
    cell is."""
    dates = {v.name for v in cohort.variables if v.type == "date"}
    by_doc: dict[str, list[tuple[int, int]]] = {}
    for e in cohort.evidence:
        if e.variable not in dates:
            by_doc.setdefault(e.doc_id, []).append((e.start, e.end))
    return [by_doc.get(note.note_id, []) for note in notes]


def folds(notes: Sequence[Note], k: int, seed: int = 0) -> list[int]:
    """A fold number (0..k-1) for each note, drawn per group, so a group is never split."""
    from clinrag.data.cohort import seeded_draw

    return [seeded_draw(seed, note.group) % k for note in notes]
