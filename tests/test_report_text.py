"""report.html holds patient text only when asked (``report.with_text``, ``--with-text``).

Without it: no document text, quote, raw answer, failure message or ``text`` value; no identifier written in a
note (name, IPP, social security number, phone, note date); a masked view of each passage; the "left out" banner.
With it: the text and the warning banner. Either way the run's other files are byte for byte the same and the
stage cache keys do not move.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from clinrag.data.cohort import Cohort, Document
from clinrag.data.validate import load_cohort
from clinrag.data.variables import Variable
from clinrag.evaluation.report import (
    MASK,
    PSEUDONYMIZATION_MARKER,
    masked_passage,
    render_report,
    shown_terms,
)
from clinrag.experiment.config import ExperimentConfig, dump_experiment
from clinrag.experiment.runner import run_experiment
from clinrag.synth import write_synthetic_cohort

WARNING = "This report contains patient text: keep it where patient data may be kept."
LEFT_OUT = "Patient text left out of this report."

# What a note may hold that must never reach a report without text.
NAME, FIRST_NAME = "DUPONTEL", "Jeanne"
IPP = "8041580427"
NIR = "2 85 03 75 116 005 42"  # the birth year, 85, is also the age the report shows
PHONE = "06.35.28.42.71"
NOTE_DATE = "12/03/2021"
IDENTIFIERS = [NAME, FIRST_NAME, IPP, NIR, NIR.replace(" ", ""), PHONE, NOTE_DATE, "Rue des Lilas"]

HEADER = (
    f"Patiente : {NAME} {FIRST_NAME}, née le 04/05/1936\n"
    f"IPP : {IPP} — N° SS : {NIR}\n"
    f"Adresse : 3 Rue des Lilas, 44000 Nantes — Tél. : {PHONE}\n"
    f"Date : {NOTE_DATE}\n"
)
AGE_PASSAGE = f"Patiente de 85 ans, Madame {NAME}, NIR {NIR}."
NIHSS_PASSAGE = f"Examen : NIHSS à 12 le {NOTE_DATE} (appel au 06 12 34 56 78), vue par le Dr {FIRST_NAME}."


def _tiny() -> dict:
    """One patient, one note holding identifiers, and provenance citing two passages of it."""
    text = HEADER + "Histoire de la maladie :\n" + AGE_PASSAGE + "\n" + NIHSS_PASSAGE + "\nFin."
    doc = Document("P1", "P1-D1", dt.datetime(2021, 3, 12, 10, 0), "urgences", text, has_time=True)
    variables = [
        Variable(name="age", type="integer", description="Âge du patient en années"),
        # a learned keyword that happens to be a name: learned terms come from notes and are never shown
        Variable(
            name="nihss_admission", type="integer", description="Score NIHSS à l'admission", keywords=[NAME]
        ),
        Variable(name="commentaire", type="text", description="Commentaire libre"),
        Variable(name="glycemie", type="number", description="Glycémie à l'admission"),
    ]
    cohort = Cohort(variables=variables, documents=[doc])
    age_start, nihss_start = text.index(AGE_PASSAGE), text.index(NIHSS_PASSAGE)
    spans = {
        "age": (age_start, age_start + len(AGE_PASSAGE)),
        "nihss_admission": (nihss_start, nihss_start + len(NIHSS_PASSAGE)),
        "commentaire": (nihss_start, nihss_start + len(NIHSS_PASSAGE)),
    }
    predictions = {
        "P1": {"age": "85", "nihss_admission": "12", "commentaire": f"vue par {FIRST_NAME} {NAME}"}
    }
    predictions["P1"]["glycemie"] = ""
    provenance = []
    for name, cell in predictions["P1"].items():
        start, end = spans.get(name, (None, None))
        provenance.append(
            {
                "patient_id": "P1",
                "variable": name,
                "value": cell or None,
                "doc_id": doc.doc_id if start is not None else None,
                "start": start,
                "end": end,
                "quote": text[start:end] if start is not None else None,
                "date": doc.date_str if start is not None else None,
                "score": 0.75,
                "answer": cell,
                "status": "documented" if cell else "failed",
                "tokens": 12,
            }
        )
    provenance[-1]["answer"] = f"{NAME} {IPP}"
    provenance[-1]["failure"] = f"'{NAME} {IPP}' is not a number"
    passages = [
        SimpleNamespace(doc_id=doc.doc_id, start=0, end=len(HEADER), section=""),
        SimpleNamespace(
            doc_id=doc.doc_id, start=age_start, end=spans["age"][1], section="histoire de la maladie"
        ),
        SimpleNamespace(
            doc_id=doc.doc_id, start=nihss_start, end=spans["nihss_admission"][1], section="examen"
        ),
    ]
    return {"cohort": cohort, "predictions": predictions, "provenance": provenance, "passages": passages}


def _render(tiny: dict, **kwargs) -> str:
    return render_report(
        tiny["cohort"], tiny["predictions"], tiny["provenance"], {}, {"name": "t"}, {}, **kwargs
    )


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


def _visible(page: str) -> str:
    """The page with HTML entities and the embedded data's ``\\u003c``-style escapes decoded."""
    for escape, char in (("\\u0026", "&"), ("\\u003c", "<"), ("\\u003e", ">")):
        page = page.replace(escape, char)
    return html.unescape(page)


# ---- the report's content ----------------------------------------------------------------------------------
def test_default_report_holds_no_patient_text():
    tiny = _tiny()
    page = _render(tiny, passages=tiny["passages"])
    seen = _visible(page)
    for secret in IDENTIFIERS:
        assert secret not in seen, secret
    doc_text = tiny["cohort"].documents[0].text
    for passage in (AGE_PASSAGE, NIHSS_PASSAGE, HEADER.splitlines()[0]):
        assert passage not in seen
    # no word of the note but the registry terms ("Patiente de" names the age, NIHSS) and the section's label
    shown_words = {w for w in re.findall(r"[^\W\d_]{4,}", doc_text) if w in seen}
    assert shown_words == {"Patiente", "NIHSS", "maladie"}, shown_words
    data = _embedded(page)
    assert data["with_text"] is False
    assert all("text" not in doc for doc in data["documents"].values())
    by_var = {c["variable"]: c for c in data["cells"]}
    assert all(c["answer"] is None for c in data["cells"])
    assert by_var["glycemie"]["failure"] and IPP not in by_var["glycemie"]["failure"]
    assert by_var["commentaire"]["predicted"].startswith("[text, ")
    assert by_var["age"]["predicted"] == "85"  # the values themselves are shown, as in predictions.csv
    evidence = by_var["nihss_admission"]["evidence"]
    assert evidence["quote"] is None and "u16_start" not in evidence
    assert evidence["doc_id"] == "P1-D1" and evidence["date"] == "2021-03-12T10:00"
    assert (evidence["start"], evidence["end"]) == (doc_text.index(NIHSS_PASSAGE), doc_text.index("\nFin."))
    assert evidence["section"] == "examen"
    assert by_var["age"]["evidence"]["section"] == "histoire de la maladie"


def test_default_report_has_the_left_out_banner_and_says_how_to_include_text():
    tiny = _tiny()
    page = _render(tiny)
    assert LEFT_OUT in page and "--with-text" in page and "report.with_text: true" in page
    assert WARNING not in page
    banner = re.search(r'<div id="text-banner" class="banner (\S+)"', page)
    assert banner and banner.group(1) == "without-text"
    assert page.index('id="text-banner"') < page.index("<header>")  # at the top


def test_report_with_text_embeds_it_under_the_warning():
    tiny = _tiny()
    page = _render(tiny, with_text=True)
    assert WARNING in page and LEFT_OUT not in page
    assert re.search(r'<div id="text-banner" class="banner with-text"', page)
    data = _embedded(page)
    assert data["with_text"] is True
    text = data["documents"]["P1-D1"]["text"]
    assert text == tiny["cohort"].documents[0].text
    for secret in (NAME, IPP, NIR, PHONE):
        assert secret in text
    by_var = {c["variable"]: c for c in data["cells"]}
    assert by_var["nihss_admission"]["evidence"]["quote"] == NIHSS_PASSAGE
    assert by_var["glycemie"]["answer"] == f"{NAME} {IPP}"


def test_masked_view_shows_only_registry_terms_and_the_lone_value():
    tiny = _tiny()
    data = _embedded(_render(tiny))
    by_var = {c["variable"]: c for c in data["cells"]}
    for name, passage, value in (("age", AGE_PASSAGE, "85"), ("nihss_admission", NIHSS_PASSAGE, "12")):
        segments = by_var[name]["evidence"]["masked"]
        assert len("".join(t for _, t in segments)) == len(passage)  # offsets stay readable
        for kind, text in segments:
            if kind == "":
                assert not any(c.isalnum() for c in text), text
        values = [t for k, t in segments if k == "value"]
        # "85" of the NIR and "12" of the date and the phone number stay masked: only the lone value shows
        assert values == [value], (name, segments)
    nihss_terms = [t for k, t in by_var["nihss_admission"]["evidence"]["masked"] if k == "term"]
    # the learned keyword (a name) is not a shown term
    assert nihss_terms == ["NIHSS"] and NAME not in json.dumps(data)
    assert ("dupontel",) not in shown_terms(tiny["cohort"].variable("nihss_admission"))


def test_masked_passage_keeps_numbers_glued_to_others_masked():
    text = "NIHSS 12, le 12/03/2021 à 12h30, tél 06 12 34 56 78, NIR 1 12 03 75 ; glycémie 7,5 mmol/L"
    segments = masked_passage(text, [("nihss",), ("glycemie",)], {"12", "7.5", "7,5"})
    kept = [(k, t) for k, t in segments if k]
    assert kept == [("term", "NIHSS"), ("value", "12"), ("term", "glycémie"), ("value", "7,5")]
    masked = "".join(t for _, t in segments)
    assert len(masked) == len(text) and masked.count(MASK) > 20
    assert masked_passage("", [("nihss",)], {"12"}) == []


def test_banner_names_a_pseudonymized_cohort_and_still_hides_its_text(tmp_path):
    tiny = _tiny()
    (tmp_path / PSEUDONYMIZATION_MARKER).write_text("{}", encoding="utf-8")
    tiny["cohort"].root = tmp_path
    page = _render(tiny)
    assert "marked pseudonymized" in page and LEFT_OUT in page
    assert NAME not in _visible(page)
    assert "marked pseudonymized" in _render(tiny, with_text=True)


def test_no_identifier_of_a_synthetic_cohort_reaches_the_default_report(tmp_path):
    """Every gold identifier span of a synthetic cohort (phi.jsonl) is absent, though the report cites the
    passages around them."""
    write_synthetic_cohort(tmp_path / "c", 8, seed=5)
    cohort = load_cohort(tmp_path / "c")
    patients = cohort.patients[:4]
    spans = {(s.patient_id, s.variable): s for s in cohort.evidence}
    predictions = {pid: dict(cohort.table[pid]) for pid in patients}
    provenance = []
    for pid in patients:
        for var in cohort.variables:
            span = spans.get((pid, var.name))
            text = cohort.document(span.doc_id).text if span else ""
            provenance.append(
                {
                    "patient_id": pid,
                    "variable": var.name,
                    "value": predictions[pid][var.name] or None,
                    "doc_id": span.doc_id if span else None,
                    "start": span.start if span else None,
                    "end": span.end if span else None,
                    "quote": text[span.start : span.end] if span else None,
                    "score": 0.5,
                    "answer": predictions[pid][var.name],
                    "status": "documented",
                }
            )
    cited = {r["doc_id"] for r in provenance if r["doc_id"]}
    secrets = {
        cohort.document(s.doc_id).text[s.start : s.end]
        for s in cohort.phi
        if s.doc_id in cited and s.end - s.start >= 4
    }
    assert len(secrets) > 20
    without = _visible(render_report(cohort, predictions, provenance, {}, {}, {}))
    assert sorted(s for s in secrets if s in without) == []
    with_text = render_report(cohort, predictions, provenance, {}, {}, {}, with_text=True)
    assert sum(s in _visible(with_text) for s in secrets) == len(secrets)  # the check can fail


# ---- the run: the flag changes report.html only -----------------------------------------------------------
OTHER_FILES = ("predictions.csv", "provenance.jsonl", "metrics.json", "config.yaml", "vocabulary.json")


def test_with_text_is_left_out_of_config_yaml():
    config = ExperimentConfig.model_validate({"report": {"with_text": True}})
    assert config.report.with_text is True
    assert dump_experiment(config) == dump_experiment(ExperimentConfig())
    assert "report" not in yaml.safe_load(dump_experiment(config))


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report_text") / "cohort"
    write_synthetic_cohort(out, 16, seed=21)
    return out


def test_run_files_and_cache_keys_do_not_depend_on_the_flag(tiny_cohort, tiny_llama_dir, tmp_path, run_cli):
    """A run without text, then `clinrag run --with-text` into the same folder (allowed: config.yaml is the
    same), then `clinrag fill` with and without the flag: only report.html changes."""
    config = {
        "name": "tiny",
        "variables": ["nihss_admission", "thrombolyse", "toast"],
        "retriever": {"type": "bm25"},
        "retrieval": {"k": 2, "eval_ks": [1, 2]},
        "reader": {"model": str(tiny_llama_dir), "max_passage_chars": 80},
        "evaluation": {"bootstrap": 20},
    }
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    result = run_experiment(
        ExperimentConfig.model_validate(config), run_dir, tiny_cohort, cache, False, lambda m: None
    )
    before = {name: (run_dir / name).read_bytes() for name in OTHER_FILES}
    keys = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["cache"]["keys"]
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert LEFT_OUT in page and WARNING not in page
    assert '"text":' not in page and result.metrics["overall"]["n"] > 0

    # no --quiet: this test is about --with-text, not about silencing the libraries' progress bars
    args = ["--cohort", tiny_cohort, "--out", run_dir, "--cache", cache, "--with-text"]
    outcome = run_cli("run", config_file, *args)
    assert outcome.code == 0, outcome.stderr
    for name in OTHER_FILES:
        assert (run_dir / name).read_bytes() == before[name], name
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cache"]["keys"] == keys
    assert all(stage["cached"] for stage in manifest["stages"] if stage["stage"] != "cohort")
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert WARNING in page and LEFT_OUT not in page
    assert _embedded(page)["with_text"] is True

    filled = {}
    for flag in ([], ["--with-text"]):
        out = tmp_path / f"fill{len(flag)}"
        outcome = run_cli(
            "fill", "--cohort", tiny_cohort, "--run", run_dir, "--out", out, "--patients", "test", *flag
        )
        assert outcome.code == 0, outcome.stderr
        filled[bool(flag)] = out
    for name in ("predictions.csv", "table.csv", "provenance.jsonl", "metrics.json"):
        assert (filled[False] / name).read_bytes() == (filled[True] / name).read_bytes(), name
    assert LEFT_OUT in (filled[False] / "report.html").read_text(encoding="utf-8")
    assert WARNING in (filled[True] / "report.html").read_text(encoding="utf-8")

    # `clinrag grid --with-text`: the same config as a one-run grid, its stages from the cache
    grid = tmp_path / "grid"
    args = ["--out", grid, "--cohort", tiny_cohort, "--cache", cache, "--with-text"]
    outcome = run_cli("grid", config_file, "--axis", "retrieval.k=2", *args)
    assert outcome.code == 0, outcome.stderr
    (grid_run,) = (grid / "runs").iterdir()
    assert WARNING in (grid_run / "report.html").read_text(encoding="utf-8")
    for name in OTHER_FILES:
        assert (grid_run / name).read_bytes() == before[name], name


# ---- in a browser -----------------------------------------------------------------------------------------
def test_default_report_renders_the_masked_passage_in_chromium(tmp_path, chromium_dom):
    tiny = _tiny()
    report = tmp_path / "report.html"
    report.write_text(_render(tiny, passages=tiny["passages"]), encoding="utf-8")
    dom = chromium_dom(report)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert "data-error" not in body and 'data-ready="1"' in body, body
    passage = re.search(r'<pre class="doc-text masked" id="masked-passage">(.*?)</pre>', dom, re.S)
    assert passage, "the masked passage is not shown"
    shown = html.unescape(re.sub(r"<[^>]+>", "", passage.group(1)))
    assert MASK in shown and not any(secret in shown for secret in IDENTIFIERS)
    seen = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    assert not any(secret in seen for secret in IDENTIFIERS)
    assert LEFT_OUT in seen
