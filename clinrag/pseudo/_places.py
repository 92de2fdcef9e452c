"""Places: street addresses, postcodes with their city, towns told by their context ("né à", "domicilié à",
"pompiers de", "Quimper, le 3 mars", "Doullens (80)", "Pont-l'Abbé"), and hospitals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from clinrag.pseudo._numbers import SAID_NUMBER as _SAID_NUMBER
from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import LETTER as _LETTER
from clinrag.pseudo.vocabulary import UPPER as _UPPER
from clinrag.pseudo.vocabulary import cities, common_words, first_names, fold, is_protected
from clinrag.text.dates import FULL_MONTH_PATTERN as _FULL_MONTHS

# A word of a proper name: capitalized or in capitals, hyphens and apostrophes inside ("Croix-Rousse",
# "d'Estienne"); _ANY_WORD also admits lower case, for addresses typed all in lower case.
_PROPER_WORD = rf"[{_UPPER}][{_LETTER}'’]*(?:-[{_LETTER}]+)*"
_ANY_WORD = rf"[{_LETTER}][{_LETTER}'’]*(?:-[{_LETTER}]+)*"
_PARTICLE = r"(?:de la|de l'|de|du|des|d['’]en|d'|la|le|les|l'|aux?|sur|en|et)"
_ZIP_PATTERN = r"(?:0[1-9]|[1-8]\d|9[0-8]|2[AB]) ?\d{3}"

# ---------------------------------------------------------------------------------------------------------
# street addresses
# ---------------------------------------------------------------------------------------------------------
# Kinds of way that are never common words; the others ("place", "cours", "passage", "route") are, so they
# need a capitalized name after them ("2 cours de chimiothérapie" is no address, "2 cours Lafayette" is).
_STREET = (
    r"rue|avenue|av\.|av|bd\.|bd|boulevard|bld|blvd|chemin|ch\.|all[ée]e|impasse|imp\.|quai|faubourg|fbg|"
    r"chauss[ée]e|ruelle|venelle|rond-point|lieu-dit|stra(?:ss|ß)e|grand['’ -]rue|grande[ -]rue|"
    # the ways of neighbouring languages, after a number ("3 carrer del Riu", "12 rua da Paz")
    r"carrer|calle|rua|avenida|via|viale|strada|straat|weg|gasse"
)
_AMBIGUOUS_WAY = (
    r"place|pl\.|cours|route|rte|square|sq\.|passage|villa|cit[ée]|r[ée]sidence|lotissement|hameau|parvis|"
    r"promenade|esplanade|sentier|voie|mont[ée]e|traverse|domaine|clos"
)
_STREET_NUMBER = r"\d{1,4}(?:-\d{1,4})?(?: ?(?:bis|ter|quater|[A-Da-d]))?"
_SPELLED_NUMBER = (
    r"(?:vingt|trente|quarante|cinquante|soixante)(?:-et-un|-deux|-trois|-quatre|-cinq|-six|-sept|-huit|-neuf| et un)?|"
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize"
)
_PROPER_WORDS = rf"(?: (?:{_PARTICLE} ?)?{_PROPER_WORD}){{1,5}}"
_PROPER_NAME = rf"(?P<name>{_PROPER_WORDS})"
_ADDRESS_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "12 rue des Lilas", "12 bis, avenue Foch", "deux bd etienne de rourque" (any words after the way, abbreviated
    # ones too: "42 avenue du G.al de Gaulle")
    re.compile(
        rf"(?<![\w])(?:{_STREET_NUMBER}|{_SPELLED_NUMBER}),? (?:{_STREET})(?![\w])"
        rf"(?P<name>(?: (?:[{_LETTER}]{{1,3}}\.)?{_ANY_WORD}){{1,7}})",
        re.IGNORECASE,
    ),
    # German ways written as one word, the number after: "SchlussStrasse 13", "Lindenweg 4"
    re.compile(
        rf"(?<![\w])[{_UPPER}][{_LETTER}]+(?:stra(?:ss|ß)e|Stra(?:ss|ß)e|weg|gasse|platz|allee)(?P<name> \d{{1,4}})(?![\w])"
    ),
    # "3 place de la République", "18 cours Lafayette"
    re.compile(rf"(?<![\w])(?:{_STREET_NUMBER}),? (?i:{_AMBIGUOUS_WAY})(?![\w]){_PROPER_NAME}"),
    # "la rue Rivoli", "boulevard de Belleville", "Route de Chauvel", "chemin Bras-Sec": no number, a way and a
    # capitalized name ("Rue Gabrielle-Perret-Gentil 4": the number may follow, in Swiss and German use)
    re.compile(
        rf"(?<![\w])(?i:rue|avenue|boulevard|impasse|all[ée]e|quai|route|chemin|place|square|sentier|esplanade|"
        rf"parvis|promenade|mont[ée]e|venelle|ruelle|rond-point|faubourg|cours|voie|servitude){_PROPER_NAME}"
        rf"(?: \d{{1,4}}(?=[ \t]*(?:[,–\-\n]|$)))?"
    ),
    # ways named after a date: "Avenue du 8 mai 1945", "12 rue du 11 Novembre", "place du 19 Mars 1962"
    re.compile(
        rf"(?<![\w])(?:{_STREET_NUMBER},? )?(?i:rue|avenue|boulevard|bd|place|all[ée]e|cours|quai|chemin|square)"
        rf" (?i:du|des) (?P<name>(?:1er|\d{{1,2}}) (?i:{_FULL_MONTHS})(?: \d{{4}})?)(?![\w])"
    ),
    # Polynesian addresses by the kilometre mark of the coast road: "PK 12,5 côté mer", "PK 4 côté montagne"
    re.compile(
        r"(?<![\w])PK ?\d{1,3}(?:[,.]\d{1,3})? (?i:c[ôo]t[ée] (?:mer|montagne|lagon))(?P<name>)(?![\w])"
    ),
    # "27 Grand'Rue": a way that needs no name
    re.compile(rf"(?<![\w])(?:{_STREET_NUMBER}),? (?i:grand['’ -]rue|grande[ -]rue)(?P<name>)(?![\w])"),
    # places named, not numbered: "lieu-dit Kerbriant", "hameau de La Chaume", "Maison Etxeberria", "ferme de la
    # Brosse", "quartier des Ribes", "résidence Les Glycines", "Section Bois-Debout", "Chalet Les Gentianes"
    re.compile(
        rf"(?<![\w-])(?i:lieu[- ]dit|lieudit|hameau|village|quartier|section|r[ée]sidence|villa|chalet|maison|ferme|"
        rf"domaine|mas|cit[ée]|lotissement|b[âa]timent|immeuble|moulin|manoir|ch[âa]teau|bastide){_PROPER_NAME}"
    ),
)
_ADDRESS_PARTICLES = set(
    [
        "de",
        "du",
        "des",
        "d'",
        "la",
        "le",
        "les",
        "l'",
        "aux",
        "au",
        "sur",
        "en",
        "et",
        "del",
        "della",
        "da",
        "do",
        "dos",
        "das",
        "di",
        "van",
        "von",
        "der",
    ]
)
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
        if _ADDRESS_COMPLEMENT.match(text, name_start + word.start() - 1) and (
            _without_trailing_particles(text, start, end) > name_start
        ):
            break  # "12 rue Haute APPT 188": the complement is read after the name (not "rue de la Tour 4")
        end = name_start + word.end()
    return _without_trailing_particles(text, start, end)  # "12 rue de"


def _without_trailing_particles(text: str, start: int, end: int) -> int:
    """``end`` moved back so that ``text[start:end]`` does not end on particles ("de", "du", "la"...)."""
    tail = re.search(rf"(?: (?:{_PARTICLE}))+$", text[start:end], re.IGNORECASE)
    return start + tail.start() if tail else end


# What may follow the street: a flat, building, tower, staircase or floor ("APPT 188", "bât. B", "tour 4", "2e
# étage"), repeated,
# then a postcode without its city.
# A complement's number or letter: "APPT 188", "bât. B2".
_COMPLEMENT_VALUE = r"\.? ?(?:\d\w{0,4}|[A-Z][A-Z\d]{0,3})(?![\w])"
_ADDRESS_COMPLEMENT = re.compile(
    r"(?:,? (?i:appt|apt|appartement|b[âa]t(?:iment)?|esc(?:alier)?|[ée]tage|r[ée]sidence|porte|studio|"
    rf"chambre|pavillon|logement|log|lot|tour|entr[ée]e|bloc|bp|cs){_COMPLEMENT_VALUE}|"
    r",? \d{1,2} ?(?:e|er|[èe]me)? (?i:[ée]tage|[ée]t\.)(?![\w])|"
    rf",? (?i:r[ée]sidence|cit[ée]|immeuble|villa){_PROPER_WORDS})+"
)
# The same before the street, on its line: "Appt 12, bâtiment Les Hortensias, 4 rue Marcel Pagnol", "Bât. C,
# appt 41, 3 allée des Lilas" (as envelopes and admission forms write it).
_COMPLEMENT_BEFORE = re.compile(
    r"(?:(?<![\w])(?:(?i:appt|apt|appartement|b[âa]t(?:iment)?|esc(?:alier)?|porte|logement|log|bloc|entr[ée]e)"
    rf"{_COMPLEMENT_VALUE}|\d{{1,2}} ?(?:e|er|[èe]me) (?i:[ée]tage|[ée]t\.)|"
    rf"(?i:r[ée]sidence|cit[ée]|immeuble|villa|b[âa]timent){_PROPER_WORDS})[ \t]*[,–-]?[ \t]*)+$"
)
_ADDRESS_ZIP = re.compile(r",? ?(?P<zip>(?:0[1-9]|[1-8]\d|9[0-8]|2[AB]) ?\d{3})(?![\w])")


def find_addresses(text: str) -> Iterator[Span]:
    """Street addresses: ``12 rue des Lilas``, ``12 bis, avenue Foch``, ``deux bd Voltaire``, ``la rue Rivoli``,
    ``lieu-dit Kerbriant``, with a flat number after them ("APPT 188"); a postcode right after an address is a
    ZIP; and the value of an "Adresse :" field up to its postcode."""
    yield from _address_fields(text)
    for pattern in _ADDRESS_PATTERNS:
        for m in pattern.finditer(text):
            if m.start("name") == m.end("name"):
                end = m.end()  # "27 Grand'Rue"
            else:
                end = _address_end(text, m.start(), m.start("name"), m.end("name"))
                if end <= m.start("name"):
                    continue
                if end == m.end("name"):
                    end = m.end()  # a number after the name: "Rue Gabrielle-Perret-Gentil 4"
            if complement := _ADDRESS_COMPLEMENT.match(text, end):
                end = complement.end()
            line_start = text.rfind("\n", 0, m.start()) + 1
            before = _COMPLEMENT_BEFORE.search(text, line_start, m.start())
            yield Span.of(text, before.start() if before else m.start(), end, "ADRESSE")
            if postcode := _ADDRESS_ZIP.match(text, end):
                yield Span.of(text, *postcode.span("zip"), "ZIP")


# "Adresse : Le Bourg, 15190 Condat", "Domicile : PK 12,5 côté mer, Punaauia": whatever the form of the
# address, each part of the field's value before its postcode is an address, unless it is a person ("chez sa
# fille, Mme X") or a town already told by its postcode.
_ADDRESS_FIELD = re.compile(
    r"(?i:\badresse(?: (?!de l'h)[a-zà-ÿ'’]+){0,3}|\bdomicile|\blieu d'intervention)[ \t]*:[ \t]*(?P<value>[^\n]+)"
)
# The parts of the value, split at ", " (not inside "PK 12,5"), " – " or ";".
_FIELD_PART = re.compile(r"(?:[^,–;]|,(?=\S))+")
_FIELD_END = re.compile(rf"(?:,|–|-)? ?(?:{_ZIP_PATTERN})(?![\w])|[ \t]{{2,}}|\|")
_PERSON_START = re.compile(r"(?i:chez|c/o|aux bons soins)\b|(?:M\.|Mme|Mr|Dr|Madame|Monsieur)(?![\w])")


def _address_fields(text: str) -> Iterator[Span]:
    """The parts of each address field's value; consecutive ones as one span ("Résidence Le Lido, 8 quai de
    Bosc")."""
    for m in _ADDRESS_FIELD.finditer(text):
        run: list[Span] = []
        for span in _address_parts(text, *m.span("value")):
            if run and text[run[-1].end : span.start].strip() in (",", ""):
                run.append(span)
                continue
            if run:
                yield Span.of(text, run[0].start, run[-1].end, "ADRESSE")
            run = [span]
        if run:
            yield Span.of(text, run[0].start, run[-1].end, "ADRESSE")


def _address_parts(text: str, start: int, end: int) -> Iterator[Span]:
    """The parts of a field's value before its postcode that may be an address."""
    if stop := _FIELD_END.search(text, start, end):
        end = stop.start()
    for part in _FIELD_PART.finditer(text, start, end):
        value = part.group()
        left = part.start() + len(value) - len(value.lstrip())
        right = part.end() - (len(value) - len(value.rstrip()))
        if right - left < 3 or not re.search(rf"[{_UPPER}\d]", text[left:right]):
            continue
        if _PERSON_START.match(text, left) or _NO_ADDRESS.fullmatch(text[left:right]):
            continue
        yield Span.of(text, left, right, "ADRESSE")


_NO_ADDRESS = re.compile(r"(?i:inconnue?|idem|sdf|sans domicile fixe|non renseign[ée]e?)")


# Where an accident or a stroke happened, outdoors, named as such: a pass, a beach, a mountain hut, a cove ("au
# col des Aravis", "sur la plage de Saline", "au refuge des Cosmiques"), and a numbered road ("sur la RN 134",
# "sur l'A7", "de la D943").
_OUTDOOR_PLACE = re.compile(
    rf"(?<![\w])(?i:col|plage|refuge|anse|pointe|lac|pic|cap|baie|for[êe]t|bois|sentier|port|piste)"
    rf" (?:de la |de l['’]|des |du |de |d['’])(?P<name>{_PROPER_WORD}(?: {_PROPER_WORD})?)"
)
_ROAD = re.compile(
    r"(?<![\w])(?:sur|de|par|depuis) (?:la |l['’] ?)(?P<road>(?:RN|RD|N|D|A) ?\d{1,4}[a-z]?)(?![\w])"
)


def find_outdoor_places(text: str) -> Iterator[Span]:
    """Places of an event outdoors (:data:`_OUTDOOR_PLACE`) and numbered roads, as ADRESSE."""
    for match in _OUTDOOR_PLACE.finditer(text):
        words = match["name"].split()
        if any(fold(word) in common_words() or is_protected(word) for word in words):
            continue
        yield Span.of(text, match.start(), match.end(), "ADRESSE")
    for match in _ROAD.finditer(text):
        yield Span.of(text, *match.span("road"), "ADRESSE")


# ---------------------------------------------------------------------------------------------------------
# postcodes and towns
# ---------------------------------------------------------------------------------------------------------
# A town: one word or a hyphenated compound whose inner connectors are in lower case ("Saint-Laurent-du-Maroni",
# "Pont-l'Abbé", "Riom-ès-Montagnes", "Faa'a", Corsica's "Santa-Lucia-di-Mercurio"), after an article ("Le Lamentin", "La Grave") or "Saint"
# ("Saint Ouen"), possibly followed by a second part ("Saint-Jean de Terre-Neuve") and by CEDEX and its number;
# in capitals, up to four words ("LA BACONNETTE", "PARIS CEDEX 14").
_CONNECTOR = (
    r"(?:sur|sous|l[eè]s|lez|en|de|du|des|la|le|aux|au|et|[eè]s|à|dans|di|da|del|della|SUR|SOUS|LES|EN|DE|DU|DES|"
    r"LA|LE|AUX|DI)"
)
_TOWN_WORD = rf"(?:[dDlL]['’])?[{_UPPER}][{_LETTER}'’]*"
_TOWN_COMPOUND = rf"{_TOWN_WORD}(?:-(?:{_CONNECTOR}-)*{_TOWN_WORD})*"
_CITY_PREFIX_WORDS = tuple(
    [
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
    ]
)
_CITY_PREFIXES = "(?:" + "|".join(_CITY_PREFIX_WORDS) + ")"
# Words that may start a town although they are common words elsewhere.
_CITY_FIRST_WORDS = {fold(word) for word in _CITY_PREFIX_WORDS} | {"paris"}
_CAPS_COMPOUND = rf"(?!CEDEX\b)[{_UPPER}][{_UPPER}'’]+(?:-[{_UPPER}'’]+)*"
# CEDEX and its number, or an arrondissement at the end of the line ("PARIS 11", "Lyon 3e")
_CEDEX = r"(?: (?i:cedex)(?: \d{1,2})?| \d{1,2}(?:e|er|[èe]me)?(?=[ \t]*(?:$|[,.;)\n])))?"
_CITY = (
    rf"(?:{_CAPS_COMPOUND}(?: {_CAPS_COMPOUND}){{0,3}}|{_CITY_PREFIXES} {_TOWN_COMPOUND}|{_TOWN_COMPOUND})"
    rf"(?: (?:de|du|des|sur|sous|en|l[eè]s) {_TOWN_COMPOUND})?{_CEDEX}"
)
_ZIP = _ZIP_PATTERN
# Postcodes of neighbouring countries, written with their country's letter ("CH-1205 Genève", "B-6830").
_FOREIGN_ZIP = r"(?:(?<=\bCH-)|(?<=\b[BLDIEF]-))\d{4,5}"
# After a postcode, a town of two capitalized words when the line or the field ends after them ("74370 Épagny
# Metz-Tessy", "97350 Saint Georges –").
_TWO_WORD_TOWN = rf"{_TOWN_COMPOUND} {_TOWN_COMPOUND}(?=[ \t]*(?:\n|$|[–,;(]| - )){_CEDEX}"
_ZIP_CITY = re.compile(
    rf"(?<![\w])(?P<zip>{_ZIP}|{_FOREIGN_ZIP})(?:, ?| - | – | )(?P<city>{_TWO_WORD_TOWN}|{_CITY})(?![\w])"
)
_CITY_ZIP = re.compile(rf"(?<![\w])(?P<city>{_CITY}),? (?:\(?)(?P<zip>{_ZIP})(?![\w])")
# A postcode announced as such: "dans le 75012", "code postal : 75012", "CP 75012".
_ZIP_CONTEXT = re.compile(rf"(?:\bdans le|\b(?i:code postal|cp)\b ?:?) (?P<zip>{_ZIP})(?![\w])")

# Countries often named after a patient's town of birth or of residence abroad.
_COUNTRIES = (
    r"belgique|suisse|luxembourg|allemagne|italie|espagne|portugal|royaume-uni|angleterre|irlande|pays-bas|"
    r"pologne|roumanie|arm[ée]nie|turquie|maroc|alg[ée]rie|tunisie|s[ée]n[ée]gal|mali|c[ôo]te d'ivoire|cameroun|"
    r"congo|madagascar|comores|ha[ïi]ti|br[ée]sil|suriname|canada|[ée]tats-unis|vietnam|viet nam|chine|"
    r"cambodge|laos|liban|syrie|russie|ukraine|serbie|croatie|bosnie|nigeria|guin[ée]e"
)
# Towns told by their context rather than by a list of names (case of the cue words ignored):
_PLACE_NOUNS = (
    r"pompiers|sapeurs-pompiers|smur|samu|centre de secours|caserne|gendarmerie|mairie|commune|ville|village|"
    r"bourg|hameau|quartier|secteur|r[ée]gion|environs|alentours|p[ée]riph[ée]rie|banlieue|dispensaire|"
    r"pharmacie|cabinet(?: infirmier| m[ée]dical| de kin[ée]sith[ée]rapie)?|maison de sant[ée]|"
    r"centre de sant[ée]|[ée]cole|coll[èe]ge|lyc[ée]e|admr|ssiad|cmp|pmi|ccas|tribu|originaire|natif|native|"
    r"venue?|venant|arriv[ée]e?|provenance|transf[ée]r[ée]e?|[ée]vasan[ée]e?|rapatri[ée]e?|habitante?|"
    r"chiropraticien|kin[ée]sith[ée]rapeute|infirmi[èe]re lib[ée]rale|camp|base|a[ée]roport|gare|port|"
    r"antenne(?: m[ée]dicale| smur)?|appel[ée]e?|t[ée]l[ée]phon[ée]e?|[ée]crit|rentr[ée]e?|revenue?|partie?"
)
_TOWN_CUES: tuple[re.Pattern[str], ...] = (
    # "né à Braga", "domiciliée à Cilaos", "Fait à Antony", "agriculteur à Blâmont", "chez lui, à Gauchy"
    re.compile(rf"(?<![\w])[àÀ][ \t]+(?P<town>{_CITY})(?![\w])"),
    # "née a Lyon": "a" without its accent, only after a word of birth or residence
    re.compile(
        rf"(?i:\b(?:n[ée]e?|domicili[ée]e?|habit\w*|r[ée]sid\w*|vit|vivent|demeurant|originaire)) a "
        rf"(?P<town>{_CITY})(?![\w])"
    ),
    # "pompiers de Loctudy", "SMUR de Moûtiers", "dispensaire de Dzoumogné", "originaire de Lifou"
    re.compile(rf"(?i:\b(?:{_PLACE_NOUNS})) (?:de |d['’]|du )?(?P<town>{_CITY})(?![\w])"),
    # "Bouillon (Belgique)": a town, then its country
    re.compile(rf"(?<![\w'’-])(?P<town>(?:{_CITY_PREFIXES} )?{_TOWN_COMPOUND})[ \t]*\((?i:{_COUNTRIES})\)"),
    # "depuis Montréal", "près de Bordeaux", "domicilié Cilaos", "vit au Lamentin", "venu de Lorient"
    re.compile(
        rf"(?i:\b(?:depuis|vers|pr[èe]s de|pr[èe]s d['’]|proche de|autour de|non loin de|aux environs de|"
        rf"venue? de|venant de|en provenance de|domicili[ée]e?|demeurant|habite|r[ée]side|vit|vivant|"
        rf"install[ée]e?)) (?:au |à |a |en |dans le |sur |le |la )?(?P<town>{_CITY})(?![\w])"
    ),
    # "transfert sur Brest", "rentre sur Quimperlé": "sur" after a word of moving
    re.compile(
        rf"(?i:\b(?:transf[ée]r[ée]e?|transfert|mut[ée]e?|mutation|retour|rentre|rentr[ée]e?|adress[ée]e?|"
        rf"d[ée]m[ée]nag[ée]e?|part|parti|partie|habite|vit)) sur (?P<town>{_CITY})(?![\w])"
    ),
    # "ville de naissance (Forbach)"
    re.compile(rf"(?i:\b(?:ville|lieu|commune) de naissance)[ \t]*\((?P<town>{_CITY})\)"),
    # letters: "Quimper, le 17 octobre 2023" at the start of a line
    re.compile(
        rf"(?m:^)[ \t]*(?P<town>{_CITY}),[ \t]+le[ \t]+(?=\d|1er|(?i:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche))"
    ),
    # a department's number after the town: "Doullens (80)", "Bastia (2B)", "Pointe-à-Pitre (971)"
    re.compile(
        rf"(?<![\w'’-])(?P<town>(?:{_CITY_PREFIXES} )?{_TOWN_COMPOUND}{_CEDEX})[ \t]*"
        r"\((?:0[1-9]|[1-8]\d|9[0-5]|2[AB]|97[1-6]|98[6-8])\)"
    ),
    # form fields: "Lieu de naissance : Capesterre", "à : Doullens", "Commune : SÈTE"
    re.compile(
        rf"(?i:\b(?:lieu de naissance|lieu de r[ée]sidence|lieu de vie|commune|ville|localit[ée]|n[ée]e? à|n[ée]\(e\) à)|"
        rf"(?<![\w])à)[ \t]*:[ \t]*(?P<town>{_CITY})(?![\w])"
    ),
)
# The shape of a French town: a compound joined by a connector ("Labarthe-sur-Lèze", "Cloyes-les-Trois-Rivières",
# "Saint-Julien-de-Civry"), or opened by "Saint", "Sainte" and a hyphen ("Saint-Avold", "SAINTE-MARIE").
_TOWN_SHAPE = re.compile(
    rf"(?<![\w'’-])(?P<town>{_TOWN_WORD}(?:-{_TOWN_WORD})*-{_CONNECTOR}-(?:{_CONNECTOR}-)*{_TOWN_WORD}"
    rf"(?:-(?:{_CONNECTOR}-)*{_TOWN_WORD})*|(?:Saint|Sainte|SAINT|SAINTE|St|Ste)-{_TOWN_COMPOUND}){_CEDEX}"
    rf"(?![\w'’-])"
)
# Words that are no town after "à" or "de" although capitalized ("à Domicile", "à Noël"), and the departments
# whose names have a town's shape ("Pas-de-Calais"): a department is no identifier in eds-pseudo's labels.
_NOT_TOWNS = set(
    [
        "domicile",
        "jeun",
        "noel",
        "paques",
        "toussaint",
        "pentecote",
        "dieu",
        "nouvel",
        "pas-de-calais",
        "seine-saint-denis",
        "val-de-marne",
        "seine-et-marne",
        "val-d'oise",
        "alpes-de-haute-provence",
        "loir-et-cher",
        "indre-et-loire",
        "maine-et-loire",
        "saone-et-loire",
        "lot-et-garonne",
        "tarn-et-garonne",
        "meurthe-et-moselle",
        "ille-et-vilaine",
        "eure-et-loir",
        "cotes-d'armor",
        "alpes-maritimes",
        "bouches-du-rhone",
        "seine-maritime",
        "saint-pierre-et-miquelon",
        "wallis-et-futuna",
        "ile-de-france",
    ]
)


def _city_end(text: str, start: int, end: int) -> int | None:
    """Where a town's name ends: before the first common word ("75012 PARIS IPP" stops after PARIS) other than
    a connector inside it ("Saint-Jean de Terre-Neuve"), or None when it starts with one ("Patient 12345" is no
    town), is a protected term, a short acronym in capitals, or a word that is no town ("à Domicile")."""
    stop = start
    words = list(re.finditer(r"\S+", text[start:end]))
    for index, word in enumerate(words):
        folded = fold(word.group())
        bare = re.sub(r"^[dl]['’]", "", folded)
        if index > 0 and re.fullmatch(r"cedex|\d{1,2}", folded):
            stop = start + word.end()  # CEDEX and its number
            continue
        if index > 0 and re.fullmatch(r"de|du|des|sur|sous|en|les|lès", folded):
            continue  # a connector: kept only when a word of the town follows
        if bare in common_words() and (index > 0 or folded not in _CITY_FIRST_WORDS):
            break
        if folded in _NOT_TOWNS or is_protected(word.group()):
            break
        stop = start + word.end()
    if stop == start:
        return None
    name = re.sub(r"^[dlDL]['’]", "", text[start:stop])
    if re.fullmatch(rf"[{_UPPER}]{{1,4}}", name) or fold(name) in _CITY_FIRST_WORDS - {"paris"}:
        return None  # "à IRM", "à FEVG", "vers l'UNV" are no towns, nor "Le" alone
    return stop


def find_postcodes_and_cities(text: str) -> Iterator[Span]:
    """A postcode with its town (``75012 Paris``, ``2A 069 AJACCIO``, ``Marseille, 13006``, ``CH-1205 Genève``)
    gives a ZIP and a VILLE; a town told by its context ("né à Braga", "pompiers de Loctudy", "Quimper, le
    3 mars", "Doullens (80)", "Lieu de naissance : Cilaos") or by its shape ("Labarthe-sur-Lèze",
    "Saint-Avold"), and a known French city anywhere (written with a capital), give a VILLE."""
    for pattern in (_ZIP_CITY, _CITY_ZIP):
        for m in pattern.finditer(text):
            city_end = _city_end(text, *m.span("city"))
            if city_end is not None:
                yield Span.of(text, *m.span("zip"), "ZIP")
                yield Span.of(text, m.start("city"), city_end, "VILLE")
    for m in _ZIP_CONTEXT.finditer(text):
        yield Span.of(text, *m.span("zip"), "ZIP")
    for pattern in (*_TOWN_CUES, _TOWN_SHAPE):
        for m in pattern.finditer(text):
            city_end = _city_end(text, *m.span("town"))
            if city_end is not None:
                yield Span.of(text, m.start("town"), city_end, "VILLE")
    for m in _known_cities().finditer(fold(text)):
        if text[m.start()].isupper():
            yield Span.of(text, m.start(), m.end(), "VILLE")


# After a person or a hospital: "Dr Bayle (Arlanc)", "Dr A. Vialatte (Neurologue, Riom)", "Les Jonquilles
# (Corbie)", "Dr Zébina, Capesterre-Belle-Eau" (at the end of the line), "le docteur Escaich de Muret".
_AFTER_NAME = re.compile(
    rf"[ \t]*(?:\((?:[^()\n,]{{1,30}},[ \t]*)?(?P<paren>{_CITY})\)|,[ \t]*(?P<comma>{_CITY})[ \t]*(?=$|[;)])|"
    rf" (?:de|d['’]|à) ?(?P<of>{_CITY})(?![\w]))",
    re.MULTILINE,
)


# A postcode dictated in words, beside the town found ("à Amiens quatre-vingt mille", "trente et un mille six cents
# Muret"): a number of thousands, its words those of a dictated phone number.
_SPELLED_POSTCODE = rf"(?i:(?:{_SAID_NUMBER}[ -]){{1,3}}mille(?:[ -]{_SAID_NUMBER}){{0,4}})"
_SPELLED_POSTCODE_BEFORE = re.compile(rf"(?<![\w-]){_SPELLED_POSTCODE} $")
_SPELLED_POSTCODE_AFTER = re.compile(rf" (?P<zip>{_SPELLED_POSTCODE})(?![\w-])")


def find_spelled_postcodes(text: str, spans: list[Span]) -> Iterator[Span]:
    """A postcode in words right before or after a town of the first pass (``spans``), as ZIP."""
    for span in spans:
        if span.label != "VILLE":
            continue
        line_start = text.rfind("\n", 0, span.start) + 1
        if before := _SPELLED_POSTCODE_BEFORE.search(text, line_start, span.start):
            yield Span.of(text, before.start(), before.end() - 1, "ZIP")
        if after := _SPELLED_POSTCODE_AFTER.match(text, span.end):
            yield Span.of(text, *after.span("zip"), "ZIP")


def find_towns_after_names(text: str, spans: list[Span]) -> Iterator[Span]:
    """Towns written right after a person's name or a hospital found by the first pass (``spans``)."""
    for span in spans:
        if span.label not in ("NOM", "PRENOM", "HOPITAL", "ADRESSE"):
            continue
        m = _AFTER_NAME.match(text, span.end)
        if m is None:
            continue
        group = next(name for name in ("paren", "comma", "of") if m[name] is not None)
        city_end = _city_end(text, *m.span(group))
        if city_end is not None and fold(text[m.start(group) : city_end]) not in first_names():
            yield Span.of(text, m.start(group), city_end, "VILLE")


# The parts of a letterhead's line: "USLD de Kerlivio – Hennebont – Pavillon Les Hortensias"; a town there is one
# word or compound, not a heading in capitals ("BUREAU DES ADMISSIONS", "TÉLÉRADIOLOGIE").
_LINE_PART = re.compile(r"[^–—|\n]+")
_LETTERHEAD_TOWN = rf"(?:{_CITY_PREFIXES} )?{_TOWN_COMPOUND}{_CEDEX}"


def find_towns_in_letterheads(text: str, spans: list[Span]) -> Iterator[Span]:
    """On a line that names a hospital (found by the first pass), a part between dashes that is only a town's
    name ("CH Bretagne Atlantique – site Chubert – Vannes – Neurologie" gives "Vannes"; "Neurologie", a common
    word, stays)."""
    lines = {text.rfind("\n", 0, s.start) + 1 for s in spans if s.label == "HOPITAL"}
    for line_start in lines:
        line_end = text.find("\n", line_start)
        line_end = len(text) if line_end < 0 else line_end
        for part in _LINE_PART.finditer(text, line_start, line_end):
            value = part.group()
            left = part.start() + len(value) - len(value.lstrip(" -"))
            right = part.end() - (len(value) - len(value.rstrip(" -")))
            if (
                re.fullmatch(_LETTERHEAD_TOWN, text[left:right])
                and not text[
                    left:right
                ].isupper()  # a heading ("TÉLÉRADIOLOGIE"); towns in capitals have a postcode
                and not any(s.start < right and left < s.end for s in spans)
                and _city_end(text, left, right) == right
            ):
                yield Span.of(text, left, right, "VILLE")


@cache
def _known_cities() -> re.Pattern[str]:
    """The French cities of lexicon.yaml, folded, as one whole-word pattern (longest names first)."""
    names = sorted({fold(city) for city in cities()}, key=lambda name: (-len(name), name))
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(name) for name in names) + r")(?![\w-])")
