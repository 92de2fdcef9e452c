"""Hospitals and care homes, named after their kind: "CHU de Brest", "Clinique Saint-Martin", "EHPAD Les
Myrtilles"."""

from __future__ import annotations

import re
from collections.abc import Iterator

from clinrag.pseudo._places import _LETTER, _PARTICLE, _PROPER_WORD, _UPPER, _without_trailing_particles
from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import common_words, fold

_HOSPITAL_KIND = (
    r"CHU|CHRU|CHR|CHI|CHIC|CHG|CHS|CHT|CH|GHU|GHT|GH|HIA|H[ôo]p\.|HOP|Clinique|CLINIQUE|clinique|"
    r"(?i:assistance publique ?[–-] ?h[ôo]pitaux|h[ôo]pital|h[ôo]pitaux|hospices?(?: civils)?|polyclinique|"
    r"centre hospitalier(?: universitaire| r[ée]gional(?: universitaire)?| intercommunal| g[ée]n[ée]ral| territorial|"
    r" sp[ée]cialis[ée]| d[ée]partemental)?|groupe(?:ment)? hospitalier(?: universitaire)?|centre de sant[ée]|"
    # maternity wards, medical and dialysis centres, homes for the elderly and the disabled
    r"maternit[ée]|centre m[ée]dical|centre de dialyse|foyer(?:-logement| logement)?|r[ée]sidence autonomie)|"
    r"MAS|FAM|CMPR|CRRF|CRF|M[ée]dip[ôo]le|(?i:p[ôo]le sant[ée])|"
    r"Institut|Fondation|"
    # rehabilitation and long-stay facilities, where stroke patients go after the stroke unit (SSR, named SMR since
    # 2022: "soins médicaux et de réadaptation")
    r"(?i:(?:centre|clinique|institut)(?: r[ée]gional| national| universitaire)? de (?:r[ée][ée]ducation|"
    r"r[ée]adaptation|m[ée]decine physique et de r[ée]adaptation)(?: fonctionnelle)?)|"
    # medico-social homes and day-care centres ("Maison d'Accueil Spécialisée « Le Pech »", "l'accueil de jour
    # « Les Tilleuls »")
    r"(?i:maison d['’]accueil sp[ée]cialis[ée]e|foyer d['’]accueil m[ée]dicalis[ée]|accueil de jour)|"
    r"[Cc]entre (?:MPR|SSR|SMR)|SSR|SMR|EHPAD|USLD|[Mm]aison de retraite|"
    # mental-health hospitals ("EPSM de la Sarthe", "l'établissement public de santé mentale Lille-Métropole")
    r"EPSM|(?i:[ée]tablissement public de sant[ée] mentale)|"
    # home hospitalisation and Guyane's health centres ("HAD Santé Service", "CDPS de Maripasoula")
    r"HAD|CDPS"
)
# An adjective may come between the kind and the name ("Hôpital européen Georges-Pompidou"); "l'" is part of
# the span, as eds-pseudo annotates it.
_HOSPITAL_ADJECTIVE = (
    r"(?i:(?:europ[ée]en|universitaire|priv[ée]|militaire|intercommunal|g[ée]n[ée]ral|r[ée]gional|"
    r"d[ée]partemental|local|psychiatrique|p[ée]diatrique|territorial|mutualiste|neurologique|cardiologique|"
    r"g[ée]riatrique|g[ée]rontologique|maritime)s?|d'instruction des arm[ée]es)"
)
# The name, possibly between quotes ("EHPAD « Les Myrtilles »"); particles in any case ("CH DE LA CÔTE BASQUE").
_HOSPITAL = re.compile(
    rf"(?<![\w])(?:[lL]['’])?(?P<kind>{_HOSPITAL_KIND})(?: (?:{_HOSPITAL_ADJECTIVE}))?(?![\w])"
    rf"(?P<quote> ?[«\"“])?(?P<name>(?: (?:(?i:{_PARTICLE}) ?)?{_PROPER_WORD}){{1,5}})(?P<close> ?[»\"”])?"
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


_PARTICLES = {"de", "du", "des", "d'", "l'"}

# "Pôle Santé Sarthe et Loir" names an establishment (where "pôle" alone opens a hospital's department).
_POLE_SANTE = re.compile(r"(?i:p[ôo]le sant[ée])(?![\w])")


def _hospital_end(text: str, name_start: int, name_end: int) -> int:
    """Where the hospital's name ends: before a service word or a title, and never on a particle. An article
    may open the name ("SSR Les Grands Chênes") or follow a particle ("CHU de La Réunion")."""
    end = name_start
    previous = ""
    for index, word in enumerate(re.finditer(r"\S+", text[name_start:name_end])):
        folded = fold(word.group()).rstrip(".,")
        if folded in _ARTICLES and (index == 0 or previous in _PARTICLES):
            previous = folded
            continue  # alone, it is trimmed below
        if (
            folded in _HOSPITAL_STOP
            and word.group()[0].isupper()
            and not _POLE_SANTE.match(text, name_start + word.start())
        ):
            break
        end = name_start + word.end()
        previous = folded
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
            if m["quote"] and m["close"] and end == m.end("name"):
                end = m.end("close")
            elif number := _SITE_NUMBER.match(text, end):
                end = number.end()  # "Hôpital Pasteur 2"
            yield Span.of(text, m.start(), end, "HOPITAL")
    for m in (*_HOSPITAL_GROUPS.finditer(text), *_ENGLISH_HOSPITAL.finditer(text)):
        yield Span.of(text, m.start(), m.end(), "HOPITAL")
    for m in _HOSPITAL_ACRONYM.finditer(text):
        suffix = m.group()[2:]
        if fold(m.group()) not in common_words() and sum(c in "AEIOUY" for c in suffix) <= 1:
            yield Span.of(text, m.start(), m.end(), "HOPITAL")
    for m in _SITE.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if m["bare"] and not text[line_start : m.start()].strip():
            line_start = (
                text.rfind("\n", 0, max(0, line_start - 1)) + 1
            )  # "Site de Vesoul" under the hospital
        if _HOSPITAL.search(text, line_start, m.start()) or _HOSPITAL_GROUPS.search(
            text, line_start, m.start()
        ):
            name_start = m.start("name") + 1
            end = _hospital_end(text, name_start, m.end("name"))
            if end > name_start and (m["bare"] or fold(text[name_start:end]) not in _DIRECTIONS):
                yield Span.of(text, m.start(), end, "HOPITAL")


# A number that ends a hospital's name, at the end of its line or before a dash: "Hôpital Pasteur 2 – ".
_SITE_NUMBER = re.compile(r" \d{1,2}(?=[ \t]*(?:[–—)\n]|- |$))", re.MULTILINE)
_DIRECTIONS = {"nord", "sud", "est", "ouest", "centre", "nord-est", "nord-ouest", "sud-est", "sud-ouest"}
# Hospitals named in English: "Jefferson University Hospital", "Avicenne AP-HP Hospital".
_ENGLISH_HOSPITAL = re.compile(
    rf"(?<![\w])(?:[{_UPPER}][{_LETTER}'’-]+ ){{1,3}}(?:(?i:university|general|children['’]s|memorial|royal) )?"
    rf"(?i:hospital)(?![\w])"
)
# The public hospital groups of Paris, Marseille and Lyon, named by their acronym.
_HOSPITAL_GROUPS = re.compile(r"(?<![\w-])(?:AP-HP|APHP|AP-HM|APHM|HCL|Hospices Civils de Lyon)(?![\w-])")
# Acronyms of hospitals ("CHSF", "CHPF", "GHRMSA"): CH or GH and a few capitals, at most one vowel among them
# (which leaves out words in capitals: "CHUTE", "CHAMBRE").
_HOSPITAL_ACRONYM = re.compile(r"(?<![\w-])(?:CH|GH)[A-Z]{1,5}(?![\w-])")
# A hospital's site, on the line of the hospital (or, "Site" opening its line, on the line before): "CHU de La
# Réunion – Site Félix Guyon", "CHU Amiens-Picardie – Site Sud", "site Chubert"; "Site" is taken with the name, as
# writers mark it either way ("site nord" in lower case is a part of the building).
_SITE = re.compile(
    rf"(?<![\w])(?:(?P<bare>Site)|site)(?: (?:de |du |d['’]))?(?P<name>(?: (?:(?i:{_PARTICLE}) ?)?{_PROPER_WORD}){{1,4}})"
)


def find_hospital_acronyms(text: str, spans: list[Span]) -> Iterator[Span]:
    """Acronyms of the hospitals found: in parentheses beside one ("CHIVA (Centre Hospitalier du Val
    d'Ariège)", "Centre Hospitalier de la Polynésie française (CHPF)"), or made of the initials of one's
    capitalized words ("Centre de Réadaptation de Mulhouse" … "au CRM")."""
    acronyms: set[str] = set()
    for span in spans:
        if span.label != "HOPITAL":
            continue
        initials = "".join(w[0] for w in re.findall(rf"[{_UPPER}][{_LETTER}'’-]*", span.text))
        if len(initials) >= 3:
            acronyms.add(initials.upper())
        before = re.search(
            rf"(?<![\w])(?P<acronym>[{_UPPER}]{{3,8}}) ?\($", text[max(0, span.start - 12) : span.start]
        )
        after = re.match(rf" ?\((?P<acronym>[{_UPPER}]{{3,8}})\)", text[span.end : span.end + 12])
        for found in (before, after):
            if found and fold(found["acronym"]) not in common_words():
                acronyms.add(found["acronym"])
    for acronym in acronyms:
        for m in re.finditer(rf"(?<![\w-]){re.escape(acronym)}(?![\w-])", text):
            yield Span.of(text, m.start(), m.end(), "HOPITAL")
