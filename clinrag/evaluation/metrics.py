"""Table metrics by variable type, with 95% bootstrap intervals over patients.

A cell is one (patient, variable) of the evaluated split. Abstention is explicit: a gold-empty cell predicted
empty is correct; a value predicted on a gold-empty cell is wrong (``false_values``); an empty prediction on a
documented cell is wrong (``false_abstentions``). An unparsable prediction is wrong and counted as ``invalid``.

Metrics:

* every variable: ``accuracy`` (cells that match by the type's rules, :func:`clinrag.data.values.cells_match`);
* integer: ``mae`` over cells where both gold and prediction have a value, ``within1`` over documented cells
  (an abstention is not within 1);
* number: ``mae`` over cells where both have a value;
* boolean: ``sensitivity`` (documented true predicted true), ``specificity`` (documented false predicted false);
* category: ``macro_f1`` over the classes present in gold or prediction, "not documented" counting as a class.

Intervals: patients are resampled with replacement (:mod:`clinrag.evaluation.bootstrap`; the same resamples
for every metric, so the overall and per-variable intervals are coherent); the 2.5th and 97.5th percentiles
are reported as ``<metric>_ci``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clinrag.data.cohort import Cohort
from clinrag.data.values import cells_match, parse_value
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError, Issue
from clinrag.evaluation.bootstrap import BootstrapSpec, draw_resamples, percentile_interval, ratio_replicates

logger = logging.getLogger(__name__)

NONE_CLASS = "<non documenté>"


def _parse_or_invalid(var: Variable, raw: str) -> tuple[Any, bool]:
    try:
        return parse_value(var, raw), True
    except ValueError:
        return None, False


def _macro_f1(gold: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    confusion = np.bincount(gold * n_classes + pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    return float(_macro_f1_from_confusion(confusion[None])[0])


def _macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 of a stack of confusion matrices (B, K, K), over classes present in gold or prediction."""
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(float)
    gold_n = confusion.sum(axis=2)
    pred_n = confusion.sum(axis=1)
    present = (gold_n + pred_n) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / np.where(present, gold_n + pred_n, 1), 0.0)
    counts = present.sum(axis=1)
    return np.where(counts > 0, f1.sum(axis=1) / np.maximum(counts, 1), np.nan)


def evaluate_table(
    cohort: Cohort,
    predictions: dict[str, dict[str, str]],
    split: str | None = "test",
    spec: BootstrapSpec | None = None,
    variables: list[str] | None = None,
) -> dict[str, Any]:
    """Score predicted cells against the cohort's table.

    Args:
        cohort: The cohort with its table.
        predictions: ``patient_id -> variable -> cell`` (missing patients or cells count as abstentions).
        split: Evaluate the table's patients of this split; None evaluates every patient of the table.
        spec: Bootstrap settings.
        variables: Variables to score (default: every column of the table).

    Returns:
        Contract 3's ``metrics.json`` content: ``overall``, ``variables.<name>`` and the evaluation settings.

    Raises:
        ValueError: The cohort has no table, or the split has no patient.
    """
    spec = spec or BootstrapSpec()
    if cohort.table is None:
        raise ValueError("the cohort has no table.csv: nothing to evaluate against")
    patients = cohort.split_patients(split) if split else list(cohort.table)
    if not patients:
        raise ValueError(f"no patient of the table is in split '{split}'")
    names = variables or cohort.table_columns
    resamples = draw_resamples(len(patients), spec)
    n_pat = len(patients)
    overall_correct = np.zeros(n_pat)
    overall_cells = np.zeros(n_pat)
    per_variable: dict[str, Any] = {}
    variable_reps: list[np.ndarray] = []  # bootstrap replicates of each variable's accuracy
    missing_rows = sum(1 for pid in patients if pid not in predictions)
    for name in names:
        var = cohort.variable(name)
        golds = [cohort.table[pid].get(name, "") for pid in patients]
        preds = [predictions.get(pid, {}).get(name, "") for pid in patients]
        correct = np.array([cells_match(var, g, p) for g, p in zip(golds, preds, strict=True)], dtype=float)
        overall_correct += correct
        overall_cells += 1
        gold_values = [parse_value(var, g) for g in golds]
        parsed = [_parse_or_invalid(var, p) for p in preds]
        pred_values = [value for value, _ in parsed]
        valid = np.array([ok for _, ok in parsed])
        gold_doc = np.array([g is not None for g in gold_values])
        pred_doc = np.array([p is not None for p in pred_values]) & valid
        acc, acc_reps = ratio_replicates(correct, np.ones(n_pat), resamples)
        variable_reps.append(acc_reps)
        result: dict[str, Any] = {
            "type": var.type,
            "n": n_pat,
            "accuracy": round(acc, 4) if acc is not None else None,
            "accuracy_ci": percentile_interval(acc_reps, spec),
            "documented": int(gold_doc.sum()),
            "predicted": int(pred_doc.sum()),
            "false_abstentions": int((gold_doc & ~pred_doc & valid).sum()),
            "false_values": int((~gold_doc & pred_doc).sum()),
            "wrong_values": int((gold_doc & pred_doc & (correct == 0)).sum()),
            "invalid": int((~valid).sum()),
        }
        both = gold_doc & pred_doc
        if var.type in ("integer", "number"):
            err = np.array(
                [
                    abs(float(p) - float(g)) if b else 0.0
                    for g, p, b in zip(gold_values, pred_values, both, strict=True)
                ]
            )
            _add(result, "mae", *ratio_replicates(err, both.astype(float), resamples), spec)
            if var.type == "integer":
                within = np.array(
                    [b and abs(p - g) <= 1 for g, p, b in zip(gold_values, pred_values, both, strict=True)],
                    dtype=float,
                )
                _add(result, "within1", *ratio_replicates(within, gold_doc.astype(float), resamples), spec)
        elif var.type == "boolean":
            gold_true = np.array([g is True for g in gold_values], dtype=float)
            gold_false = np.array([g is False for g in gold_values], dtype=float)
            pred_true = np.array([p is True for p in pred_values], dtype=float)
            pred_false = np.array([p is False for p in pred_values], dtype=float)
            _add(result, "sensitivity", *ratio_replicates(gold_true * pred_true, gold_true, resamples), spec)
            _add(
                result, "specificity", *ratio_replicates(gold_false * pred_false, gold_false, resamples), spec
            )
        elif var.type == "category":
            classes = [NONE_CLASS, *(var.values or [])]
            index = {c: i for i, c in enumerate(classes)}
            gold_codes = np.array([index[g if g is not None else NONE_CLASS] for g in gold_values])
            pred_codes = np.array([index[p if p is not None else NONE_CLASS] for p in pred_values])
            k = len(classes)
            point = _macro_f1(gold_codes, pred_codes, k)
            flat = (
                np.arange(spec.n_resamples)[:, None] * k * k
                + gold_codes[resamples] * k
                + pred_codes[resamples]
            ).ravel()
            confusion = np.bincount(flat, minlength=spec.n_resamples * k * k).reshape(spec.n_resamples, k, k)
            _add(result, "macro_f1", point, _macro_f1_from_confusion(confusion), spec)
            result["confusion"] = {
                "labels": classes,
                "matrix": np.bincount(gold_codes * k + pred_codes, minlength=k * k).reshape(k, k).tolist(),
            }
        per_variable[name] = result
    acc, acc_reps = ratio_replicates(overall_correct, overall_cells, resamples)
    variable_means = np.nanmean(np.stack(variable_reps), axis=0)
    overall = {
        "accuracy": round(acc, 4) if acc is not None else None,
        "accuracy_ci": percentile_interval(acc_reps, spec),
        "n": int(overall_cells.sum()),
        "n_patients": n_pat,
        "n_variables": len(names),
        "mean_variable_accuracy": round(float(np.mean([v["accuracy"] for v in per_variable.values()])), 4),
        "mean_variable_accuracy_ci": percentile_interval(variable_means, spec),
        "patients_without_predictions": missing_rows,
    }
    return {
        "split": split or "all",
        "bootstrap": spec.to_json(),
        "overall": overall,
        "variables": per_variable,
    }


def _add(
    result: dict[str, Any], name: str, point: float | None, reps: np.ndarray, spec: BootstrapSpec
) -> None:
    result[name] = round(point, 4) if point is not None else None
    result[f"{name}_ci"] = percentile_interval(reps, spec)


def evaluate_predictions(
    cohort_dir: str | Path,
    predictions: str | Path,
    split: str = "test",
    spec: BootstrapSpec | None = None,
    allow_missing: bool = False,
    out: str | Path | None = None,
    warn: Callable[[Issue], None] | None = None,
) -> dict[str, Any]:
    """``clinrag evaluate``: score a predictions file against a cohort directory's table.

    Args:
        cohort_dir: The cohort directory (its table.csv is the reference).
        predictions: The predicted table (table.csv's shape, :func:`clinrag.data.validate.read_predictions`).
        split: The patients scored: a split name, or ``"all"`` (every patient of the table).
        spec: The bootstrap (:func:`evaluate_table`'s default when None).
        allow_missing: Score missing rows and columns as abstentions (with a warning) instead of refusing.
        out: Write the metrics (JSON) here; checked before any work.
        warn: Called with each warning about the predictions file (unparsable cells, missing rows or columns)
            as soon as the file is read; by default they are logged.

    Returns:
        :func:`evaluate_table`'s metrics, with ``predictions`` (the file's path).

    Raises:
        ClinragError: One line: ``out`` cannot be written, the cohort is invalid or has no table, the file has
            errors or lacks rows or columns (without ``allow_missing``), or nothing can be scored.
    """
    from clinrag.data.cohort import cohort_inputs
    from clinrag.data.validate import load_cohort, read_predictions
    from clinrag.io import atomic_write_json, check_output_file

    if out is not None:
        check_output_file(out, "--out", inputs={**cohort_inputs(cohort_dir), "the predictions": predictions})
    cohort = load_cohort(cohort_dir)
    if cohort.table is None:
        raise ClinragError(f"{cohort_dir}/table.csv: missing, nothing to evaluate against")
    scored = list(cohort.table) if split == "all" else cohort.split_patients(split)
    table, issues = read_predictions(predictions, cohort, scored, allow_missing)
    for issue in issues:
        (warn or (lambda i: logger.warning("%s", i)))(issue)
    try:
        metrics = evaluate_table(cohort, table, split=None if split == "all" else split, spec=spec)
    except ValueError as error:
        raise ClinragError(f"{cohort_dir}: {error}") from error
    metrics["predictions"] = str(predictions)
    if out is not None:
        atomic_write_json(out, metrics)
    return metrics
