"""Outcome study: poor 3-month outcome predicted from known and from filled admission variables."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from clinrag.baselines import MajorityBaseline
from clinrag.data.cohort import Cohort, table_to_csv
from clinrag.data.validate import load_cohort
from clinrag.errors import ClinragError
from clinrag.evaluation.bootstrap import BootstrapSpec, resample_counts
from clinrag.evaluation.outcome import (
    DEFAULT_FEATURES,
    OutcomeSpec,
    evaluate_outcome,
    outcome_markdown,
    weighted_auc,
)
from clinrag.synth import write_synthetic_cohort

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "outcome.py"
FAST = BootstrapSpec(200, seed=0)


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    """A 200-patient synthetic cohort (0.5 s to write). With 80 patients (seed 7) the test split holds 15
    patients with a known outcome, 5 of them poor, and the known-table AUC is 0.46: too few to test anything."""
    out = tmp_path_factory.mktemp("outcome") / "synth200"
    write_synthetic_cohort(out, 200, seed=7)
    return out


@pytest.fixture(scope="module")
def cohort(cohort_dir) -> Cohort:
    return load_cohort(cohort_dir)


@pytest.fixture(scope="module")
def script():
    """experiments/outcome.py, imported as a module (its ``main`` returns the exit status)."""
    spec = importlib.util.spec_from_file_location("outcome_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blank_admission(table: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The table with every admission feature erased (the outcome and other variables kept)."""
    return {
        pid: {k: "" if k in DEFAULT_FEATURES else v for k, v in row.items()} for pid, row in table.items()
    }


def test_weighted_auc_matches_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    scores = rng.integers(0, 6, 40) / 5  # many ties
    assert weighted_auc(labels, scores, np.ones((1, 40)))[0] == pytest.approx(roc_auc_score(labels, scores))
    counts = resample_counts(40, BootstrapSpec(5, seed=1))
    for row in counts:
        expanded = np.repeat(np.arange(40), row.astype(int))
        expected = roc_auc_score(labels[expanded], scores[expanded])
        assert weighted_auc(labels, scores, row[None])[0] == pytest.approx(expected)
    one_class = weighted_auc(np.ones(4, dtype=int), np.arange(4.0), np.ones((1, 4)))
    assert np.isnan(one_class[0])


def test_filled_equal_to_known_gives_identical_metrics(cohort):
    result = evaluate_outcome(cohort, cohort.table, bootstrap=FAST)
    known, filled = result["conditions"]["known"], result["conditions"]["filled"]
    for metric in ("n", "n_positive", "auc", "auc_ci", "brier", "brier_ci", "accuracy", "accuracy_ci"):
        assert known[metric] == filled[metric], metric
    assert result["conditions"]["filled_refit"]["auc"] == known["auc"]  # same data, same fit
    diff = result["differences"]["auc_known_minus_filled"]
    assert diff["value"] == 0 and diff["ci"] == [0, 0] and diff["p_bootstrap"] == 1
    assert result["filled_features"]["agreement"] == 1
    assert result["test"]["n"] + result["test"]["excluded_unknown_outcome"] == len(
        cohort.split_patients("test")
    )
    assert result["test"]["excluded_unknown_outcome"] > 0  # lost to follow-up: left out, and counted
    assert "| known | train, known table | known table |" in outcome_markdown(result)


def test_known_table_predicts_outcome_well_above_chance(cohort):
    # The generator drives mRS at 3 months from pre-stroke mRS and NIHSS at discharge, itself from admission
    # NIHSS and revascularization: admission variables carry the signal.
    known = evaluate_outcome(cohort, cohort.table, bootstrap=FAST)["conditions"]["known"]
    assert known["auc"] > 0.75
    assert known["auc_ci"][0] > 0.5
    reference = evaluate_outcome(cohort, cohort.table, bootstrap=FAST)["brier_prevalence_reference"]
    assert known["brier"] < reference


def test_blank_admission_values_lower_auc_and_are_still_scored(cohort):
    blank = blank_admission(cohort.table)
    result = evaluate_outcome(cohort, blank, bootstrap=FAST)
    known, filled = result["conditions"]["known"], result["conditions"]["filled"]
    # Every feature missing: the missing indicators are all on, every patient gets the same score.
    assert filled["auc"] == 0.5 and filled["brier"] is not None and filled["n"] == known["n"]
    assert filled["auc"] <= known["auc"]
    diff = result["differences"]["auc_known_minus_filled"]
    assert diff["value"] > 0 and diff["ci"][0] > 0
    assert result["filled_features"]["missing"] == result["filled_features"]["cells"]
    # The refit model learns the prevalence from the filled outcome; it still ranks no one.
    assert result["conditions"]["filled_refit"]["auc"] == 0.5


def test_majority_baseline_and_partial_coverage_skip_the_refit(cohort):
    majority = MajorityBaseline().fit(cohort).predict(cohort.patients)
    result = evaluate_outcome(cohort, majority, bootstrap=FAST)
    assert result["conditions"]["filled"]["auc"] == 0.5  # one row for everyone
    assert "same outcome class" in result["conditions"]["filled_refit"]["skipped"]
    test_only = {pid: cohort.table[pid] for pid in cohort.split_patients("test")}
    result = evaluate_outcome(cohort, test_only, bootstrap=FAST)
    assert "lacks" in result["conditions"]["filled_refit"]["skipped"]
    assert set(result["differences"]) == {"auc_known_minus_filled"}
    assert "skipped" in outcome_markdown(result)


def test_library_errors(cohort):
    with pytest.raises(ClinragError, match="not a variable"):
        evaluate_outcome(cohort, cohort.table, spec=OutcomeSpec(outcome="mrs_6_mois"))
    with pytest.raises(ClinragError, match="type date"):
        evaluate_outcome(cohort, cohort.table, spec=OutcomeSpec(features=("age", "date_avc")))
    skipped = evaluate_outcome(
        cohort, cohort.table, spec=OutcomeSpec(features=("age", "taille")), bootstrap=FAST
    )
    assert skipped["features"] == ["age"] and skipped["features_skipped"] == ["taille"]


def test_cli_writes_results(script, cohort, cohort_dir, tmp_path, capsys):
    filled = tmp_path / "predictions.csv"
    filled.write_text(
        table_to_csv(cohort.table_columns, blank_admission(cohort.table).items()), encoding="utf-8"
    )
    out = tmp_path / "out"
    args = ["--cohort", cohort_dir, "--filled", filled, "--out", out, "--bootstrap", "50"]
    assert script.main([str(a) for a in args]) == 0
    stdout = capsys.readouterr().out
    assert "| condition | model fitted on |" in stdout
    result = json.loads((out / "outcome.json").read_text(encoding="utf-8"))
    assert result["inputs"]["filled"] == str(filled)
    assert result["conditions"]["filled"]["auc"] == 0.5
    assert (out / "outcome.md").read_text(encoding="utf-8") in stdout


@pytest.mark.parametrize("problem", ["test patients absent", "missing file", "no table", "unknown outcome"])
def test_cli_bad_input_exits_2_with_one_line(script, cohort, cohort_dir, tmp_path, capsys, problem):
    import shutil

    filled = tmp_path / "predictions.csv"
    rows = cohort.table.items()
    if problem == "test patients absent":
        test = set(cohort.split_patients("test"))
        rows = [(pid, cells) for pid, cells in rows if pid not in test]
    filled.write_text(table_to_csv(cohort.table_columns, rows), encoding="utf-8")
    cohort_arg, extra = cohort_dir, []
    if problem == "missing file":
        filled = tmp_path / "nowhere.csv"
    elif problem == "no table":
        cohort_arg = tmp_path / "cohort"
        shutil.copytree(cohort_dir, cohort_arg)
        (cohort_arg / "table.csv").unlink()
    elif problem == "unknown outcome":
        extra = ["--outcome", "mrs_6_mois"]
    args = ["--cohort", cohort_arg, "--filled", filled, "--out", tmp_path / "out", *extra]
    assert script.main([str(a) for a in args]) == 2
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("error: ") and "\n" not in stderr and "Traceback" not in stderr
    expected = {
        "test patients absent": "lacks",
        "missing file": "no such file",
        "no table": "table.csv",
        "unknown outcome": "mrs_6_mois",
    }[problem]
    assert expected in stderr
    assert not (tmp_path / "out").exists()
