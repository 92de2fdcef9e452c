"""The trainable identifier model (a segment encoder + BiLSTM tagging the 13 eds-pseudo labels), models of earlier
clinrag versions, the default model trained at setup, and `train-pseudo`. Every model is built in code from a tiny
random encoder (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinrag.data.validate import load_cohort
from clinrag.errors import ClinragError
from clinrag.pseudo.corpora import Note, cohort_notes
from clinrag.pseudo.labels import LABELS
from clinrag.pseudo.ner import Example, NerConfig, NerDetector, load_detector_model
from clinrag.pseudo.pipeline import (
    HybridDetector,
    ModelDetector,
    PseudoConfig,
    build_detector,
    detect_notes,
    detect_record,
    evaluate_detection,
    pseudonymize_cohort,
)

TINY = {"segment_length": 48, "lstm_hidden": 32, "epochs": 12, "learning_rate": 2e-2, "batch_size": 8}


def _beginnings(notes, size=300):
    """The notes' first ``size`` characters with their spans (short texts: a BiLSTM reads tokens one by one)."""
    return [
        Note(n.note_id, n.group, n.text[:size], tuple(s for s in n.spans if s.end <= size)) for n in notes
    ]


def _write_eds(path, count=12):
    lines = [
        json.dumps(
            {
                "note_id": str(i),
                "note_text": f"Vu par le Dr Jean DUPONT le {i:02d}/03/2024.",
                "entities": [
                    {"start": 13, "end": 17, "label": "PRENOM"},
                    {"start": 18, "end": 24, "label": "NOM"},
                    {"start": 28, "end": 38, "label": "DATE"},
                ],
            }
        )
        for i in range(1, count + 1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tiny_encoder_dir, synth_cohort_dir):
    cohort = load_cohort(synth_cohort_dir)
    notes = _beginnings(cohort_notes(cohort, cohort.split_patients("train"))[:60])
    config = NerConfig(encoder=str(tiny_encoder_dir), **TINY)
    return NerDetector.train([Example(n.text, n.spans) for n in notes], config, data={"what": "test"}), notes


def test_training_learns_the_identifiers(trained, synth_cohort_dir):
    detector, _ = trained
    losses = detector.summary["epoch_losses"]
    assert losses[-1] < 0.5 * losses[0]
    assert detector.summary["data"] == {"what": "test"} and detector.summary["settings"]["epochs"] == TINY["epochs"]
    cohort = load_cohort(synth_cohort_dir)
    held_out = _beginnings(cohort_notes(cohort, cohort.split_patients("test"))[:30])
    predicted = detector.predict([n.text for n in held_out])
    result = evaluate_detection(held_out, predicted)
    assert result["redact"] > 0.5  # a frozen 2-layer random encoder of hidden size 32, trained for seconds
    for note, spans in zip(held_out, predicted, strict=True):
        assert all(s.text == note.text[s.start : s.end] and s.source == "model" for s in spans)
        assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))  # sorted, no overlap


def test_long_texts_are_read_whole_across_segments(trained):
    detector, notes = trained
    text = notes[0].text
    spans = detector.predict([" ".join([text] * 6), "", text])
    assert spans[1] == []
    assert len(spans[0]) >= 3 * len(spans[2]) > 0  # every copy is read, not only the first segments


def test_the_threshold_trades_recall_for_precision(trained):
    detector, notes = trained
    texts = [n.text for n in notes[:10]]
    before = detector.threshold
    try:
        detector.threshold = 0.05
        loose = sum(len(s) for s in detector.predict(texts))
        detector.threshold = 0.95
        strict = sum(len(s) for s in detector.predict(texts))
    finally:
        detector.threshold = before
    assert loose > strict


def test_save_and_load_give_the_same_predictions(tmp_path, trained):
    detector, notes = trained
    detector.save(tmp_path / "ner")
    record = json.loads((tmp_path / "ner" / "clinrag_segment.json").read_text())
    assert record["clinrag_component"] == "segment_model"
    assert record["heads"]["identifiers"] == {"kind": "tagging", "labels": list(LABELS)}
    loaded = load_detector_model(tmp_path / "ner")
    assert isinstance(loaded, NerDetector)
    texts = [n.text for n in notes[:5]]
    assert loaded.predict(texts) == detector.predict(texts)
    hybrid = build_detector(PseudoConfig(detector="hybrid", model=str(tmp_path / "ner")))
    assert hybrid.note is None and detect_notes(hybrid, notes[:3])
    with pytest.raises(ClinragError, match="not empty"):
        detector.save(tmp_path / "ner")


def test_training_is_seeded(tiny_encoder_dir, trained):
    _, notes = trained
    config = NerConfig(encoder=str(tiny_encoder_dir), **{**TINY, "epochs": 2})
    examples = [Example(n.text, n.spans) for n in notes[:8]]
    first = NerDetector.train(examples, config)
    second = NerDetector.train(examples, config)
    assert first.summary["epoch_losses"] == second.summary["epoch_losses"]
    texts = [n.text for n in notes[8:12]]
    assert first.predict(texts) == second.predict(texts)


def test_folders_that_are_not_identifier_models_are_refused(tmp_path, tiny_encoder_dir):
    with pytest.raises(ClinragError, match="identifier model folder not found"):
        load_detector_model(tmp_path / "absent")
    with pytest.raises(ClinragError, match="not a clinrag identifier model folder"):
        load_detector_model(tmp_path)
    with pytest.raises(ClinragError, match="not a model folder"):
        NerDetector.train([Example("x", ())], NerConfig(encoder=str(tmp_path)))
    with pytest.raises(ClinragError, match="no training text"):
        NerDetector.train([], NerConfig(encoder=str(tiny_encoder_dir)))
    # a segment model of another task: no identifier head
    from clinrag.encoders.segment import HeadConfig, SegmentConfig, SegmentModel, TextExample

    other = SegmentModel(
        SegmentConfig(encoder=str(tiny_encoder_dir), heads={"kind": HeadConfig(kind="class")}, epochs=1)
    )
    other.fit([TextExample("un texte", {"kind": "a"}), TextExample("un autre", {"kind": "b"})])
    other.save(tmp_path / "other")
    with pytest.raises(ClinragError, match="without an identifier head"):
        load_detector_model(tmp_path / "other")


def test_a_token_classification_model_of_an_earlier_clinrag_still_loads(tmp_path, tiny_encoder_dir):
    """Folders written by the earlier `train-pseudo` (clinrag_ner.json + a *ForTokenClassification model)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from clinrag.pseudo._token_ner import TAGS, TokenNerDetector

    folder = tmp_path / "old-ner"
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    config = BertConfig.from_pretrained(tiny_encoder_dir, num_labels=len(TAGS))
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():  # every token a date, surely: the classifier's bias says so
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-5.0)
        model.classifier.bias[TAGS.index("B-DATE")] = 5.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    record = {
        "clinrag_component": "ner_detector",
        "config": {"max_length": 32, "stride": 8},
        "tags": list(TAGS),
    }
    (folder / "clinrag_ner.json").write_text(json.dumps(record), encoding="utf-8")
    loaded = load_detector_model(folder)
    assert isinstance(loaded, TokenNerDetector)
    text = "Vu le 12/03/2024 puis le 14/03/2024 " * 4  # longer than one window
    spans = loaded.predict([text])[0]
    assert [s.text for s in spans] == [
        "12/03/2024",
        "14/03/2024",
    ] * 4  # only plausible dates, read in windows
    hybrid = build_detector(PseudoConfig(model=str(folder)))
    assert isinstance(hybrid.ner, TokenNerDetector) and hybrid.detect([text], [()])[0]
    (folder / "clinrag_ner.json").write_text(json.dumps({**record, "tags": ["O"]}), encoding="utf-8")
    with pytest.raises(ClinragError, match="13 eds-pseudo labels"):
        load_detector_model(folder)


def test_the_second_pass_does_not_run_the_model_again(trained):
    detector, notes = trained
    calls = []
    original = detector.predict

    def counted(texts):
        calls.append(len(texts))
        return original(texts)

    detector.predict = counted
    try:
        hybrid = HybridDetector(PseudoConfig(detector="hybrid"), detector)
        detect_record(hybrid, [n.text for n in notes[:4]], propagate_names=True)
    finally:
        del detector.predict
    assert calls == [4]


# ---------------------------------------------------------------------------------------------------------
# the default model, trained once at setup
# ---------------------------------------------------------------------------------------------------------
def test_without_a_prepared_model_hybrid_falls_back_to_the_rules_and_says_so(synth_cohort_dir):
    from clinrag.pseudo.pipeline import NO_MODEL_NOTE, RuleDetector

    detector = build_detector(PseudoConfig())
    assert isinstance(detector, HybridDetector) and detector.ner is None and detector.note == NO_MODEL_NOTE
    texts = [d.text for d in load_cohort(synth_cohort_dir).documents[:5]]
    rules = RuleDetector(PseudoConfig(detector="rules"))
    assert detector.detect(texts, [()] * 5) == rules.detect(texts, [()] * 5)
    with pytest.raises(ClinragError, match="needs a trained identifier model"):
        ModelDetector(PseudoConfig(detector="model"))


def test_the_commands_say_when_they_detect_with_the_rules_alone(run_cli, synth_cohort_dir, tmp_path):
    result = run_cli("pseudonymize", "--cohort", synth_cohort_dir, "--out", tmp_path / "p", "--seed", "1")
    assert result.code == 0, result.stderr
    assert "note: the default identifier model is not prepared" in result.stderr
    summary = json.loads((tmp_path / "p" / "pseudonymization.json").read_text())
    assert summary["detector"] == "hybrid (rules only: no identifier model)" and "note" in summary
    rules = run_cli(
        "pseudonymize",
        "--cohort",
        synth_cohort_dir,
        "--out",
        tmp_path / "r",
        "--seed",
        "1",
        "--detector",
        "rules",
    )
    assert rules.code == 0 and "note:" not in rules.stderr
    # the same text either way: hybrid without a model is the rules
    assert (tmp_path / "p" / "documents.jsonl").read_bytes() == (
        tmp_path / "r" / "documents.jsonl"
    ).read_bytes()
    scored = run_cli("evaluate-pseudo", "--cohort", synth_cohort_dir, "--out", tmp_path / "m.json")
    assert scored.code == 0 and "note: the default identifier model" in scored.stderr


def test_the_default_model_is_trained_once_and_then_used(
    tmp_path, monkeypatch, tiny_encoder_dir, synth_cohort_dir
):
    from clinrag.models import default_identifier_model, list_models
    from clinrag.pseudo import default_model

    monkeypatch.setenv("CLINRAG_CACHE_DIR", str(tmp_path / "cache"))  # a private one: others see no model
    eds = _write_eds(tmp_path / "eds.jsonl")
    config = NerConfig(encoder=str(tiny_encoder_dir), **{**TINY, "epochs": 1})
    assert default_identifier_model() is None

    def prepare(files, force=False):
        return default_model.prepare_identifier_model(files, force=force, config=config, synthetic_patients=3)

    first = prepare([eds])
    assert first.trained and first.folder == default_identifier_model()
    assert first.data["eds_pseudo"][0]["notes"] == 12 and first.data["synthetic"]["patients"] == 3
    assert first.data["synthetic"]["documents"] > 0
    stamp = (first.folder / "heads.safetensors").stat().st_mtime_ns
    again, without = prepare([eds]), prepare([])  # without data, a prepared model is never replaced
    assert not again.trained and not without.trained
    assert (first.folder / "heads.safetensors").stat().st_mtime_ns == stamp
    assert prepare([eds], force=True).trained
    assert any(row["name"] == "pseudo-identifiers" and row["status"] == "prepared" for row in list_models())
    detector = build_detector(PseudoConfig())
    assert detector.ner is not None and detector.note is None
    cohort = load_cohort(synth_cohort_dir)
    result = pseudonymize_cohort(cohort, PseudoConfig(), seed=3)
    assert result.detector.startswith("hybrid (rules + model ") and str(first.folder) in result.detector


def test_models_prepare_checks_the_eds_pseudo_file_first(run_cli, tmp_path):
    result = run_cli("models", "prepare", "--eds-pseudo", tmp_path / "absent.jsonl")
    assert result.code == 2 and "absent.jsonl: file not found (--eds-pseudo)" in result.stderr


# ---------------------------------------------------------------------------------------------------------
# train-pseudo
# ---------------------------------------------------------------------------------------------------------
def test_train_pseudo_command(run_cli, tmp_path, tiny_encoder_dir):
    data = _write_eds(tmp_path / "notes.jsonl")
    out = tmp_path / "ner"
    args = ["train-pseudo", "--eds-pseudo", data, "--out", out, "--set", f"encoder={tiny_encoder_dir}"]
    result = run_cli(*args, "--set", "epochs=1", "--set", "segment_length=32")
    assert result.code == 0, result.stderr
    assert (out / "clinrag_segment.json").is_file() and "12 texts" in result.stdout
    assert isinstance(load_detector_model(out), NerDetector)
    again = run_cli(*args, "--set", "epochs=1")
    assert again.code == 2 and "--overwrite" in again.stderr
    replaced = run_cli(*args, "--set", "epochs=1", "--overwrite")
    assert replaced.code == 0, replaced.stderr
    missing = run_cli("train-pseudo", "--out", tmp_path / "x")
    assert missing.code == 2 and "nothing to train on" in missing.stderr
    wrong = run_cli(
        "train-pseudo", "--eds-pseudo", data, "--out", tmp_path / "y", "--set", "encoder=/nowhere"
    )
    assert wrong.code == 2 and "/nowhere" in wrong.stderr and not (tmp_path / "y").exists()


def test_pseudo_study_reads_set_as_train_pseudo_does_and_refuses_a_wrong_key_before_any_work(tmp_path):
    """experiments/pseudo_study.py --set KEY=VALUE goes through train-pseudo's parser: a wrong key is one line
    naming the override, exit code 2, no output folder made."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "study"
    run = subprocess.run(
        [sys.executable, str(root / "experiments/pseudo_study.py"), "--out", str(out)]
        + ["--set", "augment.method=rules", "--set", "augment.methd=rules"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    assert "override 'augment.methd=rules': unknown field 'augment.methd'" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()
