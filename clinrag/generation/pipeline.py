"""Filling a table: retrieve, read, and write Contract 3's predictions.csv and provenance.jsonl."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PlainValidator

from clinrag.config import RetrievalSettings
from clinrag.data.cohort import Cohort, table_to_csv
from clinrag.data.values import parse_value
from clinrag.data.variables import Variable
from clinrag.generation.base import (
    CellRequest,
    CellResult,
    Learned,
    Reader,
    validate_reader_config,
)
from clinrag.generation.config import ReaderConfig
from clinrag.io import atomic_write_jsonl, atomic_write_text
from clinrag.retrieval.base import Retriever, retrieve
from clinrag.text.passages import PassageStore


class PipelineSettings(RetrievalSettings):
    """Retrieval settings plus the reader."""

    reader: Annotated[Any, PlainValidator(validate_reader_config)] = Field(default_factory=ReaderConfig)
    """The reader that writes each value, chosen by its ``type`` (a registered reader: llm, full_record)."""

    def check_models(self, decoder: bool = True) -> None:
        """Refuse, before any work and without loading anything, a model folder of the retriever or the reader
        that cannot be loaded (``decoder``: ``reader.model`` too, see
        :meth:`~clinrag.generation.config.ReaderConfig.check_models`).

        Raises:
            ClinragError: One line naming the folder, what is wrong and the field.
        """
        super().check_models()
        self.reader.check_models(decoder)


def fill_cells(
    cohort: Cohort,
    patients: list[str],
    variables: list[Variable],
    reader: Reader,
    store: PassageStore | None = None,
    retriever: Retriever | None = None,
    k: int = 5,
    progress: bool = False,
    depth: int | None = None,
    learned: Learned | None = None,
) -> list[CellResult]:
    """Fill every (patient, variable): retrieval then reading (the decoder reads the top ``k`` passages, the
    candidate model the top ``depth``, default ``k``), or reading whole records for a reader that needs no
    retrieval. ``progress``: a bar over the patients while retrieving, then the reader's."""
    from clinrag.progress import progress_bar

    found = None
    if reader.needs_retrieval:
        if store is None or retriever is None:
            raise ValueError("a reader that reads retrieved passages needs passages and a retriever")
        found = retrieving(retriever, store, max(k, depth or k))
    bar = progress_bar(patients, enabled=progress and found is not None, desc="retrieving", unit="patient")
    requests = cell_requests(((pid, var) for pid in bar for var in variables), store, found, k)
    reader.attach(cohort, learned or Learned())
    return reader.read(requests, progress=progress)


Found = Callable[[str, Variable], Iterable[int]]
"""Where a cell's passages come from: ``(patient, variable) -> passage indices in the store``, best first."""


def cell_requests(
    cells: Iterable[tuple[str, Variable]], store: PassageStore | None, found: Found | None, k: int
) -> list[CellRequest]:
    """The request of each ``(patient, variable)`` of ``cells``, in order: the one way a cell is asked, in
    ``clinrag run`` (``found``: the retrieval stage's hits), ``fill``, ``extract`` and ``train-reader``
    (:func:`retrieving`).

    Args:
        cells: The cells.
        store: The passages ``found`` indexes.
        found: Each cell's passages, best first (:data:`Found`): the top ``k`` are the decoder's, all of them
            the candidate model's (:meth:`CellRequest.retrieved`). None: requests without passages, for a reader
            that reads whole records.
        k: How many passages the decoder reads.
    """
    if found is None:
        return [CellRequest(pid, var, []) for pid, var in cells]
    if store is None:
        raise ValueError("passages found for a cell need their store")
    return [
        CellRequest.retrieved(store, pid, var, [store.passages[int(i)] for i in found(pid, var)], k)
        for pid, var in cells
    ]


def retrieving(retriever: Retriever, store: PassageStore, depth: int) -> Found:
    """:data:`Found` by retrieving now: each cell's top ``depth`` passages by ``retriever``."""

    def found(patient_id: str, variable: Variable) -> list[int]:
        return [hit.index for hit in retrieve(retriever, store, patient_id, variable, depth)]

    return found


def load_learned(folder: str | Path) -> Learned:
    """What a run learned from its train split's table, from its ``models/priors`` folder."""
    from clinrag.generation.candidates import load_value_model
    from clinrag.generation.priors import load_boolean_model, load_priors

    folder = Path(folder)
    return Learned(load_priors(folder), load_boolean_model(folder), load_value_model(folder))


def rows_of(results: list[CellResult]) -> dict[str, dict[str, str]]:
    """``patient_id -> variable -> cell`` (failures are empty cells; provenance records them)."""
    rows: dict[str, dict[str, str]] = {}
    for result in results:
        rows.setdefault(result.patient_id, {})[result.variable] = result.cell
    return rows


def provenance_records(cohort: Cohort, results: list[CellResult]) -> list[dict[str, Any]]:
    """Contract 3's provenance.jsonl: value (or null), doc_id, start, end, quote (the document text at those
    offsets), score, plus the raw answer and any failure."""
    records = []
    for r in results:
        support = r.support
        var = cohort.variable(r.variable)
        value = parse_value(var, r.cell) if r.cell else None
        if value is not None and not isinstance(value, int | float | bool | str):
            value = r.cell
        record = {
            "patient_id": r.patient_id,
            "variable": r.variable,
            "value": value,
            "doc_id": support.doc_id if support else None,
            "start": support.start if support else None,
            "end": support.end if support else None,
            "quote": cohort.document(support.doc_id).text[support.start : support.end] if support else None,
            "date": support.date if support else None,
            "score": round(r.score, 6),
            "answer": r.raw,
            "status": "failed" if r.failed else ("documented" if r.cell else "not_documented"),
            "tokens": r.tokens,
        }
        if r.failed:
            record["failure"] = r.failed
        if r.extra.get("answered_by"):  # decided without the decoder (qualifiers, or the train split's habit)
            record.update(r.extra)
        records.append(record)
    return records


def write_predictions(out: str | Path, cohort: Cohort, results: list[CellResult], columns: list[str]) -> None:
    """Write predictions.csv (table.csv's shape) and provenance.jsonl, atomically."""
    out = Path(out)
    rows = rows_of(results)
    atomic_write_text(out / "predictions.csv", table_to_csv(columns, rows.items()))
    atomic_write_jsonl(out / "provenance.jsonl", provenance_records(cohort, results))


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract_table` filled."""

    patients: int
    cells: int
    documented: int
    failed: int


EXTRACTED_MARKS = ("predictions.csv", "provenance.jsonl")
"""Files of a folder `clinrag extract` wrote (the only non-empty ``--out`` it writes into)."""
ADAPTER_MARKS = ("adapter_config.json", "clinrag_reader.json")
"""Files of a folder `clinrag train-reader` wrote."""


def extract_table(
    cohort_dir: str | Path,
    out: str | Path,
    settings: PipelineSettings,
    patients: str = "unlabeled",
    progress: bool = False,
) -> Extracted:
    """``clinrag extract``: fill a cohort directory's cells (every table column, else every variable) for
    ``patients`` (a split, ``all``, or ``unlabeled``: those without a table row) and write predictions.csv and
    provenance.jsonl into ``out``.

    Raises:
        ClinragError: ``out`` cannot be written, the cohort is invalid, or no patient to fill (one line).
    """
    from clinrag.data.cohort import cohort_inputs
    from clinrag.data.validate import load_cohort
    from clinrag.errors import ClinragError
    from clinrag.generation.base import build_reader, reader_class
    from clinrag.generation.reader import retrieval_depth
    from clinrag.io import check_output_folder
    from clinrag.retrieval.base import check_ready
    from clinrag.retrieval.pipeline import prepare_retrieval

    check_output_folder(out, "--out", inputs=cohort_inputs(cohort_dir), marks=EXTRACTED_MARKS)
    cohort = load_cohort(cohort_dir)
    chosen = cohort.select_patients(patients)
    if not chosen:
        raise ClinragError(f"{cohort_dir}: no {patients} patient to fill")
    if reader_class(settings.reader.type).needs_retrieval:
        check_ready(settings.retriever)  # before the decoder is loaded and the cohort indexed
    columns = cohort.table_columns or [v.name for v in cohort.variables]
    variables = [cohort.variable(n) for n in columns]
    reader = build_reader(settings.reader)
    store = retriever = None
    if reader.needs_retrieval:
        store, retriever = prepare_retrieval(settings, cohort, progress=progress)
    k = settings.retrieval.k
    results = fill_cells(
        cohort, chosen, variables, reader, store, retriever, k, progress, retrieval_depth(settings.reader, k)
    )
    write_predictions(out, cohort, results, columns)
    return Extracted(
        len(chosen), len(results), sum(1 for r in results if r.cell), sum(1 for r in results if r.failed)
    )


def train_reader(
    cohort_dir: str | Path, out: str | Path, settings: PipelineSettings, progress: bool = False
) -> tuple[int, float]:
    """``clinrag train-reader``: LoRA-tune the llm reader on a cohort directory's train split ((variable,
    passages retrieved for a train patient, table value or "non documenté") pairs) into ``out``.

    Returns:
        The number of pairs trained on (at most ``reader.lora.max_pairs``) and the final loss.

    Raises:
        ClinragError: ``out`` cannot be written, the reader is not ``llm``, the cohort is invalid, has no table
            or no train patient (one line).
    """
    from clinrag.data.cohort import cohort_inputs
    from clinrag.data.validate import load_cohort
    from clinrag.errors import ClinragError
    from clinrag.generation.base import build_reader
    from clinrag.generation.lora import train_lora, training_pairs
    from clinrag.io import check_output_folder
    from clinrag.retrieval.base import check_ready
    from clinrag.retrieval.pipeline import prepare_retrieval

    check_output_folder(out, "--out", inputs=cohort_inputs(cohort_dir), marks=ADAPTER_MARKS)
    if settings.reader.type != "llm":
        raise ClinragError("reader.type: only the llm (RAG) reader is LoRA-tuned")
    check_ready(settings.retriever)  # the passages come from it: before any reading
    cohort = load_cohort(cohort_dir)
    if cohort.table is None:
        raise ClinragError(f"{cohort_dir}/table.csv: missing; training needs table values")
    store, retriever = prepare_retrieval(settings, cohort, progress=progress)
    pairs = training_pairs(
        cohort, store, retriever, cohort.split_patients("train"), settings.retrieval.k, progress=progress
    )
    if not pairs:
        raise ClinragError(f"{cohort_dir}: no patient in the train split")
    reader = build_reader(settings.reader)
    history = train_lora(reader, pairs, settings.reader.lora, out, progress=progress)
    max_pairs = settings.reader.lora.max_pairs
    return (len(pairs) if max_pairs is None else min(len(pairs), max_pairs)), history[-1]["loss"]
