"""Numbers and categories chosen among the candidates the rules propose, weighed by the cohort's own table.

On cohorts written by others the evidence is usually retrieved (recall@5 0.96-0.99) but not ranked first
(recall@1 0.72-0.81), and a note states several values of the same kind ("NIHSS 14 à l'arrivée, 6 à H24";
"glycémie 1,2 g/L", then a later control). The rules of :mod:`clinrag.generation.reader` (a term announces
the value, the clause names a timepoint, a category's value is named and affirmed) used to decide: a wrong rule
for a cohort could not be corrected. Here they only propose:

* every value of the variable's type written in the top passages (integers and numbers in range, durations
  left out, a scale's values only where a term of the scale stands in their clause and, unless the term announces
  them, not where they count something, "deux nouvelles crises"; categories named by one of their wordings) is a
  **candidate**;
* each candidate is described by what the rules say of it (announced by a term, at which timepoint, negated...),
  by where it was found (the passage's retrieval rank, the document's place in the patient's timeline against
  the variable's timepoint) and by how many passages state it;
* a logistic regression (scikit-learn), fitted on the train split's candidates labelled by the table alone
  (a candidate is positive when it equals the patient's table cell), weighs them; its features are shared
  by every variable and repeated per variable (each variable can depart from the shared weights where its own
  cells show it, as in Daumé's feature augmentation);
* the best candidate answers when its probability reaches the variable's threshold, chosen by cross-validation
  over the train patients; otherwise, or without candidates, the cell gets the most common train cell among the
  cells so left (usually "non documenté"), and the provenance says so (``answered_by``).

Only the table of the train split is read (never the gold evidence). Used with ``reader.values: candidates``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clinrag.data.variables import Variable
from clinrag.io import atomic_write_json, read_optional_json
from clinrag.text.annotate import Mention
from clinrag.text.numbers import counts_things
from clinrag.text.passages import Passage
from clinrag.text.timepoints import TIMEPOINT_DAYS, follow_up_window, timepoint_label

CANDIDATE_TYPES = ("integer", "number", "category")
"""Types chosen among candidates. Dates too with ``reader.dates: candidates``
(:func:`clinrag.generation.reader.candidate_types`). Booleans have their qualifier model
(:mod:`clinrag.generation.priors`), free text the decoder."""

VALUES_FILE = "values.json"
VERSION = 7
"""Bump when what :func:`learn_value_model` learns changes: the run's cache key holds it (2: thresholds from the
middle of the best ones, not the lowest; 3: "72a" is an age in years; 4: the patient's death a feature, and
the deceased's fallbacks; a number's fallback only the value most of its cells hold; 5: a scale's values only
where its name stands in their clause; 6: nor a number that counts things, unless the scale's name announces
it; 7: the fallback of a living patient's cell without any candidate learned apart)."""
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))
"""Thresholds tried per variable in the cross-validation."""
MIN_PATIENTS_CV = 4
"""Fewer train patients than this: no cross-validation, threshold 0."""

# Days since the patient's first document at which a timepoint's values are written, where a timepoint implies
# them: arrival and the day after it, the follow-up visits (:func:`follow_up_window`).
_NEAR_DAYS = {"admission": (0.0, 1.5), "24 heures": (0.0, 3.0), "avant l'AVC": (0.0, 2.0)}

_UNIT_AFTER = re.compile(
    r"\s?(mg/kg|mg/dl|mg/l|mg|kg|g/dl|g/l|mmol/l|[µu]mol/l|mmhg|ml|cm|mm|bpm|/min|ui/l|ui|%|°c?|ans?\b|années?"
    r"|mois\b|semaines?|jours?|heures?|h\b|min\b|points?\b|pts?\b)",
    re.IGNORECASE,
)
"""A unit written right after a number (French clinical notes: doses, weights, pressures, durations, scores)."""


_BOUND = re.compile(
    r"(?:[<>≤≥]=?|\bobjectifs?|\bcibles?|\binf[ée]rieure?s? [àa]|\bsup[ée]rieure?s? [àa]|\bmoins de|\bseuil)"
    r"\s*(?:de|d'|à|a|:)?\s*$",
    re.IGNORECASE,
)
"""A bound, not a measurement, before a number: a target ("objectif LDL < 0,55 g/L"), a threshold ("glycémie
supérieure à 1,8 g/L"). Its candidate says so (feature ``bound``)."""

_HEADING_END = re.compile(r":\s*$")
"""A line that introduces what follows ("Score de Rankin modifié :", "Scores :"): its words govern the values of
the lines below it."""

_LIST_ITEM = re.compile(r"\s*(?:[-–•*·]|\d{1,2}[.)])\s")
"""A line that is an item of a list ("- à 3 mois : 2", "• sortie : 1")."""

_OPENS_LINE = re.compile(r"[\s:=]*(?:(?:à|a|de|est|était|=)\s+)?$", re.IGNORECASE)
"""What may stand before a value that opens its line, whose label is then the line above ("mRS à 3 mois\n2",
a dictated "score de Rankin\nà deux")."""


def clause_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause of the value ``text[start:end]``: from the last sentence or line break before it to the first
    after it (:data:`~clinrag.text.timepoints.BOUNDARY`), taking in the lines that introduce it: a line ending
    with a colon right above it, or above the list whose item it is ("Rankin modifié :\n- à 3 mois : 2")."""
    from clinrag.text.timepoints import BOUNDARY

    breaks = [m.end() for m in BOUNDARY.finditer(text, 0, start)]
    left = breaks[-1] if breaks else 0
    after = BOUNDARY.search(text, end)
    right = after.start() if after else len(text)
    own_line = text.rfind("\n", 0, start) + 1
    item = _LIST_ITEM.match(text, own_line)
    if left == own_line > 0 and _OPENS_LINE.fullmatch(text[own_line:start]):
        left = text.rfind("\n", 0, own_line - 1) + 1  # the line above labels a value that opens its own
    while left > 0 and text[left - 1] == "\n":
        line_start = text.rfind("\n", 0, left - 1) + 1
        line = text[line_start : left - 1]
        if _HEADING_END.search(line):
            left = line_start
            break
        if not (item and _LIST_ITEM.match(line)):  # the items above it lead to their list's heading
            break
        left = line_start
    return left, right


def is_scale(var: Variable) -> bool:
    """Whether ``var`` is a score on a scale (an integer without a unit: NIHSS, Rankin, TICI...), whose values
    French notes write with the scale's name in the same clause ("NIHSS 12", "mRS à 2", "Rankin zéro")."""
    return var.type == "integer" and not var.unit


def term_in_clause(text: str, start: int, end: int, terms: list[tuple[int, int]]) -> bool:
    """Whether one of the variable's ``terms`` (spans of ``text``) stands in the clause of the value
    ``text[start:end]`` (:func:`clause_span`)."""
    left, right = clause_span(text, start, end)
    return any(left <= term_start and term_end <= right for term_start, term_end in terms)


_YEARS_SHORT = re.compile(r"a(?![\w'’])")
"""Telegraphic notes' age: "H 72a", "F 81a" (the "a" glued to the number)."""


def unit_after(text: str, end: int) -> str | None:
    """The unit written right after the number ending at ``end`` of ``text`` (lower case; "72a" reads "ans"), or
    None."""
    if _YEARS_SHORT.match(text, end):
        return "ans"
    match = _UNIT_AFTER.match(text, end)
    return match.group(1).lower() if match else None


def _own_units(var: Variable) -> set[str]:
    units = {u.lower() for u in [var.unit, *(var.unit_conversions or {})] if u}
    if any(u in ("ans", "an", "années", "année") for u in units):
        units |= {"ans", "an", "années", "année"}
    if var.type == "integer" and not var.unit:  # a score: "NIHSS 4 points"
        units |= {"points", "point", "pts", "pt"}
    return units


FEATURES = (
    "rank_first",
    "rank_inverse",
    "passages_stating",
    "stated_first_ranked",
    "announced",
    "term_in_passage",
    "first_in_passage",
    "values_in_passage",
    "timepoint_wanted",
    "timepoint_other",
    "timepoint_none",
    "days_in_window",
    "days_out_of_window",
    "first_document",
    "earliest_candidate",
    "latest_candidate",
    "log_days",
    "unit_written",
    "unit_own",
    "unit_other",
    "affirmed",
    "negated",
    "hypothetical",
    "family",
    "deceased",
    "bound",
    "date_same_day",
    "date_before",
    "date_near_start",
)
"""What describes a candidate (see :func:`candidates`). Category-only features are 0 for numbers and conversely."""


@dataclass
class Candidate:
    """One value a passage states for the variable.

    Attributes:
        cell: Its canonical cell.
        passage: Index of its passage among the request's (retrieval rank).
        start: Offset in the passage's text.
        end: End offset.
        features: :data:`FEATURES` -> value.
    """

    cell: str
    passage: int
    start: int
    end: int
    features: dict[str, float] = field(default_factory=dict)


def _window(var: Variable) -> tuple[float, float] | None:
    """Days since the first document in which the variable's timepoint lies, when it implies some."""
    label = timepoint_label(var.timepoint)
    if label in TIMEPOINT_DAYS:
        return follow_up_window(TIMEPOINT_DAYS[label])
    return _NEAR_DAYS.get(label or "")


def _date_features(cell: str, passage: Passage) -> dict[str, float]:
    """Where a date candidate stands against its note: the note's own day, before it, and within a day of the
    patient's first document (an onset, an admission)."""
    import datetime as dt

    try:
        day, written = dt.date.fromisoformat(cell), dt.date.fromisoformat(passage.date[:10])
    except ValueError:
        return {}
    offset = passage.days - (written - day).days  # days from the first document to the candidate date
    return {
        "date_same_day": float(day == written),
        "date_before": float(day < written),
        "date_near_start": float(-1.5 <= offset <= 1.0),
    }


def candidates(
    var: Variable, passages: list[Passage], mentions: list[list[Mention]], deceased: bool = False
) -> list[Candidate]:
    """Every value of ``var`` the passages (best ranked first) state, with its :data:`FEATURES` (``deceased``:
    the patient's record reports their death, :meth:`~clinrag.text.passages.PassageStore.deceased`).

    Integers and numbers: the values :func:`~clinrag.generation.reader.values_with_timepoints` finds in a
    passage (in range, durations left out), with whether a term of the variable announces them
    (:func:`~clinrag.generation.reader.attached`) and the timepoint their clause names against the variable's.
    Categories: the values named by one of their wordings, with edsnlp's qualifiers of the naming mention."""
    from clinrag.generation.reader import attached, values_with_timepoints

    wanted = timepoint_label(var.timepoint)
    window = _window(var)
    own = _own_units(var)
    found: list[Candidate] = []
    for rank, (passage, mentioned) in enumerate(zip(passages, mentions, strict=True)):
        mentioned = [m for m in mentioned if m.variable == var.name]
        base = {
            "deceased": float(deceased),
            "rank_first": float(rank == 0),
            "rank_inverse": 1.0 / (rank + 1),
            "term_in_passage": float(any(not m.value for m in mentioned)),
            "first_document": float(passage.doc_index == 0),
            "log_days": math.log1p(max(0.0, passage.days)) / math.log(366.0),
        }
        if window is not None:
            inside = window[0] <= passage.days <= window[1]
            base["days_in_window"] = float(inside)
            base["days_out_of_window"] = float(not inside)
        if var.type == "category":
            named = [m for m in mentioned if m.value]
            # one wording inside a longer one of the same value ("domicile" in "retour à domicile") is one
            # mention: the longer one, whose qualifiers edsnlp reads over the whole wording
            named = [
                m
                for m in named
                if not any(
                    o is not m
                    and o.value == m.value
                    and o.start <= m.start
                    and m.end <= o.end
                    and (o.end - o.start) > (m.end - m.start)
                    for o in named
                )
            ]
            for order, m in enumerate(named):
                found.append(
                    Candidate(
                        m.value,
                        rank,
                        m.start,
                        m.end,
                        {
                            **base,
                            "first_in_passage": float(order == 0),
                            "values_in_passage": 1.0 / len(named),
                            "affirmed": float(m.affirmed),
                            "negated": float(m.negated),
                            "hypothetical": float(m.hypothetical),
                            "family": float(m.family),
                        },
                    )
                )
            continue
        stated = values_with_timepoints(var, passage.text, passage.date)
        terms = [(m.start, m.end) for m in mentioned if not m.value]
        if is_scale(var):  # a score is written with its scale's name: "deux appels" is no Rankin
            stated = [v for v in stated if term_in_clause(passage.text, v[0], v[1], terms)]
        announced = attached(passage.text, terms, [(s, e) for s, e, *_ in stated])
        if is_scale(var):
            # nor is a number that counts something and that the scale's name does not announce ("à trois
            # mois deux nouvelles crises ... Rankin zéro", one dictated line)
            kept = [
                a or not counts_things(passage.text, v[1], v[3])
                for v, a in zip(stated, announced, strict=True)
            ]
            stated = [v for v, keep in zip(stated, kept, strict=True) if keep]
            announced = [a for a, keep in zip(announced, kept, strict=True) if keep]
        for order, ((start, end, answer, cell, label), is_announced) in enumerate(
            zip(stated, announced, strict=True)
        ):
            features = {
                **base,
                "announced": float(is_announced),
                "first_in_passage": float(order == 0),
                "values_in_passage": 1.0 / len(stated),
                "unit_written": float(any(c.isalpha() or c == "%" for c in answer)),
            }
            if _BOUND.search(passage.text[max(0, start - 25) : start]):
                features["bound"] = 1.0
            if var.type == "date":
                features.update(_date_features(cell, passage))
            unit = unit_after(passage.text, end)
            if unit == "ans" and _YEARS_SHORT.match(passage.text, end) and "ans" in own:
                features["announced"] = 1.0  # "H 72a": the telegraphic "a" is the age's own word, "ans"
            if unit is not None:
                mine = unit in own or any(unit.startswith(u) or u.startswith(unit) for u in own if len(u) > 2)
                features["unit_own" if mine else "unit_other"] = 1.0
            if wanted is not None:
                label = (label or "").casefold() or None
                features["timepoint_wanted"] = float(label == wanted.casefold())
                features["timepoint_other"] = float(label is not None and label != wanted.casefold())
                features["timepoint_none"] = float(label is None)
            found.append(Candidate(cell, rank, start, end, features))
    # what the candidates say together: how many passages state the same cell, where it stands in time
    by_cell: dict[str, set[int]] = {}
    for c in found:
        by_cell.setdefault(c.cell, set()).add(c.passage)
    days = [passages[c.passage].days for c in found]
    for c, day in zip(found, days, strict=True):
        ranks = by_cell[c.cell]
        c.features["passages_stating"] = len(ranks) / len(passages)
        c.features["stated_first_ranked"] = float(min(ranks) == c.passage)
        c.features["earliest_candidate"] = float(day == min(days))
        c.features["latest_candidate"] = float(day == max(days))
    return found


@dataclass
class ValueModel:
    """The weights that choose among candidates (see the module docstring).

    Attributes:
        variables: The variables the model reads (by name), each with its own copy of the features.
        coef: One weight per column of :meth:`row`.
        intercept: The regression's intercept.
        thresholds: Per variable, the probability the best candidate needs to answer.
        fallbacks: Per variable, the cell answered otherwise ("" = not documented).
        values: Per category variable, the values with an intercept of their own.
        fallbacks_deceased: Per variable, the fallback of the patients whose record reports their death, where
            the train table gives them one (a Rankin of 6 that no passage writes).
        fallbacks_bare: Per variable, the fallback of a living patient's cell no passage offers any candidate for,
            learned from the train cells without one: a value the train cells with weak candidates hold (a
            cohort whose every NIHSS is written) is not answered to a record that writes none. A model saved
            without it (VERSION < 7) answers ``fallbacks`` there.
    """

    variables: list[str]
    coef: list[float]
    intercept: float
    thresholds: dict[str, float]
    fallbacks: dict[str, str]
    values: dict[str, list[str]] = field(default_factory=dict)
    fallbacks_deceased: dict[str, str] = field(default_factory=dict)
    fallbacks_bare: dict[str, str] = field(default_factory=dict)

    def columns(self) -> list[str]:
        """The names of the regression's columns (for reading the weights)."""
        shared = list(FEATURES)
        own = [f"{f}@{v}" for v in self.variables for f in ("bias", *FEATURES)]
        cells = [f"value={c}@{v}" for v in self.variables for c in self.values.get(v, [])]
        return shared + own + cells

    def row(self, name: str, candidate: Candidate) -> list[float]:
        """The regression's input for a candidate of variable ``name``."""
        features = [candidate.features.get(f, 0.0) for f in FEATURES]
        own: list[float] = []
        for v in self.variables:
            own.extend([1.0, *features] if v == name else [0.0] * (len(FEATURES) + 1))
        cells = [
            1.0 if (v == name and candidate.cell == c) else 0.0
            for v in self.variables
            for c in self.values.get(v, [])
        ]
        return features + own + cells

    def probabilities(self, name: str, found: list[Candidate]) -> list[float]:
        """Each candidate's probability of being the table's cell."""
        import numpy as np

        if not found:
            return []
        rows = np.asarray([self.row(name, c) for c in found])
        logits = rows @ np.asarray(self.coef) + self.intercept
        return (1.0 / (1.0 + np.exp(-logits))).tolist()

    def choose(
        self,
        name: str,
        found: list[Candidate],
        probabilities: list[float] | None = None,
        deceased: bool = False,
    ) -> tuple[str, float, Candidate | None]:
        """``(cell, score, candidate)``: the most probable candidate when it reaches the variable's threshold,
        else the variable's fallback with no candidate, that of the deceased for a patient whose record reports
        their death (``probabilities``: :meth:`probabilities` when the caller has them already)."""
        if probabilities is None:
            probabilities = self.probabilities(name, found)
        if probabilities:
            best = _best(found, probabilities)
            if probabilities[best] >= self.thresholds.get(name, 0.0):
                return found[best].cell, probabilities[best], found[best]
        top = max(probabilities, default=0.0)
        if deceased and name in self.fallbacks_deceased:
            fallbacks = self.fallbacks_deceased
        elif not found and name in self.fallbacks_bare:
            fallbacks = self.fallbacks_bare
        else:
            fallbacks = self.fallbacks
        return fallbacks.get(name, ""), 1.0 - top, None

    def to_json(self) -> dict:
        return {"features": list(FEATURES), **asdict(self)}


def _best(found: list[Candidate], probabilities: list[float]) -> int:
    """The index of the most probable candidate, the best-ranked passage's on ties."""
    return max(range(len(found)), key=lambda i: (probabilities[i], -found[i].passage))


def _fit(rows: list[list[float]], labels: list[int]):
    from sklearn.linear_model import LogisticRegression

    if len(set(labels)) < 2:
        return None
    return LogisticRegression(C=1.0, max_iter=2000).fit(rows, labels)


def learn_value_model(
    table: dict[str, dict[str, str]],
    cells: list[tuple[str, Variable, list[Candidate]]],
    deceased: frozenset[str] | set[str] = frozenset(),
    seed: int = 0,
) -> ValueModel | None:
    """The :class:`ValueModel` of the cells ``(patient_id, variable, candidates)`` of the train split, labelled
    by ``table`` (``patient_id -> variable -> cell``); ``deceased``: the patients whose record reports their
    death, who get fallbacks of their own. None when no candidate equals a table cell."""
    import numpy as np

    names = sorted({var.name for _, var, _ in cells})
    kinds = {var.name: var.type for _, var, _ in cells}
    values = {
        var.name: list(var.values or []) for _, var, _ in cells if var.type == "category" and var.values
    }
    model = ValueModel(names, [], 0.0, {}, {}, values)
    rows, labels, groups = [], [], []
    for pid, var, found in cells:
        truth = table.get(pid, {}).get(var.name, "")
        for c in found:
            rows.append(model.row(var.name, c))
            labels.append(int(c.cell == truth))
            groups.append(pid)
    fitted = _fit(rows, labels)
    if fitted is None:
        return None
    model.coef, model.intercept = fitted.coef_[0].tolist(), float(fitted.intercept_[0])
    # thresholds and fallbacks from predictions on patients held out of the fit (grouped k-fold)
    patients = sorted({pid for pid, _, _ in cells})
    folds = min(5, len(patients))
    held: dict[int, tuple[str, float]] = {}  # cell index -> (best candidate's cell, its probability)
    if len(patients) >= MIN_PATIENTS_CV:
        order = np.random.default_rng(seed).permutation(len(patients))
        fold_of = {patients[i]: n % folds for n, i in enumerate(order)}
        for fold in range(folds):
            train_rows = [r for r, g in zip(rows, groups, strict=True) if fold_of[g] != fold]
            train_labels = [y for y, g in zip(labels, groups, strict=True) if fold_of[g] != fold]
            part = _fit(train_rows, train_labels)
            if part is None:
                continue
            fold_model = ValueModel(names, part.coef_[0].tolist(), float(part.intercept_[0]), {}, {}, values)
            for index, (pid, var, found) in enumerate(cells):
                if fold_of[pid] == fold and found:
                    probabilities = fold_model.probabilities(var.name, found)
                    best = _best(found, probabilities)
                    held[index] = (found[best].cell, probabilities[best])
    bare = {i for i, (_, _, found) in enumerate(cells) if not found}
    for name in names:
        mine = [(i, pid) for i, (pid, var, _) in enumerate(cells) if var.name == name]
        scored = []  # (cells right, threshold, fallbacks) for every threshold tried
        for threshold in THRESHOLDS:
            answered = {i for i, _ in mine if i in held and held[i][1] >= threshold}
            right = sum(held[i][0] == table.get(pid, {}).get(name, "") for i, pid in mine if i in answered)
            fallbacks = []  # the living's cells with candidates under the threshold, the deceased's, the living's
            for dead, unread in ((False, False), (True, None), (False, True)):  # cells without any candidate
                left = Counter(
                    table.get(pid, {}).get(name, "")
                    for i, pid in mine
                    if i not in answered
                    and (pid in deceased) == dead
                    and (unread is None or (i in bare) == unread)
                )
                fallback = max(left.items(), key=lambda kv: (kv[1], kv[0] == ""))[0] if left else None
                if fallback and kinds[name] != "category" and 2 * left[fallback] <= sum(left.values()):
                    # a score or a measure no passage states: only the value most of those cells hold (the
                    # deceased's Rankin of 6), not the most frequent of a spread of values
                    fallback = ""
                right += left.get(fallback, 0) if fallback is not None else 0
                fallbacks.append(fallback)
            scored.append((right, threshold, fallbacks))
        # the middle of the thresholds that do best: a table whose cells are always documented sets no lower
        # bound on its own, and the lowest threshold would then answer any number of any other text
        best = max(right for right, _, _ in scored)
        plateau = [(threshold, fallbacks) for right, threshold, fallbacks in scored if right == best]
        model.thresholds[name], (alive, dead, unwritten) = plateau[len(plateau) // 2]
        model.fallbacks[name] = alive if alive is not None else ""
        if dead is not None and dead != model.fallbacks[name]:
            model.fallbacks_deceased[name] = dead
        model.fallbacks_bare[name] = unwritten if unwritten is not None else ""
    return model


def save_value_model(model: ValueModel | None, folder: Path) -> None:
    """Write ``folder/values.json`` (``null`` when there is no model)."""
    atomic_write_json(Path(folder) / VALUES_FILE, model.to_json() if model else None)


def load_value_model(folder: Path) -> ValueModel | None:
    """Read ``folder/values.json`` (None when absent or ``null``)."""

    def parse(data: dict) -> ValueModel:
        if data.pop("features") != list(FEATURES):
            raise ValueError("other features")
        return ValueModel(**data)

    return read_optional_json(Path(folder) / VALUES_FILE, "a value model", parse)
