"""Words about people other than the patient: relatives, a letter's addressee, the source of a statement.

A patient's record names many people. A word that would say the patient's sex ("femme", "Madame", "Monsieur")
often names someone else: the patient's wife ("il reconnaît sa femme", "la femme du patient"), the colleague a
letter is written to ("Madame, Monsieur", "Chère Madame", "Madame le Docteur X", "Monsieur et cher confrère").
And a relative named as the source of a statement ("d'après sa femme", "selon son épouse", "rapporté par la
famille") neither makes the statement a family history nor belongs to a negation before it ("non diabétique
d'après sa femme, tabagisme actif"), while a relative clause whose subject is a relative is about that relative
("c'est son épouse qui fume").

The word lists are French usage: kinship terms (as edsnlp's ``eds.family`` cues list them, with the in-laws and
partners' words of everyday French), the civilities and the salutation formulas of French medical letters ("Cher
confrère", "Chère consœur", "Madame le Docteur"), and the verbs and prepositions that introduce who reported a
fact ("d'après", "selon", "aux dires de", "rapporté par": the wording of an anamnesis taken from a relative).
"""

from __future__ import annotations

import re

from clinrag.text.folding import fold

KINSHIP = [
    "père",
    "mère",
    "frère",
    "sœur",
    "soeur",
    "fils",
    "fille",
    "filles",
    "époux",
    "épouse",
    "mari",
    "femme",
    "conjoint",
    "conjointe",
    "compagnon",
    "compagne",
    "concubin",
    "concubine",
    "enfant",
    "enfants",
    "parent",
    "parents",
    "oncle",
    "tante",
    "neveu",
    "nièce",
    "cousin",
    "cousine",
    "grand-père",
    "grand-mère",
    "petit-fils",
    "petite-fille",
    "gendre",
    "belle-fille",
    "beau-fils",
    "belle-mère",
    "beau-père",
    "belle-sœur",
    "beau-frère",
    "famille",
]
"""Words that name a relative (edsnlp's ``eds.family`` cues, with the partners' and in-laws' words of everyday
French)."""


def _written(word: str) -> str:
    """A regex of ``word`` with or without its accents ("mère" -> "m[èe]re")."""
    accents = {"é": "[ée]", "è": "[èe]", "ê": "[êe]", "œ": "(?:œ|oe)"}
    return "".join(accents.get(c, re.escape(c)) for c in word)


RELATIVE = "(?:" + "|".join(_written(w) for w in sorted(set(KINSHIP), key=len, reverse=True)) + ")"
"""A regex of a kinship word (:data:`KINSHIP`; the death finder's, :mod:`clinrag.text.death`: "père décédé",
"décès de son épouse")."""

_KIN = frozenset(fold(word) for word in [*KINSHIP, "homme"])
"""Words that name a relative after a determiner ("sa fille", "l'épouse", "son mari"); "femme" and "homme" also
name the patient ("une femme de 75 ans"), see :func:`names_someone_else`."""

_PERSON_OR_SPOUSE = frozenset({"femme", "homme"})
_CIVILITY = frozenset({"madame", "monsieur", "mme", "m", "mr", "mlle", "mademoiselle"})
_SALUTATION_WORDS = r"(?:madame|monsieur|mesdames|messieurs)"

_POSSESSIVE_BEFORE = re.compile(
    r"(?<!\w)(?:son|sa|ses|mon|ma|mes|ton|ta|tes|notre|nos|votre|vos|leur|leurs)\s+(?:ex[- ]?)?$",
    re.IGNORECASE,
)
"""A possessive right before a word: "sa femme", "son épouse", "son ex-femme"."""
_DETERMINER_BEFORE = re.compile(
    r"(?:(?<!\w)(?:le|la|les|un|une|des|du|au|aux|ce|cet|cette|ces)\s+|(?<!\w)l['’]\s*)$",
    re.IGNORECASE,
)
"""An article or a demonstrative right before a word: "l'épouse", "le mari", "une fille"."""
_DEFINITE_BEFORE = re.compile(r"(?:(?<!\w)(?:la|le)\s+|(?<!\w)l['’]\s*)$", re.IGNORECASE)
_OF_A_PERSON_AFTER = re.compile(
    r"\s+(?:du\s+(?:patient|malade)|de\s+(?:la\s+patiente|notre\s+patient|votre\s+patient|ce\s+patient"
    r"|cette\s+patiente|monsieur|madame|m\.|mr\b|mme\b))",
    re.IGNORECASE,
)
"""A complement that makes "la femme" someone's wife: "la femme du patient", "le mari de Madame X"."""
_PROFESSION_BEFORE = re.compile(r"sage[- ]?$", re.IGNORECASE)
""""sage-femme": a midwife, not a sex."""

_TITLE_AFTER = re.compile(
    r"\s*,?\s*(?:(?:le|la)\s+(?:docteure?|dr|professeure?|pr|m[ée]decin|directeur|directrice|chef|pr[ée]sidente?)\b"
    r"|(?:et\s+)?(?:tr[èe]s\s+)?ch[èe]re?s?\s+(?:confr[èe]res?|cons[œo]e?urs?|coll[èe]gues?|amie?s?)\b)",
    re.IGNORECASE,
)
"""What follows a civility addressed to a colleague: "Madame le Docteur", "Monsieur et cher confrère"."""
_DEAR_BEFORE = re.compile(r"(?<!\w)(?:tr[èe]s\s+)?ch[èe]re?s?\s+$", re.IGNORECASE)
"""A salutation's adjective: "Chère Madame", "Cher Monsieur"."""
_PAIR_AFTER = re.compile(r"\s*[,/]?\s*(?:(?:et|ou)\s+)?" + _SALUTATION_WORDS + r"\b", re.IGNORECASE)
_PAIR_BEFORE = re.compile(r"(?<!\w)" + _SALUTATION_WORDS + r"\s*[,/]?\s*(?:(?:et|ou)\s+)?$", re.IGNORECASE)
"""The other half of the generic salutation "Madame, Monsieur" (dictated: "Madame Monsieur")."""

_CONTEXT = 40


def names_someone_else(text: str, start: int, end: int) -> bool:
    """Whether the person word ``text[start:end]`` (a kinship word, "femme"/"homme", a civility) names someone
    other than the patient:

    * a kinship word after a possessive or an article ("sa femme", "son mari", "l'épouse", "une fille"; without a
      determiner it may be the patient's own description: "mère de trois enfants", "Mme X épouse Y"), except
      "femme" and "homme", which name the patient after an article ("une femme de 75 ans") and a spouse only
      after a possessive ("sa femme") or as someone's ("la femme du patient");
    * "femme" in "sage-femme";
    * a civility in a salutation or an address: "Madame, Monsieur", "Chère Madame", "Madame le Docteur X",
      "Monsieur et cher confrère".

    A civility before the patient's name ("Monsieur D., 75 ans") and "votre patiente" are the patient's.
    """
    word = fold(text[start:end])
    before = text[max(0, start - _CONTEXT) : start]
    after = text[end : end + _CONTEXT]
    if word in _KIN:
        if _POSSESSIVE_BEFORE.search(before):
            return True
        if word in _PERSON_OR_SPOUSE:
            if word == "femme" and _PROFESSION_BEFORE.search(before):
                return True
            return bool(_DEFINITE_BEFORE.search(before) and _OF_A_PERSON_AFTER.match(after))
        return bool(_DETERMINER_BEFORE.search(before))
    if word in _CIVILITY:
        return bool(
            _TITLE_AFTER.match(after)
            or _DEAR_BEFORE.search(before)
            or (word in ("madame", "monsieur") and (_PAIR_AFTER.match(after) or _PAIR_BEFORE.search(before)))
        )
    return False


REPORTED_SOURCE = (
    "d'après",
    "selon",
    "au dire de",
    "aux dires de",
    "de l'aveu de",
    "rapporté par",
    "rapportée par",
    "rapportés par",
    "rapportées par",
    "signalé par",
    "signalée par",
    "relaté par",
    "relatée par",
)
"""Phrases that introduce who reported a statement ("d'après sa femme", "selon la famille", "aux dires de son
fils", "rapporté par l'épouse"). A negation's scope ends there (they are edsnlp negation terminations,
:mod:`clinrag.text.annotate`): what follows is another statement."""

_SOURCE_BEFORE = re.compile(
    r"(?:(?<!\w)d['’]\s*apr[èe]s|(?<!\w)selon|(?<!\w)aux?\s+dires?\s+d[eu']|de\s+l['’]\s*aveu\s+d[eu']"
    r"|(?:rapport|signal|relat)[ée]e?s?\s+par|accompagn[ée]e?s?\s+(?:de|d['’]|par|du|des)"
    r"|(?:entretien|appel|t[ée]l[ée]phone|contact|interrogatoire|informations?|inform[ée]e?s?)(?:\s+[\w-]+)?"
    r"\s+(?:avec|de|d['’]|du|des|par|aupr[èe]s\s+d[eu'])"
    r"|aupr[èe]s\s+d[eu'])"
    r"\s*(?:(?:son|sa|ses|leur|leurs|la|le|les|un|une|des|l['’])\s*)?$",
    re.IGNORECASE,
)
"""A relative named as who speaks or comes: the source of the information ("d'après sa femme", "selon la
famille", "informations recueillies auprès de l'épouse", "entretien avec la fille") or who accompanies the
patient ("accompagné de son épouse")."""


def relative_as_source(text: str, start: int) -> bool:
    """Whether the relative named at ``text[start:]`` is the source of a statement or the patient's companion,
    not the one it is about ("non diabétique d'après sa femme", "selon son épouse, tabagisme actif"): edsnlp's
    ``eds.family`` marks every mention of the sentence about a relative."""
    return bool(_SOURCE_BEFORE.search(text[max(0, start - _CONTEXT) : start]))


_RELATIVE_CLAUSE_BEFORE = re.compile(
    r"(?<!\w)(?:son|sa|ses|mon|ma|mes|leur|leurs|le|la|les|un|une|l['’])\s*"
    + RELATIVE
    + r"\s+qui\s+(?:[\w'’-]+\s+){0,3}$",
    re.IGNORECASE,
)


def in_relatives_clause(text: str, start: int) -> bool:
    """Whether ``text[start:]`` stands in a relative clause whose subject is a relative: "c'est son épouse qui
    fume", "un frère qui a fait un AVC" (edsnlp's ``eds.family`` ends its scope at "qui")."""
    line_start = text.rfind("\n", 0, start) + 1
    return bool(_RELATIVE_CLAUSE_BEFORE.search(text[max(line_start, start - 60) : start]))
