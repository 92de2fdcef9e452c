"""The ``server`` reader against real inference servers started by the tests on a loopback port, with the embedded
decoder SmolLM2-135M-Instruct:

* llama.cpp's server through llama-cpp-python (``python -m llama_cpp.server`` on the embedded GGUF file), which
  honours the answer's JSON schema (``reader.structured: json_object``, the form it takes): every answer must be
  an allowed one, parsed to the variable's type or an explicit "non documenté", with no recorded failure.
  Skipped where llama-cpp-python's server is not installed (it compiles llama.cpp on install:
  ``pip install -e '.[llama-server-tests]'``, not in scripts/setup.sh).
* ``transformers serve`` (transformers' own server: ``pip install fastapi uvicorn openai``) with the decoder's
  folder, which ignores ``response_format``: the model writes free text, parsed or recorded as a failure.
  Its serving extra is installed by scripts/setup.sh (the ``serve-tests`` extra); skipped where it cannot be
  started.

Each is killed in the middle of a ``clinrag run``: the run stops with one line naming the URL (exit 2), and the
same command, the server started again, resumes from the cached chunks and writes what an uninterrupted run
writes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from clinrag.data.validate import load_cohort
from clinrag.data.values import parse_value
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.base import CellRequest, build_reader
from clinrag.generation.constraints import NOT_DOCUMENTED
from clinrag.generation.loopback import LoopbackServer, free_port, llama_cpp_command
from clinrag.generation.server import ServerReaderConfig
from clinrag.text.passages import Passage

ROOT = Path(__file__).resolve().parents[1]
SERVER_ENV = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _started(server: LoopbackServer):
    try:
        server.start()
    except RuntimeError as err:
        pytest.skip(f"{server.name} cannot run here: {err}")
    return server


@pytest.fixture(scope="module")
def llama_cpp_server(tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's server extra is not installed")
    from clinrag.models import embedded_model_path

    try:
        gguf = embedded_model_path("smollm2-135m-instruct")
    except ClinragError as err:
        pytest.skip(f"the embedded decoder's GGUF file is not available: {err}")
    port = free_port()
    log = tmp_path_factory.mktemp("llama_cpp") / "server.log"
    server = _started(
        LoopbackServer(
            "llama.cpp server", llama_cpp_command(gguf, port, "smollm2"), port, "smollm2", log, SERVER_ENV
        )
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def transformers_server(tmp_path_factory):
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        pytest.skip("transformers serve needs its serving extra: pip install fastapi uvicorn openai")
    if shutil.which("transformers", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no transformers command next to this Python")
    from clinrag.models import prepare_embedded_decoder

    try:
        folder = prepare_embedded_decoder()
    except ClinragError as err:
        pytest.skip(f"the embedded decoder is not available: {err}")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "transformers"),
        "serve",
        str(folder),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--log-level",
        "warning",
    ]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = _started(LoopbackServer("transformers serve", command, port, str(folder), log, SERVER_ENV))
    yield server
    server.stop()


# ---- a few cells, in-process through the reader ---------------------------------------------------------------
NIHSS = Variable(
    name="nihss_initial", type="integer", description="NIHSS à l'admission", minimum=0, maximum=42
)
DIABETES = Variable(name="diabete", type="boolean", description="Diabète")
ONSET = Variable(name="date_avc", type="date", description="Date de l'AVC")
GLUCOSE = Variable(
    name="glycemie", type="number", description="Glycémie à l'admission", unit="mmol/L", minimum=0, maximum=50
)
SIDE = Variable(name="cote", type="category", description="Côté de la lésion", values=["droit", "gauche"])
CELL_TEXT = (
    "Admis le 12/03/2024 pour un déficit brachio-facial droit. NIHSS initial à 14. Patient diabétique de type 2. "
    "Glycémie capillaire 8,2 mmol/L. IRM : infarctus sylvien gauche."
)


def _cell_requests() -> list[CellRequest]:
    passage = Passage("p1", "d1", 0, len(CELL_TEXT), CELL_TEXT, "2024-03-12", "CRH", "", 0, 0.0)
    return [CellRequest("p1", var, [passage]) for var in (NIHSS, DIABETES, ONSET, GLUCOSE, SIDE)]


def test_llama_cpp_server_answers_are_allowed_answers_parsed_to_the_type(llama_cpp_server):
    """Through llama.cpp's server, which turns the answer's JSON schema into a grammar: with the options listed
    (``enum``, grounded) and with the types' patterns (``pattern``, not grounded), every answer is an allowed one
    and parses to the variable's type, or is "non documenté"; no failure is recorded. (That the same cells give
    the same answers is the slow test's: a resumed run writes what an uninterrupted one does.)"""
    requests = _cell_requests()
    for grounded in (True, False):
        config = ServerReaderConfig(
            model=llama_cpp_server.model,
            url=llama_cpp_server.url,
            structured="json_object",
            booleans="llm",
            values="llm",
            unmentioned="read",
            grounded=grounded,
            grounded_categories=grounded,
            max_concurrency=2,
        )
        reader = build_reader(config)
        results = reader.read(requests)
        for result, request in zip(results, requests, strict=True):
            assert not result.failed, (grounded, request.variable.name, result.raw, result.failed)
            assert result.tokens > 0  # the server's prompt token count
            if result.cell:
                assert parse_value(request.variable, result.cell) is not None, result
            else:
                assert result.raw.strip() == NOT_DOCUMENTED, result


def test_llama_cpp_server_refuses_openais_json_schema_form_in_one_line(llama_cpp_server):
    """llama-cpp-python's server takes only ``{"type": "json_object", "schema": ...}``: OpenAI's ``json_schema``
    form is refused (a validation error answered as HTTP 500), not ignored; the reader stops at once, without
    retrying, and says which setting to use."""
    from clinrag.generation.server import ServerError

    config = ServerReaderConfig(
        model=llama_cpp_server.model, url=llama_cpp_server.url, booleans="llm", unmentioned="read", backoff=30
    )
    with pytest.raises(
        ServerError, match=r"refused the request's response_format field .*structured: json_object"
    ):
        build_reader(config).read(_cell_requests()[1:2])


def test_transformers_serve_answers_parse_to_the_type_or_are_recorded_failures(transformers_server):
    """A few cells through transformers serve (which ignores response_format): every result is a valid cell of
    the variable's type, or "" with the failure recorded; the same request twice gives the same answer."""
    config = ServerReaderConfig(
        model=transformers_server.model,
        url=transformers_server.url,
        booleans="llm",
        unmentioned="read",
        grounded=True,
        max_new_tokens=6,
        max_concurrency=2,
        structured="none",
    )
    reader = build_reader(config)
    requests = _cell_requests()[:2]
    first = reader.read(requests)
    for result, request in zip(first, requests, strict=True):
        if result.failed:
            assert result.cell == ""
        else:
            assert parse_value(request.variable, result.cell) is not None if result.cell else True
            assert result.cell in {"", "true", "false", "14"}, result
        assert result.tokens > 0
    again = reader.read(requests)
    assert [(r.cell, r.raw, r.failed) for r in again] == [(r.cell, r.raw, r.failed) for r in first]


# ---- clinrag run, killed and resumed -----------------------------------------------------------------------------
def _run(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "clinrag", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def _table(folder: Path) -> list[list[str]]:
    with (folder / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def killed_and_resumed(server: LoopbackServer, reader: dict, variables: list[str], tmp_path: Path) -> Path:
    """``clinrag run`` on a 12-patient synthetic cohort with ``server``: once whole, then killed after its first
    chunk of cells is cached (exit 2, one line naming the URL), then the same command with the server started
    again (it reads only the missing chunks). Asserts the resumed run's predictions.csv and provenance.jsonl are
    the uninterrupted run's; returns the uninterrupted run's folder."""
    from clinrag.synth import write_synthetic_cohort

    cohort = tmp_path / "cohort"
    write_synthetic_cohort(cohort, 12, seed=5)
    config = {
        "name": "server-resume",
        "variables": variables,
        "retriever": {"type": "bm25"},
        "retrieval": {"k": 2},
        "training": {"retriever": False, "reader": "none"},
        "evaluation": {"bootstrap": 10, "retrieval": False, "baselines": []},
        "cell_batch": 2,
        "reader": {
            "type": "server",
            "model": server.model,
            "url": server.url,
            "values": "llm",
            "booleans": "llm",
            "unmentioned": "read",
            "max_concurrency": 2,
            "retries": 1,
            "backoff": 0.2,
            "timeout": 60,
            **reader,
        },
    }
    config_file = tmp_path / "server.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "CLINRAG_CACHE_DIR": str(tmp_path / "cache-a"), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(ROOT)
    whole_dir = tmp_path / "whole"
    whole = _run(["run", str(config_file), "--cohort", str(cohort), "--out", str(whole_dir)], env)
    assert whole.returncode == 0, whole.stderr[-3000:]
    # the interrupted run: the same cache but for the generations (recomputed)
    shutil.copytree(tmp_path / "cache-a", tmp_path / "cache-b")
    shutil.rmtree(tmp_path / "cache-b" / "runs" / "generations")
    env_b = {**env, "CLINRAG_CACHE_DIR": str(tmp_path / "cache-b")}
    out = tmp_path / "resumed"
    args = ["run", str(config_file), "--cohort", str(cohort), "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-m", "clinrag", *args],
        env=env_b,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    generations = tmp_path / "cache-b" / "runs" / "generations"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not list(generations.glob("*/chunk-00000.jsonl")):
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.05)
    server.stop()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and server.url in errors[0], stderr[-3000:]
    assert "run again to resume" in errors[0] and "Traceback" not in stderr
    assert not (out / "predictions.csv").exists()  # nothing half-written
    chunks = sorted(p.name for p in generations.glob("*/chunk-*.jsonl"))
    total = len(list((tmp_path / "cache-a" / "runs" / "generations").glob("*/chunk-*.jsonl")))
    assert 1 <= len(chunks) < total
    server.start()
    resumed = _run(args, env_b)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    read_now = f"{total - len(chunks)} of {total} chunks read now"
    assert read_now in resumed.stdout + resumed.stderr, resumed.stdout[-2000:]  # it resumed
    assert _table(out) == _table(whole_dir)
    provenance = [(folder / "provenance.jsonl").read_text(encoding="utf-8") for folder in (out, whole_dir)]
    assert provenance[0] == provenance[1]
    return whole_dir


@pytest.mark.slow
def test_llama_cpp_server_killed_mid_run_stops_in_one_line_and_the_rerun_matches_an_uninterrupted_run(
    llama_cpp_server, tmp_path
):
    """`clinrag run` through llama.cpp's server, every cell read by the decoder (values, booleans, unmentioned):
    no answer fails, every value parses to its variable's type (or is "non documenté"), some are documented; the
    run killed mid-way stops in one line and, resumed, writes the uninterrupted run's files."""
    variables = [
        "nihss_admission",
        "diabete",
        "hta",
        "date_avc",
        "glycemie_admission",
        "toast",
        "cote_lesion",
    ]
    whole = killed_and_resumed(llama_cpp_server, {"structured": "json_object"}, variables, tmp_path)
    metrics = json.loads((whole / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["reader"]["failed"] == 0 and metrics["reader"]["cells"] > 0
    assert metrics["reader"]["documented"] > 0
    cohort = load_cohort(tmp_path / "cohort")
    records = [
        json.loads(line) for line in (whole / "provenance.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert {r["variable"] for r in records} == set(variables)
    for record in records:
        assert record["status"] in ("documented", "not_documented") and "failure" not in record, record
        assert (record["value"] is None) == (record["status"] == "not_documented")
        if record["value"] is None and "answered_by" not in record:  # the server's abstention
            assert record["answer"].strip() == NOT_DOCUMENTED, record["answer"]
    header, *rows = _table(whole)
    for row in rows:
        for name, cell in zip(header[1:], row[1:], strict=True):
            assert cell == "" or parse_value(cohort.variable(name), cell) is not None, (name, cell)


@pytest.mark.slow
def test_transformers_serve_killed_mid_run_stops_in_one_line_and_the_rerun_matches_an_uninterrupted_run(
    transformers_server, tmp_path
):
    """`clinrag run` against transformers serve (free text: structured none): killed after the first chunk, the
    run exits 2 with one line naming the URL; resumed, it writes the uninterrupted run's files."""
    variables = ["nihss_admission", "diabete", "hta", "tabagisme"]
    whole = killed_and_resumed(
        transformers_server, {"structured": "none", "max_new_tokens": 4}, variables, tmp_path
    )
    # the small model's free text rarely parses (transformers serve ignores response_format): the raw answers show
    # that the resumed cells were written as the uninterrupted run wrote them
    answers = {json.loads(line)["answer"] for line in (whole / "provenance.jsonl").read_text().splitlines()}
    assert len(answers) > 1
