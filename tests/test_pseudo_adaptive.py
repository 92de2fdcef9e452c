"""Section sensitivity (blocks, weak-label rules, the trainable classifier) and ``pseudonymize --mode adaptive``.

Every text here was written for these tests, in the manner of French hospital letters and leaflets.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from clinrag.data.validate import load_cohort
from clinrag.errors import ClinragError
from clinrag.pseudo import Span, detect
from clinrag.pseudo.adaptive import (
    EXTRA_MASK,
    IDENTITY_MASK,
    AdaptiveConfig,
    coverage_spans,
    plan,
    rewrite,
    whole_text,
)
from clinrag.pseudo.pipeline import PseudoConfig, pseudonymize_cohort
from clinrag.pseudo.replace import PatientKey
from clinrag.pseudo.section_classifier import (
    SectionClassifier,
    SectionClassifierConfig,
    build_labeller,
    read_training_texts,
)
from clinrag.pseudo.sections import RuleLabeller, heading_kind, segment, segment_texts

LETTER = """Centre hospitalier de Valmont - Service de neurologie
Pôle B, bâtiment 4
Docteur Hélène Garnier

Patient : BERTRAND Lucien, né le 04/05/1951
IPP : 40021187 — NDA : 7712093
Adresse : 14 rue des Vignes, 21000 Dijon

Cher confrère,

Motif : hémiparésie droite brutale.
HDM : patient de 73 ans, retrouvé le 12/03/2024 au matin par ses voisins Ferrandou avec un déficit du bras
droit et une aphasie. Arrivée aux urgences à 9h10, NIHSS 9.
Examen : signe de Babinski à droite, PA 165/90 mmHg. Traitement par Kardégic 75 mg poursuivi.

Conseils de sortie :
En cas de nouveau trouble de la parole ou de faiblesse d'un bras, appelez le 15 sans attendre.
Il est recommandé de ne pas conduire avant la consultation de contrôle.

Bien confraternellement,
Dr Hélène Garnier
Neurologue
"""


def _labels(text: str) -> list[tuple[str, str]]:
    labelled = RuleLabeller().label([text], [detect(text)])[0]
    return [(text[x.segment.start : x.segment.end], x.label) for x in labelled]


def _label_of(pairs: list[tuple[str, str]], start: str) -> str:
    return next(label for block, label in pairs if block.startswith(start))


# ---------------------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------------------
def test_blocks_follow_headings_blank_lines_and_layout_lines():
    blocks = [LETTER[s.start : s.end] for s in segment_texts([LETTER])[0]]
    assert blocks[:3] == [
        "Centre hospitalier de Valmont - Service de neurologie",
        "Pôle B, bâtiment 4",
        "Docteur Hélène Garnier",
    ]
    assert "IPP : 40021187" in blocks and "NDA : 7712093" in blocks  # two fields of one line: two blocks
    hdm = next(b for b in blocks if b.startswith("HDM"))
    assert hdm.endswith("NIHSS 9.")  # wrapped prose stays one block
    assert "Dr Hélène Garnier" in blocks and "Neurologue" in blocks


def test_a_text_without_headings_falls_back_to_paragraphs_and_lines():
    text = (
        "Revu ce jour en consultation.\nPas de récidive.\n\nCourte note pour le dossier, sans autre élément."
    )
    blocks = [text[s.start : s.end] for s in segment(text)]
    assert blocks == ["Revu ce jour en consultation.", "Pas de récidive.", text.split("\n\n")[1]]
    assert segment("") == []


def test_a_heading_alone_on_its_line_heads_the_next_line():
    text = "Antécédents :\nHTA traitée, diabète de type 2.\nTabagisme sevré."
    segments = segment_texts([text])[0]
    assert text[segments[0].start : segments[0].end] == "Antécédents :\nHTA traitée, diabète de type 2."
    assert segments[1].heading == "Antécédents" and not segments[1].own_heading
    assert segments[0].eds_section == "antécédents"  # edsnlp's title


def test_headings_name_their_kind():
    assert heading_kind("Date de naissance") == "identity"
    assert heading_kind("Motif d'hospitalisation") == "clinical"
    assert heading_kind("Conseils de sortie") == "general"
    assert heading_kind("Résumé des épisodes") == "clinical"
    assert heading_kind("Remarque") == ""


# ---------------------------------------------------------------------------------------------------------
# weak labels
# ---------------------------------------------------------------------------------------------------------
def test_the_rules_label_a_letter():
    pairs = _labels(LETTER)
    assert _label_of(pairs, "Centre hospitalier") == "identity"  # letterhead
    assert _label_of(pairs, "Patient : BERTRAND") == "identity"
    assert _label_of(pairs, "Adresse") == "identity"
    assert _label_of(pairs, "Cher confrère") == "identity"  # salutation
    assert _label_of(pairs, "Motif") == "clinical"
    assert _label_of(pairs, "HDM") == "clinical"  # identifiers inside clinical narrative
    assert _label_of(pairs, "Conseils de sortie :\nEn cas de") == "general"
    assert any("Il est recommandé" in block for block, label in pairs if label == "general")
    assert _label_of(pairs, "Bien confraternellement") == "identity"
    assert _label_of(pairs, "Neurologue") == "identity"  # signature


def test_leaflet_wording_is_general_and_a_case_is_clinical():
    leaflet = (
        "Qu'est-ce que ce médicament ?\nCe médicament est indiqué chez les patients ayant eu un infarctus."
    )
    assert {label for _, label in _labels(leaflet)} == {"general"}
    case = "Patiente de 64 ans hospitalisée pour un infarctus cérébral, NIHSS 6 à l'admission."
    assert _labels(case) == [(case, "clinical")]


# ---------------------------------------------------------------------------------------------------------
# adaptive masking
# ---------------------------------------------------------------------------------------------------------
def _rewrite(text: str, config: AdaptiveConfig | None = None, key: PatientKey | None = None):
    spans = detect(text)
    labelled = RuleLabeller().label([text], [spans])[0]
    return rewrite(text, spans, labelled, key or PatientKey("P1", 99), config or AdaptiveConfig())


def test_identity_lines_are_masked_whole_and_clinical_terms_stay():
    out = _rewrite(LETTER).replaced.text
    assert out.startswith(f"{IDENTITY_MASK}\n{IDENTITY_MASK}\n{IDENTITY_MASK}\n")
    assert "Patient : " + IDENTITY_MASK in out and "IPP : " + IDENTITY_MASK in out  # field names kept
    for gone in ("BERTRAND", "Lucien", "Valmont", "Garnier", "40021187", "Dijon", "Vignes", "Neurologue"):
        assert gone not in out
    for kept in ("signe de Babinski", "Kardégic 75 mg", "NIHSS 9", "PA 165/90 mmHg", "aphasie"):
        assert kept in out
    assert "appelez le 15 sans attendre" in out  # general text untouched


def test_clinical_blocks_mask_unknown_names_and_shift_dates():
    key = PatientKey("P1", 99)
    rewritten = _rewrite(LETTER, key=key)
    out = rewritten.replaced.text
    assert "Ferrandou" not in out and EXTRA_MASK in out  # a name the detector did not know
    shifted = key.shift(dt.date(2024, 3, 12)).strftime("%d/%m/%Y")
    assert shifted in out  # the clinical date shifted, not masked
    kinds = {r.kind for r in rewritten.regions}
    assert {"line", "identifier", "word"} <= kinds


def test_each_part_of_adaptive_masking_can_be_turned_off():
    plain = _rewrite(LETTER, AdaptiveConfig(identity_lines=False, clinical_words=False, dates="mask"))
    assert IDENTITY_MASK not in plain.replaced.text and EXTRA_MASK not in plain.replaced.text
    assert "Ferrandou" in plain.replaced.text  # no detector finds it: only the clinical words pass did
    assert "[DATE]" in plain.replaced.text and "Pôle B, bâtiment 4" in plain.replaced.text
    assert {r.kind for r in plain.regions} == {"identifier"}


def test_offsets_of_clinical_text_are_carried_to_the_new_text():
    rewritten = _rewrite(LETTER)
    start = LETTER.index("signe de Babinski")
    new_start, new_end = rewritten.replaced.offsets.map(start, start + len("signe de Babinski"))
    assert rewritten.replaced.text[new_start:new_end] == "signe de Babinski"
    records = rewritten.records(LETTER)
    assert len(records) == len(rewritten.regions)
    assert ("LINE", "Pôle B, bâtiment 4", IDENTITY_MASK) in records


def test_plan_has_no_overlaps_and_covers_every_identifier():
    spans = detect(LETTER)
    labelled = RuleLabeller().label([LETTER], [spans])[0]
    regions = plan(LETTER, spans, labelled, AdaptiveConfig())
    for a, b in zip(regions, regions[1:], strict=False):
        assert a.end <= b.start
    for span in spans:
        assert any(r.start <= span.start and span.end <= r.end for r in regions)
    covered = coverage_spans(LETTER, regions)
    assert all(isinstance(s, Span) for s in covered) and len(covered) == len(regions)


def test_general_blocks_keep_everything_but_identifiers():
    text = (
        "En cas de question, contactez le secrétariat au 03 80 12 34 56. Il est recommandé de venir à jeun."
    )
    out = rewrite(text, detect(text), whole_text(text, "general"), PatientKey("P", 1), AdaptiveConfig())
    assert out.replaced.text == text.replace("03 80 12 34 56", "[TEL]")


# ---------------------------------------------------------------------------------------------------------
# the classifier
# ---------------------------------------------------------------------------------------------------------
CLINICAL_NOTES = [
    "Patient de 70 ans admis pour aphasie brutale. NIHSS 12 à l'arrivée, thrombolyse IV réalisée.",
    "Patiente de 58 ans, hémiparésie gauche, IRM : infarctus sylvien droit. Pas de FA au scope.",
    "Évolution favorable, NIHSS 2 à la sortie. Traitement par apixaban 5 mg deux fois par jour.",
]


def _training_texts() -> list[str]:
    return [LETTER, *CLINICAL_NOTES, "Conseils :\nIl est recommandé de marcher chaque jour.\nEn cas de doute, "
            "consultez votre médecin traitant."]  # fmt: skip


def test_the_classifier_learns_the_weak_labels_and_round_trips(tmp_path):
    texts = _training_texts()
    spans = [detect(t) for t in texts]
    model = SectionClassifier.train(texts, spans, SectionClassifierConfig(n_features=1024))
    assert model.summary["blocks"] >= 15 and set(model.summary["weak_labels"]) >= {"identity", "clinical"}
    labelled = model.label(texts, spans)
    agree = [
        x.label == y.label for a, b in zip(labelled, RuleLabeller().label(texts, spans), strict=True)
        for x, y in zip(a, b, strict=True)
    ]  # fmt: skip
    assert sum(agree) / len(agree) > 0.8
    model.save_pretrained(tmp_path / "sections")
    record = json.loads((tmp_path / "sections" / "clinrag_sections.json").read_text())
    assert record["clinrag_component"] == "section_classifier" and "scikit-learn" in record["versions"]
    loaded = build_labeller(tmp_path / "sections")
    for a, b in zip(model.probabilities(texts, spans), loaded.probabilities(texts, spans), strict=True):
        for (_, p), (_, q) in zip(a, b, strict=True):
            assert p == pytest.approx(q, abs=1e-6)
    assert isinstance(build_labeller(None), RuleLabeller)


def test_the_classifier_needs_two_kinds_of_blocks():
    texts = CLINICAL_NOTES[:1]
    with pytest.raises(ClinragError, match="fewer than two"):
        SectionClassifier.train(texts, [detect(t) for t in texts])


def test_folders_that_are_not_section_classifiers_are_refused(tmp_path):
    with pytest.raises(ClinragError, match="not a section classifier folder"):
        SectionClassifier.from_pretrained(tmp_path)
    (tmp_path / "clinrag_sections.json").write_text('{"clinrag_component": "ner_detector"}')
    with pytest.raises(ClinragError, match="not a section classifier"):
        SectionClassifier.from_pretrained(tmp_path)


def test_training_texts_are_read_from_folders_with_clear_errors(tmp_path):
    (tmp_path / "a.txt").write_text(CLINICAL_NOTES[0], encoding="utf-8")
    texts, sources = read_training_texts([], [], [tmp_path])
    assert texts == [CLINICAL_NOTES[0]] and sources == [tmp_path.name]
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe caf\xe9")
    with pytest.raises(ClinragError, match="b.txt: not UTF-8"):
        read_training_texts([], [], [tmp_path])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClinragError, match="no .txt file"):
        read_training_texts([], [], [tmp_path / "empty"])
    with pytest.raises(ClinragError, match="nothing to train on"):
        read_training_texts([], [], [])


# ---------------------------------------------------------------------------------------------------------
# the cohort and the commands
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def adaptive(synth_cohort_dir):
    cohort = load_cohort(synth_cohort_dir)
    return cohort, pseudonymize_cohort(cohort, PseudoConfig(mode="adaptive"), seed=5)


def test_an_adaptive_cohort_keeps_no_gold_identifier(adaptive):
    cohort, result = adaptive
    new = result.cohort
    leaked = 0
    for p in cohort.phi:
        original = cohort.document(p.doc_id).text[p.start : p.end]
        if p.label in ("NOM", "IPP", "TEL", "SECU") and len(original) > 3:
            leaked += original in new.document(p.doc_id).text
    assert leaked == 0
    summary = result.summary()
    assert summary["masked_beyond_identifiers"]["line"] > 0
    assert set(summary["blocks_per_sensitivity"]) >= {"identity", "clinical"}
    assert result.mapping["mode"] == "adaptive"


def test_an_adaptive_cohort_keeps_its_clinical_evidence(adaptive):
    cohort, result = adaptive
    dates = {v.name for v in cohort.variables if v.type == "date"}
    same = total = 0
    for old, moved in zip(cohort.evidence, result.cohort.evidence, strict=True):
        if old.variable in dates:
            continue
        total += 1
        same += (
            cohort.document(old.doc_id).text[old.start : old.end]
            == result.cohort.document(moved.doc_id).text[moved.start : moved.end]
        )
    assert total > 50 and same / total > 0.9


def test_pseudonymize_adaptive_command(run_cli, synth_cohort_dir, tmp_path):
    out = tmp_path / "adaptive"
    result = run_cli("pseudonymize", "--cohort", synth_cohort_dir, "--out", out, "--mode", "adaptive", "-q")
    assert result.code == 0, result.stderr
    assert "adaptive" in result.stdout
    assert load_cohort(out).documents
    assert "blocks_per_sensitivity" in json.loads((out / "pseudonymization.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "adaptive.classifier=/nonexistent/sections"], "not a section classifier folder"),
        (["--set", "adaptive.dates=blur"], "adaptive.dates"),
        (["--set", "adaptive.colour=red"], "adaptive.colour"),
    ],
)
def test_pseudonymize_adaptive_bad_input(run_cli, synth_cohort_dir, tmp_path, args, message):
    out = tmp_path / "out"
    result = run_cli("pseudonymize", "--cohort", synth_cohort_dir, "--out", out, "--mode", "adaptive", *args)
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_train_sections_command(run_cli, tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    for index, text in enumerate(_training_texts()):
        (texts / f"{index}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "sections"
    result = run_cli("train-sections", "--out", out, "--texts", texts, "--set", "n_features=512", "-q")
    assert result.code == 0, result.stderr
    assert "weak labels" in result.stdout and (out / "weights.safetensors").is_file()
    again = run_cli("train-sections", "--out", out, "--texts", texts)
    assert again.code == 2 and "--overwrite" in again.stderr
    (tmp_path / "file").write_text("x")
    for args, message in (
        (["--out", tmp_path / "file", "--texts", texts], "is a file"),
        (["--out", tmp_path / "new", "--texts", tmp_path / "missing"], "no such file or folder"),
        (["--out", tmp_path / "new"], "nothing to train on"),
        (["--out", tmp_path / "new", "--texts", texts, "--set", "n_features=2"], "n_features"),
    ):
        bad = run_cli("train-sections", *args)
        assert bad.code == 2 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
        assert not (tmp_path / "new").exists()


def test_evaluate_pseudo_scores_what_adaptive_masking_covers(run_cli, synth_cohort_dir, tmp_path):
    plain = run_cli("evaluate-pseudo", "--cohort", synth_cohort_dir, "--out", tmp_path / "rules.json", "-q")
    assert plain.code == 0, plain.stderr
    adaptive = run_cli(
        "evaluate-pseudo", "--cohort", synth_cohort_dir, "--out", tmp_path / "adaptive.json", "--set",
        "mode=adaptive", "-q",
    )  # fmt: skip
    assert adaptive.code == 0, adaptive.stderr
    rules, covered = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("rules", "adaptive"))
    assert "mode" not in rules and covered["mode"] == "adaptive"
    assert covered["redact"] >= rules["redact"] and covered["redact_precision"] <= rules["redact_precision"]
    assert covered["protected_intact"]["share"] > 0.9
    bad = run_cli(
        "evaluate-pseudo", "--cohort", synth_cohort_dir, "--set", "mode=adaptive", "--set",
        f"adaptive.classifier={tmp_path}",
    )  # fmt: skip
    assert bad.code == 2 and "not a section classifier folder" in bad.stderr
