"""People other than the patient (clinrag.text.persons): a relative's or an addressee's person word is no
statement of the patient's sex, a relative who reports a fact ends a negation and makes no family history.

The sentences are French clinical phrasing written for these tests (emergency notes, letters to a colleague,
follow-up notes), not sentences of the synthetic generator nor of the hand-written cohorts.
"""

import re

import pytest

from clinrag.data.variables import Variable
from clinrag.generation.candidates import candidates
from clinrag.text.annotate import Annotator
from clinrag.text.passages import Passage
from clinrag.text.persons import names_someone_else, relative_as_source
from clinrag.text.vocabulary import build_vocabulary

SEX = Variable(name="sexe_patient", type="category", description="Sexe du patient", values=["M", "F"])
"""A sex variable read from its definition (the registry lexicon's wordings: "femme", "Madame", "Monsieur"...)."""


def _at(text: str, word: str, nth: int = 0) -> tuple[int, int]:
    match = list(re.finditer(re.escape(word), text))[nth]
    return match.start(), match.end()


@pytest.mark.parametrize(
    ("text", "word", "someone_else"),
    [
        # a relative after a possessive, or someone's, is not the patient
        ("Vit à domicile avec sa femme, autonome.", "femme", True),
        ("Appel de son mari ce soir, inquiet.", "mari", True),
        ("Son ex-femme est prévenue.", "femme", True),
        ("Informations données à la femme du patient.", "femme", True),
        ("Le mari de Madame R. souhaite la voir.", "mari", True),
        ("Entretien avec l'épouse ce jour.", "épouse", True),
        ("Présence d'une fille très présente.", "fille", True),
        ("Accouchement suivi par la sage-femme du secteur.", "femme", True),
        # the patient's own description
        ("Il s'agit d'une femme de 84 ans, droitière.", "femme", False),
        ("Femme, 84 ans, adressée pour aphasie.", "Femme", False),
        ("Mère de trois enfants, retraitée.", "Mère", False),
        ("Madame B. épouse L., 70 ans.", "épouse", False),
        ("Homme de 58 ans, maçon.", "Homme", False),
        # a letter's addressee
        ("Madame, Monsieur,\nje vous adresse M. T.", "Madame", True),
        ("Madame, Monsieur,\nje vous adresse M. T.", "Monsieur", True),
        ("Madame Monsieur cher confrère je vous adresse", "Monsieur", True),
        ("Chère Madame,\nvotre patiente a été hospitalisée", "Madame", True),
        ("Madame le Docteur Faure\nCabinet médical", "Madame", True),
        ("Monsieur le Professeur, je vous remercie", "Monsieur", True),
        ("Monsieur et cher confrère, merci de m'avoir adressé", "Monsieur", True),
        ("Madame, chère consœur,", "Madame", True),
        # the patient named
        ("Je vois en consultation Monsieur G., 77 ans.", "Monsieur", False),
        ("Madame V. est hospitalisée depuis le 3 mars.", "Madame", False),
        ("Mme K., 66 ans, HTA.", "Mme", False),
    ],
)
def test_a_person_word_names_the_patient_or_someone_else(text, word, someone_else):
    assert names_someone_else(text, *_at(text, word)) == someone_else


@pytest.mark.parametrize(
    ("text", "word", "source"),
    [
        ("non diabétique d'après sa femme, tabac", "femme", True),
        ("Selon son épouse, fumeur depuis l'âge de 20 ans.", "épouse", True),
        ("Rapporté par la famille : chute il y a deux jours.", "famille", True),
        ("Accompagné de sa fille, qui a vu le début des troubles.", "fille", True),
        ("Entretien téléphonique avec le fils.", "fils", True),
        ("Père diabétique, mère hypertendue.", "Père", False),
        ("Son frère a fait un infarctus à 50 ans.", "frère", False),
    ],
)
def test_a_relative_who_reports_or_comes_is_a_source(text, word, source):
    assert relative_as_source(text, _at(text, word)[0]) == source


def _sex_annotator() -> tuple[Annotator, Variable]:
    [sex] = build_vocabulary([SEX], learn=False).apply([SEX])
    return Annotator([sex]), sex


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Homme de 71 ans. Il reconnaît sa femme et sa fille.", ["M"]),
        ("Madame, Monsieur, cher confrère,\nje vous adresse Monsieur H., 66 ans.", ["M"]),
        ("Chère Madame, j'ai revu votre patiente Mme D. en consultation.", ["F"]),
        ("Femme de 69 ans, veuve, vit seule.", ["F"]),
    ],
)
def test_only_the_patients_person_words_name_a_sex(text, values):
    annotator, sex = _sex_annotator()
    [annotation] = annotator.annotate_texts([text])
    assert sorted({m.value for m in annotation.mentions if m.value}) == values
    passage = Passage("P1", "D1", 0, len(text), text, "2024-05-02", "courrier", "", 0, 0.0)
    assert {c.cell for c in candidates(sex, [passage], [annotation.mentions])} == set(values)


VARIABLES = [
    Variable(name="diabete", type="boolean", description="Diabète", keywords=["diabète", "diabétique"]),
    Variable(name="tabac", type="boolean", description="Tabac", keywords=["fumeur", "tabagisme", "fume"]),
    Variable(name="hta", type="boolean", description="HTA", keywords=["HTA"]),
]


@pytest.mark.parametrize(
    ("text", "term", "negated", "family"),
    [
        # who reported a fact ends the negation before it (a dictated line without punctuation)
        ("non diabétique d'après sa femme tabagisme actif un paquet par jour", "tabagisme", False, False),
        ("non diabétique d'après sa femme tabagisme actif un paquet par jour", "diabétique", True, False),
        ("pas d'HTA selon la fille fumeur quarante paquets années", "fumeur", False, False),
        ("pas de diabète aux dires de son mari tabagisme sevré", "diabète", True, False),
        # a relative as the source is no family history; a relative's disease still is
        ("Selon son épouse tabagisme actif depuis trente ans", "tabagisme", False, False),
        ("Accompagné de son fils, HTA traitée par amlodipine.", "HTA", False, False),
        ("Père diabétique, décédé à 70 ans.", "diabétique", False, True),
        ("Antécédents familiaux : mère traitée pour une HTA.", "HTA", False, True),
        # the negation's own scope still holds
        ("Pas de diabète ni de tabagisme d'après la famille.", "tabagisme", True, False),
        # a relative on another line is another statement's (unpunctuated lines), unless a heading's
        ("vit avec son mari qui ne peut plus s'en occuper\nHTA ancienne", "HTA", False, False),
        ("Antécédents familiaux :\n- diabète de type 2", "diabète", False, True),
        # a relative clause about a relative: "c'est sa femme qui fume"
        ("il n'a jamais fumé c'est sa femme qui fume", "fume", None, True),
        ("un frère qui est diabétique insulinotraité", "diabétique", False, True),
        ("le patient qui est diabétique depuis 2010", "diabétique", False, False),
    ],
)
def test_a_reported_source_ends_a_negation_and_is_no_family(text, term, negated, family):
    [annotation] = Annotator(VARIABLES).annotate_texts([text])
    [mention] = [m for m in annotation.mentions if m.start == text.rindex(term)]
    assert mention.family == family and negated in (None, mention.negated)
