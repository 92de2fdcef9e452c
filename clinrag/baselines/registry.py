"""Reference baselines by name (``clinrag baseline --method``), and a table predicted with one."""

from __future__ import annotations

from clinrag.baselines.majority import MajorityBaseline
from clinrag.data.cohort import Cohort
from clinrag.errors import ClinragError

#: Baselines by name: each learns from the train split (``fit(cohort)``) and predicts rows (``predict(patients)``).
BASELINES: dict[str, type[MajorityBaseline]] = {"majority": MajorityBaseline}


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
    if method not in BASELINES:
        raise ClinragError(f"unknown baseline '{method}' (known: {', '.join(BASELINES)})")
    try:
        model = BASELINES[method]().fit(cohort)
    except ValueError as error:
        raise ClinragError(f"{cohort.root if cohort.root is not None else 'cohort'}: {error}") from error
    return model.predict(cohort.select_patients(patients))
