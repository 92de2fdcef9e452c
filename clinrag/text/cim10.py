"""The French CIM-10 (ICD-10) labels that edsnlp ships, as terms for clinrag's CIM-10 matcher: each code's long and
short labels and, for the disease chapters, the label's head as notes write it (``clinrag annotate``'s dictionary;
see :func:`cim10_terms`)."""

from __future__ import annotations

import re

CIM10_KEY = "cim10:"
_GENERIC_HEADS = frozenset(
    [
        "autre",
        "autres",
        "maladie",
        "maladies",
        "syndrome",
        "syndromes",
        "trouble",
        "troubles",
        "anomalie",
        "anomalies",
        "lesion",
        "lesions",
        "examen",
        "surveillance",
        "presence",
        "absence",
        "difficultes",
        "contact",
        "exposition",
        "personne",
        "sujet",
        "antecedents",
        "complication",
        "complications",
        "sequelles",
        "etat",
    ]
)
_QUALIFIER_TAIL = re.compile(
    r"\s+(?:sans précision|SAI|sans complication|non classée?s? ailleurs|non précisée?s?)$", re.IGNORECASE
)


def cim10_terms(heads: bool = True) -> dict[str, list[str]]:
    """The French CIM-10 labels that edsnlp ships, as matcher terms keyed ``cim10:CODE``.

    With ``heads``, each label of the disease chapters (codes A to T; external causes and health-status factors
    are no findings) also gives its head: the text before the first comma, parentheses dropped, a qualifying tail
    ("sans précision", "SAI", "non classé ailleurs") cut, kept when longer than 3 characters and not a generic
    word ("Autres", "Syndrome"). A head shared by several codes goes to the most general one (shortest code).
    """
    import pandas as pd
    from edsnlp import BASE_DIR

    from clinrag.data.values import strip_accents

    table = pd.read_csv(BASE_DIR / "resources" / "cim10.csv.gz", usecols=["code", "short", "long"])
    terms: dict[str, list[str]] = {}
    head_codes: dict[str, str] = {}
    for code, short, long in zip(table["code"], table["short"], table["long"], strict=True):
        terms[f"{CIM10_KEY}{code}"] = [long, short]
        if not heads or code[0] > "T":
            continue
        head = re.sub(r"\s*\([^()]*\)", "", long.split(",")[0]).strip()
        head = _QUALIFIER_TAIL.sub("", head).strip()
        key = strip_accents(head).lower()
        if len(head) <= 3 or key in _GENERIC_HEADS or head == long:
            continue
        if key not in head_codes or (len(code), code) < (len(head_codes[key]), head_codes[key]):
            head_codes[key] = code
            terms.setdefault(f"{CIM10_KEY}{code}", [long, short])
    by_code: dict[str, list[str]] = {}
    for key, code in head_codes.items():
        by_code.setdefault(code, []).append(key)
    for code, extra in by_code.items():
        terms[f"{CIM10_KEY}{code}"] = [*terms[f"{CIM10_KEY}{code}"], *extra]
    return terms
