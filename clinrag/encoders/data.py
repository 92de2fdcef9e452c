"""Texts cut into sub-word segments, targets built from character spans, and tags decoded back to spans.

A text is tokenized once, whole, without special tokens (a fast tokenizer gives each sub-word token its character
offsets in the original text, accents and ligatures included). The tokens are then cut into segments of at most
``length - specials`` tokens, each cut placed where a new word starts when one lies in the segment's second half
(a word is never split between two segments unless it alone is longer than half a segment), and each segment is
wrapped in the encoder's special tokens (``[CLS] ... [SEP]``, ``<s> ... </s>``) as the tokenizer itself adds
them. The text's tokens, in order over its segments, are the sequence the BiLSTM reads; their offsets map every
prediction back to characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from clinrag.errors import ClinragError

IGNORE = -100
"""The target of a token no loss reads (a token of no character)."""


class LabeledSpan(NamedTuple):
    """A labelled span of a text: character offsets (end exclusive) and a label."""

    start: int
    end: int
    label: str


class FoundSpan(NamedTuple):
    """A span a tagging head found: offsets, label, and the mean probability of its tokens' tags."""

    start: int
    end: int
    label: str
    score: float


@dataclass(frozen=True)
class Segmented:
    """A text cut into segments.

    Attributes:
        offsets: The character offsets of the text's sub-word tokens, in order (special tokens left out).
        segments: Each segment's input ids, special tokens included.
        positions: For each segment, where its tokens of ``offsets`` sit in its input ids (consecutive runs: the
            tokens of segment ``i`` follow those of segment ``i - 1`` in ``offsets``).
    """

    offsets: list[tuple[int, int]]
    segments: list[list[int]]
    positions: list[list[int]]

    @property
    def n_tokens(self) -> int:
        """How many sub-word tokens the text has (over all its segments)."""
        return len(self.offsets)


class Segmenter:
    """Cuts texts into segments for one tokenizer.

    Args:
        tokenizer: A fast Hugging Face tokenizer (character offsets).
        length: Sub-word tokens per segment, special tokens included.

    Raises:
        ClinragError: The tokenizer is not a fast one, or ``length`` leaves no room for text.
    """

    def __init__(self, tokenizer: Any, length: int):
        if not getattr(tokenizer, "is_fast", False):
            raise ClinragError(
                "the segment encoder needs a fast tokenizer (tokenizer.json) for character offsets"
            )
        self.tokenizer = tokenizer
        probe = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True, verbose=False)
        mask = probe["special_tokens_mask"]
        first = mask.index(0)
        last = len(mask) - 1 - mask[::-1].index(0)
        self.prefix = list(probe["input_ids"][:first])
        self.suffix = list(probe["input_ids"][last + 1 :])
        self.room = length - len(self.prefix) - len(self.suffix)
        if self.room < 2:
            raise ClinragError(f"segment_length {length} leaves no room for text between the special tokens")

    def __call__(self, text: str) -> Segmented:
        """Cut ``text`` into segments (no segment for a text without tokens)."""
        encoded = self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        ids = list(encoded["input_ids"])
        offsets = [_trimmed(text, start, end) for start, end in encoded["offset_mapping"]]
        words = encoded.word_ids()
        segments, positions = [], []
        start = 0
        while start < len(ids):
            end = min(len(ids), start + self.room)
            if end < len(ids):
                # cut where a word starts, in the segment's second half if one does there
                for cut in range(end, start + self.room // 2, -1):
                    if words[cut] is None or words[cut] != words[cut - 1]:
                        end = cut
                        break
            segments.append(self.prefix + ids[start:end] + self.suffix)
            positions.append(list(range(len(self.prefix), len(self.prefix) + end - start)))
            start = end
        return Segmented(offsets=offsets, segments=segments, positions=positions)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """A token's offsets without the spaces some tokenizers include (sentencepiece's "▁word" as " word"); a token
    of spaces only becomes empty (start == end: no character to tag)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# ---------------------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------------------
def tag_names(labels: Sequence[str]) -> list[str]:
    """The BIO tags of a tagging head's labels: ``O``, then ``B-`` and ``I-`` of each label."""
    return ["O", *(f"{prefix}-{label}" for label in labels for prefix in ("B", "I"))]


def non_overlapping(spans: Sequence[Any]) -> list[Any]:
    """Spans without overlaps: of spans that overlap, the longer is kept (the earlier on a tie)."""
    kept: list[LabeledSpan] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if not any(span.start < k.end and k.start < span.end for k in kept):
            kept.append(span)
    return sorted(kept)


def bio_targets(
    offsets: Sequence[tuple[int, int]], spans: Sequence[LabeledSpan], labels: Sequence[str]
) -> list[int]:
    """One tag index per token (:func:`tag_names`' order): ``B-`` for the first token that overlaps a span, ``I-``
    for the next ones, ``O`` elsewhere, :data:`IGNORE` for a token of no character. Overlapping spans: the longer
    (:func:`non_overlapping`).
    """
    index = {label: i for i, label in enumerate(labels)}
    tags = [IGNORE if start == end else 0 for start, end in offsets]
    for span in non_overlapping(spans):
        first = True
        for i, (start, end) in enumerate(offsets):
            if start < end and start < span.end and span.start < end:
                tags[i] = 1 + 2 * index[span.label] + (0 if first else 1)
                first = False
    return tags


def token_range(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The tokens ``[first, last + 1)`` that overlap characters ``[start, end)``; a span over no token's
    characters (spaces) gets the token after it (or the last one)."""
    inside = [i for i, (s, e) in enumerate(offsets) if s < e and s < end and start < e]
    if inside:
        return inside[0], inside[-1] + 1
    after = next((i for i, (s, _) in enumerate(offsets) if s >= start), len(offsets) - 1)
    return max(0, after), max(0, after) + 1


# ---------------------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------------------
def decode_tags(
    text: str,
    offsets: Sequence[tuple[int, int]],
    probabilities: Any,
    labels: Sequence[str],
    threshold: float,
    widen: bool,
) -> list[FoundSpan]:
    """Token tag probabilities to spans.

    A token is in an entity when its non-``O`` tags' probabilities add up to at least ``threshold``; it takes the
    label with the most probability (``B-`` and ``I-`` together). Consecutive entity tokens of one label form a
    span unless the second is more likely a ``B-`` than an ``I-`` and a space separates them (the start of a new
    entity); a token of another label starts a new span. With ``widen``, a span cut inside a word (a word's last
    sub-words tagged ``O``) is widened to the word's edges. A span's score is the mean entity probability of its
    tokens.

    Args:
        text: The text the offsets index.
        offsets: The tokens' character offsets.
        probabilities: A (tokens, tags) array-like of tag probabilities.
        labels: The head's labels (:func:`tag_names` gives the tags' order).
        threshold: See above.
        widen: See above.
    """
    groups: list[list[tuple[int, int, int, float]]] = []
    for i, (start, end) in enumerate(offsets):
        if start == end:
            continue
        row = [float(p) for p in probabilities[i]]
        entity = 1.0 - row[0]
        if entity < threshold:
            continue
        mass = [row[1 + 2 * k] + row[2 + 2 * k] for k in range(len(labels))]
        label = max(range(len(labels)), key=mass.__getitem__)
        begins = row[1 + 2 * label] > row[2 + 2 * label]
        if groups:
            last = groups[-1][-1]
            gap = text[last[1] : start]
            joined = start <= last[1] or gap == "" or (gap.isspace() and len(gap) <= 2 and not begins)
            if last[2] == label and joined:
                groups[-1].append((start, end, label, entity))
                continue
        groups.append([(start, end, label, entity)])
    spans = []
    for group in groups:
        start, end = min(g[0] for g in group), max(g[1] for g in group)
        if widen:
            while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
                start -= 1
            while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
                end += 1
        score = sum(g[3] for g in group) / len(group)
        spans.append(FoundSpan(start, end, labels[group[0][2]], round(score, 4)))
    return non_overlapping(spans)  # two spans widened to one word's edges
