"""Training pairs under distant supervision (lora.weak_evidence) and numbers written in French words.

The passages are French clinical phrasing written for these tests (dictated letters, emergency notes), not
sentences of the synthetic generator.
"""

import datetime as dt

import pytest

from clinrag.data.cohort import Cohort, Document
from clinrag.data.variables import Variable
from clinrag.generation.constraints import stated_values
from clinrag.generation.lora import find_weak_evidence, with_weak_evidence
from clinrag.generation.reader import CellRequest
from clinrag.retrieval.bm25 import BM25Retriever
from clinrag.text.evidence import find_integers, find_numbers
from clinrag.text.numbers import spelled_numbers
from clinrag.text.passages import build_passages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Monsieur soixante-douze ans, adressé pour aphasie.", [72]),
        ("NIHSS à quatorze à l'arrivée, puis à huit à H24.", [14, 8]),
        ("Patiente de quatre-vingt-un ans, NIHSS vingt et un.", [81, 21]),
        ("NIHSS zéro à la sortie.", [0]),
        ("Rankin modifié à un.", [1]),
        ("Il présente un déficit, une FA est connue.", []),  # articles, not numbers
        ("Troisième épisode.", []),  # ordinals are no values
    ],
)
def test_french_number_words_are_read_as_integers(text, expected):
    assert [value for _, _, value in find_integers(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("glycémie capillaire un gramme trente-cinq à l'arrivée", ["1,35 g/L"]),
        ("dextro à deux grammes dix, resucrage", ["2,10 g/L"]),
        ("glycémie zéro gramme quatre-vingt-douze", ["0,92 g/L"]),
        ("glycémie veineuse un gramme zéro cinq", ["1,05 g/L"]),
        ("Dextro 1g35, LDL 0g92.", ["1,35 g/L", "0,92 g/L"]),
        ("paracétamol 1 g 3 fois par jour", []),
        ("un gramme de paracétamol", []),
    ],
)
def test_concentrations_said_in_grams_then_hundredths(text, expected):
    from clinrag.text.numbers import gram_values

    assert [digits for _, _, digits in gram_values(text)] == expected


def test_a_glycaemia_in_grams_is_one_value_converted_to_the_variables_unit():
    in_mmol = Variable(
        name="glycemie",
        type="number",
        description="Glycémie",
        unit="mmol/L",
        unit_conversions={"g/L": 5.551},
        minimum=1,
        maximum=35,
    )
    text = "glycémie un gramme trente-cinq tension seize neuf"
    assert [raw for _, _, raw in find_numbers(in_mmol, text)] == ["1,35 g/L", "16", "9"]  # no "1", no "35"
    [(_, _, _, cell), *_] = stated_values(in_mmol, text, "2024-05-02")
    assert abs(float(cell) - 7.49) < 0.01


def test_spelled_numbers_keep_their_offsets_and_decimals():
    text = "Dextro à un virgule deux g/L ce matin."
    [(start, end, value, digits)] = spelled_numbers(text)
    assert text[start:end] == "un virgule deux" and value == pytest.approx(1.2) and digits == "1,2"
    glycemia = Variable(
        name="glyc", type="number", description="Glycémie", unit="mmol/L", unit_conversions={"g/L": 5.55}
    )
    [(start, end, written)] = find_numbers(glycemia, text)
    assert written == "1,2 g/L" and text[start:end] == "un virgule deux g/L"


def test_a_spelled_score_is_offered_to_the_reader():
    nihss = Variable(name="nihss", type="integer", description="Score NIHSS initial", minimum=0, maximum=42)
    stated = stated_values(nihss, "Score NIHSS à quatorze, mRS antérieur à zéro.", "2024-03-02")
    assert [(answer, cell) for _, _, answer, cell in stated] == [("14", "14"), ("0", "0")]
    # durations stay out ("trois mois" is no score)
    assert [value for _, _, value in find_integers("revu à trois mois")] == [3]


def _cohort() -> Cohort:
    texts = {
        "P1": [
            "Appel du SAMU pour déficit brachial droit. Patient de 67 ans.",
            "Au Holter : trois accès de fibrillation atriale paroxystique. Anticoagulation débutée.",
        ],
        "P2": [
            "Admission pour hémiparésie gauche. Pas de trouble du rythme au scope.",
            "Sortie à domicile.",
        ],
    }
    documents = [
        Document(
            patient_id=pid,
            doc_id=f"{pid}-D{i}",
            date=dt.datetime(2024, 5, 2 + i),
            doc_type="cr",
            text=text,
        )
        for pid, docs in texts.items()
        for i, text in enumerate(docs)
    ]
    variables = [
        Variable(
            name="fa",
            type="boolean",
            description="Fibrillation atriale",
            keywords=["fibrillation atriale", "trouble du rythme"],
        ),
        Variable(name="age", type="integer", description="Âge", keywords=["ans"], minimum=18, maximum=120),
    ]
    table = {"P1": {"fa": "true", "age": "81"}, "P2": {"fa": "false", "age": ""}}
    return Cohort(
        variables=variables,
        documents=documents,
        table=table,
        table_columns=["fa", "age"],
        splits={"P1": "train", "P2": "train"},
    )


def test_weak_evidence_replaces_unrelated_passages():
    cohort = _cohort()
    store = build_passages(cohort)
    retriever = BM25Retriever()
    retriever.index(store)
    fa, age = cohort.variables
    # the request shows P1's emergency note only: it does not state the atrial fibrillation
    first = store.patient_range("P1")[0]
    requests = [
        CellRequest("P1", fa, [store.passages[first]]),
        CellRequest("P1", age, [store.passages[first]]),
        CellRequest("P2", fa, [store.passages[store.patient_range("P2")[1] - 1]]),
        CellRequest("P2", age, [store.passages[store.patient_range("P2")[0]]]),
    ]
    evidence = find_weak_evidence(cohort, store, retriever, ["P1", "P2"], cohort.variables)
    kept = with_weak_evidence(requests, evidence, store, cohort)
    by_cell = {(r.patient_id, r.variable.name): r for r in kept}
    assert "fibrillation atriale" in by_cell[("P1", "fa")].passages[0].text
    # 67 is written, the table says 81: no passage states the value, the pair is kept as retrieved
    assert by_cell[("P1", "age")] is requests[1]
    # a negated mention states a false boolean; the empty cell keeps its retrieved passage (abstention)
    assert "trouble du rythme" in by_cell[("P2", "fa")].passages[0].text
    assert by_cell[("P2", "age")] is requests[3]


def _requests(cohort, store, variable):
    # each patient's first passage: the emergency note, which never names the rhythm
    return [
        CellRequest(pid, variable, [store.passages[store.patient_range(pid)[0]]])
        for pid in ("P1", "P2", "P3")
    ]


def test_unmentioned_cells_are_learned_from_the_train_table_and_answered_so(tmp_path):
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.priors import Prior, learn_priors, load_priors, save_priors
    from clinrag.generation.reader import LLMReader

    cohort = _cohort()
    third = Document(
        patient_id="P3",
        doc_id="P3-D0",
        date=dt.datetime(2024, 6, 1),
        doc_type="cr",
        text="Aphasie brutale au réveil, patiente de 80 ans.",
    )
    cohort = Cohort(
        variables=cohort.variables,
        documents=[*cohort.documents, third],
        table={**cohort.table, "P3": {"fa": "", "age": "80"}},
        table_columns=cohort.table_columns,
        splits={**cohort.splits, "P3": "train"},
    )
    store = build_passages(cohort)
    fa = cohort.variables[0]
    requests = _requests(cohort, store, fa)
    # P1's and P3's first notes say nothing of the rhythm; P2's says "pas de trouble du rythme" (a mention)
    priors = learn_priors(cohort, requests, None, 160)
    assert priors == {}  # two unmentioned cells: fewer than MIN_CELLS
    priors = learn_priors(cohort, requests * 2, None, 160)
    # P1 (true) twice and P3 (empty) twice: the tie goes to "non documenté"
    assert priors == {"fa": Prior("", 0.5, 4)}
    save_priors(priors, tmp_path)
    assert load_priors(tmp_path) == priors
    reader = LLMReader(ReaderConfig(), decoder=object())
    reader.priors = priors
    # nothing mentioned: the prior, no guess, no supporting passage
    cell, _, provenance, _ = reader.decide(requests[0])
    assert cell == "" and provenance["answered_by"] == "prior"
    [result] = reader.read([requests[0]])
    assert result.cell == "" and result.support is None and result.raw == "non documenté"
    assert reader.decide(requests[1]) is None  # a negated mention: the decoder reads it
    reader.config = ReaderConfig(unmentioned="read")
    assert reader.decide(requests[0]) is None


def test_booleans_are_read_from_their_qualifiers_weighed_on_the_train_table(tmp_path):
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.priors import learn_boolean_model, load_boolean_model, save_boolean_model
    from clinrag.generation.reader import LLMReader

    notes = {
        "A": "ATCD : HTA traitée, FA permanente sous apixaban.",
        "B": "Pas de trouble du rythme au scope ni au Holter.",
        "C": "Aphasie brutale au réveil.",
        "D": "ACFA connue, anticoagulée.",
        "E": "ECG : rythme sinusal, absence de fibrillation atriale.",
        "F": "Hémiparésie droite, dysarthrie.",
    }
    cells = {"A": "true", "B": "false", "C": "", "D": "true", "E": "false", "F": ""}
    fa = Variable(
        name="fa",
        type="boolean",
        description="Fibrillation atriale",
        keywords=["fibrillation atriale", "FA", "ACFA", "trouble du rythme"],
    )
    documents = [
        Document(patient_id=p, doc_id=f"{p}-1", date=dt.datetime(2024, 1, 2), doc_type="cr", text=t)
        for p, t in notes.items()
    ]
    cohort = Cohort(
        variables=[fa],
        documents=documents,
        table={p: {"fa": c} for p, c in cells.items()},
        table_columns=["fa"],
        splits=dict.fromkeys(notes, "train"),
    )
    store = build_passages(cohort)
    requests = [CellRequest(p, fa, store.of_patient(p)) for p in notes]
    model = learn_boolean_model(cohort, requests, None)
    save_boolean_model(model, tmp_path)
    assert load_boolean_model(tmp_path) == model
    reader = LLMReader(ReaderConfig(), decoder=object())  # the decoder is never asked
    reader.boolean_model = model
    texts = {
        "FA paroxystique découverte au Holter de J3.": "true",
        "Pas de FA sur l'enregistrement de 72 heures.": "false",
        "Scanner cérébral sans anomalie.": "",
    }
    for text, expected in texts.items():
        passage = build_passages(
            Cohort(
                variables=[fa],
                documents=[
                    Document(
                        patient_id="X", doc_id="X-1", date=dt.datetime(2024, 2, 1), doc_type="cr", text=text
                    )
                ],
            )
        ).passages
        [result] = reader.read([CellRequest("X", fa, passage)])
        assert result.cell == expected, text
        assert result.extra["answered_by"] == "qualifiers"
        assert (result.support is not None) == (expected != "")


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("NIHSS 14, pas de thrombolyse IV (AVK).", True),  # the shorter overlapping mention too
        ("Thrombolyse contre-indiquée (hémorragie).", True),
        ("TIV contre-indiquée, AOD pris ce matin.", True),
        ("Thrombolyse IV non retenue.", True),
        ("Thrombectomie récusée par la neuroradiologie.", True),
        ("Contre-indication à la thrombolyse IV : chirurgie récente.", True),
        ("Thrombolyse IV débutée à 14h10.", False),
    ],
)
def test_every_mention_of_a_treatment_not_given_is_negated(text, negated):
    from clinrag.text.annotate import Annotator

    var = Variable(
        name="reperfusion",
        type="boolean",
        description="Traitement de reperfusion",
        keywords=["thrombolyse", "thrombolyse IV", "TIV", "thrombectomie"],
    )
    [annotation] = Annotator([var]).annotate_texts([text])
    assert annotation.mentions and all(m.negated == negated for m in annotation.mentions)


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("ATCD : HTA non traitée, tabac.", False),  # "non" qualifies the treatment, not the condition
        ("Diabète de type 2 non équilibré (HbA1c 9 %).", False),
        ("FA paroxystique non anticoagulée.", False),
        ("Diabète non insulinodépendant.", False),
        ("HTA : non.", True),
        ("Pas d'HTA connue.", True),
        ("Diabète : non ; dyslipidémie : oui.", True),
    ],
)
def test_a_non_that_qualifies_the_management_is_no_negation(text, negated):
    from clinrag.text.annotate import Annotator

    var = Variable(
        name="facteurs",
        type="boolean",
        description="Facteurs de risque",
        keywords=["HTA", "diabète", "FA"],
    )
    [annotation] = Annotator([var]).annotate_texts([text])
    first = min(annotation.mentions, key=lambda m: m.start)
    assert first.negated == negated


@pytest.mark.parametrize(
    ("text", "term", "negated"),
    [
        # dictated, unpunctuated notes run two statements together: the negation ends at the other term
        ("sans antécédent notable pas de diabète fumeur actif un paquet par jour", "fumeur", False),
        ("pas de diabète fumeur actif un paquet par jour", "diabète", True),
        ("non diabétique tabagisme à quinze paquets années", "tabagisme", False),
        # a "non" that negates the next term, not the one before it
        ("HTA non diabétique dyslipidémie traitée", "HTA", False),
        ("HTA non diabétique dyslipidémie traitée", "diabétique", True),
        # enumerations and cues of their own keep the negation
        ("Pas de diabète ni de tabagisme.", "tabagisme", True),
        ("Pas de diabète ou de tabagisme connu.", "tabagisme", True),
        ("FA non retrouvée sur le Holter de 48 h.", "FA", True),
        ("HTA : non.", "HTA", True),
        # a cue on another line is another statement's, unless its line opens a list
        ("HTA traitée\nhématome profond avis neurochirurgical non opérable", "HTA", False),
        ("ATCD :\n- pas de diabète connu\n- tabagisme actif, 1 paquet/jour", "tabagisme", False),
        ("Absence de :\n- HTA\n- tabagisme", "tabagisme", True),
    ],
)
def test_a_negation_stops_at_another_variables_juxtaposed_term(text, term, negated):
    from clinrag.text.annotate import Annotator

    variables = [
        Variable(name="diabete", type="boolean", description="Diabète", keywords=["diabète", "diabétique"]),
        Variable(name="tabac", type="boolean", description="Tabac", keywords=["fumeur", "tabagisme"]),
        Variable(name="hta", type="boolean", description="HTA", keywords=["HTA"]),
        Variable(name="fa", type="boolean", description="FA", keywords=["FA"]),
        Variable(name="dyslip", type="boolean", description="Dyslipidémie", keywords=["dyslipidémie"]),
    ]
    [annotation] = Annotator(variables).annotate_texts([text])
    [mention] = [m for m in annotation.mentions if text[m.start : m.end] == term]
    assert mention.negated == negated


@pytest.mark.parametrize(
    ("text", "hypothetical"),
    [
        ("Patiente adressée en alerte thrombolyse pour une aphasie.", True),
        ("Thrombolyse discutée avec le neurologue de garde, non retenue.", True),
        ("Éligible à une thrombolyse, réalisée à 15 h 20.", True),
        ("Thrombolyse IV par ténectéplase à 15 h 20.", False),
        # a cue on a later line is another statement's (a dictated report without punctuation is one sentence)
        ("thrombolyse IV à quinze heures vingt\nreprise de l'aspirine à discuter à vingt-quatre heures", False),
        ("thrombolyse IV à discuter selon l'imagerie\nangioscanner en cours", True),
    ],
)
def test_a_treatment_considered_is_hypothetical(text, hypothetical):
    from clinrag.text.annotate import Annotator

    var = Variable(name="tiv", type="boolean", description="Thrombolyse", keywords=["thrombolyse"])
    [annotation] = Annotator([var]).annotate_texts([text])
    assert annotation.mentions[0].hypothetical == hypothetical


@pytest.mark.parametrize(
    ("text", "died"),
    [
        ("Patient décédé le 14/06 à 3 h dans le service.", True),
        ("Constat de décès établi par l'interne de garde.", True),
        ("Mode de sortie : décès.", True),
        ("DCD à J4 d'un engagement cérébral.", True),
        ("Père décédé d'un infarctus à 60 ans.", False),
        ("Veuve depuis le décès de son mari en 2018.", False),
        ("Pas de décès dans la fratrie, pas d'antécédent familial.", False),
        ("Risque de décès élevé expliqué à la famille.", False),
        ("Hémiplégie droite, aphasie.", False),
    ],
)
def test_a_record_reports_the_patients_death(text, died):
    from clinrag.text.death import reports_death

    assert reports_death([text]) == [died]


def test_booleans_read_a_condition_the_wider_passages_state():
    """The top passage says nothing of diabetes; the third one states it: the wide features read it."""
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.priors import learn_boolean_model
    from clinrag.generation.reader import LLMReader
    from clinrag.text.passages import Passage

    diabetes = Variable(
        name="diabete", type="boolean", description="Diabète", keywords=["diabète", "DT2", "diabétique"]
    )

    def passage(pid: str, n: int, text: str) -> Passage:
        return Passage(pid, f"{pid}-{n}", 0, len(text), text, "2024-01-02", "cr", "", n, float(n))

    silent = "Hémiparésie gauche brutale au réveil."
    stated = {"true": "ATCD : DT2 sous metformine.", "false": "Pas de diabète connu.", "": "Vit seul."}
    requests, table = [], {}
    for i in range(12):
        pid, cell = f"P{i}", ("true", "false", "")[i % 3]
        table[pid] = {"diabete": cell}
        shown = [passage(pid, 0, silent)]
        requests.append(
            CellRequest(
                pid,
                diabetes,
                shown,
                [*shown, passage(pid, 1, "Scanner normal."), passage(pid, 2, stated[cell])],
            )
        )
    cohort = Cohort(variables=[diabetes], documents=[], table=table, table_columns=["diabete"])
    from clinrag.generation.priors import request_mentions

    wide = request_mentions([CellRequest(r.patient_id, diabetes, r.candidates) for r in requests], None)
    model = learn_boolean_model(cohort, requests, None, None, wide)
    reader = LLMReader(ReaderConfig(), decoder=object())
    reader.boolean_model = model
    top = [passage("X", 0, silent)]
    for text, expected in (("Diabète de type 2 sous insuline.", "true"), ("Pas de diabète.", "false")):
        wide_passages = [*top, passage("X", 1, "Scanner normal."), passage("X", 2, text)]
        [result] = reader.read([CellRequest("X", diabetes, top, wide_passages)])
        assert result.cell == expected, text


@pytest.mark.parametrize(
    ("text", "term", "former"),
    [
        ("Ancien fumeur, sevré depuis 12 ans.", "fumeur", True),
        ("Ex-tabagique (20 PA).", "tabagique", True),
        ("Tabagisme sevré en 2015.", "Tabagisme", True),
        ("Arrêt du tabac il y a 3 ans.", "tabac", True),
        ("Tabagisme actif à 30 PA, arrêt conseillé.", "Tabagisme", False),
        ("Tabagisme non sevré malgré les conseils.", "Tabagisme", False),
        ("HTA traitée par amlodipine.", "HTA", False),
        ("Ne fume plus depuis sa grossesse.", "fume", True),
        ("A arrêté de fumer en 2019.", "fumer", True),
        ("Ne fume que le week-end.", "fume", False),
    ],
)
def test_a_risk_factor_said_to_be_over_is_marked_former(text, term, former):
    from clinrag.generation.priors import _former

    start = text.index(term)
    assert _former(text, start, start + len(term)) == former


@pytest.mark.parametrize(
    ("text", "former"),
    [
        ("Ancien tabagisme sevré depuis dix ans, trente paquets-années.", 1.0),
        ("Tabagisme actif, trente paquets-années.", 0.0),
        ("Ancien fumeur. Reprise récente : fume 10 cigarettes par jour.", 0.0),
    ],
)
def test_what_follows_a_former_habit_in_its_clause_is_former_too(text, former):
    from clinrag.generation.priors import boolean_features
    from clinrag.text.annotate import Annotator
    from clinrag.text.passages import Passage

    var = Variable(
        name="tabac",
        type="boolean",
        description="Tabagisme actif",
        keywords=["tabagisme", "fumeur", "fume", "paquets-années", "cigarettes"],
    )
    passage = Passage("P", "D", 0, len(text), text, "2024-01-02", "cr", "", 0, 0.0)
    mentions = [a.mentions for a in Annotator([var]).annotate_texts([text])]
    assert boolean_features(var, [passage], mentions)["former"] == former


def test_former_smokers_are_learned_as_not_smoking_per_variable():
    """The 'former' feature is weighed per variable: over, smoking is *no*; hypertension keeps its mentions."""
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.priors import learn_boolean_model
    from clinrag.generation.reader import LLMReader
    from clinrag.text.passages import Passage

    smoking = Variable(
        name="tabac_actif", type="boolean", description="Tabagisme actif", keywords=["tabagisme", "fumeur"]
    )
    notes = {"true": "Fumeur actif, 20 cigarettes par jour.", "false": "Ancien fumeur, sevré depuis 2010."}
    requests, table = [], {}
    for i in range(12):
        cell = ("true", "false")[i % 2]
        text = notes[cell] if i % 4 < 2 else ("Tabagisme actif." if cell == "true" else "Tabagisme sevré.")
        pid = f"P{i}"
        table[pid] = {"tabac_actif": cell}
        requests.append(
            CellRequest(
                pid, smoking, [Passage(pid, f"{pid}-1", 0, len(text), text, "2024-01-02", "cr", "", 0, 0.0)]
            )
        )
    cohort = Cohort(variables=[smoking], documents=[], table=table, table_columns=["tabac_actif"])
    model = learn_boolean_model(cohort, requests, None)
    reader = LLMReader(ReaderConfig(), decoder=object())
    reader.boolean_model = model
    for text, expected in (("Ex-fumeur depuis 5 ans.", "false"), ("Fumeur, 1 paquet par jour.", "true")):
        passage = Passage("X", "X-1", 0, len(text), text, "2024-02-01", "cr", "", 0, 0.0)
        [result] = reader.read([CellRequest("X", smoking, [passage])])
        assert result.cell == expected, text


def test_a_pre_stroke_value_is_evidence_of_the_pre_stroke_score():
    """The timepoint "avant l'AVC" has capitals: its values were once compared case-sensitively and never
    matched, so only values without a timepoint (a follow-up visit's) were weak evidence of a pre-stroke score."""
    from clinrag.text.annotate import Annotator
    from clinrag.text.evidence import states_value
    from clinrag.text.passages import Passage

    var = Variable(
        name="rankin_avant",
        type="integer",
        description="Rankin modifié antérieur",
        minimum=0,
        maximum=5,
        timepoint="pré-AVC",
        keywords=["Rankin", "mRS"],
    )
    text = "Vit seule, aide ménagère deux fois par semaine : Rankin antérieur à 2."
    passage = Passage("P", "D", 0, len(text), text, "2024-01-02", "urg", "", 0, 0.0)
    [annotation] = Annotator([var]).annotate_texts([text])
    assert states_value(var, "2", passage, annotation.mentions)
    later = "Revue à trois mois : mRS 2, marche sans aide."
    visit = Passage("P", "D9", 0, len(later), later, "2024-04-02", "cs", "", 3, 91.0)
    [annotation] = Annotator([var]).annotate_texts([later])
    assert not states_value(var, "2", visit, annotation.mentions)


@pytest.mark.parametrize(
    ("text", "affirmed", "ruled_out"),
    [
        ("Angio-TDM des troncs supra-aortiques : absence d'occlusion artérielle intracrânienne.", 0.0, 1.0),
        ("ARM : pas de thrombus visible, polygone de Willis perméable.", 0.0, 1.0),
        ("Occlusion de l'ACM gauche en M1, appel du neuroradiologue de garde.", 1.0, 0.0),
        ("Sans occlusion des gros vaisseaux ; leucopathie vasculaire.", 0.0, 1.0),
        ("Scanner cérébral sans injection : pas d'hémorragie.", 0.0, 0.0),
    ],
)
def test_what_a_treatment_requires_is_read_affirmed_or_ruled_out(text, affirmed, ruled_out):
    """A thrombectomy treats an arterial occlusion: the lexicon's `requires` gives its terms, and a note that rules
    the occlusion out says why none was done without naming the procedure."""
    from clinrag.generation.priors import boolean_features, requirement_variable
    from clinrag.text.annotate import Annotator
    from clinrag.text.passages import Passage
    from clinrag.text.vocabulary import build_vocabulary

    var = Variable(name="tm_faite", type="boolean", description="Thrombectomie mécanique réalisée")
    vocabulary = build_vocabulary([var], learn=False)
    assert "occlusion" in vocabulary.requires()["tm_faite"]
    var = vocabulary.apply([var])[0]
    required = requirement_variable(var, vocabulary.requires()["tm_faite"])
    passage = Passage("P", "D", 0, len(text), text, "2024-01-02", "cr", "", 0, 0.0)
    mentions = [a.mentions for a in Annotator([var]).annotate_texts([text])]
    found = [a.mentions for a in Annotator([required]).annotate_texts([text])]
    features = boolean_features(var, [passage], mentions, requirement_mentions=found)
    assert (features["requirement_affirmed"], features["requirement_ruled_out"]) == (affirmed, ruled_out)
    assert features["negated"] == 0.0  # the procedure itself is not named


def test_a_ruled_out_occlusion_is_learned_as_no_thrombectomy_where_the_table_says_so(tmp_path):
    """Weighed per variable by the table: where the registry codes "no occlusion" as no thrombectomy, a note that
    only rules the occlusion out answers "false"; the model keeps the terms, so a fill reads them too."""
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.priors import learn_boolean_model, load_boolean_model, save_boolean_model
    from clinrag.generation.reader import LLMReader
    from clinrag.text.passages import Passage

    tm = Variable(name="tm", type="boolean", description="Thrombectomie", keywords=["thrombectomie"])
    notes = [
        ("Occlusion M1 droite : thrombectomie, recanalisation TICI 3.", "true"),
        ("Pas d'occlusion à l'angioscanner. Surveillance en USINV.", "false"),
        ("Déficit régressif, IRM de diffusion normale.", ""),
        ("Occlusion du tronc basilaire, thrombectomie en urgence.", "true"),
        ("Angio-IRM : absence d'occlusion proximale, traitement par aspirine.", "false"),
        ("Bilan en externe, pas d'imagerie vasculaire disponible.", ""),
    ]
    requests, table = [], {}
    for i in range(18):
        text, cell = notes[i % len(notes)]
        pid = f"P{i}"
        table[pid] = {"tm": cell}
        passage = Passage(pid, f"{pid}-1", 0, len(text), text, "2024-01-02", "cr", "", 0, 0.0)
        requests.append(CellRequest(pid, tm, [passage], [passage]))
    cohort = Cohort(variables=[tm], documents=[], table=table, table_columns=["tm"])
    model = learn_boolean_model(cohort, requests, None, requires={"tm": ["occlusion", "thrombus"]})
    save_boolean_model(model, tmp_path)
    model = load_boolean_model(tmp_path)
    assert model.requires == {"tm": ["occlusion", "thrombus"]}
    reader = LLMReader(ReaderConfig(), decoder=object())
    reader.boolean_model = model
    for text, expected in (
        ("ARM du polygone de Willis : pas de thrombus, artères perméables.", "false"),
        ("Thrombectomie de la carotide terminale, deux passages.", "true"),
        ("Consultation de suivi, patient autonome.", ""),
    ):
        passage = Passage("X", "X-1", 0, len(text), text, "2024-02-01", "cr", "", 0, 0.0)
        [result] = reader.read([CellRequest("X", tm, [passage], [passage])])
        assert result.cell == expected, text
