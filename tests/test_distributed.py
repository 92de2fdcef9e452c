"""`--engine ray`: `clinrag fill` and `clinrag run`'s reading on Ray workers (a real Ray instance on 2 CPUs, tiny
models built in code) write the same bytes as the local engine; a Ray fill killed mid-way resumes from its
chunks; bad engine options are one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import tiny_run_config

from clinrag.experiment.config import ExperimentConfig
from clinrag.experiment.runner import run_experiment
from clinrag.synth import write_synthetic_cohort

REPO = Path(__file__).resolve().parents[1]
FILLED = ("predictions.csv", "table.csv", "provenance.jsonl", "manifest.json", "report.html")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distributed") / "cohort"
    write_synthetic_cohort(out, 12, seed=21)
    return out


@pytest.fixture(scope="module")
def trained(cohort, tiny_llama_dir, tmp_path_factory) -> dict:
    """A run on the cohort (bm25, the tiny Llama LoRA-tuned, reading the dates with the decoder so that the
    workers generate: conftest's tiny config), read by the local engine: its config file, folder and stage
    cache."""
    root = tmp_path_factory.mktemp("trained")
    variables = ["nihss_admission", "thrombolyse", "toast", "date_avc", "glycemie_admission"]
    config = tiny_run_config(tiny_llama_dir, name="tiny-distributed", variables=variables)
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    validated = ExperimentConfig.model_validate(config)
    run_experiment(validated, root / "run", cohort, root / "cache", progress=False, log=lambda m: None)
    return {"config": config_file, "run": root / "run", "cache": root / "cache"}


@pytest.fixture(scope="module")
def ray_instance():
    """A Ray instance on this machine with 2 CPUs (no GPU), its files in a short temporary folder (Ray's socket
    paths must stay short); the commands below join it (clinrag reuses an instance its process started)."""
    ray = pytest.importorskip("ray")
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=str(temp),
        runtime_env={"env_vars": env},
    )
    yield temp
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def _fill(run_cli, cohort: Path, run: Path, out: Path, cache: Path, *engine: str):
    return run_cli(
        "fill", "--cohort", cohort, "--run", run, "--out", out, "--patients", "all", "--cache", cache, "-q",
        *engine,
    )  # fmt: skip


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_fill_on_ray_writes_the_bytes_of_the_local_fill(cohort, trained, ray_instance, run_cli, tmp_path):
    local = _fill(run_cli, cohort, trained["run"], tmp_path / "local", tmp_path / "cache-local")
    assert local.code == 0, local.stderr
    # another cache: the Ray workers read every chunk (none is served from the local fill's)
    distributed = _fill(
        run_cli, cohort, trained["run"], tmp_path / "ray", tmp_path / "cache-ray", "--engine", "ray"
    )
    assert distributed.code == 0, distributed.stderr
    assert "2 Ray worker(s)" in distributed.stderr
    for name in FILLED:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    chunks = list((tmp_path / "cache-ray" / "fill").glob("*/chunk-*.jsonl"))
    assert len(chunks) == 12  # one patient a chunk (cell_batch 4 < 5 variables), each read by a worker
    records = _records(tmp_path / "ray" / "provenance.jsonl")
    assert len(records) == 12 * 5
    assert any(r["tokens"] > 0 for r in records), "the workers' decoder read some cells"
    # nothing the workers wrote in Ray's logs holds patient text
    passages = {r["quote"] for r in records if r["quote"] and len(r["quote"]) >= 12}
    logs = [p for p in ray_instance.rglob("logs/*") if p.is_file() and p.suffix in (".out", ".err", ".log")]
    assert logs
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert not any(passage in text for passage in passages), log.name


def test_run_reading_on_ray_writes_the_bytes_of_the_local_run(
    cohort, trained, ray_instance, run_cli, tmp_path
):
    cache = tmp_path / "cache"
    shutil.copytree(trained["cache"], cache)
    shutil.rmtree(cache / "generations")  # the stages before are cached; the reading is done again, on Ray
    out = tmp_path / "run"
    result = run_cli(
        "run", trained["config"], "--cohort", cohort, "--out", out, "--cache", cache, "-q", "--engine", "ray"
    )
    assert result.code == 0, result.stderr
    read_now, chunks = re.search(r"\[generations\].* (\d+) of (\d+) chunks read now", result.stderr).groups()
    assert read_now == chunks and int(chunks) > 2
    for name in ("predictions.csv", "provenance.jsonl", "metrics.json"):
        assert (out / name).read_bytes() == (trained["run"] / name).read_bytes(), name


def test_a_worker_needs_the_gpus_it_is_given(cohort, trained, ray_instance, run_cli, tmp_path):
    result = _fill(
        run_cli, cohort, trained["run"], tmp_path / "f", tmp_path / "c", "--engine", "ray", "--gpus-per-worker", "1"
    )  # fmt: skip
    assert result.code == 2 and "--gpus-per-worker 1: the Ray cluster has 0 GPU" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "f").exists()
    # a run that reads on cuda, with workers that hold no GPU (Ray would let them share whatever GPU is there)
    run = tmp_path / "run-cuda"
    shutil.copytree(trained["run"], run)
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    config["reader"]["device"] = "cuda"
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    result = _fill(run_cli, cohort, run, tmp_path / "f", tmp_path / "c", "--engine", "ray")
    assert result.code == 2 and "reader.device is cuda: the Ray workers hold no GPU" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "f").exists()


def _fill_process(cohort: Path, run: Path, out: Path, cache: Path, *extra: str, fault: str = ""):
    env = {**os.environ, "CLINRAG_FAULT": fault}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "clinrag", "fill", "--cohort", str(cohort), "--run", str(run)]
    command += ["--out", str(out), "--patients", "all", "--cache", str(cache), "-q", *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_a_killed_fill_resumes_on_ray_to_the_same_bytes(cohort, trained, ray_instance, run_cli, tmp_path):
    """A local fill killed (SIGKILL) after its second chunk: the same fill on Ray reads only the chunks it lacks
    and writes the bytes of an uninterrupted local fill."""
    local = _fill(run_cli, cohort, trained["run"], tmp_path / "local", tmp_path / "cache-local")
    assert local.code == 0, local.stderr
    out, cache = tmp_path / "resumed", tmp_path / "cache"
    killed = _fill_process(cohort, trained["run"], out, cache, fault="fill:1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not out.exists()
    kept = {p.name: p.stat().st_mtime_ns for p in (cache / "fill").glob("*/chunk-*.jsonl")}
    assert sorted(kept) == ["chunk-00000.jsonl", "chunk-00001.jsonl"]
    resumed = _fill(run_cli, cohort, trained["run"], out, cache, "--engine", "ray")
    assert resumed.code == 0, resumed.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (cache / "fill").glob("*/chunk-*.jsonl")}
    assert len(after) == 12 and all(after[name] == mtime for name, mtime in kept.items())
    for name in FILLED:
        assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


@pytest.mark.slow  # two Ray instances started by the command itself (about a minute on 2 CPUs)
def test_a_killed_ray_fill_resumes_to_the_same_bytes(cohort, trained, run_cli, tmp_path):
    """The driver killed (SIGKILL) after its second chunk back: the chunks written are kept, and the same command
    again (its own Ray instance, 2 CPUs) reads only the others and writes the local fill's bytes."""
    pytest.importorskip("ray")
    local = _fill(run_cli, cohort, trained["run"], tmp_path / "local", tmp_path / "cache-local")
    assert local.code == 0, local.stderr
    engine = ("--engine", "ray", "--workers", "2")
    out, cache = tmp_path / "ray", tmp_path / "cache"
    killed = _fill_process(cohort, trained["run"], out, cache, *engine, fault="fill:1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not out.exists()
    kept = {p.name: p.stat().st_mtime_ns for p in (cache / "fill").glob("*/chunk-*.jsonl")}
    assert 1 <= len(kept) < 12
    resumed = _fill_process(cohort, trained["run"], out, cache, *engine)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "2 Ray worker(s) on this machine" in resumed.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (cache / "fill").glob("*/chunk-*.jsonl")}
    assert len(after) == 12 and all(after[name] == mtime for name, mtime in kept.items())
    for name in FILLED:
        assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


def test_engine_options_errors_are_one_line(cohort, trained, run_cli, tmp_path, monkeypatch):
    from clinrag.cli._app import EngineName
    from clinrag.experiment.engine import ENGINES

    assert [e.value for e in EngineName] == list(ENGINES)
    result = _fill(run_cli, cohort, trained["run"], tmp_path / "f", tmp_path / "c", "--workers", "2")
    assert result.code == 2 and "need --engine ray" in result.stderr
    bad = ["nonsense", "127.0.0.1:1", "ray://127.0.0.1:1"]
    if "ray" not in sys.modules:
        try:
            import ray  # noqa: F401
        except ImportError:
            bad = []
    for address in bad:
        result = _fill(
            run_cli, cohort, trained["run"], tmp_path / "f", tmp_path / "c", "--engine", "ray", "--address", address
        )  # fmt: skip
        assert result.code == 2 and "--address" in result.stderr, (address, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "ray", None)  # as where the extra is not installed
    result = _fill(run_cli, cohort, trained["run"], tmp_path / "f", tmp_path / "c", "--engine", "ray")
    assert result.code == 2 and "pip install 'clinrag[ray]'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "f").exists()
