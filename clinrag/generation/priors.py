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
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.prompts import evidence_window
from clinrag.io import atomic_write_json, read_optional_json
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


class MentionCache:
    """Each passage's qualified mentions of a variable (edsnlp), annotated once per (variable, passage) by one
    :class:`Annotator` per variable, both kept for the reader's life: ``cache(var, passages)``. ``kind`` tells
    apart another set of terms under the variable's name (``"requires"``: what it requires)."""

    def __init__(self) -> None:
        self._annotators: dict[str, Annotator] = {}
        self._seen: dict[tuple[str, str, int, int], list[Mention]] = {}

    def __call__(self, var: Variable, passages: list[Passage], kind: str = "") -> list[list[Mention]]:
        name = f"{var.name}\x00{kind}" if kind else var.name
        if name not in self._annotators:
            self._annotators[name] = Annotator([var])
        keys = [(name, p.doc_id, p.start, p.end) for p in passages]
        missing = [(key, p) for key, p in zip(keys, passages, strict=True) if key not in self._seen]
        if missing:
            annotated = self._annotators[name].annotate_texts([p.text for _, p in missing])
            for (key, _), annotation in zip(missing, annotated, strict=True):
                self._seen[key] = annotation.mentions
        return [self._seen[key] for key in keys]


def request_mentions(
    requests: list, max_passages: int | None, progress: bool = False
) -> list[list[list[Mention]]]:
    """Each request's passages' mentions of its variable, annotated as the reader annotates them (one
    :class:`Annotator` per variable), each variable's passages in one batch (a progress bar over the variables
    when ``progress``)."""
    from clinrag.progress import progress_bar

    by_variable: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        by_variable.setdefault(request.variable.name, []).append(index)
    found: list[list[list[Mention]]] = [[] for _ in requests]
    bar = progress_bar(by_variable.values(), enabled=progress, desc="annotating passages", unit="variable")
    for indices in bar:
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
WIDE_SUFFIX = "_wide"
BOOLEAN_FEATURES = (*QUALIFIER_FEATURES, *(f"{name}{WIDE_SUFFIX}" for name in QUALIFIER_FEATURES))
"""The qualifiers of the mentions in the passages the decoder would read (``retrieval.k``), then in the wider
set the candidate model reads (``reader.candidate_passages``): a condition often stated in the fourth passage
("DT2 sous metformine") is what the first one lacks."""
REQUIREMENT_FEATURES = ("requirement_affirmed", "requirement_ruled_out")
"""Whether the wider set of passages affirms what a treatment requires (the lexicon's ``requires``: an arterial
occlusion for a thrombectomy), or rules it out, affirms it nowhere and names no term of the treatment itself
("pas d'occlusion à l'angioscanner", "absence d'occlusion proximale" and no word of a thrombectomy): notes often
say why a procedure was not done without naming it. Whether a registry then codes the treatment "no" or leaves
it empty is its own habit, learned per variable (where the procedure is named, its own qualifiers say it)."""
OWN_FEATURES = ("former", f"former{WIDE_SUFFIX}", *REQUIREMENT_FEATURES)
"""Features weighed per variable: an affirmed mention of a condition said to be over ("ancien fumeur", "tabagisme
sevré", "ex-tabagique") means *no* for current smoking and little for a history of hypertension; what a
treatment requires, ruled out, may mean *no* for it (:data:`REQUIREMENT_FEATURES`), as the table says."""
BOOLEANS_FILE = "booleans.json"

_FORMER_BEFORE = re.compile(
    r"(?:\bancien(?:ne)?s?|\bex[- ]?|\barr[êe]t (?:du |de |d')?|\bsevrage (?:du |de |d')?|\bne\s+|\bn'a plus\s+"
    r"|arr[êe]t[ée] de\s+)\s*$",
    re.IGNORECASE,
)
_FORMER_AFTER = re.compile(
    r"^[^.;\n]{0,25}?\b(?<!non )(?:sevr[ée]e?s?|arr[êe]t[ée]e?s?|stopp[ée]e?s?|ancien(?:ne)?s?|pass[ée]e?s?|"
    r"interrompue?s?)\b",
    re.IGNORECASE,
)
"""French wordings of a risk factor that is over: before the term ("ancien fumeur", "ex-tabagique", "arrêt du
tabac", "a arrêté de fumer"; "ne fume plus": edsnlp reads no negation in "ne ... plus", the "plus" after the
term is checked by :func:`_former`), or in the words right after it ("tabagisme sevré depuis 2015", "tabac arrêté en 2010", "tabagisme
ancien")."""


def _former(text: str, start: int, end: int) -> bool:
    """Whether the mention ``text[start:end]`` is said to be over (:data:`_FORMER_BEFORE`, :data:`_FORMER_AFTER`)."""
    before = _FORMER_BEFORE.search(text[max(0, start - 12) : start])
    if before and before.group(0).casefold().startswith("ne"):  # "ne fume plus", not "ne fume que le soir"
        return text[end:].lstrip().casefold().startswith("plus")
    return bool(before or _FORMER_AFTER.search(text[end:]))


def qualifier_features(var: Variable, passages: list[Passage], mentions: list[list[Mention]]) -> list[float]:
    """What the passages (best ranked first) say of a boolean's terms, by edsnlp's qualifiers: whether some
    mention is affirmed (not negated, hypothetical or about a relative), negated, hypothetical, about a relative,
    and the polarity of the first mention of the best-ranked passage that has one."""
    return _qualifiers(var, passages, mentions)[0]


def _qualifiers(
    var: Variable, passages: list[Passage], mentions: list[list[Mention]]
) -> tuple[list[float], float]:
    """:func:`qualifier_features`, and whether every affirmed mention is said to be over (:func:`_former`)."""
    counts = dict.fromkeys(QUALIFIER_FEATURES, 0.0)
    first = None
    affirmed = former = 0
    for passage, found in zip(passages, mentions, strict=True):
        over_until = None  # end of the last mention said to be over: what follows in its clause is about it
        for m in sorted((m for m in found if m.variable == var.name and not m.value), key=lambda m: m.start):
            if m.family:
                counts["family"] = 1.0
            elif m.hypothetical:
                counts["hypothetical"] = 1.0
            else:
                counts["negated" if m.negated else "affirmed"] = 1.0
                first = first or ("first_negated" if m.negated else "first_affirmed")
                if not m.negated:
                    affirmed += 1
                    # "ancien tabagisme sevré depuis dix ans, 30 paquets-années": the quantity is the former one's
                    carried = (
                        over_until is not None
                        and m.start - over_until <= 60
                        and not re.search(r"[.;\n]", passage.text[over_until : m.start])
                    )
                    if carried or _former(passage.text, m.start, m.end):
                        former += 1
                        over_until = m.end
    if first:
        counts[first] = 1.0
    return [counts[name] for name in QUALIFIER_FEATURES], float(affirmed > 0 and former == affirmed)


def requirement_variable(var: Variable, terms: list[str] | None) -> Variable | None:
    """A variable whose terms are what the boolean ``var`` requires (``terms``), for an :class:`Annotator` of
    their mentions, or None when there are none."""
    if var.type != "boolean" or not terms:
        return None
    return var.model_copy(update={"keywords": list(terms), "synonyms": None})


def requirement_features(mentions: list[list[Mention]] | None, named: bool = False) -> dict[str, float]:
    """:data:`REQUIREMENT_FEATURES` of the mentions of what a treatment requires (:func:`requirement_variable`)
    in the passages: some affirmed; none affirmed, some negated and the treatment not ``named`` in the same
    passages. None (no such terms): both 0."""
    found = [m for passage in mentions or [] for m in passage if not m.family and not m.hypothetical]
    affirmed = any(not m.negated for m in found)
    return {
        "requirement_affirmed": float(affirmed),
        "requirement_ruled_out": float(not affirmed and not named and any(m.negated for m in found)),
    }


def boolean_features(
    var: Variable,
    passages: list[Passage],
    mentions: list[list[Mention]],
    wide: list[Passage] | None = None,
    wide_mentions: list[list[Mention]] | None = None,
    requirement_mentions: list[list[Mention]] | None = None,
) -> dict[str, float]:
    """:data:`BOOLEAN_FEATURES` by name: :func:`qualifier_features` of ``passages``, then of ``wide`` (more
    passages, best first; ``passages`` when None); with the own features: :data:`OWN_FEATURES`
    (``requirement_mentions``: those of what ``var`` requires in ``wide``, :func:`requirement_features`)."""
    if wide is None or wide_mentions is None:
        wide, wide_mentions = passages, mentions
    narrow, former = _qualifiers(var, passages, mentions)
    broad, former_wide = _qualifiers(var, wide, wide_mentions)
    features = dict(zip(BOOLEAN_FEATURES, [*narrow, *broad], strict=True))
    return {
        **features,
        "former": former,
        f"former{WIDE_SUFFIX}": former_wide,
        **requirement_features(requirement_mentions, named=any(broad)),
    }


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
    features: list[str] = field(default_factory=lambda: list(BOOLEAN_FEATURES))
    """The features it weighs, by name (models saved before the wide features weigh :data:`QUALIFIER_FEATURES`)."""
    own: list[str] = field(default_factory=lambda: list(OWN_FEATURES))
    """Features weighed per variable (none in models saved before them)."""
    requires: dict[str, list[str]] = field(default_factory=dict)
    """Per variable, the terms of what it requires (:data:`REQUIREMENT_FEATURES`), as the run's vocabulary had
    them: a fill reads the cohort's passages for the same terms."""

    def _row(self, name: str, features: dict[str, float]) -> list[float]:
        shared = [features[f] for f in self.features]
        intercepts = [1.0 if name == v else 0.0 for v in self.variables]
        own = [features[f] if name == v else 0.0 for v in self.variables for f in self.own]
        return [*shared, *intercepts, *own]

    def probabilities(self, name: str, features: dict[str, float]) -> dict[str, float]:
        """``cell -> probability`` for a variable of the model (by name) given its features
        (:func:`boolean_features`)."""
        import numpy as np

        logits = np.asarray(self.coef) @ np.asarray(self._row(name, features)) + np.asarray(self.intercept)
        exp = np.exp(logits - logits.max())
        return dict(zip(self.classes, (exp / exp.sum()).tolist(), strict=True))

    def requirement(self, var: Variable) -> Variable | None:
        """The :func:`requirement_variable` of ``var`` (by name) under this model."""
        return requirement_variable(var, self.requires.get(var.name)) if var.name in self.variables else None

    def to_json(self) -> dict:
        data = asdict(self)
        return {"features": data.pop("features"), "own": data.pop("own"), **data}


def requirement_mentions(
    requests: list, requires: dict[str, list[str]], progress: bool = False
) -> list[list[list[Mention]] | None]:
    """For each request (a ``CellRequest`` whose ``passages`` are read), the mentions of what its variable
    requires (``requires``: ``variable -> terms``) in each passage, or None for a variable that requires nothing."""
    wanted = []
    for request in requests:
        var = requirement_variable(request.variable, requires.get(request.variable.name))
        wanted.append(None if var is None else type(request)(request.patient_id, var, request.passages))
    found: list[list[list[Mention]] | None] = [None] * len(requests)
    indices = [i for i, r in enumerate(wanted) if r is not None]
    for i, mentions in zip(
        indices, request_mentions([wanted[i] for i in indices], None, progress), strict=True
    ):
        found[i] = mentions
    return found


def learn_boolean_model(
    cohort: Cohort,
    requests: list,
    max_passages: int | None,
    mentions: list[list[list[Mention]]] | None = None,
    wide_mentions: list[list[list[Mention]]] | None = None,
    requires: dict[str, list[str]] | None = None,
    required_mentions: list[list[list[Mention]] | None] | None = None,
) -> BooleanModel | None:
    """The :class:`BooleanModel` of the boolean variables of ``requests`` (train-split ``CellRequest`` with their
    retrieved passages, and their ``candidates`` passages when set; ``mentions`` as for :func:`learn_priors`,
    ``wide_mentions`` those of the ``candidates``) and the table; None when there are fewer than
    :data:`MIN_CELLS` boolean cells or the table has a single kind of cell. ``requires``: per variable, the
    terms of what it requires, whose mentions in the ``candidates`` passages are ``required_mentions`` (by
    :func:`requirement_mentions` when None)."""
    from sklearn.linear_model import LogisticRegression

    if cohort.table is None:
        raise ValueError("the boolean model needs a table")
    requests = [r for r in requests if r.variable.type == "boolean"]
    if mentions is None:
        mentions = request_mentions(requests, max_passages)
    booleans = sorted({r.variable.name for r in requests})
    requires = {name: list(terms) for name, terms in (requires or {}).items() if name in booleans and terms}
    rows, cells = [], []
    model = BooleanModel(booleans, [], [], [])
    if wide_mentions is None:
        wide_mentions = [None] * len(requests)
    if required_mentions is None:
        from clinrag.generation.base import CellRequest

        shown = [
            CellRequest(r.patient_id, r.variable, r.candidates if wide else r.passages[:max_passages])
            for r, wide in zip(requests, wide_mentions, strict=True)
        ]
        required_mentions = requirement_mentions(shown, requires)
    for request, found, wide, required in zip(
        requests, mentions, wide_mentions, required_mentions, strict=True
    ):
        var = request.variable
        passages = request.passages[:max_passages]
        features = boolean_features(
            var, passages, found, request.candidates if wide else None, wide, required
        )
        rows.append(model._row(var.name, features))
        cells.append(cohort.table.get(request.patient_id, {}).get(var.name, ""))
    if len(cells) < MIN_CELLS or len(set(cells)) < 2:
        return None
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit(rows, cells)
    coef, intercept = fitted.coef_.tolist(), fitted.intercept_.tolist()
    if len(fitted.classes_) == 2:  # scikit-learn keeps one row for two classes: the second against the first
        coef, intercept = [[-c for c in coef[0]], coef[0]], [-intercept[0], intercept[0]]
        coef = [[c / 2 for c in row] for row in coef]
        intercept = [i / 2 for i in intercept]
    return BooleanModel(
        booleans,
        [str(c) for c in fitted.classes_],
        coef,
        intercept,
        list(BOOLEAN_FEATURES),
        list(OWN_FEATURES),
        requires,
    )


def save_boolean_model(model: BooleanModel | None, folder: Path) -> None:
    """Write ``folder/booleans.json`` (``null`` when there is no model)."""
    atomic_write_json(folder / BOOLEANS_FILE, model.to_json() if model else None)


def load_boolean_model(folder: Path) -> BooleanModel | None:
    """Read ``folder/booleans.json`` (None when absent or ``null``)."""

    def parse(data: dict) -> BooleanModel:
        own = data.get("own", [])
        if data["features"] not in (list(QUALIFIER_FEATURES), list(BOOLEAN_FEATURES)) or any(
            f not in OWN_FEATURES for f in own
        ):
            raise ValueError("other features")
        return BooleanModel(
            data["variables"],
            data["classes"],
            data["coef"],
            data["intercept"],
            data["features"],
            own,
            {str(k): [str(t) for t in v] for k, v in (data.get("requires") or {}).items()},
        )

    return read_optional_json(Path(folder) / BOOLEANS_FILE, "a boolean model", parse)
