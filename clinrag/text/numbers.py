"""Numbers written in French words ("soixante-douze ans", "NIHSS à quatorze", "un virgule deux g/L").

Dictated letters and speech-recognition output spell numbers out; a reader that looks for digits only never sees
them. The words are read by ``text2num`` (Allo-Media's maintained French/English number parser), on word tokens
of the text so that every number keeps its character offsets.

The article "un"/"une" is the one word that is far more often not a number ("un AVC", "une FA"): it counts as one
only where a value stands, before punctuation or the end of the text, a unit of time or "sur" ("NIHSS à un.",
"Rankin un sur 6", "un an").
"""

from __future__ import annotations

import functools
import re

from text_to_num import find_numbers as _find_numbers

_TOKEN = re.compile(r"\w+|[^\w\s]")
_ARTICLES = frozenset({"un", "une"})
_AFTER_A_VALUE = frozenset(
    {"sur", "an", "ans", "mois", "jour", "jours", "heure", "heures", "point", "à", "puis"}
)


class _Token:
    """A word or punctuation token of the text, as ``text2num`` reads a stream of tokens."""

    __slots__ = ("match",)

    def __init__(self, match: re.Match[str]):
        self.match = match

    def text(self) -> str:
        return self.match.group()

    def nt_separated(self, previous: _Token) -> bool:
        # a line break separates two numbers that read as one across it ("vingt\ntrois")
        return "\n" in self.match.string[previous.match.end() : self.match.start()]

    def not_a_number_part(self) -> bool:
        return False


@functools.lru_cache(maxsize=65536)
def spelled_numbers(text: str) -> tuple[tuple[int, int, float, str], ...]:
    """The numbers of ``text`` written in words: ``(start, end, value, digits)``, ``digits`` as the number is
    written in figures with a decimal comma ("72", "1,2"). Ordinals ("troisième") are left out, and so are the
    numbers written in figures (``text2num`` passes them through)."""
    if not any(c.isalpha() for c in text):
        return ()
    tokens = [_Token(m) for m in _TOKEN.finditer(text)]
    found = []
    for occurrence in _find_numbers(tokens, "fr", 0):
        if occurrence.is_ordinal:
            continue
        first, last = tokens[occurrence.start], tokens[occurrence.end - 1]
        words = text[first.match.start() : last.match.end()]
        if not any(c.isalpha() for c in words):
            continue
        if words.casefold() in _ARTICLES:
            following = tokens[occurrence.end].text().casefold() if occurrence.end < len(tokens) else "."
            if following[0].isalpha() and following not in _AFTER_A_VALUE:
                continue
        found.append((first.match.start(), last.match.end(), float(occurrence.value), occurrence.text))
    return tuple(found)


_GRAMS_COMPACT = re.compile(r"(?<![\w/,.])(\d)g(\d{1,2})(?![\w/]|[.,]\d)", re.IGNORECASE)
"""A concentration in grams written the French way, without a decimal comma: "1g35", "0g92", "2g1"."""
_GRAMS_WORD = re.compile(r"\s+grammes?\s+", re.IGNORECASE)
_ONE = re.compile(r"(?<!\w)une?(?!\w)", re.IGNORECASE)


def gram_values(text: str) -> tuple[tuple[int, int, str], ...]:
    """Concentrations in grams per litre said or written as grams then hundredths: "1g35", "un gramme
    trente-cinq", "deux grammes dix", "zéro gramme quatre-vingt-douze", "un gramme zéro cinq" (how a glycaemia
    or an LDL is dictated): ``(start, end, "1,35 g/L")``. One figure after the grams is tenths ("1g5" = 1,5)."""
    found = [(m.start(), m.end(), f"{m.group(1)},{m.group(2)} g/L") for m in _GRAMS_COMPACT.finditer(text)]
    if "gramme" not in text.casefold():
        return tuple(found)
    spelled = [(s, e, v) for s, e, v, _ in spelled_numbers(text) if v.is_integer()]
    units = [(s, e, v) for s, e, v in spelled if v < 10] + [
        (m.start(), m.end(), 1.0) for m in _ONE.finditer(text)
    ]
    following = {s: (e, v) for s, e, v in spelled if v < 100}
    for start, end, grams in units:
        link = _GRAMS_WORD.match(text, end)
        if link is None or link.end() not in following:
            continue
        last, hundredths = following[link.end()]
        # "zéro cinq" is read by text2num as one number, "05"
        zero = text[link.end() : last].casefold().startswith(("zéro", "zero"))
        digits = f"{int(hundredths):02d}" if zero or hundredths >= 10 else f"{int(hundredths)}"
        found.append((start, last, f"{int(grams)},{digits} g/L"))
    return tuple(sorted(found))


_NEXT_WORD = re.compile(r"[ \t]+([^\W\d_][\w'’-]*)")
_INVARIABLE = frozenset(
    """pas sans dans puis depuis plus moins tres apres des vers sous alors mais lors jamais toujours parfois
    ailleurs desormais ans points pts bras corps pouls temps poids dos cas avis repos progres index thorax flux
    reflux toux voix""".split()  # noqa: SIM905
)
"""Invariable words ending in -s or -x that may follow a number (folded): adverbs, prepositions, conjunctions,
and nouns a value is written with or next to ("4 points", "NIHSS 2 bras gauche")."""


def counts_things(text: str, end: int, value: str) -> bool:
    """Whether the number ending at ``end`` of ``text`` (its value ``value``) counts what the plural word right
    after it names: "deux nouvelles crises", "trois passages", "2 appels" (a French cardinal of two or more
    agrees with its noun). An invariable word ending in -s or -x ("sans", "depuis", "points", "bras") is no
    plural; a word on the next line is another statement."""
    from clinrag.text.folding import fold

    try:
        if float(value) < 2:
            return False
    except ValueError:
        return False
    match = _NEXT_WORD.match(text, end)
    if match is None:
        return False
    word = fold(match.group(1), "plain")
    return len(word) > 2 and word.endswith(("s", "x")) and word not in _INVARIABLE
