"""Contract 3's ``report.html``: one self-contained page per run (inline CSS and JS, no network asset).

The page shows the run's headline numbers (overall accuracy with its interval, baselines, retrieval recall@k
and MRR), a per-variable metrics table, the confusion tables of category variables, a filterable viewer of
every predicted cell (predicted and known value, correct or not, status) that opens the supporting passage
highlighted in its full document, and the resolved config and manifest.

This module only prepares plain data (rows, formatted numbers, labels); the page is laid out by the Jinja2
template ``templates/report.html.j2``, and its style and script are ``templates/report.css`` and
``templates/report.js``, all package data, inlined into the one HTML file.

Safety: the template environment autoescapes, so every value rendered as HTML is escaped, and nothing from
the run's data is marked safe; the page's script writes data only through ``textContent`` (never
``innerHTML``). The cells and the documents they cite travel as JSON in a ``<script type="application/json">``
tag where ``<``, ``>`` and ``&`` are written as ``\\u003c``-style escapes, so no document text can close the tag.

Offsets: provenance offsets count Python code points, JavaScript strings count UTF-16 code units; the page
receives both, converted here, so a passage after an emoji or any astral character is still highlighted
exactly.

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

import functools
import json
import logging
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from clinrag.data.cohort import Cohort
from clinrag.data.values import cells_match, strip_accents
from clinrag.data.variables import Variable
from clinrag.io import atomic_write_text

logger = logging.getLogger(__name__)

# Type-specific metrics of :func:`clinrag.evaluation.metrics.evaluate_table`, in display order.
TYPE_METRICS: tuple[tuple[str, str], ...] = (
    ("mae", "MAE"),
    ("within1", "±1"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("macro_f1", "macro-F1"),
)
COUNT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("false_abstentions", "false abst.", "documented cell predicted empty"),
    ("false_values", "false values", "value predicted on a cell not documented"),
    ("wrong_values", "wrong values", "both documented, values differ"),
    ("invalid", "invalid", "prediction that does not parse"),
)
STATUS_LABELS = {"documented": "documented", "not_documented": "not documented", "failed": "failed"}
TEMPLATE = "report.html.j2"
MASK = "•"
"""What replaces each letter and digit of a passage in a report without patient text."""
PSEUDONYMIZATION_MARKER = "pseudonymization.json"
"""The file ``clinrag pseudonymize`` writes beside a cohort it produced (:func:`clinrag.pseudo.pipeline.write_cohort`)."""


# ---- the template environment -------------------------------------------------------------------------
@functools.cache
def _environment() -> jinja2.Environment:
    """The report's Jinja2 environment: templates from package data, autoescape on, ``None`` shown as ""."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("clinrag.evaluation", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=lambda value: "" if value is None else value,
    )
    env.filters["script_json"] = lambda obj: Markup(_script_json(obj))
    env.globals["asset"] = functools.partial(_asset, env)
    return env


def _asset(env: jinja2.Environment, name: str) -> Markup:
    """A package file (``report.css``, ``report.js``) to inline verbatim: it is the package's code, not data."""
    source, _, _ = env.loader.get_source(env, name)
    return Markup(source)


# ---- small formatting helpers ---------------------------------------------------------------------------
def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def _metric(value: float | None, ci: list[float] | None = None, digits: int = 3) -> dict[str, str] | None:
    """A value with its interval (the template's ``metric`` macro); ``bar`` is the accuracy bar's width."""
    if value is None:
        return None
    return {"value": _num(value, digits), "ci": _ci_text(ci, digits), "bar": f"{100 * value:.1f}%"}


def _ci_text(ci: list[float] | None, digits: int = 3) -> str:
    return f"[{_num(ci[0], digits)}, {_num(ci[1], digits)}]" if ci else ""


def _ci_label(ci: list[float] | None) -> str:
    return f"95% CI {_ci_text(ci)}" if ci else ""


def _finite(value: Any) -> Any:
    """Floats that JSON cannot carry (NaN, infinities) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _script_json(obj: Any) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and the JS line separators are escaped.

    Those characters can only occur inside JSON strings, where the ``\\uXXXX`` form means the same, so the text
    still parses to ``obj`` while ``</script>`` or ``<!--`` can never appear in it.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def _utf16_offset(text: str, index: int) -> int:
    """The UTF-16 code-unit offset of code point ``index`` of ``text`` (what JavaScript's ``slice`` takes)."""
    return len(text[:index].encode("utf-16-le", "surrogatepass")) // 2


def _plain(obj: Any) -> Any:
    """A JSON/YAML-safe copy (paths, tuples and other objects become strings or lists)."""
    return json.loads(json.dumps(obj, default=str))


# ---- the masked view of a passage (reports without patient text) --------------------------------------------
_WORD = re.compile(r"[^\W_]+")
# a number or word with its inner connectors: "12/03/2021", "06.12.34.56.78", "7,5", "P00001-D02" are one token
_TOKEN = re.compile(r"[^\W_]+(?:[-./:,'’][^\W_]+)*")


def _fold_word(word: str) -> str:
    return strip_accents(word).casefold()


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
def _report_variables(
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


# ---- the sections' data ---------------------------------------------------------------------------------
def _card(label: str, value: str, sub: str = "", tip: str = "") -> dict[str, str]:
    return {"label": label, "value": value, "sub": sub, "tip": tip}


def _header_cards(metrics: dict[str, Any], n_cells: int, n_patients: int) -> list[dict[str, str]]:
    """The headline numbers: accuracy, cells, split, baselines, retrieval recall@k and MRR."""
    overall = metrics.get("overall") or {}
    cards = []
    if overall.get("accuracy") is not None:
        cards.append(
            _card(
                "accuracy",
                _num(overall["accuracy"]),
                _ci_label(overall.get("accuracy_ci")),
                "share of cells whose predicted value matches the known value, abstentions included",
            )
        )
        if overall.get("mean_variable_accuracy") is not None:
            cards.append(
                _card(
                    "mean of variables",
                    _num(overall["mean_variable_accuracy"]),
                    _ci_label(overall.get("mean_variable_accuracy_ci")),
                    "accuracy averaged over variables, each weighing the same",
                )
            )
    cells_sub = f"{n_patients} patients"
    if overall:
        cells_sub += f" · {overall.get('n_variables', '?')} variables"
    cards.append(_card("cells", str(overall.get("n", n_cells)), cells_sub))
    if metrics.get("split"):
        boot = metrics.get("bootstrap") or {}
        sub = f"{boot.get('n_resamples', '?')} bootstrap resamples over {boot.get('unit', 'patient')}s"
        cards.append(_card("split", str(metrics["split"]), sub))
    for name, base in (metrics.get("baselines") or {}).items():
        acc = base.get("accuracy")
        delta = ""
        if acc is not None and overall.get("accuracy") is not None:
            delta = f" · run {overall['accuracy'] - acc:+.3f}"
        cards.append(_card(f"baseline: {name}", _num(acc), f"{_ci_text(base.get('accuracy_ci'))}{delta}"))
    retrieval = (metrics.get("retrieval") or {}).get("overall") or {}
    for key in _recall_keys(retrieval):
        cards.append(
            _card(
                f"evidence {key}",
                _num(retrieval[key]),
                _ci_label(retrieval.get(f"{key}_ci")),
                "share of documented cells with a gold-evidence passage in the top k",
            )
        )
    if "mrr" in retrieval:
        cards.append(_card("evidence MRR", _num(retrieval["mrr"]), _ci_label(retrieval.get("mrr_ci"))))
    return cards


def _recall_keys(result: dict[str, Any]) -> list[str]:
    keys = [k for k in result if k.startswith("recall@") and not k.endswith("_ci")]
    return sorted(keys, key=lambda k: int(k.split("@", 1)[1]) if k.split("@", 1)[1].isdigit() else 0)


def _variable_table(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The per-variable metrics table: shown type metrics, one row per variable, the overall footer."""
    per_variable = metrics.get("variables") or {}
    if not per_variable:
        return None
    shown = [(key, label) for key, label in TYPE_METRICS if any(key in r for r in per_variable.values())]
    rows = []
    for name, result in per_variable.items():
        rows.append(
            {
                "name": name,
                "type": result.get("type"),
                "n": result.get("n"),
                "documented": result.get("documented", ""),
                "accuracy": _metric(result.get("accuracy"), result.get("accuracy_ci")),
                "metrics": [
                    {
                        "shown": key in result,
                        "metric": _metric(result.get(key), result.get(f"{key}_ci"), 2 if key == "mae" else 3),
                    }
                    for key, _ in shown
                ],
                "counts": [
                    {"value": result.get(key), "cls": "n bad-count" if result.get(key) else "n zero"}
                    for key, _, _ in COUNT_METRICS
                ],
            }
        )
    overall = metrics.get("overall") or {}
    foot = None
    if overall:
        foot = {
            "n": overall.get("n"),
            "accuracy": _metric(overall.get("accuracy"), overall.get("accuracy_ci")),
            "span": len(shown) + len(COUNT_METRICS),
            "n_patients": overall.get("n_patients"),
            "n_variables": overall.get("n_variables"),
        }
    return {
        "metric_labels": [label for _, label in shown],
        "count_labels": [{"label": label, "tip": tip} for _, label, tip in COUNT_METRICS],
        "rows": rows,
        "foot": foot,
    }


def _retrieval_table(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """Recall@k and MRR by variable, then by group."""
    retrieval = metrics.get("retrieval") or {}
    sections = [("variable", retrieval.get("variables") or {}), ("group", retrieval.get("groups") or {})]
    if not any(items for _, items in sections):
        return None
    overall = retrieval.get("overall") or {}
    keys = _recall_keys(overall) or _recall_keys(next(iter(sections[0][1].values()), {}))
    rows = [
        {
            "name": name,
            "kind": kind,
            "n": result.get("n"),
            "recalls": [_metric(result.get(k), result.get(f"{k}_ci")) for k in keys],
            "mrr": _metric(result.get("mrr"), result.get("mrr_ci")),
        }
        for kind, items in sections
        for name, result in items.items()
    ]
    return {"recall_keys": keys, "rows": rows, "split": retrieval.get("split")}


def _confusions(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One confusion table per category variable, without the classes neither known nor predicted."""
    blocks = []
    for name, result in (metrics.get("variables") or {}).items():
        confusion = result.get("confusion")
        if not confusion:
            continue
        labels, matrix = confusion["labels"], confusion["matrix"]
        # Classes never seen in gold nor predicted only add empty rows and columns.
        keep = [i for i in range(len(labels)) if sum(matrix[i]) + sum(row[i] for row in matrix) > 0]
        keep = keep or list(range(len(labels)))
        peak = max((matrix[i][j] for i in keep for j in keep), default=0) or 1
        rows = []
        for i in keep:
            cells = []
            for j in keep:
                count = matrix[i][j]
                cls = "diag" if i == j else ("off" if count else "zero")
                alpha = 0.12 + 0.6 * count / peak if count else 0
                cells.append({"cls": cls, "alpha": f"{alpha:.2f}", "count": count})
            rows.append({"label": labels[i], "cells": cells})
        blocks.append(
            {
                "name": name,
                "hidden": len(labels) - len(keep),
                "labels": [labels[j] for j in keep],
                "rows": rows,
            }
        )
    return blocks


def _flatten(obj: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    if isinstance(obj, dict) and obj and depth < 3:
        items = []
        for key, value in obj.items():
            items += _flatten(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
        return items
    return [(prefix, obj)]


def _manifest_fact(key: str, value: Any) -> dict[str, str | None]:
    """A manifest row: its text, and ``short``, the first 12 characters, when the value is a hash."""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = "—" if value is None else str(value)
    is_hash = len(text) >= 32 and all(c in "0123456789abcdef" for c in text.lower().removeprefix("sha256:"))
    return {"key": key, "text": text, "short": text[:12] if is_hash else None}


# ---- the page -----------------------------------------------------------------------------------------
def is_pseudonymized(cohort: Cohort) -> bool:
    """Whether the cohort was written by ``clinrag pseudonymize`` (its folder holds
    :data:`PSEUDONYMIZATION_MARKER`). Its text is still patient text: identifiers the detector missed stay."""
    return cohort.root is not None and (Path(cohort.root) / PSEUDONYMIZATION_MARKER).is_file()


def _banner(cohort: Cohort, with_text: bool, n_documents: int) -> dict[str, Any]:
    """The banner at the top of the page: what patient text the page holds, and how to get the other kind."""
    pseudonymized = is_pseudonymized(cohort)
    if with_text:
        lines = [
            f"It embeds the full text of the {n_documents} cited documents, the quoted passages and the decoder's "
            "raw answers: names, identifiers and dates included.",
            "Without --with-text (report.with_text: false, the default) the report leaves all patient text out.",
        ]
        if pseudonymized:
            lines.insert(
                1,
                f"The cohort is marked pseudonymized ({PSEUDONYMIZATION_MARKER}); identifiers the detector "
                "missed may remain in its text.",
            )
        return {
            "kind": "with-text",
            "headline": "This report contains patient text: keep it where patient data may be kept.",
            "lines": lines,
        }
    lines = [
        "Left out: the documents' text, the quoted passages, the decoder's raw answers and failure messages. Each "
        "cell shows its document id, type, date and section, the passage's character offsets, the value, the "
        f"score and the passage masked ({MASK} for every letter and digit; only the variable's registry terms "
        "and its own numeric value are shown).",
        "Still shown, as in predictions.csv: patient and document ids, document dates, the predicted and known "
        "values (dates included).",
        "To include the text: run the command again with --with-text (clinrag run, grid, fill) or set "
        "report.with_text: true in the experiment config; a run's stages come from its cache.",
    ]
    if pseudonymized:
        lines.append(
            f"The cohort is marked pseudonymized ({PSEUDONYMIZATION_MARKER}): its text is still patient text, "
            "shown only with --with-text."
        )
    return {"kind": "without-text", "headline": "Patient text left out of this report.", "lines": lines}


def render_report(
    cohort: Cohort,
    predictions: dict[str, dict[str, str]],
    provenance: list[dict[str, Any]],
    metrics: dict[str, Any],
    config: dict[str, Any],
    manifest: dict[str, Any],
    title: str = "clinrag run",
    with_text: bool = False,
    passages: Iterable[Any] | None = None,
) -> str:
    """Render the run report as one self-contained HTML page.

    Args:
        cohort: The cohort the run read (documents, variables, and the known table if any).
        predictions: ``patient_id -> variable -> cell`` (``""`` = not documented) of the evaluated patients.
        provenance: provenance.jsonl records (:func:`clinrag.generation.pipeline.provenance_records`).
        metrics: metrics.json content (:func:`clinrag.evaluation.evaluate_table`), optionally with
            ``retrieval`` and ``baselines``; ``{}`` when there is nothing to score against.
        config: The resolved config.
        manifest: The run manifest (versions, git commit, hashes, seeds).
        title: The page title.
        with_text: Embed patient text (cited documents, quotes, raw answers); False, the default: none, a
            masked view of each passage instead (see the module docstring). The banner says which.
        passages: The run's passages, for the section of each supporting passage (None: not shown).

    Returns:
        The HTML text; it loads nothing from the network.
    """
    metrics = metrics or {}
    config = config or {}
    manifest = manifest or {}
    variables = _report_variables(cohort, predictions, metrics)
    cells, documents = build_cells(cohort, predictions, provenance, variables, with_text, passages)
    has_gold = any(cell["gold"] is not None for cell in cells)
    logger.info(
        "report: %d cells, %d patients, %d documents cited, patient text %s",
        len(cells),
        len(predictions),
        len(documents),
        "embedded" if with_text else "left out",
    )
    overall = metrics.get("overall") or {}
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            title=title,
            banner=_banner(cohort, with_text, len(documents)),
            cards=_header_cards(metrics, len(cells), len(predictions)),
            has_overall=bool(overall),
            patients_without_predictions=overall.get("patients_without_predictions"),
            variable_table=_variable_table(metrics),
            retrieval_table=_retrieval_table(metrics),
            confusions=_confusions(metrics),
            statuses=list(STATUS_LABELS.items()),
            has_gold=has_gold,
            facts=[_manifest_fact(key, value) for key, value in _flatten(manifest)],
            config_yaml=(
                yaml.safe_dump(_plain(config), allow_unicode=True, sort_keys=False, width=110)
                if config
                else ""
            ),
            manifest_json=json.dumps(_plain(manifest), ensure_ascii=False, indent=2),
            data={
                "variables": variables,
                "has_gold": has_gold,
                "with_text": with_text,
                "cells": cells,
                "documents": documents,
            },
        )
    )


def write_report(
    path: str | Path,
    cohort: Cohort,
    predictions: dict[str, dict[str, str]],
    provenance: list[dict[str, Any]],
    metrics: dict[str, Any],
    config: dict[str, Any],
    manifest: dict[str, Any],
    title: str = "clinrag run",
    with_text: bool = False,
    passages: Iterable[Any] | None = None,
) -> None:
    """Render the report (:func:`render_report`; patient text only ``with_text``) and write it to ``path``
    atomically."""
    page = render_report(
        cohort,
        predictions,
        provenance,
        metrics,
        config,
        manifest,
        title,
        with_text=with_text,
        passages=passages,
    )
    atomic_write_text(path, page)
