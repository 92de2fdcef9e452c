"""Rule-based detection of personal identifiers in French clinical text (the eds-pseudo labels).

:func:`detect` runs every rule, drops what touches the protected clinical vocabulary ("signe de Babinski",
"score de Rankin", "Kardégic") and resolves overlaps; a second pass then labels the long numbers nothing
explained, finds again, everywhere in the text, the names found and the patient's known names, and reads what
the first pass makes readable: towns after a name or a hospital ("Dr Bayle (Arlanc)"), acronyms of the hospitals
found, names listed after a name. Last, dates of the year of birth that a social security number gives become
DATE_NAISSANCE.

The rules read context and layout rather than lists of names: towns after "né à", "domicilié à", "pompiers de",
in a letter's date line, before a department's number, or by their shape ("Labarthe-sur-Lèze"); names after
titles, roles, kinship, form fields and in table columns; hospitals by their kind. The word lists
(``lexicon.yaml``) only tell first names from surnames, common words from names, and a few large cities.

The rules favour recall: a missed identifier leaks, an extra mask costs little. Measured on eds-pseudo's public
dev set (800 notes): 97% of identifier tokens redacted, every identifier in 79% of the notes (see
tests/test_pseudo.py). The rules were written while looking at that set, so this is a development measurement,
not a held-out one; the held-out measurement is on the test half of hand-written records
(experiments/data/phi_records, docs/pseudonymization.md). The trained model (:mod:`clinrag.pseudo.ner`) is
cross-validated on eds-pseudo instead, and the hybrid detector (:mod:`clinrag.pseudo.pipeline`) passes its spans
to :func:`detect` as ``extra``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from clinrag.pseudo._dates import find_dates, relabel_birth_dates
from clinrag.pseudo._hospitals import find_hospital_acronyms, find_hospitals
from clinrag.pseudo._names import (
    find_company_names,
    find_first_name_pairs,
    find_greeted_names,
    find_initialled_names,
    find_initials,
    find_initials_after_names,
    find_kin_names,
    find_listed_names,
    find_name_lines,
    find_occurrences,
    find_role_names,
    find_signature_initials,
    find_titled_names,
    known_name_words,
)
from clinrag.pseudo._numbers import (
    find_bare_numbers,
    find_mails,
    find_patient_and_stay_numbers,
    find_phones,
    find_social_security_numbers,
    ocr_digit_view,
)
from clinrag.pseudo._places import (
    find_addresses,
    find_outdoor_places,
    find_postcodes_and_cities,
    find_spelled_postcodes,
    find_towns_after_names,
    find_towns_in_letterheads,
)
from clinrag.pseudo._spaced import find_spaced_numbers
from clinrag.pseudo._tables import find_table_cells
from clinrag.pseudo.labels import LABEL_PRIORITY, Span
from clinrag.pseudo.surrogates import DATE_LABELS, LAYOUT_LABELS
from clinrag.pseudo.vocabulary import fold, protected_ranges

Rule = Callable[[str], Iterable[Span]]

#: Every rule, each a function of the text alone. Their order does not matter: overlaps are resolved after.
RULES: tuple[Rule, ...] = (
    find_mails,
    find_phones,
    find_social_security_numbers,
    find_patient_and_stay_numbers,
    find_spaced_numbers,
    find_dates,
    find_addresses,
    find_outdoor_places,
    find_postcodes_and_cities,
    find_hospitals,
    find_titled_names,
    find_kin_names,
    find_company_names,
    find_greeted_names,
    find_initials,
    find_initialled_names,
    find_signature_initials,
    find_role_names,
    find_table_cells,
    find_first_name_pairs,
    find_name_lines,
)

_NAME_LABELS = ("NOM", "PRENOM")
#: The rules of identifiers written with digits, run again on :func:`ocr_digit_view` of a scanned letter.
DIGIT_RULES: tuple[Rule, ...] = (
    find_phones,
    find_social_security_numbers,
    find_patient_and_stay_numbers,
    find_dates,
    find_postcodes_and_cities,
)


def detect(
    text: str,
    known_names: list[str] | None = None,
    extra: Iterable[Span] = (),
    labelled_names: Iterable[tuple[str, str]] = (),
) -> list[Span]:
    """Find the personal identifiers of a French clinical text.

    Args:
        text: The document.
        known_names: The patient's names when known (from the hospital's records): every occurrence of each
            of their words is found, case- and accent-insensitive, even without a title before it.
        extra: Spans found by another detector (the trained model), merged with the rules' first pass where
            they find more (:func:`outside_of`): the names among them are found again everywhere too.
        labelled_names: ``(name, label)`` pairs found elsewhere in the patient's record (another document),
            found again in this one.

    Returns:
        Non-overlapping spans, sorted by position.
    """
    candidates = [span for rule in RULES for span in rule(text)]
    view = ocr_digit_view(text)
    if view != text:
        candidates += [Span.of(text, s.start, s.end, s.label) for rule in DIGIT_RULES for s in rule(view)]
    ruled = resolve_overlaps(unprotected_spans(text, candidates))
    first_pass = resolve_overlaps([*ruled, *outside_of(text, unprotected_spans(text, extra), ruled)])
    # Second pass, on what the first found: long numbers nothing explained are the IPP and NDA of headers, and
    # names found once (after a title) or known are found again wherever they occur, even bare.
    found_names = [(span.text, span.label) for span in first_pass if span.label in _NAME_LABELS]
    names = [*known_name_words(known_names or []), *_unique([*found_names, *labelled_names])]
    second_pass = [
        *find_bare_numbers(text, first_pass),
        *find_occurrences(text, names),
        *find_hospital_acronyms(text, first_pass),
        *find_towns_after_names(text, first_pass),
        *find_towns_in_letterheads(text, first_pass),
        *find_listed_names(text, first_pass),
        *find_initials_after_names(text, first_pass),
        *find_spelled_postcodes(text, first_pass),
    ]
    found = resolve_overlaps(unprotected_spans(text, [*first_pass, *second_pass]))
    return relabel_birth_dates(join_pieces(text, found))


# What may lie between two pieces of one identifier found apart, by label (and a hyphen between a first name and a
# surname read in a compound one): a hyphen or an apostrophe inside any
# ("Santa-Lucia" + "di-Mercurio", "972-25" + "0311458"); a particle inside a name, a place or an establishment
# ("Gui" + "Chauliac"); a spaced dash or guillemets inside an establishment's name ("Centre Hospitalier de Dax –
# Côte d'Argent", "Maison d'Accueil Spécialisée « Le Pech »"); a comma or an initial's dot inside an address
# ("Le Mansard, bât. A, 4 avenue …", "Avenue Docteur G. Thérasse").
_GLUE_ANY = re.compile(r"[-'’]")
_GLUE_PARTICLE = re.compile(r" (?:(?:de|du|des|di|da|del|dos|van|von)(?: la| l['’])?|d['’]|de l['’]) ?")
_GLUE_PLACE = re.compile(r" ?[–—-] | « ?| ?» ?")
_GLUE: dict[str, tuple[re.Pattern[str], ...]] = {
    "NOM": (_GLUE_ANY, _GLUE_PARTICLE),
    "PRENOM": (_GLUE_ANY,),
    "VILLE": (_GLUE_ANY, _GLUE_PARTICLE),
    "HOPITAL": (_GLUE_ANY, _GLUE_PARTICLE, _GLUE_PLACE),
    "ADRESSE": (_GLUE_ANY, _GLUE_PARTICLE, _GLUE_PLACE, re.compile(r", |\. ")),
}
# An establishment or a site named on its own after a dash is another one ("CHU de Nantes – Hôpital Laënnec",
# "CHU d'Amiens – Site Sud"), not the rest of the first one's name ("Centre Hospitalier de Dax – Côte d'Argent").
_OWN_NAME = re.compile(
    r"(?i:l['’])?(?i:site|h[ôo]pital|h[ôo]pitaux|clinique|polyclinique|centre|groupe|groupement|institut|maison|"
    r"ehpad|ch|chu|chr|chru|chi|chic|gh|ght|ghu|p[ôo]le)(?![\w])"
)
# A capitalized article before a town, an address or a hospital's site is part of it ("entre La Ferté-Macé et …",
# "La Meynard"); not before a hospital named by its kind ("Le CHU de Brest": the article stays out).
_ARTICLE_BEFORE = re.compile(r"(?<![\w'’])(?:La|Le|Les|L['’]) ?$")


def join_pieces(text: str, spans: Sequence[Span]) -> list[Span]:
    """Join the pieces of one identifier found apart (by two rules, or the model and a rule) and close what a
    span leaves open, so that no hyphen, particle or guillemet of an identifier stays in clear: two spans of one
    label with only the glue of one name between them (:data:`_GLUE`) become one; a span with an opening
    guillemet or parenthesis takes the closing one right after it ("« Les Tilleuls" + " »", "(681" …), one with a
    closing parenthesis the opening one right before it ("681) 72 07 31"); a town, an address or a hospital takes
    the capitalized article right before it.

    Args:
        spans: Non-overlapping spans, sorted by position.
    """
    joined: list[Span] = []
    for span in spans:
        previous = joined[-1] if joined else None
        if (
            previous is not None
            and (
                (
                    previous.label == span.label
                    and any(
                        glue.fullmatch(text, previous.end, span.start) for glue in _GLUE.get(span.label, ())
                    )
                    and not (span.label == "HOPITAL" and _OWN_NAME.match(span.text))
                )
                or (  # "Marie" + "-" + "Claire" read as a first name and a surname: one compound name
                    {previous.label, span.label} <= set(_NAME_LABELS)
                    and text[previous.end : span.start] == "-"
                )
            )
        ):
            joined[-1] = Span.of(text, previous.start, span.end, span.label, previous.source)
        else:
            joined.append(span)
    if not joined:
        return []
    ends = [0, *(span.end for span in joined[:-1])]
    starts = [*(span.start for span in joined[1:]), len(text)]
    return [
        _closed(text, span, floor, ceiling) for span, floor, ceiling in zip(joined, ends, starts, strict=True)
    ]


def _closed(text: str, span: Span, floor: int, ceiling: int) -> Span:
    """``span`` with the closing mark of an opening one it holds, the opening mark of a closing one, and the
    article of a town or address, between ``floor`` and ``ceiling`` (the spans around it)."""
    start, end = span.start, span.end
    inside = text[start:end]
    after = re.match(r" ?[»)\]]", text[end : end + 2])
    if (
        after
        and end + after.end() <= ceiling
        and ("«" in inside and "»" not in inside or "(" in inside and ")" not in inside)
    ):
        end += after.end()
    if ")" in inside and "(" not in inside and start > floor and text[start - 1] == "(":
        start -= 1
    if span.label in ("VILLE", "ADRESSE") or (span.label == "HOPITAL" and not _OWN_NAME.match(span.text)):
        article = _ARTICLE_BEFORE.search(text, max(floor, start - 4), start)
        if article and (article.start() == 0 or not text[article.start() - 1].isalnum()):
            start = article.start()
    if (start, end) == (span.start, span.end):
        return span
    return Span.of(text, start, end, span.label, span.source)


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Keep a set of non-overlapping spans, deterministically.

    The longest span wins; between spans of the same length, the label that comes first in
    :data:`~clinrag.pseudo.labels.LABEL_PRIORITY`; then the leftmost one.

    Returns:
        The kept spans, sorted by position.
    """
    rank = {label: index for index, label in enumerate(LABEL_PRIORITY)}
    ordered = sorted(set(spans), key=lambda s: (-(s.end - s.start), rank[s.label], s.start, s.source))
    kept: list[Span] = []
    for span in ordered:
        if not any(span.overlaps(other) for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def outside_of(text: str, spans: Iterable[Span], kept: Sequence[Span]) -> Iterator[Span]:
    """The parts of ``spans`` that no span of ``kept`` covers, trimmed of spaces and punctuation, each of two
    letters or digits at least (two digits for a number's label), with its span's label and source.

    How the trained model's spans join the rules': where they overlap, the rules' span is kept whole and the
    model adds what it covers around it. Keeping only the longer of the two (as between rules) lost what the rules
    had right whenever the model's boundary was wrong: social security numbers written digit by digit run on
    into the date or IPP beside them, a phone number glued to a word (eds-pseudo: birth dates 0.997 with the
    rules, 0.901 merged that way).
    """
    covered = sorted((span.start, span.end) for span in kept)
    for span in spans:
        start = span.start
        for begin, end in [
            *[c for c in covered if c[0] < span.end and span.start < c[1]],
            (span.end, span.end),
        ]:
            piece = text[start:begin] if begin > start else ""
            left = start + len(piece) - len(piece.lstrip(_TRIM))
            right = start + len(piece.rstrip(_TRIM))
            wanted = str.isdigit if span.label in _NUMBER_LABELS else str.isalnum
            if right - left > 0 and sum(wanted(c) for c in text[left:right]) >= 2:
                yield Span.of(text, left, right, span.label, span.source)
            start = max(start, end)


_TRIM = " \t\n\r.,;:()[]{}/-'\"«»"
"""Characters cut from the ends of a model span's part (:func:`outside_of`)."""
_NUMBER_LABELS = LAYOUT_LABELS | DATE_LABELS
"""Labels of identifiers written with digits: a model span's part of them needs two digits (not "tel")."""


def unprotected_spans(text: str, spans: Iterable[Span]) -> Iterator[Span]:
    """The spans that do not touch a protected clinical term, and the rules' numbered streets and hospitals that
    hold one inside their name ("2 avenue Charcot", "l'EPSM Charcot": the number and the street's or
    establishment's word before it make the eponym a place; "au cours Holter" stays clinical, and so does an
    acronym: "la clinique AIT du CHU" is a service for transient ischaemic attacks), and e-mail
    addresses ("doppler.sud@…", "irm.centre@…" are no clinical terms)."""
    ranges = protected_ranges(text)
    for span in spans:
        touched = [(start, end) for start, end in ranges if start < span.end and span.start < end]
        if (
            not touched
            or span.label == "MAIL"
            or (
                span.source == "rules"
                and (span.label == "HOPITAL" or (span.label == "ADRESSE" and span.text[0].isdigit()))
                and all(
                    span.start < start and end <= span.end and not text[start:end].isupper()
                    for start, end in touched
                )
            )
        ):
            yield span


def _unique(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs without repeats (the same name folded), first label kept."""
    seen: dict[str, tuple[str, str]] = {}
    for name, label in pairs:
        seen.setdefault(fold(name), (name, label))
    return list(seen.values())
