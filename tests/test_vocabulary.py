"""A variable read from its definition, its units and timepoint in a registry's own words, terms learned from a
table, and transfer to a cohort whose dictionary names the variables otherwise.

The phrasings are French clinical usage (registry dictionaries, notes and letters), written for these tests; none
comes from clinrag's synthetic generator.
"""

from __future__ import annotations

import pytest

from clinrag.data.cohort import Cohort, Document
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.experiment.transfer import match_variables, translate_results
from clinrag.generation.reader import CellResult
from clinrag.text.evidence import find_numbers
from clinrag.text.timepoints import timepoint_label
from clinrag.text.vocabulary import (
    Vocabulary,
    build_vocabulary,
    definition_vocabulary,
    learn_terms,
    load_concepts,
    matching_concepts,
)


@pytest.mark.parametrize(
    ("written", "label"),
    [
        ("admission", "admission"),
        ("à l'arrivée aux urgences", "admission"),
        ("H0", "admission"),
        ("score initial", "admission"),
        ("sortie", "sortie"),
        ("fin d'hospitalisation", "sortie"),
        ("sortie de l'hospitalisation index", "sortie"),
        ("M3", "3 mois"),
        ("J90", "3 mois"),
        ("à 3 mois", "3 mois"),
        ("trois mois", "3 mois"),
        ("pré-AVC", "avant l'AVC"),
        ("état antérieur", "avant l'AVC"),
        ("M12", "1 an"),
        ("séjour index", None),
        ("phase aiguë", None),
        (None, None),
    ],
)
def test_timepoints_in_a_registry_s_own_words(written, label):
    assert timepoint_label(written) == label


@pytest.mark.parametrize(
    ("definition", "concept"),
    [
        ({"name": "nihss_h0", "type": "integer", "description": "Score NIH à l'arrivée"}, "nihss"),
        ({"name": "rankin_m3", "type": "integer", "description": "Autonomie à 3 mois"}, "mrs"),
        (
            {"name": "tiv", "type": "boolean", "description": "Thrombolyse intraveineuse réalisée"},
            "thrombolysis",
        ),
        ({"name": "dt", "type": "boolean", "description": "Diabète connu, type 1 ou 2"}, "diabetes"),
        ({"name": "atcd_hta", "type": "boolean", "description": "Antécédent d'HTA"}, "hypertension"),
        (
            {"name": "fa", "type": "boolean", "description": "ACFA connue ou découverte"},
            "atrial_fibrillation",
        ),
    ],
)
def test_a_variable_is_read_from_its_definition(definition, concept):
    var = Variable(**definition)
    assert concept in [c.id for c in matching_concepts(var)]
    assert definition_vocabulary(var).terms, "the lexicon gives the variable terms without keywords"


def test_every_lexicon_entry_says_where_its_terms_come_from():
    concepts = load_concepts()
    assert len(concepts) >= 25
    assert all(c.source.strip() and c.terms for c in concepts)


def test_category_codes_of_another_registry_get_the_lexicon_s_wordings():
    sexe = Variable(name="sexe", type="category", description="Sexe", values=["H", "F"])
    vocab = definition_vocabulary(sexe)
    assert "femme" in [t for t, _ in vocab.values["F"]] and "homme" in [t for t, _ in vocab.values["H"]]
    sortie = Variable(
        name="mode_sortie",
        type="category",
        description="Mode de sortie",
        values=["domicile", "ssr", "deces"],
    )
    vocab = definition_vocabulary(sortie)
    assert any("rééducation" in t for t, _ in vocab.values["ssr"])


def test_units_and_conversions_come_from_the_variable():
    glycemia = Variable(name="glyc_entree", type="number", description="Glycémie à l'entrée", unit="g/L")
    conversions = definition_vocabulary(glycemia).unit_conversions
    assert conversions["mmol/L"] == pytest.approx(0.18, abs=0.001)
    enriched = Vocabulary({"glyc_entree": definition_vocabulary(glycemia)}).apply([glycemia])[0]
    found = [raw for _, _, raw in find_numbers(enriched, "Dextro 1,32 g/l ; contrôle à 7,3 mmol/L")]
    assert found == ["1,32 g/l", "7,3 mmol/L"]
    # a creatinine in µmol/L next to it is no glycemia
    assert find_numbers(enriched, "créatinine 85 µmol/l") == []


def test_terms_are_learned_from_the_table_when_the_definition_names_none():
    # "autonomie à la sortie" names no lexicon concept; the notes write the Barthel index in several ways
    var = Variable(
        name="autonomie_sortie",
        type="integer",
        description="Autonomie fonctionnelle à la sortie, sur 100",
        minimum=0,
        maximum=100,
    )
    notes = {
        "P1": ["Patient de 71 ans. TA 150/80. Index de Barthel à 85 à la sortie."],
        "P2": ["Mme 64 ans, sortie le 12/03. Barthel 60/100, marche avec canne."],
        "P3": ["Bilan kiné : Barthel évalué à 45. Poids 82 kg."],
        "P4": ["Au total, 55 ans, autonome. Barthel = 100."],
        "P5": ["Examen de sortie : score de Barthel 70, FC 88."],
    }
    table = {"P1": {var.name: "85"}, "P2": {var.name: "60"}, "P3": {var.name: "45"}, "P4": {var.name: "100"}}
    table["P5"] = {var.name: "70"}
    learned = learn_terms(notes, table, var, known=set())[""]
    assert "barthel" in [t.term.casefold() for t in learned]
    assert not any(t.term.casefold() in ("ta", "poids", "fc") for t in learned)
    vocabulary = build_vocabulary([var], notes, table)
    assert ["Barthel", "learned"] in vocabulary.variables[var.name].terms or any(
        source == "learned" and "barthel" in term.casefold()
        for term, source in vocabulary.variables[var.name].terms
    )


def test_no_learning_without_a_table():
    var = Variable(name="tiv", type="boolean", description="Thrombolyse intraveineuse")
    vocabulary = build_vocabulary([var], {}, {}, learn=True)
    assert vocabulary.variables["tiv"].learned == {}
    assert Vocabulary.from_json(vocabulary.to_json()) == vocabulary


def test_an_unknown_lexicon_is_one_clear_error(tmp_path):
    with pytest.raises(ClinragError, match="no such lexicon"):
        build_vocabulary([], lexicon="nowhere")
    broken = tmp_path / "broken.yaml"
    broken.write_text("concepts: [\n", encoding="utf-8")
    with pytest.raises(ClinragError, match="not a readable YAML lexicon"):
        build_vocabulary([], lexicon=str(broken))


def _cohort(variables: list[Variable]) -> Cohort:
    doc = Document(
        patient_id="X1", doc_id="X1-D1", date="2024-05-02", doc_type="cr", text="Patiente de 80 ans."
    )
    return Cohort(variables=variables, documents=[doc])


def test_transfer_matches_another_registry_s_variables_by_concept(tmp_path):
    run = [
        Variable(
            name="nihss_admission", type="integer", description="NIHSS à l'admission", timepoint="admission"
        ),
        Variable(name="nihss_sortie", type="integer", description="NIHSS à la sortie", timepoint="sortie"),
        Variable(name="sexe", type="category", description="Sexe", values=["homme", "femme"]),
        Variable(name="glycemie", type="number", description="Glycémie à l'admission", unit="mmol/L"),
        Variable(name="hta", type="boolean", description="Antécédent d'hypertension artérielle"),
    ]
    target = [
        Variable(name="nihss_h0", type="integer", description="Score NIH à l'arrivée", timepoint="H0"),
        Variable(name="sexe", type="category", description="Sexe du patient", values=["H", "F"]),
        Variable(name="glyc_entree", type="number", description="Glycémie capillaire", unit="g/L"),
        Variable(name="atcd_hta", type="boolean", description="HTA connue"),
        Variable(name="tabac", type="boolean", description="Tabagisme actif"),
    ]
    transfers, missing = match_variables(_cohort(target), run, [v.name for v in run], tmp_path)
    read_as = {t.target.name: t.internal.name for t in transfers}
    assert read_as == {
        "nihss_h0": "nihss_admission",
        "sexe": "sexe",
        "glyc_entree": "glycemie",
        "atcd_hta": "hta",
    }
    assert missing == ["tabac"]
    by_name = {t.target.name: t for t in transfers}
    assert by_name["sexe"].translate("femme") == "F"
    # read in the cohort's own unit: its bare "Glyc cap 1,18" is 1.18 g/L, a "6,5 mmol/L" converted into g/L
    glycemia = by_name["glyc_entree"].internal
    assert glycemia.unit == "g/L" and by_name["glyc_entree"].translate("1.18") == "1.18"
    from clinrag.data.values import parse_value
    from clinrag.text.evidence import find_numbers

    [(_, _, bare), (_, _, other)] = find_numbers(glycemia, "Glyc cap 1,18 ; contrôle à 6,5 mmol/L.")
    assert float(parse_value(glycemia, bare)) == pytest.approx(1.18)
    assert float(parse_value(glycemia, other)) == pytest.approx(1.17, abs=0.01)
    assert "HTA connue" not in by_name["atcd_hta"].internal.keywords  # a description is not a term
    results = [CellResult("X1", "sexe", "homme", "homme", None, 0.9, None, 10, 0.1)]
    assert translate_results(results, transfers)[0].cell == "H"


def test_transfer_refuses_the_same_name_with_another_type(tmp_path):
    run = [Variable(name="tabac", type="boolean", description="Tabagisme actif")]
    target = [Variable(name="tabac", type="category", description="Tabac", values=["actif", "sevre"])]
    with pytest.raises(ClinragError, match="field 'type' of 'tabac'"):
        match_variables(_cohort(target), run, ["tabac"], tmp_path)


def test_a_category_with_a_value_the_run_lacks_is_filled_on_the_others(tmp_path):
    run = [
        Variable(
            name="devenir",
            type="category",
            description="Mode de sortie",
            values=["domicile", "ssr", "deces"],
        )
    ]
    target = [
        Variable(
            name="orientation",
            type="category",
            description="Orientation à la sortie",
            values=["domicile", "ssr", "mutation"],
        )
    ]
    [transfer], missing = match_variables(_cohort(target), run, ["devenir"], tmp_path)
    assert missing == [] and transfer.unread == ["mutation"]
    assert transfer.translate("ssr") == "ssr" and transfer.translate("deces") == ""
