"""What a cell is when its evidence does not mention the variable, learned from the train split's table.

A reader shown passages that never mention a boolean's or a category's terms can only guess, and a small decoder
guesses "oui" as readily as "non". Whether such a cell is empty ("non documenté") or, as some registries fill it,
"non" is a habit of the cohort's table, not of the text: it is learned from the train patients whose retrieved
passages (the same retriever, the same ``k``) mention nothing of the variable. The reader then answers that
cell, and says so in its provenance, instead of guessing (``reader.unmentioned: prior``).

Only the table of the train split is read. A variable with fewer than :data:`MIN_CELLS` such train cells keeps
its reader's answer.

The booleans go one step further (``reader.booleans: qualifiers``, :class:`BooleanModel`): their cell is read
from what edsnlp's qualifiers say of their mentions in the retrieved passages (affirmed, negated, hypothetical,
about a relative), weighed by a logistic regression fitted on the train split's table, so that the rules propose
and the cohort's own table decides how much each is worth, and what an unmentioned condition is.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.prompts import evidence_window
from clinrag.io import atomic_write_json
from clinrag.text.annotate import Annotator, Mention
from clinrag.text.passages import Passage

MIN_CELLS = 3
"""Train cells without a mention needed before their most common value stands for such cells."""

PRIORS_FILE = "priors.json"

PRIOR_TYPES = ("boolean", "category")
"""Types answered from their mentions. Integers, numbers and dates read with ``grounded`` are already answered
from the values the evidence writes, or "non documenté"."""


@dataclass(frozen=True)
class Prior:
    """The cell of a variable's unmentioned cells in the train split.

    Attributes:
        cell: The most common table cell of those cells ("" = not documented); ties go to "".
        share: The share of those cells that have it.
        cells: How many train cells had no mention in their passages.
    """

    cell: str
    share: float
    cells: int


def mentions_variable(
    var: Variable, passages: list[Passage], mentions: list[list[Mention]], max_chars: int
) -> bool:
    """Whether the part of the passages a reader sees (:func:`evidence_window`) mentions one of ``var``'s terms
    or values, whatever its qualifiers (a negated mention documents a "non")."""
    for passage, found in zip(passages, mentions, strict=True):
        found = [m for m in found if m.variable == var.name]
        begin, end = evidence_window(passage.text, found, max_chars)
        if any(begin <= m.start and m.end <= end for m in found):
            return True
    return False


def request_mentions(requests: list, max_passages: int | None) -> list[list[list[Mention]]]:
    """Each request's passages' mentions of its variable, annotated as the reader annotates them (one
    :class:`Annotator` per variable), each variable's passages in one batch."""
    by_variable: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        by_variable.setdefault(request.variable.name, []).append(index)
    found: list[list[list[Mention]]] = [[] for _ in requests]
    for indices in by_variable.values():
        var = requests[indices[0]].variable
        texts = [p.text for i in indices for p in requests[i].passages[:max_passages]]
        annotated = iter(Annotator([var]).annotate_texts(texts))
        for i in indices:
            found[i] = [next(annotated).mentions for _ in requests[i].passages[:max_passages]]
    return found


def learn_priors(
    cohort: Cohort,
    requests: list,
    max_passages: int | None,
    max_chars: int,
    mentions: list[list[list[Mention]]] | None = None,
) -> dict[str, Prior]:
    """The :class:`Prior` of each boolean and category variable, from ``requests`` (``CellRequest`` of the train
    split's patients, with their retrieved passages; ``mentions``: theirs, by :func:`request_mentions`) and the
    table. Variables with fewer than :data:`MIN_CELLS` unmentioned cells get none."""
    if cohort.table is None:
        raise ValueError("priors need a table")
    requests = [r for r in requests if r.variable.type in PRIOR_TYPES]
    if mentions is None:
        mentions = request_mentions(requests, max_passages)
    unmentioned: dict[str, Counter] = {}
    for request, found in zip(requests, mentions, strict=True):
        var = request.variable
        passages = request.passages[:max_passages]
        if not mentions_variable(var, passages, found, max_chars):
            cell = cohort.table.get(request.patient_id, {}).get(var.name, "")
            unmentioned.setdefault(var.name, Counter())[cell] += 1
    priors = {}
    for name, counts in unmentioned.items():
        total = sum(counts.values())
        if total < MIN_CELLS:
            continue
        cell, count = max(counts.items(), key=lambda item: (item[1], item[0] == ""))
        priors[name] = Prior(cell, round(count / total, 4), total)
    return priors


def save_priors(priors: dict[str, Prior], folder: Path) -> None:
    """Write ``folder/priors.json``."""
    atomic_write_json(folder / PRIORS_FILE, {name: asdict(prior) for name, prior in sorted(priors.items())})


def load_priors(folder: Path) -> dict[str, Prior]:
    """Read ``folder/priors.json`` (one clear error when it is not one)."""
    path = Path(folder) / PRIORS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: Prior(str(p["cell"]), float(p["share"]), int(p["cells"])) for name, p in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ClinragError(f"{path}: not a priors file written by clinrag ({error})") from None


# ---- booleans read from their mentions' qualifiers ------------------------------------------------------------
BOOLEAN_CELLS = ("true", "false", "")
QUALIFIER_FEATURES = ("affirmed", "negated", "hypothetical", "family", "first_affirmed", "first_negated")
BOOLEANS_FILE = "booleans.json"


def qualifier_features(var: Variable, passages: list[Passage], mentions: list[list[Mention]]) -> list[float]:
    """What the passages (best ranked first) say of a boolean's terms, by edsnlp's qualifiers: whether some
    mention is affirmed (not negated, hypothetical or about a relative), negated, hypothetical, about a relative,
    and the polarity of the first mention of the best-ranked passage that has one."""
    counts = dict.fromkeys(QUALIFIER_FEATURES, 0.0)
    first = None
    for found in mentions:
        for m in (m for m in found if m.variable == var.name and not m.value):
            if m.family:
                counts["family"] = 1.0
            elif m.hypothetical:
                counts["hypothetical"] = 1.0
            else:
                counts["negated" if m.negated else "affirmed"] = 1.0
                first = first or ("first_negated" if m.negated else "first_affirmed")
    if first:
        counts[first] = 1.0
    return [counts[name] for name in QUALIFIER_FEATURES]


@dataclass
class BooleanModel:
    """A multinomial logistic regression of a boolean's cell ("true", "false", "" = not documented) on its
    mentions' qualifiers in the passages retrieved (:func:`qualifier_features`) and the variable (one intercept
    each: a registry's habit for an unmentioned condition), fitted on the train split's table with
    scikit-learn. The rules propose (negation, hypothesis, family), the table weighs them."""

    variables: list[str]
    classes: list[str]
    coef: list[list[float]]
    intercept: list[float]

    def _row(self, name: str, features: list[float]) -> list[float]:
        return [*features, *(1.0 if name == v else 0.0 for v in self.variables)]

    def probabilities(self, name: str, features: list[float]) -> dict[str, float]:
        """``cell -> probability`` for a variable of the model (by name) given its features."""
        import numpy as np

        logits = np.asarray(self.coef) @ np.asarray(self._row(name, features)) + np.asarray(self.intercept)
        exp = np.exp(logits - logits.max())
        return dict(zip(self.classes, (exp / exp.sum()).tolist(), strict=True))

    def to_json(self) -> dict:
        return {"features": [*QUALIFIER_FEATURES], **asdict(self)}


def learn_boolean_model(
    cohort: Cohort,
    requests: list,
    max_passages: int | None,
    mentions: list[list[list[Mention]]] | None = None,
) -> BooleanModel | None:
    """The :class:`BooleanModel` of the boolean variables of ``requests`` (train-split ``CellRequest`` with their
    retrieved passages; ``mentions`` as for :func:`learn_priors`) and the table; None when there are fewer than
    :data:`MIN_CELLS` boolean cells or the table has a single kind of cell."""
    from sklearn.linear_model import LogisticRegression

    if cohort.table is None:
        raise ValueError("the boolean model needs a table")
    requests = [r for r in requests if r.variable.type == "boolean"]
    if mentions is None:
        mentions = request_mentions(requests, max_passages)
    booleans = sorted({r.variable.name for r in requests})
    rows, cells = [], []
    model = BooleanModel(booleans, [], [], [])
    for request, found in zip(requests, mentions, strict=True):
        var = request.variable
        passages = request.passages[:max_passages]
        rows.append(model._row(var.name, qualifier_features(var, passages, found)))
        cells.append(cohort.table.get(request.patient_id, {}).get(var.name, ""))
    if len(cells) < MIN_CELLS or len(set(cells)) < 2:
        return None
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit(rows, cells)
    coef, intercept = fitted.coef_.tolist(), fitted.intercept_.tolist()
    if len(fitted.classes_) == 2:  # scikit-learn keeps one row for two classes: the second against the first
        coef, intercept = [[-c for c in coef[0]], coef[0]], [-intercept[0], intercept[0]]
        coef = [[c / 2 for c in row] for row in coef]
        intercept = [i / 2 for i in intercept]
    return BooleanModel(booleans, [str(c) for c in fitted.classes_], coef, intercept)


def save_boolean_model(model: BooleanModel | None, folder: Path) -> None:
    """Write ``folder/booleans.json`` (``null`` when there is no model)."""
    atomic_write_json(folder / BOOLEANS_FILE, model.to_json() if model else None)


def load_boolean_model(folder: Path) -> BooleanModel | None:
    """Read ``folder/booleans.json`` (None when absent or ``null``)."""
    path = Path(folder) / BOOLEANS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data is None:
            return None
        if data["features"] != list(QUALIFIER_FEATURES):
            raise ValueError("other features")
        return BooleanModel(data["variables"], data["classes"], data["coef"], data["intercept"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ClinragError(f"{path}: not a boolean model written by clinrag ({error})") from None
