"""Assembling document text while recording, at the character, where each gold span lies.

A :class:`Para` is a list of pieces: plain text, identifiers (PHI spans), and the start and end of evidence for a
variable (which may enclose identifiers, e.g. a date). Rendering a list of paragraphs gives the text and every span;
each span is checked against the text it claims, so an offset can never be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Truth:
    """What the writer meant by a mention of a concept (the gold standard of the qualifier study).

    Attributes:
        concept: The concept mentioned (a variable's name, or ``avc``).
        negated: Said to be absent ("pas de FA").
        hypothetical: Only suspected or to be looked for ("FA ? Holter à prévoir").
        family: About a relative ("père diabétique").
    """

    concept: str
    negated: bool = False
    hypothetical: bool = False
    family: bool = False


@dataclass
class Para:
    """A paragraph under construction; the same Para can be copied into several documents (copy-forward)."""

    items: list[tuple[str, str, Any]] = field(default_factory=list)

    def t(self, text: str, truth: Truth | None = None, term: str | None = None) -> Para:
        """Append plain text; with ``truth``, record it as a mention of a concept (of ``term``, its first
        occurrence in ``text``, when given; else of the whole text). The text written is the same either way."""
        if truth is None:
            self.items.append(("text", text, ""))
            return self
        at = text.index(term) if term else 0
        end = at + len(term) if term else len(text)
        for kind, piece, tag in (
            ("text", text[:at], ""),
            ("mention", text[at:end], truth),
            ("text", text[end:], ""),
        ):
            if piece:
                self.items.append((kind, piece, tag))
        return self

    def phi(self, label: str, text: str) -> Para:
        """Append an identifier of ``label`` (eds-pseudo labels)."""
        self.items.append(("phi", text, label))
        return self

    def ev(self, variable: str, text: str, truth: Truth | None = None, term: str | None = None) -> Para:
        """Append text that states the value of ``variable`` (with ``truth``: a mention, see :meth:`t`)."""
        return self.open(variable).t(text, truth, term).close(variable)

    def open(self, variable: str) -> Para:
        """Start evidence for ``variable`` (closed by :meth:`close`)."""
        self.items.append(("open", "", variable))
        return self

    def close(self, variable: str) -> Para:
        """End evidence for ``variable``."""
        self.items.append(("close", "", variable))
        return self

    def extend(self, other: Para) -> Para:
        """Append every piece of ``other``."""
        self.items.extend(other.items)
        return self


@dataclass
class Rendered:
    """A rendered document: its text, and spans as ``(start, end, tag)``."""

    text: str
    evidence: list[tuple[int, int, str]]
    phi: list[tuple[int, int, str]]
    mentions: list[tuple[int, int, Truth]] = field(default_factory=list)
    """Mentions of concepts with what the writer meant (negated, hypothetical, about a relative)."""


def render(paras: list[Para], separator: str = "\n") -> Rendered:
    """Join paragraphs into one text and resolve every span's offsets.

    Raises:
        AssertionError: A span is empty, unbalanced, or does not match the text at its offsets.
    """
    chunks: list[str] = []
    position = 0
    evidence: list[tuple[int, int, str]] = []
    phi: list[tuple[int, int, str]] = []
    mentions: list[tuple[int, int, Truth]] = []
    for index, para in enumerate(paras):
        if index:
            chunks.append(separator)
            position += len(separator)
        opened: dict[str, int] = {}
        for kind, text, tag in para.items:
            if kind == "open":
                assert tag not in opened, f"evidence for {tag} opened twice"
                opened[tag] = position
                continue
            if kind == "close":
                start = opened.pop(tag)
                evidence.append((start, position, tag))
                continue
            if kind == "phi":
                phi.append((position, position + len(text), tag))
            elif kind == "mention":
                mentions.append((position, position + len(text), tag))
            chunks.append(text)
            position += len(text)
        assert not opened, f"evidence left open: {sorted(opened)}"
    full = "".join(chunks)
    for start, end, tag in evidence + phi:
        span = full[start:end]
        assert end > start and span == span.strip(), f"bad span for {tag}: {span!r}"
    return Rendered(full, evidence, phi, mentions)
