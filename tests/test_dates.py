"""The French date grammar of clinrag.text.dates, and its readers."""

from __future__ import annotations

import datetime as dt

import pytest

from clinrag.data.values import strip_accents
from clinrag.pseudo.replace import PatientKey, shift_date_text
from clinrag.text.dates import (
    DATE_FORMATS,
    FULL_MONTHS,
    IDENTIFYING_PATTERNS,
    MONTH_FORMS,
    MONTHS,
    expand_year,
    find_dates,
    month_name,
    parse_date,
    parse_document_date,
)


def test_every_month_form_reads_as_its_month() -> None:
    for number, forms in enumerate(MONTHS, 1):
        assert FULL_MONTHS[strip_accents(forms[0])] == number
        for form in forms:
            assert MONTH_FORMS[strip_accents(form)] == number
            for written in (form, form.upper(), strip_accents(form), f"{form}."):
                match = IDENTIFYING_PATTERNS["written"].fullmatch(f"12 {written} 2024")
                assert match is not None and match["month"] == written.rstrip(".")
    assert set(FULL_MONTHS) <= set(MONTH_FORMS)


def test_month_names_and_abbreviations() -> None:
    assert [month_name(m) for m in (1, 2, 8, 12)] == ["janvier", "février", "août", "décembre"]
    assert [month_name(m, abbreviated=True) for m in (1, 2, 3, 9)] == ["janv", "févr", "mars", "sept"]


@pytest.mark.parametrize(
    ("text", "year"), [("2024", 2024), ("24", 2024), ("69", 2069), ("70", 1970), ("'93", 1993)]
)
def test_two_digit_years_pivot_at_70(text: str, year: int) -> None:
    assert expand_year(text) == year


def test_find_dates_absolute_relative_and_partial() -> None:
    text = "Admis le 12/03/24 (AVC le 11 mars 2024), vu la veille, revu le 28/12. TA 12/8, mRS 2/6."
    found = {text[s:e]: day for s, e, day in find_dates(text, dt.date(2024, 1, 5))}
    assert found == {
        "12/03/24": dt.date(2024, 3, 12),
        "11 mars 2024": dt.date(2024, 3, 11),
        "la veille": dt.date(2024, 1, 4),
        "28/12": dt.date(2023, 12, 28),
    }
    assert [text[s:e] for s, e, _ in find_dates(text)] == ["12/03/24", "11 mars 2024"]


@pytest.mark.parametrize(
    "raw",
    [
        "2024-03-12",
        "12/03/2024",
        "12-03-2024",
        "12.03.2024",
        "12 mars 2024",
        " 12 MARS 2024. ",
        "12-mars-2024",
    ],
)
def test_parse_date_reads_a_cell(raw: str) -> None:
    assert parse_date(raw) == dt.date(2024, 3, 12)


@pytest.mark.parametrize("raw", ["12/03/24", "12 janv. 2024", "mars 2024", "2024-03-12T08:30", "2024-02-30"])
def test_parse_date_refuses_other_forms(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_date(raw)


def test_parse_document_date() -> None:
    assert parse_document_date("2024-03-12T08:30") == dt.datetime(2024, 3, 12, 8, 30)
    for bad in ("2024-03-12T08:30:15", "12/03/2024", "2024-13-01"):
        with pytest.raises(ValueError):
            parse_document_date(bad)


#: One date of each format read back by the pseudonymizer.
_FORMAT_EXAMPLES = {
    "iso": "2024-03-12T08:30",
    "numeric": "12 / 03 / 24",
    "compact": "12032024",
    "written": "lundi 1er janv. 2024",
    "month_year": "déc. 93",
    "numeric_month_year": "03/2024",
    "day_month": "29/02",
    "year": "2007",
}


def test_every_date_format_is_written_back_in_its_format() -> None:
    assert set(_FORMAT_EXAMPLES) == set(DATE_FORMATS)
    key = PatientKey("p", 1)
    for name, example in _FORMAT_EXAMPLES.items():
        first = next(n for n, pattern in DATE_FORMATS.items() if pattern.fullmatch(example))
        assert first == name
        shifted = shift_date_text(example, key)
        assert shifted is not None
        assert shifted != example or name == "year"  # a year alone changes only when the shift crosses one
        assert DATE_FORMATS[name].fullmatch(shifted), (example, shifted)
