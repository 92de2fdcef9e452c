"""The segment-BiLSTM reader (``reader.type: segment_bilstm``): the text it reads, training from the table's weak
labels on a tiny cohort with a tiny random BERT built here, the trained folder (round trip, refused folders), a
run end to end through ``clinrag run`` and ``clinrag fill`` reusing the run's folder, and the config checks."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from clinrag.data.validate import load_cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.base import build_reader
from clinrag.generation.segment import (
    MODEL_FOLDER,
    RECORD_NAME,
    SegmentReader,
    SegmentReaderConfig,
    cell_view,
    held_out,
    read_reader_record,
)
from clinrag.synth import write_synthetic_cohort
from clinrag.text.passages import Passage

VARIABLES = ["nihss_admission", "fibrillation_atriale", "sexe", "date_avc", "glycemie_admission"]


def _passage(text: str, date: str, doc_index: int, start: int = 0) -> Passage:
    return Passage(
        "P1", f"D{doc_index}", start, start + len(text), text, date, "CR", "", doc_index, float(doc_index)
    )


# ---- what the encoder reads -------------------------------------------------------------------------------------
def test_a_cell_is_its_variable_then_the_passages_that_mention_it_in_date_order_with_offsets_back():
    from clinrag.text.annotate import Annotator

    var = Variable(
        name="nihss_admission",
        type="integer",
        description="Score NIHSS à l'arrivée",
        minimum=0,
        maximum=42,
        timepoint="admission",
        keywords=["NIHSS"],
    )
    late = _passage("Contrôle clinique : NIHSS à 4, marche seule.", "2024-03-05", 2, start=30)
    early = _passage("Arrivée aux urgences à 14 h. Déficit brachial, NIHSS 12.", "2024-03-01", 0)
    silent = _passage("Pas de nouvel événement, traitement inchangé.", "2024-06-01", 3)
    passages = [late, silent, early]  # retrieval order: the later note ranked first
    mentions = [a.mentions for a in Annotator([var]).annotate_texts([p.text for p in passages])]
    view = cell_view(var, passages, mentions, 30)
    lines = view.text.split("\n")
    assert lines[0] == "nihss_admission : Score NIHSS à l'arrivée (admission)"
    # date order, each line with its retrieval rank and day; the passage that mentions nothing is left out
    assert lines[1].startswith("[3] J0 CR : ") and lines[2].startswith("[1] J2 CR : ") and len(lines) == 3
    assert "Arrivée" not in lines[1] and "NIHSS 12" in lines[1]  # cut a little before the first mention
    assert sorted(v.cell for v in view.values) == [
        "12",
        "4",
    ]  # "14 h" is a duration, outside the window anyway
    for v in view.values:
        passage = passages[v.passage]
        assert view.text[v.start : v.end] == passage.text[v.offset : v.offset + v.end - v.start] == v.cell
    assert cell_view(var, [silent], mentions[1:2], 30).text == lines[0]


def test_the_held_out_patients_are_a_seeded_draw_and_never_all():
    patients = [f"P{i:03d}" for i in range(50)]
    first = held_out(patients, 0.2, 0)
    assert first == held_out(list(reversed(patients)), 0.2, 0) and 3 <= len(first) <= 20
    assert first != held_out(patients, 0.2, 1)
    assert held_out(patients, 0.0, 0) == set() and held_out(["P1"], 0.5, 0) == set()


# ---- training and the folder ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("segment-reader") / "cohort"
    write_synthetic_cohort(out, 16, seed=21)
    return out


def _requests(cohort, patients, variables, k=5):
    from clinrag.config import RetrievalSettings
    from clinrag.generation.pipeline import cell_requests, retrieving
    from clinrag.retrieval.pipeline import prepare_retrieval

    settings = RetrievalSettings.model_validate({"retriever": {"type": "bm25"}})
    store, retriever = prepare_retrieval(settings, cohort)
    cells = [(pid, cohort.variable(name)) for pid in patients for name in variables]
    return cell_requests(cells, store, retrieving(retriever, store, k), 1)


def _settings(encoder: Path, **train) -> SegmentReaderConfig:
    return SegmentReaderConfig(
        encoder=str(encoder),
        segment_length=64,
        lstm_hidden=16,
        train={"epochs": 8, "learning_rate": 1e-2, "batch_size": 8, **train},
    )


@pytest.fixture(scope="module")
def trained(tiny_cohort, tiny_encoder_dir, tmp_path_factory):
    cohort = load_cohort(tiny_cohort)
    requests = _requests(cohort, cohort.split_patients("train"), VARIABLES)
    folder = tmp_path_factory.mktemp("trained") / "segment_reader"
    record = SegmentReader.train_model(_settings(tiny_encoder_dir), cohort, requests, folder)
    return cohort, folder, record


def test_training_from_the_table_writes_a_self_describing_folder(trained):
    cohort, folder, record = trained
    assert (folder / RECORD_NAME).is_file() and (folder / MODEL_FOLDER / "clinrag_segment.json").is_file()
    assert read_reader_record(folder) == record
    assert record["clinrag_component"] == "segment_reader"
    assert record["variables"]["fibrillation_atriale"] == {"type": "boolean", "head": "boolean"}
    assert record["variables"]["sexe"]["head"] == "category:sexe"
    assert {
        record["variables"][n]["head"] for n in ("nihss_admission", "date_avc", "glycemie_admission")
    } == {"value"}
    training = record["training"]
    assert training["cells"] > 0 and training["held_out_patients"] >= 1
    segment = json.loads((folder / MODEL_FOLDER / "clinrag_segment.json").read_text(encoding="utf-8"))
    assert segment["heads"]["category:sexe"]["labels"][-1] == "non documenté"
    assert segment["heads"]["value"] == {"kind": "span", "labels": ["answer", "other"]}


def test_training_reads_the_table_never_the_gold_evidence(trained, tiny_cohort, tiny_encoder_dir, tmp_path):
    """The same cells without evidence.jsonl train the same weights; another table trains others."""
    cohort, folder, _ = trained
    bare = shutil.copytree(tiny_cohort, tmp_path / "bare")
    (bare / "evidence.jsonl").unlink()
    without = load_cohort(bare)
    assert not without.evidence and cohort.evidence
    requests = _requests(without, without.split_patients("train"), VARIABLES)
    SegmentReader.train_model(_settings(tiny_encoder_dir), without, requests, tmp_path / "no-evidence")
    heads = (folder / MODEL_FOLDER / "heads.safetensors").read_bytes()
    assert (tmp_path / "no-evidence" / MODEL_FOLDER / "heads.safetensors").read_bytes() == heads
    # flip every train patient's atrial fibrillation: the weights change (they come from the table)
    table = without.table
    for pid in without.split_patients("train"):
        cell = table[pid].get("fibrillation_atriale", "")
        table[pid]["fibrillation_atriale"] = {"true": "false", "false": "true"}.get(cell, "true")
    SegmentReader.train_model(_settings(tiny_encoder_dir), without, requests, tmp_path / "flipped")
    assert (tmp_path / "flipped" / MODEL_FOLDER / "heads.safetensors").read_bytes() != heads


def test_the_folder_loads_back_and_reads_with_provenance_or_an_explicit_abstention(trained, tmp_path):
    cohort, folder, _ = trained
    requests = _requests(cohort, cohort.split_patients("test"), VARIABLES)
    first = build_reader(SegmentReaderConfig(path=str(folder))).read(requests)
    moved = shutil.copytree(folder, tmp_path / "moved")
    again = build_reader(SegmentReaderConfig(path=str(moved))).read(requests)
    assert [(r.cell, r.score, r.raw) for r in first] == [(r.cell, r.score, r.raw) for r in again]
    assert len(first) == len(requests)
    for request, result in zip(requests, first, strict=True):
        assert result.failed is None and result.extra["answered_by"] == "segment_bilstm"
        var = request.variable
        if result.cell == "":
            assert result.raw == "non documenté" and result.support is None
            continue
        assert result.support is not None or var.type in ("boolean", "category")
        if var.type in ("integer", "number", "date"):
            document = cohort.document(result.support.doc_id).text
            assert result.support.start <= result.extra["value_start"] < result.extra["value_end"]
            assert result.extra["value_end"] <= result.support.end
            assert document[result.extra["value_start"] : result.extra["value_end"]] == result.raw


def test_a_folder_that_is_not_a_trained_reader_is_refused_in_one_line(trained, tmp_path):
    _, folder, _ = trained
    with pytest.raises(ClinragError, match="folder not found"):
        read_reader_record(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClinragError, match="not a clinrag segment reader folder"):
        read_reader_record(tmp_path / "empty")
    broken = shutil.copytree(folder, tmp_path / "broken")
    shutil.rmtree(broken / MODEL_FOLDER)
    with pytest.raises(ClinragError, match="model"):
        read_reader_record(broken)
    with pytest.raises(ClinragError, match="reader.path"):
        SegmentReader(SegmentReaderConfig())


# ---- clinrag run, fill ------------------------------------------------------------------------------------------
def _run_config(tmp_path: Path, encoder: Path, **reader) -> Path:
    config = {
        "variables": VARIABLES,
        "retriever": {"type": "bm25"},
        "retrieval": {"k": 1, "eval_ks": [1]},
        "reader": {
            "type": "segment_bilstm",
            "encoder": str(encoder),
            "segment_length": 64,
            "lstm_hidden": 16,
            "train": {"epochs": 4, "learning_rate": 1e-2},
            **reader,
        },
        "evaluation": {"bootstrap": 20},
        "cell_batch": 16,
    }
    path = tmp_path / "segment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_clinrag_run_trains_the_reader_and_fill_reuses_its_folder(
    tiny_cohort, tiny_encoder_dir, tmp_path, run_cli
):
    config = _run_config(tmp_path, tiny_encoder_dir)
    out = tmp_path / "run"
    result = run_cli(
        "run", config, "--cohort", tiny_cohort, "--out", out, "--cache", tmp_path / "cache", "-q"
    )
    assert result.code == 0, result.stderr
    assert "[reader]" in result.stderr and "[priors]" not in result.stderr
    folder = out / "models" / "segment_reader"
    record = read_reader_record(folder)
    assert set(record["variables"]) == set(VARIABLES)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["trained"]["segment_reader"]["run"] == "models/segment_reader"
    assert len(manifest["models"]["reader"]["sha256"]) == 64 and "decoder" not in manifest["models"]
    records = [
        json.loads(line) for line in (out / "provenance.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert records and {r["answered_by"] for r in records} == {"segment_bilstm"}
    cohort = load_cohort(tiny_cohort)
    for r in records:
        if r["doc_id"] is not None:
            assert r["quote"] == cohort.document(r["doc_id"]).text[r["start"] : r["end"]] and r["date"]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["overall"]["n"] == len(records) and metrics["reader"]["failed"] == 0
    shown = run_cli(
        "explain", "--run", out, "--patient", records[0]["patient_id"], "--variable", "nihss_admission"
    )
    assert shown.code == 0 and "segment-BiLSTM reader" in shown.stdout, shown.stderr

    filled = tmp_path / "filled"
    result = run_cli(
        "fill", "--cohort", tiny_cohort, "--run", out, "--out", filled, "--patients", "test", "-q"
    )
    assert result.code == 0, result.stderr
    with (filled / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == list(
            csv.DictReader((out / "predictions.csv").open(encoding="utf-8"))
        )
    # without the run's folder, fill stops in one line
    shutil.rmtree(folder)
    result = run_cli(
        "fill", "--cohort", tiny_cohort, "--run", out, "--out", tmp_path / "f2", "--patients", "test"
    )
    assert result.code == 2 and "models/segment_reader is missing" in result.stderr
    assert not (tmp_path / "f2" / "predictions.csv").exists()


def test_bad_segment_reader_settings_are_one_line_before_any_stage(
    tiny_cohort, tiny_encoder_dir, tmp_path, run_cli
):
    config = _run_config(tmp_path, tiny_encoder_dir)
    args = ["--cohort", tiny_cohort, "--out", tmp_path / "out", "--cache", tmp_path / "cache", "-q"]
    for overrides, words in [
        (["reader.train.epoch=3"], "reader.train.epoch"),
        (["reader.path=" + str(tmp_path)], "reader.path is set and training.reader=lora"),
        (["training.reader=none"], "give a trained folder (reader.path)"),
        (["training.reader=none", f"reader.path={tmp_path}"], "not a clinrag segment reader folder"),
        (["reader.encoder=" + str(tmp_path / "nope")], "nope"),
    ]:
        result = run_cli("run", config, *overrides, *args)
        assert result.code == 2 and words in result.stderr, (overrides, result.stderr)
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "out").exists()


def test_the_shipped_config_is_the_segment_reader_with_its_defaults():
    from clinrag.experiment.config import load_experiment

    config = load_experiment(Path(__file__).resolve().parents[1] / "configs" / "segment_reader.yaml")
    assert config.reader == SegmentReaderConfig() and config.training.reader == "lora"
    assert load_experiment(None, ["reader.type=segment_bilstm"]).reader.passages == 5
