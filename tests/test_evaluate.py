"""Evaluation: metrics by type, abstention, bootstrap intervals, the majority floor, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clinrag.baselines import MajorityBaseline
from clinrag.data.cohort import Cohort, Document
from clinrag.data.validate import load_cohort
from clinrag.data.variables import Variable
from clinrag.evaluation import BootstrapSpec, evaluate_table
from clinrag.evaluation.metrics import _macro_f1


def tiny_cohort(rows: dict[str, dict[str, str]]) -> Cohort:
    variables = [
        Variable(name="nihss", type="integer", description="NIHSS", minimum=0, maximum=42),
        Variable(name="glyc", type="number", description="glycémie", unit="mmol/L"),
        Variable(name="fa", type="boolean", description="FA"),
        Variable(name="toast", type="category", description="TOAST", values=["ce", "lac", "ind"]),
    ]
    import datetime as dt

    docs = [Document(pid, f"{pid}-1", dt.datetime(2024, 1, 1), "u", "texte") for pid in rows]
    return Cohort(
        variables,
        docs,
        table=rows,
        table_columns=[v.name for v in variables],
        splits={pid: "test" for pid in rows},
    )


GOLD = {
    "p1": {"nihss": "10", "glyc": "6.4", "fa": "true", "toast": "ce"},
    "p2": {"nihss": "3", "glyc": "", "fa": "false", "toast": "lac"},
    "p3": {"nihss": "", "glyc": "7.0", "fa": "false", "toast": ""},
    "p4": {"nihss": "20", "glyc": "5.5", "fa": "true", "toast": "ind"},
}


def test_hand_computed_metrics():
    pred = {
        "p1": {"nihss": "11", "glyc": "6.43", "fa": "true", "toast": "ce"},  # nihss off by one
        "p2": {"nihss": "3", "glyc": "5.0", "fa": "", "toast": "lac"},  # value on empty gold; fa abstained
        "p3": {"nihss": "", "glyc": "7", "fa": "true", "toast": ""},  # correct abstentions; fa wrong
        "p4": {"nihss": "douze", "glyc": "", "fa": "true", "toast": "ce"},  # invalid; false abstention
    }
    metrics = evaluate_table(tiny_cohort(GOLD), pred, spec=BootstrapSpec(200, seed=1))
    nihss = metrics["variables"]["nihss"]
    assert nihss["accuracy"] == 0.5 and nihss["invalid"] == 1
    assert nihss["mae"] == 0.5  # |11-10| and |3-3| over the two cells with both values
    assert nihss["within1"] == pytest.approx(2 / 3, abs=1e-4)  # 2 of 3 documented cells within one point
    glyc = metrics["variables"]["glyc"]
    assert glyc["accuracy"] == 0.5 and glyc["false_values"] == 1 and glyc["false_abstentions"] == 1
    fa = metrics["variables"]["fa"]
    assert fa["accuracy"] == 0.5
    assert fa["sensitivity"] == 1.0 and fa["specificity"] == 0.0
    toast = metrics["variables"]["toast"]
    assert toast["accuracy"] == 0.75
    # classes: none (1/1 right), ce (gold 1, pred 2, tp 1), lac (1/1), ind (gold 1, pred 0)
    assert toast["macro_f1"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4, abs=1e-4)
    assert metrics["overall"]["accuracy"] == pytest.approx((2 + 2 + 2 + 3) / 16, abs=1e-4)
    assert metrics["overall"]["n"] == 16 and metrics["overall"]["n_patients"] == 4


def test_missing_patient_counts_as_abstention():
    metrics = evaluate_table(tiny_cohort(GOLD), {}, spec=BootstrapSpec(50))
    assert metrics["overall"]["patients_without_predictions"] == 4
    # only the gold-empty cells are right when nothing is predicted
    assert metrics["overall"]["accuracy"] == pytest.approx(3 / 16, abs=1e-4)


def test_macro_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    gold, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert _macro_f1(gold, pred, 5) == pytest.approx(f1_score(gold, pred, average="macro"))


def test_bootstrap_interval_is_calibrated():
    """For a fixed 70% accuracy over 400 patients the interval is about ±4.5 points around the point estimate."""
    rows = {f"p{i}": {"nihss": "1", "glyc": "", "fa": "", "toast": ""} for i in range(400)}
    pred = {f"p{i}": {"nihss": "1" if i % 10 < 7 else "2"} for i in range(400)}
    metrics = evaluate_table(tiny_cohort(rows), pred, spec=BootstrapSpec(2000, seed=3), variables=["nihss"])
    low, high = metrics["variables"]["nihss"]["accuracy_ci"]
    assert metrics["variables"]["nihss"]["accuracy"] == 0.7
    assert low < 0.7 < high
    assert high - low == pytest.approx(2 * 1.96 * (0.7 * 0.3 / 400) ** 0.5, rel=0.15)


def test_gold_scores_one_and_majority_is_well_below(synth_cohort_dir):
    cohort = load_cohort(synth_cohort_dir)
    test = cohort.split_patients("test")
    gold = evaluate_table(cohort, {pid: cohort.table[pid] for pid in test}, spec=BootstrapSpec(200))
    assert gold["overall"]["accuracy"] == 1.0 and gold["overall"]["accuracy_ci"] == [1.0, 1.0]
    assert all(v["accuracy"] == 1.0 for v in gold["variables"].values())
    majority = MajorityBaseline().fit(cohort)
    scored = evaluate_table(cohort, majority.predict(test), spec=BootstrapSpec(200))
    assert scored["overall"]["accuracy"] < 0.6
    assert scored["overall"]["accuracy_ci"][1] < 0.7


def test_majority_learns_from_train_only(synth_cohort_dir):
    cohort = load_cohort(synth_cohort_dir)
    for pid in cohort.split_patients("test"):
        cohort.table[pid]["sexe"] = "homme"
    for pid in cohort.split_patients("train"):
        cohort.table[pid]["sexe"] = "femme"
    assert MajorityBaseline().fit(cohort).values["sexe"] == "femme"


def test_cli_evaluate_writes_contract_metrics(synth_cohort_dir, tmp_path, run_cli):
    preds = tmp_path / "majority.csv"
    result = run_cli("baseline", "--cohort", synth_cohort_dir, "--out", preds)
    assert result.code == 0, result.stderr
    result = run_cli(
        "evaluate",
        "--cohort",
        synth_cohort_dir,
        "--predictions",
        preds,
        "--out",
        tmp_path / "m.json",
        "--bootstrap",
        "100",
    )
    assert result.code == 0, result.stderr
    assert "overall" in result.stdout
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"accuracy", "accuracy_ci", "n"} <= set(metrics["overall"])
    for name, result_ in metrics["variables"].items():
        assert {"accuracy", "accuracy_ci", "n"} <= set(result_), name
    assert "mae" in metrics["variables"]["nihss_admission"] and "sensitivity" in metrics["variables"]["hta"]
    assert "macro_f1" in metrics["variables"]["toast"]


def test_cli_evaluate_bad_predictions(synth_cohort_dir, tmp_path, run_cli):
    result = run_cli("evaluate", "--cohort", synth_cohort_dir, "--predictions", tmp_path / "none.csv")
    assert result.code == 2 and "no such file" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,nihss_admission,poids\nP00001,3,70\n")
    result = run_cli("evaluate", "--cohort", synth_cohort_dir, "--predictions", bad)
    assert result.code == 2
    assert f"{bad}:1: field 'poids': column 'poids' is not a variable" in result.stderr
    assert "Traceback" not in result.stderr
    odd = tmp_path / "odd.csv"
    odd.write_text("patient_id,nihss_admission\nP00001,douze\n")
    # one patient, one column of the table: the other cells are scored as abstentions
    options = ("--split", "all", "--bootstrap", "20", "--allow-missing")
    result = run_cli("evaluate", "--cohort", synth_cohort_dir, "--predictions", odd, *options)
    assert result.code == 0
    assert "'douze' is not an integer; scored as an invalid answer" in result.stderr
    assert "scored as abstentions" in result.stderr
    result = run_cli("evaluate", "--cohort", synth_cohort_dir, "--predictions", odd, "--split", "validation")
    assert result.code == 2 and "invalid choice 'validation'" in result.stderr
