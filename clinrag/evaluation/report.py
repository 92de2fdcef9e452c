"""Contract 3's ``report.html``: one self-contained page per run (inline CSS and JS, no network asset).

The page shows the run's headline numbers (overall accuracy with its interval, baselines, retrieval recall@k
and MRR), a per-variable metrics table, the confusion tables of category variables, a filterable viewer of
every predicted cell (predicted and known value, correct or not, status) that opens the supporting passage
highlighted in its full document, and the resolved config and manifest.

Safety: every value rendered as HTML goes through :func:`html.escape` in Python or ``textContent`` in the
page's script (never ``innerHTML`` with data). The cells and the documents they cite travel as JSON in a
``<script type="application/json">`` tag where ``<``, ``>`` and ``&`` are written as ``\\u003c``-style escapes,
so no document text can close the tag.

Offsets: provenance offsets count Python code points, JavaScript strings count UTF-16 code units; the page
receives both, converted here, so a passage after an emoji or any astral character is still highlighted
exactly.
"""

from __future__ import annotations

import html
import json
import logging
import math
from pathlib import Path
from typing import Any

import yaml

from clinrag.data.cohort import Cohort
from clinrag.data.values import cells_match
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


# ---- small formatting helpers ---------------------------------------------------------------------------
def _e(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def _metric_html(value: float | None, ci: list[float] | None, digits: int = 3) -> str:
    """A value with its interval underneath, as table-cell content."""
    if value is None:
        return '<span class="muted">—</span>'
    text = f'<span class="v">{_num(value, digits)}</span>'
    if ci:
        text += f'<span class="ci">[{_num(ci[0], digits)}, {_num(ci[1], digits)}]</span>'
    return text


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


def _evidence(cohort: Cohort, record: dict[str, Any], documents: dict[str, dict[str, Any]]) -> dict | None:
    """A provenance record's supporting passage, with UTF-16 offsets; adds its document to ``documents``."""
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
        "quote": quote,
        "date": record.get("date"),
        "in_document": False,
        "offsets_match": False,
    }
    try:
        doc = cohort.document(doc_id) if doc_id is not None else None
    except KeyError:
        doc = None
    if doc is None:
        return evidence
    if doc_id not in documents:
        documents[doc_id] = {
            "patient_id": doc.patient_id,
            "doc_type": doc.doc_type,
            "date": doc.date_str,
            "text": doc.text,
        }
    evidence["in_document"] = True
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(doc.text):
        evidence["u16_start"] = _utf16_offset(doc.text, start)
        evidence["u16_end"] = _utf16_offset(doc.text, end)
        evidence["offsets_match"] = quote is None or doc.text[start:end] == quote
    return evidence


def build_cells(
    cohort: Cohort,
    predictions: dict[str, dict[str, str]],
    provenance: list[dict[str, Any]],
    variables: list[str],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The cell viewer's rows and the documents they cite.

    Args:
        cohort: The cohort (documents, variables, known table if any).
        predictions: ``patient_id -> variable -> cell`` of the evaluated patients.
        provenance: provenance.jsonl records; those of patients outside ``predictions`` are ignored.
        variables: The variables to show, in order.

    Returns:
        One dict per (patient, variable) (``patient``, ``variable``, ``type``, ``predicted``, ``gold`` or None
        when unknown, ``correct`` or None, ``status``, ``score``, ``answer``, ``failure``, ``evidence`` or
        None), and ``doc_id -> {patient_id, doc_type, date, text}`` for each cited document.
    """
    by_cell: dict[tuple[str, str], dict[str, Any]] = {}
    for record in provenance:
        by_cell.setdefault((record.get("patient_id"), record.get("variable")), record)
    table = cohort.table or {}
    known_columns = set(cohort.table_columns) if cohort.table is not None else set()
    documents: dict[str, dict[str, Any]] = {}
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
                evidence = _evidence(cohort, record, documents)
            else:
                status, evidence = "no_provenance", None
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
                    "answer": record.get("answer") if record else None,
                    "failure": record.get("failure") if record else None,
                    "evidence": evidence,
                }
            )
    return cells, documents


# ---- static sections ----------------------------------------------------------------------------------
def _header_html(title: str, metrics: dict[str, Any], n_cells: int, n_patients: int) -> str:
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
    cards.append(_card("cells", str(overall.get("n", n_cells)), cells_sub, ""))
    if metrics.get("split"):
        boot = metrics.get("bootstrap") or {}
        sub = f"{boot.get('n_resamples', '?')} bootstrap resamples over {boot.get('unit', 'patient')}s"
        cards.append(_card("split", str(metrics["split"]), sub, ""))
    for name, base in (metrics.get("baselines") or {}).items():
        acc = base.get("accuracy")
        delta = ""
        if acc is not None and overall.get("accuracy") is not None:
            delta = f" · run {overall['accuracy'] - acc:+.3f}"
        cards.append(_card(f"baseline: {name}", _num(acc), f"{_ci_text(base.get('accuracy_ci'))}{delta}", ""))
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
        cards.append(_card("evidence MRR", _num(retrieval["mrr"]), _ci_label(retrieval.get("mrr_ci")), ""))
    notes = []
    if not overall:
        notes.append(
            '<p class="note">No known table for these patients: predictions and provenance only.</p>'
        )
    elif overall.get("patients_without_predictions"):
        notes.append(
            f'<p class="note warn">{_e(overall["patients_without_predictions"])} evaluated patients have no '
            "prediction (their cells count as abstentions).</p>"
        )
    return f'<header><h1>{_e(title)}</h1><div class="cards">{"".join(cards)}</div>{"".join(notes)}</header>'


def _card(label: str, value: str, sub: str, tip: str) -> str:
    tip_attr = f' title="{_e(tip)}"' if tip else ""
    return (
        f'<div class="card"{tip_attr}><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div>'
        f'<div class="sub">{_e(sub)}</div></div>'
    )


def _recall_keys(result: dict[str, Any]) -> list[str]:
    keys = [k for k in result if k.startswith("recall@") and not k.endswith("_ci")]
    return sorted(keys, key=lambda k: int(k.split("@", 1)[1]) if k.split("@", 1)[1].isdigit() else 0)


def _accuracy_cell(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return f"<td>{_metric_html(None, None)}</td>"
    return f'<td class="acc" style="--p:{100 * value:.1f}%">{_metric_html(value, ci)}</td>'


def _variables_html(metrics: dict[str, Any]) -> str:
    per_variable = metrics.get("variables") or {}
    if not per_variable:
        return ""
    shown = [(key, label) for key, label in TYPE_METRICS if any(key in r for r in per_variable.values())]
    head = "".join(f"<th>{_e(label)}</th>" for _, label in shown)
    head += "".join(f'<th title="{_e(tip)}">{_e(label)}</th>' for _, label, tip in COUNT_METRICS)
    rows = []
    for name, result in per_variable.items():
        cols = [
            f'<td class="name">{_e(name)}</td>',
            f'<td class="type">{_e(result.get("type"))}</td>',
            f'<td class="n">{_e(result.get("n"))}</td>',
            f'<td class="n">{_e(result.get("documented", ""))}</td>',
            _accuracy_cell(result.get("accuracy"), result.get("accuracy_ci")),
        ]
        for key, _ in shown:
            digits = 2 if key == "mae" else 3
            cols.append(
                f"<td>{_metric_html(result.get(key), result.get(f'{key}_ci'), digits)}</td>"
                if key in result
                else "<td></td>"
            )
        for key, _, _ in COUNT_METRICS:
            count = result.get(key)
            cls = "n bad-count" if count else "n zero"
            cols.append(f'<td class="{cls}">{_e(count if count is not None else "")}</td>')
        rows.append(f"<tr>{''.join(cols)}</tr>")
    overall = metrics.get("overall") or {}
    foot = ""
    if overall:
        span = len(shown) + len(COUNT_METRICS)
        foot = (
            f'<tfoot><tr><td class="name">overall (cells)</td><td></td><td class="n">{_e(overall.get("n"))}</td>'
            f"<td></td>{_accuracy_cell(overall.get('accuracy'), overall.get('accuracy_ci'))}"
            f'<td colspan="{span}" class="muted">{_e(overall.get("n_patients"))} patients × '
            f"{_e(overall.get('n_variables'))} variables</td></tr></tfoot>"
        )
    return (
        '<section id="variables"><h2>Metrics by variable</h2>'
        '<p class="hint">95% bootstrap intervals over patients in brackets. Abstention is explicit: an empty '
        "prediction on an empty known cell is correct.</p>"
        '<div class="scroll-x"><table class="metrics"><thead><tr><th class="l">variable</th><th class="l">type</th>'
        f'<th title="evaluated cells">n</th><th title="cells with a known value">doc.</th><th>accuracy</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody>{foot}</table></div></section>"
    )


def _retrieval_html(metrics: dict[str, Any]) -> str:
    retrieval = metrics.get("retrieval") or {}
    sections = [("variable", retrieval.get("variables") or {}), ("group", retrieval.get("groups") or {})]
    if not any(items for _, items in sections):
        return ""
    overall = retrieval.get("overall") or {}
    keys = _recall_keys(overall) or _recall_keys(next(iter(sections[0][1].values()), {}))
    head = "".join(f"<th>{_e(k)}</th>" for k in keys) + "<th>MRR</th>"
    rows = []
    for kind, items in sections:
        for name, result in items.items():
            cols = [f'<td class="name">{_e(name)}</td><td class="type">{kind}</td>']
            cols.append(f'<td class="n">{_e(result.get("n"))}</td>')
            cols += [_accuracy_cell(result.get(k), result.get(f"{k}_ci")) for k in keys]
            cols.append(f"<td>{_metric_html(result.get('mrr'), result.get('mrr_ci'))}</td>")
            rows.append(f"<tr>{''.join(cols)}</tr>")
    split = retrieval.get("split")
    split_text = f" (split {_e(split)})" if split else ""
    return (
        '<section id="retrieval"><details><summary><h2>Retrieval by variable</h2></summary>'
        f'<p class="hint">Cells with gold evidence{split_text}: a hit is a retrieved passage overlapping a gold '
        "span.</p>"
        '<div class="scroll-x"><table class="metrics"><thead><tr><th class="l">variable</th><th></th><th>n</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details></section>"
    )


def _confusion_html(metrics: dict[str, Any]) -> str:
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
        head = "".join(f'<th class="pred">{_e(labels[j])}</th>' for j in keep)
        rows = []
        for i in keep:
            tds = []
            for j in keep:
                count = matrix[i][j]
                cls = "diag" if i == j else ("off" if count else "zero")
                alpha = 0.12 + 0.6 * count / peak if count else 0
                tds.append(f'<td class="{cls}" style="--a:{alpha:.2f}">{count}</td>')
            rows.append(f'<tr><th class="gold">{_e(labels[i])}</th>{"".join(tds)}</tr>')
        hidden = len(labels) - len(keep)
        hidden_note = f' <span class="muted">({hidden} unused classes hidden)</span>' if hidden else ""
        blocks.append(
            f'<div class="confusion"><h3>{_e(name)}{hidden_note}</h3><table><thead><tr>'
            f'<th class="corner">known ↓ / predicted →</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    if not blocks:
        return ""
    return (
        '<section id="confusion"><h2>Confusion of category variables</h2>'
        '<p class="hint">Rows: known value; columns: predicted value.</p>'
        f'<div class="confusions">{"".join(blocks)}</div></section>'
    )


def _viewer_html(has_gold: bool) -> str:
    disabled = "" if has_gold else " disabled"
    return (
        '<section id="cells"><h2>Cells and their evidence</h2>'
        '<p class="hint">Click a row (or use ↑/↓) to open the supporting passage in its document.</p>'
        '<div class="filters">'
        '<label>variable <select id="filter-variable"><option value="">all</option></select></label>'
        '<label>status <select id="filter-status"><option value="">all</option>'
        '<option value="documented">documented</option><option value="not_documented">not documented</option>'
        '<option value="failed">failed</option></select></label>'
        '<label>patient <input id="filter-patient" type="search" placeholder="id contains…"></label>'
        f'<label class="check"><input id="filter-errors" type="checkbox"{disabled}> errors only</label>'
        '<span id="cell-count" class="muted"></span></div>'
        '<div class="viewer"><div class="cell-list"><table id="cell-table"><thead><tr>'
        "<th>patient</th><th>variable</th><th>predicted</th><th>known</th><th></th><th>status</th>"
        '<th>source</th></tr></thead><tbody id="cell-rows"></tbody></table></div>'
        '<aside id="evidence-panel"><p class="muted">Select a cell.</p></aside></div></section>'
    )


def _flatten(obj: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    if isinstance(obj, dict) and obj and depth < 3:
        items = []
        for key, value in obj.items():
            items += _flatten(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
        return items
    return [(prefix, obj)]


def _manifest_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = "—" if value is None else str(value)
    is_hash = len(text) >= 32 and all(c in "0123456789abcdef" for c in text.lower().removeprefix("sha256:"))
    if is_hash:
        return f'<code title="{_e(text)}">{_e(text[:12])}…</code>'
    return f"<code>{_e(text)}</code>"


def _run_html(config: dict[str, Any], manifest: dict[str, Any]) -> str:
    facts = "".join(
        f"<tr><th>{_e(key)}</th><td>{_manifest_value(value)}</td></tr>" for key, value in _flatten(manifest)
    )
    manifest_block = f'<table class="facts">{facts}</table>' if facts else '<p class="muted">No manifest.</p>'
    config_text = (
        yaml.safe_dump(_plain(config), allow_unicode=True, sort_keys=False, width=110) if config else ""
    )
    return (
        '<section id="run"><h2>Run</h2><div class="run-grid"><div><h3>Manifest</h3>'
        f"{manifest_block}</div><div><details><summary><h3>Resolved config (YAML)</h3></summary>"
        f'<pre class="config">{_e(config_text) or "(empty)"}</pre></details>'
        f'<details><summary><h3>Manifest (JSON)</h3></summary><pre class="config">'
        f"{_e(json.dumps(_plain(manifest), ensure_ascii=False, indent=2))}</pre></details></div></div></section>"
    )


# ---- the page -----------------------------------------------------------------------------------------
def render_report(
    cohort: Cohort,
    predictions: dict[str, dict[str, str]],
    provenance: list[dict[str, Any]],
    metrics: dict[str, Any],
    config: dict[str, Any],
    manifest: dict[str, Any],
    title: str = "clinrag run",
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

    Returns:
        The HTML text; it loads nothing from the network.
    """
    metrics = metrics or {}
    variables = _report_variables(cohort, predictions, metrics)
    cells, documents = build_cells(cohort, predictions, provenance, variables)
    has_gold = any(cell["gold"] is not None for cell in cells)
    data = {"variables": variables, "has_gold": has_gold, "cells": cells, "documents": documents}
    logger.info(
        "report: %d cells, %d patients, %d documents embedded", len(cells), len(predictions), len(documents)
    )
    body = "".join(
        [
            _header_html(title, metrics, len(cells), len(predictions)),
            "<main>",
            _variables_html(metrics),
            _retrieval_html(metrics),
            _confusion_html(metrics),
            _viewer_html(has_gold),
            _run_html(config or {}, manifest or {}),
            "</main>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No network at all, even if a value ever slipped through unescaped.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>{body}\n"
        f'<script type="application/json" id="report-data">{_script_json(data)}</script>\n'
        f"<script>{_JS}</script>\n</body></html>\n"
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
) -> None:
    """Render the report (:func:`render_report`) and write it to ``path`` atomically."""
    atomic_write_text(path, render_report(cohort, predictions, provenance, metrics, config, manifest, title))


_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--accent:#0969da;
--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--warn:#9a6700;--bar:#ddf4ff;--mark:#fff8c5}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);
background:var(--bg)}
header{padding:20px 28px 8px;border-bottom:1px solid var(--line);background:var(--soft)}
h1{margin:0 0 12px;font-size:22px;font-weight:600}
h2{font-size:17px;margin:0 0 6px;font-weight:600;display:inline-block}
h3{font-size:14px;margin:0 0 6px;font-weight:600;display:inline-block}
main{padding:4px 28px 40px}
section{margin-top:22px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:10px}
.card{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:130px}
.card .label{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card .sub{font-size:12px;color:var(--muted);font-variant-numeric:tabular-nums}
.note{margin:4px 0 10px;color:var(--muted)}.note.warn{color:var(--warn)}
.hint{margin:0 0 8px;color:var(--muted);font-size:12.5px}
.muted{color:var(--muted)}
.scroll-x{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.metrics{font-size:12.5px;min-width:60%}
table.metrics th,table.metrics td{padding:4px 9px;border-bottom:1px solid var(--line);text-align:right;
vertical-align:top;white-space:nowrap}
table.metrics th{background:var(--soft);font-weight:600;position:sticky;top:0}
table.metrics td.name,table.metrics td.type,table.metrics th.l{text-align:left}
td.name{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
td.type{color:var(--muted)}
td .v{display:block}td .ci{display:block;font-size:11px;color:var(--muted)}
td.acc{background:linear-gradient(90deg,var(--bar) var(--p),transparent var(--p))}
td.bad-count{color:var(--bad)}td.zero{color:#afb8c1}
tfoot td{font-weight:600;border-top:2px solid var(--line)}
details>summary{cursor:pointer;list-style-position:outside}
details>summary h2,details>summary h3{margin-left:2px}
.confusions{display:flex;flex-wrap:wrap;gap:18px}
.confusion table{font-size:12px}
.confusion th,.confusion td{border:1px solid var(--line);padding:3px 7px;text-align:right}
.confusion th.pred{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;font-weight:500;
padding:6px 3px;max-height:140px}
.confusion th.gold{text-align:left;font-weight:500;white-space:nowrap}
.confusion th.corner{font-size:10.5px;color:var(--muted);font-weight:400;vertical-align:bottom;text-align:left}
.confusion td.diag{background:rgba(26,127,55,var(--a))}
.confusion td.off{background:rgba(207,34,46,var(--a))}
.confusion td.zero{color:#d0d7de}
.filters{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin:6px 0 10px;font-size:13px}
.filters select,.filters input[type=search]{font:inherit;padding:3px 6px;border:1px solid var(--line);
border-radius:5px;background:var(--bg)}
.viewer{display:grid;grid-template-columns:minmax(0,1.3fr) minmax(0,1fr);gap:16px;align-items:start}
.cell-list{max-height:78vh;overflow:auto;border:1px solid var(--line);border-radius:6px}
#cell-table{width:100%;font-size:12px}
#cell-table th{position:sticky;top:0;background:var(--soft);text-align:left;padding:5px 8px;font-weight:600;
border-bottom:1px solid var(--line);z-index:1}
#cell-table td{padding:3px 7px;border-bottom:1px solid #eaeef2;max-width:220px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
#cell-table tbody tr{cursor:pointer}
#cell-table tbody tr:hover{background:var(--soft)}
#cell-table tr.bad td.verdict{color:var(--bad);font-weight:700}
#cell-table tr.ok td.verdict{color:var(--ok);font-weight:700}
#cell-table tr.bad{background:#fff5f5}
#cell-table tr.selected,#cell-table tr.selected:hover{background:#ddf4ff;box-shadow:inset 3px 0 0 var(--accent)}
#cell-table td.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11.5px}
#cell-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:var(--muted);font-style:italic}
.badge{display:inline-block;padding:0 5px;border-radius:9px;font-size:10.5px;border:1px solid var(--line)}
.badge.failed{color:var(--bad);border-color:var(--bad)}
.badge.not_documented{color:var(--muted)}
.badge.documented{color:var(--ok);border-color:#aceebb}
#evidence-panel{position:sticky;top:8px;border:1px solid var(--line);border-radius:6px;padding:12px 14px;
max-height:calc(100vh - 16px);display:flex;flex-direction:column;min-height:200px}
#evidence-panel h3{display:block;font-size:15px;margin:0 0 8px}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:13px;margin:0 0 10px}
.kv dt{color:var(--muted)}.kv dd{margin:0;overflow-wrap:anywhere}
.verdict-ok{color:var(--ok);font-weight:600}.verdict-bad{color:var(--bad);font-weight:600}
.doc-meta{font-size:12.5px;padding:6px 10px;background:var(--soft);border:1px solid var(--line);
border-bottom:0;border-radius:6px 6px 0 0}
.doc-text{position:relative;white-space:pre-wrap;overflow-wrap:anywhere;overflow:auto;flex:1;min-height:120px;
font:12.5px/1.55 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:10px;border:1px solid var(--line);
border-radius:0 0 6px 6px;margin:0}
mark{background:var(--mark);outline:2px solid #d4a72c;border-radius:2px;padding:0 1px}
.warn-line{color:var(--warn);font-size:12.5px;margin:0 0 6px}
.run-grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px}
table.facts{font-size:12.5px}
table.facts th{text-align:left;font-weight:500;color:var(--muted);padding:2px 14px 2px 0;vertical-align:top;
white-space:nowrap}
table.facts td{padding:2px 0;overflow-wrap:anywhere}
pre.config{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:10px;font-size:12px;
max-height:480px;overflow:auto}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
@media (max-width:1000px){.viewer,.run-grid{grid-template-columns:1fr}#evidence-panel{position:static}}
"""

# The script builds the cell viewer from the JSON data. It only ever writes data through textContent.
_JS = r"""
(function () {
  "use strict";
  window.addEventListener("error", function (event) { document.body.dataset.error = String(event.message); });
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var cells = data.cells, documents = data.documents;
  var tbody = document.getElementById("cell-rows");
  var panel = document.getElementById("evidence-panel");
  var fVariable = document.getElementById("filter-variable");
  var fStatus = document.getElementById("filter-status");
  var fPatient = document.getElementById("filter-patient");
  var fErrors = document.getElementById("filter-errors");
  var counter = document.getElementById("cell-count");
  var STATUS = {documented: "documented", not_documented: "not documented", failed: "failed",
                no_provenance: "no provenance"};
  var rows = [];
  var selected = -1;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function valueNode(tag, value) {
    if (value === null || value === undefined) return el(tag, "—", "empty");
    if (value === "") return el(tag, "not documented", "empty");
    return el(tag, value);
  }

  data.variables.forEach(function (name) {
    var option = el("option", name);
    option.value = name;
    fVariable.appendChild(option);
  });

  var fragment = document.createDocumentFragment();
  cells.forEach(function (cell, i) {
    var tr = el("tr", null, "cell-row" + (cell.correct === true ? " ok" : cell.correct === false ? " bad" : ""));
    tr.dataset.index = String(i);
    tr.appendChild(el("td", cell.patient, "mono"));
    tr.appendChild(el("td", cell.variable, "mono"));
    tr.appendChild(valueNode("td", cell.predicted));
    tr.appendChild(valueNode("td", cell.gold));
    tr.appendChild(el("td", cell.correct === true ? "✓" : cell.correct === false ? "✗" : "", "verdict"));
    var status = el("td");
    status.appendChild(el("span", STATUS[cell.status] || cell.status, "badge " + cell.status));
    tr.appendChild(status);
    var ev = cell.evidence, doc = ev && ev.doc_id !== null ? documents[ev.doc_id] : null;
    var source = el("td", doc ? doc.doc_type + " " + doc.date.slice(0, 10) : (ev ? ev.doc_id || "" : ""),
                    "muted");
    if (doc) source.title = ev.doc_id;
    tr.appendChild(source);
    rows.push(tr);
    fragment.appendChild(tr);
  });
  tbody.appendChild(fragment);

  function renderPanel(cell) {
    panel.textContent = "";
    panel.appendChild(el("h3", cell.patient + " · " + cell.variable));
    var kv = el("dl", null, "kv");
    function add(key, node) { kv.appendChild(el("dt", key)); kv.appendChild(node); }
    add("type", el("dd", cell.type));
    add("predicted", valueNode("dd", cell.predicted));
    if (cell.gold !== null) {
      add("known", valueNode("dd", cell.gold));
      add("verdict", el("dd", cell.correct ? "correct" : "wrong", cell.correct ? "verdict-ok" : "verdict-bad"));
    }
    add("status", el("dd", STATUS[cell.status] || cell.status));
    if (cell.score !== null) add("score", el("dd", Number(cell.score).toFixed(4)));
    if (cell.answer !== null && cell.answer !== undefined && cell.answer !== "") add("raw answer", el("dd", cell.answer));
    if (cell.failure) add("failure", el("dd", cell.failure, "verdict-bad"));
    panel.appendChild(kv);
    var ev = cell.evidence;
    if (!ev) {
      panel.appendChild(el("p", "No supporting passage.", "muted"));
      return;
    }
    var doc = ev.in_document ? documents[ev.doc_id] : null;
    var meta = el("div", null, "doc-meta");
    meta.textContent = doc ? doc.doc_type + " · " + doc.date + " · " + ev.doc_id
                           : "document " + (ev.doc_id || "?") + (ev.date ? " · " + ev.date : "");
    var text = el("pre", null, "doc-text");
    var mark = el("mark", null);
    mark.id = "evidence-mark";
    if (doc && ev.u16_start !== undefined) {
      if (!ev.offsets_match) {
        panel.appendChild(el("p", "The quote stored in provenance differs from the document at these offsets.",
                             "warn-line"));
      }
      text.appendChild(document.createTextNode(doc.text.slice(0, ev.u16_start)));
      mark.textContent = doc.text.slice(ev.u16_start, ev.u16_end);
      text.appendChild(mark);
      text.appendChild(document.createTextNode(doc.text.slice(ev.u16_end)));
    } else {
      panel.appendChild(el("p", doc ? "Offsets outside the document: stored quote shown."
                                    : "Document not in the cohort: stored quote shown.", "warn-line"));
      mark.textContent = ev.quote || "";
      text.appendChild(mark);
    }
    panel.appendChild(meta);
    panel.appendChild(text);
    text.scrollTop = Math.max(0, mark.offsetTop - text.clientHeight / 3);
  }

  function select(i) {
    if (i < 0 || i >= cells.length) return;
    if (selected >= 0) rows[selected].classList.remove("selected");
    selected = i;
    rows[i].classList.add("selected");
    document.body.dataset.selected = String(i);
    renderPanel(cells[i]);
  }

  function applyFilters() {
    var variable = fVariable.value, status = fStatus.value;
    var patient = fPatient.value.trim().toLowerCase(), errors = fErrors.checked;
    var shown = 0;
    cells.forEach(function (cell, i) {
      var visible = (!variable || cell.variable === variable) && (!status || cell.status === status) &&
        (!errors || cell.correct === false) && (!patient || cell.patient.toLowerCase().indexOf(patient) >= 0);
      rows[i].hidden = !visible;
      if (visible) shown += 1;
    });
    counter.textContent = shown + " of " + cells.length + " cells";
  }

  function step(direction) {
    for (var i = selected + direction; i >= 0 && i < rows.length; i += direction) {
      if (!rows[i].hidden) {
        select(i);
        rows[i].scrollIntoView({block: "nearest"});
        return;
      }
    }
  }

  tbody.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (tr && tr.dataset.index !== undefined) select(Number(tr.dataset.index));
  });
  [fVariable, fStatus, fErrors].forEach(function (node) { node.addEventListener("change", applyFilters); });
  fPatient.addEventListener("input", applyFilters);
  document.addEventListener("keydown", function (event) {
    var tag = event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    if (event.key === "ArrowDown" || event.key === "j") { step(1); event.preventDefault(); }
    if (event.key === "ArrowUp" || event.key === "k") { step(-1); event.preventDefault(); }
  });

  applyFilters();
  // Open first a wrong cell that has a passage, else any cell with a passage, else the first cell.
  var first = -1;
  for (var i = 0; i < cells.length && first < 0; i++) if (cells[i].correct === false && cells[i].evidence) first = i;
  for (var j = 0; j < cells.length && first < 0; j++) if (cells[j].evidence) first = j;
  if (first < 0 && cells.length) first = 0;
  if (first >= 0) select(first);
  document.body.dataset.ready = "1";
})();
"""
