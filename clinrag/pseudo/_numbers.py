"""Identifiers made of digits or written like an address: e-mails, phone numbers, social security numbers (NIR),
and the hospital's patient (IPP) and stay (NDA) numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator

from clinrag.pseudo.labels import Span

# How far before a number its announcing words are looked for ("N° de sécurité sociale de l'assuré : ...").
_CONTEXT_WINDOW = 80


def digits_of(text: str) -> str:
    """The digits of ``text``, in order."""
    return "".join(c for c in text if c.isdigit())


# ---------------------------------------------------------------------------------------------------------
# e-mails
# ---------------------------------------------------------------------------------------------------------
# The dots of the domain may be written " . " (spaces around, as in dictated text), never ". " alone, so that
# "jean@exemple.fr. Le patient" stops before the end of the sentence.
_MAIL = re.compile(
    r"(?<![\w.+\-])[\w.+\-]+ ?@ ?[\w\-]+(?:(?:\.| \. )[\w\-]+)*(?:\.| \. )[A-Za-z]{2,}(?![\w\-])"
)


def find_mails(text: str) -> Iterator[Span]:
    """E-mail addresses (``prenom.nom@aphp.fr``, ``x @ medimail . com``)."""
    for match in _MAIL.finditer(text):
        yield Span.of(text, match.start(), match.end(), "MAIL")


# ---------------------------------------------------------------------------------------------------------
# phone numbers
# ---------------------------------------------------------------------------------------------------------
_INTERNATIONAL = r"(?:\+ ?\d{1,3}|\( ?\+?(?:\d ?){1,3}\)|\b00 ?\d{2})"
_PHONE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # 01 23 45 67 89 / 01.23.45.67.89 / 0123456789 / +33 6 12 34 56 78 / (33)0163752553 / +33 (0)6 ... / 06/28/42/50/36,
    # also glued to the word before it ("Standard04.73.72.17.05", "Tél:0612345678"), and O for 0 ("O1.42.15.23.35")
    re.compile(
        rf"(?<![\d+])(?:{_INTERNATIONAL}[ .\-]?(?:\(0\) ?)?0?[1-9]|[0O]\d)(?P<sep>[ ./\-]?)\d\d(?:(?P=sep)\d\d){{3}}"
        r"(?![\w])(?!(?P=sep)\d)"
    ),
    # ( 3 3 ) 0 6 5 6 2 0 7 4 4 6: an international prefix before a number dictated digit by digit
    re.compile(rf"(?<![\w+]){_INTERNATIONAL} ?0?\d(?: \d){{8}}(?!\w)(?! \d\b)"),
    # 0 1 - 4 6 - 3 7 - 0 5 - 2 6
    re.compile(r"(?<![\w+])0 ?\d(?: ?[.\-] ?\d ?\d){4}(?!\w)"),
    # + 9 2 1 5 5 7 0 6 2 5 4 (international number dictated digit by digit; national ones: see _spaced)
    re.compile(r"(?<![\w+])\+ ?\d(?: \d){9,12}(?!\w)(?! \d\b)"),
    # +660306165373: an international prefix then 9 to 12 digits in one block
    re.compile(r"(?<![\w+])\+ ?\d{9,13}(?!\w)"),
    # other countries' groupings: "+41 22 372 33 11", "+689 40 48 62 62", "+687 78 41 26", "+44 7700 900461"
    re.compile(
        r"(?<![\w+(])(?:\+ ?\d{1,3}|\(\+ ?\d{1,3}\))(?: ?\(0\))?(?:[ .\-]\d{1,6}){2,6}(?![\w]|[/.\-]\d)"
    ),
)
# 01 2039 2739, 06.45.0945.87: ten digits from 0, grouped in any way but with one kind of separator.
_ANY_GROUPING_PHONE = re.compile(r"(?<![\w+])0\d(?:[ .\-]?\d){8}(?!\w)(?![ .\-]\d)")
# A number announced as a phone number: any grouping, 9 to 13 digits on the same line.
_PHONE_CONTEXT = re.compile(
    r"(?i:\b(?:t[ée]l[ée]phone|t[ée]l[ée]phonique|t[ée]l|portable|mobile|fax|joignables? au|au num[ée]ro|contact|"
    r"standard|accueil|secr[ée]tariat)\b)\.?(?: au| le)? ?(?::|n°)? ?"
    r"(?P<number>[+(]?\d[\d() .\-]{6,24}\d)(?!\w)"
)

# A phone number dictated in words, as French speakers say it: "zéro", the digit after it, then the pairs
# ("zéro six, douze, quarante et un, quatre-vingt-dix-neuf, zéro sept"), some maybe in figures ("… 91 07 33").
# Four groups at least after the first two digits, so that "zéro sur quatre" or a score "zéro, un" never is one.
_TENS = r"dix|vingts?|trente|quarante|cinquante|soixante|quatre-vingts?|cents?"
_UNITS = r"z[ée]ro|une?|deux|trois|quatre|cinq|six|sept|huit|neuf|onze|douze|treize|quatorze|quinze|seize"
_SAID_NUMBER = rf"(?:{_TENS}|{_UNITS})(?:(?:-| et |-et-)(?:{_TENS}|{_UNITS}))*"
#: A number said in words ("quarante et un", "quatre-vingt-dix-neuf"), as dictated phone numbers, NIR and postcodes
#: (:mod:`._places`) say them.
SAID_NUMBER = _SAID_NUMBER
_SPELLED_PHONE = re.compile(
    rf"(?<![\w-])(?i:z[ée]ro[ ,]+(?:un|deux|trois|quatre|cinq|six|sept|huit|neuf)"
    rf"(?:(?:[ ,]+|[ ,]*…[ ,]*)(?:{_SAID_NUMBER}|\d\d)(?![\w-])){{4,}})"
)


def find_phones(text: str) -> Iterator[Span]:
    """French and international phone numbers, in pairs, digit by digit, in words, or announced by "Tél :"."""
    for match in _SPELLED_PHONE.finditer(text):
        yield Span.of(text, match.start(), match.end(), "TEL")
    for pattern in _PHONE_PATTERNS:
        for match in pattern.finditer(text):
            if 8 <= len(digits_of(match.group())) <= 15:
                yield Span.of(text, match.start(), match.end(), "TEL")
    for match in _ANY_GROUPING_PHONE.finditer(text):
        if len(set(re.findall(r"[ .\-]", match.group()))) <= 1:  # not "03-2024 14 12", a date then numbers
            yield Span.of(text, match.start(), match.end(), "TEL")
    for match in _PHONE_CONTEXT.finditer(text):
        if 8 <= len(digits_of(match.group("number"))) <= 13:
            start, end = match.span("number")
            yield Span.of(text, start, end, "TEL")


# ---------------------------------------------------------------------------------------------------------
# social security numbers (NIR)
# ---------------------------------------------------------------------------------------------------------
# sex (1) year (2) month (2) department (2, or 2A/2B for Corsica) commune (3) order (3) [key (2)], grouped by
# spaces in any way after the sex digit ("1 84 12 75 123 456 78", "2840375123456 78"). Found with an overlapping
# search (every start). Digit-by-digit NIR ("1 8 4 1 2 ...") are read by _spaced. The start may not follow a
# lone digit, which would make it a window inside a digit-by-digit run.
_NIR_BODY = r"[1-478](?: ?\d){4} ?(?:\d ?\d|2 ?[ABab])(?: ?\d){6}"
_NIR_START = r"(?<![\w])(?<!\b\d )"
_NIR_WITH_KEY = re.compile(rf"{_NIR_START}(?=({_NIR_BODY} ?\d ?\d)(?![\w]))")
# Without a key: what follows may not read as its key (two digits, then the end of the number).
_NIR_WITHOUT_KEY = re.compile(rf"{_NIR_START}(?=({_NIR_BODY})(?![\w])(?! ?\d ?\d(?![\w/.\-])))")
# A NIR's key printed in a field of its own after it: "1481299350019   Clé 21".
_KEY_FIELD = re.compile(r"[ \t]{1,12}(?i:cl[ée])[ \t]*:?[ \t]*(?P<key>\d{2})(?![\w])")
_NIR_CONTEXT = re.compile(
    r"(?i:s[ée]curit[ée] sociale|\bn\.?i\.?r\b|\bnss\b|\bn° ?ss\b|immatriculation|assur[ée]\(?e?\)?|"
    r"assurance maladie|n° d'identification|id national)[^\n\d]{0,40}$"
)


_ANNOUNCED_NUMBER = re.compile(r"(?<![\w])\d[\d ]{9,22}\d(?![\w])(?! \d)")


def nir_key(nir13: str) -> int:
    """The control key of a 13-character NIR: ``97 - (number mod 97)``.

    For Corsica, the department ``2A`` counts as ``19`` and ``2B`` as ``18`` (the official rule: the number
    read with ``20``, minus 1,000,000 for 2A or 2,000,000 for 2B).

    Args:
        nir13: The first 13 characters, without spaces (``"2840375123456"``, ``"1840B2A123456"``).
    """
    body = nir13.upper()
    if body[5:7] == "2A":
        number = int(body[:5] + "20" + body[7:]) - 1_000_000
    elif body[5:7] == "2B":
        number = int(body[:5] + "20" + body[7:]) - 2_000_000
    else:
        number = int(body)
    return 97 - number % 97


def nir_structure_ok(nir: str) -> bool:
    """Whether a NIR (13 or 15 characters, no spaces) has a possible sex digit and month of birth.

    Months are 01-12, or 20, 30-42 and 50-99 for the special cases of the official rules.
    """
    month = int(nir[3:5])
    return nir[0] in "123478" and (1 <= month <= 12 or month == 20 or 30 <= month <= 42 or month >= 50)


def nir_is_valid(nir: str) -> bool:
    """Whether a 15-character NIR (spaces removed) has the right control key."""
    nir = nir.replace(" ", "").upper()
    if len(nir) != 15 or not nir[13:].isdigit() or not nir_structure_ok(nir):
        return False
    return nir_key(nir[:13]) == int(nir[13:])


def _overlapping(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int, str]]:
    """Matches of a pattern written as ``(?=(...))``: every start position, overlaps included."""
    for match in pattern.finditer(text):
        yield match.start(1), match.end(1), match.group(1)


# Where the fields of a NIR end (sex, year, month, department, commune, order): people group its digits there.
_NIR_FIELD_ENDS = frozenset({1, 3, 5, 7, 10, 13})


def _grouping_ok(found: str) -> bool:
    """Whether the spaces of a NIR fall between its fields ("1 84 12 75 123 456", "184 12 75123456"), as
    people write it; numbers grouped otherwise ("42 93 2930 293") are something else."""
    position = 0
    for group in found.split(" ")[:-1]:
        position += len(group)
        if position not in _NIR_FIELD_ENDS:
            return False
    return True


_SPELLED_NIR = re.compile(
    rf"(?i:s[ée]curit[ée] sociale|\bNIR\b|\bnum[ée]ro de s[ée]cu\b|num[ée]ro d['’]assur[ée]e? social)"
    rf"(?: (?:est|:|deux points))?[ ,:]+"
    rf"(?P<nir>(?i:{_SAID_NUMBER})(?:[ ,]+(?i:{_SAID_NUMBER})){{4,}})(?![\w-])"
    rf"(?:[ ,]+(?i:cl[ée])[ ,:]+(?P<key>(?i:{_SAID_NUMBER}))(?![\w-]))?"
)


def find_social_security_numbers(text: str) -> Iterator[Span]:
    """NIR with a valid key (15 digits), or without a key (13 digits) when its structure is possible.

    A number announced as a social security number ("N° de sécurité sociale", "NIR", "assuré", ...) is kept
    even with a wrong key or an impossible month: a typing error still identifies the person.
    """
    for pattern, length in ((_NIR_WITH_KEY, 15), (_NIR_WITHOUT_KEY, 13)):
        for start, end, found in _overlapping(pattern, text):
            nir = found.replace(" ", "").upper()
            if not _grouping_ok(found):
                continue
            announced = _NIR_CONTEXT.search(text, max(0, start - _CONTEXT_WINDOW), start) is not None
            well_formed = nir_is_valid(nir) if length == 15 else nir_structure_ok(nir)
            if well_formed or announced:
                yield from _nir_and_key_field(text, start, end, length)
    # dictated in words after its announcement, its key after "clé": "numéro de sécurité sociale un cinquante-cinq
    # onze quatre-vingts zéro vingt et un trois cent cinq clé cinquante-neuf"
    for m in _SPELLED_NIR.finditer(text):
        yield Span.of(text, *m.span("nir"), "SECU")
        if m["key"]:
            yield Span.of(text, *m.span("key"), "SECU")
    # announced, any grouping and 11 to 15 digits: "N° de sécurité sociale : 402 654 803 958 12"
    for m in _ANNOUNCED_NUMBER.finditer(text):
        announced = _NIR_CONTEXT.search(text, max(0, m.start() - _CONTEXT_WINDOW), m.start())
        if announced and 11 <= len(digits_of(m.group())) <= 15:
            yield from _nir_and_key_field(text, m.start(), m.end(), len(digits_of(m.group())))


def _nir_and_key_field(text: str, start: int, end: int, digits: int) -> Iterator[Span]:
    """A NIR's span, and its key's when a NIR of 13 digits has it in a field of its own after it."""
    yield Span.of(text, start, end, "SECU")
    if digits == 13 and (key := _KEY_FIELD.match(text, end)):
        yield Span.of(text, *key.span("key"), "SECU")


# ---------------------------------------------------------------------------------------------------------
# IPP (patient number) and NDA (stay number)
# ---------------------------------------------------------------------------------------------------------
# Strong contexts name the number unambiguously and admit letters in it ("NDA : 28BG04493"); weak ones
# ("patient", "visite") only announce a bare run of at least 7 digits right after them.
_STRONG = {
    "IPP": r"\bIPP\b|\bI\.P\.P\.?|\bNIP\b|\bIP\b|\bID\b|identifiant(?: du)? patient|"
    r"num[ée]ro (?:du |de )?patient|n° (?:du |de )?patient|identit[ée] pivot|"
    r"r[ée]f[ée]rence interne(?: d[eu] l[ae] patiente?| du patient)?|"
    # the patient's record number of Spanish and Catalan hospitals
    r"\bNHC\b|hist[òo]ria cl[íi]nica|historia cl[íi]nica",
    "NDA": r"\bNDA\b|\bN\.D\.A\.?|n° ?(?:de )?s[ée]jour|num[ée]ro (?:de )?s[ée]jour|dossier n°|"
    r"identifiant (?:de |d['’])?(?:la |l['’])?(?:visite|venue|hospitalisation|s[ée]jour)|"
    r"n° ?(?:de |d')?(?:venue|dossier|admission|hospitalisation|[ée]pisode|intervention)|"
    r"num[ée]ro (?:de |d')?(?:venue|dossier|admission|hospitalisation|[ée]pisode|intervention)|"
    # a SAMU regulation file, an emergency passage, a transport or intervention sheet, a care episode (the stay's
    # unit in hospital software): "Dossier de régulation n° 25-074-018852", "passage n° U25-0032881", "Fiche
    # d'intervention secondaire n° T25-1187", "Épisode de soins n° 25-0447812"
    # an incident report, a care plan, a declaration or request ("Fiche de déclaration d'événement indésirable –
    # N° FEI 2026/0318", "Plan d'aide APA n° 88-APA-011972")
    r"(?:dossier|passage|venue|s[ée]jour|admission|fiche|intervention|mission|affaire|[ée]pisode|plan d['’]aide|"
    r"d[ée]claration|demande)"
    r"(?: [a-zà-ÿ'’]+){0,4}(?: [–-])? n°|"
    # a letter's reference to its file ("N/Réf. : …", "Réf. à rappeler : …", "Nos références : dossier …"), a
    # coverage agreement or an insurer's claim ("N° de prise en charge", "dossier sinistre")
    r"(?:\b[NV]/ ?|\bnos |\bvos |\bnotre |\bvotre )?r[ée]f(?:[ée]rences?|\.)?(?: [àa] rappeler| dossier)?(?= ?:)|"
    r"n° (?:de )?prise en charge|dossier sinistre",
    "RESIDENT": r"n° (?:de )?r[ée]sident",
}
_WEAK = {"IPP": r"\bpatiente?\b", "NDA": r"\bvisite\b|\bvenue\b|\bs[ée]jour\b|\bdossier\b"}
# A site's or software's letters may open the number before a dash or, in capitals, a space ("HB25-018834",
# "VT-52-2026-004417", "CS-NEU-25-060912", "FEI 2026/0318", "HC 0045128").
_ID_VALUE = r"(?:(?:[A-Za-z]{1,4}[-/]){1,2}|(?-i:[A-Z]{2,4}) (?=\d{5,}|\d+/\d))?(?=[A-Za-z]{0,3}\d)[A-Za-z0-9]*\d[A-Za-z0-9]*(?:[-/][A-Za-z0-9]+)*"
# Between the word and the number: "IPP : ", "(IPP) : ", "IPP n° ", "IPP est ", "l'IPP étant le ", and up to three
# words before a colon ("Numéro de dossier à rappeler : ").
_FILLER = r"(?: ?\)? ?(?:[:=#]|n°|no\.?|est(?: le)?|étant(?: le)?)? ?(?:[:=] ?)?|(?: [a-zà-ÿ'’]+){1,3} ?: ?)"


def _context_pattern(words: str, value: str) -> re.Pattern[str]:
    return re.compile(rf"(?:{words}){_FILLER}(?P<value>{value})(?![\w])", re.IGNORECASE)


# After a strong context, a number may be spaced in groups ("ipp 69 118 2045", dictated; "IPP 8 004 512 77").
_GROUPED_ID = r"\d{1,4}(?: \d{2,4}){1,3}(?!\d| \d)"
_ID_PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("IPP", _context_pattern(_STRONG["IPP"], _ID_VALUE), 4),
    ("IPP", _context_pattern(_STRONG["RESIDENT"], _ID_VALUE), 4),  # a care home's resident number
    ("NDA", _context_pattern(_STRONG["NDA"], _ID_VALUE), 4),
    ("IPP", _context_pattern(_STRONG["IPP"], _GROUPED_ID), 6),
    ("NDA", _context_pattern(_STRONG["NDA"], _GROUPED_ID), 6),
    ("IPP", _context_pattern(_WEAK["IPP"], r"\d{7,}"), 7),
    ("NDA", _context_pattern(_WEAK["NDA"], r"\d{7,}"), 7),
    # a file's code after a weak word, letters then digits joined by dashes: "dossier CHT-0239918", "(dossier
    # EV-2025-041)",
    ("NDA", _context_pattern(_WEAK["NDA"], r"(?-i:[A-Z]{1,5})-\d{2,}(?:-\d+)*"), 5),
    # or a number with a site's or a year's prefix: "Dossier : 35-00918844"
    ("NDA", _context_pattern(_WEAK["NDA"], r"\d{1,4}[-/]\d{5,}"), 7),
)
# The word after the number: "9876543210 (IPP)".
_ID_AFTER = re.compile(r"(?<![\w])(?P<value>\d{7,})(?![\w]) ?\(? ?(?P<label>IPP|NDA)\b")


# A file's code by its shape alone: letters, maybe digits, then groups of digits after dashes, seven digits at
# least ("IMG-250216-0093", "A25-0318-2241", "TAVC-2025-0871", "LNZ250507-0044": accession, request and thread
# numbers of imaging and tele-stroke software); not "COVID-19", "ISO-9001" or "CHA2DS2-VASc".
_CODE_SHAPE = re.compile(r"(?<![\w-])[A-Z]{1,6}\d{0,8}(?:-\d{3,}){1,3}(?![\w-])")


def find_patient_and_stay_numbers(text: str) -> Iterator[Span]:
    """IPP and NDA announced by their name ("IPP : 8475619240", "N° de séjour 2345678901", "9281973 (NDA)")."""
    for label, pattern, min_digits in _ID_PATTERNS:
        for match in pattern.finditer(text):
            if len(digits_of(match.group("value"))) >= min_digits:
                start, end = match.span("value")
                yield Span.of(text, start, end, label)
    for match in _ID_AFTER.finditer(text):
        start, end = match.span("value")
        yield Span.of(text, start, end, match.group("label"))
    for match in _CODE_SHAPE.finditer(text):
        if len(digits_of(match.group())) >= 7:
            yield Span.of(text, match.start(), match.end(), "NDA")


# ---------------------------------------------------------------------------------------------------------
# long numbers no other rule explains
# ---------------------------------------------------------------------------------------------------------
_BARE_NUMBER = re.compile(r"(?<![\w+\-/.,])[1-9]\d{7,10}(?![\w\-/]|[.,]\d)")
# Numbers of institutions and things, not of people.
_NOT_PERSONAL = re.compile(
    r"(?i:\b(?:finess|siret|siren|rpps|adeli|lot|facture|commande|r[ée]f[ée]rence produit)\b)[^\n\d]{0,15}$"
)


def find_bare_numbers(text: str, taken: list[Span]) -> Iterator[Span]:
    """Long numbers (8 to 11 digits, not starting with 0) that no other rule explained.

    In the headers and tables of hospital documents such numbers are the patient's IPP and the stay's NDA,
    written in that order: the first on a line is an IPP, one after an IPP on the same line an NDA. Numbers of
    institutions ("FINESS", "RPPS", "lot") are left alone.

    Args:
        text: The document.
        taken: Spans already found by the other rules; a number overlapping one of them is skipped.
    """
    found: list[Span] = []
    for match in _BARE_NUMBER.finditer(text):
        start, end = match.span()
        if any(span.start < end and start < span.end for span in taken):
            continue
        if _NOT_PERSONAL.search(text, max(0, start - _CONTEXT_WINDOW), start):
            continue
        line_start = text.rfind("\n", 0, start) + 1
        after_ipp = any(s.label == "IPP" and line_start <= s.start < start for s in (*taken, *found))
        found.append(Span.of(text, start, end, "NDA" if after_ipp else "IPP"))
    yield from found


# Digits read by OCR as letters: "1O/O3/2O25", "O6 l4 22 87 3O" (O for 0, l or I for 1), inside a run of digits.
_OCR_DIGITS = re.compile(
    r"(?<![A-Za-zÀ-ÿ0-9])(?=[0-9OolI]*[OolI])(?=[0-9OolI]*[0-9])[0-9OolI]{2,}(?![A-Za-zÀ-ÿ0-9])"
)
_OCR_TABLE = str.maketrans("OolI", "0011")


def ocr_digit_view(text: str) -> str:
    """The text with the letters an OCR put for digits turned back into digits, in runs of digits and such letters
    that hold at least one digit ("1O mars 2O25" reads "10 mars 2025"; "Il", "lo" and "OO" are left): the same
    length, so that spans found in it are spans of the text."""
    return _OCR_DIGITS.sub(lambda m: m.group().translate(_OCR_TABLE), text)
