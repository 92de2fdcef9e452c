"""Person names: after a title, a role or a field label ("Dr", "Mme", "IDE", "Nom :", "Prescripteur :"), after a
word of kinship ("son fils Jimmy", "née Sambucco"), in the name columns of a table, as a first name or a word in
capitals next to a surname ("DUPONT Jean"), and every further occurrence of a name already found or known.

A run of name words is split into NOM (surname) and PRENOM (first names) the way eds-pseudo annotates them:
consecutive words of the same kind form one span ("Jean Pierre" is one PRENOM, "LE BLEVEC" one NOM).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import LETTER as _LETTER
from clinrag.pseudo.vocabulary import UPPER as _UPPER
from clinrag.pseudo.vocabulary import common_words, first_names, fold, is_protected, protected_ranges

# Titles and roles before a name. Short forms are case-sensitive ("M." but not "m.", "AS" but not "as"), long ones
# are not. Besides civility and medical titles: the caregivers' roles of nursing notes ("IDE", "AS", "ARM",
# "IBODE"), military ranks of army hospitals ("MC", "Médecin en chef", "Sgt") and foreign civilities ("Sr.").
_TITLE = (
    r"(?:(?i:docteur|professeur|madame|monsieur|mademoiselle|ma[iî]tre|m[ée]decin (?:en chef|principal|g[ée]n[ée]ral)"
    r"|sergent(?:-chef)?|adjudant(?:-chef)?|caporal(?:-chef)?|capitaine|lieutenant|commandant|colonel|"
    r"ambulanci[eè]re?|brancardi[eè]re?)|"
    r"Dr|DR|Dre|Pr|PR|Prof|Mme|MME|Mmes|Mr|MR|Mlle|MLLE|Melle|M|MM|Mrs|Ms|Sr|Sra|Interne|INTERNE|Externe|"
    r"Infirmi[eè]re?|IDE|IDEL|IPA|AS|ASH|ARM|IBODE|IADE|MC|MP|Sgt|Cdt|Cne|Ltn)"
)
# Field labels before a name; the value after "Prénom :" is a first name, after "Nom :" a surname first. Roles
# ("Prescripteur :", "IDE :", "Psychologue :") and people ("Victime :", "Appelant :", "Parents :") of forms.
_FIELD = (
    r"(?i:nom(?: de naissance| d'usage| usuel| marital| de jeune fille| patient| et pr[ée]noms?)?|"
    r"pr[ée]noms?|patiente?|pte?|p[èe]re|m[èe]re|parents?|enfant|conjointe?|fils|fille|[ée]poux|[ée]pouse|"
    r"internes?|externes?|m[ée]decins?(?: traitant| r[ée]f[ée]rent| r[ée]gulateur| demandeur| urgentiste| "
    r"prescripteur| sur site| de garde)?|praticien|r[ée]dig[ée] par|sign[ée] par|valid[ée] par|dict[ée] par|"
    r"relu par|contact|personne de confiance|personne à pr[ée]venir|assur[ée]|[ée]quipe|staff|pr[ée]sente?s?|"
    r"destinataires?|copie [àa]|accompagnante?|appelante?|victime|t[ée]moin|b[ée]n[ée]ficiaire|op[ée]r[ée]|"
    r"r[ée]sidente?|consultante?|demandeur|prescripteur|r[ée]dacteur|r[ée]dactrice|op[ée]rateur|chirurgien|"
    r"anesth[ée]siste|aide|psychologue|technicien(?:ne)?|ide|as|arm|ibode|ipa|kin[ée]sith[ée]rapeute|"
    r"orthophoniste|ergoth[ée]rapeute|di[ée]t[ée]ticienne?|r[ée]gulateur|senior(?: de garde)?|"
    r"cadre(?: de sant[ée]| du service| de p[ôo]le)?|chef d'agr[èe]s|t[ée]l[ée]radiologue|radiologue|"
    r"neurologue|cardiologue|g[ée]riatre|psychiatre|mandataire|tuteur|tutrice|curateur|curatrice|"
    r"assistante? sociale?|assistante? de service social)"
)
_ROLES = {"IDE", "IDEL", "IPA", "AS", "ASH", "ARM", "IBODE", "IADE", "MC", "MP"}
_TITLE_TRIGGER = re.compile(rf"(?<![\w.])(?P<title>{_TITLE})(?:\.[ \t]*|[ \t]+)")
# "le patient Dupont", "la patiente DURAND", "Pte MOREIRA": the name must follow at once, capitalized.
_PATIENT_TRIGGER = re.compile(rf"(?<![\w])(?i:patiente?|pte?)\.?[ \t]+(?=[{_UPPER}])")
# "(s)", "(e)", "(es)" of form labels: "Prénom(s) :", "Né(e) le", "Assuré(e) :".
_PLURAL = r"(?:\((?:e|s|es|x)\))?"
_FIELD_TRIGGER = re.compile(rf"(?<![\w])(?P<field>{_FIELD}){_PLURAL}[ \t]*:[ \t]*")

# One word of a name: an initial ("J.", "M.-P.", "J.M", "B-J.", "DA.", "D"), a particle inside a compound
# surname, or a capitalized or upper-case word with hyphens and apostrophes ("JEAN-FRANCOIS", "N'Diaye",
# "M-Antonin"). Titles written like initials ("Dr.", "PR.") are not initials.
_INITIAL = (
    rf"(?!(?:Dr|Pr|Mr|Me|St|DR|PR|MR|ST|CH|NB|OK)\.)(?:[{_UPPER}][a-z]?|[{_UPPER}]{{2}})\.(?:-?[{_UPPER}]\.?)*(?![a-z])|"
    rf"[{_UPPER}](?:-[{_UPPER}])+\.?(?![a-z])|[{_UPPER}](?=[\s,;:)|]|$)"
)
_PARTICLE = (
    r"(?:de|du|des|d'|le|la|van|von|der|den|ben|bin|el|al|di|da|dos|das|do|del|della|i|y|"
    r"De|Du|Des|Le|La|Van|Von|Ben|El|Al|Di|Da|Dos|Del|DE|DU|DES|LE|LA|DA|DOS|DEL|VAN|VON|EL|AL|BEN)"
)
# ("Le Floc'h", "CREAC'H", "Ho-A-Sim": an apostrophe or a one-letter part inside)
_WORD = (
    rf"(?:[{_UPPER}][{_LETTER}]*['’]|[{_UPPER}]-)?[{_UPPER}][{_LETTER}]+(?:['’][{_LETTER}]+)?"
    rf"(?:-[{_UPPER}][{_LETTER}]*(?:['’][{_LETTER}]+)?)*"
)
_TOKEN = re.compile(
    rf"(?P<initial>{_INITIAL})|(?P<particle>{_PARTICLE})(?=[ \t]|['’])['’]?|(?P<word>{_WORD})(?![\w])"
)
_GAP = re.compile(r"[ \t]?")


@dataclass(frozen=True)
class _Token:
    """A word of a name, with what it looks like: ``initial``, ``particle``, ``first`` (a known first name),
    ``caps`` (written in capitals) or ``word`` (capitalized)."""

    start: int
    end: int
    kind: str


def _classify(word: str, kind: str) -> str:
    if kind != "word":
        return kind
    if re.match(rf"[{_UPPER}]-", word):
        return "initial"  # "M-Antonin": an initial joined to a first name
    if fold(word.split("-")[0]) in first_names():
        return "first"  # "Jean-Luc", "MARIE-ROSE"
    return "caps" if word.isupper() else "word"


def _excluded(word: str) -> bool:
    """A word that is never a name: a common word, a title, or a protected clinical term."""
    return fold(word) in common_words() or is_protected(word)


# After "Dr", "M." is an initial ("Dr M. LEROY"), not a second title.
_AFTER_TITLE = re.compile(
    r"(?<![\w])(?:Dr|DR|Dre|Pr|PR|Prof|Docteur|DOCTEUR|Professeur|Mme|MME|Madame|Mlle)\.?[ \t]*$"
)


def scan_name(text: str, pos: int, max_words: int = 5) -> list[_Token]:
    """The words of a name starting at ``pos``: at most ``max_words``, on one line, stopping at punctuation,
    at a lower-case word, a common word or a protected term. Particles are kept only inside the name."""
    title = _TITLE_TRIGGER.match(text, pos)
    initial_after_title = title and title["title"] == "M" and _AFTER_TITLE.search(text, max(0, pos - 12), pos)
    if (
        title
        and not initial_after_title
        and (title["title"] != "M" or text[title.end() : title.end() + 1].isupper())
    ):
        pos = title.end()  # a title is never part of the name ("M. DUPONT" at the start of a line)
    tokens: list[_Token] = []
    while len([t for t in tokens if t.kind != "particle"]) < max_words:
        if tokens:
            gap = _GAP.match(text, pos)
            pos = gap.end()
        match = _TOKEN.match(text, pos)
        if match is None:
            break
        kind = match.lastgroup or "word"
        if (kind == "word" and _excluded(match.group())) or (
            kind == "initial" and is_protected(match.group()[:-1])
        ):
            break  # a common word or a protected term; a protected abbreviation is no initial ("FA.")
        tokens.append(_Token(match.start(), match.end(), _classify(match.group(), kind)))
        pos = match.end()
    while tokens and tokens[-1].kind == "particle":
        tokens.pop()
    return tokens


# How much each kind of word looks like a first name (PRENOM) or a surname (NOM).
_AS_FIRST = {"initial": 3.0, "first": 2.0, "word": 0.0, "caps": -1.0, "particle": -3.0}
_AS_LAST = {"initial": -3.0, "first": 0.0, "word": 0.0, "caps": 1.0, "particle": 0.0}


def split_name(tokens: list[_Token], forced: str | None = None) -> list[tuple[int, int, str]]:
    """Label the words of a name NOM or PRENOM, merging consecutive words of the same label.

    The name is read as ``NOM PRENOM``, ``PRENOM NOM`` or a NOM alone, whichever the words fit best: initials
    and known first names are first names, words in capitals surnames; a capitalized word next to one in
    capitals reads as a first name ("Smaranda LANDIE"). Ties go to ``NOM PRENOM``, the usual order of
    French medical documents. A single word is a NOM unless it is an initial.

    Args:
        tokens: The words, from :func:`scan_name`.
        forced: ``"PRENOM"`` or ``"NOM"`` when a field label already says which it is.

    Returns:
        ``(start, end, label)`` for each span, in order.
    """
    words = [t for t in tokens if t.kind != "particle"]
    if not words:
        return []
    if forced == "PRENOM":
        labels = ["PRENOM"] * len(tokens)
    elif len(words) == 1:
        labels = ["PRENOM" if words[0].kind == "initial" else "NOM"] * len(tokens)
    else:
        labels = _best_split(tokens)
    return _merge(tokens, labels)


def _best_split(tokens: list[_Token]) -> list[str]:
    has_caps = any(t.kind == "caps" for t in tokens)
    bonus = 0.5 if has_caps else 0.0

    def fit(token: _Token, label: str) -> float:
        if label == "PRENOM":
            return _AS_FIRST[token.kind] + (bonus if token.kind == "word" else 0.0)
        return _AS_LAST[token.kind]

    options: list[list[str]] = []
    n = len(tokens)
    for cut in range(1, n):
        if tokens[cut - 1].kind == "particle":
            continue  # a particle belongs to the surname that follows it
        if tokens[cut].kind != "particle":
            options.append(["NOM"] * cut + ["PRENOM"] * (n - cut))
        options.append(["PRENOM"] * cut + ["NOM"] * (n - cut))  # "Yann | Le Guern'h"
    options.append(["NOM"] * n)
    # max() keeps the first of equal scores: NOM PRENOM splits come first, NOM alone last.
    return max(options, key=lambda labels: sum(fit(t, lab) for t, lab in zip(tokens, labels, strict=True)))


def _merge(tokens: list[_Token], labels: list[str]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for token, label in zip(tokens, labels, strict=True):
        if spans and spans[-1][2] == label:
            spans[-1] = (spans[-1][0], token.end, label)
        else:
            spans.append((token.start, token.end, label))
    return spans


def name_spans(text: str, tokens: list[_Token], forced: str | None = None) -> Iterator[Span]:
    """The NOM and PRENOM spans of the words of a name (:func:`scan_name`), as :func:`split_name` labels them."""
    for start, end, label in split_name(tokens, forced):
        yield Span.of(text, start, end, label)


def find_titled_names(text: str) -> Iterator[Span]:
    """Names after a title ("Dr", "Mme", "M.", "Professeur", "Interne", "IDE"...) or a field label ("Nom :",
    "Prénom(s) :", "Patient :", "Rédigé par :", "Prescripteur :"...)."""
    for match in _TITLE_TRIGGER.finditer(text):
        if match["title"] == "M" and not text[match.end() : match.end() + 1].isupper():
            continue  # "M" without its dot is a title only before a capital ("M DUPONT", not "sexe : M")
        if match["title"] in _ROLES and "." in match.group():
            continue  # a role is written without a dot: "hétérozygote AS. Hospitalisée" is no name
        tokens = scan_name(text, match.end()) or _common_surname(text, match)
        yield from name_spans(
            text, tokens, _first_name_if_single(tokens) if match["title"] in _ROLES else None
        )
    for match in _PATIENT_TRIGGER.finditer(text):
        yield from name_spans(text, scan_name(text, match.end()))
    for match in _FIELD_TRIGGER.finditer(text):
        field = fold(match["field"])
        if field.startswith("prenom"):
            yield from _first_name_list(text, match.end())
        else:
            tokens = scan_name(text, match.end())
            yield from name_spans(
                text, tokens, _first_name_if_single(tokens) if field.upper() in _ROLES else None
            )


# A surname that is a common word, right after a civility or a doctor's title: "M. PETIT Mathieu", "Mme BLANC",
# "Dr Boulanger", "de M. Petit (02 47 …)" (a capitalized word after "M." or "Dr" is a surname, common or not).
_CIVILITY = {
    "docteur", "professeur", "madame", "monsieur", "mademoiselle", "dr", "dre", "pr", "prof", "mme", "mmes", "mr",
    "mlle", "melle", "m", "mm", "mrs", "ms",
}  # fmt: skip
_TITLED_WORD = re.compile(rf"[{_UPPER}][{_LETTER}]{{2,}}(?:-[{_UPPER}][{_LETTER}]+)*(?![\w'’-])")
_NOT_AFTER_TITLE = {
    "veuve",
    "epouse",
    "nee",
    "ne",
    "dite",
    "dit",
    "et",
    "ou",
    "avec",
    "chez",
    "pour",
    "non",
    "oui",
}


def _common_surname(text: str, title: re.Match[str]) -> list[_Token]:
    """The words of a name opened by a common word after a civility title (:data:`_TITLED_WORD`), or none."""
    if fold(title["title"]) not in _CIVILITY:
        return []
    word = _TITLED_WORD.match(text, title.end())
    if word is None or is_protected(word.group()) or fold(word.group()) in _NOT_AFTER_TITLE:
        return []
    rest = scan_name(text, _GAP.match(text, word.end()).end(), max_words=2)
    if rest and rest[0].kind == "particle":
        rest = []  # "Mme PAS DE …" is no name going on
    return [_Token(word.start(), word.end(), "caps"), *rest]


def _first_name_if_single(tokens: list[_Token]) -> str | None:
    """ "PRENOM" when the name is a single word (not an initial): after a caregiver's role ("IDE : Maëva", "AS
    Brieuc"), a kinship ("son fils Jimmy") or a greeting, a lone word is a first name."""
    words = [t for t in tokens if t.kind != "particle"]
    return "PRENOM" if len(words) == 1 and words[0].kind in ("word", "first") else None


# "Prénoms : Ghislaine, Yolande": first names in a list, each one PRENOM.
_LIST_SEPARATOR = re.compile(r"[ \t]*(?:,|et)[ \t]*")


def _first_name_list(text: str, pos: int) -> Iterator[Span]:
    while tokens := scan_name(text, pos):
        yield from name_spans(text, tokens, "PRENOM")
        separator = _LIST_SEPARATOR.match(text, tokens[-1].end)
        if separator is None:
            return
        pos = separator.end()


# Words of kinship and of the people around a patient, after which a name is given bare: "son fils Jimmy", "sa
# sœur Annick", "son épouse (Mireille)", "le neveu, M. Rémi Vidalenc" (the title is read by scan_name).
_KIN = (
    r"fils|filles?|[ée]pou(?:x|se)|mari|femme|compagne|compagnon|conjointe?|fr[èe]re|s(?:œ|oe)ur|neveu|ni[èe]ce|"
    r"petite?-(?:fils|fille)|petits-enfants|cousine?|p[èe]re|m[èe]re|beau-(?:fr[èe]re|p[èe]re|fils)|"
    r"belle-(?:s(?:œ|oe)ur|m[èe]re|fille)|gendre|oncle|tante|amie?|voisine?|aidante?|fianc[ée]e?|concubine?|"
    r"ex-(?:[ée]pou(?:x|se)|mari|femme|compagne|compagnon)"
)
_KIN_TRIGGER = re.compile(
    rf"(?<![\w])(?:(?P<det>(?i:son|sa|ses|leur|leurs|votre|notre|mon|ma|mes|un|une|le|la|les))[ \t]+)?"
    rf"(?P<kin>(?i:{_KIN}))(?:[ \t]+(?i:a[îi]n[ée]e?|cadette?))?[ \t]*[,(]?[ \t]*(?=[{_UPPER}])"
)
# Maiden and married names: "née GEHIN", "épouse Nankin", "veuve Martin" (not "née le", which is lower case).
_MARRIED_TRIGGER = re.compile(
    rf"(?<![\w])(?i:n[ée]e|[ée]pouse|[ée]poux|veuve|divorc[ée]e|[ée]p\.|vve)[ \t]+(?=[{_UPPER}])"
)


# A name followed by its role or kinship in parentheses: "Gaëlle (IDE)", "Ainhoa (épouse)", "Rémi (neveu, 06…)".
_ROLE_AFTER = re.compile(
    rf"(?<![\w'’.-])(?:{_INITIAL}|{_WORD})(?:[ \t](?:{_PARTICLE}[ \t])?(?:{_INITIAL}|{_WORD})){{0,3}}"
    rf"(?=[ \t]*\((?i:{_KIN}|ide|as|ash|aide-soignante?|infirmi[èe]re?|interne|externe|cadre|kin[ée]|"
    rf"neurologue|cardiologue|radiologue|g[ée]riatre|m[ée]decin|psychologue|orthophoniste|ergoth[ée]rapeute|"
    rf"assistante? sociale?|secr[ée]taire|cca|ph|phc|pu-ph|dr|senior)(?![\w]))"
)


# A role, then a first name in parentheses: "l'AS de nuit (Solène)", "l'interne (Hugo)".
_ROLE_THEN_NAME = re.compile(
    rf"(?<![\w])(?i:ide|as|ash|aide-soignante?|infirmi[èe]re?|interne|externe|kin[ée]|cadre|secr[ée]taire|"
    rf"ergoth[ée]rapeute|orthophoniste|psychologue|di[ée]t[ée]ticienne?|ambulancier|brancardier|"
    rf"aide à domicile|auxiliaire de vie|{_KIN})"
    rf"(?: (?i:de nuit|de jour|de garde|du matin|du soir))?[ \t]*\([ \t]*(?=[{_UPPER}])"
)

# A nurse's or carer's signature, the name then the role's initials without parentheses, opening a line, after a
# slash or a dash of a dated entry: "Clémence IDE / Ahmed AS", "Le Bihan IDEC", "09/01 – Matin – Élodie IDE",
# "06:10 – Clémence IDE nuit" (words of three letters at least: "Hb AS" is no name).
_SIGNED_ROLE = re.compile(
    rf"(?:^|(?<=/)|(?<=[–—] )|(?<=\d - ))[ \t]*(?P<name>{_WORD}(?:[ \t]{_WORD})?)[ \t]+"
    rf"(?:IDE|IDEL|IDEC|IBODE|IADE|IPA|AS|ASH|AES)"
    rf"(?=[ \t]*(?:(?i:de )?(?i:nuit|jour|matin|soir|apr[eè]s-midi))?[ \t]*(?:[/,;]|$))",
    re.MULTILINE,
)


def find_role_names(text: str) -> Iterator[Span]:
    """Names followed by a role or a kinship in parentheses ("Gaëlle (IDE)", "Ainhoa (épouse)"), or given in
    parentheses after a role ("l'AS de nuit (Solène)"), or signed with a nursing role ("Clémence IDE")."""
    for match in _SIGNED_ROLE.finditer(text):
        tokens = scan_name(text, match.start("name"), max_words=len(match["name"].split()))
        if tokens and tokens[-1].end == match.end("name") and all(t.end - t.start >= 3 for t in tokens):
            yield from name_spans(text, tokens, _first_name_if_single(tokens))
    for match in _ROLE_THEN_NAME.finditer(text):
        tokens = scan_name(text, match.end(), max_words=3)
        if tokens and text[tokens[-1].end : tokens[-1].end + 1] == ")":
            yield from name_spans(text, tokens, _first_name_if_single(tokens))
    for match in _ROLE_AFTER.finditer(text):
        if _TITLE_TRIGGER.match(text, match.start()):
            continue  # a title opens it: find_titled_names reads it
        tokens = scan_name(text, match.start())
        if tokens and tokens[-1].end == match.end():
            yield from name_spans(text, tokens, _first_name_if_single(tokens))


# Names listed after a name: "Moussa Traoré (père, …) et Aminata Keïta (mère, …)".
_LIST_NEXT = re.compile(r"(?:[ \t]*\([^()\n]{0,60}\))?[ \t]*(?:,|et|&)[ \t]*")


def find_listed_names(text: str, spans: list[Span]) -> Iterator[Span]:
    """A name right after a name of the first pass (``spans``) and "et" or a comma, itself of two words or
    more ("Moussa Traoré et Aminata Keïta")."""
    for span in spans:
        if span.label not in ("NOM", "PRENOM"):
            continue
        m = _LIST_NEXT.match(text, span.end)
        if m is None or not text[m.end() : m.end() + 1].isupper():
            continue
        tokens = scan_name(text, m.end(), max_words=3)
        if not tokens or any(other.start < tokens[-1].end and tokens[0].start < other.end for other in spans):
            continue
        if len([t for t in tokens if t.kind != "particle"]) >= 2:
            yield from name_spans(text, tokens)
        elif span.label == "NOM" and "," in m.group() and _FIRST_NAME_END.match(text, tokens[-1].end):
            yield from name_spans(
                text, tokens, "PRENOM"
            )  # "MENARD, Julien -": a surname, then its first name


# What may follow a first name given after its surname and a comma: punctuation, a number, the end of the line.
_FIRST_NAME_END = re.compile(r"[ \t]*(?:[-–,.;:|)(\d]|$)", re.MULTILINE)


# Greetings of letters and e-mails: "Bonsoir Olivier,", "Chère Anne,".
_GREETING = re.compile(
    rf"(?<![\w])(?:Bonjour|Bonsoir|Salut|Coucou|Cher|Chère|Chers|Chères)[ \t]+(?=[{_UPPER}])"
)


def find_greeted_names(text: str) -> Iterator[Span]:
    """The name after a greeting, before a comma ("Bonsoir Olivier,"): a single word is a first name."""
    for match in _GREETING.finditer(text):
        tokens = scan_name(text, match.end(), max_words=3)
        if tokens and re.match(r"[ \t]*,", text[tokens[-1].end :]):
            yield from name_spans(text, tokens, _first_name_if_single(tokens))


# A surname naming a small company that cares for or carries the patient: "Transports Marchand", "ambulance Cuny",
# "Taxi Le Goff", "pompes funèbres Lecomte", "Orthopédie LEBRETON" (the name even when it is a common word).
_COMPANY = re.compile(
    rf"(?<![\w])(?i:transports?|ambulances?|taxis?|vsl|pompes fun[èe]bres|orthop[ée]die|auto-[ée]cole|"
    rf"pharmacie|cabinet|garage)[ \t]+(?P<name>(?:(?:Le|La|Du|De|Van|Mac|Mc) )?[{_UPPER}][{_LETTER}'’]+"
    rf"(?:-[{_UPPER}][{_LETTER}'’]+)*)(?![\w'’-])"
)
_COMPANY_WORDS = {
    "centrale", "principale", "bleue", "bleues", "bleu", "rapide", "rapides", "express", "services",
    "service", "assistance", "sante", "plus", "medical", "medicale", "medicaux", "urgence", "urgences", "secours",
    "medecins", "infirmier", "infirmiers", "liberal", "liberaux", "dentaire", "paramedical", "nord", "sud", "est",
    "ouest", "centre", "gare", "mairie", "eglise", "place", "marche", "village", "bourg", "ville", "port",
}  # fmt: skip


def find_company_names(text: str) -> Iterator[Span]:
    """The surname in a small company's name (:data:`_COMPANY`), as NOM."""
    for match in _COMPANY.finditer(text):
        words = re.split(r"[ -]", fold(match["name"]))
        if words[-1] in _COMPANY_WORDS or is_protected(match["name"]):
            continue
        yield Span.of(text, *match.span("name"), "NOM")


def find_kin_names(text: str) -> Iterator[Span]:
    """Names given after a word of kinship ("sa fille Letizia", "son mari (Arménio)") — a single capitalized
    word there is a first name — and maiden or married names ("née Sambucco", "épouse Grondin")."""
    for match in _KIN_TRIGGER.finditer(text):
        opening = text[max(0, match.start() - 1) : match.start()] == "("
        if match["det"] is None and not match["kin"][0].isupper() and not opening:
            continue  # without "son", "sa"... or "(": only a capitalized word of kinship opens a name ("Épouse (X)")
        tokens = scan_name(text, match.end())
        yield from name_spans(text, tokens, _first_name_if_single(tokens))
    for match in _MARRIED_TRIGGER.finditer(text):
        yield from name_spans(text, scan_name(text, match.end()))


# A patient named by initials, as pharmacovigilance declarations and case reports do: "initiales N.L.",
# "Initiales du patient : M-D", "initiales : JP" (the first name's initial, then the surname's).
_INITIALS = re.compile(
    r"(?i:\binitiales?(?: d[ue] (?:la |l['’])?(?:patient|malade)e?)?)[ \t]*:?[ \t]*"
    r"(?P<first>[A-Z]\.?(?:-[A-Z]\.?)?)[ \t]?-?[ \t]?(?P<last>[A-Z])(?P<dot>\.?)(?![\w])"
)


def find_initials(text: str) -> Iterator[Span]:
    """The initials given as a patient's name ("initiales N.L."): the first a PRENOM, the second a NOM."""
    for match in _INITIALS.finditer(text):
        yield Span.of(text, *match.span("first"), "PRENOM")
        yield Span.of(text, match.start("last"), match.end("dot"), "NOM")


# A surname given by its initial after a known first name ("Sandrine V.", "Élodie M.", as care teams sign and
# list each other), and initials before a surname at a signature's place: a line's start, after a comma or a
# field's colon ("L. Arnaud", "Pour le directeur, M.-J. Payet", "Agent d'admission : K. Marie"; "M." alone is
# Monsieur, no initial, but see _SIGNATURE_M).
_FIRST_NAME_INITIAL = re.compile(
    rf"(?<![\w'’.-])(?P<first>[{_UPPER}][{_LETTER}]+(?:-[{_UPPER}][{_LETTER}]+)?)[ \t]+"
    rf"(?P<initial>[{_UPPER}]\.)(?![\w]|-?[{_UPPER}]\.)"
)
_INITIALS_SURNAME = re.compile(
    rf"(?:(?m:^)[ \t]*|(?<=, )|(?<=[^\W\d] : ))(?P<first>(?!M\.[ \t])[{_UPPER}]\.(?:-[{_UPPER}]\.)?)[ \t]+"
    rf"(?P<last>[{_UPPER}][{_LETTER}'’]+(?:-[{_UPPER}][{_LETTER}'’]+)*)(?=[ \t]*(?:[,(–]|-[ \t]|$))",
    re.MULTILINE,
)


# "M." and a surname alone on a signature's line: after a closing formula, before a caregiver's role, or ending
# the document ("Bien amicalement,\nM. Schneider", "M. Gidon, IDE"): the writer's initial rather than Monsieur
# (one signs without one's own title).
_SIGNATURE_M = re.compile(
    rf"^[ \t]*(?P<first>M\.)[ \t]+(?P<last>[{_UPPER}][{_LETTER}'’]+(?:-[{_UPPER}][{_LETTER}'’]+)*)[ \t]*"
    rf"(?P<role>,[ \t]*(?:IDE|IDEL|IDEC|AS|ASH|IPA|AES|MKDE|MK|cadre|secr[ée]taire|kin[ée]|[ée]ducat\w*|ergo\w*|"
    rf"orthophoniste|psychologue|di[ée]t[ée]ticien\w*|assistante? sociale?)\b[^\n]*)?$",
    re.MULTILINE,
)
_CLOSING = re.compile(
    r"(?i:cordialement|amicalement|confraternellement|confraternelles|salutations|sentiments|bien [àa] vous|"
    r"respectueusement|merci)\W*$"
)
# An initial in parentheses after a surname, as lists of doctors give it: "Dr Carayon (M.)", "Dr Le Bihan (Y.)".
_INITIAL_AFTER = re.compile(rf"[ \t]?\((?P<initial>[{_UPPER}]\.(?:-[{_UPPER}]\.)?)\)")


def find_signature_initials(text: str) -> Iterator[Span]:
    """ "M." before a surname alone on a signature's line (:data:`_SIGNATURE_M`): a PRENOM and a NOM."""
    for match in _SIGNATURE_M.finditer(text):
        before = text[: match.start()].rstrip()
        previous_line = before[before.rfind("\n") + 1 :]
        if not (match["role"] or _CLOSING.search(previous_line) or not text[match.end() :].strip()):
            continue
        if fold(match["last"]) in common_words() or is_protected(match["last"]):
            continue
        yield Span.of(text, *match.span("first"), "PRENOM")
        yield Span.of(text, *match.span("last"), "NOM")


def find_initials_after_names(text: str, spans: list[Span]) -> Iterator[Span]:
    """An initial in parentheses right after a surname of the first pass (``spans``): "Dr Carayon (M.)"."""
    for span in spans:
        if span.label == "NOM" and (match := _INITIAL_AFTER.match(text, span.end)):
            yield Span.of(text, *match.span("initial"), "PRENOM")


def find_initialled_names(text: str) -> Iterator[Span]:
    """A known first name with its surname's initial ("Sandrine V."), and initials before a surname at a line's
    start, after a comma or a field's colon ("L. Arnaud,", "M.-J. Payet", "Agent : K. Marie")."""
    for match in _FIRST_NAME_INITIAL.finditer(text):
        first = fold(match["first"])
        if first.split("-")[0] in first_names() and first not in common_words():
            yield Span.of(text, *match.span("first"), "PRENOM")
            yield Span.of(text, *match.span("initial"), "NOM")
    for match in _INITIALS_SURNAME.finditer(text):
        if fold(match["last"]) in common_words() or is_protected(match["last"]):
            continue
        yield Span.of(text, *match.span("first"), "PRENOM")
        yield Span.of(text, *match.span("last"), "NOM")


_NAME_RUN = re.compile(
    rf"(?<![\w'’./-])(?:{_INITIAL}|{_WORD})(?:[ \t](?:{_PARTICLE}[ \t])?(?:{_INITIAL}|{_WORD})){{1,4}}"
)


def find_first_name_pairs(text: str) -> Iterator[Span]:
    """Names without a title: a run of two to five name words holding a known first name, an initial with a
    dot or a word in capitals, and at least one other word ("JALONNET Christine", "Rémi Foliet", "J. Delorenzi",
    "Madec P.J.", "MOREIRA Ivone")."""
    protected = protected_ranges(text)
    for match in _NAME_RUN.finditer(text):
        if _TITLE_TRIGGER.match(text, match.start()):
            continue  # a title starts the run: find_titled_names reads it
        tokens = _before_title(text, scan_name(text, match.start()))
        if any(tokens and start < tokens[-1].end and tokens[0].start < end for start, end in protected):
            continue  # the run reaches into a protected term ("Syndrome de Claude Bernard-Horner")
        if _looks_like_name(text, tokens):
            yield from name_spans(text, tokens)


def _before_title(text: str, tokens: list[_Token]) -> list[_Token]:
    """The words before an "M." that opens a name ("Séparée de M. Coulibaly": "M." is a title there, and
    "Séparée de" no name); particles left at the end are dropped."""
    for index, token in enumerate(tokens[:-1]):
        if text[token.start : token.end] in ("M.", "Mr.", "MM."):
            tokens = tokens[:index]
            break
    while tokens and tokens[-1].kind == "particle":
        tokens.pop()
    return tokens


def _looks_like_name(text: str, tokens: list[_Token]) -> bool:
    """Whether words without a title form a name: a first name or a dotted initial beside a surname, or a
    surname in capitals beside a capitalized word, the way French records write "NOM Prénom"."""
    if len(tokens) < 2:
        return False
    has_first = any(
        t.kind == "first" or (t.kind == "initial" and not text[t.start : t.end].isalpha()) for t in tokens
    )
    kinds = {t.kind for t in tokens}
    if has_first:
        return bool(kinds & {"caps", "word"})
    return "caps" in kinds and "word" in kinds and any(_vowelled_caps(text, t) for t in tokens)


def _vowelled_caps(text: str, token: _Token) -> bool:
    """A word in capitals that reads as a surname rather than an acronym ("ESV", "NRI"): four letters or more
    with a vowel, or three with two."""
    word = fold(text[token.start : token.end])
    vowels = sum(c in "aeiouy" for c in word)
    return token.kind == "caps" and ((len(word) >= 4 and vowels >= 1) or (len(word) == 3 and vowels >= 2))


# A line or a table cell ("| DUPONT Jean |"), or what follows the colon of a "Label :" line.
_NAME_LINE = re.compile(
    r"(?:^|(?<=\|))(?:[^\n:|]{1,40}:)?[ \t]*(?P<name>[^\s:|][^\n:|]*?)[ \t]*(?=\||$)", re.MULTILINE
)


def find_name_lines(text: str) -> Iterator[Span]:
    """A line, a table cell (or the value of a "Label :" line) that is only a name: two to four name words, one
    of them in capitals and one not ("SAHANY Jason", "LEMARCHAND B-J.", "Investigateur : Laure MICHAUD"), as in
    the headers, tables and signatures of letters."""
    for line in _NAME_LINE.finditer(text):
        tokens = scan_name(text, line.start("name"), max_words=4)
        if not tokens or tokens[-1].end != line.end("name") or len(tokens) < 2:
            continue
        kinds = {t.kind for t in tokens}
        if ("caps" in kinds and kinds & {"word", "first", "initial"}) or _CONTACT_LINE.match(
            text, line.end() + 1
        ):
            yield from name_spans(text, tokens)


# The line after a name in a signature or a letterhead: its phone, fax or e-mail ("Patrique Pizzila\nTel : …").
_CONTACT_LINE = re.compile(
    r"[ \t]*(?:(?i:t[ée]l|fax|e-?mail|mail|courriel|portable|mobile|standard|accueil|secr[ée]tariat)\b|"
    r"\+?\(?\d[\d .()\-]{7,}\d|[\w.\-]+@)"
)


def find_occurrences(text: str, names: Iterable[tuple[str, str]]) -> Iterator[Span]:
    """Every occurrence in ``text`` of the given names, case- and accent-insensitive, on whole words.

    Args:
        text: The document.
        names: ``(name, label)`` pairs; names shorter than 2 letters, common words and protected terms are
            skipped.
    """
    folded = fold(text)
    for name, label in names:
        key = fold(name.strip())
        if len(key.replace(".", "")) < 2 or key in common_words() or is_protected(name):
            continue
        for match in re.finditer(rf"(?<![\w]){re.escape(key)}(?![\w])", folded):
            yield Span.of(text, match.start(), match.end(), label)


def known_name_words(known_names: Iterable[str]) -> Iterator[tuple[str, str]]:
    """The patient's known names as ``(word, label)`` pairs, one per word ("Jean Dupont" gives "Jean" and
    "Dupont"): a word that is a known first name is a PRENOM, any other a NOM."""
    for name in known_names:
        for word in name.split():
            yield word, "PRENOM" if fold(word) in first_names() else "NOM"
