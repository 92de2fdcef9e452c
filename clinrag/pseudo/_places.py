"""Places: street addresses, postcodes with their city, cities announced by "né à", and hospitals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import cities, common_words, fold

# A word of a proper name: capitalized or in capitals, hyphens and apostrophes inside ("Croix-Rousse",
# "d'Estienne"); _ANY_WORD also admits lower case, for addresses typed all in lower case.
_UPPER = "A-ZÀ-ÖØ-Þ"
_LETTER = "A-Za-zÀ-ÖØ-öø-ÿ"
_PROPER_WORD = rf"[{_UPPER}][{_LETTER}'’]*(?:-[{_LETTER}]+)*"
_ANY_WORD = rf"[{_LETTER}][{_LETTER}'’]*(?:-[{_LETTER}]+)*"
_PARTICLE = r"(?:de la|de l'|de|du|des|d'|la|le|les|l'|aux?|sur|en|et)"

# ---------------------------------------------------------------------------------------------------------
# street addresses
# ---------------------------------------------------------------------------------------------------------
# Kinds of way that are never common words; the others ("place", "cours", "passage", "route") are, so they
# need a capitalized name after them ("2 cours de chimiothérapie" is no address, "2 cours Lafayette" is).
_STREET = (
    r"rue|avenue|av\.|av|bd\.|bd|boulevard|bld|blvd|chemin|ch\.|all[ée]e|impasse|imp\.|quai|faubourg|fbg|"
    r"chauss[ée]e|ruelle|venelle|rond-point|lieu-dit|stra(?:ss|ß)e"
)
_AMBIGUOUS_WAY = (
    r"place|pl\.|cours|route|rte|square|sq\.|passage|villa|cit[ée]|r[ée]sidence|lotissement|hameau|parvis|"
    r"promenade|esplanade|sentier|voie|mont[ée]e|traverse|domaine|clos"
)
_STREET_NUMBER = r"\d{1,4}(?:-\d{1,4})?(?: ?(?:bis|ter|quater|[A-Da-d]))?"
_SPELLED_NUMBER = (
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|vingt"
)
_PROPER_NAME = rf"(?P<name>(?: (?:{_PARTICLE} ?)?{_PROPER_WORD}){{1,5}})"
_ADDRESS_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "12 rue des Lilas", "12 bis, avenue Foch", "deux bd etienne de rourque" (any words after the way)
    re.compile(
        rf"(?<![\w])(?:{_STREET_NUMBER}|{_SPELLED_NUMBER}),? (?:{_STREET})(?![\w])(?P<name>(?: {_ANY_WORD}){{1,7}})",
        re.IGNORECASE,
    ),
    # "3 place de la République", "18 cours Lafayette"
    re.compile(rf"(?<![\w])(?:{_STREET_NUMBER}),? (?i:{_AMBIGUOUS_WAY})(?![\w]){_PROPER_NAME}"),
    # "la rue Rivoli", "boulevard de Belleville": no number, an unambiguous way and a capitalized name
    re.compile(rf"(?<![\w])(?i:rue|avenue|boulevard|impasse|all[ée]e|quai){_PROPER_NAME}"),
)
_ADDRESS_PARTICLES = {"de", "du", "des", "d'", "la", "le", "les", "l'", "aux", "au", "sur", "en", "et"}
_ADDRESS_STOP = {"a", "pour", "chez", "avec", "puis", "dont", "qui", "que", "ou", "apres", "avant", "depuis"}


def _address_end(text: str, start: int, name_start: int, name_end: int) -> int:
    """Where the street name ends: at the first word that cannot be part of it.

    A name with a capitalized word ends at the first lower-case word other than a particle ("12 rue des
    Lilas pour" stops before "pour"); an all lower-case one ("sept allée des roses") at a function word.
    """
    words = list(re.finditer(r"\S+", text[name_start:name_end]))
    capitalized = any(w.group()[0].isupper() for w in words)
    end = name_start
    for word in words:
        folded = fold(word.group()).rstrip(".,")
        lower = word.group()[0].islower() and not re.match(r"[dl]['’]", word.group())  # "Jeanne d’Arc"
        if folded in _ADDRESS_STOP or (capitalized and lower and folded not in _ADDRESS_PARTICLES):
            break
        end = name_start + word.end()
    return _without_trailing_particles(text, start, end)  # "12 rue de"


def _without_trailing_particles(text: str, start: int, end: int) -> int:
    """``end`` moved back so that ``text[start:end]`` does not end on particles ("de", "du", "la"...)."""
    tail = re.search(rf"(?: (?:{_PARTICLE}))+$", text[start:end], re.IGNORECASE)
    return start + tail.start() if tail else end


# What may follow the street: a flat or building ("APPT 188", "bât. B"), then a postcode without its city.
_ADDRESS_COMPLEMENT = re.compile(
    r",? (?i:appt|apt|appartement|b[âa]t(?:iment)?|esc(?:alier)?|[ée]tage|r[ée]sidence|bp|cs)\.? ?\w{1,5}(?![\w])"
)
_ADDRESS_ZIP = re.compile(r",? ?(?P<zip>(?:0[1-9]|[1-8]\d|9[0-8]|2[AB]) ?\d{3})(?![\w])")


def find_addresses(text: str) -> Iterator[Span]:
    """Street addresses: ``12 rue des Lilas``, ``12 bis, avenue Foch``, ``deux bd Voltaire``, ``la rue Rivoli``,
    with a flat number after them ("APPT 188"); a postcode right after an address is a ZIP."""
    for pattern in _ADDRESS_PATTERNS:
        for m in pattern.finditer(text):
            end = _address_end(text, m.start(), m.start("name"), m.end("name"))
            if end <= m.start("name"):
                continue
            if complement := _ADDRESS_COMPLEMENT.match(text, end):
                end = complement.end()
            yield Span.of(text, m.start(), end, "ADRESSE")
            if postcode := _ADDRESS_ZIP.match(text, end):
                yield Span.of(text, *postcode.span("zip"), "ZIP")


# ---------------------------------------------------------------------------------------------------------
# postcodes and cities
# ---------------------------------------------------------------------------------------------------------
# A city: a hyphenated compound ("Ivry-sur-Seine", "Saint-Denis"), possibly followed by more words when written
# in capitals ("LA BACONNETTE") or after a prefix ("Le Havre", "Saint Ouen"), and by CEDEX.
_CITY_PREFIX_WORDS = (
    "Le",
    "La",
    "Les",
    "L'",
    "Saint",
    "Sainte",
    "St",
    "Ste",
    "Val",
    "Mont",
    "Bourg",
    "Pont",
    "Port",
    "Fort",
    "Grand",
    "Petit",
    "Villeneuve",
)
_CITY_PREFIXES = "(?:" + "|".join(_CITY_PREFIX_WORDS) + ")"
# Words that may start a city although they are common words elsewhere.
_CITY_FIRST_WORDS = {fold(word) for word in _CITY_PREFIX_WORDS} | {"paris"}
_COMPOUND = rf"[{_UPPER}][{_LETTER}'’]*(?:-[{_LETTER}]+)*"
_CAPS_COMPOUND = rf"(?!CEDEX\b)[{_UPPER}][{_UPPER}'’]+(?:-[{_UPPER}]+)*"
_CITY = (
    rf"(?:{_CAPS_COMPOUND}(?: {_CAPS_COMPOUND}){{0,3}}|{_CITY_PREFIXES} {_COMPOUND}|{_COMPOUND})"
    r"(?: CEDEX(?: \d{1,2})?| Cedex(?: \d{1,2})?)?"
)
_ZIP = r"(?:0[1-9]|[1-8]\d|9[0-8]|2[AB]) ?\d{3}"
_ZIP_CITY = re.compile(rf"(?<![\w])(?P<zip>{_ZIP})(?:, ?| - | )(?P<city>{_CITY})(?![\w])")
_CITY_ZIP = re.compile(rf"(?<![\w])(?P<city>{_CITY}),? (?:\(?)(?P<zip>{_ZIP})(?![\w])")
# A postcode announced as such: "dans le 75012", "code postal : 75012", "CP 75012".
_ZIP_CONTEXT = re.compile(rf"(?:\bdans le|\b(?i:code postal|cp)\b ?:?) (?P<zip>{_ZIP})(?![\w])")
_CITY_CONTEXT = re.compile(
    rf"(?i:\b(?:n[ée]e?|domicili[ée]e?|habit\w*|r[ée]sid\w*|vit|vivent|demeurant|originaire)) (?:à|a) "
    rf"(?P<city>{_CITY})(?![\w])"
)


def _city_end(text: str, start: int, end: int) -> int | None:
    """Where a city name ends: before the first common word ("75012 PARIS IPP" stops after PARIS), or None
    when it starts with one ("Patient 12345" is no city)."""
    stop = start
    for word in re.finditer(r"\S+", text[start:end]):
        folded = fold(word.group())
        if folded in common_words() and folded not in _CITY_FIRST_WORDS:
            break
        stop = start + word.end()
    return stop if stop > start else None


def find_postcodes_and_cities(text: str) -> Iterator[Span]:
    """A postcode with its city (``75012 Paris``, ``2A 069 AJACCIO``, ``Marseille, 13006``) gives a ZIP and a
    VILLE; a city after "né à", "domicilié à", "résidant à", and a known French city anywhere (written with a
    capital), give a VILLE."""
    for pattern in (_ZIP_CITY, _CITY_ZIP):
        for m in pattern.finditer(text):
            city_end = _city_end(text, *m.span("city"))
            if city_end is not None:
                yield Span.of(text, *m.span("zip"), "ZIP")
                yield Span.of(text, m.start("city"), city_end, "VILLE")
    for m in _ZIP_CONTEXT.finditer(text):
        yield Span.of(text, *m.span("zip"), "ZIP")
    for m in _CITY_CONTEXT.finditer(text):
        city_end = _city_end(text, *m.span("city"))
        if city_end is not None:
            yield Span.of(text, m.start("city"), city_end, "VILLE")
    for m in _known_cities().finditer(fold(text)):
        if text[m.start()].isupper():
            yield Span.of(text, m.start(), m.end(), "VILLE")


@cache
def _known_cities() -> re.Pattern[str]:
    """The French cities of lexicon.yaml, folded, as one whole-word pattern (longest names first)."""
    names = sorted({fold(city) for city in cities()}, key=lambda name: (-len(name), name))
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(name) for name in names) + r")(?![\w-])")


# ---------------------------------------------------------------------------------------------------------
# hospitals
# ---------------------------------------------------------------------------------------------------------
_HOSPITAL_KIND = (
    r"CHU|CHRU|CHR|CHI|CHG|CHS|CH|GHU|GH|HIA|H[ôo]pital|H[ÔO]PITAL|h[ôo]pital|H[ôo]p\.|HOP|Clinique|CLINIQUE|clinique|"
    r"Polyclinique|[Cc]entre [Hh]ospitalier(?: [Uu]niversitaire| [Rr][ée]gional| [Ii]ntercommunal| [Gg][ée]n[ée]ral)?|"
    r"CENTRE HOSPITALIER|[Gg]roupe(?:ment)? [Hh]ospitalier|[Cc]entre de [Ss]ant[ée]|Institut|Fondation|"
    # rehabilitation and long-stay facilities, where stroke patients go after the stroke unit
    r"(?:[Cc]entre|[Cc]linique) de (?:[Rr][ée][ée]ducation|[Rr][ée]adaptation)(?: [Ff]onctionnelle)?|"
    r"[Cc]entre (?:MPR|SSR)|SSR|EHPAD|USLD|[Mm]aison de retraite"
)
# An adjective may come between the kind and the name ("Hôpital européen Georges-Pompidou"); "l'" is part of
# the span, as eds-pseudo annotates it.
_HOSPITAL_ADJECTIVE = (
    r"europ[ée]en|universitaire|priv[ée]|militaire|intercommunal|g[ée]n[ée]ral|r[ée]gional|d[ée]partemental|"
    r"local|psychiatrique|p[ée]diatrique|d'instruction des arm[ée]es"
)
_HOSPITAL = re.compile(
    rf"(?<![\w])(?:[lL]['’])?(?P<kind>{_HOSPITAL_KIND})(?: (?:{_HOSPITAL_ADJECTIVE}))?(?![\w])"
    rf"(?P<name>(?: (?:{_PARTICLE} ?)?{_PROPER_WORD}){{1,5}})"
)
# Words that end a hospital's name: what comes next is a service, not the hospital.
_HOSPITAL_STOP = {
    "service",
    "services",
    "unite",
    "pole",
    "departement",
    "urgences",
    "neurologie",
    "cardiologie",
    "radiologie",
    "neuroradiologie",
    "reanimation",
    "geriatrie",
    "medecine",
    "chirurgie",
    "consultation",
    "secretariat",
    "tel",
    "fax",
    "le",
    "la",
    "les",
    "du",
    "au",
    "dr",
    "pr",
    "docteur",
    "professeur",
    "madame",
    "monsieur",
    "mme",
}


_ARTICLES = {"le", "la", "les"}


def _hospital_end(text: str, name_start: int, name_end: int) -> int:
    """Where the hospital's name ends: before a service word or a title, and never on a particle."""
    end = name_start
    for index, word in enumerate(re.finditer(r"\S+", text[name_start:name_end])):
        folded = fold(word.group()).rstrip(".,")
        if index == 0 and folded in _ARTICLES:
            continue  # an article may open the name ("SSR Les Grands Chênes"); alone, it is trimmed below
        if folded in _HOSPITAL_STOP and word.group()[0].isupper():
            break
        end = name_start + word.end()
    return _without_trailing_particles(text, name_start, end)


# "Clinique" is also an adjective: "Chef de Clinique", "Examen Clinique", "Réunion Clinique Multidisciplinaire".
_CLINIQUE_AS_ADJECTIVE = re.compile(
    rf"(?:\b[Cc]hefs? de|[{_UPPER}][{_LETTER}'’-]*|"
    r"\b(?i:examen|r[ée]sum[ée]|r[ée]union|cas|essai|recherche|[ée]tude|bilan|[ée]valuation)) $"
)


def find_hospitals(text: str) -> Iterator[Span]:
    """Hospitals named after their kind: ``CHU de Bordeaux``, ``Hôpital de la Pitié Salpêtrière``,
    ``Clinique Saint-Jean``, ``Centre hospitalier Sainte-Anne``, ``l'hôpital Nord``."""
    for m in _HOSPITAL.finditer(text):
        if fold(m["kind"]) == "clinique" and _CLINIQUE_AS_ADJECTIVE.search(
            text, max(0, m.start() - 20), m.start()
        ):
            continue
        end = _hospital_end(text, m.start("name"), m.end("name"))
        if end > m.start("name"):
            yield Span.of(text, m.start(), end, "HOPITAL")
