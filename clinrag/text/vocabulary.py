"""What each variable is called in documents: read from its definition and learned from the table.

A registry's dictionary gives a variable's name, type, French description and perhaps a unit, values and a
timepoint, rarely the words notes use for it. clinrag builds each variable's vocabulary from three sources, and
every later stage (mentions, weak labels, retrieval cues, evidence marks, grounded answers) reads it:

1. **its definition**: the stroke-registry concepts (:data:`REGISTRY_LEXICON`, ``lexicons/registry.yaml``, each
   entry with its source) whose dictionary names appear in the variable's name or description give their terms,
   their category values' wordings and their unit conversions; a variable no concept matches is named by the
   content words of its description and name;
2. **the cohort's train split, under distant supervision** (:func:`learn_terms`): the words that set apart the
   passages stating a patient's table value from that patient's other passages (for numbers: the words that
   announce the table's value rather than other numbers; for booleans and categories: the words affirmed in the
   records of the patients with the value and not in the others');
3. the optional hints of variables.yaml (``keywords``, ``synonyms``, ``unit_conversions``), kept first.

:func:`build_vocabulary` returns a :class:`Vocabulary` (saved in a run as ``vocabulary.json``, shown by
``clinrag vocabulary``); :meth:`Vocabulary.apply` gives the variables with their terms filled in.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.text.folding import fold  # words joined by single spaces: "Pré-AVC" -> "pre avc"

REGISTRY_LEXICON = "registry"
"""The shipped concept lexicon (``clinrag/text/lexicons/registry.yaml``)."""

_WORD = re.compile(r"[^\W\d_][\w'’\-/.]*[^\W_]|[^\W\d_]", re.UNICODE)
_NEGATION = frozenset({"pas", "non", "sans", "absence", "aucun", "aucune", "ni", "jamais", "ø", "negatif"})
_GENERIC = frozenset(
    {
        # words of dictionary descriptions that name no concept of their own
        "score",
        "antecedent",
        "antecedents",
        "atcd",
        "patient",
        "patiente",
        "presence",
        "realise",
        "realisee",
        "valeur",
        "connu",
        "connue",
        "type",
        "oui",
        "non",
        "date",
        "lors",
        "cours",
        "moment",
        "mesure",
        "mesuree",
        "avc",
        "accident",
        "vasculaire",
        "cerebral",
        "hospitalisation",
        "sejour",
        "unite",
        "neurovasculaire",
        "unv",
        "etat",
        "apres",
        "avant",
        "jour",
        "jours",
        "mois",
        "an",
        "ans",
        "heure",
        "heures",
    }
)


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(fold(w) for w in STOP_WORDS) | {"l", "d", "j", "qu", "n", "s", "c", "m"}


# ---- the concept lexicon ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConceptValue:
    """One value of a category concept: how dictionaries code it (``names``) and how notes write it."""

    names: tuple[str, ...]
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Concept:
    """A stroke-registry concept of :data:`REGISTRY_LEXICON`."""

    id: str
    types: tuple[str, ...]
    source: str
    names: tuple[str, ...]
    terms: tuple[str, ...]
    values: dict[str, ConceptValue] = field(default_factory=dict)
    unit: str | None = None
    conversions: dict[str, float] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    """For a treatment: terms of the finding it treats (a thrombectomy, an arterial occlusion)."""


def lexicon_file(name: str = REGISTRY_LEXICON) -> Path:
    """The shipped lexicon ``name`` or a path to a YAML file of the same shape.

    Raises:
        ClinragError: No such lexicon.
    """
    if Path(name).suffix in (".yaml", ".yml"):
        path = Path(name)
    else:
        path = Path(str(importlib.resources.files("clinrag.text").joinpath("lexicons", f"{name}.yaml")))
    if not path.is_file():
        raise ClinragError(f"vocabulary.lexicon: {name}: no such lexicon (`registry` or a YAML file)")
    return path


@functools.lru_cache(maxsize=8)
def load_concepts(name: str = REGISTRY_LEXICON) -> tuple[Concept, ...]:
    """The concepts of a lexicon file (see ``lexicons/registry.yaml`` for its shape)."""
    path = lexicon_file(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ClinragError(f"{path}: not a readable YAML lexicon ({type(exc).__name__})") from None
    concepts = []
    for item in data.get("concepts", []):
        values = {
            str(code): ConceptValue(tuple(v.get("names", [])), tuple(v.get("terms", [])))
            for code, v in (item.get("values") or {}).items()
        }
        concepts.append(
            Concept(
                id=item["id"],
                types=tuple(item.get("types", [])),
                source=item.get("source", ""),
                names=tuple(str(n) for n in item.get("names", [])),
                terms=tuple(str(t) for t in item.get("terms", [])),
                values=values,
                unit=item.get("unit"),
                conversions={str(k): float(v) for k, v in (item.get("conversions") or {}).items()},
                requires=tuple(str(t) for t in item.get("requires", []) or []),
            )
        )
    return tuple(concepts)


def _contains(haystack: str, needle: str) -> bool:
    """Whether the folded ``needle`` stands in the folded ``haystack`` as whole words."""
    needle = fold(needle)
    return bool(needle) and f" {needle} " in f" {haystack} "


def matching_concepts(var: Variable, concepts: tuple[Concept, ...] | None = None) -> list[Concept]:
    """The concepts a variable's definition names, for its type: every concept one of whose ``names`` stands in
    the variable's name (snake_case read as words); when none, the one with the longest name standing in its
    description."""
    concepts = load_concepts() if concepts is None else concepts
    name = fold(var.name.replace("_", " "))
    description = fold(var.description)
    typed = [c for c in concepts if not c.types or var.type in c.types]
    in_name = [c for c in typed if any(_contains(name, n) for n in c.names)]
    if in_name:
        return in_name
    scored = [
        (max((len(fold(n)) for n in c.names if _contains(description, n)), default=0), c) for c in typed
    ]
    best = max((score for score, _ in scored), default=0)
    return [c for score, c in scored if score and score == best][:1]


def _match_value(code: str, concept: Concept) -> ConceptValue | None:
    """The value of ``concept`` that a dictionary's value ``code`` names ("ssr", "H", "cardio_embolique")."""
    folded = fold(code.replace("_", " "))
    for value in concept.values.values():
        if any(fold(n) == folded for n in value.names):
            return value
    for value in concept.values.values():  # "retour_domicile" names domicile, "autre_hopital" autre hôpital
        if any(len(fold(n)) > 2 and _contains(folded, n) for n in value.names):
            return value
    return None


def description_terms(var: Variable) -> list[str]:
    """The content words of a variable's description and name, for a variable no concept matches: neither
    stop words, nor words every registry description uses ("score", "antécédent"), nor timepoint cues."""
    from clinrag.text.timepoints import TIMEPOINT_PATTERNS

    words: list[str] = []
    text = f"{var.description} {var.name.replace('_', ' ')}"
    for word in re.findall(r"[^\W\d_][\w\-]*", text):
        key = fold(word)
        if len(key) < 3 or key in _stop_words() or key in _GENERIC or key in (fold(w) for w in words):
            continue
        if any(p.fullmatch(word) for p in TIMEPOINT_PATTERNS):
            continue
        words.append(word)
    return words[:6]


def _conversions(var: Variable, concept: Concept) -> dict[str, float]:
    """The concept's units converted into the variable's unit (factor into ``var.unit``)."""
    if not var.unit or not concept.conversions:
        return {}
    by_unit = {fold(u): factor for u, factor in concept.conversions.items()}
    own = by_unit.get(fold(var.unit))
    if own is None:
        return {}
    return {
        unit: round(factor / own, 6)
        for unit, factor in concept.conversions.items()
        if fold(unit) != fold(var.unit)
    }


# ---- learning from the table -------------------------------------------------------------------------------
@dataclass
class LearnedTerm:
    """A term learned for a variable (or one of its category values) from the train split.

    Attributes:
        term: The words as written most often.
        support: Patients whose records support it.
        score: Precision (numbers: share of its announced numbers that were the table's value) or the gap in
            the share of records holding it (booleans, categories: patients with the value minus the others).
    """

    term: str
    support: int
    score: float


def _tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text)]


def _ngrams(tokens: list[tuple[int, int, str]], text: str, longest: int) -> list[tuple[str, str]]:
    """(folded, as written) contiguous n-grams of ``tokens`` (no clause boundary between their words)."""
    from clinrag.text.timepoints import BOUNDARY

    grams = []
    for i in range(len(tokens)):
        for n in range(1, longest + 1):
            if i + n > len(tokens):
                break
            start, end = tokens[i][0], tokens[i + n - 1][1]
            if n > 1 and BOUNDARY.search(text, tokens[i + n - 2][1], tokens[i + n - 1][0]):
                break
            written = text[start:end]
            grams.append((fold(written), written))
    return grams


def _useful(folded: str) -> bool:
    """Whether an n-gram can name a concept: not stop words or timepoint cues at either end, not one letter."""
    from clinrag.text.timepoints import TIMEPOINT_PATTERNS

    words = folded.split()
    if not words or len(folded) < 2 or words[0] in _stop_words() or words[-1] in _stop_words():
        return False
    if words[0] in _NEGATION or all(w in _GENERIC for w in words):
        return False
    return not any(p.search(folded) for p in TIMEPOINT_PATTERNS)


def _affirmed_grams(text: str, longest: int = 2) -> set[str]:
    """The folded n-grams of ``text`` not preceded by a negation within their clause's three previous words."""
    from clinrag.text.timepoints import BOUNDARY

    found: set[str] = set()
    tokens = _tokens(text)
    for i in range(len(tokens)):
        window = []
        for j in range(i - 1, max(-1, i - 4), -1):
            if BOUNDARY.search(text, tokens[j][1], tokens[j + 1][0]):
                break
            window.append(fold(tokens[j][2]))
        if any(w in _NEGATION for w in window):
            continue
        for folded, _ in _ngrams(tokens[i : i + longest], text, longest)[:longest]:
            if _useful(folded):
                found.add(folded)
    return found


def _contrast(
    presence: dict[str, set[str]], positive: set[str], negative: set[str], known: set[str], most: int
) -> list[LearnedTerm]:
    """The n-grams present in many of the ``positive`` patients' records and few of the ``negative`` ones'."""
    if len(positive) < 3 or len(negative) < 3:
        return []
    counts: Counter[str] = Counter()
    for pid in positive:
        counts.update(presence.get(pid, ()))
    floor = max(3, math.ceil(0.3 * len(positive)))
    learned = []
    for gram, hits in counts.items():
        if hits < floor or gram in known:
            continue
        share = hits / len(positive)
        other = sum(1 for pid in negative if gram in presence.get(pid, ())) / len(negative)
        if share - other >= 0.5 and other <= 0.1:
            learned.append(LearnedTerm(gram, hits, round(share - other, 3)))
    learned.sort(key=lambda t: (-t.score, -t.support, t.term))
    return _without_overlaps(learned)[:most]


def _without_overlaps(terms: list[LearnedTerm]) -> list[LearnedTerm]:
    """Terms less those whose words stand inside a better-ranked term ("score nih" kept, "nih" then dropped)."""
    kept: list[LearnedTerm] = []
    for term in terms:
        if not any(_contains(k.term, term.term) or _contains(term.term, k.term) for k in kept):
            kept.append(term)
    return kept


def _announcing(var: Variable, text: str, cell: str) -> tuple[Counter[str], Counter[str], dict[str, str]]:
    """For a number variable: the words that announce each number of ``text`` — the one to three words just
    before it, stop words between them and the number skipped ("NIHSS initial à 7", "score de Rankin : 2") —
    counted when the number is the table's ``cell`` (first counter) or another one (second), with how each was
    written."""
    from clinrag.data.values import cells_match
    from clinrag.text.evidence import find_integers, find_numbers
    from clinrag.text.timepoints import BOUNDARY, without_durations

    if var.type == "integer":
        found = [(s, e, str(v)) for s, e, v in without_durations(text, find_integers(text), var.unit)]
    else:
        found = find_numbers(var, text)
    hit: Counter[str] = Counter()
    miss: Counter[str] = Counter()
    written: dict[str, str] = {}
    for start, _end, raw in found:
        try:
            matches = cells_match(var, cell, raw)
        except ValueError:
            continue
        left = text[max(0, start - 50) : start]
        boundaries = [m.end() for m in BOUNDARY.finditer(left)]
        left = left[boundaries[-1] :] if boundaries else left
        tokens = _tokens(left)
        skipped = 0
        while tokens and skipped < 2 and fold(tokens[-1][2]) in _stop_words():
            tokens.pop()
            skipped += 1
        grams = set()
        for n in range(1, 4):
            if len(tokens) < n:
                break
            piece = left[tokens[-n][0] : tokens[-1][1]]
            folded = fold(piece)
            if _useful(folded):
                grams.add(folded)
                written.setdefault(folded, piece)
        (hit if matches else miss).update(grams)
    return hit, miss, written


def learn_terms(
    documents: dict[str, list[str]],
    table: dict[str, dict[str, str]],
    var: Variable,
    known: set[str],
    most: int = 6,
) -> dict[str, list[LearnedTerm]]:
    """Terms of ``var`` learned from the train split: ``value -> terms`` ("" for the variable's own terms).

    Args:
        documents: ``patient_id -> texts`` of the train split's patients.
        table: Their table rows (canonical cells).
        var: The variable.
        known: Folded terms it already has (not learned again).
        most: At most this many terms per value.
    """
    cells = {pid: table.get(pid, {}).get(var.name, "") for pid in documents}
    labelled = [pid for pid, cell in cells.items() if cell]
    if var.type in ("integer", "number"):
        patients_hit: defaultdict[str, set[str]] = defaultdict(set)
        hits: Counter[str] = Counter()
        misses: Counter[str] = Counter()
        spelled: dict[str, Counter[str]] = defaultdict(Counter)
        for pid in labelled:
            for text in documents[pid]:
                hit, miss, written = _announcing(var, text, cells[pid])
                hits.update(hit)
                misses.update(miss)
                for gram in hit:
                    patients_hit[gram].add(pid)
                    spelled[gram][written[gram]] += 1
        floor = max(2, math.ceil(0.2 * len(labelled)))
        learned = []
        for gram, count in hits.items():
            precision = count / (count + misses[gram])
            redundant = any(_contains(gram, k) for k in known)  # "autonome, mRS" when "mRS" is known
            if len(patients_hit[gram]) >= floor and precision >= 0.5 and not redundant:
                learned.append(LearnedTerm(gram, len(patients_hit[gram]), round(precision, 3)))
        learned.sort(key=lambda t: (-t.support * t.score, t.term))
        return {"": [_as_written(t, spelled) for t in _without_overlaps(learned)[:most]]}
    if var.type not in ("boolean", "category"):
        return {}
    presence = {pid: set().union(*(_affirmed_grams(t) for t in documents[pid])) for pid in labelled}
    if var.type == "boolean":
        positive = {pid for pid in labelled if cells[pid] == "true"}
        return {"": _contrast(presence, positive, set(labelled) - positive, known, most)}
    result = {}
    for value in var.values or []:
        positive = {pid for pid in labelled if cells[pid] == value}
        result[value] = _contrast(presence, positive, set(labelled) - positive, known, most)
    return result


def _as_written(term: LearnedTerm, spelled: dict[str, Counter[str]]) -> LearnedTerm:
    if spelled.get(term.term):
        return LearnedTerm(spelled[term.term].most_common(1)[0][0], term.support, term.score)
    return term


# ---- the vocabulary of a cohort -----------------------------------------------------------------------------
@dataclass
class VariableVocabulary:
    """One variable's words, each with where it came from.

    Attributes:
        concepts: Ids of the lexicon concepts its definition names.
        terms: ``[term, source]``: source ``keywords``, ``lexicon:<concept>``, ``description`` or ``learned``.
        values: For a category: ``value -> [[term, source], ...]`` (its code and synonyms included).
        unit_conversions: Units it may be written in, with their factor into its unit.
        timepoint: The canonical timepoint its ``timepoint`` names (``clinrag.text.timepoints``), or None.
        learned: What the train split taught, with support and score (``value -> terms``).
        requires: For a boolean treatment, ``[term, source]`` of the finding it treats (the lexicon's
            ``requires``: an arterial occlusion for a thrombectomy); the boolean model weighs whether the
            passages affirm or rule it out (:mod:`clinrag.generation.priors`).
    """

    concepts: list[str] = field(default_factory=list)
    terms: list[list[str]] = field(default_factory=list)
    values: dict[str, list[list[str]]] = field(default_factory=dict)
    unit_conversions: dict[str, float] = field(default_factory=dict)
    timepoint: str | None = None
    learned: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requires: list[list[str]] = field(default_factory=list)


def _add(items: list[list[str]], words, source: str) -> None:
    seen = {fold(t) for t, _ in items}
    for word in words:
        if word.strip() and fold(word) not in seen:
            items.append([word, source])
            seen.add(fold(word))


def definition_vocabulary(var: Variable, concepts: tuple[Concept, ...] | None = None) -> VariableVocabulary:
    """A variable's vocabulary from its definition alone (its hints, then the lexicon, else its description)."""
    from clinrag.text.timepoints import timepoint_label

    matched = matching_concepts(var, concepts)
    vocab = VariableVocabulary(concepts=[c.id for c in matched], timepoint=timepoint_label(var.timepoint))
    _add(vocab.terms, var.keywords, "keywords")
    for concept in matched:
        _add(vocab.terms, concept.terms, f"lexicon:{concept.id}")
    if not matched:
        _add(vocab.terms, description_terms(var), "description")
    if var.type == "boolean":
        for concept in matched:
            _add(vocab.requires, concept.requires, f"lexicon:{concept.id}")
    if var.type == "category":
        for code in var.values or []:
            items: list[list[str]] = []
            _add(items, [code.replace("_", " ")], "value")
            _add(items, (var.synonyms or {}).get(code, []), "synonyms")
            for concept in matched:
                value = _match_value(code, concept)
                if value is not None:
                    _add(items, value.terms, f"lexicon:{concept.id}")
            vocab.values[code] = items
    if var.type in ("integer", "number"):
        for concept in matched:
            for unit, factor in _conversions(var, concept).items():
                vocab.unit_conversions.setdefault(unit, factor)
        vocab.unit_conversions.update(var.unit_conversions or {})
    return vocab


@dataclass
class Vocabulary:
    """Every variable's vocabulary (``name -> VariableVocabulary``), as a run saves it."""

    variables: dict[str, VariableVocabulary] = field(default_factory=dict)

    def apply(self, variables: list[Variable]) -> list[Variable]:
        """The variables with their vocabulary as ``keywords``, ``synonyms`` and ``unit_conversions`` (the fields
        the rest of clinrag reads); a variable it does not know is returned as it is."""
        result = []
        for var in variables:
            vocab = self.variables.get(var.name)
            if vocab is None:
                result.append(var)
                continue
            update: dict[str, Any] = {"keywords": [t for t, _ in vocab.terms]}
            if var.type == "category":
                update["synonyms"] = {
                    code: [t for t, source in items if source != "value"]
                    for code, items in vocab.values.items()
                }
            if var.type == "number" and vocab.unit_conversions:
                update["unit_conversions"] = dict(vocab.unit_conversions)
            result.append(var.model_copy(update=update))
        return result

    def requires(self) -> dict[str, list[str]]:
        """``variable -> terms`` of what each boolean treatment requires (only those that name some)."""
        return {name: [t for t, _ in v.requires] for name, v in self.variables.items() if v.requires}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``vocabulary.json``)."""
        return {"variables": {name: asdict(v) for name, v in self.variables.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabulary:
        """The inverse of :meth:`to_json`."""
        return cls({name: VariableVocabulary(**v) for name, v in data.get("variables", {}).items()})


def _needs_learning(vocab: VariableVocabulary, value: str) -> bool:
    """Whether a boolean (``value`` "") or a category value has no name but its own code and description words."""
    items = vocab.terms if value == "" else vocab.values.get(value, [])
    return not any(source.startswith(("lexicon:", "keywords", "synonyms")) for _, source in items)


def build_vocabulary(
    variables: list[Variable],
    documents: dict[str, list[str]] | None = None,
    table: dict[str, dict[str, str]] | None = None,
    learn: bool = True,
    lexicon: str | None = REGISTRY_LEXICON,
) -> Vocabulary:
    """Each variable's vocabulary from its definition (read against ``lexicon``; None: no lexicon) and, with
    ``learn`` and a train split's ``documents`` and ``table``, from distant supervision (:func:`learn_terms`)."""
    concepts = load_concepts(lexicon) if lexicon else ()
    vocabulary = Vocabulary()
    for var in variables:
        vocab = definition_vocabulary(var, concepts)
        if learn and documents and table:
            known = {fold(t) for t, _ in vocab.terms}
            for items in vocab.values.values():
                known |= {fold(t) for t, _ in items}
            wanted = var.type in ("integer", "number") or any(
                _needs_learning(vocab, value) for value in ([""] if var.type == "boolean" else vocab.values)
            )
            enriched = Vocabulary({var.name: vocab}).apply([var])[0]
            learned = learn_terms(documents, table, enriched, known) if wanted else {}
            for value, terms in learned.items():
                if var.type in ("boolean", "category") and not _needs_learning(vocab, value):
                    # what sets a boolean's or a value's patients apart is mostly what goes with it ("mg/kg"
                    # with thrombolysis), not its name: learned only where the definition gives no name
                    continue
                if not terms:
                    continue
                vocab.learned[value] = [asdict(t) for t in terms]
                words = [t.term for t in terms]
                if value == "":
                    _add(vocab.terms, words, "learned")
                elif value in vocab.values:
                    _add(vocab.values[value], words, "learned")
        vocabulary.variables[var.name] = vocab
    return vocabulary
