"""Why a cell of a run has its value (``clinrag explain``): what the run folder recorded about it, completed from
the cohort the run read.

A run folder (``clinrag run``, or the output of ``clinrag fill``) records every cell in ``provenance.jsonl``
(Contract 3 of DESIGN.md): the value, the supporting passage (document, offsets, quote, date), the score and how
the reader decided (``answered_by``: the value model choosing among the values the passages state, with the
runner-up values and their probabilities; the boolean model weighing its mentions' qualifiers; the train split's
prior for an unmentioned cell; else the decoder, with its raw answer). The cohort the run read (``manifest.json``,
or another folder given) adds the document's type, the section the passage starts in, and the reference value of
its table, when it has one.

The explanation holds patient text (the quote) on purpose: it is for a person who may read the documents.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinrag.errors import ClinragError

__all__ = ["Candidate", "CellExplanation", "Evidence", "explain_cell", "explanation_lines"]

# how many known patients (variables) an error about an unknown one names
_NAMED = 8

_HOW = {
    "candidates": "chosen by the value model among the {candidates} value(s) the retrieved passages state",
    "fallback": "the value model chose none of the {candidates} value(s) the retrieved passages state",
    "fallback-none": "the retrieved passages state no value for it",
    "qualifiers": "the boolean model weighed its mentions' qualifiers (negation, hypothesis, family, history)",
    "prior": "no retrieved passage mentions it: the train split's answer for unmentioned cells",
    "decoder": "read by the decoder from the retrieved passages",
    "segment_bilstm": "read by the segment-BiLSTM reader from the retrieved passages that mention it (integers, "
    "numbers, dates: chosen among the {candidates} value(s) they state)",
}


@dataclass(frozen=True)
class Candidate:
    """A value the reader considered for the cell but did not choose.

    Attributes:
        value: The cell it would have written.
        score: Its probability (the value model's).
    """

    value: str
    score: float


@dataclass(frozen=True)
class Evidence:
    """The passage that supports a value.

    Attributes:
        doc_id: Its document.
        start: Its first character in the document's text.
        end: One past its last character.
        quote: The document's text at those offsets (patient text).
        date: The document's date.
        doc_type: The document's type (None when the cohort could not be read).
        section: The section the passage starts in ("" before the first title; None when the cohort could not be
            read).
    """

    doc_id: str
    start: int
    end: int
    quote: str | None
    date: str | None
    doc_type: str | None = None
    section: str | None = None


@dataclass(frozen=True)
class CellExplanation:
    """Everything known about one cell of a run (see the module docstring).

    Attributes:
        run_dir: The run folder.
        patient_id: The patient.
        variable: The variable's name.
        variable_type: Its type (integer, number, boolean, category, date, text), None when unknown.
        description: Its description, None when unknown.
        cell: The value written in predictions.csv ("" when not documented).
        status: ``documented``, ``not_documented`` or ``failed``.
        score: The probability of the answer.
        answered_by: ``candidates``, ``fallback``, ``qualifiers``, ``prior`` or ``decoder``.
        answer: What the reader answered before parsing (the decoder's raw text, or the option chosen).
        failure: Why the answer could not be used, when it could not.
        candidates_found: How many values the retrieved passages state (the value model's cells), else None.
        alternatives: The other values the value model weighed, best first, with their probabilities.
        prior: The train split's prior of an unmentioned cell (``cell``, ``share``, ``cells``), else None.
        tokens: Prompt tokens the decoder read for the cell (0 when it was not asked).
        evidence: The supporting passage, None when the value has none.
        reference: The cohort table's cell ("" = not documented), None when the patient has no row, the table
            no such column, or the cohort could not be read.
        correct: Whether ``cell`` matches ``reference`` by the rules of the variable's type, None without one.
        cohort_dir: The cohort read for the documents and the table, None when none could be.
        notes: What could not be completed, and why (no patient text).
    """

    run_dir: Path
    patient_id: str
    variable: str
    variable_type: str | None
    description: str | None
    cell: str
    status: str
    score: float
    answered_by: str
    answer: str | None
    failure: str | None
    candidates_found: int | None
    alternatives: list[Candidate]
    prior: dict[str, Any] | None
    tokens: int
    evidence: Evidence | None
    reference: str | None
    correct: bool | None
    cohort_dir: Path | None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The explanation as plain lines for a terminal (:func:`explanation_lines`; patient text included)."""
        return explanation_lines(self)


def _brief(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    return shown + (f", … ({len(names)} in all)" if len(names) > _NAMED else "")


def _read_provenance(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "provenance.jsonl"
    if not run_dir.is_dir():
        raise ClinragError(f"{run_dir}: no such run folder (see `clinrag run` or `clinrag fill`)")
    if not path.is_file():
        raise ClinragError(
            f"{run_dir}: not a run folder (no provenance.jsonl; see `clinrag run` or `clinrag fill`)"
        )
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ClinragError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(record, dict) or "patient_id" not in record or "variable" not in record:
                raise ClinragError(f"{path}:{number}: not a provenance record (patient_id, variable)")
            records.append(record)
    return records


def _find_record(records: list[dict[str, Any]], run_dir: Path, patient: str, variable: str) -> dict[str, Any]:
    patients = list(dict.fromkeys(str(r["patient_id"]) for r in records))
    variables = list(dict.fromkeys(str(r["variable"]) for r in records))
    if patient not in patients:
        raise ClinragError(f"{run_dir}: unknown patient '{patient}' (the run's patients: {_brief(patients)})")
    if variable not in variables:
        raise ClinragError(
            f"{run_dir}: unknown variable '{variable}' (the run's variables: {_brief(variables)})"
        )
    for record in records:
        if record["patient_id"] == patient and record["variable"] == variable:
            return record
    raise ClinragError(f"{run_dir}: no cell for patient '{patient}' and variable '{variable}'")


def _predicted_cell(run_dir: Path, patient: str, variable: str) -> str | None:
    """The cell of predictions.csv, None when the file or the cell is missing."""
    path = run_dir / "predictions.csv"
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("patient_id") == patient:
                return row.get(variable)
    return None


def _cohort_dir(run_dir: Path, given: str | Path | None) -> Path | None:
    if given is not None:
        return Path(given)
    manifest = run_dir / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        path = json.loads(manifest.read_text(encoding="utf-8")).get("cohort", {}).get("path")
    except (json.JSONDecodeError, AttributeError):
        return None
    return Path(path) if path else None


def _cohort_sha256(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["cohort"]["sha256"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None


def _section_at(text: str, offset: int) -> str:
    """The edsnlp section holding ``offset`` in ``text``, as the run's passages were labelled."""
    from clinrag.text.annotate import Annotator

    return Annotator([]).annotate_texts([text], progress=False)[0].section_at(offset)


def explain_cell(
    run_dir: str | Path, patient: str, variable: str, cohort_dir: str | Path | None = None
) -> CellExplanation:
    """Explain one cell of a run (see the module docstring).

    Args:
        run_dir: A run folder (``clinrag run``) or the output folder of ``clinrag fill``.
        patient: The patient id.
        variable: The variable's name.
        cohort_dir: The cohort to read the documents and the table from (default: the one the run's
            manifest.json names). Without a readable cohort, the explanation holds what the run recorded only.

    Raises:
        ClinragError: Not a run folder, or a patient or variable the run has no cell for (the error names the
            known ones).
    """
    from clinrag.data.validate import load_cohort
    from clinrag.data.values import cells_match
    from clinrag.experiment.transfer import run_variables

    run_dir = Path(run_dir)
    record = _find_record(_read_provenance(run_dir), run_dir, patient, variable)
    notes: list[str] = []
    cohort = None
    folder = _cohort_dir(run_dir, cohort_dir)
    if folder is None:
        notes.append("the run names no cohort (manifest.json): document type, section and reference unknown")
    else:
        try:
            cohort = load_cohort(folder)
        except ClinragError as error:
            if cohort_dir is not None:  # the one the user named: their mistake, not a note
                raise
            notes.append(f"cohort not read ({error}): document type, section and reference unknown")
            folder = None
        else:
            expected = _cohort_sha256(run_dir)
            if expected and cohort.fingerprint() != expected:
                notes.append(
                    f"{folder} is not the cohort the run read (its content differs): details may not match"
                )

    definitions = {v.name: v for v in (run_variables(run_dir) or [])}
    if cohort is not None:
        definitions = {**{v.name: v for v in cohort.variables}, **definitions}
    var = definitions.get(variable)

    value = record.get("value")
    cell = _predicted_cell(run_dir, patient, variable)
    if cell is None:
        cell = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))

    evidence = None
    if record.get("doc_id") is not None and record.get("start") is not None:
        doc_id, start, end = str(record["doc_id"]), int(record["start"]), int(record["end"])
        quote, doc_type, section = record.get("quote"), None, None
        if cohort is not None:
            try:
                document = cohort.document(doc_id)
            except KeyError:
                notes.append(f"document {doc_id} is not in {folder}: its type and section unknown")
            else:
                doc_type = document.doc_type
                section = _section_at(document.text, start)
                if quote is None:
                    quote = document.text[start:end]
                elif document.text[start:end] != quote:
                    notes.append(f"document {doc_id} of {folder} differs from the run's quote")
        evidence = Evidence(doc_id, start, end, quote, record.get("date"), doc_type, section)

    reference = correct = None
    if cohort is not None and cohort.table is not None and variable in cohort.table_columns:
        reference = cohort.table.get(patient, {}).get(variable) if patient in cohort.table else None
        if reference is not None and var is not None:
            correct = cells_match(var, reference, cell)

    found = record.get("candidates")
    return CellExplanation(
        run_dir=run_dir,
        patient_id=patient,
        variable=variable,
        variable_type=var.type if var is not None else None,
        description=var.description if var is not None else None,
        cell=cell,
        status=str(record.get("status") or ("documented" if cell else "not_documented")),
        score=float(record.get("score") or 0.0),
        answered_by=str(record.get("answered_by") or "decoder"),
        answer=record.get("answer"),
        failure=record.get("failure"),
        candidates_found=int(found) if isinstance(found, int) else None,
        alternatives=[Candidate(str(v), float(p)) for v, p in record.get("alternatives") or []],
        prior=record.get("prior"),
        tokens=int(record.get("tokens") or 0),
        evidence=evidence,
        reference=reference,
        correct=correct,
        cohort_dir=folder if cohort is not None else None,
        notes=notes,
    )


def explanation_lines(explanation: CellExplanation) -> list[str]:
    """The explanation as plain lines for a terminal (the quote included: patient text)."""
    e = explanation
    kind = f" ({e.variable_type})" if e.variable_type else ""
    about = f": {e.description}" if e.description else ""
    lines = [f"{e.patient_id} — {e.variable}{kind}{about}", f"run: {e.run_dir}"]
    shown = e.cell if e.cell else ("no usable answer" if e.status == "failed" else "not documented")
    lines.append(f"value:      {shown}   (score {e.score:.3f})")
    key = "fallback-none" if e.answered_by == "fallback" and not e.candidates_found else e.answered_by
    how = _HOW.get(key, e.answered_by).format(candidates=e.candidates_found or 0)
    if e.answered_by == "decoder":
        how += f" ({e.tokens} prompt tokens; answer {e.answer!r})"
    lines.append(f"how:        {how}")
    if e.prior:
        prior_cell = e.prior.get("cell") or "not documented"
        lines.append(
            f"prior:      {prior_cell} (share {float(e.prior.get('share', 0)):.3f} of "
            f"{e.prior.get('cells', '?')} unmentioned train cells)"
        )
    if e.failure:
        lines.append(f"failed:     {e.failure}")
    if e.reference is None:
        lines.append("reference:  unknown (no table value for this cell)")
    else:
        verdict = "" if e.correct is None else (": correct" if e.correct else ": wrong")
        lines.append(f"reference:  {e.reference or 'not documented'} (the cohort's table.csv){verdict}")
    if e.evidence is None:
        lines.append("evidence:   none (no passage supports the value)")
    else:
        ev = e.evidence
        parts = [f"document {ev.doc_id}"]
        if ev.doc_type is not None:
            parts.append(f"type {ev.doc_type}")
        if ev.date:
            parts.append(f"dated {ev.date}")
        if ev.section is not None:
            parts.append(f"section {ev.section or '(none: before the first title)'}")
        parts.append(f"characters {ev.start}–{ev.end}")
        lines.append("evidence:   " + ", ".join(parts))
        if ev.quote is not None:
            quote = ev.quote.strip().splitlines() or [""]
            lines.append(f"quote:      « {quote[0]}")
            lines.extend(f"              {line}" for line in quote[1:])
            lines[-1] += " »"
    if e.alternatives:
        model = "reader's" if e.answered_by == "segment_bilstm" else "value model"
        lines.append(f"other candidates ({model} probability):")
        width = max(len(c.value) for c in e.alternatives)
        lines.extend(f"            {c.value.ljust(width)}  {c.score:.4f}" for c in e.alternatives)
    elif e.answered_by == "candidates":
        lines.append("other candidates: none (the passages state no other value)")
    else:
        lines.append("other candidates: none recorded (only the value model records its runners-up)")
    lines.extend(f"note:       {note}" for note in e.notes)
    return lines
