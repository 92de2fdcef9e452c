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
    """French function words (spaCy's list), folded."""
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(_words(STOP_WORDS))


@cache
def medical_words() -> frozenset[str]:
    """Folded words (3+ letters) of the CIM-10 labels of diseases (chapters A to T), the ATC drug list (molecules
    and brands) that edsnlp ships and clinrag's stroke lexicons, function words and the words of administrative blocks
    (``sections.yaml``: titles, roles, services) left out, and of the protected clinical terms."""
    from edsnlp import BASE_DIR

    from clinrag.pseudo.vocabulary import protected_terms
    from clinrag.text.entities import CIM10_KEY, cim10_terms
    from clinrag.text.terminology import STROKE_LEXICONS, load_lexicon

    # the disease chapters (A to T): external causes and health-status factors are everyday words ("bâtiment")
    texts: list[str] = [
        term
        for key, terms in cim10_terms(heads=False).items()
        if key.removeprefix(CIM10_KEY)[:1] <= "T"
        for term in terms
    ]
    drugs = json.loads((BASE_DIR / "resources" / "drugs.json").read_text(encoding="utf-8"))
    texts += [name for names in drugs.values() for name in names]
    for name in STROKE_LEXICONS:
        texts += [
            term for concept in load_lexicon(f"embedded:{name}") for term in (concept.name, *concept.terms)
        ]
    # the words of administrative blocks (titles, roles, services: sections.yaml) are no medical signal
    from clinrag.pseudo.sections import vocabulary

    administrative = {
        word
        for key in ("identity_headings", "administrative", "letter", "roles")
        for phrase in vocabulary()[key]
        for word in phrase.split()
    }
    return frozenset((_words(texts) - stop_words() - administrative) | _words(protected_terms()))


@cache
def known_words() -> frozenset[str]:
    """Every folded word clinrag knows is not a name: medical words, stop words, the words of
    :mod:`clinrag.pseudo`'s lexicon that are never names (titles, services, clinical abbreviations) and French verb
    forms (edsnlp's conjugation table)."""
    import pandas as pd
    from edsnlp import BASE_DIR

    verbs = pd.read_csv(BASE_DIR / "resources" / "verbs.csv.gz", usecols=["verb", "term"])
    from clinrag.pseudo.vocabulary import common_words

    words = _words(verbs["term"]) | _words(verbs["verb"]) | set(common_words())
    return frozenset(medical_words() | stop_words() | words)
