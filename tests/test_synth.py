"""The synthetic cohort: valid, deterministic, and holding what makes the real task hard."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from clinrag.data.cohort import render_cohort_files
from clinrag.data.validate import load_cohort, read_cohort
from clinrag.data.values import parse_value
from clinrag.synth import synthesize_cohort, write_synthetic_cohort
from clinrag.synth.patient import draw_case


@pytest.fixture(scope="module")
def big():
    """200 patients: enough for every rare feature to appear."""
    return synthesize_cohort(200, seed=5)


def test_written_cohort_validates(synth_cohort_dir, run_cli):
    cohort, issues = read_cohort(synth_cohort_dir)
    assert cohort is not None, [str(i) for i in issues]
    assert not issues
    result = run_cli("validate", synth_cohort_dir)
    assert result.code == 0 and "60 patients" in result.stdout


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, synth_cohort_dir):
    write_synthetic_cohort(tmp_path / "again", 60, seed=11)
    for name in (
        "variables.yaml",
        "documents.jsonl",
        "table.csv",
        "splits.csv",
        "evidence.jsonl",
        "phi.jsonl",
    ):
        assert (tmp_path / "again" / name).read_bytes() == (synth_cohort_dir / name).read_bytes(), name
    other = render_cohort_files(synthesize_cohort(60, seed=12))
    assert other["documents.jsonl"] != (synth_cohort_dir / "documents.jsonl").read_text(encoding="utf-8")


def test_patient_does_not_depend_on_cohort_size():
    small, large = synthesize_cohort(5, seed=3), synthesize_cohort(25, seed=3)
    assert small.table["P00004"] == large.table["P00004"]
    assert [d.text for d in small.documents_of("P00004")] == [d.text for d in large.documents_of("P00004")]


def test_refuses_to_overwrite(tmp_path, run_cli):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    result = run_cli("synth", "--out", tmp_path / "busy", "--patients", "3")
    assert result.code == 2 and "exists and is not empty" in result.stderr
    assert (tmp_path / "busy" / "keep.txt").read_text() == "x"


def test_record_shape(big):
    per_patient = Counter(doc.patient_id for doc in big.documents)
    assert min(per_patient.values()) >= 4 and max(per_patient.values()) <= 12
    for pid in big.patients:
        docs = big.documents_of(pid)
        span = (docs[-1].date - docs[0].date).days
        assert span <= 400 + 200  # about a year after the stroke, distractors up to 200 days before
    assert Counter(big.splits.values()) == {"train": 120, "dev": 40, "test": 40}
    assert len(big.variables) >= 20


def test_evidence_states_the_gold_value(big):
    """Each gold evidence span of an integer variable contains the gold number (the text and table agree)."""
    checked = 0
    for span in big.evidence:
        var = big.variable(span.variable)
        text = big.document(span.doc_id).text[span.start : span.end]
        gold = big.table[span.patient_id][span.variable]
        assert gold != ""
        if var.type == "integer":
            assert re.search(rf"(?<!\d){gold}(?!\d)", text), (span, text, gold)
            checked += 1
        elif var.type == "number":
            number = re.search(r"\d+(?:,\d+)?\s*(?:mmol/L|g/L)", text).group(0)
            assert (
                abs(parse_value(var, number) - float(gold)) <= 0.5 * 10 ** -(len(gold.split(".")[1])) + 1e-9
            )
            checked += 1
    assert checked > 1000


def test_phi_spans_are_identifiers(big):
    doc_patient = {d.doc_id: d.patient_id for d in big.documents}
    labels = Counter(span.label for span in big.phi)
    assert set(labels) == {
        "ADRESSE",
        "DATE",
        "DATE_NAISSANCE",
        "HOPITAL",
        "IPP",
        "MAIL",
        "NDA",
        "NOM",
        "PRENOM",
        "SECU",
        "TEL",
        "VILLE",
        "ZIP",
    }
    for span in big.phi:
        text = big.document(span.doc_id).text[span.start : span.end]
        if span.label == "SECU":
            digits = text.replace(" ", "")
            assert 97 - int(digits[:13]) % 97 == int(digits[13:]), text
        if span.label == "IPP":
            assert re.fullmatch(r"80\d{8}", text)
        assert doc_patient[span.doc_id]


def _texts_of_type(cohort, doc_type):
    return [d.text for d in cohort.documents if d.doc_type == doc_type]


def test_hard_features_are_present(big):
    texts = [d.text for d in big.documents]
    joined = "\n".join(texts)
    # negations stated as evidence of a false value
    negated = [s for s in big.evidence if big.table[s.patient_id][s.variable] == "false"]
    assert any(
        big.document(s.doc_id).text[s.start : s.end].lower().startswith(("pas ", "non ", "absence"))
        for s in negated
    )
    # family history and hypotheses
    assert "Antécédents familiaux :" in joined and re.search(
        r"FA \? Holter à prévoir|Rechercher une FA", joined
    )
    # copy-forward: the admission history reappears verbatim in the discharge letter
    copied = 0
    for pid in big.patients:
        docs = big.documents_of(pid)
        admission = next(d for d in docs if d.doc_type == "urgences")
        history = re.search(r"Histoire de la maladie :\n[^\n]+", admission.text).group(0)
        copied += any(history in d.text for d in docs if d.doc_type == "lettre_sortie")
    assert copied == 200
    # abbreviations, typos and unit variants
    assert all(token in joined for token in ("ATCD", "HTA", "DT2", "PA"))
    assert re.search(r"diabéte|hypertention|fibrilation", joined)
    assert re.search(r"Glycémie capillaire \d,\d\d g/L", joined) and re.search(
        r"LDL-c : \d,\d\d mmol/L", joined
    )
    # values that change over time: several NIHSS and several mRS per record
    assert "NIHSS à H24" in joined and "mRS de sortie" in joined and "CONSULTATION DE SUIVI À 1 AN" in joined
    # corrections in later documents
    assert "comme indiqué par erreur" in joined and "L'étiologie est donc révisée" in joined
    # onset relative to the note's date
    assert "la veille vers" in joined
    # undocumented values
    empty = Counter(var for row in big.table.values() for var, cell in row.items() if cell == "")
    assert {"ldl", "mrs_3_mois", "tabagisme", "mrs_pre_avc"} <= set(empty)


def test_late_af_needs_documents_read_in_order():
    """AF found on a Holter after discharge: the discharge letter says no AF, a later document says AF."""
    found = 0
    for index in range(300):
        case = draw_case(index, seed=5)
        if case.af_late_holter:
            found += 1
            assert case.gold["fibrillation_atriale"] == "true"
    assert found > 0
    cohort = synthesize_cohort(120, seed=5)
    for pid in cohort.patients:
        if not draw_case(int(pid[1:]) - 1, seed=5).af_late_holter:
            continue
        docs = cohort.documents_of(pid)
        discharge = next(i for i, d in enumerate(docs) if d.doc_type == "lettre_sortie")
        assert "pas de FA au scope ni au Holter" in docs[discharge].text
        spans = [s for s in cohort.evidence if s.patient_id == pid and s.variable == "fibrillation_atriale"]
        assert spans and all(docs.index(cohort.document(s.doc_id)) > discharge for s in spans)


def test_loaded_cohort_equals_generated(synth_cohort_dir):
    assert load_cohort(synth_cohort_dir).fingerprint() == synthesize_cohort(60, seed=11).fingerprint()
