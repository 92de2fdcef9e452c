"""`clinrag explain`: one cell of a run, with its value, reference, passage (quote, document, type, date,
section) and the other candidates; unknown run folder, patient or variable in one line, exit 2."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from clinrag.data.validate import load_cohort
from clinrag.data.values import cells_match
from clinrag.errors import ClinragError
from clinrag.experiment.config import ExperimentConfig
from clinrag.experiment.explain import explain_cell, explanation_lines
from clinrag.experiment.runner import run_experiment
from clinrag.synth import write_synthetic_cohort
from clinrag.text.passages import build_passages

# candidates (integer, category), qualifiers (boolean) and the decoder (a date, read zero-shot)
VARIABLES = ["nihss_admission", "toast", "thrombolyse", "date_avc"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_llama_dir):
    """A run of 16 synthetic patients: BM25, the tiny decoder reading dates without LoRA."""
    root = tmp_path_factory.mktemp("explain")
    cohort_dir = root / "cohort"
    write_synthetic_cohort(cohort_dir, 16, seed=21)
    config = ExperimentConfig.model_validate(
        {
            "name": "explain",
            "variables": VARIABLES,
            "retriever": {"type": "bm25"},
            "retrieval": {"k": 2, "eval_ks": [1, 2]},
            "reader": {"model": str(tiny_llama_dir), "max_passage_chars": 80, "dates": "llm"},
            "training": {"reader": "none"},
            "evaluation": {"bootstrap": 50},
            "cell_batch": 8,
        }
    )
    result = run_experiment(
        config, root / "run", cohort_dir, root / "cache", progress=False, log=lambda m: None
    )
    records = [
        json.loads(line) for line in (result.run_dir / "provenance.jsonl").read_text("utf-8").splitlines()
    ]
    return result.run_dir, cohort_dir, config, records


def _record(records, predicate):
    found = next((r for r in records if predicate(r)), None)
    if found is None:
        pytest.skip("the tiny run has no such cell")
    return found


def _prediction(run_dir: Path, patient: str, variable: str) -> str:
    with (run_dir / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        return next(row[variable] for row in csv.DictReader(handle) if row["patient_id"] == patient)


def test_a_cell_chosen_among_candidates(tiny_run):
    run_dir, cohort_dir, config, records = tiny_run
    record = _record(records, lambda r: r.get("answered_by") == "candidates" and r["doc_id"])
    patient, variable = record["patient_id"], record["variable"]
    e = explain_cell(run_dir, patient, variable)

    cohort = load_cohort(cohort_dir)
    var = cohort.variable(variable)
    assert e.cell == _prediction(run_dir, patient, variable) != ""
    assert e.status == "documented" and e.answered_by == "candidates"
    assert e.score == pytest.approx(record["score"])
    assert e.candidates_found == record["candidates"]
    assert [[c.value, c.score] for c in e.alternatives] == record["alternatives"]
    # the evidence: the run's record, completed from the cohort as the run's passages were labelled
    document = cohort.document(record["doc_id"])
    passage = next(
        p
        for p in build_passages(cohort, config.chunking).passages
        if p.doc_id == record["doc_id"] and p.start == record["start"]
    )
    assert (e.evidence.doc_id, e.evidence.start, e.evidence.end) == (
        record["doc_id"],
        record["start"],
        record["end"],
    )
    assert e.evidence.quote == record["quote"] == document.text[record["start"] : record["end"]]
    assert e.evidence.date == record["date"] == document.date_str
    assert e.evidence.doc_type == document.doc_type
    assert e.evidence.section == passage.section
    # the reference: the table's cell
    assert e.reference == cohort.table[patient][variable]
    assert e.correct == cells_match(var, e.reference, e.cell)
    assert e.variable_type == var.type and e.cohort_dir == Path(cohort_dir).resolve()
    assert e.notes == []

    lines = explanation_lines(e)
    text = "\n".join(lines)
    assert lines[0].startswith(f"{patient} — {variable} ({var.type})")
    assert f"value:      {e.cell} " in text
    assert f"document {record['doc_id']}, type {document.doc_type}, dated {record['date']}" in text
    assert record["quote"].strip().splitlines()[0] in text
    assert f"reference:  {e.reference or 'not documented'}" in text
    for candidate in e.alternatives:
        assert candidate.value in text and f"{candidate.score:.4f}" in text


def test_a_cell_of_the_decoder_and_one_of_the_qualifiers(tiny_run):
    run_dir, _, _, records = tiny_run
    decoder = _record(records, lambda r: r["variable"] == "date_avc" and "answered_by" not in r)
    e = explain_cell(run_dir, decoder["patient_id"], "date_avc")
    assert e.answered_by == "decoder" and e.answer == decoder["answer"]
    assert "read by the decoder" in "\n".join(e.lines())

    boolean = _record(records, lambda r: r.get("answered_by") == "qualifiers")
    e = explain_cell(run_dir, boolean["patient_id"], boolean["variable"])
    assert e.answered_by == "qualifiers" and e.alternatives == []
    assert "qualifiers" in "\n".join(e.lines())


def test_a_cell_without_evidence(tiny_run):
    run_dir, _, _, records = tiny_run
    record = _record(records, lambda r: r["doc_id"] is None)
    e = explain_cell(run_dir, record["patient_id"], record["variable"])
    assert e.evidence is None
    assert "evidence:   none" in "\n".join(e.lines())


def test_the_cli_prints_the_cell(tiny_run, run_cli):
    run_dir, _, _, records = tiny_run
    record = _record(records, lambda r: r.get("answered_by") == "candidates" and r["doc_id"])
    result = run_cli(
        "explain", "--run", run_dir, "--patient", record["patient_id"], "--variable", record["variable"]
    )
    assert result.code == 0 and result.stderr == ""
    assert f"evidence:   document {record['doc_id']}" in result.stdout
    assert record["quote"].strip().splitlines()[0] in result.stdout  # patient text, on purpose


@pytest.mark.parametrize(
    "patient, variable, message",
    [
        ("NOPE", "toast", "unknown patient 'NOPE' (the run's patients: P"),
        (
            None,
            "nope",
            "unknown variable 'nope' (the run's variables: nihss_admission, toast, thrombolyse, date_avc)",
        ),
    ],
)
def test_unknown_patient_or_variable_is_one_line_exit_2(tiny_run, run_cli, patient, variable, message):
    run_dir, _, _, records = tiny_run
    patient = patient or records[0]["patient_id"]
    result = run_cli("explain", "--run", run_dir, "--patient", patient, "--variable", variable)
    assert result.code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"error: {run_dir}: {message}")


def test_unknown_run_folder_is_one_line_exit_2(tmp_path, run_cli):
    result = run_cli("explain", "--run", tmp_path / "absent", "--patient", "P1", "--variable", "toast")
    assert result.code == 2
    assert (
        result.stderr
        == f"error: {tmp_path / 'absent'}: no such run folder (see `clinrag run` or `clinrag fill`)\n"
    )
    result = run_cli("explain", "--run", tmp_path, "--patient", "P1", "--variable", "toast")
    assert result.code == 2 and "not a run folder (no provenance.jsonl" in result.stderr


def test_without_its_cohort_the_run_still_explains(tiny_run, tmp_path):
    """A run folder moved away from its cohort: what the run recorded, and a note; another cohort: a note."""
    run_dir, _, _, records = tiny_run
    record = _record(records, lambda r: r["doc_id"] is not None)
    moved = tmp_path / "run"
    shutil.copytree(run_dir, moved)
    manifest = json.loads((moved / "manifest.json").read_text(encoding="utf-8"))
    manifest["cohort"]["path"] = str(tmp_path / "gone")
    (moved / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    e = explain_cell(moved, record["patient_id"], record["variable"])
    assert e.evidence.quote == record["quote"] and e.evidence.doc_type is None and e.evidence.section is None
    assert e.reference is None and e.cohort_dir is None
    assert len(e.notes) == 1 and "cohort not read" in e.notes[0]

    other = write_synthetic_cohort(tmp_path / "other", 16, seed=22).root
    e = explain_cell(run_dir, record["patient_id"], record["variable"], cohort_dir=other)
    assert any("is not the cohort the run read" in note for note in e.notes)
    with pytest.raises(ClinragError, match="gone"):  # a cohort the user names must be readable
        explain_cell(run_dir, record["patient_id"], record["variable"], cohort_dir=tmp_path / "gone")


def test_an_unknown_variable_error_is_raised_by_the_library(tiny_run):
    run_dir, _, _, records = tiny_run
    with pytest.raises(ClinragError, match="unknown variable 'nope'"):
        explain_cell(run_dir, records[0]["patient_id"], "nope")
