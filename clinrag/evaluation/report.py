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

Patient text only when asked (``with_text``): the cell viewer's rows, and the masked view of each passage in a
report without text, are built by :mod:`clinrag.evaluation.report_cells` (whose docstring says what such a
report shows); this module lays out the rest of the page.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from clinrag.data.cohort import Cohort
from clinrag.evaluation.report_cells import (  # noqa: F401  (re-exported: importable from here as before)
    MASK,
    build_cells,
    masked_passage,
    report_variables,
    shown_terms,
)
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


def _plain(obj: Any) -> Any:
    """A JSON/YAML-safe copy (paths, tuples and other objects become strings or lists)."""
    return json.loads(json.dumps(obj, default=str))


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
    variables = report_variables(cohort, predictions, metrics)
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
