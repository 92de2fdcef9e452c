"""Pseudonymizing a cohort end to end, eds-pseudo files, and the three commands (the trainable identifier model:
tests/test_pseudo_model.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat

import pytest

from clinrag.data.validate import load_cohort
from clinrag.errors import ClinragError
from clinrag.pseudo import Span, detect
from clinrag.pseudo._token_ner import TAGS, _decode
from clinrag.pseudo.corpora import Note, cohort_notes, folds, load_eds_pseudo
from clinrag.pseudo.pipeline import (
    PseudoConfig,
    RuleDetector,
    build_detector,
    detect_record,
    evaluate_detection,
    pseudonymize_cohort,
    write_cohort,
)
from clinrag.pseudo.replace import PatientKey


# ---------------------------------------------------------------------------------------------------------
# the cohort
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort(synth_cohort_dir):
    return load_cohort(synth_cohort_dir)


@pytest.fixture(scope="module")
def pseudonymized(cohort):
    return pseudonymize_cohort(cohort, PseudoConfig(), seed=1234)


def test_documents_and_table_dates_shift_by_the_patients_offset(cohort, pseudonymized):
    new = pseudonymized.cohort
    for old_doc, new_doc in zip(cohort.documents, new.documents, strict=True):
        offset = PatientKey(old_doc.patient_id, 1234).offset_days
        assert 32 <= abs(offset) <= 365
        assert new_doc.date - old_doc.date == dt.timedelta(days=offset)
    date_vars = [v.name for v in cohort.variables if v.type == "date"]
    assert date_vars
    shifted = 0
    for pid, row in cohort.table.items():
        offset = PatientKey(pid, 1234).offset_days
        for name in date_vars:
            if row[name]:
                old = dt.date.fromisoformat(row[name])
                assert dt.date.fromisoformat(new.table[pid][name]) - old == dt.timedelta(days=offset)
                shifted += 1
    assert shifted > 10


def test_intervals_between_a_patients_documents_are_kept(cohort, pseudonymized):
    for pid in cohort.patients[:10]:
        old = [d.date for d in cohort.documents_of(pid)]
        new = [d.date for d in pseudonymized.cohort.documents_of(pid)]
        assert [b - a for a, b in zip(old, old[1:], strict=False)] == [
            b - a for a, b in zip(new, new[1:], strict=False)
        ]


def test_evidence_offsets_point_at_the_same_clinical_text(cohort, pseudonymized):
    dates = {v.name for v in cohort.variables if v.type == "date"}
    new = pseudonymized.cohort
    checked = 0
    for old, moved in zip(cohort.evidence, new.evidence, strict=True):
        old_quote = cohort.document(old.doc_id).text[old.start : old.end]
        new_quote = new.document(moved.doc_id).text[moved.start : moved.end]
        if old.variable in dates:
            if re.search(r"\d{1,2}[./]\d{1,2}[./]\d{2}", old_quote):
                assert new_quote != old_quote  # the date written in it is shifted ("la veille" is not)
        else:
            assert new_quote == old_quote
            checked += 1
    assert checked > 100


def test_gold_identifiers_are_gone_from_the_new_texts(cohort, pseudonymized):
    """Every gold identifier the rules cover is replaced: its place in the new text holds something else."""
    new = pseudonymized.cohort
    found = {d.doc_id: detect(d.text) for d in cohort.documents[:80]}
    replaced = kept = 0
    for old, moved in zip(cohort.phi, new.phi, strict=True):
        if old.doc_id not in found:
            continue
        original = cohort.document(old.doc_id).text[old.start : old.end]
        now = new.document(moved.doc_id).text[moved.start : moved.end]
        covered = any(s.start <= old.start and old.end <= s.end for s in found[old.doc_id])
        if covered:
            replaced += 1
            assert now.lower() != original.lower() or old.label in ("DATE", "DATE_NAISSANCE")
        else:
            kept += 1
    assert replaced > 20 * kept


def test_same_identifier_same_surrogate_across_a_patients_documents(cohort, pseudonymized):
    pid = cohort.patients[0]
    by_original: dict[tuple[str, str], set[str]] = {}
    for item in pseudonymized.mapping["patients"][pid]["replacements"]:
        if item["label"] in ("NOM", "PRENOM", "IPP", "HOPITAL"):
            by_original.setdefault((item["label"], item["original"].lower()), set()).add(
                item["replacement"].lower()
            )
    assert any(len(v) == 1 for v in by_original.values())
    assert all(len(v) == 1 for v in by_original.values())


def test_seeded_and_reproducible(cohort):
    first = pseudonymize_cohort(cohort, PseudoConfig(), seed=99).cohort
    second = pseudonymize_cohort(cohort, PseudoConfig(), seed=99).cohort
    other = pseudonymize_cohort(cohort, PseudoConfig(), seed=100).cohort
    assert first.fingerprint() == second.fingerprint()
    assert first.fingerprint() != other.fingerprint()


def test_mask_mode_and_renamed_ids(cohort):
    result = pseudonymize_cohort(cohort, PseudoConfig(mode="mask", rename_ids=True), seed=5)
    new = result.cohort
    assert "[NOM]" in new.documents[0].text and "[IPP]" in new.documents[0].text
    assert all(d.patient_id.startswith("pat-") and d.doc_id.startswith("doc-") for d in new.documents)
    assert all(pid.startswith("pat-") for pid in new.table)
    assert set(new.table) <= {d.patient_id for d in new.documents}
    assert new.splits_given and sorted(new.splits.values()) == sorted(cohort.splits.values())
    assert {e.doc_id for e in new.evidence} <= {d.doc_id for d in new.documents}


def test_metadata_is_dropped_unless_kept(cohort):
    from dataclasses import replace as dc_replace

    docs = [dc_replace(d, metadata={"author": "Dr Martin", "ward": "UNV"}) for d in cohort.documents[:3]]
    small = dc_replace(cohort, documents=docs, table=None, evidence=[], phi=[], splits={})
    result = pseudonymize_cohort(small, PseudoConfig(keep_metadata=["ward"]), seed=1)
    assert all(d.metadata == {"ward": "UNV"} for d in result.cohort.documents)
    assert result.summary()["dropped_metadata_keys"] == ["author"]


def test_write_cohort_is_all_or_nothing(tmp_path, cohort, pseudonymized):
    out = tmp_path / "out"
    write_cohort(pseudonymized, out)
    assert load_cohort(out).fingerprint() == pseudonymized.cohort.fingerprint()
    summary = json.loads((out / "pseudonymization.json").read_text())
    assert "seed" not in json.dumps(summary) and summary["documents"] == len(cohort.documents)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ClinragError, match="not empty"):
        write_cohort(pseudonymized, out)
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left


def test_names_found_in_one_document_are_found_in_the_others():
    texts = ["Patient : DURAND Marie, née le 03/04/1950.", "Revue ce jour. Durand se plaint de céphalées."]
    alone = detect_record(RuleDetector(PseudoConfig()), texts, propagate_names=False)
    together = detect_record(RuleDetector(PseudoConfig()), texts, propagate_names=True)
    assert not any(s.text == "Durand" for s in alone[1])
    assert any(s.text == "Durand" and s.label == "NOM" for s in together[1])


def test_extra_spans_join_the_rules_and_their_names_spread():
    text = "Vu avec Zéphyrin ce jour. Zéphyrin est d'accord."
    extra = [Span.of(text, 8, 16, "PRENOM", source="model")]
    spans = detect(text, extra=extra)
    assert [(s.start, s.text) for s in spans if s.label == "PRENOM"] == [(8, "Zéphyrin"), (26, "Zéphyrin")]


def test_protected_terms_and_units_are_not_names():
    text = (
        "Rythme irrégulier : FA. QRS fins. Créatinine : 103 µmol/L. Cholestérol total : 2,57 g/L. HDL : 0,36."
    )
    assert detect(text) == []


def test_evaluate_detection_counts_what_stays_intact():
    text = "Signe de Babinski chez M. DUPONT, NIHSS 12."
    note = Note("n1", "n1", text, (Span.of(text, 26, 32, "NOM"),))
    good = evaluate_detection([note], [[Span.of(text, 26, 32, "NOM")]], kept=[[(34, 42)]])
    assert good["redact"] == 1.0 and good["protected_intact"] == {"share": 1.0, "n": 2}
    assert good["evidence_intact"]["share"] == 1.0
    bad = evaluate_detection(
        [note], [[Span.of(text, 9, 17, "NOM"), Span.of(text, 34, 39, "NOM")]], [[(34, 42)]]
    )
    assert bad["redact"] == 0.0 and bad["protected_intact"]["share"] == 0.0  # Babinski and NIHSS
    assert bad["evidence_intact"]["share"] == 0.0
    # a protected word inside a gold identifier is the identifier's: masking it breaks no clinical term
    street = "Suivi en SMR, 2 avenue Charcot. Pas de maladie de Charcot."
    note = Note("n2", "n2", street, (Span.of(street, 14, 30, "ADRESSE"),))
    masked = evaluate_detection([note], [[Span.of(street, 14, 30, "ADRESSE")]])
    assert masked["protected_intact"] == {"share": 1.0, "n": 1}


def test_build_detector_errors():
    with pytest.raises(ClinragError, match="needs a trained identifier model"):
        build_detector(PseudoConfig(detector="model"))
    with pytest.raises(ClinragError, match="not a clinrag identifier model folder"):
        build_detector(PseudoConfig(detector="hybrid", model="."))


# ---------------------------------------------------------------------------------------------------------
# eds-pseudo files, notes and folds
# ---------------------------------------------------------------------------------------------------------
def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_eds_pseudo(tmp_path):
    good = json.dumps(
        {
            "note_id": "a",
            "note_text": "Dr Jean DUPONT",
            "entities": [{"start": 3, "end": 7, "label": "PRENOM"}],
        }
    )
    notes = load_eds_pseudo(_write(tmp_path / "ok.jsonl", [good, ""]))
    assert notes[0].spans[0].text == "Jean" and notes[0].group == "a"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "ok.jsonl:2: not valid JSON"),
        ('{"note_id": "b", "entities": []}', "field 'note_text'"),
        ('{"note_id": "b", "note_text": "x y", "entities": [{"start": 0, "end": 1, "label": "NAME"}]}', "entities\\[0\\].label"),
        ('{"note_id": "b", "note_text": "x y", "entities": [{"start": 0, "end": 9, "label": "NOM"}]}', "outside the text"),
    ],
)  # fmt: skip
def test_load_eds_pseudo_names_the_line_and_field(tmp_path, line, message):
    good = json.dumps({"note_id": "a", "note_text": "x", "entities": []})
    with pytest.raises(ClinragError, match=message):
        load_eds_pseudo(_write(tmp_path / "ok.jsonl", [good, line]))


def test_load_eds_pseudo_rejects_non_utf8(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"note_id": "é"}'.encode("latin-1"))
    with pytest.raises(ClinragError, match="not UTF-8"):
        load_eds_pseudo(path)


def test_folds_keep_groups_whole(cohort):
    notes = cohort_notes(cohort)
    assigned = folds(notes, 4)
    by_group: dict[str, set[int]] = {}
    for note, fold in zip(notes, assigned, strict=True):
        by_group.setdefault(note.group, set()).add(fold)
    assert all(len(f) == 1 for f in by_group.values())
    assert set(assigned) == {0, 1, 2, 3}


# ---------------------------------------------------------------------------------------------------------
# the NER detector
# ---------------------------------------------------------------------------------------------------------
def test_decode_merges_tokens_widens_to_words_and_respects_the_threshold():
    import torch

    text = "Vu par Jean DUPONT le 12/03/2024."

    def probs(tag: str, p: float):
        row = torch.full((len(TAGS),), (1 - p) / (len(TAGS) - 1))
        row[TAGS.index(tag)] = p
        return row

    tokens = {
        (7, 11): probs("B-PRENOM", 0.9),
        (12, 15): probs("B-NOM", 0.8),  # "DUP": a sub-word, widened to "DUPONT"
        (15, 18): probs("I-NOM", 0.7),
        (22, 24): probs("B-DATE", 0.9),
        (24, 25): probs("I-DATE", 0.9),
        (25, 27): probs("I-DATE", 0.9),
        (27, 28): probs("I-DATE", 0.9),
        (28, 32): probs("I-DATE", 0.9),
        (3, 6): probs("O", 0.95),
    }
    spans = _decode(text, tokens, threshold=0.3)
    assert [(s.text, s.label, s.source) for s in spans] == [
        ("Jean", "PRENOM", "model"),
        ("DUPONT", "NOM", "model"),
        ("12/03/2024", "DATE", "model"),
    ]
    unsure = torch.zeros(len(TAGS))
    unsure[0], unsure[TAGS.index("B-PRENOM")] = 0.6, 0.4
    assert _decode(text, {(7, 11): unsure}, threshold=0.5) == []
    assert [s.text for s in _decode(text, {(7, 11): unsure}, threshold=0.3)] == ["Jean"]


# ---------------------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------------------
def test_pseudonymize_command(run_cli, synth_cohort_dir, tmp_path, cohort):
    out, key = tmp_path / "pseudo", tmp_path / "secret" / "key.json"
    key.parent.mkdir()
    result = run_cli(
        "pseudonymize", "--cohort", synth_cohort_dir, "--out", out, "--seed", "42", "--mapping", key
    )
    assert result.code == 0, result.stderr
    assert load_cohort(out).table is not None
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert json.loads(key.read_text())["seed"] == 42
    names = {cohort.document(p.doc_id).text[p.start : p.end] for p in cohort.phi if p.label == "NOM"}
    printed = result.stdout + result.stderr
    assert not any(name in printed for name in names)  # nothing identifying on the console
    assert not any(name in (out / "pseudonymization.json").read_text() for name in names)
    again = run_cli("pseudonymize", "--cohort", synth_cohort_dir, "--out", out, "--seed", "42")
    assert again.code == 2 and "--overwrite" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detector", "model"], "needs a trained identifier model"),
        (["--model", "/nonexistent/ner"], "identifier model folder not found"),
        (["--set", "mode=blur"], "mode"),
        (["--set", "detector=spacy"], "detector"),
        (["--mapping", "/nonexistent/dir/key.json"], "its folder does not exist"),
        (["--mapping", "OUT/key.json"], "inside the output cohort"),
    ],
)
def test_pseudonymize_command_bad_input(run_cli, synth_cohort_dir, tmp_path, args, message):
    out = tmp_path / "out"
    args = [str(out / "key.json") if a == "OUT/key.json" else a for a in args]
    result = run_cli("pseudonymize", "--cohort", synth_cohort_dir, "--out", out, *args)
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_pseudonymize_command_invalid_cohort(run_cli, cohort_copy, tmp_path):
    (cohort_copy / "documents.jsonl").write_text('{"patient_id": "P1"}\n', encoding="utf-8")
    result = run_cli("pseudonymize", "--cohort", cohort_copy, "--out", tmp_path / "out")
    assert result.code == 2 and "documents.jsonl:1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_evaluate_pseudo_command(run_cli, synth_cohort_dir, tmp_path):
    result = run_cli("evaluate-pseudo", "--cohort", synth_cohort_dir, "--out", tmp_path / "m.json")
    assert result.code == 0, result.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["redact"] > 0.9 and metrics["protected_intact"]["share"] == 1.0
    assert "redact" in result.stdout and "NOM" in result.stdout
    both = run_cli("evaluate-pseudo", "--cohort", synth_cohort_dir, "--eds-pseudo", tmp_path / "m.json")
    assert both.code == 2 and "exactly one" in both.stderr


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("12/03/2024", "DATE", True),
        ("2 9 0 2 1 9 9 5", "DATE_NAISSANCE", True),
        ("mars 2024", "DATE", True),
        ("03feb", "DATE", True),
        ("63", "DATE", False),  # the age of "63 ans"
        ("21/42", "DATE", False),  # an NIHSS
        ("110/min", "DATE", False),
        ("Dupont", "NOM", True),
        ("jour", "NOM", False),
        ("Bilan", "NOM", False),
        ("basilaire", "HOPITAL", False),
        ("hôpital Bichat", "HOPITAL", True),
        ("sept allée des roses", "ADRESSE", True),
        ("artérielle", "ADRESSE", False),
        ("Madame", "HOPITAL", False),
        ("73", "IPP", False),
        ("82", "TEL", False),
        ("8392", "IPP", True),
        ("2A 069", "ZIP", True),
        ("22/42", "TEL", False),
        ("12/03", "DATE", True),
    ],
)
def test_model_spans_must_be_plausible(text, label, expected):
    from clinrag.pseudo.ner import plausible

    assert plausible(Span(0, len(text), label, text)) is expected


@pytest.mark.parametrize(
    "name",
    [
        "Centre de rééducation Tour de Gassies",
        "SSR Les Grands Chênes",
        "Clinique de rééducation Les Trois Soleils",
    ],
)
def test_rehabilitation_centres_are_hospitals(name):
    text = f"Sortie vers le {name}. Bonne évolution."
    assert [(s.text, s.label) for s in detect(text)] == [(name, "HOPITAL")]


def test_free_text_table_cells_are_pseudonymized(cohort):
    from dataclasses import replace as dc_replace

    from clinrag.data.variables import Variable

    note = Variable(name="commentaire", type="text", description="Commentaire libre")
    pid = next(iter(cohort.table))
    table = {p: {**row, "commentaire": ""} for p, row in cohort.table.items()}
    table[pid]["commentaire"] = "Avis du Dr Jean DUPONT le 12/03/2023"
    small = dc_replace(
        cohort,
        variables=[*cohort.variables, note],
        table=table,
        table_columns=[*cohort.table_columns, "commentaire"],
    )
    cell = pseudonymize_cohort(small, PseudoConfig(mode="mask"), seed=3).cohort.table[pid]["commentaire"]
    assert cell == "Avis du Dr [PRENOM] [NOM] le [DATE]"


def test_the_documented_config_holds_the_defaults():
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[1] / "configs" / "pseudo.yaml"
    assert PseudoConfig(**yaml.safe_load(path.read_text(encoding="utf-8"))) == PseudoConfig()


def test_a_surname_that_is_part_of_an_eponym_is_still_a_surname():
    spans = detect("Patient : BARRE Jean, né le 02/03/1950. Pas de syndrome de Guillain-Barré.")
    assert ("BARRE", "NOM") in [(s.text, s.label) for s in spans]
    assert not any("Guillain" in s.text or s.text == "Barré" for s in spans)
