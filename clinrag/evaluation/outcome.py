"""Downstream use of a filled table: does predicting poor functional outcome still work from its values?

A registry is filled to be analysed. The standard analysis of a stroke registry predicts poor outcome at three
months (modified Rankin Scale ``mrs_3_mois >= 3``) from admission variables. This module fits that model, a
plain L2 logistic regression, and measures how much is lost when its inputs come from the pipeline instead of
the hand-filled table:

* ``known``: fitted on the train split's known table, evaluated with the test patients' known features;
* ``filled``: the same fitted model, evaluated with the test patients' *filled* features (the pipeline's values);
* ``filled_refit``: fitted on the filled table's train patients (features *and* outcome from the filled table,
  the fully automated registry), evaluated with filled test features. Only when the filled table covers every
  train patient.

The evaluation target is always the test patients' known outcome; test patients whose known outcome is
missing are left out (and counted). Metrics: ROC AUC, Brier score and accuracy at a 0.5 threshold, with 95%
bootstrap intervals over test patients; the conditions share the same resamples, so the AUC differences
(``known`` minus each other condition) are paired.

Features: integer and number variables are median-imputed and standardized, booleans are 0/1 with a missing
value imputed as false, categories are one-hot over the variable's declared values; every feature also gets a
missing indicator (so that a model can tell "not documented" from "false" or from the median).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.evaluation.bootstrap import (
    BootstrapSpec,
    bootstrap_p_value,
    percentile_interval,
    resample_counts,
)
from clinrag.evaluation.outcome_data import (  # noqa: F401  (re-exported: importable from here as before)
    DEFAULT_FEATURES,
    FEATURE_TYPES,
    FeatureReport,
    OutcomeSpec,
    feature_frame,
    feature_report,
    outcome_features,
    poor_outcome_labels,
)

CONDITIONS: dict[str, tuple[str, str]] = {
    # name: (model fitted on, test features from)
    "known": ("train, known table", "known table"),
    "filled": ("train, known table", "filled table"),
    "filled_refit": ("train, filled table", "filled table"),
}


def build_outcome_model(features: Sequence[Variable], spec: OutcomeSpec) -> Pipeline:
    """The unfitted pipeline: per-type encoding plus missing indicators, then an L2 logistic regression.

    Args:
        features: The feature variables (the columns of :func:`feature_frame`).
        spec: Regularization and seed.
    """
    numeric = [var.name for var in features if var.type in ("integer", "number")]
    boolean = [var.name for var in features if var.type == "boolean"]
    category = [var for var in features if var.type == "category"]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        # keep_empty_features: a feature never documented in train stays a (constant) column, so a filled
        # table that does document it is still read the same way.
        numeric_steps = [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if boolean:
        transformers.append(
            ("boolean", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True), boolean)
        )
    if category:
        # Declared values as categories: the columns do not depend on which values the train split happens to
        # hold. A missing value is one-hot all zeros; its indicator below says it is missing.
        encoder = OneHotEncoder(
            categories=[list(var.values or []) for var in category],
            handle_unknown="ignore",
            sparse_output=False,
        )
        steps = [
            ("impute", SimpleImputer(strategy="constant", fill_value="<missing>", keep_empty_features=True)),
            ("onehot", encoder),
        ]
        transformers.append(("category", Pipeline(steps), [var.name for var in category]))
    transformers.append(("missing", MissingIndicator(features="all"), [var.name for var in features]))
    return Pipeline(
        [
            ("encode", ColumnTransformer(transformers)),
            (
                "classify",
                LogisticRegression(C=spec.inverse_regularization, max_iter=1000, random_state=spec.seed),
            ),
        ]
    )


def fit_outcome_model(
    features: Sequence[Variable],
    spec: OutcomeSpec,
    table: dict[str, dict[str, str]],
    patients: Sequence[str],
    labels: np.ndarray,
) -> Pipeline:
    """Fit the outcome model on ``patients``' features read from ``table``.

    Raises:
        ClinragError: The labels hold a single class (a logistic regression needs both).
    """
    if len(set(labels.tolist())) < 2:
        raise ClinragError(
            f"the {len(labels)} training patient(s) all have the same outcome class; cannot fit a model"
        )
    model = build_outcome_model(features, spec)
    model.fit(feature_frame(features, table, patients), labels)
    return model


# ---------------------------------------------------------------------------------------------------------
# Metrics with paired bootstrap intervals
# ---------------------------------------------------------------------------------------------------------
def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC under patient weights (bootstrap counts): the weighted Mann-Whitney statistic, ties count 1/2.

    Args:
        labels: 0/1 outcome, shape (n,).
        scores: Predicted probability of poor outcome, shape (n,).
        weights: One row of weights per replicate, shape (b, n) (ones for the point estimate).

    Returns:
        One AUC per row, NaN where a row weighs no positive or no negative patient.
    """
    positive, negative = labels == 1, labels == 0
    pos_scores, neg_scores = scores[positive][:, None], scores[negative][None, :]
    wins = (pos_scores > neg_scores) + 0.5 * (pos_scores == neg_scores)
    w_pos, w_neg = weights[:, positive], weights[:, negative]
    numerator = ((w_pos @ wins) * w_neg).sum(axis=1)
    denominator = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def _round(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


def binary_metrics(
    labels: np.ndarray, scores: np.ndarray, counts: np.ndarray, spec: BootstrapSpec
) -> tuple[dict[str, Any], np.ndarray]:
    """AUC, Brier score and accuracy at 0.5, each with its bootstrap interval.

    Args:
        labels: 0/1 outcome of the evaluated patients.
        scores: Predicted probabilities of poor outcome.
        counts: Bootstrap counts from :func:`clinrag.evaluation.bootstrap.resample_counts` (shared across
            conditions: paired).
        spec: Interval settings.

    Returns:
        The metrics record and the AUC's bootstrap replicates (for paired differences).
    """
    n = len(labels)
    auc = weighted_auc(labels, scores, np.ones((1, n)))[0]
    auc_reps = weighted_auc(labels, scores, counts)
    brier_loss = (scores - labels) ** 2
    correct = ((scores >= 0.5).astype(int) == labels).astype(float)
    record = {
        "n": n,
        "n_positive": int(labels.sum()),
        "auc": _round(auc),
        "auc_ci": percentile_interval(auc_reps, spec),
        "brier": _round(brier_loss.mean()),
        "brier_ci": percentile_interval(counts @ brier_loss / n, spec),
        "accuracy": _round(correct.mean()),
        "accuracy_ci": percentile_interval(counts @ correct / n, spec),
    }
    return record, auc_reps


def paired_difference(
    point: float, reps: np.ndarray, spec: BootstrapSpec
) -> dict[str, float | list[float] | None]:
    """A paired bootstrap difference: its value, interval and two-sided bootstrap p-value
    (:func:`clinrag.evaluation.bootstrap.bootstrap_p_value`); all None when the point or all replicates are
    NaN."""
    interval = percentile_interval(reps, spec)
    if interval is None or np.isnan(point):
        return {"value": None, "ci": None, "p_bootstrap": None}
    return {"value": round(float(point), 4), "ci": interval, "p_bootstrap": bootstrap_p_value(reps)}


# ---------------------------------------------------------------------------------------------------------
# The study
# ---------------------------------------------------------------------------------------------------------
def _refit_on_filled(
    features: Sequence[Variable],
    spec: OutcomeSpec,
    outcome: Variable,
    filled: dict[str, dict[str, str]],
    train_patients: Sequence[str],
) -> dict[str, Any]:
    """Fit the outcome model on the filled table alone (features and outcome), when it covers the train split.

    Returns:
        ``model`` (the fitted pipeline) with ``n_train`` and ``train_excluded_unknown_outcome``, or
        ``skipped`` with the reason.
    """
    uncovered = [pid for pid in train_patients if pid not in filled]
    if uncovered:
        return {
            "skipped": f"the filled table lacks {len(uncovered)} of the {len(train_patients)} train patients"
        }
    patients, labels, excluded = poor_outcome_labels(outcome, spec.threshold, filled, train_patients)
    info: dict[str, Any] = {"n_train": len(patients), "train_excluded_unknown_outcome": excluded}
    if not patients:
        return {"skipped": f"no train patient has a filled '{outcome.name}'", **info}
    try:
        info["model"] = fit_outcome_model(features, spec, filled, patients, labels)
    except ClinragError as error:
        return {"skipped": f"filled train outcome: {error}", **info}
    return info


def evaluate_outcome(
    cohort: Cohort,
    filled: dict[str, dict[str, str]],
    split: str = "test",
    spec: OutcomeSpec | None = None,
    bootstrap: BootstrapSpec | None = None,
) -> dict[str, Any]:
    """Predict poor outcome from known and from filled admission variables, and compare.

    Args:
        cohort: The cohort, with its known table and splits; the model is fitted on its train split.
        filled: The filled table, ``patient_id -> variable -> cell``; it must hold every patient of ``split``.
        split: The evaluated patients (``test``, or ``dev``).
        spec: The outcome model's settings.
        bootstrap: Interval settings (resamples of the evaluated patients, shared by all conditions).

    Returns:
        The ``outcome.json`` record: settings, patient counts, one metrics record per condition (``known``,
        ``filled``, and ``filled_refit`` or the reason it was skipped), the paired AUC differences and the
        filled table's feature completeness and agreement.

    Raises:
        ClinragError: No known table, outcome variable absent, no patient to fit or evaluate, a single outcome
            class among the train patients, or test patients missing from the filled table.
    """
    spec = spec or OutcomeSpec()
    bootstrap = bootstrap or BootstrapSpec()
    if cohort.table is None:
        raise ClinragError("the cohort has no table.csv: the outcome model needs known values")
    if spec.outcome not in {var.name for var in cohort.variables}:
        raise ClinragError(f"outcome variable '{spec.outcome}' is not a variable of the cohort")
    if spec.outcome not in cohort.table_columns:
        raise ClinragError(f"outcome variable '{spec.outcome}' has no column in the cohort's table.csv")
    outcome = cohort.variable(spec.outcome)
    if outcome.type not in ("integer", "number"):
        raise ClinragError(f"outcome variable '{spec.outcome}' has type {outcome.type}; expected a score")
    features, skipped = outcome_features(cohort, spec)
    known = cohort.table

    split_patients = cohort.split_patients(split)
    if not split_patients:
        raise ClinragError(f"no patient of the table is in split '{split}'")
    absent = [pid for pid in split_patients if pid not in filled]
    if absent:
        raise ClinragError(
            f"the filled table lacks {len(absent)} of the {len(split_patients)} {split} patient(s) "
            f"(e.g. '{absent[0]}')"
        )
    test_patients, y_test, test_excluded = poor_outcome_labels(outcome, spec.threshold, known, split_patients)
    if not test_patients:
        raise ClinragError(f"no {split} patient has a known '{spec.outcome}'")
    train_all = cohort.split_patients("train")
    train_patients, y_train, train_excluded = poor_outcome_labels(outcome, spec.threshold, known, train_all)
    if not train_patients:
        raise ClinragError(f"no train patient has a known '{spec.outcome}': nothing to fit on")

    model = fit_outcome_model(features, spec, known, train_patients, y_train)
    scores = {
        name: model.predict_proba(feature_frame(features, table, test_patients))[:, 1]
        for name, table in (("known", known), ("filled", filled))
    }
    refit_info = _refit_on_filled(features, spec, outcome, filled, train_all)
    if "model" in refit_info:
        refit = refit_info.pop("model")
        scores["filled_refit"] = refit.predict_proba(feature_frame(features, filled, test_patients))[:, 1]

    counts = resample_counts(len(test_patients), bootstrap)
    ones = np.ones((1, len(test_patients)))
    conditions: dict[str, dict[str, Any]] = {}
    auc_reps: dict[str, np.ndarray] = {}
    for name, condition_scores in scores.items():
        record, auc_reps[name] = binary_metrics(y_test, condition_scores, counts, bootstrap)
        record["fitted_on"], record["test_features"] = CONDITIONS[name]
        conditions[name] = record
    conditions.setdefault("filled_refit", {}).update(refit_info)

    differences = {}
    auc_known = weighted_auc(y_test, scores["known"], ones)[0]
    for name in ("filled", "filled_refit"):
        if name in scores:
            point = auc_known - weighted_auc(y_test, scores[name], ones)[0]
            differences[f"auc_known_minus_{name}"] = paired_difference(
                point, auc_reps["known"] - auc_reps[name], bootstrap
            )
    prevalence = float(y_train.mean())
    return {
        "outcome": {
            "variable": spec.outcome,
            "threshold": spec.threshold,
            "definition": f"{spec.outcome} >= {spec.threshold}",
        },
        "features": [var.name for var in features],
        "features_skipped": skipped,
        "model": {
            "type": "logistic regression, L2 penalty",
            "C": spec.inverse_regularization,
            "encoding": "numeric: median imputation + standardization; boolean: 0/1, missing as false; "
            "category: one-hot over declared values; plus a missing indicator per feature",
            "seed": spec.seed,
        },
        "split": split,
        "train": {
            "n": len(train_patients),
            "n_positive": int(y_train.sum()),
            "excluded_unknown_outcome": train_excluded,
        },
        "test": {
            "n": len(test_patients),
            "n_positive": int(y_test.sum()),
            "excluded_unknown_outcome": test_excluded,
        },
        # The Brier score of always predicting the train prevalence: the score to beat.
        "brier_prevalence_reference": round(float(((prevalence - y_test) ** 2).mean()), 4),
        "bootstrap": {**bootstrap.to_json(), "paired": True},
        "conditions": conditions,
        "differences": differences,
        "filled_features": feature_report(features, filled, test_patients, reference=known).to_json(),
        "known_features": feature_report(features, known, test_patients).to_json(),
    }


def _fmt(record: dict[str, Any], metric: str) -> str:
    value, ci = record.get(metric), record.get(f"{metric}_ci")
    if value is None:
        return "—"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def outcome_markdown(result: dict[str, Any]) -> str:
    """The study as Markdown: one row per condition, then the paired AUC differences and the patient counts."""
    out = result["outcome"]
    lines = [
        f"Poor outcome ({out['definition']}) from {len(result['features'])} admission variables, "
        f"L2 logistic regression; split {result['split']}, 95% bootstrap intervals over patients "
        f"({result['bootstrap']['n_resamples']} paired resamples).",
        "",
        "| condition | model fitted on | test features | n | AUC [95% CI] | Brier [95% CI] | accuracy@0.5 [95% CI] |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, record in result["conditions"].items():
        fitted_on, features = CONDITIONS[name]
        if "skipped" in record:
            lines.append(f"| {name} | {fitted_on} | {features} | — | skipped: {record['skipped']} | | |")
            continue
        lines.append(
            f"| {name} | {fitted_on} | {features} | {record['n']} | {_fmt(record, 'auc')} | "
            f"{_fmt(record, 'brier')} | {_fmt(record, 'accuracy')} |"
        )
    lines.append("")
    for name, diff in result["differences"].items():
        if diff["value"] is None:
            continue
        low, high = diff["ci"]
        lines.append(
            f"- {name.replace('_', ' ')}: {diff['value']:+.3f} [{low:+.3f}, {high:+.3f}], "
            f"bootstrap p = {diff['p_bootstrap']:.3f}"
        )
    train, test, filled = result["train"], result["test"], result["filled_features"]
    lines.append(
        f"- patients: train {train['n']} ({train['n_positive']} poor outcome, {train['excluded_unknown_outcome']} "
        f"without known outcome left out), {result['split']} {test['n']} ({test['n_positive']} poor outcome, "
        f"{test['excluded_unknown_outcome']} left out)"
    )
    agreement = "—" if filled["agreement"] is None else f"{filled['agreement']:.3f}"
    lines.append(
        f"- filled {result['split']} features: {filled['missing']} of {filled['cells']} cells missing "
        f"(known table: {result['known_features']['missing']}), {filled['invalid']} invalid, "
        f"agreement with the known table {agreement}"
    )
    lines.append(
        f"- Brier score of predicting the train prevalence: {result['brier_prevalence_reference']:.3f}"
    )
    if result["features_skipped"]:
        lines.append(f"- features absent from the cohort, skipped: {', '.join(result['features_skipped'])}")
    return "\n".join(lines) + "\n"
