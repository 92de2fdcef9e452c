"""Text folding: the one place where case, accents and punctuation are folded before two texts are compared.

Every fold starts from :func:`strip_accents` (Unicode NFKD, combining marks dropped) and ``casefold``; they
differ in what they do with what is left, and each is what one family of callers has always compared on:

* :func:`fold` with ``style``:

  - ``"plain"``: only that ("Pré-AVC" -> "pre-avc"): the masked report's words;
  - ``"words"`` (default): the words (runs of letters and digits, any script) joined by single spaces
    ("Pré-AVC l’an" -> "pre avc l an"): a variable's terms and names (:mod:`clinrag.text.vocabulary`,
    :mod:`clinrag.experiment.transfer`);
  - ``"ascii"``: every run of characters other than ASCII letters and digits one space, ends trimmed ("cœur"
    -> "c ur"): terminology terms and mentions (:mod:`clinrag.text.terminology`);
  - ``"value"``: ``_`` and ``-`` as spaces, whitespace collapsed, end punctuation trimmed, inner punctuation
    kept ("Non_documenté." -> "non documente"; "7,5" stays "7,5"): table cells, answers and category codes
    (:func:`clinrag.data.values.normalize_text`).

  They are not interchangeable: "ascii" drops the letters NFKD leaves non-ASCII ("œ", "ø", "ł") where "words"
  keeps them, and "value" keeps the punctuation a number or a date needs.

* Two folds of the same length, so that an offset found in the folded text indexes the original:

  - :func:`fold_same_length`: NFKD, marks dropped, ``lower``, over the whole text; the raw text in lower case when
    that changes its length (a "ﬁ" ligature, a "½"): the date finder (:mod:`clinrag.text.dates`);
  - :func:`fold_chars`: character by character, the first code point of its NFD form in lower case, the character
    itself when that is not one character: identifier detection (:mod:`clinrag.pseudo`).

  They differ on compatibility characters ("²" is "2" for the first and stays "²" for the second; one "ﬁ" makes
  the first leave every accent of the text) and were kept apart: moving either to the other would change which
  dates or identifiers are found in such texts.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Literal

FoldStyle = Literal["plain", "words", "ascii", "value"]

_WORD = re.compile(r"[^\W_]+")
_NON_ASCII_WORD = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")
_END_PUNCTUATION = " .;:,!?\"'"


def strip_accents(text: str) -> str:
    """Remove combining accents: ``"Hémorragique"`` becomes ``"Hemorragique"``."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def fold(text: str, style: FoldStyle = "words") -> str:
    """``text`` without accents, case-folded, then folded as ``style`` says (see the module docstring)."""
    folded = strip_accents(text).casefold()
    if style == "words":
        return " ".join(_WORD.findall(folded))
    if style == "ascii":
        return _NON_ASCII_WORD.sub(" ", folded).strip()
    if style == "value":
        folded = _SPACES.sub(" ", folded.replace("_", " ").replace("-", " "))
        return folded.strip(_END_PUNCTUATION)
    if style == "plain":
        return folded
    raise ValueError(f"unknown fold style {style!r}")


def fold_same_length(text: str) -> str:
    """``text`` without accents and in lower case, of the same length so that offsets index ``text``; the raw
    text in lower case when a character decomposes into several."""
    folded = strip_accents(text).lower()
    return folded if len(folded) == len(text) else text.lower()


def fold_chars(text: str) -> str:
    """Lower-case ``text`` and strip its accents, keeping one character per character.

    Offsets into the folded text are offsets into the original, so a match found on folded text can be cut
    from the original directly (``"Lasègue"`` and ``"LASEGUE"`` both fold to ``"lasegue"``).
    """
    return "".join(_fold_char(c) for c in text)


@cache
def _fold_char(char: str) -> str:
    base = unicodedata.normalize("NFD", char)[0].lower()
    return base if len(base) == 1 else char
