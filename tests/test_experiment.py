"""`clinrag run`, `grid` and `fill`: Contract 3 outputs, caching, resume after SIGKILL, grids, filling a table."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import tiny_run_config

from clinrag.data.validate import load_cohort
from clinrag.errors import ClinragError
from clinrag.experiment.config import ExperimentConfig, dump_experiment, load_experiment
from clinrag.experiment.grid import combination_label, parse_axis
from clinrag.experiment.runner import run_experiment
from clinrag.synth import write_synthetic_cohort

REPO = Path(__file__).resolve().parents[1]
VARIABLES = ["nihss_admission", "thrombolyse", "toast", "date_avc", "glycemie_admission"]


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory) -> Path:
    """16 patients: enough for train, dev and test splits, small enough to read every cell quickly."""
    out = tmp_path_factory.mktemp("experiment") / "cohort"
    write_synthetic_cohort(out, 16, seed=21)
    return out


def _config(tiny_llama_dir: Path, **extra) -> dict:
    return tiny_run_config(tiny_llama_dir, **{"variables": VARIABLES, **extra})


def _write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def first_run(small_cohort, tiny_llama_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    config = ExperimentConfig.model_validate(_config(tiny_llama_dir))
    result = run_experiment(
        config, root / "run", small_cohort, root / "cache", progress=False, log=lambda m: None
    )
    return config, result, root


# ---- config --------------------------------------------------------------------------------------------------
def test_shipped_configs_load_and_use_the_mission_pipeline():
    default = load_experiment(REPO / "configs" / "default.yaml")
    assert default.retriever.type == "temporal" and default.training.reader == "lora"
    assert default.reader.model == "embedded:smollm2-135m-instruct"
    server = load_experiment(REPO / "configs" / "server.yaml")
    assert server.reader.dtype == "bfloat16" and server.reader.lora.last_layers is None
    changed = load_experiment(REPO / "configs" / "default.yaml", ["retriever.type=bm25", "retrieval.k=5"])
    assert changed.retriever.type == "bm25" and changed.retrieval.k == 5


def test_config_errors_are_one_line(tmp_path, run_cli, small_cohort):
    bad = _write_config(tmp_path / "bad.yaml", {"reader": {"lora": {"rank": 4}}})
    with pytest.raises(ClinragError, match=r"field 'reader.lora.rank'"):
        load_experiment(bad)
    result = run_cli("run", bad, "--cohort", small_cohort, "--out", tmp_path / "out")
    assert result.code == 2 and "reader.lora.rank" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("run", tmp_path / "absent.yaml", "--out", tmp_path / "out")
    assert result.code == 2 and "no such config file" in result.stderr
    result = run_cli("run", bad, "retrieval.k", "--out", tmp_path / "out")
    assert result.code == 2 and "expected key=value" in result.stderr
    good = _write_config(tmp_path / "good.yaml", {"variables": ["nihss_admission", "no_such_variable"]})
    result = run_cli("run", good, "retriever.type=bm25", "--cohort", small_cohort, "--out", tmp_path / "o")
    assert result.code == 2 and "no_such_variable" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o" / "predictions.csv").exists()


# ---- one run ---------------------------------------------------------------------------------------------------
def test_run_writes_contract_3(first_run, small_cohort):
    config, result, _ = first_run
    run_dir = result.run_dir
    for name in (
        "predictions.csv",
        "provenance.jsonl",
        "metrics.json",
        "config.yaml",
        "manifest.json",
        "report.html",
    ):
        assert (run_dir / name).is_file(), name
    cohort = load_cohort(small_cohort)
    test = cohort.split_patients("test")
    with (run_dir / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["patient_id"] for r in rows] == sorted(test)
    assert list(rows[0]) == ["patient_id", *VARIABLES]
    records = [
        json.loads(line) for line in (run_dir / "provenance.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(records) == len(test) * len(VARIABLES)
    quoted = [r for r in records if r["doc_id"] is not None]
    assert quoted, "some value should have been documented"
    for record in quoted:
        assert record["quote"] == cohort.document(record["doc_id"]).text[record["start"] : record["end"]]
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["overall"]["n"] == len(test) * len(VARIABLES)
    low, high = metrics["overall"]["accuracy_ci"]
    assert low <= metrics["overall"]["accuracy"] <= high
    assert set(metrics["variables"]) == set(VARIABLES)
    assert "recall@2" in metrics["retrieval"]["overall"] and "majority" in metrics["baselines"]
    assert load_experiment(run_dir / "config.yaml") == config  # the resolved config reloads to the same
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["models"]["decoder"]["sha256"]) == 64
    assert manifest["cohort"]["sha256"] == cohort.fingerprint()
    assert manifest["seeds"]["reader.lora.seed"] == 0 and "torch" in manifest["versions"]
    assert {s["stage"] for s in manifest["stages"]} == {
        "vocabulary",
        "cohort",
        "retrieval",
        "reader",
        "priors",
        "generations",
    }
    priors = run_dir / "models" / "priors"
    assert (priors / "priors.json").is_file() and (priors / "booleans.json").is_file()
    vocabulary = json.loads((run_dir / "vocabulary.json").read_text(encoding="utf-8"))
    assert set(VARIABLES) <= set(vocabulary["variables"])
    assert (run_dir / "variables.yaml").is_file()
    assert (run_dir / "models" / "adapter" / "adapter_config.json").is_file()


def test_same_config_again_is_cached_and_identical(first_run, small_cohort, tiny_llama_dir):
    config, result, root = first_run
    again = run_experiment(
        config, root / "again", small_cohort, root / "cache", progress=False, log=lambda m: None
    )
    assert all(stage["cached"] for stage in again.stages if stage["stage"] != "cohort")
    for name in ("predictions.csv", "provenance.jsonl", "metrics.json"):
        assert (again.run_dir / name).read_bytes() == (result.run_dir / name).read_bytes(), name
    # changing the reader's k recomputes retrieval, training and generations; the cohort and vocabulary stay
    other = ExperimentConfig.model_validate(_config(tiny_llama_dir, retrieval={"k": 1, "eval_ks": [1]}))
    changed = run_experiment(
        other, root / "k1", small_cohort, root / "cache", progress=False, log=lambda m: None
    )
    assert not any(
        stage["cached"] for stage in changed.stages if stage["stage"] not in ("cohort", "vocabulary")
    )
    with pytest.raises(ClinragError, match="another config"):
        run_experiment(
            other, result.run_dir, small_cohort, root / "cache", progress=False, log=lambda m: None
        )


def test_a_stage_whose_code_changed_is_recomputed_with_the_stages_after_it(
    first_run, small_cohort, tiny_llama_dir, monkeypatch
):
    """Cache keys hold the version of the code that computes each stage: a change in the retrieval stage's code
    recomputes retrieval and everything that reads it, and serves the cohort and vocabulary from the cache."""
    from clinrag.experiment import cache

    versions = {stage: cache.code_version(stage) for stage in cache.STAGE_CODE}
    real = cache.source_hash
    monkeypatch.setattr(
        cache, "source_hash", lambda m: "edited" if m == "clinrag.experiment.runner" else real(m)
    )
    changed = {stage for stage in cache.STAGE_CODE if cache.code_version(stage) != versions[stage]}
    assert changed == {"retrieval", "reader_adapter", "reader_priors", "generations"}

    config, result, root = first_run
    again = run_experiment(
        config, root / "edited", small_cohort, root / "cache", progress=False, log=lambda m: None
    )
    cached = {stage["stage"]: stage["cached"] for stage in again.stages}
    assert cached == {
        "cohort": False,  # a cohort folder is validated at every run, never cached
        "vocabulary": True,
        "retrieval": False,
        "reader": False,
        "priors": False,
        "generations": False,
    }
    # recomputed by the same code in fact: the same outputs
    for name in ("predictions.csv", "provenance.jsonl"):
        assert (again.run_dir / name).read_bytes() == (result.run_dir / name).read_bytes(), name


def _edited_stages(monkeypatch, module: str) -> set[str]:
    """The cache stages whose code version changes when ``module``'s source is edited (faked)."""
    from clinrag.experiment import cache

    versions = {stage: cache.code_version(stage) for stage in cache.STAGE_CODE}
    real = cache.source_hash
    # a package named in STAGE_CODE is hashed whole: editing one of its modules edits it too
    monkeypatch.setattr(
        cache,
        "source_hash",
        lambda m: "edited" if module == m or module.startswith(m + ".") else real(m),
    )
    changed = {stage for stage in cache.STAGE_CODE if cache.code_version(stage) != versions[stage]}
    monkeypatch.setattr(cache, "source_hash", real)
    return changed


def test_a_stage_is_keyed_on_every_module_its_code_imports(monkeypatch):
    """A stage's code version covers the clinrag modules its code imports, directly or not: the synthetic cohort
    is read through clinrag.data.values, which reads dates with clinrag.text.dates, so an edit of the date
    grammar recomputes the cohort and every stage after it. An edit of one stage's own module recomputes that
    stage alone, and the report, which the run writes after the stages, is in no key."""
    from clinrag.experiment import cache

    assert "clinrag.text.dates" in cache.code_modules("cohort")
    assert "clinrag.generation.lora" in cache.code_modules("retrieval")  # the retrieval stage's weak evidence
    assert _edited_stages(monkeypatch, "clinrag.text.dates") == set(cache.STAGE_CODE)
    assert _edited_stages(monkeypatch, "clinrag.experiment.stages.generations") == {"generations"}
    assert _edited_stages(monkeypatch, "clinrag.generation.priors") == {
        "temporal_retriever",  # stages/retrieval.py, which prepares the retrievers, imports clinrag.generation
        "dense_encoder",
        "retrieval",
        "merge",
        "reader_adapter",
        "reader_priors",
        "generations",
        "fill",  # clinrag fill's chunk cache: its reading imports the same generation code
    }
    # no stage of a run is keyed on the report; fill's chunk key covers clinrag.experiment.fill, which writes one
    assert _edited_stages(monkeypatch, "clinrag.evaluation.report") <= {"fill"}


def test_an_edit_of_the_last_stage_recomputes_it_alone(first_run, small_cohort, monkeypatch):
    """The other end of the cache test above: an edit of the generations stage's code serves every stage before
    it from the cache and reads the cells again, to the same outputs."""
    from clinrag.experiment import cache

    real = cache.source_hash
    edited = "clinrag.experiment.stages.generations"
    monkeypatch.setattr(cache, "source_hash", lambda m: "edited" if m == edited else real(m))
    config, result, root = first_run
    again = run_experiment(
        config, root / "edited-generations", small_cohort, root / "cache", progress=False, log=lambda m: None
    )
    cached = {stage["stage"]: stage["cached"] for stage in again.stages}
    assert cached == {
        "cohort": False,  # a cohort folder is validated at every run, never cached
        "vocabulary": True,
        "retrieval": True,
        "reader": True,
        "priors": True,
        "generations": False,
    }
    for name in ("predictions.csv", "provenance.jsonl"):
        assert (again.run_dir / name).read_bytes() == (result.run_dir / name).read_bytes(), name


def test_each_stage_reads_what_the_run_or_an_earlier_stage_gives_and_is_keyed_on_its_code():
    from clinrag.experiment.cache import STAGE_CODE
    from clinrag.experiment.stages import STAGES

    given = {"config", "cohort_dir", "keys", "trained", "model_hashes"}  # set when the run starts
    for stage in STAGES:
        assert set(stage.reads) <= given, (stage.name, set(stage.reads) - given)
        assert stage.cache in STAGE_CODE, stage.name
        given |= set(stage.writes)
    assert [stage.name for stage in STAGES] == [
        "cohort",
        "merge",
        "retrieval",
        "reader",
        "priors",
        "generations",
    ]


def _run_process(config: Path, cohort: Path, out: Path, cache: Path, fault: str | None = None):
    env = {**os.environ, "CLINRAG_FAULT": fault or ""}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "clinrag",
            "run",
            str(config),
            "--cohort",
            str(cohort),
            "--out",
            str(out),
            "--cache",
            str(cache),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_killed_runs_resume_to_identical_outputs(small_cohort, tiny_llama_dir, tmp_path):
    """SIGKILL in the middle of reading, and inside the reader's training, then start again: the outputs equal
    those of an uninterrupted run in a fresh cache (so training is reproducible too)."""
    config = _write_config(tmp_path / "config.yaml", _config(tiny_llama_dir))
    reference = _run_process(config, small_cohort, tmp_path / "reference", tmp_path / "cache-ref")
    assert reference.returncode == 0, reference.stderr[-2000:]
    killed = _run_process(
        config, small_cohort, tmp_path / "resumed", tmp_path / "cache", fault="generations:2"
    )
    assert killed.returncode == -9
    assert not (tmp_path / "resumed" / "predictions.csv").exists()
    resumed = _run_process(config, small_cohort, tmp_path / "resumed", tmp_path / "cache")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "[reader] cached" in resumed.stderr
    read_now, chunks = re.search(r"(\d+) of (\d+) chunks read now", resumed.stderr).groups()
    assert int(read_now) == int(chunks) - 3  # chunks 0, 1 and 2 were done before the kill
    killed = _run_process(
        config, small_cohort, tmp_path / "retrained", tmp_path / "cache-2", "stage:reader_adapter"
    )
    assert killed.returncode == -9
    retrained = _run_process(config, small_cohort, tmp_path / "retrained", tmp_path / "cache-2")
    assert retrained.returncode == 0, retrained.stderr[-2000:]
    for name in ("predictions.csv", "provenance.jsonl"):
        expected = (tmp_path / "reference" / name).read_bytes()
        assert (tmp_path / "resumed" / name).read_bytes() == expected, name
        assert (tmp_path / "retrained" / name).read_bytes() == expected, name


# ---- fill --------------------------------------------------------------------------------------------------------
def test_fill_applies_a_trained_run_to_patients_without_values(first_run, small_cohort, tmp_path, run_cli):
    import shutil

    _, result, _ = first_run
    cohort_dir = tmp_path / "cohort"
    shutil.copytree(small_cohort, cohort_dir)
    lines = (cohort_dir / "table.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    removed = [line.split(",")[0] for line in lines[1:4]]
    (cohort_dir / "table.csv").write_text("".join([lines[0], *lines[4:]]), encoding="utf-8")
    splits = (cohort_dir / "splits.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in splits if line.split(",")[0] not in removed]
    (cohort_dir / "splits.csv").write_text("".join(kept), encoding="utf-8")
    out = tmp_path / "filled"
    outcome = run_cli("fill", "--cohort", cohort_dir, "--run", result.run_dir, "--out", out, "--quiet")
    assert outcome.code == 0, outcome.stderr
    with (out / "table.csv").open(encoding="utf-8", newline="") as handle:
        table = {row["patient_id"]: row for row in csv.DictReader(handle)}
    cohort = load_cohort(cohort_dir)
    assert set(table) == set(cohort.patients)
    with (out / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        assert sorted(row["patient_id"] for row in csv.DictReader(handle)) == sorted(removed)
    for record in map(json.loads, (out / "provenance.jsonl").read_text(encoding="utf-8").splitlines()):
        assert record["patient_id"] in removed
        if record["doc_id"]:
            assert record["quote"] == cohort.document(record["doc_id"]).text[record["start"] : record["end"]]
    assert (out / "report.html").is_file()
    # bad inputs: not a run folder; a cohort lacking a variable of the run
    outcome = run_cli("fill", "--cohort", cohort_dir, "--run", tmp_path, "--out", tmp_path / "x")
    assert outcome.code == 2 and "not a run folder" in outcome.stderr
    variables = yaml.safe_load((cohort_dir / "variables.yaml").read_text(encoding="utf-8"))
    variables["variables"] = [v for v in variables["variables"] if v["name"] != "toast"]
    (cohort_dir / "variables.yaml").write_text(
        yaml.safe_dump(variables, allow_unicode=True), encoding="utf-8"
    )
    header, *rows = (cohort_dir / "table.csv").read_text(encoding="utf-8").splitlines()
    index = header.split(",").index("toast")
    drop = lambda line: ",".join(c for i, c in enumerate(next(csv.reader([line]))) if i != index)  # noqa: E731
    (cohort_dir / "table.csv").write_text(
        "\n".join(drop(x) for x in [header, *rows]) + "\n", encoding="utf-8"
    )
    outcome = run_cli("fill", "--cohort", cohort_dir, "--run", result.run_dir, "--out", tmp_path / "y")
    assert outcome.code == 2 and "'toast'" in outcome.stderr and "Traceback" not in outcome.stderr


def test_a_run_whose_table_decides_every_variable_tunes_no_decoder_and_fills(
    small_cohort, tiny_llama_dir, tmp_path, run_cli
):
    """With reader.values: candidates and booleans: qualifiers, integers, numbers, categories and booleans are
    decided by what the train table taught: no LoRA stage, no adapter, and `clinrag fill` applies the run."""
    variables = ["nihss_admission", "thrombolyse", "toast", "glycemie_admission"]
    config = ExperimentConfig.model_validate(_config(tiny_llama_dir, variables=variables))
    logs: list[str] = []
    result = run_experiment(config, tmp_path / "run", small_cohort, tmp_path / "cache", False, logs.append)
    assert not (result.run_dir / "models" / "adapter").exists()
    assert any(line.startswith("[reader] skipped") for line in logs)
    assert "reader" not in [stage["stage"] for stage in result.stages]
    values = json.loads((result.run_dir / "models" / "priors" / "values.json").read_text(encoding="utf-8"))
    assert set(values["variables"]) == {"nihss_admission", "toast", "glycemie_admission"}
    records = [
        json.loads(x)
        for x in (result.run_dir / "provenance.jsonl").read_text(encoding="utf-8").split("\n")
        if x
    ]
    by = {r["variable"]: set() for r in records}
    for r in records:
        by[r["variable"]].add(r.get("answered_by"))
        assert r["tokens"] == 0  # the decoder read nothing
        if r.get("answered_by") == "candidates":
            assert r["value"] is not None and r["doc_id"] is not None
    assert by["thrombolyse"] == {"qualifiers"}
    assert by["nihss_admission"] <= {"candidates", "fallback"} and "candidates" in by["nihss_admission"]
    outcome = run_cli(
        "fill",
        "--cohort",
        small_cohort,
        "--run",
        result.run_dir,
        "--out",
        tmp_path / "f",
        "--patients",
        "test",
        "--quiet",
    )
    assert outcome.code == 0, outcome.stderr

    def table(path: Path) -> dict:
        with path.open(encoding="utf-8", newline="") as handle:
            return {row["patient_id"]: row for row in csv.DictReader(handle)}

    assert table(tmp_path / "f" / "predictions.csv") == table(result.run_dir / "predictions.csv")


# ---- grid ---------------------------------------------------------------------------------------------------------
def test_parse_axis():
    assert parse_axis("retrieval.k=3,5") == ("retrieval.k", [3, 5])
    assert parse_axis("retriever.type=bm25, dense") == ("retriever.type", ["bm25", "dense"])
    assert (
        combination_label({"retriever.type": "bm25", "retrieval.k": 3}) == "retriever.type=bm25 retrieval.k=3"
    )
    for bad in ("retrieval.k", "=3", "retrieval.k="):
        with pytest.raises(ClinragError, match="--axis"):
            parse_axis(bad)


def test_grid_over_retriever_and_k(small_cohort, tiny_llama_dir, tmp_path, run_cli):
    config = _write_config(tmp_path / "grid.yaml", _config(tiny_llama_dir, training={"reader": "none"}))
    out = tmp_path / "grid"
    result = run_cli(
        "grid", config, "--axis", "retriever.type=bm25,dense", "--axis", "retrieval.k=1,2",
        "--cohort", small_cohort, "--out", out, "--cache", tmp_path / "cache", "--quiet",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    for name in ("results.md", "results.csv", "results.tex", "results.png", "summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["rows"]) == 4
    for row in summary["rows"]:
        assert row["accuracy_ci"][0] <= row["accuracy"] <= row["accuracy_ci"][1]
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((out / "runs").iterdir())) == 4
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "reference" in markdown and "retrieval.k" in markdown


def test_dump_experiment_round_trips():
    config = load_experiment(REPO / "configs" / "default.yaml", ["reader.lora.epochs=5"])
    assert ExperimentConfig.model_validate(yaml.safe_load(dump_experiment(config))) == config


def test_a_changed_generator_is_not_served_from_the_cohort_cache(tmp_path, monkeypatch):
    """The synthetic cohort's cache key holds a hash of the generator's files: a generator that changed (its
    variables.yaml, its templates) generates again instead of reusing the old cohort."""
    from clinrag.experiment import runner
    from clinrag.experiment.stages import cohort as cohort_stage_module

    generator_hash = cohort_stage_module.generator_hash
    assert len(generator_hash()) == 64 and generator_hash() == generator_hash()
    config = ExperimentConfig.model_validate(
        {"cohort": {"synth": {"patients": 6, "seed": 3}}, "retriever": {"type": "bm25"}}
    )

    def cohort_stage(generator: str) -> dict:
        monkeypatch.setattr(cohort_stage_module, "generator_hash", lambda: generator)
        run = runner.Run(
            config, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False, log=lambda m: None
        )
        run.load_cohort()
        return next(stage for stage in run.stages if stage["stage"] == "cohort")

    first = cohort_stage("a")
    assert not first["cached"]
    assert cohort_stage("a")["cached"]  # the same generator: served from the cache
    assert not cohort_stage("b")["cached"]  # another generator: generated again
