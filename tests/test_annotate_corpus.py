"""Corpus annotation: dates, qualifiers, lexicons, SNOMED CT normalization, `clinrag annotate`, E3C and the
synthetic qualifier truth, and the annotation-aware retriever."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from clinrag.data.cohort import Document
from clinrag.errors import ClinragError
from clinrag.evaluation.annotation import binary_scores, read_e3c_xmi, span_scores
from clinrag.text.dates import find_event_offsets
from clinrag.text.entities import AnnotationConfig, EntityAnnotator, resolve_dates
from clinrag.text.terminology import (
    STROKE_LEXICONS,
    SnomedConfig,
    is_case_sensitive,
    load_lexicon,
    load_terminology,
)

FAST = AnnotationConfig(cim10=False)
"""Every pipe but CIM-10, whose matcher takes ~25 s to build."""


@pytest.fixture(scope="module")
def annotator() -> EntityAnnotator:
    return EntityAnnotator(FAST)


def _by_text(entities):
    return {e.text: e for e in entities}


# ---- dates ------------------------------------------------------------------------------------------------
def test_day_counts_resolve_against_the_index_date():
    text = "NIHSS à J3 : 4, à H24 : 8. Revu à 3 mois. Occlusion M1. Il y a 3 jours. Contrôle à 6 semaines."
    found = {text[s:e]: day for s, e, day in find_event_offsets(text, dt.date(2024, 1, 31))}
    assert found == {
        "J3": dt.date(2024, 2, 3),
        "H24": dt.date(2024, 2, 1),
        "à 3 mois": dt.date(2024, 4, 30),  # calendar months: 31 January + 3 months, clipped to the 30th
        "à 6 semaines": dt.date(2024, 3, 13),
    }  # "M1" is an artery segment and "il y a 3 jours" counts back from the note: neither is a day count


def test_relative_dates_resolve_against_the_document_date(annotator):
    text = "Déficit apparu la veille. Céphalées il y a 3 jours. NIHSS à J3. Scanner du 12/03/2023."
    parsed = annotator.annotate_texts([text])[0]
    note = dt.datetime(2023, 3, 15, 10, 0)
    dates = {
        text[s:e]: (day, source) for s, e, day, source in resolve_dates(text, parsed.edsnlp_dates, note, None)
    }
    assert dates["la veille"] == (dt.date(2023, 3, 14), "document")
    assert dates["il y a 3 jours"] == (dt.date(2023, 3, 12), "document")
    assert dates["J3"] == (dt.date(2023, 3, 18), "document")  # no index date: counted from the note
    assert dates["12/03/2023"] == (dt.date(2023, 3, 12), "absolute")
    with_index = resolve_dates(text, parsed.edsnlp_dates, note, dt.date(2023, 3, 10))
    assert {text[s:e]: (d, src) for s, e, d, src in with_index}["J3"] == (dt.date(2023, 3, 13), "index")


def test_day_counts_use_the_patients_index_event(annotator):
    admission = Document("P1", "D1", dt.datetime(2024, 5, 2, 9), "urgences", "AVC ischémique sylvien gauche.")
    later = Document("P1", "D2", dt.datetime(2024, 5, 9), "lettre", "NIHSS à J3 : 4. Revu à 3 mois.")
    before = Document("P1", "D0", dt.datetime(2023, 1, 5), "ophtalmologie", "Cataracte. Pas d'AVC.")
    entities = annotator.annotate_documents([before, admission, later])
    dates = {e.text: e for e in entities if e.label == "DATE"}
    assert (dates["J3"].date, dates["J3"].date_source) == ("2024-05-05", "index")  # not 2024-05-12
    assert dates["à 3 mois"].date == "2024-08-02"
    nihss = next(e for e in entities if e.code == "NIHSS")
    assert (nihss.date, nihss.date_source) == ("2024-05-05", "sentence")


# ---- qualifiers and codes -----------------------------------------------------------------------------------
def test_qualifiers_on_crafted_french_sentences(annotator):
    text = (
        "Antécédents :\nHTA traitée. Pas de diabète.\n"
        "Antécédents familiaux :\nmère dyslipidémique.\n"
        "Histoire de la maladie :\nhémiparésie droite. Suspicion de fibrillation atriale, Holter à prévoir. "
        "Thrombolyse par altéplase."
    )
    entities = annotator.finish("D", text, annotator.annotate_texts([text])[0], dt.datetime(2024, 1, 2), None)
    found = _by_text(entities)
    assert found["HTA"].history and found["HTA"].affirmed and found["HTA"].code == "I10"
    assert found["diabète"].negated and not found["diabète"].family
    assert found["dyslipidémique"].family and not found["dyslipidémique"].negated
    assert found["fibrillation atriale"].hypothetical and found["fibrillation atriale"].code == "I48"
    assert found["hémiparésie"].affirmed and not found["hémiparésie"].history  # present illness, not history
    assert found["hémiparésie"].section == "histoire de la maladie"
    assert (found["altéplase"].label, found["altéplase"].system) == ("DRUG", "ATC")
    assert found["Thrombolyse"].label == "PROCEDURE"


def test_acronyms_match_as_written_only(annotator):
    text = "FA paroxystique. Le fa dièse du piano. HTA."
    codes = [(e.text, e.code) for e in annotator.annotate_texts([text])[0].entities]
    assert ("FA", "I48") in codes and ("HTA", "I10") in codes
    assert not any(t == "fa" for t, _ in codes)
    assert is_case_sensitive("FA") and is_case_sensitive("AIT") and not is_case_sensitive("NIHSS")


def test_qualify_gold_spans_alone(annotator):
    text = "Pas de diabète. Père hypertendu. Suspicion d'AVC."
    flags = annotator.qualify_spans(text, [(7, 14), (21, 31), (45, 48)])
    assert [f["negated"] for f in flags] == [True, False, False]
    assert [f["family"] for f in flags] == [False, True, False]
    assert flags[2]["hypothetical"]


# ---- lexicons and terminologies --------------------------------------------------------------------------------
def test_shipped_lexicons_load():
    for name in STROKE_LEXICONS:
        concepts = load_lexicon(f"embedded:{name}")
        assert concepts and all(c.terms and c.code and c.system for c in concepts)
    labels = {c.label for name in STROKE_LEXICONS for c in load_lexicon(f"embedded:{name}")}
    assert {"DISORDER", "SCORE", "ETIOLOGY", "OCCLUSION", "DRUG", "PROCEDURE"} <= labels


def test_a_broken_lexicon_names_file_line_and_field(tmp_path):
    path = tmp_path / "lex.yaml"
    path.write_text(
        "label: DISORDER\nsystem: CIM-10\nconcepts:\n  - code: I48\n    name: FA\n    terms: []\n"
    )
    with pytest.raises(ClinragError, match=r"lex\.yaml:4: field 'terms'"):
        load_lexicon(str(path))
    path.write_text("concepts:\n  - {code: I48, name: FA, terms: [FA]}\n")
    with pytest.raises(ClinragError, match=r"lex\.yaml:2: field 'label': missing"):
        load_lexicon(str(path))
    with pytest.raises(ClinragError, match="unknown embedded lexicon"):
        load_lexicon("embedded:nope")


RF2 = (
    "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId\n"
    "1\t20240101\t1\t1\t432504007\tfr\t900000000000003001\tinfarctus cérébral (trouble)\t9\n"
    "2\t20240101\t1\t1\t49436004\tfr\t900000000000013009\tfibrillation auriculaire\t9\n"
    "3\t20240101\t0\t1\t99999999\tfr\t900000000000013009\thémorragie cérébrale\t9\n"
    "4\t20240101\t1\t1\t38341003\ten\t900000000000013009\thypertension artérielle\t9\n"
    "5\t20240101\t1\t1\t38341003\tfr\t900000000000013009\thypertension artérielle\t9\n"
)


def test_snomed_rf2_exact_and_fuzzy(tmp_path):
    path = tmp_path / "sct2_Description_Snapshot-fr_FR.txt"
    path.write_text(RF2, encoding="utf-8")
    terms = load_terminology(path)
    assert terms.codes == {"432504007", "49436004", "38341003"}  # inactive row dropped, the English one too
    exact = terms.match(
        "Infarctus  Cérébral"
    )  # the FSN's semantic tag is no wording; case and accents folded
    assert (exact.code, exact.method, exact.score) == ("432504007", "exact", 100.0)
    fuzzy = terms.match("fibrilation auriculaire")  # a typo
    assert (fuzzy.code, fuzzy.method) == ("49436004", "fuzzy") and 90 <= fuzzy.score < 100
    assert terms.match("hémorragie cérébrale") is None  # only an inactive description says it
    assert terms.match("FA", "fibrillation auriculaire").code == "49436004"  # the concept's name as fallback
    strict = load_terminology(path, SnomedConfig(threshold=99))
    assert strict.match("fibrilation auriculaire") is None


def test_code_term_file_and_its_errors(tmp_path):
    good = tmp_path / "terms.tsv"
    good.write_text("# my terms\n\nI63\tinfarctus cérébral\nI48\tfibrillation atriale\n", encoding="utf-8")
    assert load_terminology(good).match("fibrillation atriale").code == "I48"
    cases = {
        "I63\tinfarctus\nI48 fibrillation atriale\n": r"terms\.tsv:2: field 'term': missing",
        "\tinfarctus\n": r"terms\.tsv:1: field 'code': empty",
        "I63\t\n": r"terms\.tsv:1: field 'term': empty",
        RF2.replace(
            "\tfr\t900000000000013009\tfibrillation auriculaire\t9", "\tfr\t9"
        ): r":3: field '\w+': expected 9",
        RF2.replace("\t0\t1\t99999999", "\tx\t1\t99999999"): r":4: field 'active'",
    }
    for content, message in cases.items():
        bad = tmp_path / "terms.tsv"
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(ClinragError, match=message):
            load_terminology(bad)
    bad.write_bytes(b"I63\tinfarctus\nI48\tfibrillation auriculaire \xe9\n")
    with pytest.raises(ClinragError, match=r"terms\.tsv:2: not valid UTF-8 \(byte 0xe9 at column 30\)"):
        load_terminology(bad)


# ---- the command ----------------------------------------------------------------------------------------------
def test_annotate_command_writes_entities(run_cli, synth_cohort_dir, tmp_path):
    snomed = tmp_path / "snomed.tsv"
    snomed.write_text("49436004\tfibrillation atriale\n38341003\thypertension artérielle\n", encoding="utf-8")
    out = tmp_path / "annotated"
    result = run_cli(
        "annotate", "--cohort", synth_cohort_dir, "--out", out, "--snomed", snomed, "--set", "cim10=false"
    )
    assert result.code == 0, result.stderr
    docs = {}
    for line in (synth_cohort_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        docs[record["doc_id"]] = record["text"]
    records = [json.loads(line) for line in (out / "entities.jsonl").read_text(encoding="utf-8").splitlines()]
    fields = {
        "doc_id",
        "start",
        "end",
        "text",
        "label",
        "code",
        "system",
        "negated",
        "hypothetical",
        "family",
    }
    assert all(fields | {"history", "date", "section", "snomed_code"} <= set(r) for r in records)
    assert all(docs[r["doc_id"]][r["start"] : r["end"]] == r["text"] for r in records)
    labels = {r["label"] for r in records}
    assert {"DATE", "DISORDER", "SCORE", "DRUG"} <= labels
    assert any(r["negated"] for r in records) and any(r["family"] for r in records)
    af = [r for r in records if r["code"] == "I48"]
    assert af and any(
        r["snomed_code"] == "49436004" for r in af
    )  # "fibrillation atriale" or its concept name
    manifest = json.loads((out / "annotation.json").read_text(encoding="utf-8"))
    assert manifest["entities"] == len(records) and manifest["config"]["cim10"] is False
    assert not any(r["text"] in result.stdout for r in records if len(r["text"]) > 6)


def test_annotate_rejects_bad_input_without_writing(run_cli, cohort_copy, tmp_path):
    out = tmp_path / "out"
    bad_terms = tmp_path / "bad.tsv"
    bad_terms.write_text("I63\tinfarctus\nno tab here\n", encoding="utf-8")
    result = run_cli(
        "annotate", "--cohort", cohort_copy, "--out", out, "--snomed", bad_terms, "--set", "cim10=false"
    )
    assert result.code == 2 and "bad.tsv:2: field 'term'" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    latin = tmp_path / "latin1.tsv"
    latin.write_bytes("I63\tinfarctus cérébral\n".encode("latin-1"))
    result = run_cli("annotate", "--cohort", cohort_copy, "--out", out, "--snomed", latin)
    assert result.code == 2 and "latin1.tsv:1: not valid UTF-8" in result.stderr
    result = run_cli("annotate", "--cohort", cohort_copy, "--out", out, "--set", "cim11=true")
    assert result.code == 2 and "cim11" in result.stderr
    lines = (cohort_copy / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"date": "', '"date": "yesterday ')
    (cohort_copy / "documents.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("annotate", "--cohort", cohort_copy, "--out", out, "--set", "cim10=false")
    assert result.code == 2 and "documents.jsonl:3: field 'date'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


# ---- evaluation helpers --------------------------------------------------------------------------------------
XMI = """<?xml version="1.0" encoding="UTF-8"?>
<xmi:XMI xmlns:xmi="http://www.omg.org/XMI" xmlns:cas="http:///uima/cas.ecore"
 xmlns:custom="http:///webanno/custom.ecore" xmi:version="2.0">
  <cas:NULL xmi:id="0"/>
  <custom:CLINENTITY xmi:id="20" sofa="1" begin="21" end="35" entityID="C0015967"/>
  <custom:CLINENTITY xmi:id="21" sofa="1" begin="3" end="14" entityIDEN="C0018681"/>
  <custom:TIMEX3 xmi:id="22" sofa="1" begin="40" end="45" timex3Class="DATE"/>
  <cas:Sofa xmi:id="1" sofaNum="1" sofaID="_InitialView" mimeType="text"
   sofaString="Le mal de tête et la fièvre intense ont duré.&#10;"/>
</xmi:XMI>
"""


def test_e3c_xmi_reader_and_span_scores(tmp_path):
    path = tmp_path / "doc.xml"
    path.write_text(XMI, encoding="utf-8")
    text, spans = read_e3c_xmi(path)
    assert text.startswith("Le mal de tête") and text.endswith("\n")
    assert [(text[s.start : s.end], s.concept) for s in spans] == [
        ("mal de tête", "C0018681"),
        ("fièvre intense", "C0015967"),
    ]
    assert len(read_e3c_xmi(path, kinds=("TIMEX3",))[1]) == 1
    scores = span_scores({"d": [(3, 14), (21, 35)]}, {"d": [(3, 14), (24, 30), (40, 44)]})
    assert scores["exact"] == {"precision": 0.3333, "recall": 0.5, "f1": 0.4}
    assert scores["overlap"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8}
    path.write_text(XMI.replace('end="35"', 'end="900"'), encoding="utf-8")
    with pytest.raises(ClinragError, match="xmi:id=20: field 'begin'/'end': outside the text"):
        read_e3c_xmi(path)
    assert binary_scores([(True, True), (False, True), (False, False)])["precision"] == 0.5


def test_e3c_real_documents_read(shared_data):
    files = sorted((shared_data / "e3c-fr" / "layer1").glob("*.xml"))
    assert len(files) == 36
    total = 0
    for path in files:
        text, spans = read_e3c_xmi(path)
        raw = json.loads(
            (shared_data / "e3c-fr" / "layer1-text" / f"{path.stem}.json").read_text(encoding="utf-8")
        )
        assert len(text) > 200 and raw["id"] == path.stem
        total += len(spans)
    assert total == 596


def test_stroke_lexicon_finds_disorders_in_real_case_reports(shared_data, annotator):
    """A real measurement on E3C (lexicon only, no CIM-10): docs/annotation.md's table gives every detector."""
    gold, predicted = {}, {}
    for path in sorted((shared_data / "e3c-fr" / "layer1").glob("*.xml")):
        text, spans = read_e3c_xmi(path)
        gold[path.stem] = [(s.start, s.end) for s in spans]
        found = annotator.annotate_texts([text])[0].entities
        predicted[path.stem] = [(e.start, e.end) for e in found if e.label == "DISORDER"]
    scores = span_scores(gold, predicted)
    assert (
        scores["overlap"]["precision"] > 0.5
    )  # what a stroke lexicon names in case reports is mostly a disorder
    assert 0.0 < scores["overlap"]["recall"] < 0.5  # ...but it names few of a general corpus's disorders


# ---- synthetic truth and the qualifier study -------------------------------------------------------------------------
def test_synthetic_mentions_and_qualifiers_agree_with_the_generator():
    from clinrag.synth.generator import synthesize_cohort, synthesize_mentions

    cohort = synthesize_cohort(12, seed=3)
    gold = synthesize_mentions(12, seed=3)
    texts = {d.doc_id: d.text for d in cohort.documents}
    assert gold and all(0 <= m.start < m.end <= len(texts[m.doc_id]) for m in gold)
    assert {m.negated for m in gold} == {True, False} and any(m.family for m in gold)
    annotator = EntityAnnotator(FAST)
    entities = [e for e in annotator.annotate_documents(cohort.documents) if e.label != "DATE"]
    pairs = {"negated": [], "family": []}
    for m in gold:
        found = [e for e in entities if e.doc_id == m.doc_id and e.start < m.end and m.start < e.end]
        for q in pairs:
            if found:
                pairs[q].append((getattr(m, q), any(getattr(e, q) for e in found)))
    assert len(pairs["negated"]) >= 0.95 * len(gold)  # nearly every written mention is detected
    assert binary_scores(pairs["negated"])["f1"] >= 0.95
    assert binary_scores(pairs["family"])["precision"] >= 0.95


# ---- the annotation-aware retriever ---------------------------------------------------------------------------
def test_annotated_retriever_demotes_a_relatives_mention():
    from clinrag.data.variables import Variable
    from clinrag.retrieval.annotated import AnnotatedRetriever
    from clinrag.retrieval.config import AnnotatedConfig
    from clinrag.text.passages import Passage, PassageStore

    texts = ["Antécédents familiaux : père diabétique.", "Le patient est diabétique.", "Marche normale."]
    store = PassageStore(
        [
            Passage("P", "D", i * 100, i * 100 + len(t), t, "2024-01-01", "x", "", 0, 0.0)
            for i, t in enumerate(texts)
        ]
    )
    var = Variable(name="diabete", type="boolean", description="Diabète", keywords=["diabétique", "diabète"])
    plain = AnnotatedRetriever(
        AnnotatedConfig(demote_family=False, demote_hypothetical=False), variables=[var]
    )
    plain.index(store)
    annotated = AnnotatedRetriever(AnnotatedConfig(demote=0.1), variables=[var])
    annotated.index(store)
    base, adjusted = plain.scores("P", var), annotated.scores("P", var)
    assert base[0] > 0 and adjusted[0] == pytest.approx(0.1 * base[0])
    assert adjusted[1] == pytest.approx(base[1]) and int(np.argmax(adjusted)) == 1


def test_annotated_retriever_priors_help_bm25_on_a_synthetic_cohort(synth_cohort_dir):
    """Section and date priors learned from the train split's weak labels: a real measurement on the 60-patient
    session cohort's test split (docs/annotation.md's table gives three 200-patient seeds)."""
    from clinrag.data.validate import load_cohort
    from clinrag.retrieval.annotated import AnnotatedRetriever
    from clinrag.retrieval.config import AnnotatedConfig
    from clinrag.retrieval.evaluation import evaluate_retriever
    from clinrag.retrieval.supervision import passage_mentions
    from clinrag.text.passages import build_passages

    cohort = load_cohort(synth_cohort_dir)
    store = build_passages(cohort)
    mentions = passage_mentions(store, cohort.variables)
    off = AnnotatedConfig(demote_family=False, demote_hypothetical=False, section_weight=0.0, date_weight=0.0)
    results = {}
    for name, config in (("bm25", off), ("annotated", AnnotatedConfig())):
        retriever = AnnotatedRetriever(config, variables=cohort.variables)
        retriever.attach_cohort(cohort)
        retriever.index(store, mentions=mentions)
        results[name] = evaluate_retriever(
            cohort, store, retriever, "test", (1, 5), groups={"g": ["hta", "mrs_3_mois"]}
        )
        if name == "annotated":
            hta = retriever.section_prior["hta"]
            assert max(hta, key=hta.get).startswith("antécédent")  # where history lives
            assert retriever.date_prior["mrs_3_mois"]
    assert results["annotated"]["overall"]["recall@1"] > results["bm25"]["overall"]["recall@1"]
    assert results["annotated"]["groups"]["g"]["recall@1"] >= results["bm25"]["groups"]["g"]["recall@1"]


def test_annotate_cli_help(run_cli):
    result = run_cli("annotate", "--help")
    assert result.code == 0 and "--snomed" in result.stdout and "entities.jsonl" in result.stdout


def test_cim10_label_heads():
    from clinrag.text.entities import cim10_terms

    with_heads, labels_only = cim10_terms(heads=True), cim10_terms(heads=False)
    assert "fievre" in with_heads["cim10:R509"] and "fievre" not in labels_only["cim10:R509"]
    assert with_heads["cim10:R509"][:2] == labels_only["cim10:R509"]  # the label and short label stay
    extra = {code for code in with_heads if len(with_heads[code]) > len(labels_only[code])}
    assert extra and all(code.split(":")[1][0] <= "T" for code in extra)  # no heads of external causes
    heads = [t for code in extra for t in with_heads[code][2:]]
    assert "autres" not in heads and "syndrome" not in heads and len(heads) == len(set(heads))


@pytest.mark.slow
def test_cim10_codes_disorders(tmp_path):
    """eds.cim10's French labels (a ~25 s build): an exact CIM-10 label gets its code."""
    annotator = EntityAnnotator(AnnotationConfig(lexicons=[], drugs=False))
    entities = annotator.annotate_texts(["Embolie pulmonaire. Pas de pneumopathie."])[0].entities
    assert any(e.code == "I26" and e.system == "CIM-10" and e.source == "cim10" for e in entities)
