"""Augmented training examples (the LLM-Augmenter of Truveta's "Structured LLM Augmentation for Clinical Information
Extraction", MedInfo 2025): new texts written from labelled ones, every labelled span kept, its offsets recomputed.

Both trained encoder uses build their examples here, as texts with labelled character spans (:class:`Labelled`):
the identifier model (:mod:`clinrag.pseudo.ner`: the gold identifier spans, kept verbatim) and the segment-BiLSTM
value reader (:mod:`clinrag.generation.segment`: each passage's stated values and the variable's mentions, which a
rule may rewrite as a whole when the value or the term stays the same: "1,2 g/L" as "1.2 g/l", "HTA" as
"hypertension artérielle"). :func:`augment` writes ``per_example`` variants of each text and keeps those that the
caller's ``check`` (the weak labeller that produced the label, run again on the new text) still accepts.

**Rule variants** (``method: rules``), each an edit of pieces of the text (:func:`rearranged`: a span inside a moved
or kept piece moves with it; a piece that replaces a span must replace it whole and the span's label must allow it;
any other overlap refuses the edit):

* ``abbreviation``: a French clinical abbreviation written out, or an expansion abbreviated, from clinrag's
  lexicons (the registry lexicon ``clinrag/text/lexicons/registry.yaml`` and the stroke lexicons of
  :mod:`clinrag.text.terminology`): within one concept's terms, an acronym (:func:`~clinrag.text.terminology.
  is_case_sensitive`: "HTA", "AVC", "DT2", "ACI") is paired with each term whose words' initials it spells
  ("hypertension artérielle", "accident vasculaire cérébral", "diabète de type 2", "artère carotide interne");
* ``accents``: accents dropped from some words and "œ" written "oe" (notes typed without accents);
* ``number``: a decimal comma written as a point or back ("1,2" and "1.2"), a litre unit in lower case or upper
  ("g/L", "g/l", "mmol/L"), a small whole number written in French words ("3" as "trois": the number words that
  clinrag's date reader knows, :data:`clinrag.text.dates.NUMBER_WORDS`, valued by ``text2num``) or back in figures;
* ``clause``: two neighbouring clauses of a line (separated by ". " or "; ") swapped, each clause's punctuation
  left in place;
* ``typo``: one letter dropped or two neighbouring letters swapped in a word of five letters or more that neither
  touches a labelled span nor is its neighbour.

A rules variant applies one or two of these kinds, drawn in a seeded order among those that apply to the text.

**Paraphrase** (``method: llm``): a local decoder (``decoder``: the embedded SmolLM2 here, a local 7B folder on a
server) rewrites the text, asked to copy the labelled strings unchanged; the answer is kept only when every
labelled string is still in it verbatim, in order (its new offsets are where it is found), else dropped.
``rules+llm`` makes ``per_example`` variants of each kind.

Determinism: a variant's random draws (and the decoder's sampling) come from ``seed``, the example's index and the
variant's number alone, so a seed gives the same examples whatever else runs.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from clinrag.encoders.data import LabeledSpan

Method = Literal["none", "rules", "llm", "rules+llm"]
RULE_KINDS = ("abbreviation", "accents", "number", "clause", "typo")
"""The rule edits, in the order :func:`rule_variant` draws them from."""
PARAPHRASE = "paraphrase"


class AugmentConfig(BaseModel):
    """How training examples are augmented (``training.augment`` of a run; ``augment.*`` of ``clinrag
    train-pseudo --set``)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = "none"
    """``none`` (the examples as built), ``rules`` (rule variants), ``llm`` (a decoder's paraphrases) or
    ``rules+llm`` (both)."""
    per_example: int = Field(1, ge=1, le=20)
    """Variants written per example (and per kind with ``rules+llm``); those the re-check refuses are dropped."""
    seed: int = 0
    """Seed of the rules' draws and the decoder's sampling."""
    decoder: str = "embedded:smollm2-135m-instruct"
    """The paraphrasing decoder (``llm``): ``embedded:smollm2-135m-instruct`` or a local folder."""
    max_new_tokens: int = Field(256, ge=16)
    """``llm``: the longest paraphrase, in tokens (and never more than twice the text's, plus 16)."""

    @property
    def active(self) -> bool:
        """Whether any example is written."""
        return self.method != "none"


@dataclass(frozen=True)
class Labelled:
    """A text and its labelled character spans (end exclusive), sorted by start."""

    text: str
    spans: tuple[LabeledSpan, ...]

    @classmethod
    def of(cls, text: str, spans: Sequence[tuple[int, int, str]]) -> Labelled:
        return cls(text, tuple(sorted(LabeledSpan(*s) for s in spans)))

    def strings(self) -> list[str]:
        """Each span's text, in order."""
        return [self.text[s.start : s.end] for s in self.spans]


class Piece(NamedTuple):
    """A piece of a rearranged text: the original ``[start, end)``, or ``text`` written in its place."""

    start: int
    end: int
    text: str | None = None


@dataclass(frozen=True)
class Variant:
    """An augmented example: the index of the example it was written from, its number among that example's
    variants (``0 .. per_example - 1``), the text, and the edits made."""

    source: int
    number: int
    example: Labelled
    kinds: tuple[str, ...]


@dataclass
class Augmented:
    """What :func:`augment` wrote: the variants kept, and how many were made and kept, by kind."""

    variants: list[Variant] = field(default_factory=list)
    made: int = 0
    kept: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    """Kind -> ``[made, kept]`` (a variant of two kinds counts for each)."""

    def count(self, kinds: Sequence[str], kept: bool) -> None:
        self.made += 1
        self.kept += kept
        for kind in kinds:
            tally = self.by_kind.setdefault(kind, [0, 0])
            tally[0] += 1
            tally[1] += kept

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts (a model card's ``augmentation``)."""
        return {
            "made": self.made,
            "kept": self.kept,
            "by_kind": {k: {"made": m, "kept": n} for k, (m, n) in sorted(self.by_kind.items())},
        }


# ---------------------------------------------------------------------------------------------------------------
# edits with offsets recomputed
# ---------------------------------------------------------------------------------------------------------------
def rearranged(
    example: Labelled, pieces: Sequence[Piece], rewritable: Callable[[str], bool]
) -> Labelled | None:
    """The text the ``pieces`` make, in their order, with every span's new offsets; None when a span is cut.

    A span lying inside a piece of the original moves with it; a span that a written piece replaces exactly keeps
    its label at the written text when ``rewritable(label)``; any other span the pieces do not carry whole (cut,
    partly replaced, dropped) refuses the edit.
    """
    text, placed = [], {}
    at = 0
    for piece in pieces:
        if piece.text is None:
            for i, span in enumerate(example.spans):
                if piece.start <= span.start and span.end <= piece.end and span.end > span.start:
                    placed[i] = LabeledSpan(
                        at + span.start - piece.start, at + span.end - piece.start, span.label
                    )
            written = example.text[piece.start : piece.end]
        else:
            written = piece.text
            for i, span in enumerate(example.spans):
                if (span.start, span.end) == (piece.start, piece.end) and rewritable(span.label):
                    placed[i] = LabeledSpan(at, at + len(written), span.label)
        text.append(written)
        at += len(written)
    if len(placed) != len(example.spans):
        return None
    return Labelled("".join(text), tuple(sorted(placed.values())))


def replaced(
    example: Labelled, edits: Sequence[tuple[int, int, str]], rewritable: Callable[[str], bool]
) -> Labelled | None:
    """``example`` with each ``(start, end, new text)`` written in place (non-overlapping edits), offsets recomputed
    (:func:`rearranged`); None when an edit cuts a span."""
    pieces, at = [], 0
    for start, end, new in sorted(edits):
        if start < at:
            return None
        if start > at:
            pieces.append(Piece(at, start))
        pieces.append(Piece(start, end, new))
        at = end
    if at < len(example.text):
        pieces.append(Piece(at, len(example.text)))
    if any(
        p.text is not None
        and any(
            p.start < s.end and s.start < p.end and (s.start, s.end) != (p.start, p.end)
            for s in example.spans
        )
        for p in pieces
    ):
        return None
    return rearranged(example, pieces, rewritable)


def _free(example: Labelled, start: int, end: int, rewritable: Callable[[str], bool]) -> bool:
    """Whether ``[start, end)`` may be rewritten: it overlaps no span, or is exactly a rewritable one."""
    for span in example.spans:
        if start < span.end and span.start < end:
            return (span.start, span.end) == (start, end) and rewritable(span.label)
    return True


# ---------------------------------------------------------------------------------------------------------------
# lexicons
# ---------------------------------------------------------------------------------------------------------------
_LINKS = frozenset({"d", "de", "du", "des", "la", "le", "l", "a", "au", "aux", "en", "in", "of", "et"})
"""Words an acronym may skip ("diabète de type 2": DT2, "retour à domicile": RAD)."""


def _initials_spell(acronym: str, expansion: str) -> bool:
    """Whether ``expansion`` is what ``acronym`` abbreviates: its letters and digits read in order through the
    expansion's words, each word other than a link word (:data:`_LINKS`) giving at least its first letter, each
    letter the first of a word or a later letter of the word being read ("HTA": "Hyper-Tension Artérielle",
    "DT2": "Diabète de Type 2"); never an expansion that holds an acronym itself ("AVC ischémique")."""
    from clinrag.text.folding import fold
    from clinrag.text.terminology import is_case_sensitive

    if any(is_case_sensitive(word) for word in re.split(r"[\s'’/-]+", expansion)):
        return False
    letters = "".join(c for c in fold(acronym, "plain") if c.isalnum())
    words = fold(expansion, "words").split()
    if len(words) < 2:
        return False

    @functools.cache
    def reads(letter: int, word: int, at: int) -> bool:
        # letters[letter:] still to read; word `word` read up to `at` (at == 0: not started)
        if letter == len(letters):
            return all(w in _LINKS for w in words[word + (at > 0) :])
        if at and letters[letter] in words[word][at:]:
            position = words[word].index(letters[letter], at)
            if reads(letter + 1, word, position + 1):
                return True
        following = word + (at > 0)
        for nxt in range(following, len(words)):
            if words[nxt][0] == letters[letter] and reads(letter + 1, nxt, 1):
                return True
            if words[nxt] not in _LINKS:
                return False
        return False

    return reads(0, 0, 0)


@functools.lru_cache(maxsize=1)
def abbreviation_pairs() -> tuple[tuple[str, str], ...]:
    """``(acronym, expansion)`` pairs of clinrag's lexicons (see the module's docstring), sorted."""
    from clinrag.text.terminology import STROKE_LEXICONS, is_case_sensitive, load_lexicon
    from clinrag.text.vocabulary import load_concepts

    groups: list[tuple[str, ...]] = []
    for concept in load_concepts():
        groups.append(concept.terms)
        groups += [value.terms for value in concept.values.values()]
    for name in STROKE_LEXICONS:
        groups += [(c.name, *c.terms) for c in load_lexicon(f"embedded:{name}")]
    pairs = set()
    for terms in groups:
        for acronym in terms:
            if not is_case_sensitive(acronym) or sum(c.isalpha() for c in acronym) < 2:
                continue
            pairs.update((acronym, t) for t in terms if t != acronym and _initials_spell(acronym, t))
    return tuple(sorted(pairs))


@functools.lru_cache(maxsize=1)
def number_words() -> dict[int, str]:
    """Whole numbers -> their French word, for the single-word numbers clinrag's date reader knows."""
    from text_to_num import text2num

    from clinrag.text.dates import NUMBER_WORDS

    table: dict[int, str] = {}
    for word in NUMBER_WORDS:
        try:
            table.setdefault(int(text2num(word, "fr")), word)
        except ValueError:
            continue  # "et", "premier"
    return table


# ---------------------------------------------------------------------------------------------------------------
# the rule edits: each returns the edited example, or None when it does not apply
# ---------------------------------------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_DECIMAL = re.compile(r"(?<![\d.,])(\d{1,4})([.,])(\d{1,3})(?![\d.,]?\d)")
_LITRE = re.compile(r"(?<=/)([lL])\b")
_WHOLE = re.compile(r"(?<![\w/:.,+-])(\d{1,2})(?![\w/:%]|[.,]\d)")
_CLAUSE_END = re.compile(r"(?<=\S)(?:\.|;)(?=[ \t]+\S)")

Edit = Callable[[Labelled, random.Random, Callable[[str], bool]], "Labelled | None"]


def _abbreviation(
    example: Labelled, rng: random.Random, rewritable: Callable[[str], bool]
) -> Labelled | None:
    text = example.text
    found = []
    for acronym, expansion in abbreviation_pairs():
        for written, other, flags in ((acronym, expansion, 0), (expansion, acronym, re.IGNORECASE)):
            pattern = rf"(?<![\w-]){re.escape(written)}(?![\w-])"
            for match in re.finditer(pattern, text, flags):
                if _free(example, match.start(), match.end(), rewritable):
                    found.append((match.start(), match.end(), other))
    if not found:
        return None
    start, end, new = rng.choice(sorted(found))
    return replaced(example, [(start, end, new)], rewritable)


def _accents(example: Labelled, rng: random.Random, rewritable: Callable[[str], bool]) -> Labelled | None:
    from clinrag.text.folding import strip_accents

    edits = []
    for match in _WORD.finditer(example.text):
        word = match.group()
        plain = strip_accents(word).replace("œ", "oe").replace("Œ", "Oe")
        if (
            plain != word
            and len(plain) >= len(word)
            and _free(example, match.start(), match.end(), lambda _: False)
        ):
            edits.append((match.start(), match.end(), plain))
    if not edits:
        return None
    chosen = [e for e in edits if rng.random() < 0.6] or [rng.choice(edits)]
    return replaced(example, chosen, rewritable)


def _number_forms(text: str) -> list[tuple[int, int, str, bool]]:
    """Every number-format edit of ``text``: ``(start, end, new, anywhere)``; ``anywhere`` false for a number word
    written in figures, done only inside a value's span ("sept" and "neuf" are also a month and "new")."""
    forms = [(m.start(2), m.end(2), "." if m.group(2) == "," else ",", True) for m in _DECIMAL.finditer(text)]
    forms += [(m.start(1), m.end(1), "l" if m.group(1) == "L" else "L", True) for m in _LITRE.finditer(text)]
    words = number_words()
    for match in _WHOLE.finditer(text):
        value = int(match.group(1))
        if value in words and not (len(match.group(1)) > 1 and match.group(1)[0] == "0"):
            forms.append((match.start(1), match.end(1), words[value], True))
    figures = {word: value for value, word in words.items() if value > 1}  # never the article "un"
    for match in _WORD.finditer(text):
        if match.group().casefold() in figures:
            forms.append((match.start(), match.end(), str(figures[match.group().casefold()]), False))
    return forms


def _number(example: Labelled, rng: random.Random, rewritable: Callable[[str], bool]) -> Labelled | None:
    text = example.text
    options = []
    for start, end, new, anywhere in _number_forms(text):
        inside = next((s for s in example.spans if s.start <= start and end <= s.end), None)
        if inside is None:
            if anywhere and _free(example, start, end, rewritable):
                options.append((start, end, new))
        elif rewritable(inside.label):  # the whole span written again, its number in the other form
            piece = text[inside.start : start] + new + text[end : inside.end]
            options.append((inside.start, inside.end, piece))
    if not options:
        return None
    return replaced(example, [rng.choice(sorted(options))], rewritable)


def _clause(example: Labelled, rng: random.Random, rewritable: Callable[[str], bool]) -> Labelled | None:
    text = example.text
    pairs = []
    line_start = 0
    for line in text.split("\n"):
        # clauses: [start, end) of each, the punctuation and spaces between them left in place
        cuts = [(m.start(), m.end()) for m in _CLAUSE_END.finditer(line)]
        bounds, at = [], 0
        for end_at, _ in cuts:
            gap = len(line[end_at:]) - len(line[end_at + 1 :].lstrip(" \t"))
            bounds.append((at, end_at))
            at = end_at + gap
        bounds.append((at, len(line.rstrip(" \t.;"))))
        bounds = [(line_start + a, line_start + b) for a, b in bounds]
        words = [" " in text[a:b].strip() for a, b in bounds]  # a clause of one word is a list's item
        pairs += [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if words[i] and words[i + 1]]
        line_start += len(line) + 1
    rng.shuffle(pairs)
    for first, second in pairs:
        pieces = [
            Piece(0, first[0]),
            Piece(*second),
            Piece(first[1], second[0]),
            Piece(*first),
            Piece(second[1], len(text)),
        ]
        edited = rearranged(example, [p for p in pieces if p.end > p.start], rewritable)
        if edited is not None:
            return edited
    return None


def _typo(example: Labelled, rng: random.Random, rewritable: Callable[[str], bool]) -> Labelled | None:
    words = list(_WORD.finditer(example.text))
    near = set()
    for i, match in enumerate(words):
        if any(match.start() < s.end + 1 and s.start - 1 < match.end() for s in example.spans):
            near.update((i - 1, i, i + 1))
    chosen = [m for i, m in enumerate(words) if i not in near and len(m.group()) >= 5 and m.group().isalpha()]
    if not chosen:
        return None
    match = rng.choice(chosen)
    word = match.group()
    at = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.5 and word[at] != word[at + 1]:
        new = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    else:
        new = word[:at] + word[at + 1 :]
    return replaced(example, [(match.start(), match.end(), new)], rewritable)


RULES: dict[str, Edit] = {
    "abbreviation": _abbreviation,
    "accents": _accents,
    "number": _number,
    "clause": _clause,
    "typo": _typo,
}


def rule_edit(
    kind: str, example: Labelled, rng: random.Random, rewritable: Callable[[str], bool]
) -> Labelled | None:
    """One edit of ``kind`` (:data:`RULE_KINDS`), or None when it does not apply to the text."""
    return RULES[kind](example, rng, rewritable)


def rule_variant(
    example: Labelled, rng: random.Random, rewritable: Callable[[str], bool]
) -> tuple[Labelled, tuple[str, ...]] | None:
    """One or two rule edits applied one after the other (offsets recomputed after each), in a seeded order of
    the kinds; None when no kind applies or the text comes back unchanged."""
    kinds = list(RULE_KINDS)
    rng.shuffle(kinds)
    wanted = 1 + (rng.random() < 0.5)
    done: list[str] = []
    current = example
    for kind in kinds:
        edited = rule_edit(kind, current, rng, rewritable)
        if edited is not None and edited.text != current.text:
            current, done = edited, [*done, kind]
            if len(done) == wanted:
                break
    return (current, tuple(done)) if done else None


# ---------------------------------------------------------------------------------------------------------------
# paraphrase by a decoder
# ---------------------------------------------------------------------------------------------------------------
def located(example: Labelled, text: str) -> Labelled | None:
    """``example``'s spans found verbatim, in order, in ``text`` (a paraphrase); None when one is missing."""
    spans, at = [], 0
    for span, string in zip(example.spans, example.strings(), strict=True):
        start = text.find(string, at)
        if start < 0:
            return None
        spans.append(LabeledSpan(start, start + len(string), span.label))
        at = start + len(string)
    return Labelled(text, tuple(spans))


# ---------------------------------------------------------------------------------------------------------------
# the augmenter
# ---------------------------------------------------------------------------------------------------------------
def same_strings(original: Labelled, variant: Labelled) -> bool:
    """The identifiers' re-check: the same spans, each with its label and its string (in any order: a clause
    swap moves them)."""

    def pairs(example: Labelled) -> list[tuple[str, str]]:
        return sorted(zip((s.label for s in example.spans), example.strings(), strict=True))

    return pairs(original) == pairs(variant)


def _seeded(seed: int, index: int, number: int, kind: str) -> random.Random:
    return random.Random(f"augment:{seed}:{index}:{number}:{kind}")


def augment(
    examples: Sequence[Labelled],
    config: AugmentConfig,
    check: Callable[[int, Labelled, Labelled], bool] | None = None,
    rewritable: Callable[[str], bool] = lambda _label: False,
    paraphraser: Callable[[Labelled, int], str] | None = None,
) -> Augmented:
    """The variants of each example that the re-check keeps.

    Args:
        examples: The labelled examples to rewrite (the weak positives, the texts with identifiers).
        config: Method, variants per example, seed.
        check: ``check(index, original, variant)``: whether the weak labeller still finds the label in the variant
            (default: :func:`same_strings`); a variant it refuses is dropped (counted as made, not kept).
        rewritable: Which span labels a rule may rewrite whole (values, terms); identifiers never.
        paraphraser: ``(example, seed) -> text`` for ``llm`` (default: a
            :class:`~clinrag.encoders.paraphrase.Paraphraser` of ``config.decoder``, loaded when first needed).
    """
    result = Augmented()
    if not config.active:
        return result
    check = check or (lambda _i, original, variant: same_strings(original, variant))
    rules = config.method in ("rules", "rules+llm")
    llm = config.method in ("llm", "rules+llm")
    if llm and paraphraser is None:
        from clinrag.encoders.paraphrase import Paraphraser

        paraphraser = Paraphraser(config.decoder, config.max_new_tokens)
    for index, example in enumerate(examples):
        seen = {example.text}
        for number in range(config.per_example):
            made: list[tuple[Labelled | None, tuple[str, ...]]] = []
            if rules:
                drawn = rule_variant(example, _seeded(config.seed, index, number, "rules"), rewritable)
                if drawn is not None:
                    made.append(drawn)
            if llm:
                seed = _seeded(config.seed, index, number, PARAPHRASE).randrange(2**31)
                made.append((located(example, paraphraser(example, seed)), (PARAPHRASE,)))
            for variant, kinds in made:
                if variant is not None and variant.text in seen:
                    continue  # the same text twice teaches nothing new
                kept = variant is not None and check(index, example, variant)
                result.count(kinds, kept)
                if kept:
                    seen.add(variant.text)
                    result.variants.append(Variant(index, number, variant, kinds))
    return result


__all__ = [
    "RULE_KINDS",
    "AugmentConfig",
    "Augmented",
    "Labelled",
    "Piece",
    "Variant",
    "abbreviation_pairs",
    "augment",
    "located",
    "number_words",
    "rearranged",
    "replaced",
    "rule_edit",
    "rule_variant",
    "same_strings",
]
