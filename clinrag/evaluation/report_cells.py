"""The data behind ``report.html``'s cell viewer: one row per predicted cell, the documents the cells cite, and
the masking of patient text.

Patient text only when asked (``with_text``, ``report.with_text`` in the experiment config, ``--with-text`` on
``clinrag run``, ``grid`` and ``fill``). A banner at the top of the page says which kind of report it is. Without
text (the default) the page carries no document text, no quote, no raw answer of the decoder, no failure message
(they quote the answer) and no value of a ``text`` variable; each cell shows its document id, type and date, the
passage's section, its character offsets, the value and the score, and a *masked view* of the passage
(:func:`masked_passage`): every letter and digit is replaced by ``•``, whitespace and punctuation are kept (the
passage's shape and length stay readable), and the only words left as written are

* the terms the shipped registry lexicon (``clinrag/text/lexicons/registry.yaml``, curated from CIM-10, HAS,
  the scales' publications; never from a note) gives the variable's concepts, and the variable's category codes
  (from variables.yaml): clinical vocabulary, no identifier. The terms a run learns from the train split's notes
  are *not* used: they come from patient text;
* the cell's own numeric value (integer and number variables), already shown as the predicted value, where it
  stands alone: a number glued to others (``12/03/2021``, ``06 12 34 56 78``, ``1 50 01 87 ...``) stays masked, so
  no part of a date, phone or social security number is shown.

So no name, identifier number or date written in a note reaches the page. What it still shows, as predictions.csv
does: the cohort's patient and document ids, the documents' dates and types, and the predicted and known values
(dates of care included).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from clinrag.data.cohort import Cohort
from clinrag.data.values import cells_match
from clinrag.data.variables import Variable
from clinrag.text.folding import fold

MASK = "•"
"""What replaces each letter and digit of a passage in a report without patient text."""


def _finite(value: Any) -> Any:
    """Floats that JSON cannot carry (NaN, infinities) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _utf16_offset(text: str, index: int) -> int:
    """The UTF-16 code-unit offset of code point ``index`` of ``text`` (what JavaScript's ``slice`` takes)."""
    return len(text[:index].encode("utf-16-le", "surrogatepass")) // 2


# ---- the masked view of a passage (reports without patient text) --------------------------------------------
_WORD = re.compile(r"[^\W_]+")
# a number or word with its inner connectors: "12/03/2021", "06.12.34.56.78", "7,5", "P00001-D02" are one token
_TOKEN = re.compile(r"[^\W_]+(?:[-./:,'’][^\W_]+)*")


def _fold_word(word: str) -> str:
    return fold(word, "plain")


def shown_terms(var: Variable | None) -> list[tuple[str, ...]]:
    """The words a masked passage may show for ``var``, each as a tuple of folded words.

    They come from the shipped registry lexicon (the terms and value wordings of the concepts the variable's name
    or description names) and the variable's category codes, never from a note, nor from the terms a run learns
    from the train split (those are patient text). A term with fewer than two letters or digits ("M.") is left
    out: it could be a name's initial.
    """
    if var is None:
        return []
    from clinrag.text.vocabulary import load_concepts, matching_concepts

    words: list[str] = []
    for concept in matching_concepts(var, load_concepts()):
        words += concept.terms
        for value in concept.values.values():
            words += value.terms
    if var.type == "category":
        words += [code.replace("_", " ") for code in var.values or []]
    terms = {tuple(_fold_word(w) for w in _WORD.findall(word)) for word in words}
    return sorted((t for t in terms if sum(map(len, t)) >= 2), key=lambda t: (-len(t), t))


def _numeric_forms(var: Variable | None, value: str | None) -> set[str]:
    """How a note may write the cell's numeric value ("7.5" or "7,5"); empty for other types."""
    if var is None or var.type not in ("integer", "number") or not value:
        return set()
    value = value.strip()
    if not re.fullmatch(r"-?\d+(?:[.,]\d+)?", value):
        return set()
    return {value, value.replace(".", ","), value.replace(",", ".")}


def masked_passage(text: str, terms: Iterable[tuple[str, ...]] = (), value_forms: Iterable[str] = ()) -> list:
    """A passage with every letter and digit masked but the given terms and lone numeric values.

    Args:
        text: The passage (patient text).
        terms: Folded word sequences to show as written (:func:`shown_terms`), matched on whole words, case and
            accents ignored, any punctuation or space between their words.
        value_forms: Spellings of the cell's numeric value to show where a token equals one of them and no
            number stands beside it (separated by spaces only): the "12" of "NIHSS 12" is shown, that of
            "12/03/2021" (one token) or "06 12 34" (a run of numbers) is not.

    Returns:
        Segments ``[kind, text]`` covering the passage in order: kind ``""`` for masked text (only ``MASK``,
        whitespace and punctuation), ``"term"`` or ``"value"`` for the words shown.
    """
    words = [(m.start(), m.end(), _fold_word(m.group())) for m in _WORD.finditer(text)]
    kept: list[tuple[int, int, str]] = []
    taken = [False] * len(words)
    for term in terms:  # longest first (shown_terms' order): "hypertension artérielle" before "hypertension"
        n = len(term)
        for i in range(len(words) - n + 1):
            if any(taken[i : i + n]) or tuple(w for _, _, w in words[i : i + n]) != term:
                continue
            kept.append((words[i][0], words[i + n - 1][1], "term"))
            taken[i : i + n] = [True] * n
    forms = set(value_forms)
    if forms:
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        for i, (start, end, token) in enumerate(tokens):
            if token not in forms or any(s < end and start < e for s, e, _ in kept):
                continue
            beside = [tokens[j] for j in (i - 1, i + 1) if 0 <= j < len(tokens)]
            if any(
                any(c.isdigit() for c in other)
                and not text[min(e, end) : max(s, start)].strip()  # only spaces between them
                for s, e, other in beside
            ):
                continue
            kept.append((start, end, "value"))
    kept.sort()
    segments: list[list[str]] = []
    position = 0
    for start, end, kind in [*kept, (len(text), len(text), "")]:
        if start > position:
            segments.append(["", "".join(MASK if c.isalnum() else c for c in text[position:start])])
        if end > start:
            segments.append([kind, text[start:end]])
        position = max(position, end)
    return segments


def _section_index(passages: Iterable[Any] | None) -> dict[str, list[tuple[int, int, str]]]:
    """``doc_id -> [(start, end, section)]`` of the run's passages (:class:`clinrag.text.passages.Passage`)."""
    index: dict[str, list[tuple[int, int, str]]] = {}
    for p in passages or ():
        index.setdefault(p.doc_id, []).append((p.start, p.end, p.section))
    for spans in index.values():
        spans.sort()
    return index


def _section_at(index: dict[str, list[tuple[int, int, str]]], doc_id: str | None, start: Any) -> str | None:
    """The section of the passage starting at (else holding) ``start``; None when unknown."""
    if doc_id not in index or not isinstance(start, int):
        return None
    found = None
    for s, e, section in index[doc_id]:
        if s == start:
            return section
        if s <= start < e:
            found = section
    return found


# ---- the data behind the cell viewer -----------------------------------------------------------------
def report_variables(
    cohort: Cohort, predictions: dict[str, dict[str, str]], metrics: dict[str, Any]
) -> list[str]:
    """The variables to show: those scored, else those predicted; in variables.yaml's order."""
    wanted = set(metrics.get("variables") or {})
    if not wanted:
        for cells in predictions.values():
            wanted.update(cells)
    ordered = [var.name for var in cohort.variables if var.name in wanted]
    return ordered + sorted(wanted - set(ordered))


def _evidence(
    cohort: Cohort,
    record: dict[str, Any],
    documents: dict[str, dict[str, Any]],
    with_text: bool,
    sections: dict[str, list[tuple[int, int, str]]],
    mask: tuple[list[tuple[str, ...]], set[str]],
) -> dict | None:
    """A provenance record's supporting passage; adds its document to ``documents``.

    With text: the quote and UTF-16 offsets into the document, whose text ``documents`` carries. Without: no
    quote and no document text, but the passage's masked view (``masked``, from ``mask``: the terms and value
    spellings :func:`masked_passage` may show) and the document's length.
    """
    doc_id, start, end, quote = (
        record.get("doc_id"),
        record.get("start"),
        record.get("end"),
        record.get("quote"),
    )
    if doc_id is None and quote is None:
        return None
    evidence: dict[str, Any] = {
        "doc_id": doc_id,
        "start": start,
        "end": end,
        "quote": quote if with_text else None,
        "date": record.get("date"),
        "section": _section_at(sections, doc_id, start),
        "in_document": False,
        "offsets_match": False,
    }
    try:
        doc = cohort.document(doc_id) if doc_id is not None else None
    except KeyError:
        doc = None
    passage = quote  # what the masked view masks: the document at the offsets, else the stored quote
    if doc is not None:
        if doc_id not in documents:
            documents[doc_id] = {"patient_id": doc.patient_id, "doc_type": doc.doc_type, "date": doc.date_str}
            if with_text:
                documents[doc_id]["text"] = doc.text
            else:
                documents[doc_id]["chars"] = len(doc.text)
        evidence["in_document"] = True
        if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(doc.text):
            evidence["offsets_match"] = quote is None or doc.text[start:end] == quote
            passage = doc.text[start:end]
            if with_text:
                evidence["u16_start"] = _utf16_offset(doc.text, start)
                evidence["u16_end"] = _utf16_offset(doc.text, end)
    if not with_text:
        evidence["masked"] = masked_passage(passage, *mask) if isinstance(passage, str) else None
    return evidence


def _hidden_text(value: str | None) -> str | None:
    """A ``text`` variable's cell in a report without patient text: its length only (free text may name)."""
    return f"[text, {len(value)} characters]" if value else value


def build_cells(
    cohort: Cohort,
    predictions: dict[str, dict[str, str]],
    provenance: list[dict[str, Any]],
    variables: list[str],
    with_text: bool = False,
    passages: Iterable[Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The cell viewer's rows and the documents they cite.

    Args:
        cohort: The cohort (documents, variables, known table if any).
        predictions: ``patient_id -> variable -> cell`` of the evaluated patients.
        provenance: provenance.jsonl records; those of patients outside ``predictions`` are ignored.
        variables: The variables to show, in order.
        with_text: Carry patient text (document texts, quotes, raw answers, failure messages, ``text`` values);
            False: none of it, a masked view of each passage instead (see the module docstring).
        passages: The run's passages (:class:`clinrag.text.passages.Passage`), for each passage's section;
            None: sections unknown.

    Returns:
        One dict per (patient, variable) (``patient``, ``variable``, ``type``, ``predicted``, ``gold`` or None
        when unknown, ``correct`` or None, ``status``, ``score``, ``answer``, ``failure``, ``evidence`` or
        None), and ``doc_id -> {patient_id, doc_type, date, text}`` for each cited document (``chars``, its
        length, in place of ``text`` without text).
    """
    by_cell: dict[tuple[str, str], dict[str, Any]] = {}
    for record in provenance:
        by_cell.setdefault((record.get("patient_id"), record.get("variable")), record)
    table = cohort.table or {}
    known_columns = set(cohort.table_columns) if cohort.table is not None else set()
    sections = _section_index(passages)
    documents: dict[str, dict[str, Any]] = {}
    terms: dict[str, list[tuple[str, ...]]] = {}
    cells = []
    for pid, row in predictions.items():
        for name in variables:
            predicted = row.get(name, "") or ""
            try:
                var = cohort.variable(name)
            except KeyError:
                var = None
            gold = table[pid].get(name, "") if pid in table and name in known_columns else None
            correct = cells_match(var, gold, predicted) if gold is not None and var is not None else None
            record = by_cell.get((pid, name))
            if record is not None:
                status = record.get("status") or ("documented" if predicted else "not_documented")
                if name not in terms and not with_text:
                    terms[name] = shown_terms(var)
                mask = (terms.get(name, []), _numeric_forms(var, predicted))
                evidence = _evidence(cohort, record, documents, with_text, sections, mask)
            else:
                status, evidence = "no_provenance", None
            answer = record.get("answer") if record else None
            failure = record.get("failure") if record else None
            if not with_text:
                # the raw answer and parse failures ("'...' is not a number") quote what the decoder wrote
                answer = None
                failure = (
                    "the answer could not be used (the reason quotes it: --with-text)" if failure else None
                )
                if var is not None and var.type == "text":
                    predicted, gold = _hidden_text(predicted), _hidden_text(gold)
            cells.append(
                {
                    "patient": pid,
                    "variable": name,
                    "type": var.type if var is not None else "?",
                    "predicted": predicted,
                    "gold": gold,
                    "correct": correct,
                    "status": status,
                    "score": _finite(record.get("score")) if record else None,
                    "answer": answer,
                    "failure": failure,
                    "evidence": evidence,
                }
            )
    return cells, documents
