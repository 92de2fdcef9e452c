"""The segment-BiLSTM reader's training cells (:func:`training_examples`: targets from the table alone) and their
augmentation (``training.augment``, :func:`augmented_cells`): the weak positives' passages rewritten by
:mod:`clinrag.encoders.augment`, each new cell labelled again by the weak labeller before use.

A **weak positive** is a fit cell whose text the weak labels tie to its table value: a value cell (integer,
number, date) one of whose stated values is the table's cell; a boolean or category cell whose table cell a shown
passage states by the weak-label rules (:func:`clinrag.text.evidence.states_value`, as
:func:`~clinrag.generation.segment.stating_passage`).

Each of its shown passages is a labelled text whose spans are the variable's mentions (edsnlp's terms, with their
qualifiers around them) and, for value types, the values the value finder reads in it
(:func:`~clinrag.generation.reader.values_with_timepoints`); a rule may rewrite a mention or a value as a whole
("HTA" as "hypertension artérielle", "1,2 g/L" as "1.2 g/l"), never cut one. Two re-checks, with the same functions
that made the original label:

1. each rewritten passage: the value finder, run again on it at the passage's date, reads the same values (the
   same canonical cells, in order) exactly at the new spans;
2. each new cell, its passages' ``k``-th variants put together (passages without one kept as they were): the
   passages are annotated again (edsnlp), the cell's view is built again (:func:`~clinrag.generation.segment.
   cell_view`) and labelled again from the table cell (:func:`~clinrag.generation.segment.cell_target`): a value
   cell must state the same values with the same answers; a class cell must still have a passage stating its
   value (negation, hypothesis and family qualifiers read again).

A new cell that fails either check is dropped; the counts made and kept are the training record's
``augmentation``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.encoders.augment import AugmentConfig, Labelled, augment
from clinrag.errors import ClinragError
from clinrag.generation.base import CellRequest
from clinrag.generation.constraints import NOT_DOCUMENTED
from clinrag.generation.segment import (
    ANSWER,
    OTHER,
    VALUE_HEAD,
    VALUE_TYPES,
    CellView,
    cell_view,
    cell_views,
    class_head,
    stating_passage,
)

MENTION, VALUE = "mention", "value"


class TrainingCell(NamedTuple):
    """A training cell: its request, what the encoder reads of it, and its example (text and target)."""

    patient_id: str
    request: CellRequest
    view: CellView
    example: Any


def cell_target(var: Variable, cell: str, view: CellView) -> Any:
    """A training cell's target from its table ``cell``: each stated value's ``answer`` / ``other`` (a value
    head), else the class ("non documenté" when empty)."""
    from clinrag.data.values import cells_match

    if class_head(var) == VALUE_HEAD:
        return [
            (v.start, v.end, ANSWER if cell and cells_match(var, cell, v.cell) else OTHER)
            for v in view.values
        ]
    return cell or NOT_DOCUMENTED


def training_examples(
    cohort: Cohort, requests: list[CellRequest], count: int, chars: int
) -> list[TrainingCell]:
    """The training cells (:class:`TrainingCell`; their examples are ``TextExample``), targets from the table
    alone (:func:`cell_target`). Cells of free-text variables and value cells whose text states no value are left
    out (nothing to learn)."""
    from clinrag.encoders.segment import TextExample

    if cohort.table is None:
        raise ClinragError("the segment reader learns from the table: the cohort has no table.csv")
    requests = [r for r in requests if class_head(r.variable)]
    cells = []
    for request, view in zip(requests, cell_views(requests, count, chars), strict=True):
        var = request.variable
        if class_head(var) == VALUE_HEAD and not view.values:
            continue
        target = cell_target(var, cohort.table.get(request.patient_id, {}).get(var.name, ""), view)
        example = TextExample(view.text, {class_head(var): target})
        cells.append(TrainingCell(request.patient_id, request, view, example))
    return cells


def weak_positive(cohort: Cohort, cell: TrainingCell) -> bool:
    """Whether the weak labels tie the cell's text to its table value (see the module's docstring)."""
    var = cell.request.variable
    table = (cohort.table or {}).get(cell.patient_id, {}).get(var.name, "")
    if not table:
        return False
    if class_head(var) == VALUE_HEAD:
        return any(label == ANSWER for *_, label in cell.example.targets[VALUE_HEAD])
    return stating_passage(var, table, cell.view) is not None


def passage_labelled(var: Any, passage: Any, mentions: list[Any]) -> tuple[Labelled, list[str]]:
    """A passage as a labelled text (its mentions of ``var``, its stated values) and its values' cells in order."""
    from clinrag.generation.reader import values_with_timepoints

    spans = [(m.start, m.end, MENTION) for m in mentions if m.variable == var.name and m.end > m.start]
    stated = values_with_timepoints(var, passage.text, passage.date) if var.type in VALUE_TYPES else []
    spans += [(start, end, VALUE) for start, end, *_ in stated]
    return Labelled.of(passage.text, spans), [cell for _start, _end, _answer, cell, _label in stated]


def _values_read_again(var: Any, date: str, cells: list[str], variant: Labelled) -> bool:
    """Re-check 1: the value finder reads the same cells, at the variant's value spans."""
    from clinrag.generation.reader import values_with_timepoints

    stated = values_with_timepoints(var, variant.text, date) if var.type in VALUE_TYPES else []
    spans = [(s.start, s.end) for s in variant.spans if s.label == VALUE]
    return [c for *_, c, _label in stated] == cells and [(a, b) for a, b, *_ in stated] == spans


def augmented_cells(
    cohort: Cohort,
    cells: list[TrainingCell],
    config: AugmentConfig,
    chars: int,
    paraphraser: Any = None,
) -> tuple[list[Any], dict[str, Any]]:
    """New training examples (``TextExample``) written from the weak positives among ``cells``, re-checked.

    Returns:
        The examples kept, and the counts: ``cells`` (weak positives), ``passages`` (rewrites made and kept by
        the value finder's re-check, by kind), ``made`` and ``kept`` (new cells, after the cell's re-check).
    """
    from clinrag.encoders.segment import TextExample
    from clinrag.generation.priors import request_mentions

    positives = [cell for cell in cells if weak_positive(cohort, cell)]
    texts, owners, dates, values = [], [], [], []
    for number, cell in enumerate(positives):
        var = cell.request.variable
        for index, (passage, mentions) in enumerate(zip(cell.view.passages, cell.view.mentions, strict=True)):
            labelled, cells_stated = passage_labelled(var, passage, mentions)
            texts.append(labelled)
            owners.append((number, index))
            dates.append(passage.date)
            values.append(cells_stated)

    def check(i: int, _original: Labelled, variant: Labelled) -> bool:
        var = positives[owners[i][0]].request.variable
        return _values_read_again(var, dates[i], values[i], variant)

    written = augment(texts, config, check, rewritable=lambda _label: True, paraphraser=paraphraser)
    # the k-th variant of each passage of a cell makes that cell's k-th new cell
    by_cell: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)
    for variant in written.variants:
        number, index = owners[variant.source]
        by_cell[(number, variant.number)][index] = variant.example.text
    requests, shown = [], []
    for (number, _k), rewritten in sorted(by_cell.items()):
        cell = positives[number]
        passages = [
            p if i not in rewritten else _with_text(p, rewritten[i]) for i, p in enumerate(cell.view.passages)
        ]
        requests.append(CellRequest(cell.patient_id, cell.request.variable, passages))
        shown.append(cell)
    mentions = request_mentions(requests, None) if requests else []
    kept, made = [], 0
    for request, cell, found in zip(requests, shown, mentions, strict=True):
        var = request.variable
        view = cell_view(var, request.passages, found, chars)
        if view.text == cell.view.text:
            continue  # rewritten outside what the encoder reads of the cell
        made += 1
        table = cohort.table[cell.patient_id][var.name]
        target = cell_target(var, table, view)
        if class_head(var) == VALUE_HEAD:
            same = sorted((v.cell, t[2]) for v, t in zip(view.values, target, strict=True)) == sorted(
                (v.cell, t[2])
                for v, t in zip(cell.view.values, cell.example.targets[VALUE_HEAD], strict=True)
            )
        else:
            same = stating_passage(var, table, view) is not None
        if same:
            kept.append(TextExample(view.text, {class_head(var): target}))
    counts = {
        "method": config.method,
        "per_example": config.per_example,
        "seed": config.seed,
        "cells": len(positives),
        "passages": written.summary(),
        "made": made,
        "kept": len(kept),
    }
    return kept, counts


def _with_text(passage: Any, text: str) -> Any:
    """``passage`` with another text (its document offsets no longer index it: training reads the text only)."""
    from dataclasses import replace

    return replace(passage, text=text, end=passage.start + len(text))


__all__ = [
    "TrainingCell",
    "augmented_cells",
    "cell_target",
    "passage_labelled",
    "training_examples",
    "weak_positive",
]
