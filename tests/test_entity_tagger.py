"""The clinical entity tagger (clinrag.encoders.entities): corpus readers, the merge with the dictionary,
`clinrag train-entities` and `clinrag annotate --entities tagger|both`, on a tiny random BERT trained in seconds on
toy texts written here (French findings among other words; not clinrag's generator)."""

from __future__ import annotations

import json
import random

import pytest
from conftest import build_tiny_encoder

from clinrag.encoders.data import LabeledSpan
from clinrag.encoders.entities import (
    ENTITY_HEAD,
    QUAERO_HEAD,
    AnnotatedText,
    CodedSpan,
    EntityTaggerConfig,
    check_tagger,
    combine,
    read_brat,
    read_e3c,
    tag_entities,
    train_entity_tagger,
)
from clinrag.encoders.segment import HeadConfig, SegmentConfig, SegmentModel, TextExample
from clinrag.errors import ClinragError
from clinrag.text.entities import AnnotationConfig, EntityAnnotator

# "hypertension artérielle", "diabète" and "hémorragie méningée" are in the stroke lexicon; the others are not
FINDINGS = [
    "pneumopathie",
    "hypertension artérielle",
    "diabète",
    "fièvre",
    "hémorragie méningée",
    "céphalées",
]
WORDS = ["patient", "admis", "pour", "une", "avec", "ce", "jour", "suivi", "en", "consultation", "et", "de"]
WORDS += ["traitement", "par", "aspirine", "scanner", "réalisé", "contrôle", "sortie", "pas"]
TAGGER_SETTINGS = {
    "epochs": 20,
    "learning_rate": 1e-2,
    "segment_length": 16,
    "lstm_hidden": 64,
    "threads": 1,
}


def toy_corpus(n: int, seed: int, label: str) -> list[AnnotatedText]:
    rng = random.Random(seed)
    texts = []
    for number in range(n):
        words, spans, position = [], [], 0
        for _ in range(rng.randint(5, 14)):
            if rng.random() < 0.25:
                word = rng.choice(FINDINGS)
                spans.append(LabeledSpan(position, position + len(word), label))
            else:
                word = rng.choice(WORDS)
                if word == "aspirine" and label == "DISO":
                    spans.append(LabeledSpan(position, position + len(word), "CHEM"))
            words.append(word)
            position += len(word) + 1
        texts.append(AnnotatedText(f"t{number}", " ".join(words) + ".", tuple(spans)))
    return texts


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    texts = [t.text for t in toy_corpus(200, seed=1, label="X")]
    return build_tiny_encoder(tmp_path_factory.mktemp("tagger") / "tiny-bert", texts)


@pytest.fixture(scope="module")
def tagger_dir(encoder_dir, tmp_path_factory):
    config = EntityTaggerConfig(encoder=str(encoder_dir), quaero_head=True, **TAGGER_SETTINGS)
    model = train_entity_tagger(
        toy_corpus(40, seed=2, label="CLINENTITY"), toy_corpus(40, seed=3, label="DISO"), config
    )
    return model.save(tmp_path_factory.mktemp("tagger") / "entities")


# ---- corpora --------------------------------------------------------------------------------------------------
def test_read_brat_fragments_notes_and_errors(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("Fièvre et céphalées intenses.\n", encoding="utf-8")
    (tmp_path / "sub" / "a.ann").write_text(
        "T1\tDISO 0 6\tFièvre\n#1\tAnnotatorNotes T1\tC0015967\nT2\tDISO 10 19;20 28\tcéphalées intenses\n"
        "R1\tRel Arg1:T1 Arg2:T2\n",
        encoding="utf-8",
    )
    (texts,) = read_brat(tmp_path)
    assert texts.doc_id == "a"
    assert [(texts.text[s.start : s.end], s.label) for s in texts.spans] == [
        ("Fièvre", "DISO"),
        ("céphalées", "DISO"),
        ("intenses", "DISO"),
    ]
    (tmp_path / "sub" / "a.ann").write_text("T1\tDISO 0 6\tFièvre\nT2\tDISO 10 99\tx\n", encoding="utf-8")
    with pytest.raises(ClinragError, match=r"a\.ann:2: field 'offsets': 10-99 outside the text"):
        read_brat(tmp_path)
    (tmp_path / "sub" / "a.ann").write_text("T1\tDISO zero six\tFièvre\n", encoding="utf-8")
    with pytest.raises(ClinragError, match=r"a\.ann:1: field 'offsets': not 'START END'"):
        read_brat(tmp_path)
    (tmp_path / "sub" / "a.ann").unlink()
    with pytest.raises(ClinragError, match="no annotation file"):
        read_brat(tmp_path)
    with pytest.raises(ClinragError, match="no BRAT text file"):
        read_brat(tmp_path / "sub" / "none")


def test_read_e3c(tmp_path):
    from test_annotate_corpus import XMI

    (tmp_path / "FR1.xml").write_text(XMI, encoding="utf-8")
    (doc,) = read_e3c(tmp_path)
    assert doc.doc_id == "FR1"
    assert [doc.text[s.start : s.end] for s in doc.spans] == ["mal de tête", "fièvre intense"]
    with pytest.raises(ClinragError, match="no E3C XMI file"):
        read_e3c(tmp_path / "empty")


def test_real_quaero_reads(shared_data):
    texts = read_brat(shared_data / "quaero" / "train")
    assert len(texts) > 800
    for t in texts[:50]:
        for span in t.spans:
            assert t.text[span.start : span.end].strip()


# ---- the merge with the dictionary ----------------------------------------------------------------------------
def test_combine_codes_tagger_spans_and_merges_by_mode():
    dictionary = [CodedSpan(0, 7, "dictionary", "cim10:E14"), CodedSpan(20, 23, "dictionary", "c3")]
    tagged = [(0, 7), (10, 16), (18, 30)]
    alone = combine(dictionary, tagged, "tagger")
    assert [(s.start, s.end, s.source, s.key) for s in alone] == [
        (0, 7, "tagger", "cim10:E14"),
        (10, 16, "tagger", ""),  # no dictionary entry overlaps it: uncoded
        (18, 30, "tagger", "c3"),
    ]
    both = combine(dictionary, tagged, "both")
    assert [(s.start, s.end, s.source) for s in both] == [
        (0, 7, "dictionary"),
        (10, 16, "tagger"),
        (20, 23, "dictionary"),
    ]
    tagger_first = combine(dictionary, tagged, "both", prefer="tagger")
    assert [(s.start, s.end, s.source) for s in tagger_first] == [
        (0, 7, "tagger"),
        (10, 16, "tagger"),
        (18, 30, "tagger"),
    ]
    assert combine(dictionary, [], "both") == dictionary


# ---- training and the folder ----------------------------------------------------------------------------------
def test_trained_tagger_finds_findings_and_says_what_it_learnt(tagger_dir):
    record = json.loads((tagger_dir / "clinrag_segment.json").read_text(encoding="utf-8"))
    assert record["metadata"] == {
        "use": "clinical_entities",
        "quaero_types": ["DISO"],
        "corpora": {"e3c_texts": 40, "quaero_texts": 40},
    }
    assert record["heads"][ENTITY_HEAD] == {"kind": "tagging", "labels": ["DISORDER"]}
    assert record["heads"][QUAERO_HEAD]["labels"][:2] == ["ANAT", "CHEM"]
    check_tagger(tagger_dir)
    model = SegmentModel.load(tagger_dir)
    held_out = toy_corpus(20, seed=4, label="DISORDER")
    found = tag_entities(model, [t.text for t in held_out])
    gold = {(i, s.start, s.end) for i, t in enumerate(held_out) for s in t.spans}
    predicted = {(i, s.start, s.end) for i, spans in enumerate(found) for s in spans}
    assert len(gold & predicted) >= 0.8 * len(gold) and len(gold & predicted) >= 0.8 * len(predicted)


def test_check_tagger_refuses_other_folders(tmp_path, encoder_dir):
    with pytest.raises(ClinragError, match="not a clinrag segment model folder"):
        check_tagger(encoder_dir)
    settings = SegmentConfig(encoder=str(encoder_dir), heads={"kind": HeadConfig(kind="class")}, epochs=1)
    other = SegmentModel(settings).fit([TextExample("fièvre ce jour", {"kind": "a"})])
    with pytest.raises(ClinragError, match="not a clinical entity tagger"):
        check_tagger(other.save(tmp_path / "classifier"))
    with pytest.raises(ClinragError, match="nothing to train"):
        train_entity_tagger([], [], EntityTaggerConfig(encoder=str(encoder_dir)))


# ---- annotation -----------------------------------------------------------------------------------------------
TEXT = "patient admis pour fièvre et diabète ce jour, pas de pneumopathie. scanner réalisé."


def disorders(entities):
    return [(TEXT[e.start : e.end], e.source, e.code, e.negated) for e in entities if e.label == "DISORDER"]


def test_annotation_with_the_tagger_alone_and_both(tagger_dir):
    dictionary = EntityAnnotator(AnnotationConfig(cim10=False, drugs=False)).annotate_texts([TEXT])[0]
    assert disorders(dictionary.entities) == [("diabète", "lexicon", "E14", False)]
    tagger = EntityAnnotator(
        AnnotationConfig(cim10=False, drugs=False, entities="tagger", tagger_model=str(tagger_dir))
    ).annotate_texts([TEXT])[0]
    assert disorders(tagger.entities) == [
        ("fièvre", "tagger", None, False),
        ("diabète", "tagger", "E14", False),  # coded by the lexicon entry that overlaps it
        ("pneumopathie", "tagger", None, True),  # qualified by the pipeline like the dictionary's
    ]
    both = EntityAnnotator(
        AnnotationConfig(cim10=False, drugs=False, entities="both", tagger_model=str(tagger_dir))
    ).annotate_texts([TEXT])[0]
    assert disorders(both.entities) == [
        ("fièvre", "tagger", None, False),
        ("diabète", "lexicon", "E14", False),
        ("pneumopathie", "tagger", None, True),
    ]
    with pytest.raises(ValueError, match="needs tagger_model"):
        AnnotationConfig(entities="both")


def write_cohort(folder):
    folder.mkdir()
    (folder / "variables.yaml").write_text(
        "variables:\n  - name: diabete\n    type: boolean\n    description: Diabète connu\n", encoding="utf-8"
    )
    rows = [
        {"patient_id": "P1", "doc_id": "D1", "date": "2024-03-01", "doc_type": "CR", "text": TEXT},
        {
            "patient_id": "P2",
            "doc_id": "D2",
            "date": "2024-03-02",
            "doc_type": "CR",
            "text": "céphalées ce jour.",
        },
    ]
    (folder / "documents.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return folder


def test_annotate_and_train_entities_commands(run_cli, tmp_path, tagger_dir, encoder_dir):
    cohort = write_cohort(tmp_path / "cohort")
    out = tmp_path / "annotated"
    fast = ["--set", "cim10=false", "--set", "drugs=false"]
    result = run_cli(
        "annotate",
        "--cohort",
        cohort,
        "--out",
        out,
        "--entities",
        "both",
        "--tagger-model",
        tagger_dir,
        *fast,
    )
    assert result.code == 0, result.stderr
    records = [json.loads(line) for line in (out / "entities.jsonl").read_text(encoding="utf-8").splitlines()]
    found = {(r["doc_id"], r["text"], r["source"]) for r in records if r["label"] == "DISORDER"}
    assert {("D1", "diabète", "lexicon"), ("D1", "fièvre", "tagger"), ("D2", "céphalées", "tagger")} <= found
    manifest = json.loads((out / "annotation.json").read_text(encoding="utf-8"))
    assert manifest["config"]["entities"] == "both"
    # mistakes: one line, exit 2, before any work
    for args, message in [
        (["--entities", "tagger"], "needs tagger_model"),
        (["--entities", "both", "--tagger-model", encoder_dir], "not a clinrag segment model folder"),
        (["--entities", "both", "--tagger-model", tmp_path / "none"], "folder not found"),
    ]:
        result = run_cli("annotate", "--cohort", cohort, "--out", tmp_path / "x", *args, *fast)
        assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "x").exists()
    # train-entities on a tiny BRAT corpus
    corpus = tmp_path / "brat"
    corpus.mkdir()
    for t in toy_corpus(12, seed=5, label="DISO"):
        (corpus / f"{t.doc_id}.txt").write_text(t.text, encoding="utf-8")
        lines = [
            f"T{i}\t{s.label} {s.start} {s.end}\t{t.text[s.start : s.end]}" for i, s in enumerate(t.spans, 1)
        ]
        (corpus / f"{t.doc_id}.ann").write_text("\n".join(lines) + "\n", encoding="utf-8")
    trained = tmp_path / "trained"
    settings = [f"encoder={encoder_dir}", "epochs=2", "segment_length=16", "threads=1"]
    overrides = [x for s in settings for x in ("--set", s)]
    result = run_cli("train-entities", "--out", trained, "--quaero", corpus, *overrides, "-q")
    assert result.code == 0, result.stderr
    assert "entity tagger trained on 0 E3C and 12 QUAERO texts" in result.stdout
    check_tagger(trained)
    result = run_cli("train-entities", "--out", trained, "--quaero", corpus, *overrides, "-q")
    assert result.code == 2 and "--overwrite" in result.stderr
    result = run_cli("train-entities", "--out", trained, "--quaero", corpus, *overrides, "--overwrite", "-q")
    assert result.code == 0
    result = run_cli("train-entities", "--out", tmp_path / "t2", *overrides)
    assert result.code == 2 and "nothing to train on" in result.stderr
    result = run_cli(
        "train-entities", "--out", tmp_path / "t3", "--set", "encoder=/nowhere", "--quaero", corpus
    )
    assert result.code == 2 and "/nowhere" in result.stderr


def test_span_scores_with_document_bootstrap_intervals():
    from clinrag.evaluation.annotation import span_scores, span_scores_with_intervals
    from clinrag.evaluation.bootstrap import BootstrapSpec

    rng = random.Random(0)
    gold = {f"d{i}": [(10 * k, 10 * k + 5) for k in range(rng.randint(2, 6))] for i in range(30)}
    good = {d: [s for s in spans if rng.random() < 0.8] for d, spans in gold.items()}
    poor = {d: [(s, e - 2) for s, e in spans if rng.random() < 0.5] for d, spans in gold.items()}
    result = span_scores_with_intervals(
        gold, {"good": good, "poor": poor}, BootstrapSpec(500), reference="poor"
    )
    assert result["bootstrap"]["unit"] == "document" and result["documents"] == 30
    for name, predicted in (("good", good), ("poor", poor)):
        plain = span_scores(gold, predicted)
        for kind in ("exact", "overlap"):
            scores = result[name][kind]
            assert {k: scores[k] for k in ("precision", "recall", "f1")} == plain[kind]
            low, high = scores["f1_ci"]
            assert low <= scores["f1"] <= high
    assert result["poor"]["exact"]["f1"] == 0.0  # every span of "poor" ends 2 characters early
    versus = result["good"]["vs_reference"]["exact"]
    assert versus["f1_difference"] > 0.5 and versus["ci"][0] > 0 and versus["p_value"] == 0.0
    assert "vs_reference" not in result["poor"]
