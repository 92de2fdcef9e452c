"""Replacing identifiers by masks or consistent surrogates (clinrag.pseudo.replace)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from clinrag.pseudo import PatientKey, Span, replace, shift_iso_date
from clinrag.pseudo._numbers import nir_is_valid
from clinrag.pseudo.replace import OffsetMap, shift_date_text
from clinrag.pseudo.vocabulary import fold

SEED = 1234


def spans_of(text: str, *pieces: tuple[str, str]) -> list[Span]:
    """The span of each ``(substring, label)``, at its first occurrence after the previous one."""
    spans, cursor = [], 0
    for piece, label in pieces:
        start = text.index(piece, cursor)
        spans.append(Span.of(text, start, start + len(piece), label))
        cursor = start + len(piece)
    return spans


NOTE = (
    "Patient : Jean DUPONT, né le 12/03/1950, NIR 1 50 03 75 123 456 12. Tél 06 12 34 56 78. "
    "IPP 8001234567. Adressé par le Dr Marie Lefort (marie.lefort@chu-lyon.fr), CHU de Lyon, "
    "12 rue des Lilas 69003 Lyon. Admis le 2024-03-12 pour AVC, NIHSS 12, score de Rankin 3."
)
NOTE_SPANS = spans_of(
    NOTE,
    ("Jean", "PRENOM"),
    ("DUPONT", "NOM"),
    ("12/03/1950", "DATE_NAISSANCE"),
    ("1 50 03 75 123 456 12", "SECU"),
    ("06 12 34 56 78", "TEL"),
    ("8001234567", "IPP"),
    ("Marie", "PRENOM"),
    ("Lefort", "NOM"),
    ("marie.lefort@chu-lyon.fr", "MAIL"),
    ("CHU de Lyon", "HOPITAL"),
    ("12 rue des Lilas", "ADRESSE"),
    ("69003", "ZIP"),
    ("Lyon", "VILLE"),
    ("2024-03-12", "DATE"),
)


def surrogate_of(text: str, name: str, key: PatientKey, label: str = "NOM") -> str:
    """What ``name`` (first occurrence in ``text``) becomes in surrogate mode."""
    replaced = replace(text, spans_of(text, (name, label)), key, "surrogate")
    return replaced.spans[0].text


def parse_numeric(text: str) -> dt.date:
    """A dd/mm/yyyy-like date (any separator, 2- or 4-digit year)."""
    day, month, year = re.split(r" ?[/.\-] ?", text)
    return dt.date(int(year) + (2000 if len(year) == 2 else 0), int(month), int(day))


# ---------------------------------------------------------------------------------------------------------
# the patient key
# ---------------------------------------------------------------------------------------------------------
def test_offset_is_seeded_nonzero_and_bounded():
    offsets = [PatientKey(f"p{i}", SEED, max_shift_days=100).offset_days for i in range(200)]
    assert all(32 <= abs(offset) <= 100 for offset in offsets)
    assert {offset > 0 for offset in offsets} == {True, False}
    assert len(set(offsets)) > 50
    assert PatientKey("p1", SEED).offset_days == PatientKey("p1", SEED).offset_days
    assert PatientKey("p1", SEED).offset_days != PatientKey("p1", SEED + 1).offset_days
    with pytest.raises(ValueError, match="min_shift_days"):
        PatientKey("p1", SEED, max_shift_days=10)


def test_repr_hides_the_seed():
    assert str(SEED) not in repr(PatientKey("p1", SEED))


# ---------------------------------------------------------------------------------------------------------
# mask mode
# ---------------------------------------------------------------------------------------------------------
def test_mask_mode_writes_labels():
    replaced = replace(NOTE, NOTE_SPANS, PatientKey("p1", SEED), "mask")
    assert replaced.text.startswith(
        "Patient : [PRENOM] [NOM], né le [DATE_NAISSANCE], NIR [SECU]. Tél [TEL]."
    )
    assert "Admis le [DATE] pour AVC, NIHSS 12, score de Rankin 3." in replaced.text
    assert [span.text for span in replaced.spans] == [f"[{span.label}]" for span in NOTE_SPANS]
    for span in replaced.spans:
        assert replaced.text[span.start : span.end] == span.text


def test_unknown_mode_and_bad_spans_are_rejected():
    key = PatientKey("p1", SEED)
    with pytest.raises(ValueError, match="unknown replacement mode"):
        replace(NOTE, NOTE_SPANS, key, "hash")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlapping"):
        replace(
            "Jean Dupont",
            [Span.of("Jean Dupont", 0, 11, "NOM"), Span.of("Jean Dupont", 5, 11, "NOM")],
            key,
            "mask",
        )
    with pytest.raises(ValueError, match="does not match"):
        replace("Jean Dupont", [Span(0, 4, "PRENOM", "Paul")], key, "mask")


# ---------------------------------------------------------------------------------------------------------
# surrogates: consistency, reproducibility, no leak
# ---------------------------------------------------------------------------------------------------------
def test_surrogate_text_contains_no_original_identifier():
    replaced = replace(NOTE, NOTE_SPANS, PatientKey("p1", SEED), "surrogate")
    folded = fold(replaced.text)
    for span in NOTE_SPANS:
        assert fold(span.text) not in folded, span
    for span in replaced.spans:
        assert replaced.text[span.start : span.end] == span.text
    assert [span.label for span in replaced.spans] == [span.label for span in NOTE_SPANS]
    assert "NIHSS 12, score de Rankin 3." in replaced.text


def test_same_name_same_surrogate_across_documents_of_a_patient():
    key = PatientKey("p1", SEED)
    first = surrogate_of("Vu M. Dupont ce jour.", "Dupont", key)
    # Another document of the same patient: other case, accents and spacing, same person.
    assert surrogate_of("DUPONT est revu.", "DUPONT", key) == first.upper()
    assert surrogate_of("Mme dupont", "dupont", key) == first.lower()
    assert surrogate_of("Mme Dupönt", "Dupönt", key) == first
    # A different name of the same patient gets a different surrogate.
    assert surrogate_of("Dr Lefort", "Lefort", key) != first


def test_other_patients_draw_independently():
    surrogates = {surrogate_of("M. Dupont", "Dupont", PatientKey(f"p{i}", SEED)) for i in range(20)}
    assert len(surrogates) > 5


def test_surrogates_are_reproducible_and_order_independent():
    texts = ["M. Dupont et Mme Lefort.", "Mme Lefort seule.", "M. Dupont seul."]

    def run(order: list[int]) -> dict[int, str]:
        key = PatientKey("p7", SEED)
        out = {}
        for i in order:
            names = [(word, "NOM") for word in ("Dupont", "Lefort") if word in texts[i]]
            out[i] = replace(texts[i], spans_of(texts[i], *names), key, "surrogate").text
        return out

    assert run([0, 1, 2]) == run([2, 1, 0]) == run([0, 1, 2])


def test_case_style_and_first_name_gender():
    key = PatientKey("p1", SEED)
    upper = surrogate_of("M. DUPONT", "DUPONT", key)
    assert upper.isupper() and upper != "DUPONT"
    assert surrogate_of("Mme Marie Lefort", "Marie", key, "PRENOM") in {
        "Anne", "Brigitte", "Catherine", "Cécile", "Chantal", "Christine", "Claire", "Danielle", "Élise",
        "Françoise", "Hélène", "Isabelle", "Jacqueline", "Jeanne", "Julie", "Laure", "Louise", "Lucie",
        "Madeleine", "Martine", "Monique", "Nathalie", "Nicole", "Odile", "Pauline", "Simone", "Sophie",
        "Sylvie", "Valérie",
    }  # fmt: skip


def test_numbers_keep_their_layout_and_secu_its_key():
    for i in range(30):
        key = PatientKey(f"p{i}", SEED)
        replaced = replace(NOTE, NOTE_SPANS, key, "surrogate")
        by_label = {span.label: span.text for span in replaced.spans}
        assert re.fullmatch(r"\d \d{2} \d{2} \d{2} \d{3} \d{3} \d{2}", by_label["SECU"])
        assert nir_is_valid(by_label["SECU"])
        assert re.fullmatch(r"06 \d{2} \d{2} \d{2} \d{2}", by_label["TEL"])
        assert re.fullmatch(r"[1-9]\d{9}", by_label["IPP"])
        assert re.fullmatch(r"\d{5}", by_label["ZIP"])
        assert re.fullmatch(r"[a-z]+\.[a-z]+@[a-z.]+", by_label["MAIL"])
    key = PatientKey("p1", SEED)
    phone = surrogate_of("tél 0612345678", "0612345678", key, "TEL")
    assert phone == surrogate_of("tél 06.12.34.56.78", "06.12.34.56.78", key, "TEL").replace(".", "")


# ---------------------------------------------------------------------------------------------------------
# dates
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("original", "pattern"),
    [
        ("12/03/2024", r"\d{2}/\d{2}/\d{4}"),
        ("12/03/24", r"\d{2}/\d{2}/\d{2}"),
        ("12.03.2024", r"\d{2}\.\d{2}\.\d{4}"),
        ("12-03-2024", r"\d{2}-\d{2}-\d{4}"),
        ("2/3/2024", r"\d{1,2}/\d{1,2}/\d{4}"),
        ("2024-03-12", r"\d{4}-\d{2}-\d{2}"),
        ("12 mars 2024", r"\d{2} [a-zéû]+ \d{4}"),
        ("1er mars 2024", r"(1er|\d{1,2}) [a-zéû]+ \d{4}"),
        ("mars 2024", r"[a-zéû]+ \d{4}"),
        ("MARS 2024", r"[A-ZÉÛ]+ \d{4}"),
        ("3 janv. 2024", r"\d{1,2} [a-zéû]{3,4}\. \d{4}"),
        ("12/03", r"\d{2}/\d{2}"),
        ("12032024", r"\d{8}"),
        ("03/2024", r"\d{2}/\d{4}"),
    ],
)
def test_dates_keep_their_format(original: str, pattern: str):
    for i in range(10):
        shifted = shift_date_text(original, PatientKey(f"p{i}", SEED))
        assert shifted is not None and re.fullmatch(pattern, shifted), shifted
        assert shifted != original


def test_numeric_dates_shift_by_the_offset_and_keep_intervals():
    key = PatientKey("p3", SEED)
    text = "Né le 05/11/1950. AVC le 28/02/2024, contrôle le 01.03.24 puis le 29-02-2024."
    dates = ["05/11/1950", "28/02/2024", "01.03.24", "29-02-2024"]
    replaced = replace(text, spans_of(text, *[(d, "DATE") for d in dates]), key, "surrogate")
    old = [parse_numeric(d) for d in dates]
    new = [parse_numeric(span.text) for span in replaced.spans]
    assert all(n - o == dt.timedelta(days=key.offset_days) for o, n in zip(old, new, strict=True))
    assert new[2] - new[1] == old[2] - old[1] == dt.timedelta(days=2)


def test_textual_dates_are_exact():
    key = PatientKey("p3", SEED)
    shift = dt.timedelta(days=key.offset_days)
    months = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre"]  # fmt: skip
    start = dt.date(2024, 3, 1)
    written = shift_date_text("1er mars 2024", key)
    assert written is not None
    day, month, year = written.split()
    new = dt.date(int(year), months.index(month) + 1, 1 if day == "1er" else int(day))
    assert new == start + shift
    # A weekday is rewritten to match the new date.
    weekday = shift_date_text("lundi 4 mars 2024", key)
    assert weekday is not None
    days = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
    assert weekday.split()[0] == days[(dt.date(2024, 3, 4) + shift).weekday()]
    abbreviated = shift_date_text("lun. 4 mars 2024", key)
    assert abbreviated is not None
    assert abbreviated.split()[0] == days[(dt.date(2024, 3, 4) + shift).weekday()][:3] + "."
    # A month-year moves as its 15th does; a day-month within a leap year.
    middle = dt.date(2024, 3, 15) + shift
    assert shift_date_text("mars 2024", key) == f"{months[middle.month - 1]} {middle.year}"
    leap = dt.date(2000, 2, 29) + shift
    assert shift_date_text("29/02", key) == f"{leap.day:02d}/{leap.month:02d}"


def test_unaccented_month_stays_unaccented():
    key = PatientKey("p1", SEED)
    for i in range(20):
        written = shift_date_text("15 fevrier 2024", PatientKey(f"p{i}", SEED))
        assert written is not None and written == written.encode("ascii", "ignore").decode()
    assert shift_date_text("15 février 2024", key) is not None


def test_iso_shift_matches_text_shift():
    key = PatientKey("p9", SEED)
    text = "Admission le 12/03/2024."
    replaced = replace(text, spans_of(text, ("12/03/2024", "DATE")), key, "surrogate")
    iso = shift_iso_date("2024-03-12", key)
    assert parse_numeric(replaced.spans[0].text).isoformat() == iso
    assert shift_iso_date("2024-03-12T08:30", key) == f"{iso}T08:30"
    assert shift_date_text("2024-03-12", key) == iso
    with pytest.raises(ValueError, match="not an ISO date"):
        shift_iso_date("12/03/2024", key)


@pytest.mark.parametrize("original", ["32/13/2024", "douze mars deux mille vingt", "hier soir"])
def test_unreadable_date_is_masked(original: str):
    text = f"Vu le {original}."
    spans = spans_of(text, (original, "DATE"))
    replaced = replace(text, spans, PatientKey("p1", SEED), "surrogate")
    assert replaced.text == "Vu le [DATE]."


# ---------------------------------------------------------------------------------------------------------
# offset map
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["mask", "surrogate"])
def test_offset_map_keeps_untouched_phrases(mode: str):
    replaced = replace(NOTE, NOTE_SPANS, PatientKey("p1", SEED), mode)  # type: ignore[arg-type]
    for phrase in ("Patient : ", "NIHSS 12", "score de Rankin", "pour AVC", "Adressé par le Dr"):
        start = NOTE.index(phrase)
        new_start, new_end = replaced.offsets.map(start, start + len(phrase))
        assert replaced.text[new_start:new_end] == phrase
    # A span covering whole identifiers covers their replacements.
    start, end = NOTE.index("Jean"), NOTE.index("DUPONT") + len("DUPONT")
    new_start, new_end = replaced.offsets.map(start, end)
    assert replaced.text[new_start:new_end] == f"{replaced.spans[0].text} {replaced.spans[1].text}"
    assert replaced.offsets.map(0, len(NOTE)) == (0, len(replaced.text))


def test_offset_map_rejects_cuts_through_identifiers():
    replaced = replace(NOTE, NOTE_SPANS, PatientKey("p1", SEED), "mask")
    start = NOTE.index("DUPONT")
    with pytest.raises(ValueError, match="cuts through"):
        replaced.offsets.map(start + 2, start + 10)
    with pytest.raises(ValueError, match="invalid span"):
        replaced.offsets.map(5, 2)
    assert OffsetMap().map(3, 7) == (3, 7)


def test_no_surrogate_is_another_identifier_of_the_text():
    # Every surname of the built-in list is an identifier here: none may come back as a surrogate.
    from clinrag.pseudo.replace import SURNAMES

    text = ", ".join(SURNAMES[:-1]) + " et Dupont."
    spans = spans_of(text, *[(name, "NOM") for name in SURNAMES[:-1]], ("Dupont", "NOM"))
    replaced = replace(text, spans, PatientKey("p1", SEED), "surrogate")
    assert {span.text for span in replaced.spans} <= {SURNAMES[-1], "[NOM]"}
