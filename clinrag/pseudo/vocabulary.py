"""Word lists shipped with the package (protected clinical vocabulary, first names, common words) and the
accent- and case-insensitive matching they need."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml

from clinrag.text.folding import fold_chars as fold  # offsets kept: one character per character

_PACKAGE = "clinrag.pseudo"

# Letters of the Latin alphabets, for the patterns of names and places: ASCII, Latin-1, Latin Extended-A/B and
# Additional (Vietnamese), so that "Szymański", "Kovačević", "Nguyễn" or "Ó Súilleabháin" are words like "Dupont".
# Built from Unicode's case properties; characters only (no ranges), for use inside a regex character class.
_LATIN = [chr(code) for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)) if chr(code).isalpha()]
UPPER = "A-Z" + "".join(c for c in _LATIN if c.isupper())
LOWER = "a-z" + "".join(c for c in _LATIN if c.islower())
LETTER = UPPER + LOWER


def _load(name: str) -> dict[str, list[str]]:
    """Read one of the package's YAML files: lists of words under a few keys.

    Raises:
        TypeError: An entry is not a string (YAML reads a bare ``on`` or ``no`` as a boolean: quote it).
    """
    with resources.files(_PACKAGE).joinpath(name).open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    for key, words in data.items():
        for word in words:
            if not isinstance(word, str):
                raise TypeError(f"{name}: '{key}' holds {word!r}, not a string (quote it)")
    return data


@cache
def protected_terms() -> tuple[str, ...]:
    """Every protected term (eponyms, scores, drugs), folded, longest first."""
    data = _load("protected.yaml")
    terms = {fold(term) for group in data.values() for term in group}
    return tuple(sorted(terms, key=lambda t: (-len(t), t)))


@cache
def first_names() -> frozenset[str]:
    """Common French first names, folded."""
    return frozenset(fold(name) for name in _load("lexicon.yaml")["first_names"])


@cache
def common_words() -> frozenset[str]:
    """Words that are never part of a person's name (titles, function words, services...), folded."""
    return frozenset(fold(word) for word in _load("lexicon.yaml")["common_words"])


@cache
def cities() -> tuple[str, ...]:
    """French cities, as written (capitalized, with accents and hyphens)."""
    return tuple(_load("lexicon.yaml")["cities"])


@cache
def _protected_pattern() -> re.Pattern[str]:
    alternatives = "|".join(re.escape(term) for term in protected_terms())
    # Word boundaries that also treat "-" as part of a word, so that "Spetzler" does not protect
    # "Spetzler-Dupont" half-way, and "Barré" inside "Guillain-Barré" is matched by the longer term first.
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


def protected_ranges(text: str) -> list[tuple[int, int]]:
    """The character ranges of ``text`` holding a protected clinical term (case- and accent-insensitive)."""
    return [(m.start(), m.end()) for m in _protected_pattern().finditer(fold(text))]


def is_protected(word: str) -> bool:
    """Whether ``word`` (a single token or compound) is, as a whole, a protected clinical term."""
    return _protected_pattern().fullmatch(fold(word)) is not None
