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
