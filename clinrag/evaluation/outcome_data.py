"""The outcome model's data: which variables are its features, the feature frame of a table, how complete and
how right a table's feature cells are, and the poor-outcome labels (:mod:`clinrag.evaluation.outcome` fits and
scores the model on them; its docstring says how features are encoded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clinrag.data.cohort import Cohort
from clinrag.data.values import cells_match, parse_value
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError

# Admission variables of the synthetic cohort (clinrag/synth/variables.yaml) that a stroke outcome model uses.
DEFAULT_FEATURES: tuple[str, ...] = (
    "age",
    "sexe",
    "hta",
    "diabete",
    "dyslipidemie",
    "tabagisme",
    "fibrillation_atriale",
    "mrs_pre_avc",
    "nihss_admission",
    "glycemie_admission",
    "thrombolyse",
    "thrombectomie",
    "site_occlusion",
)
FEATURE_TYPES: tuple[str, ...] = ("integer", "number", "boolean", "category")


@dataclass(frozen=True)
class OutcomeSpec:
    """The outcome model: what it predicts, from what, and how it is fitted.

    Attributes:
        outcome: The outcome variable (an integer score).
        threshold: Poor outcome is ``outcome >= threshold`` (mRS 3 to 6: dependent or dead).
        features: Candidate feature variables; those the cohort lacks are skipped.
        inverse_regularization: ``C`` of the logistic regression (L2 penalty strength is ``1 / C``).
        seed: Seed of the model fit (the lbfgs solver is deterministic; the seed is recorded for the record).
    """

    outcome: str = "mrs_3_mois"
    threshold: int = 3
    features: tuple[str, ...] = DEFAULT_FEATURES
    inverse_regularization: float = 1.0
    seed: int = 0


@dataclass
class FeatureReport:
    """How complete and how right a table's feature cells are for a set of patients.

    Attributes:
        cells: Feature cells considered (patients x features).
        missing: Cells without a usable value (empty, absent column or row, or unparsable).
        invalid: Cells whose text does not parse by the variable's type (counted in ``missing`` too).
        agreement: Share of cells that match the known table by the type's rules (None for the known table).
        absent_columns: Features the table has no column for.
    """

    cells: int = 0
    missing: int = 0
    invalid: int = 0
    agreement: float | None = None
    absent_columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON record."""
        return {
            "cells": self.cells,
            "missing": self.missing,
            "invalid": self.invalid,
            "agreement": None if self.agreement is None else round(self.agreement, 4),
            "absent_columns": self.absent_columns,
        }


# ---------------------------------------------------------------------------------------------------------
# Features, labels and the model
# ---------------------------------------------------------------------------------------------------------
def outcome_features(cohort: Cohort, spec: OutcomeSpec) -> tuple[list[Variable], list[str]]:
    """The feature variables the cohort has, and the candidates it lacks.

    Args:
        cohort: The cohort.
        spec: The outcome model's settings.

    Returns:
        The feature variables (in ``spec.features`` order) and the names skipped because the cohort has no
        such variable.

    Raises:
        ClinragError: A feature is the outcome itself, or has a type a linear model cannot take (date, text),
            or no feature is left.
    """
    names = {var.name for var in cohort.variables}
    features, skipped = [], []
    for name in spec.features:
        if name not in names:
            skipped.append(name)
            continue
        if name == spec.outcome:
            raise ClinragError(f"feature '{name}' is the outcome variable itself")
        var = cohort.variable(name)
        if var.type not in FEATURE_TYPES:
            raise ClinragError(
                f"feature '{name}' has type {var.type}; features must be {', '.join(FEATURE_TYPES)}"
            )
        features.append(var)
    if not features:
        raise ClinragError(f"none of the features ({', '.join(spec.features)}) is a variable of the cohort")
    return features, skipped


def _parsed(var: Variable, cell: str) -> tuple[Any, bool]:
    """The cell's value (None when empty or unparsable) and whether it parsed."""
    try:
        return parse_value(var, cell), True
    except ValueError:
        return None, False


def feature_frame(
    features: Sequence[Variable], table: dict[str, dict[str, str]], patients: Sequence[str]
) -> pd.DataFrame:
    """The model's input: one row per patient, one column per feature, NaN where the value is missing.

    Integer, number and boolean features are floats (booleans 0/1); categories are their canonical value.
    An unparsable cell (a pipeline's invalid answer) is missing.

    Args:
        features: The feature variables.
        table: ``patient_id -> variable -> cell``; absent patients or cells are missing.
        patients: Row order.
    """
    columns: dict[str, list[Any]] = {}
    for var in features:
        values = []
        for pid in patients:
            value, _ = _parsed(var, table.get(pid, {}).get(var.name, ""))
            if value is None:
                values.append(np.nan)
            elif var.type == "category":
                values.append(value)
            else:
                values.append(float(value))
        columns[var.name] = values
    frame = pd.DataFrame(columns, index=list(patients))
    for var in features:
        frame[var.name] = frame[var.name].astype(object if var.type == "category" else float)
    return frame


def feature_report(
    features: Sequence[Variable],
    table: dict[str, dict[str, str]],
    patients: Sequence[str],
    reference: dict[str, dict[str, str]] | None = None,
) -> FeatureReport:
    """Count missing and invalid feature cells, and their agreement with a reference table.

    Args:
        features: The feature variables.
        table: The table whose cells are counted.
        patients: The patients.
        reference: The known table, to measure agreement (a cell agrees when it matches by the type's rules,
            both empty included); None for no agreement.
    """
    report = FeatureReport()
    matches = 0
    for var in features:
        if not any(var.name in table.get(pid, {}) for pid in patients):
            report.absent_columns.append(var.name)
        for pid in patients:
            cell = table.get(pid, {}).get(var.name, "")
            value, ok = _parsed(var, cell)
            report.cells += 1
            report.missing += value is None
            report.invalid += not ok
            if reference is not None:
                matches += cells_match(var, reference.get(pid, {}).get(var.name, ""), cell)
    if reference is not None and report.cells:
        report.agreement = matches / report.cells
    return report


def poor_outcome_labels(
    outcome: Variable, threshold: int, table: dict[str, dict[str, str]], patients: Sequence[str]
) -> tuple[list[str], np.ndarray, int]:
    """The patients with a documented outcome and their label (1 = poor outcome).

    Args:
        outcome: The outcome variable.
        threshold: Poor outcome is ``value >= threshold``.
        table: Where the outcome cells are read.
        patients: Candidate patients.

    Returns:
        The patients kept, their 0/1 labels, and how many were left out (outcome empty or unparsable).
    """
    kept, labels = [], []
    for pid in patients:
        value, _ = _parsed(outcome, table.get(pid, {}).get(outcome.name, ""))
        if value is None:
            continue
        kept.append(pid)
        labels.append(int(value >= threshold))
    return kept, np.array(labels, dtype=int), len(patients) - len(kept)
