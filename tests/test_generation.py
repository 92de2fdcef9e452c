"""Generation: constrained answers always parse, provenance quotes the document, LoRA adapters round-trip."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from clinrag.data.validate import load_cohort
from clinrag.data.values import canonical_cell
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.config import LoraConfig, ReaderConfig
from clinrag.generation.constraints import NOT_DOCUMENTED, answer_regex, answer_text, options, parse_answer
from clinrag.generation.decoder import Decoder
from clinrag.generation.lora import train_lora, training_pairs, training_target
from clinrag.generation.pipeline import fill_cells, provenance_records, write_predictions
from clinrag.generation.reader import CellRequest, FullRecordReader, LLMReader
from clinrag.retrieval.bm25 import BM25Retriever
from clinrag.text.annotate import Mention
from clinrag.text.passages import Passage, build_passages


@pytest.fixture(scope="module")
def cohort(synth_cohort_dir):
    return load_cohort(synth_cohort_dir)


@pytest.fixture(scope="module")
def store(cohort):
    return build_passages(cohort)


@pytest.fixture(scope="module")
def bm25(store):
    retriever = BM25Retriever()
    retriever.index(store)
    return retriever


@pytest.fixture(scope="module")
def decoder(tiny_llama_dir):
    return Decoder(ReaderConfig(model=str(tiny_llama_dir), batch_size=8, max_new_tokens=12))


def test_options_and_regexes(cohort):
    assert options(cohort.variable("hta"), 128) == {"oui": "true", "non": "false", NOT_DOCUMENTED: ""}
    nihss = options(cohort.variable("nihss_admission"), 128)
    assert len(nihss) == 44 and nihss["42"] == "42"
    assert options(cohort.variable("age"), 50) is None  # 93 values: generated under a grammar instead
    assert options(cohort.variable("glycemie_admission"), 128) is None
    assert "g/L" in answer_regex(cohort.variable("glycemie_admission"))


def test_parse_answer_never_guesses(cohort):
    glyc = cohort.variable("glycemie_admission")
    assert parse_answer(glyc, "1,32 g/L").cell == canonical_cell(glyc, "1,32 g/L")
    assert parse_answer(glyc, NOT_DOCUMENTED).cell == ""
    failed = parse_answer(cohort.variable("nihss_admission"), "99")
    assert failed.cell == "" and "above the maximum" in failed.failed
    date = parse_answer(cohort.variable("date_avc"), "2024-13-45")
    assert date.failed and date.cell == ""


def _random_request(cohort, store, rng: random.Random) -> CellRequest:
    var = rng.choice(cohort.variables)
    passages = rng.sample(store.passages, rng.randint(0, 4))
    if rng.random() < 0.3:  # garbage text too
        passages = [
            Passage(
                "x",
                "x",
                0,
                10,
                "".join(rng.choice("abcdéè0123456789 ,.;:/\n") for _ in range(rng.randint(1, 300))),
                "2024-01-01",
                "u",
                "",
                0,
                0.0,
            )
        ]
    return CellRequest("P00001", var, passages)


def test_every_answer_parses_or_is_null_on_any_prompt(cohort, store, decoder):
    """Random prompts through a random tiny Llama: every cell is canonical for its variable, or empty."""
    reader = LLMReader(ReaderConfig(model="unused", batch_size=8, max_new_tokens=12), decoder=decoder)
    rng = random.Random(0)
    requests = [_random_request(cohort, store, rng) for _ in range(60)]
    results = reader.read(requests)
    assert len(results) == len(requests)
    for request, result in zip(requests, results, strict=True):
        if result.cell:
            assert canonical_cell(request.variable, result.cell) == result.cell
        if result.failed:
            assert result.cell == ""
        assert 0.0 <= result.score <= 1.0 + 1e-6
    assert any(
        r.variable in ("age", "glycemie_admission", "date_avc", "ldl") for r in results
    )  # grammar path ran


def test_option_scores_match_full_forward(decoder):
    """Scoring with the shared prompt cache equals scoring each prompt+answer from scratch."""
    import torch

    ids = decoder.prompt_ids([{"role": "user", "content": "NIHSS à l'arrivée : 12."}])
    answers = ["12", "1", NOT_DOCUMENTED, "oui"]
    scored = decoder.score_options(decoder.encode(ids), answers)
    for answer, total in zip(answers, scored.logprobs, strict=True):
        full = ids + decoder.answer_ids(answer)
        with torch.no_grad():
            logits = decoder.model(torch.tensor([full])).logits[0].float()
        logprobs = torch.log_softmax(logits, -1)
        expected = sum(float(logprobs[len(ids) - 1 + i, tok]) for i, tok in enumerate(full[len(ids) :]))
        assert total == pytest.approx(expected, abs=1e-3)


def test_prefix_cache_reuse_is_exact(decoder):
    a = decoder.prompt_ids([{"role": "user", "content": "Dossier : NIHSS 12. Question : NIHSS ?"}])
    b = decoder.prompt_ids([{"role": "user", "content": "Dossier : NIHSS 12. Question : mRS ?"}])
    reused = decoder.encode(b, decoder.encode(a))
    fresh = decoder.encode(b)
    np.testing.assert_allclose(reused[2].numpy(), fresh[2].numpy(), atol=1e-4)


def test_provenance_quotes_the_document(cohort, store, bm25, decoder, tmp_path):
    reader = LLMReader(ReaderConfig(model="unused"), decoder=decoder)
    patients = cohort.split_patients("test")[:2]
    variables = [cohort.variable(n) for n in ("hta", "nihss_admission", "toast")]
    results = fill_cells(cohort, patients, variables, reader, store, bm25, k=3)
    records = provenance_records(cohort, results)
    for record in records:
        if record["doc_id"] is not None:
            text = cohort.document(record["doc_id"]).text
            assert record["quote"] == text[record["start"] : record["end"]]
        assert record["status"] in {"documented", "not_documented", "failed"}
    write_predictions(tmp_path, cohort, results, [v.name for v in variables])
    assert (tmp_path / "predictions.csv").read_text().splitlines()[
        0
    ] == "patient_id,hta,nihss_admission,toast"
    assert len((tmp_path / "provenance.jsonl").read_text().splitlines()) == len(results)


def test_supporting_passage_states_the_value():
    from clinrag.generation.reader import supporting_passage
    from clinrag.text.annotate import Annotator

    var = Variable(
        name="nihss", type="integer", description="NIHSS", minimum=0, maximum=42, keywords=["NIHSS"]
    )
    passages = [
        Passage("p", "d1", 0, 20, "NIHSS à H24 : 8.", "2024-01-02", "u", "", 0, 0.0),
        Passage("p", "d0", 0, 22, "NIHSS à l'arrivée : 12.", "2024-01-01", "u", "", 0, 0.0),
    ]
    mentions = [a.mentions for a in Annotator([var]).annotate_texts([p.text for p in passages])]
    assert supporting_passage(var, "12", passages, mentions).doc_id == "d0"
    assert supporting_passage(var, "", passages, mentions) is None


def test_full_record_reader_reads_everything(cohort, decoder):
    reader = FullRecordReader(
        ReaderConfig(type="full_record", model="unused", context_tokens=256), decoder=decoder
    )
    pid = cohort.split_patients("test")[0]
    chunks = reader.chunks(cohort, pid)
    assert len(chunks) > 1  # a small window splits the record
    joined = "".join(text for text, _ in chunks)
    for doc in cohort.documents_of(pid):
        assert doc.text.strip()[:50] in joined.replace("\n", "\n")
    results = reader.read_patient(cohort, pid, [cohort.variable("hta"), cohort.variable("ldl")])
    assert [r.variable for r in results] == ["hta", "ldl"]
    assert all(r.tokens > 256 for r in results)


def test_training_targets(cohort, store, bm25):
    glyc = cohort.variable("glycemie_admission")
    request = CellRequest(
        "p", glyc, [Passage("p", "d", 0, 30, "Glycémie capillaire 1,32 g/L.", "2024-01-01", "u", "", 0, 0.0)]
    )
    assert training_target(glyc, "7.3", request) == "1,32 g/L"
    assert training_target(cohort.variable("hta"), "true", request) == "oui"
    assert answer_text(cohort.variable("toast"), "autre_cause") == "autre cause"
    patients = cohort.split_patients("train")[:2]
    pairs = training_pairs(cohort, store, bm25, patients, 3, weak_evidence=False)
    assert len(pairs) == 2 * len(cohort.table_columns)
    assert all(target for _, target in pairs)
    # with weak evidence, the same pairs, some shown the passage that states their value
    supervised = training_pairs(cohort, store, bm25, patients, 3)
    assert [(r.patient_id, r.variable.name) for r, _ in supervised] == [
        (r.patient_id, r.variable.name) for r, _ in pairs
    ]


def test_lora_adapter_round_trip(cohort, store, bm25, tiny_llama_dir, tmp_path):
    config = ReaderConfig(
        model=str(tiny_llama_dir), lora=LoraConfig(r=4, alpha=8, epochs=1, batch_size=4, max_pairs=8, lr=1e-2)
    )
    reader = LLMReader(config)
    pairs = training_pairs(cohort, store, bm25, cohort.split_patients("train")[:1], 2)
    history = train_lora(reader, pairs, config.lora, tmp_path / "adapter", progress=False)
    assert np.isfinite(history[0]["loss"])
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    meta = json.loads((tmp_path / "adapter" / "clinrag_reader.json").read_text())
    assert meta["base_model"] == str(tiny_llama_dir) and meta["pairs"] == 8
    requests = [request for request, _ in pairs[:6]]
    tuned = reader.read(requests)
    loaded = LLMReader(config.model_copy(update={"adapter": str(tmp_path / "adapter")}))
    again = loaded.read(requests)
    assert [(r.cell, round(r.score, 5)) for r in tuned] == [(r.cell, round(r.score, 5)) for r in again]
    base = LLMReader(config).read(requests)
    assert [round(r.score, 5) for r in base] != [round(r.score, 5) for r in again]


def test_lora_merge(cohort, store, bm25, tiny_llama_dir, tmp_path):
    config = ReaderConfig(
        model=str(tiny_llama_dir),
        lora=LoraConfig(r=4, alpha=8, epochs=1, batch_size=4, max_pairs=4, lr=1e-2, merge=True),
    )
    reader = LLMReader(config)
    pairs = training_pairs(cohort, store, bm25, cohort.split_patients("train")[:1], 2)
    train_lora(reader, pairs, config.lora, tmp_path / "adapter", progress=False)
    assert (tmp_path / "adapter" / "merged" / "config.json").exists()
    merged = LLMReader(config.model_copy(update={"model": str(tmp_path / "adapter" / "merged")}))
    requests = [request for request, _ in pairs[:4]]
    assert [r.cell for r in merged.read(requests)] == [r.cell for r in reader.read(requests)]


def test_bad_model_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClinragError, match="not a model folder"):
        Decoder(ReaderConfig(model=str(tmp_path / "empty")))
    with pytest.raises(ClinragError, match="model folder not found"):
        Decoder(ReaderConfig(model=str(tmp_path / "missing")))


def test_bad_adapter_folder(tiny_llama_dir, tmp_path):
    (tmp_path / "notadapter").mkdir()
    with pytest.raises(ClinragError, match="not a LoRA adapter folder"):
        Decoder(ReaderConfig(model=str(tiny_llama_dir), adapter=str(tmp_path / "notadapter")))


def test_cli_extract_and_train_reader(synth_cohort_dir, tiny_llama_dir, tmp_path, run_cli):
    # the default retriever (a run's: temporal) must be trained first; an untrained BM25 keeps this test short
    sets = [
        "--set",
        "retriever.type=bm25",
        "--set",
        f"reader.model={tiny_llama_dir}",
        "--set",
        "reader.lora.max_pairs=4",
        "--set",
        "reader.lora.epochs=1",
        "--set",
        "reader.lora.r=2",
    ]
    result = run_cli("train-reader", "--cohort", synth_cohort_dir, "--out", tmp_path / "adapter", *sets)
    assert result.code == 0, result.stderr
    result = run_cli(
        "extract",
        "--cohort",
        synth_cohort_dir,
        "--out",
        tmp_path / "fill",
        "--patients",
        "test",
        "--set",
        "retriever.type=bm25",
        "--set",
        f"reader.model={tiny_llama_dir}",
        "--set",
        f"reader.adapter={tmp_path / 'adapter'}",
    )
    assert result.code == 0, result.stderr
    header = (tmp_path / "fill" / "predictions.csv").read_text().splitlines()[0]
    assert header.startswith("patient_id,age,sexe")
    provenance = [
        json.loads(line) for line in (tmp_path / "fill" / "provenance.jsonl").read_text().splitlines()
    ]
    assert {r["status"] for r in provenance} <= {"documented", "not_documented", "failed"}
    result = run_cli(
        "evaluate",
        "--cohort",
        synth_cohort_dir,
        "--predictions",
        tmp_path / "fill" / "predictions.csv",
        "--bootstrap",
        "20",
    )
    assert result.code == 0
    result = run_cli(
        "extract",
        "--cohort",
        synth_cohort_dir,
        "--out",
        tmp_path / "x",
        "--patients",
        "test",
        "--set",
        f"reader.model={tmp_path}",
    )
    assert result.code == 2 and "not a model folder" in result.stderr
    result = run_cli(
        "extract",
        "--cohort",
        synth_cohort_dir,
        "--out",
        tmp_path / "x",
        "--set",
        f"reader.model={tiny_llama_dir}",
    )
    assert result.code == 2 and "no unlabeled patient to fill" in result.stderr


def test_lora_learns_its_targets(cohort, store, bm25, synth_cohort_dir, tmp_path):
    """Overfitting a few pairs makes the reader answer their targets: labels are aligned with the answer tokens."""
    from conftest import build_tiny_llama

    texts = [
        json.loads(line)["text"]
        for line in (synth_cohort_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    folder = build_tiny_llama(tmp_path / "llama", texts, initializer_range=0.5)
    config = ReaderConfig(
        model=str(folder), lora=LoraConfig(r=8, alpha=16, epochs=60, batch_size=4, lr=2e-2, last_layers=1)
    )
    reader = LLMReader(config)
    names = ("hta", "toast", "sexe", "thrombolyse")
    pairs = [
        p
        for p in training_pairs(cohort, store, bm25, cohort.split_patients("train")[:1], 2)
        if p[0].variable.name in names
    ]
    history = train_lora(reader, pairs, config.lora, progress=False)
    assert history[-1]["loss"] < 0.1 < 5.0 < history[0]["loss"], history
    results = reader.read([request for request, _ in pairs])
    assert [answer_text(r_req.variable, r.cell) for (r_req, _), r in zip(pairs, results, strict=True)] == [
        t for _, t in pairs
    ]


def test_frozen_layer_cache_is_exact(cohort, store, bm25, synth_cohort_dir, tmp_path):
    """Training the adapted layers on cached outputs of the frozen ones gives the same losses and adapters as
    running the whole model at every step."""
    from conftest import build_tiny_llama

    texts = [
        json.loads(line)["text"]
        for line in (synth_cohort_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    folder = build_tiny_llama(tmp_path / "llama", texts, initializer_range=0.2)
    pairs = training_pairs(cohort, store, bm25, cohort.split_patients("train")[:1], 2)[:10]
    runs = []
    for cached in (False, True):
        lora = LoraConfig(
            r=4, alpha=8, epochs=3, batch_size=4, lr=1e-2, dropout=0.0, last_layers=1, cache_frozen=cached
        )
        reader = LLMReader(ReaderConfig(model=str(folder), lora=lora))
        history = train_lora(reader, pairs, lora, progress=False)
        state = {k: v.detach().clone() for k, v in reader.decoder.model.state_dict().items() if "lora_" in k}
        runs.append((history, state))
    (plain, plain_state), (cached, cached_state) = runs
    assert plain_state and plain_state.keys() == cached_state.keys()
    assert all(".layers.0." not in k for k in cached_state)  # adapters on the last layer only
    assert [h["loss"] for h in plain] == pytest.approx([h["loss"] for h in cached], rel=1e-4)
    for key, tensor in plain_state.items():
        assert np.allclose(tensor.numpy(), cached_state[key].numpy(), atol=1e-5), key
    assert plain[-1]["loss"] < plain[0]["loss"]


def test_learning_rate_schedule():
    """Linear: warmup to the peak, then down to 0 after the last step; constant: the peak throughout."""
    from clinrag.generation.lora import learning_rate_factor

    factor = learning_rate_factor(LoraConfig(schedule="linear", warmup=0.1), 100)
    values = [factor(step) for step in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(values[:10], values[1:10], strict=False))  # warming up
    assert values[10] == 1.0 and all(a > b for a, b in zip(values[10:], values[11:], strict=False))  # decay
    assert values[-1] == pytest.approx(1 / 90) and factor(100) == 0.0
    assert learning_rate_factor(LoraConfig(schedule="linear", warmup=0.0), 10)(0) == 1.0
    constant = learning_rate_factor(LoraConfig(schedule="constant"), 100)
    assert {constant(step) for step in range(100)} == {1.0}


def test_evidence_view_marks_qualified_mentions_and_keeps_them_in_the_window():
    from clinrag.generation.prompts import evidence_view
    from clinrag.text.annotate import Annotator

    diabete = Variable(name="diabete", type="boolean", description="Diabète", keywords=["diabète", "DT2"])
    text = "Antécédents familiaux : mère diabétique. ATCD : HTA. Pas de diabète. FA ? Holter à prévoir."
    [annotation] = Annotator([diabete]).annotate_texts([text])
    view = evidence_view(text, annotation.mentions, 200)
    assert "Pas de «diabète|négation»" in view
    assert view.replace("«", "").replace("|négation", "").replace("»", "") == text  # nothing else changes
    assert evidence_view(text, annotation.mentions, 200, mark=False) == text
    # a long passage is cut around the first mention, never before it
    long = "Examen clinique sans particularité, " * 8 + text
    [annotation] = Annotator([diabete]).annotate_texts([long])
    cut = evidence_view(long, annotation.mentions, 80)
    assert cut.startswith("…") and "«diabète|négation»" in cut and len(cut) <= 80 + 20
    side = Variable(name="cote", type="category", description="Côté", values=["gauche", "droit"], keywords=[])
    [annotation] = Annotator([side]).annotate_texts(["Infarctus sylvien droit."])
    assert "«droit|droit»" in evidence_view("Infarctus sylvien droit.", annotation.mentions, 100)


def test_grounded_choices_are_the_values_written_in_the_evidence():
    nihss = Variable(
        name="nihss", type="integer", description="NIHSS", minimum=0, maximum=42, keywords=["NIHSS"]
    )
    glyc = Variable(
        name="glyc",
        type="number",
        description="Glycémie",
        unit="mmol/L",
        unit_conversions={"g/L": 5.551},
        minimum=1,
        maximum=40,
        keywords=["glycémie"],
    )
    onset = Variable(name="onset", type="date", description="Début", keywords=["début"])
    passages = [
        Passage(
            "p",
            "d0",
            0,
            60,
            "TA 205/95 mmHg. NIHSS à l'arrivée : 12, à H24 : 8. Glycémie 1,32 g/L.",
            "2024-03-12",
            "u",
            "",
            0,
            0.0,
        ),
        Passage(
            "p", "d1", 0, 40, "Début des symptômes la veille au soir.", "2024-03-12T08:00", "u", "", 0, 0.0
        ),
    ]
    reader = LLMReader(ReaderConfig(), decoder=object())
    assert reader.choices(CellRequest("p", nihss, passages)) == {"12": "12", "8": "8", NOT_DOCUMENTED: ""}
    # the numbers the variable's term announces are the choices, written as in the text ("1,32 g/L" read as
    # mmol/L); without the filter, every number valid for the variable
    assert reader.choices(CellRequest("p", glyc, passages)) == {"1,32 g/L": "7.3273", NOT_DOCUMENTED: ""}
    unfiltered = LLMReader(ReaderConfig(timepoint_filter=False), decoder=object())
    assert unfiltered.choices(CellRequest("p", glyc, passages)) == {
        "12": "12",
        "8": "8",
        "1,32 g/L": "7.3273",
        NOT_DOCUMENTED: "",
    }
    assert reader.choices(CellRequest("p", onset, passages)) == {
        "2024-03-11": "2024-03-11",
        NOT_DOCUMENTED: "",
    }
    # the date the reader may answer is shown resolved beside the words that state it
    assert "«la veille|2024-03-11»" in reader.messages(CellRequest("p", onset, passages))[1]["content"]
    # not grounded: the whole range of a bounded integer, and a grammar for numbers and dates
    free = LLMReader(ReaderConfig(grounded=False), decoder=object())
    assert len(free.choices(CellRequest("p", nihss, passages))) == 44
    assert free.choices(CellRequest("p", glyc, passages)) is None


def test_values_carry_the_timepoint_their_clause_names():
    from clinrag.generation.reader import values_with_timepoints

    nihss = Variable(name="nihss_admission", type="integer", description="NIHSS", minimum=0, maximum=42)
    text = (
        "Thrombolyse débutée à 8h17. NIHSS initial 4, NIHSS à H24 5. Score NIHSS de sortie 2. "
        "Évaluation à 3 mois : Rankin modifié : 0, et mRS 1 à 3 mois."
    )
    found = [(text[s:e], label) for s, e, _, _, label in values_with_timepoints(nihss, text, "2024-01-02")]
    # clock times ("8h17") and durations ("3 mois") are no scores; each value gets the cue of its clause
    assert found == [
        ("4", "admission"),
        ("5", "24 heures"),
        ("2", "sortie"),
        ("0", "3 mois"),
        ("1", "3 mois"),
    ]
    age = Variable(name="age", type="integer", description="âge", unit="ans", minimum=18, maximum=110)
    assert [a for _, _, a, _, _ in values_with_timepoints(age, "Patiente de 81 ans.", "2024-01-02")] == ["81"]
    # a series whose cues follow their values: each cue is its value's, not the next one's
    series = "NIHSS 9 à l'arrivée, 4 à J1 et 2 à la sortie ; NIHSS 12 à l'entrée et à H24 : 8."
    found = [label for *_, label in values_with_timepoints(nihss, series, "2024-01-02")]
    assert found == ["admission", "24 heures", "sortie", "admission", "24 heures"]
    # a duration in words is no value either: "trois mois" is the 3-month visit, not a score of 3
    spelled = "Revue à trois mois : mRS 2, marche sans aide."
    assert [(a, label) for _, _, a, _, label in values_with_timepoints(nihss, spelled, "2024-04-02")] == [
        ("2", "3 mois")
    ]


def test_the_reader_sees_timepoints_and_never_offers_a_duration(decoder):
    nihss = Variable(name="nihss_admission", type="integer", description="NIHSS", minimum=0, maximum=42)
    text = "NIHSS avant thrombolyse : 13. NIHSS à H24 : 11, revu à 3 mois."
    passage = Passage("P1", "D1", 0, len(text), text, "2024-01-02", "urgences", "", 0, 0.0)
    reader = LLMReader(ReaderConfig(max_passage_chars=200), decoder)
    request = CellRequest("P1", nihss, [passage])
    prompt = reader.messages(request)[1]["content"]
    assert "«13|admission»" in prompt and "«11|24 heures»" in prompt and "«3" not in prompt
    assert set(reader.choices(request)) == {"13", "11", NOT_DOCUMENTED}
    plain = LLMReader(ReaderConfig(max_passage_chars=200, mark_timepoints=False), decoder)
    assert "«13" not in plain.messages(request)[1]["content"]


def test_an_adapter_read_with_other_settings_is_flagged(tmp_path):
    from clinrag.generation.reader import check_adapter_settings

    tuned = ReaderConfig(max_passage_chars=120)
    record = {"max_passage_chars": 120, "mark_mentions": True, "prompt": tuned.prompt.model_dump()}
    (tmp_path / "clinrag_reader.json").write_text(json.dumps(record), encoding="utf-8")
    assert (
        check_adapter_settings(tuned.model_copy(update={"adapter": str(tmp_path), "mark_timepoints": False}))
        == []
    )
    with pytest.warns(UserWarning, match=r"reader\.max_passage_chars, reader\.mark_timepoints"):
        assert check_adapter_settings(ReaderConfig(adapter=str(tmp_path))) == [
            "max_passage_chars",
            "mark_timepoints",
        ]


def test_values_at_another_timepoint_are_not_offered(decoder):
    text = (
        "NIHSS initial 15, NIHSS à H24 8. NIHSS de sortie : 5. Vu en consultation 13 semaines après l'AVC du "
        "03/04/2024. "
        "Rankin : 2. NIHSS 1."
    )
    passage = Passage("P1", "D1", 0, len(text), text, "2024-04-10", "lettre", "", 0, 0.0)

    def choices(name: str, timepoint: str | None, **settings) -> set[str]:
        var = Variable(
            name=name, type="integer", description="score", minimum=0, maximum=42, timepoint=timepoint
        )
        reader = LLMReader(ReaderConfig(max_passage_chars=400, **settings), decoder)
        return set(reader.choices(CellRequest("P1", var, [passage]))) - {NOT_DOCUMENTED}

    # a value stated at the variable's timepoint excludes the others; the day and month of a date are no values
    assert choices("nihss_sortie", "sortie") == {"5"}
    assert choices("nihss_admission", "admission") == {"15"}
    # "13 semaines après" is the 3-month visit (91 days; 90 days give or take two weeks)
    assert choices("mrs_3_mois", "3 mois") == {"2", "1"}
    # no value at the timepoint: only values stated without one remain (none here: abstain)
    assert choices("nihss_j7", "J7") == {"15", "8", "5", "2", "1"}  # a timepoint the lexicon does not know
    assert choices("mrs_pre_avc", "avant l'AVC") == set()
    assert choices("nihss_sortie", "sortie", timepoint_filter=False) == {"15", "8", "5", "2", "1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NIHSS à l'arrivée : 12, à H24 : 8.", [True, True]),  # "à H24" carries the term on
        ("score NIHSS de sortie 16, mRS de sortie 5.", [True, False]),  # another score's value
        ("NIHSS = 4/42.", [True, False]),  # the scale's maximum
        ("NIHSS 21. Glycémie 1,82 g/L.", [True, False]),  # the next sentence's term is not this value's
    ],
)
def test_a_value_counts_when_the_variables_term_announces_it(text, expected):
    import re

    from clinrag.generation.reader import attached

    values = [(m.start(), m.end()) for m in re.finditer(r"(?<![\w,])\d+(?:,\d+)?", text)]
    assert attached(text, [(text.index("NIHSS"), text.index("NIHSS") + 5)], values) == expected


def test_weak_labels_read_a_term_in_the_window_the_reader_in_the_same_clause_too():
    """One rule of "a value next to its term" (clinrag.text.evidence.attached): weak labels and the retrievers'
    feature take the window alone, the reader's candidates the window within the value's clause."""
    from clinrag.text.evidence import attached, states_value, value_near_term

    text = "NIHSS non réalisé. 12 mmHg au bras droit ; score NIHSS 8 à H24."
    terms = [(m.start(), m.end()) for m in re.finditer("NIHSS", text)]
    twelve, eight = (text.index("12"), text.index("12") + 2), (text.index(" 8 ") + 1, text.index(" 8 ") + 2)
    assert attached(text, terms, [twelve, eight], clause=False) == [True, True]  # 14 characters on
    assert attached(text, terms, [twelve, eight]) == [False, True]  # a sentence apart
    nihss = Variable(name="nihss", type="integer", description="Score NIHSS", keywords=["NIHSS"])
    passage = Passage("P1", "D1", 0, len(text), text, "2024-04-10", "cr", "", 0, 0.0)
    mentions = [Mention("nihss", "", start, end, False, False, False) for start, end in terms]
    assert states_value(nihss, "12", passage, mentions) and states_value(nihss, "8", passage, mentions)
    assert not states_value(nihss, "7", passage, mentions)
    assert value_near_term(nihss, passage, mentions)
    assert not value_near_term(nihss, passage, [])


def test_every_path_builds_cell_requests_the_same_way(cohort, store, bm25):
    """generation.pipeline.cell_requests is the one builder: the run (from the retrieval stage's hits), fill and
    extract (retrieving now) give the decoder the top k passages and the candidate model all that were found."""
    from clinrag.generation.pipeline import cell_requests, retrieving
    from clinrag.retrieval import retrieve

    pid, var = cohort.split_patients("train")[0], cohort.variable(cohort.table_columns[0])
    [request] = cell_requests([(pid, var)], store, retrieving(bm25, store, 4), 2)
    hits = [store.passages[h.index] for h in retrieve(bm25, store, pid, var, 4)]
    assert request.passages == hits[:2] and request.candidates == hits
    assert request.deceased == (pid in store.deceased())
    # the run's hits as the retrieval stage keeps them: (index, score) pairs
    kept = {pid: {var.name: [(h.index, h.score) for h in retrieve(bm25, store, pid, var, 4)]}}
    [again] = cell_requests([(pid, var)], store, lambda p, v: [i for i, _ in kept[p][v.name]], 2)
    assert again == request
    # a reader of whole records gets no passages
    assert cell_requests([(pid, var)], None, None, 2) == [CellRequest(pid, var, [])]


def test_categories_offered_are_those_the_evidence_names():
    destination = Variable(
        name="destination_sortie",
        type="category",
        description="Destination à la sortie",
        values=["domicile", "reeducation", "ehpad", "autre_hopital"],
        synonyms={"domicile": ["RAD", "retour à domicile"], "reeducation": ["SSR", "rééducation"]},
        keywords=["sortie", "transfert"],
    )

    def offered(text: str, **settings) -> set[str]:
        passage = Passage("P1", "D1", 0, len(text), text, "2024-04-10", "lettre", "", 0, 0.0)
        reader = LLMReader(ReaderConfig(**settings), decoder=object())
        return set(reader.choices(CellRequest("P1", destination, [passage])).values())

    every = {"domicile", "reeducation", "ehpad", "autre_hopital", ""}
    # named by a synonym: that value (or the abstention)
    assert offered("Modalités de sortie : transfert en SSR (Les Grands Chênes).") == {"reeducation", ""}
    assert offered("Sortie : RAD avec kinésithérapie.") == {"domicile", ""}
    # several named: the reader chooses among them
    assert offered("Sortie : SSR puis retour à domicile.") == {"reeducation", "domicile", ""}
    # a negated or hypothetical value is not offered; none named: every value
    assert offered("Sortie : pas de SSR, retour à domicile.") == {"domicile", ""}
    assert offered("Modalités de sortie : à discuter.") == every
    assert offered("Sortie : transfert en SSR.", grounded_categories=False) == every
