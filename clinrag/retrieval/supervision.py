"""Distant supervision: weak evidence labels from table values, never from gold evidence.

A passage of a patient is a likely positive for a variable when it states the patient's table value in the
variable's type (:func:`clinrag.text.evidence.states_value` says what stating a value is, type by type). The
other passages of the same patient are the negatives. Only ``cohort.table`` is read (the split's rows);
``cohort.evidence`` never is.
"""

from __future__ import annotations

import numpy as np

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.text.annotate import Annotator, Mention
from clinrag.text.evidence import states_value
from clinrag.text.passages import PassageStore


def passage_mentions(store: PassageStore, variables: list[Variable]) -> list[list[Mention]]:
    """The qualified mentions of the variables' terms in each passage (offsets relative to the passage text).

    Each passage is annotated on its own: negation, hypothesis and family cues act within a sentence, and a
    passage holds whole sentences.
    """
    annotator = Annotator(variables)
    return [ann.mentions for ann in annotator.annotate_texts(store.texts)]


def weak_labels(
    cohort: Cohort,
    store: PassageStore,
    mentions: list[list[Mention]],
    patients: list[str],
    variables: list[Variable] | None = None,
) -> dict[tuple[str, str], np.ndarray]:
    """Weak positives of each (patient, variable) that has a table value.

    Args:
        cohort: The cohort (only ``cohort.table`` is read).
        store: The cohort's passages.
        mentions: Each passage's mentions (:func:`passage_mentions`).
        patients: The patients to label (the train split for training, the dev split for early stopping).
        variables: The variables (default: every table column).

    Returns:
        ``(patient_id, variable) -> boolean vector over the patient's passages``; pairs whose cell is empty
        or that have no positive are left out.
    """
    if cohort.table is None:
        raise ValueError("distant supervision needs a table")
    variables = variables or [cohort.variable(name) for name in cohort.table_columns]
    labels: dict[tuple[str, str], np.ndarray] = {}
    for patient_id in patients:
        row = cohort.table.get(patient_id, {})
        start, end = store.patient_range(patient_id)
        for var in variables:
            cell = row.get(var.name, "")
            if not cell:
                continue
            positive = np.array(
                [states_value(var, cell, store.passages[i], mentions[i]) for i in range(start, end)],
                dtype=bool,
            )
            if positive.any():
                labels[(patient_id, var.name)] = positive
    return labels
