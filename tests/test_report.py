"""The run report: self-contained, escaped, offsets exact, and rendered by a real browser when one is here."""

from __future__ import annotations

import copy
import html
import importlib.resources
import json
import re
from pathlib import Path

import pytest

from clinrag.data.cohort import Cohort, EvidenceSpan
from clinrag.data.validate import load_cohort
from clinrag.evaluation import evaluate_table
from clinrag.evaluation.report import render_report, write_report
from clinrag.synth import write_synthetic_cohort

# Put before the first wrong cell's passage: markup that must stay text, and an astral character (two UTF-16
# code units in JavaScript, one code point in Python) that shifts every later offset in the browser.
HOSTILE = """</script><script>alert(1)</script> <b>gras</b> <!-- 🧠 --> & "cité" l'avis "><i x='1'> """
CONFIG = {"retriever": {"type": "bm25", "k": 5}, "reader": {"type": "llm", "model": "models/tiny"}, "seed": 3}
MANIFEST = {
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "versions": {"clinrag": "0.1.0", "python": "3.11"},
    "seeds": {"run": 3},
    "models": {"reader": "sha256:" + "ab" * 32},
}


def _wrong(var_type: str, cell: str, values: list[str] | None) -> str:
    """A cell that does not match ``cell``."""
    if var_type == "boolean":
        return "false" if cell == "true" else "true"
    if var_type == "integer":
        return str(int(cell) + 3)
    if var_type == "category" and values:
        return next(v for v in values if v != cell)
    return ""


def build_run(folder: Path) -> dict:
    """A 12-patient cohort with a hostile first-cited document, test-split predictions (some wrong),
    provenance from the gold evidence, the metrics, and the rendered page."""
    write_synthetic_cohort(folder, 12, seed=3)
    cohort = load_cohort(folder)
    patients = cohort.split_patients("test")
    evidence = {(s.patient_id, s.variable): s for s in cohort.evidence if s.patient_id in patients}
    predictions = {pid: dict(cohort.table[pid]) for pid in patients}
    wrong = []
    for (pid, name), _ in sorted(evidence.items()):
        var = cohort.variable(name)
        cell = predictions[pid][name]
        if cell and var.type in ("boolean", "integer", "category") and len(wrong) < 4:
            predictions[pid][name] = _wrong(var.type, cell, var.values)
            wrong.append((pid, name))
    # The report opens the first wrong cell with a passage (in cell order): make its document hostile.
    order = [(pid, var.name) for pid in patients for var in cohort.variables]
    first_wrong = min(wrong, key=order.index)
    hostile_doc = evidence[first_wrong].doc_id
    doc = cohort.document(hostile_doc)
    doc.text = HOSTILE + doc.text
    cohort.evidence = [
        EvidenceSpan(s.patient_id, s.variable, s.doc_id, s.start + len(HOSTILE), s.end + len(HOSTILE))
        if s.doc_id == hostile_doc
        else s
        for s in cohort.evidence
    ]
    evidence = {(s.patient_id, s.variable): s for s in cohort.evidence if s.patient_id in patients}
    provenance = []
    for pid in patients:
        for var in cohort.variables:
            cell = predictions[pid][var.name]
            span = evidence.get((pid, var.name)) if cell else None
            provenance.append(
                {
                    "patient_id": pid,
                    "variable": var.name,
                    "value": cell or None,
                    "doc_id": span.doc_id if span else None,
                    "start": span.start if span else None,
                    "end": span.end if span else None,
                    "quote": cohort.document(span.doc_id).text[span.start : span.end] if span else None,
                    "date": cohort.document(span.doc_id).date_str if span else None,
                    "score": 0.5,
                    "answer": cell,
                    "status": "documented" if cell else "not_documented",
                    "tokens": 10,
                }
            )
    provenance[-1].update(status="failed", failure="decoder produced no value", value=None)
    metrics = evaluate_table(cohort, predictions, "test")
    metrics["baselines"] = {"majority": {"accuracy": 0.5, "accuracy_ci": [0.4, 0.6]}}
    metrics["retrieval"] = {
        "overall": {"n": 40, "recall@1": 0.5, "recall@1_ci": [0.4, 0.6], "recall@5": 0.8, "mrr": 0.61},
        "variables": {"age": {"n": 3, "recall@1": 1.0, "recall@5": 1.0, "mrr": 1.0}},
        "split": "test",
    }
    # with the patient text (tests/test_report_text.py checks the default report, which leaves it out)
    page = render_report(
        cohort, predictions, provenance, metrics, CONFIG, MANIFEST, title="test <run>", with_text=True
    )
    return {
        "cohort": cohort,
        "predictions": predictions,
        "provenance": provenance,
        "metrics": metrics,
        "html": page,
        "wrong": wrong,
        "hostile_doc": hostile_doc,
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """The run of :func:`build_run`, built once for the module."""
    return build_run(tmp_path_factory.mktemp("report") / "cohort")


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


def test_report_loads_nothing_from_the_network(run):
    page = run["html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_report_shows_every_variable_and_the_headline(run):
    page = run["html"]
    for var in run["cohort"].variables:
        assert var.name in page
    assert "test &lt;run&gt;" in page and "test <run>" not in page
    assert f"{run['metrics']['overall']['accuracy']:.3f}" in page
    assert "baseline: majority" in page and "evidence recall@5" in page and "evidence MRR" in page
    assert page.count('<div class="confusion">') == sum(
        1 for v in run["cohort"].variables if v.type == "category"
    )
    assert "0123456789abcdef0123456789abcdef01234567" in page  # the commit, in full in the manifest JSON
    assert "retriever:" in page  # the config as YAML


def test_embedded_cells_and_quotes_match_documents(run):
    data = _embedded(run["html"])
    cohort = run["cohort"]
    cells = data["cells"]
    assert len(cells) == sum(len(row) for row in run["predictions"].values())
    cited = {r["doc_id"] for r in run["provenance"] if r["doc_id"]}
    assert set(data["documents"]) == cited
    checked = 0
    for cell in cells:
        ev = cell["evidence"]
        if ev is None:
            continue
        text = data["documents"][ev["doc_id"]]["text"]
        assert text == cohort.document(ev["doc_id"]).text
        assert ev["offsets_match"] and text[ev["start"] : ev["end"]] == ev["quote"]
        # JavaScript slices UTF-16 code units: the converted offsets must select the same quote.
        units = text.encode("utf-16-le")
        assert units[2 * ev["u16_start"] : 2 * ev["u16_end"]].decode("utf-16-le") == ev["quote"]
        checked += 1
    assert checked > 10
    by_key = {(c["patient"], c["variable"]): c for c in cells}
    for key in run["wrong"]:
        assert by_key[key]["correct"] is False
    assert sum(c["correct"] is False for c in cells) == len(run["wrong"])
    assert cells[-1]["status"] == "failed" and cells[-1]["failure"]


def test_document_markup_cannot_break_out(run):
    page = run["html"]
    assert HOSTILE in run["cohort"].document(run["hostile_doc"]).text
    assert "alert(1)" in page  # the text is there, as data
    assert "<script>alert" not in page and "</script><script>alert" not in page
    assert "<b>gras" not in page and "<!--" not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2
    data = _embedded(page)
    assert data["documents"][run["hostile_doc"]]["text"].startswith(HOSTILE)


def test_config_manifest_title_and_labels_are_escaped(run):
    """Values from configs, manifests, metrics and variables reach the HTML only escaped."""
    payload = """<img src=x onerror=alert(2)> "motif" d'entrée"""
    metrics = copy.deepcopy(run["metrics"])
    name, result = next((n, r) for n, r in metrics["variables"].items() if r.get("confusion"))
    result["confusion"]["labels"][0] = payload
    metrics["split"] = payload
    metrics["retrieval"]["split"] = payload
    config = {"name": payload, "nested": {"note": payload}}
    manifest = {"command": [payload], "git": {"branch": payload}}
    page = render_report(
        run["cohort"], run["predictions"], run["provenance"], metrics, config, manifest, title=payload
    )
    assert "<img" not in page and "onerror=alert(2)>" not in page
    assert '"motif"' not in page and "d'entrée" not in page  # quotes escaped too, however they are spelled
    # title, h1, split card, retrieval hint, confusion row and column, config YAML, manifest table and JSON
    assert page.count("&lt;img src=x onerror=alert(2)&gt;") >= 10
    assert page.count("<script") == 2 and page.count("</script>") == 2


def test_templates_are_package_data_inlined_and_mark_nothing_safe(run):
    templates = importlib.resources.files("clinrag.evaluation") / "templates"
    page = run["html"]
    for asset in ("report.css", "report.js"):
        assert (templates / asset).read_text(encoding="utf-8") in page  # inlined verbatim, no link
    source = (templates / "report.html.j2").read_text(encoding="utf-8")
    assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source
    assert "<link" not in page and "<script src" not in page


def test_report_without_table_or_metrics(run, tmp_path):
    source = run["cohort"]
    cohort = Cohort(variables=source.variables, documents=source.documents)
    path = tmp_path / "run" / "report.html"
    write_report(path, cohort, run["predictions"], run["provenance"], {}, {}, {})
    page = path.read_text(encoding="utf-8")
    data = _embedded(page)
    assert data["has_gold"] is False
    assert all(c["gold"] is None and c["correct"] is None for c in data["cells"])
    assert len(data["cells"]) == sum(len(row) for row in run["predictions"].values())
    assert "No known table" in page and "Metrics by variable" not in page
    assert not list(path.parent.glob(".*.tmp"))


def test_report_renders_in_headless_chromium(run, tmp_path, chromium_dom):
    report = tmp_path / "report.html"
    report.write_text(run["html"], encoding="utf-8")
    dom = chromium_dom(report)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert "data-error" not in body, body
    assert 'data-ready="1"' in body
    data = _embedded(run["html"])
    assert len(re.findall(r'<tr class="cell-row', dom)) == len(data["cells"])
    selected = int(re.search(r'data-selected="(\d+)"', body).group(1))
    cell = data["cells"][selected]
    assert cell["correct"] is False and cell["evidence"]["doc_id"] == run["hostile_doc"]
    mark = re.search(r'<mark id="evidence-mark">(.*?)</mark>', dom, re.S)
    assert mark and html.unescape(mark.group(1)) == cell["evidence"]["quote"]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in dom  # shown as text in the document panel
    assert len(re.findall(r"<script", dom)) == 2
