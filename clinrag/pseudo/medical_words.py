"""Which words French clinical text uses that are not names: the medical vocabulary edsnlp ships (CIM-10 labels,
its ATC drug list with brand names), clinrag's stroke lexicons and protected terms, French verb forms (edsnlp's
conjugation table) and stop words (spaCy). Adaptive masking (:mod:`clinrag.pseudo.adaptive`) masks a capitalized
word of a clinical section that none of these knows; the section rules (:mod:`clinrag.pseudo.sections`) count the
medical words of a block.
"""

from __future__ import annotations

import json
import re
from functools import cache

from clinrag.text.folding import fold as _fold

_LETTERS = re.compile(r"[a-z]{3,}")


def fold_word(word: str) -> str:
    """The form words are compared in: lower case, no accents, letters only ("Kardégic" -> "kardegic")."""
    return _fold(word, "ascii").replace(" ", "")


def _words(texts: object) -> set[str]:
    return {w for text in texts for w in _LETTERS.findall(_fold(str(text), "ascii"))}


@cache
def stop_words() -> frozenset[str]:
    """French function words (spaCy's list) and the words of :mod:`clinrag.pseudo`'s lexicon that are never names,
    folded."""
    from spacy.lang.fr.stop_words import STOP_WORDS

    from clinrag.pseudo.vocabulary import common_words

    return frozenset(_words(STOP_WORDS) | set(common_words()))


@cache
def medical_words() -> frozenset[str]:
    """Folded words (3+ letters, function words left out) of the CIM-10 labels, the ATC drug list (molecules and
    brands) that edsnlp ships, clinrag's stroke lexicons and protected clinical terms."""
    from edsnlp import BASE_DIR

    from clinrag.pseudo.vocabulary import protected_terms
    from clinrag.text.entities import cim10_terms
    from clinrag.text.terminology import STROKE_LEXICONS, load_lexicon

    texts: list[str] = [term for terms in cim10_terms(heads=False).values() for term in terms]
    drugs = json.loads((BASE_DIR / "resources" / "drugs.json").read_text(encoding="utf-8"))
    texts += [name for names in drugs.values() for name in names]
    for name in STROKE_LEXICONS:
        texts += [
            term for concept in load_lexicon(f"embedded:{name}") for term in (concept.name, *concept.terms)
        ]
    texts += list(protected_terms())
    return frozenset(_words(texts) - stop_words())


@cache
def known_words() -> frozenset[str]:
    """Every folded word clinrag knows is not a name: medical words, stop words and French verb forms
    (edsnlp's conjugation table)."""
    import pandas as pd
    from edsnlp import BASE_DIR

    verbs = pd.read_csv(BASE_DIR / "resources" / "verbs.csv.gz", usecols=["verb", "term"])
    return frozenset(medical_words() | stop_words() | _words(verbs["term"]) | _words(verbs["verb"]))
