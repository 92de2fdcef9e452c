"""Identifier rules driven by context and layout rather than by word lists (issue 20): towns after "né à",
"pompiers de", in a letter's date line, by their shape; unnumbered addresses and address fields; hospitals in
capitals, their sites and acronyms; names after kinship, roles and in tables; partial dates; digit runs.

Every sentence here was written for these tests (none comes from clinrag/synth or from the hand-written records
of experiments/data/phi_records), with names and towns absent from clinrag/pseudo/lexicon.yaml.
"""

from __future__ import annotations

import pytest

from clinrag.pseudo import detect
from clinrag.pseudo.vocabulary import cities, first_names, fold


def found(text: str) -> list[tuple[str, str]]:
    return [(span.text, span.label) for span in detect(text)]


def labels_of(text: str, label: str) -> list[str]:
    return [span_text for span_text, span_label in found(text) if span_label == label]


def masked(text: str) -> set[str]:
    """Every word of ``text`` that some span covers."""
    return {word for span in detect(text) for word in span.text.replace(",", " ").split()}


def test_the_test_words_are_not_in_the_lexicon():
    """The towns and first names below are found by their context, not because the lexicon lists them."""
    towns = [
        "Plouguerneau",
        "Lanvéoc",
        "Brignoles",
        "Mauriac",
        "Espalion",
        "Bozouls",
        "Sisteron",
        "Sainte-Sévère",
    ]
    assert not {fold(t) for t in towns} & {fold(c) for c in cities()}
    assert not {fold(n) for n in ("Kylian", "Maëva", "Gwendal", "Rozenn", "Lénaïg", "Armel")} & first_names()


# ---------------------------------------------------------------------------------------------------------
# towns
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "town"),
    [
        ("Patient né le 3 mai 1950 à Plouguerneau, retraité.", "Plouguerneau"),
        ("Transport par les pompiers de Lanvéoc vers nos urgences.", "Lanvéoc"),
        ("Brignoles, le 4 juin 2023\n\nCher confrère,", "Brignoles"),
        ("Originaire de Mauriac (15), il vit seul.", "Mauriac"),
        ("Lieu de naissance : Sisteron", "Sisteron"),
        ("Adressé par le Dr Vidal (Espalion) pour bilan.", "Espalion"),
        ("Elle rentre chez sa sœur à Sainte-Sévère demain.", "Sainte-Sévère"),
        ("Vacances à Châtillon-sur-Chalaronne en août.", "Châtillon-sur-Chalaronne"),
        ("Le SMUR de Saint-Affrique est arrivé.", "Saint-Affrique"),
        ("Suivi en libéral, Cabinet de Bozouls, par son médecin.", "Bozouls"),
    ],
)
def test_towns_told_by_their_context(text, town):
    assert town in labels_of(text, "VILLE")


def test_postcodes_with_cedex_in_any_case_and_foreign_postcodes():
    assert found("82013 Montauban cedex 9") == [("82013", "ZIP"), ("Montauban cedex 9", "VILLE")]
    assert found("Route de Berne, CH-1003 Lausanne") == [
        ("Route de Berne", "ADRESSE"),
        ("1003", "ZIP"),
        ("Lausanne", "VILLE"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Retour à Domicile prévu lundi.",
        "Relais à IRM de contrôle.",
        "Orientation vers l'UNV du centre.",
        "Arrivée le 12/03/2024 aux urgences.",
        "Mesure exercée par l'UDAF du Pas-de-Calais.",
        "Insuffisance cardiaque à FEVG préservée.",
    ],
)
def test_capitalized_words_that_are_no_towns(text):
    assert labels_of(text, "VILLE") == []


# ---------------------------------------------------------------------------------------------------------
# addresses
# ---------------------------------------------------------------------------------------------------------
def test_address_fields_whatever_the_form_of_the_address():
    assert found("Adresse : Le Bourg, 12340 Bozouls") == [
        ("Le Bourg", "ADRESSE"),
        ("12340", "ZIP"),
        ("Bozouls", "VILLE"),
    ]
    assert ("Mme Aline Cosson", "ADRESSE") not in found(
        "Adresse de livraison : chez sa fille, Mme Aline Cosson"
    )


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Domicilié lieu-dit Kergoat, il vit seul.", "lieu-dit Kergoat"),
        ("Habite chemin des Vignes à Cuers.", "chemin des Vignes"),
        ("Adresse du cabinet : 12 Grande Rue, 70000 Vesoul", "12 Grande Rue"),
        ("Logement : 4 rue Pasteur, bât. B, 2e étage, sans ascenseur", "4 rue Pasteur, bât. B, 2e étage"),
        ("Vit à la ferme du Grand Moulin depuis toujours.", "ferme du Grand Moulin"),
    ],
)
def test_addresses_without_number_or_with_their_complements(text, address):
    assert address in labels_of(text, "ADRESSE")


# ---------------------------------------------------------------------------------------------------------
# hospitals
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "hospital"),
    [
        ("CENTRE HOSPITALIER DE LA HAUTE-CORRÈZE – Urgences", "CENTRE HOSPITALIER DE LA HAUTE-CORRÈZE"),
        ("Transférée au CHU de La Rochelle le soir.", "CHU de La Rochelle"),
        ("Résidente de l'EHPAD « Le Clos Fleuri » depuis 2019.", "l'EHPAD « Le Clos Fleuri »"),
        ("Hospitalisé aux Hôpitaux Universitaires de Strasbourg.", "Hôpitaux Universitaires de Strasbourg"),
        ("POLYCLINIQUE LES FLEURS – Imagerie", "POLYCLINIQUE LES FLEURS"),
    ],
)
def test_hospitals_in_any_case(text, hospital):
    assert hospital in labels_of(text, "HOPITAL")


def test_hospital_acronyms_beside_their_name_or_made_of_its_initials():
    text = "Centre Hospitalier Intercommunal de Créteil (CHIC). Revu au CHIC.\nCentre de Rééducation de Coubert : puis au CRC."
    hospitals = labels_of(text, "HOPITAL")
    assert hospitals.count("CHIC") == 2
    assert "CRC" in hospitals


def test_hospital_sites_on_the_hospital_line_only():
    # "Site" is taken with the name, as writers mark it either way; a capitalized "Site" and a direction on a
    # hospital's line name its site ("Site Sud" of a CHU), one opening the line under the hospital's too; a site
    # stays a hospital of its own, not joined to the first across the dash
    assert labels_of("CHU de Strasbourg – Site Hautepierre", "HOPITAL") == [
        "CHU de Strasbourg",
        "Site Hautepierre",
    ]
    assert labels_of("CH de Vannes – site Chubert", "HOPITAL") == ["CH de Vannes", "site Chubert"]
    assert labels_of("Le site Hautepierre du bâtiment", "HOPITAL") == []
    assert labels_of("CHU d'Amiens – Site Sud", "HOPITAL") == ["CHU d'Amiens", "Site Sud"]
    assert labels_of("Le CHU d'Amiens, site sud du bâtiment", "HOPITAL") == ["CHU d'Amiens"]
    assert labels_of("Groupe Hospitalier du Haut-Jura\nSite de Morez\n\nCher confrère", "HOPITAL") == [
        "Groupe Hospitalier du Haut-Jura",
        "Site de Morez",
    ]
    assert labels_of("Compte rendu\nSite de ponction : fémoral", "HOPITAL") == []


# ---------------------------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Il est accompagné de son fils Kylian.", [("Kylian", "PRENOM")]),
        ("Mme Le Goaziou née Quintin est venue.", [("Le Goaziou", "NOM"), ("Quintin", "NOM")]),
        ("IDE : Maëva", [("Maëva", "PRENOM")]),
        ("Prénom(s) : Lise, Andrée", [("Lise", "PRENOM"), ("Andrée", "PRENOM")]),
        ("Vu avec Gwendal (IDE) ce matin.", [("Gwendal", "PRENOM")]),
        ("Pansement refait.\nMaïwenn IDE / Soizic ASH", [("Maïwenn", "PRENOM"), ("Soizic", "PRENOM")]),
        ("Pte BRIAND Rozenn, 80 ans", [("BRIAND", "NOM"), ("Rozenn", "PRENOM")]),
        ("Dr M. Tanguy", [("M.", "PRENOM"), ("Tanguy", "NOM")]),
    ],
)
def test_names_after_kinship_roles_and_forms(text, expected):
    assert found(text) == expected


def test_a_role_after_a_word_inside_a_sentence_signs_no_name():
    assert found("Drépanocytose hétérozygote, Hb AS, ferritine basse.") == []


def test_the_tower_entrance_and_flat_of_an_address():
    assert labels_of("Vit chez sa fille, cité des Tilleuls, tour 4, entrée B, 93000 Bobigny.", "ADRESSE") == [
        "cité des Tilleuls, tour 4, entrée B"
    ]
    assert labels_of("12 rue Haute APPT 188 à Rennes", "ADRESSE") == ["12 rue Haute APPT 188"]
    # a complement needs a number or a capital letter: "tour de taille" is no tower
    assert labels_of("Vu rue Foch, tour de taille 90 cm", "ADRESSE") == ["rue Foch"]


def test_a_town_of_two_words_after_its_postcode():
    assert found("1 avenue de l'Hôpital – 74370 Épagny Metz-Tessy\nNeurologie") == [
        ("1 avenue de l'Hôpital", "ADRESSE"),
        ("74370", "ZIP"),
        ("Épagny Metz-Tessy", "VILLE"),
    ]
    # a common word after the town ends it
    assert found("59000 Lille Hôpital Salengro\n")[:2] == [("59000", "ZIP"), ("Lille", "VILLE")]


def test_names_in_the_columns_of_a_table():
    text = "| Nom | Prénom | IPP |\n|-----|--------|-----|\n| LUCAS | Armel | 80012345 |\n| Kerneis | Annick | — |"
    assert found(text) == [
        ("LUCAS", "NOM"),
        ("Armel", "PRENOM"),
        ("80012345", "IPP"),
        ("Kerneis", "NOM"),
        ("Annick", "PRENOM"),
    ]


def test_names_listed_signed_and_in_capitals():
    assert masked("Parents : Moussa Sy (père) et Awa Ndiaye (mère)") >= {"Moussa", "Sy", "Awa", "Ndiaye"}
    assert masked("Lénaïg Cadiou\nTél : 02 98 44 10 10") >= {"Lénaïg", "Cadiou"}
    assert masked("Staff avec KERMARREC Yvon ce jour") == {"KERMARREC", "Yvon"}


@pytest.mark.parametrize(
    "text",
    [
        "Drépanocytose hétérozygote AS. Hospitalisée en cardiologie.",
        "Rythme irrégulier : FA. Antagonisation par Octaplex.",
        "Appel NRI pour thrombectomie.",
    ],
)
def test_roles_and_abbreviations_open_no_name(text):
    assert labels_of(text, "NOM") == labels_of(text, "PRENOM") == []


# ---------------------------------------------------------------------------------------------------------
# dates and numbers
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("Amaurose les 2 et 5 avril.", "2"),
        ("Hospitalisée du 8 au 17 mai.", "8"),
        ("AVC lacunaire en février, sans séquelle.", "février"),
        ("Infarctus ancien connu (2019).", "2019"),
        ("Export : 12-mars-2024", "12-mars-2024"),
    ],
)
def test_parts_of_dates(text, date):
    assert date in labels_of(text, "DATE")


def test_birth_dates_with_spaces_or_spelled_out():
    assert labels_of("Né(e) le : 11 10 1938", "DATE_NAISSANCE") == ["11 10 1938"]
    spelled = "née le vingt-deux février mille neuf cent quarante-sept"
    assert labels_of(spelled, "DATE_NAISSANCE") == ["vingt-deux février mille neuf cent quarante-sept"]


def test_digit_runs_that_read_as_no_single_identifier_are_still_masked():
    assert masked("Réf 4 5 2 4 3 7 4 4 7 4 3 9 9 transmise") == set("4524374474399")
    assert found("Échelle 0 1 2 3 4 5 6 expliquée") == []


@pytest.mark.parametrize(
    ("text", "value", "label"),
    [
        ("N° de sécurité sociale : 402 654 803 958 12", "402 654 803 958 12", "SECU"),
        ("Numéro de dossier à rappeler : 3104471.", "3104471", "NDA"),
        ("Identifiant de la visite : 42bg98765", "42bg98765", "NDA"),
        ("Tél. +41 22 372 33 11", "+41 22 372 33 11", "TEL"),
        ("Neveu joignable au +687 78 41 26", "+687 78 41 26", "TEL"),
        ("Standard04.73.72.17.05", "04.73.72.17.05", "TEL"),
    ],
)
def test_numbers_in_more_forms(text, value, label):
    assert value in labels_of(text, label)


def test_an_international_phone_does_not_swallow_the_date_after_it():
    assert found("Fils : +33 6 12 34 56 78 12/03/2024") == [
        ("+33 6 12 34 56 78", "TEL"),
        ("12/03/2024", "DATE"),
    ]


# ---------------------------------------------------------------------------------------------------------
# clinical terms stay
# ---------------------------------------------------------------------------------------------------------
def test_barre_s_manoeuvre_stays_while_a_patient_named_barre_is_masked():
    text = "Patient : BARRÉ Lucien.\nManœuvre de Barré tenue, signe de Babinski à droite. M. Barré rentre."
    spans = detect(text)
    manoeuvre = text.index("Manœuvre de Barré")
    assert not any(s.start < manoeuvre + 17 and manoeuvre < s.end for s in spans)
    assert "Babinski" not in {s.text for s in spans}
    assert sum(s.text.casefold() == "barré" for s in spans) == 2


# ---------------------------------------------------------------------------------------------------------
# round 2 (rules developed on the test half of round 1 once it had been measured)
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value", "label"),
    [
        ("Cahier des appels\nJeudi 18/01/2024\n- 09:10", "Jeudi 18/01/2024", "DATE"),
        ("Date : ven. 12/04/2024 07:55", "ven. 12/04/2024", "DATE"),
        ("Bonsoir Gwenaël,\n\nJe te transmets", "Gwenaël", "PRENOM"),
        ("Vue par l'AS de nuit (Maïlys) à 3 h.", "Maïlys", "PRENOM"),
        ("Contact : neveu (Teva), à prévenir.", "Teva", "PRENOM"),
        ("CH de Quimperlé – Médecine – Moëlan-sur-Mer", "Moëlan-sur-Mer", "VILLE"),
        ("EHPAD Les Ajoncs – Rosporden – Pavillon B", "Rosporden", "VILLE"),
        ("née à Arlon (Belgique) en 1950", "Arlon", "VILLE"),
        ("Elle a téléphoné de Kourou hier soir.", "Kourou", "VILLE"),
        ("patient ipp 29 340 1187 vu ce jour", "29 340 1187", "IPP"),
        ("Standard : (+689) 40 48 62 62", "(+689) 40 48 62 62", "TEL"),
        ("Portable du fils : +44 7911 123456", "+44 7911 123456", "TEL"),
        ("Adresse : 4 rue du 19 Mars 1962, 29300 Quimperlé", "4 rue du 19 Mars 1962", "ADRESSE"),
        ("Transfert depuis le CH Toulon La Seyne ce matin.", "CH Toulon La Seyne", "HOPITAL"),
        ("CHU de Nantes – Hôpital Laënnec 2 – Neurologie", "Hôpital Laënnec 2", "HOPITAL"),
    ],
)
def test_round_two_contexts(text, value, label):
    assert value in labels_of(text, label)


def test_surnames_with_an_apostrophe_or_a_one_letter_part():
    assert found("Dr Yann Le Guern'h") == [("Yann", "PRENOM"), ("Le Guern'h", "NOM")]
    assert ("Lo-A-Njoe", "NOM") in found("Dr Lina Lo-A-Njoe")


def test_acronyms_of_three_capitals_and_greetings_of_colleagues_are_no_names():
    assert found("Nombreuses ESV monomorphes.") == []
    assert found("Chère Consœur,\n\nJ'ai revu") == []
    assert labels_of("CHU de Lille – Hôpital Salengro – Neurochirurgie", "VILLE") == []
    assert labels_of("BUREAU DES ADMISSIONS – CH de Dax – TÉLÉRADIOLOGIE", "VILLE") == []


# ---------------------------------------------------------------------------------------------------------
# the hand-written records' development half
# ---------------------------------------------------------------------------------------------------------
def test_rules_redact_the_dev_half_of_the_hand_written_records():
    """experiments/data/phi_records/dev.jsonl (34 documents, 725 identifiers): the rules measured redact 0.997,
    redact full 0.882, redact precision 0.985 once developed on it (0.864, 0.000, 0.981 before). A development
    number; the held-out halves (test, test2) are measured in docs/pseudonymization.md, not here."""
    from pathlib import Path

    from clinrag.pseudo.corpora import load_eds_pseudo
    from clinrag.pseudo.pipeline import evaluate_detection

    notes = load_eds_pseudo(Path(__file__).resolve().parents[1] / "experiments/data/phi_records/dev.jsonl")
    result = evaluate_detection(notes, [detect(note.text) for note in notes])
    assert result["redact"] >= 0.99
    assert result["redact_full"] >= 0.8
    assert result["redact_precision"] >= 0.97
    assert result["protected_intact"]["share"] == 1.0


# ---------------------------------------------------------------------------------------------------------
# round 5 of the rules (errors of the hand-written records test4, then a development set)
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # SSR were renamed SMR ("soins médicaux et de réadaptation") in 2022
        ("Orientation : SMR Les Tilleuls refusée.", [("SMR Les Tilleuls", "HOPITAL")]),
        (
            "Transfert à l'hôpital neurologique Pierre-Wertheimer.",
            [("l'hôpital neurologique Pierre-Wertheimer", "HOPITAL")],
        ),
        # the numbers of a SAMU regulation file, an emergency passage, a transport sheet
        ("Dossier de régulation n° 25-069-004512 ouvert", [("25-069-004512", "NDA")]),
        ("Mode d'entrée : urgences (passage n° U25-0041177)", [("U25-0041177", "NDA")]),
        ("Fiche d'intervention secondaire n° T25-0912", [("T25-0912", "NDA")]),
        ("Lieu de vie : Saint-Chély-d'Apcher", [("Saint-Chély-d'Apcher", "VILLE")]),
        ("Vit au village de Castelnau-Haut avec son fils.", [("village de Castelnau-Haut", "ADRESSE")]),
        ("domicilié trente-quatre rue des Écoles", [("trente-quatre rue des Écoles", "ADRESSE")]),
        ("hospitalisée du dix au dix-sept juin", [("dix", "DATE"), ("dix-sept juin", "DATE")]),
        ("demeurant PK 18,3 côté mer, Papara", [("PK 18,3 côté mer", "ADRESSE"), ("Papara", "VILLE")]),
        ("avec l'aide à domicile (Nadia).", [("Nadia", "PRENOM")]),
    ],
)
def test_identifiers_of_round_five(text, expected):
    assert found(text) == expected


def test_a_nir_key_in_a_field_of_its_own():
    assert found("NIR : 2850375123456   Clé 47\n") == [("2850375123456", "SECU"), ("47", "SECU")]


def test_an_eponym_that_is_also_a_surname_is_protected_in_its_phrase_only():
    assert found("Signe de Hoffmann positif, phénomène de Raynaud.") == []
    assert found("Lit 12 — M. HOFFMANN Gérard, 81 ans") == [("HOFFMANN", "NOM"), ("Gérard", "PRENOM")]


# ---------------------------------------------------------------------------------------------------------
# round 6 of the rules (errors of the hand-written records test5, then a development set), each written from
# French clinical writing in general
# ---------------------------------------------------------------------------------------------------------
def test_a_weekday_with_the_day_alone_is_a_date():
    assert found("Rendez-vous proposé le jeudi 21 à 10h30, ou le vendredi 1er.") == [
        ("jeudi 21", "DATE"),
        ("vendredi 1er", "DATE"),
    ]
    # a time or a duration after the number is not a day; a month after it makes the whole date
    assert found("Mardi 9 h : visite.") == []
    assert found("Le mercredi 4 juin au matin.") == [("mercredi 4 juin", "DATE")]


@pytest.mark.parametrize(
    ("context", "number"),
    [
        ("N° d'hospitalisation :", "HB25-018834"),
        ("Numéro d'épisode", "2025E04471"),
        ("Épisode de soins n°", "25-0447812"),
        ("N° intervention", "OP-24-1187"),
        ("N° de dossier :", "VT-52-2026-004417"),
    ],
)
def test_stay_episode_and_intervention_numbers(context, number):
    assert found(f"{context} {number}") == [(number, "NDA")]


def test_digits_read_as_letters_by_an_ocr():
    text = (
        "Brest, le 1O mars 2O25. Hospitalisé du 27/O2/2025 au O3/O3/2025. Tél. de l'épouse : O6 l4 22 87 3O."
    )
    assert found(text) == [
        ("Brest", "VILLE"),
        ("1O mars 2O25", "DATE"),
        ("27/O2/2025", "DATE"),
        ("O3/O3/2025", "DATE"),
        ("O6 l4 22 87 3O", "TEL"),
    ]
    # words are left as they are: "Il", "lO" and a run of O without a digit are no number
    assert found("Il a revu OOO le lO.") == []


def test_a_flat_and_building_before_the_street():
    assert found("Appt 31, bâtiment Les Cèdres, 6 rue Jean Jaurès") == [
        ("Appt 31, bâtiment Les Cèdres, 6 rue Jean Jaurès", "ADRESSE")
    ]
    assert found("Bât. B, esc. 2, 14 avenue de la Gare") == [
        ("Bât. B, esc. 2, 14 avenue de la Gare", "ADRESSE")
    ]


def test_a_patients_initials():
    assert found("Patient (initiales : J.-M. R.), 67 ans") == [("J.-M.", "PRENOM"), ("R.", "NOM")]
    assert found("Déclaration concernant une patiente, initiales B.T., 81 ans") == [
        ("B.", "PRENOM"),
        ("T.", "NOM"),
    ]
    assert found("Les initiales de l'IRM") == []


def test_a_mental_health_hospital():
    assert found("suivi au CMP de l'EPSM de la Marne") == [("l'EPSM de la Marne", "HOPITAL")]


def test_an_eponym_in_a_street_or_hospital_name_goes_with_it():
    assert found("SMR, 12 avenue Charcot – suivi au CMP de l'EPSM Charcot") == [
        ("12 avenue Charcot", "ADRESSE"),
        ("l'EPSM Charcot", "HOPITAL"),
    ]
    # alone, in its clinical phrase, or an acronym in a service's name, it stays
    assert found("Revu à la clinique AIT du CHU.") == []
    assert found("Maladie de Charcot écartée, signe de Babinski à droite (Babinski).") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a letter's reference to its file, a coverage agreement, an insurer's claim, a care home's resident
        ("V/Réf. : SIN-2026-11873", [("SIN-2026-11873", "NDA")]),
        ("Référence à rappeler : GT/2024/0716", [("GT/2024/0716", "NDA")]),
        ("N° de prise en charge : 26-0098812", [("26-0098812", "NDA")]),
        ("N° résident : EH-0412", [("EH-0412", "IPP")]),
        ("Réf : HAS 2019", []),
        # a NIR written in groups, its key in a field of its own
        (
            "N° de sécurité sociale : 2 63 11 29 019 004   Clé : 41",
            [("2 63 11 29 019 004", "SECU"), ("41", "SECU")],
        ),
        # planning tables abbreviate the weekday with its dot; a month after "fin", "début", "du mois de"
        ("Semaine du mar. 3 au ven. 6", [("mar. 3", "DATE"), ("ven. 6", "DATE")]),
        (
            "Bilan prévu début octobre, après l'AVC du mois de juin.",
            [("début octobre", "DATE"), ("juin", "DATE")],
        ),
        # a form's boxes, one digit each
        ("Né(e) le : 1 2 / 0 9 / 1 9 4 7", [("1 2 / 0 9 / 1 9 4 7", "DATE_NAISSANCE")]),
        # home hospitalisation, Guyane's health centres, the public hospitals of Paris and Marseille
        ("Relais par l'HAD Soins Ouest le 4.", [("l'HAD Soins Ouest", "HOPITAL"), ("4", "DATE")]),
        ("Evasan depuis le CDPS de Grand-Santi", [("CDPS de Grand-Santi", "HOPITAL")]),
        (
            "Assistance Publique - Hôpitaux de Paris",
            [("Assistance Publique - Hôpitaux de Paris", "HOPITAL")],
        ),
    ],
)
def test_round_6_file_numbers_dates_and_establishments(text, expected):
    assert found(text) == expected


def test_names_by_their_initials_at_a_signature():
    # care teams list each other by first name and initial; letters are signed with initials and surname
    assert [text for text, _ in found("Transmissions : Océane B. (IDE), relève par Yannick")] == [
        "Océane",
        "B.",
    ]
    assert found("Bien à vous,\nG. Lemercier\nCadre de santé") == [("G.", "PRENOM"), ("Lemercier", "NOM")]
    assert found("Pour le directeur et par délégation, A.-C. Rivallan, attachée") == [
        ("A.-C.", "PRENOM"),
        ("Rivallan", "NOM"),
    ]
    # "M." and a surname alone at a signature's place is the writer's initial (one signs without one's own title):
    # after a closing formula, before a caregiver's role, or ending the note; elsewhere "M." is Monsieur
    assert found("Cordialement,\nM. Lemercier") == [("M.", "PRENOM"), ("Lemercier", "NOM")]
    assert found("Patient calme, bien installé.\nM. Kerbrat, IDE\nRelève") == [
        ("M.", "PRENOM"),
        ("Kerbrat", "NOM"),
    ]
    assert ("M.", "PRENOM") not in found("Je revois ce jour\nM. Lemercier pour son suivi.")
    assert ("M.", "PRENOM") not in found("Cordialement,\nM. Lemercier est sorti hier.")
    # an initial in parentheses after a surname is its first name's
    assert found("Demandeur : Dr Ferrandon (L.), neurologue") == [("Ferrandon", "NOM"), ("L.", "PRENOM")]
    # a germ or a vitamin is no name
    assert found("Hémocultures à E. faecalis, vitamine B12.") == []


def test_round_7_dates_numbers_places_and_names():
    # days listed before their month, a month after "de", a spelled year, a dotted day and month, holidays
    assert found("Deux malaises, le 4 et le 9 mars, puis consultations des 2, 16 et 30 avril à 10 h.") == [
        ("4", "DATE"),
        ("9 mars", "DATE"),
        ("2", "DATE"),
        ("16", "DATE"),
        ("30 avril", "DATE"),
    ]
    assert found("L'angioscanner d'octobre était normal ; revu en juin deux mille vingt-six.") == [
        ("octobre", "DATE"),
        ("juin deux mille vingt-six", "DATE"),
    ]
    assert found("Pose de stent le 14.11, contrôle à Pâques et depuis la Toussaint 2023.") == [
        ("14.11", "DATE"),
        ("Pâques", "DATE"),
        ("Toussaint 2023", "DATE"),
    ]
    assert found("Revient le dix-huit pour la synthèse.") == [("dix-huit", "DATE")]
    # file numbers: after a stay's or a care plan's word, letters and digits joined by dashes or a space
    assert found("Admission n° 71-24-0098812 ; plan d'aide APA n° 29-APA-004411") == [
        ("71-24-0098812", "NDA"),
        ("29-APA-004411", "NDA"),
    ]
    assert found("Réf. : SMR-NEU-24-11873 ; dossier GHT-0482211 ; Dossier : 44-0081273") == [
        ("SMR-NEU-24-11873", "NDA"),
        ("GHT-0482211", "NDA"),
        ("44-0081273", "NDA"),
    ]
    assert found("Réf : HAS 2019, reco ESO.") == []
    assert found("NHC 00482213, episodi 2024-118") == [("00482213", "IPP")]
    # a NIR and a postcode dictated in words
    assert found(
        "numéro de sécurité sociale deux quarante et un zéro six trente-trois cent douze zéro zéro "
        "quatre clé dix-sept virgule"
    ) == [
        ("deux quarante et un zéro six trente-trois cent douze zéro zéro quatre", "SECU"),
        ("dix-sept", "SECU"),
    ]
    assert found("domiciliée à Mérignac trente-trois mille sept cents point") == [
        ("Mérignac", "VILLE"),
        ("trente-trois mille sept cents", "ZIP"),
    ]
    # places of an event outdoors, a numbered road
    assert found("Chute à vélo au col du Tourmalet, puis accident sur la RN 21.") == [
        ("col du Tourmalet", "ADRESSE"),
        ("RN 21", "ADRESSE"),
    ]
    assert found("AVC du tronc, protubérance et pont de Varole.") == []
    # a surname in capitals after a title even when it is a common word; a surname in a small company's name
    assert found("Mme BLANC Odile et M. PETIT") == [("BLANC", "NOM"), ("Odile", "PRENOM"), ("PETIT", "NOM")]
    assert found("Retour par Ambulances Kerhervé, taxi Rapide refusé.") == [("Kerhervé", "NOM")]
    assert found("Transfert retour de M. Petit demandé par Mme Fontaine.") == [
        ("Petit", "NOM"),
        ("Fontaine", "NOM"),
    ]
    # accession and request numbers by their shape; not a virus, a norm or a score
    assert found("Angio-TDM (demande RX-241103-0412), IRM acc. B24-1103-7781") == [
        ("RX-241103-0412", "NDA"),
        ("B24-1103-7781", "NDA"),
    ]
    assert found("PCR COVID-19 négative, norme ISO-15189, CHA2DS2-VASc à 4") == []
    # dates of neighbouring countries' letters
    assert found("ingresado el 14 de junio de 2024, dimesso il 3 luglio, aufgenommen am 2. Oktober") == [
        ("14 de junio de 2024", "DATE"),
        ("3 luglio", "DATE"),
        ("2. Oktober", "DATE"),
    ]
    assert ("CRF Les Herbiers", "HOPITAL") in found("Sortie au CRF Les Herbiers mardi.")
    # nurses signing a dated entry after a dash
    assert found("12/03 – Nuit – Maëlys IDE\nPatient calme.") == [("12/03", "DATE"), ("Maëlys", "PRENOM")]


def test_pieces_of_one_identifier_are_joined():
    # a town in pieces, an establishment's name across a dash, an address across its commas, guillemets closed,
    # a capitalized article taken with its town
    from clinrag.pseudo.labels import Span
    from clinrag.pseudo.rules import join_pieces

    def piece(text, part, label):
        start = text.index(part)
        return Span.of(text, start, start + len(part), label)

    text = "CH de Mont-de-Marsan – Layné, EHPAD « Les Genêts », à La Teste-de-Buch"
    pieces = [
        piece(text, "CH de Mont-de-Marsan", "HOPITAL"),
        piece(text, "Layné", "HOPITAL"),
        piece(text, "EHPAD", "HOPITAL"),
        piece(text, "Les Genêts", "HOPITAL"),
        piece(text, "Teste-de-Buch", "VILLE"),
    ]
    assert [s.text for s in join_pieces(text, pieces)] == [
        "CH de Mont-de-Marsan – Layné",
        "EHPAD « Les Genêts »",
        "La Teste-de-Buch",
    ]
    # a compound first name read as two names
    text = "18:40 - Anne-Sophie : rappel"
    assert [
        s.text for s in join_pieces(text, [piece(text, "Anne", "PRENOM"), piece(text, "Sophie", "NOM")])
    ] == ["Anne-Sophie"]
    # two establishments each named on its own stay apart; two towns across a dash too
    text = "CHU de Nantes – Hôpital Laënnec ; Brest – Quimper"
    pieces = [
        piece(text, p, label)
        for p, label in [
            ("CHU de Nantes", "HOPITAL"),
            ("Hôpital Laënnec", "HOPITAL"),
            ("Brest", "VILLE"),
            ("Quimper", "VILLE"),
        ]
    ]
    assert [s.text for s in join_pieces(text, pieces)] == [
        "CHU de Nantes",
        "Hôpital Laënnec",
        "Brest",
        "Quimper",
    ]


def test_a_day_alone_after_words_that_announce_a_date_and_mails_with_clinical_words():
    assert found("Chirurgien en congés jusqu'au 21, relais à partir du 3.") == [("21", "DATE"), ("3", "DATE")]
    assert found("Anticoagulation jusqu'au 3e mois, à partir du 10 mg/j.") == []
    # after "le" or "du" too, the month being the letter's own; not an emergency number called, a dose, a time
    assert found("Entrée en SMR possible le 9, bilan orthophonique du 14 à reprendre.") == [
        ("9", "DATE"),
        ("14", "DATE"),
    ]
    assert found("Visite du 12 au 14 annulée.") == [("12", "DATE"), ("14", "DATE")]
    assert found("En cas de récidive, appeler le 15 ; la famille a fait le 18.") == []
    assert found("Kardégic : le 75 mg est repris, rendez-vous le 3 h plus tard.") == []
    # an e-mail address is never a clinical term, whatever words its writer chose
    assert found("Résultats à irm.centre@imagerie-sud.fr ou doppler@cab-angio.fr") == [
        ("irm.centre@imagerie-sud.fr", "MAIL"),
        ("doppler@cab-angio.fr", "MAIL"),
    ]
