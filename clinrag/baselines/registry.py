"""Reference baselines by name (``clinrag baseline --method``), and a table predicted with one."""

from __future__ import annotations

from clinrag.baselines.majority import MajorityBaseline
from clinrag.data.cohort import Cohort
from clinrag.errors import ClinragError
from clinrag.registry import Registry

BASELINES = Registry("baseline", ())
"""Baselines by name: each learns from the train split (``fit(cohort)``) and predicts rows (``predict(patients)``)."""
BASELINES.register("majority")(MajorityBaseline)


def predict_baseline(
    cohort: Cohort, method: str = "majority", patients: str = "test"
) -> dict[str, dict[str, str]]:
    """Fit the baseline ``method`` on the cohort's train split and predict the rows of some patients.

    Args:
        cohort: The cohort (its table's train split is learned from).
        method: A name of :data:`BASELINES`.
        patients: Which patients to predict (:meth:`~clinrag.data.cohort.Cohort.select_patients`).

    Returns:
        ``patient_id -> {variable: cell}``.

    Raises:
        ClinragError: An unknown method, or a cohort without a table or train patients.
    """
    try:
        model = BASELINES.get(method)().fit(cohort)
    except ValueError as error:
        raise ClinragError(f"{cohort.root if cohort.root is not None else 'cohort'}: {error}") from error
    chosen = cohort.select_patients(patients)
    if not chosen:
        raise ClinragError(
            f"{cohort.root if cohort.root is not None else 'cohort'}: no {patients} patient to predict"
        )
    return model.predict(chosen)
