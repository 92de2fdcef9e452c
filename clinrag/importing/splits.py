"""The train/dev/test split of an imported table's patients, written to splits.csv."""

from __future__ import annotations

import csv
import io
import random

from clinrag.data.cohort import SPLIT_FRACTIONS

FRACTIONS = SPLIT_FRACTIONS
"""Shares of train, dev and test (those of the default split, :func:`clinrag.data.cohort.default_split`)."""


def split_patients(patients: list[str], seed: int) -> dict[str, str]:
    """A seeded patient-level split: the same patients and seed give the same split, whatever their order.

    The patients are shuffled (their sorted list, by a generator of ``seed``) and cut by :data:`FRACTIONS`,
    rounded; a table of two patients or more has one in test, of three or more one in dev too, so that a run
    can be trained and scored. Not :func:`clinrag.data.cohort.default_split` (a hash per patient, so that adding
    patients to a cohort without splits.csv never moves the others, and shares that hold on average only): an
    import writes its split once, and a small table must still have test and dev patients.

    Returns:
        ``patient -> split``, in the order of ``patients``.
    """
    shuffled = sorted(patients)
    random.Random(seed).shuffle(shuffled)
    count = len(shuffled)
    test = max(round(count * FRACTIONS[2]), 1 if count >= 2 else 0)
    dev = max(round(count * FRACTIONS[1]), 1 if count >= 3 else 0)
    split_of = {}
    for index, patient in enumerate(shuffled):
        split_of[patient] = "test" if index < test else "dev" if index < test + dev else "train"
    return {patient: split_of[patient] for patient in patients}


def splits_csv(splits: dict[str, str]) -> str:
    """splits.csv's text: ``patient_id,split``, a row per patient."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["patient_id", "split"])
    writer.writerows(splits.items())
    return buffer.getvalue()
