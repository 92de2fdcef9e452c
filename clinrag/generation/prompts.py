"""French prompts from the variable spec and the retrieved passages (templates in :class:`PromptConfig`)."""

from __future__ import annotations

from clinrag.data.variables import Variable
from clinrag.generation.config import PromptConfig
from clinrag.generation.constraints import NOT_DOCUMENTED, answer_format
from clinrag.text.annotate import Mention
from clinrag.text.passages import Passage

_QUALIFIERS = (("negated", "négation"), ("hypothetical", "hypothèse"), ("family", "famille"))


def evidence_window(text: str, mentions: list[Mention], max_chars: int) -> tuple[int, int]:
    """The ``(begin, end)`` of the at most ``max_chars`` characters of a passage the reader sees: from a little
    before the variable's first mention (so the evidence is not cut off), starting on a word."""
    return window_before(text, [m.start for m in mentions], max_chars)


def window_before(text: str, anchors: list[int], max_chars: int) -> tuple[int, int]:
    """:func:`evidence_window` of the offsets ``anchors`` (mentions' starts, values' starts): the at most
    ``max_chars`` characters from a little before the first of them, starting on a word."""
    starts = sorted(a for a in anchors if 0 <= a < len(text))
    begin = 0
    if len(text) > max_chars and starts:
        begin = max(0, min(starts[0] - max_chars // 3, len(text) - max_chars))
        if begin > 0:
            space = text.find(" ", begin, starts[0])
            begin = space + 1 if space >= 0 else begin
    return begin, min(len(text), begin + max_chars)


def evidence_view(
    text: str,
    mentions: list[Mention],
    max_chars: int,
    mark: bool = True,
    values: list[tuple[int, int, str]] | None = None,
) -> str:
    """A passage as the reader sees it: its :func:`evidence_window`, and, with ``mark``, each mention of the
    variable between « » with what it names (a category's value) and its edsnlp qualifiers
    (« pas de «diabète|négation» »), and each of ``values`` (``start, end, canonical text``: a date resolved to
    ISO, "la veille" included) likewise (« «la veille|2024-03-11» »).

    Args:
        text: The passage text.
        mentions: The variable's mentions in it (offsets relative to ``text``).
        max_chars: Characters of the passage kept (markers come on top).
        mark: Mark the mentions and values.
        values: Spans of the passage that state a value, with its canonical text.
    """
    begin, end = evidence_window(text, mentions, max_chars)
    spans = []
    for m in mentions:
        tags = [m.value.replace("_", " ")] if m.value else []
        spans.append(
            (m.start, m.end, tags + [label for attribute, label in _QUALIFIERS if getattr(m, attribute)])
        )
    spans += [(start, stop, [canonical] if canonical else []) for start, stop, canonical in values or []]
    pieces, cursor = [], begin
    for start, stop, tags in sorted(spans) if mark else []:
        if start < cursor or stop > end:  # outside the window, or overlapping a span already marked
            continue
        pieces += [text[cursor:start], "«", text[start:stop], "|" + "|".join(tags) if tags else "", "»"]
        cursor = stop
    pieces.append(text[cursor:end])
    view = " ".join("".join(pieces).split())
    return ("…" if begin > 0 else "") + view + ("…" if end < len(text) else "")


def format_passages(
    passages: list[Passage],
    config: PromptConfig,
    max_chars: int,
    mentions: list[list[Mention]] | None = None,
    mark: bool = True,
    values: list[list[tuple[int, int, str]]] | None = None,
) -> str:
    """The passages, oldest first, each with its date, document type and section, seen through
    :func:`evidence_view` (``mentions`` and ``values``: each passage's, in ``passages`` order)."""
    found = mentions if mentions is not None else [[] for _ in passages]
    stated = values if values is not None else [[] for _ in passages]
    ordered = sorted(
        zip(passages, found, stated, strict=True), key=lambda pm: (pm[0].date, pm[0].doc_id, pm[0].start)
    )
    lines = []
    for number, (passage, passage_mentions, passage_values) in enumerate(ordered, start=1):
        text = evidence_view(passage.text, passage_mentions, max_chars, mark, passage_values)
        section = f" ({passage.section})" if passage.section else ""
        lines.append(
            config.passage.format(
                number=number, date=passage.date[:10], doc_type=passage.doc_type, section=section, text=text
            )
        )
    return "\n".join(lines) if lines else f"(aucun extrait : répondre « {NOT_DOCUMENTED} »)"


def build_messages(var: Variable, passages_text: str, config: PromptConfig) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for ``var`` given the formatted passages."""
    user = config.question.format(
        name=var.name,
        description=var.description,
        timepoint=f" (moment : {var.timepoint})" if var.timepoint else "",
        answer_format=answer_format(var) + f", ou « {NOT_DOCUMENTED} »",
        passages=passages_text,
    )
    return [{"role": "system", "content": config.system}, {"role": "user", "content": user}]
