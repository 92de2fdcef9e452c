"""The candidate model (reader.values: candidates): what the rules propose for a cell, and how the train split's
table weighs it.

The passages are French clinical phrasing written for these tests (emergency notes, follow-up letters), not
sentences of the synthetic generator nor of the hand-written cohorts.
"""

from dataclasses import asdict

import pytest

from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.candidates import (
    Candidate,
    ValueModel,
    candidates,
    learn_value_model,
    load_value_model,
    save_value_model,
    unit_after,
)
from clinrag.generation.config import ReaderConfig
from clinrag.generation.reader import CellRequest, LLMReader, decoder_variables, retrieval_depth
from clinrag.text.annotate import Annotator
from clinrag.text.passages import Passage

NIHSS = Variable(
    name="nihss_arrivee",
    type="integer",
    description="Score NIHSS à l'arrivée",
    minimum=0,
    maximum=42,
    timepoint="arrivée aux urgences",
    keywords=["NIHSS"],
)
AGE = Variable(name="age", type="integer", description="Âge", unit="ans", minimum=18, maximum=110)
RANKIN = Variable(
    name="mrs_m3",
    type="integer",
    description="Rankin modifié à trois mois",
    minimum=0,
    maximum=6,
    timepoint="M3",
    keywords=["Rankin", "mRS"],
)
DESTINATION = Variable(
    name="destination",
    type="category",
    description="Devenir à la sortie",
    values=["domicile", "ssr"],
    synonyms={"domicile": ["retour à domicile"], "ssr": ["rééducation"]},
    timepoint="sortie",
)


def _passage(text: str, days: float = 0.0, doc_index: int = 0, doc: str = "D1") -> Passage:
    return Passage("P1", doc, 0, len(text), text, "2024-03-02", "courrier", "", doc_index, days)


def _found(var: Variable, passages: list[Passage]) -> list[Candidate]:
    mentions = [a.mentions for a in Annotator([var]).annotate_texts([p.text for p in passages])]
    return candidates(var, passages, mentions)


def test_scores_get_their_timepoint_and_whether_a_term_announces_them():
    found = _found(NIHSS, [_passage("Examen à l'arrivée : NIHSS 14. À H24, NIHSS à 6 ; PA 162/91.")])
    by_cell = {c.cell: c.features for c in found}
    assert by_cell["14"]["timepoint_wanted"] == 1.0 and by_cell["14"]["announced"] == 1.0
    assert by_cell["6"]["timepoint_other"] == 1.0 and by_cell["6"]["timepoint_wanted"] == 0.0
    assert "162" not in by_cell  # out of the score's range
    assert "24" not in by_cell  # "H24" is a timepoint, not a value


def test_a_number_in_another_unit_is_marked_so():
    found = _found(AGE, [_passage("Patiente de 81 ans, apixaban 2,5 mg x2 (poids 58 kg).")])
    by_cell = {c.cell: c.features for c in found}
    assert by_cell["81"].get("unit_own") == 1.0 and not by_cell["81"].get("unit_other")
    assert by_cell["58"].get("unit_other") == 1.0
    telegraphic = {c.cell: c.features for c in _found(AGE, [_passage("SAU. F 67a, chute, hémiplégie G.")])}
    assert telegraphic["67"]["announced"] == 1.0 and telegraphic["67"]["unit_own"] == 1.0
    assert unit_after("NIHSS 4 points", 7) == "points" and unit_after("4/42", 1) is None
    assert unit_after("H 72a, chute", 4) == "ans" and unit_after("72 au total", 2) is None


def test_follow_up_values_know_whether_their_document_is_in_the_timepoint_window():
    admission = _passage("Autonomie antérieure : mRS 1.", days=0.0)
    visit = _passage("Consultation de suivi : Rankin modifié à 2.", days=94.0, doc_index=3, doc="D4")
    found = _found(RANKIN, [admission, visit])
    early = next(c for c in found if c.cell == "1")
    late = next(c for c in found if c.cell == "2")
    assert early.features["days_out_of_window"] == 1.0 and early.features["timepoint_other"] == 1.0
    assert late.features["days_in_window"] == 1.0 and late.features["latest_candidate"] == 1.0
    assert early.features["rank_first"] == 1.0 and late.features["rank_first"] == 0.0


def test_category_candidates_carry_their_qualifiers():
    found = _found(
        DESTINATION,
        [_passage("Pas de retour à domicile possible dans l'immédiat ; transfert en rééducation le 12/04.")],
    )
    by_cell = {c.cell: c.features for c in found}
    assert by_cell["domicile"]["negated"] == 1.0
    assert by_cell["ssr"]["affirmed"] == 1.0


def _cell(wanted: str, other: str, right_first: bool) -> list[Candidate]:
    """Two candidates of a score: one at the variable's timepoint, one at another; ranked either way."""
    right = Candidate(wanted, 0 if right_first else 1, 0, 1, {"timepoint_wanted": 1.0, "announced": 1.0})
    wrong = Candidate(other, 1 if right_first else 0, 0, 1, {"timepoint_other": 1.0, "announced": 1.0})
    for c in (right, wrong):
        c.features["rank_first"] = float(c.passage == 0)
    return [right, wrong]


def test_the_table_teaches_which_candidate_answers_and_when_to_abstain():
    table, cells = {}, []
    for i in range(24):
        pid = f"P{i:02d}"
        if i % 4 == 3:  # no score at the timepoint: only one at another timepoint, and an empty table cell
            table[pid] = {"nihss_arrivee": ""}
            cells.append((pid, NIHSS, [Candidate("9", 0, 0, 1, {"timepoint_other": 1.0, "announced": 1.0})]))
        else:
            table[pid] = {"nihss_arrivee": str(i)}
            cells.append((pid, NIHSS, _cell(str(i), str(i + 10), right_first=i % 2 == 0)))
    model = learn_value_model(table, cells)
    assert model is not None
    cell, _, chosen = model.choose("nihss_arrivee", _cell("12", "3", right_first=False))
    assert cell == "12" and chosen is not None and chosen.passage == 1  # ranked second, still chosen
    only_other = [Candidate("7", 0, 0, 1, {"timepoint_other": 1.0, "announced": 1.0})]
    assert model.choose("nihss_arrivee", only_other)[0] == ""  # abstains: learned from the empty cells
    assert model.choose("nihss_arrivee", [])[0] == ""  # no candidate: the fallback


def test_value_model_round_trip_and_bad_file(tmp_path):
    table = {f"P{i}": {"nihss_arrivee": str(i)} for i in range(6)}
    cells = [(pid, NIHSS, _cell(row["nihss_arrivee"], "30", True)) for pid, row in table.items()]
    model = learn_value_model(table, cells)
    save_value_model(model, tmp_path)
    again = load_value_model(tmp_path)
    assert again.coef == model.coef and again.thresholds == model.thresholds
    (tmp_path / "values.json").write_text('{"features": ["x"]}', encoding="utf-8")
    with pytest.raises(ClinragError, match="values.json: not a value model"):
        load_value_model(tmp_path)
    assert learn_value_model({"P1": {"nihss_arrivee": ""}}, [("P1", NIHSS, _cell("1", "2", True))]) is None


def test_the_reader_answers_from_the_wider_passages_with_provenance():
    table = {f"P{i}": {"age": str(60 + i)} for i in range(8)}
    cells = []
    for pid, row in table.items():
        passages = [
            _passage("Hémiparésie droite."),
            _passage(f"Patient de {row['age']} ans, 70 kg.", doc="D2"),
        ]
        cells.append((pid, AGE, _found(AGE, passages)))
    model = learn_value_model(table, cells)
    reader = LLMReader(ReaderConfig(), decoder=object())
    reader.value_model = model
    top = _passage("Aphasie brutale.")
    second = _passage("Monsieur de 77 ans, 82 kg, autonome.", doc="D9")
    decided = reader.decide(CellRequest("P1", AGE, [top], [top, second]))
    assert decided is not None
    cell, _, extra, support = decided
    assert cell == "77" and extra["answered_by"] == "candidates" and support.doc_id == "D9"


def test_what_the_decoder_still_reads_and_how_deep_retrieval_goes():
    variables = [
        NIHSS,
        DESTINATION,
        Variable(name="fa", type="boolean", description="FA"),
        Variable(name="date_avc", type="date", description="Date de l'AVC"),
    ]
    notes = Variable(name="commentaire", type="text", description="Commentaire libre")
    assert [v.name for v in decoder_variables(ReaderConfig(), [*variables, notes])] == ["commentaire"]
    assert [v.name for v in decoder_variables(ReaderConfig(dates="llm"), variables)] == ["date_avc"]
    llm = ReaderConfig(values="llm", booleans="llm")
    assert len(decoder_variables(llm, variables)) == 4
    assert retrieval_depth(ReaderConfig(), 1) == 5 and retrieval_depth(llm, 1) == 1
    assert retrieval_depth(ReaderConfig(candidate_passages=3), 8) == 8


def test_the_deceased_get_the_fallback_their_train_cells_teach():
    """A Rankin at 3 months no passage writes: 6 for the patients whose record reports their death, not
    documented for those lost to follow-up (learned from the table, not a rule of the scale)."""
    table, cells, deceased = {}, [], set()
    for i in range(24):
        pid = f"P{i:02d}"
        if i % 4 == 0:
            table[pid] = {"mrs_m3": "6"}
            deceased.add(pid)
            cells.append((pid, RANKIN, []))
        elif i % 4 == 1:
            table[pid] = {"mrs_m3": ""}
            cells.append((pid, RANKIN, []))
        else:
            table[pid] = {"mrs_m3": str(i % 3)}
            right = Candidate(str(i % 3), 0, 0, 1, {"timepoint_wanted": 1.0, "announced": 1.0})
            wrong = Candidate("5", 1, 0, 1, {"timepoint_other": 1.0})
            cells.append((pid, RANKIN, [right, wrong]))
    model = learn_value_model(table, cells, frozenset(deceased))
    assert model.choose("mrs_m3", [], deceased=True)[0] == "6"
    assert model.choose("mrs_m3", [], deceased=False)[0] == ""
    # without deaths in the record, the lost to follow-up outnumber nothing: the usual fallback
    assert learn_value_model(table, cells).choose("mrs_m3", [])[0] in ("", "6")


def test_a_value_only_weak_candidates_held_is_not_answered_where_nothing_is_written():
    """A cohort whose every admission NIHSS is written: where the best candidate is weak the table often holds
    the same score (here 6), which may be the fallback of such cells; a record that offers no candidate at all
    (a case report that never gives a NIHSS) gets the fallback of the train cells without one: none here, so
    not documented."""
    table, cells = {}, []
    for i in range(24):
        pid = f"P{i:02d}"
        if i % 3 == 0:  # a weak, unannounced number at another timepoint; the table holds 6
            table[pid] = {"nihss_arrivee": "6"}
            cells.append((pid, NIHSS, [Candidate("11", 0, 0, 1, {"timepoint_other": 1.0})]))
        else:
            table[pid] = {"nihss_arrivee": str(i)}
            cells.append((pid, NIHSS, _cell(str(i), str(i + 10), right_first=True)))
        table[pid]["mrs_m3"] = "" if i % 2 else "2"  # a second variable, never written
        cells.append((pid, RANKIN, []))
    model = learn_value_model(table, cells)
    weak = [Candidate("11", 0, 0, 1, {"timepoint_other": 1.0})]
    assert model.choose("nihss_arrivee", weak)[0] == "6"  # what the table teaches for such cells
    assert model.choose("nihss_arrivee", [])[0] == ""  # nothing written: not documented
    assert model.fallbacks_bare == {"nihss_arrivee": "", "mrs_m3": ""}  # 2 is held by half: no fallback
    old = ValueModel(**{**asdict(model), "fallbacks_bare": {}})
    assert old.choose("nihss_arrivee", [])[0] == "6"  # a model saved before VERSION 7 answers as it did


def test_a_request_knows_whether_the_patients_record_reports_a_death():
    from clinrag.text.passages import PassageStore

    store = PassageStore(
        [
            Passage("P1", "D1", 0, 30, "Hémiplégie droite, aphasie.", "2024-03-02", "urg", "", 0, 0.0),
            Passage("P2", "D2", 0, 40, "Père décédé d'un AVC à 70 ans.", "2024-03-02", "urg", "", 0, 0.0),
            Passage("P2", "D3", 0, 40, "Patiente décédée à J6 en USINV.", "2024-03-08", "cr", "", 1, 6.0),
            Passage(
                "P3", "D4", 0, 40, "Mère décédée, pas d'autre antécédent.", "2024-03-02", "urg", "", 0, 0.0
            ),
        ]
    )
    assert store.deceased() == frozenset({"P2"})


def test_dates_are_candidates_placed_against_their_note():
    onset = Variable(
        name="date_debut", type="date", description="Date de début des symptômes", keywords=["vu normal"]
    )
    # the second document, a day after the first
    text = "Vu normal hier à 22 h, réveillé ce matin avec une aphasie. AVC en 2019 (le 12/05/2019)."
    note = Passage("P1", "D2", 0, len(text), text, "2024-03-03T09:10", "urg", "", 1, 1.0)
    found = {c.cell: c.features for c in _found(onset, [note])}
    assert set(found) == {"2024-03-02", "2024-03-03", "2019-05-12"}
    assert found["2024-03-02"]["announced"] == 1.0 and found["2024-03-02"]["date_near_start"] == 1.0
    assert found["2024-03-03"]["date_same_day"] == 1.0
    assert found["2019-05-12"]["date_before"] == 1.0 and found["2019-05-12"]["date_near_start"] == 0.0


def test_a_one_letter_value_glued_to_a_figure_is_no_candidate():
    sex = Variable(name="sexe", type="category", description="Sexe", values=["M", "F"])
    text = "Occlusion M1 gauche, cathéter porteur 8F. Sexe : F, 81 ans."
    found = _found(sex, [_passage(text)])
    assert [(c.cell, c.start) for c in found] == [("F", text.index("F, 81"))]


def test_a_target_or_a_threshold_is_marked_a_bound():
    ldl = Variable(
        name="ldl", type="number", description="LDL-cholestérol", unit="g/L", minimum=0.2, maximum=4
    )
    text = "Bilan lipidique : LDL 1,62 g/L. Statine forte, objectif LDL < 0,55 g/L."
    found = {c.cell: c.features for c in _found(ldl, [_passage(text)])}
    assert found["0.55"].get("bound") == 1.0 and not found["1.62"].get("bound")


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("Revu en consultation à trois mois.\nIl a deux petits-enfants qui l'aident pour les courses.", []),
        ("Absent au rendez-vous des 3 mois ; 2 relances par téléphone restées sans réponse.", []),
        ("Consultation M3 : marche seul, mRS 2.", ["2"]),
        ("Échelle de Rankin modifiée :\n- avant l'AVC : 0\n- à trois mois : 1", ["0", "1"]),
        ("Rankin à trois mois\n3", ["3"]),
        ("Suivi à 3 mois, score de Rankin modifié à deux, reprise du travail", ["2"]),
    ],
)
def test_a_score_is_offered_only_where_its_scale_is_named_in_the_clause(text, offered):
    """A scale's value is written with the scale's name: a number of another clause ("deux petits-enfants", "2
    relances") is no Rankin, a list or a label above the value carries the name down to it."""
    assert sorted({c.cell for c in _found(RANKIN, [_passage(text, days=92.0)])}) == offered


def test_values_with_a_unit_keep_their_candidates_without_a_term():
    """Ages and measures are not scales: "Mme B., 84 ans" needs no term of the age in its clause."""
    assert [c.cell for c in _found(AGE, [_passage("Mme B., 84 ans, vit seule.")])] == ["84"]


@pytest.mark.parametrize(
    ("text", "cells"),
    [
        # one dictated line: the count of seizures is no Rankin, the value the scale's name announces is
        ("revue à trois mois trois épisodes de vertiges brefs sans déficit elle conduit Rankin un", {"1"}),
        ("vue à trois mois deux chutes à domicile marche avec un déambulateur mRS quatre", {"4"}),
        # the name announces it: a dictated note runs on after the value
        ("consultation à trois mois Rankin deux troubles mnésiques modérés", {"2"}),
        ("à trois mois mRS 3 sans aide pour la toilette", {"3"}),
    ],
)
def test_a_number_that_counts_things_is_no_score(text, cells):
    found = _found(RANKIN, [_passage(text, days=92.0)])
    assert {c.cell for c in found} == cells


def test_counts_things_reads_the_plural_after_a_cardinal():
    from clinrag.text.numbers import counts_things

    text = "deux nouvelles crises, 3 passages, 2 points, un appel, 4 bras, 5\npatients"
    assert counts_things(text, text.index(" nouvelles"), "2")
    assert counts_things(text, text.index(" passages"), "3")
    assert not counts_things(text, text.index(" points"), "2")  # a score's unit
    assert not counts_things(text, text.index(" appel"), "1")  # one: singular
    assert not counts_things(text, text.index(" bras"), "4")  # invariable
    assert not counts_things(text, text.index("\npatients"), "5")  # another line
