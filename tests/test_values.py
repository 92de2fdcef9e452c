"""Value semantics by type: parsing, normalization, canonical form and comparison."""

from __future__ import annotations

import datetime as dt

import pytest

from clinrag.data.values import canonical_cell, cells_match, is_null, parse_document_date, parse_value
from clinrag.data.variables import Variable

NIHSS = Variable(name="nihss", type="integer", description="NIHSS", minimum=0, maximum=42)
AGE = Variable(name="age", type="integer", description="âge", minimum=18, maximum=110, unit="ans")
GLYC = Variable(
    name="glyc",
    type="number",
    description="glycémie",
    unit="mmol/L",
    unit_conversions={"g/L": 5.551},
    minimum=1,
    maximum=40,
)
AF = Variable(
    name="fa", type="boolean", description="FA", synonyms={"true": ["ACFA"], "false": ["rythme sinusal"]}
)
TOAST = Variable(
    name="toast",
    type="category",
    description="TOAST",
    values=["cardioembolique", "indeterminee", "autre_cause"],
    synonyms={
        "cardioembolique": ["cardio-embolique", "embolie cardiaque"],
        "indeterminee": ["cryptogénique"],
    },
)
ONSET = Variable(name="onset", type="date", description="date")
NOTE = Variable(name="note", type="text", description="texte libre")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), (" 12 ", 12), ("+3", 3), ("12,0", 12), ("12.00", 12), ("0", 0), ("42", 42)],
)
def test_integer_parses(raw, expected):
    assert parse_value(NIHSS, raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("43", "above the maximum 42"),
        ("-1", "below the minimum 0"),
        ("12,5", "not an integer"),
        ("douze", "not an integer"),
    ],
)
def test_integer_rejects(raw, reason):
    with pytest.raises(ValueError, match=reason):
        parse_value(NIHSS, raw)


def test_integer_accepts_declared_unit():
    assert parse_value(AGE, "74 ans") == 74


def test_number_french_comma_and_units():
    assert parse_value(GLYC, "6,4") == pytest.approx(6.4)
    assert parse_value(GLYC, "6,4 mmol/l") == pytest.approx(6.4)
    assert parse_value(GLYC, "1,32 g/L") == pytest.approx(1.32 * 5.551, abs=1e-3)
    assert canonical_cell(GLYC, "6,40") == "6.40"
    with pytest.raises(ValueError, match="unknown unit 'mg/dL'"):
        parse_value(GLYC, "120 mg/dL")
    with pytest.raises(ValueError, match="above the maximum 40"):
        parse_value(GLYC, "55")


def test_number_compared_within_gold_precision():
    assert cells_match(GLYC, "6.4", "6.44")
    assert cells_match(GLYC, "6.4", "6,35")
    assert not cells_match(GLYC, "6.4", "6.46")
    assert cells_match(GLYC, "6.40", "6.404")
    assert not cells_match(GLYC, "6.40", "6.41")
    assert cells_match(GLYC, "6", "6.4")
    # a prediction in another declared unit is converted before comparing
    assert cells_match(GLYC, "7.3", "1,32 g/L")


@pytest.mark.parametrize("raw", ["true", "oui", "Oui", "VRAI", "1", "présent", "ACFA"])
def test_boolean_true(raw):
    assert parse_value(AF, raw) is True


@pytest.mark.parametrize("raw", ["false", "non", "Non", "0", "absent", "rythme sinusal"])
def test_boolean_false(raw):
    assert parse_value(AF, raw) is False


def test_boolean_rejects_other_words():
    with pytest.raises(ValueError, match="not a boolean"):
        parse_value(AF, "peut-être")


def test_category_synonyms_case_and_accents():
    assert parse_value(TOAST, "Cardio-embolique") == "cardioembolique"
    assert parse_value(TOAST, "EMBOLIE CARDIAQUE") == "cardioembolique"
    assert parse_value(TOAST, "Cryptogénique") == "indeterminee"
    assert parse_value(TOAST, "autre cause") == "autre_cause"
    assert parse_value(TOAST, "indéterminée") == "indeterminee"
    with pytest.raises(ValueError, match="not one of the categories"):
        parse_value(TOAST, "lacunaire")


@pytest.mark.parametrize("raw", ["2024-03-12", "12/03/2024", "12-03-2024", "12 mars 2024", "12 Mars 2024"])
def test_date_forms(raw):
    assert parse_value(ONSET, raw) == dt.date(2024, 3, 12)


def test_date_first_of_month_and_invalid_days():
    assert parse_value(ONSET, "1er août 2023") == dt.date(2023, 8, 1)
    with pytest.raises(ValueError):
        parse_value(ONSET, "31/02/2024")
    with pytest.raises(ValueError):
        parse_value(ONSET, "mars 2024")


def test_text_compared_normalized():
    assert cells_match(NOTE, "Hémiparésie  droite", "hemiparesie droite.")
    assert not cells_match(NOTE, "hémiparésie droite", "hémiparésie gauche")


@pytest.mark.parametrize("raw", ["", "  ", "NA", "non documenté", "Non renseigné", None, float("nan")])
def test_null_spellings(raw):
    assert is_null(raw)
    assert parse_value(NIHSS, raw) is None


def test_abstention_semantics():
    assert cells_match(NIHSS, "", "")
    assert cells_match(NIHSS, "", "non documenté")
    assert not cells_match(NIHSS, "", "3")
    assert not cells_match(NIHSS, "3", "")
    assert not cells_match(NIHSS, "3", "trois")  # unparsable never matches


def test_integers_compared_exactly():
    assert cells_match(NIHSS, "12", "12,0")
    assert not cells_match(NIHSS, "12", "13")


def test_document_dates():
    assert parse_document_date("2024-03-12") == dt.datetime(2024, 3, 12)
    assert parse_document_date("2024-03-12T14:05") == dt.datetime(2024, 3, 12, 14, 5)
    for bad in ("12/03/2024", "2024-13-01", "2024-03-12 14:05", "2024-03-12T25:00"):
        with pytest.raises(ValueError, match="unparsable date"):
            parse_document_date(bad)
