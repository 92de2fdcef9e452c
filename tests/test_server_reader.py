"""The ``server`` reader: the llm reader's decoder behind an OpenAI-compatible inference server.

Config checks, cache identity, the answer schema and the parsing of answers need no server. The failure tests use
a tiny HTTP server started in the test (http.server on a loopback socket, speaking the chat-completions protocol):
a real socket, not an inference server. The tests against real inference servers (llama.cpp's, transformers
serve) are in test_server_real.py.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.base import CellRequest, build_reader
from clinrag.generation.server import (
    ServerClient,
    ServerError,
    ServerReaderConfig,
    answer_of,
    answer_schema,
    is_loopback,
)
from clinrag.text.passages import Passage

SECRET_PROMPT = "Patient DUPONT-SECRET NIHSS initial 14"


def _config(**fields) -> ServerReaderConfig:
    return ServerReaderConfig(model="m", **fields)


# ---- config, identity, schema (no server) -------------------------------------------------------------------
def test_url_checks_and_loopback_only_unless_allowed():
    assert _config().url == "http://127.0.0.1:8000/v1"
    assert _config(url="http://localhost:9000/v1/").url == "http://localhost:9000/v1"
    assert _config(url="http://[::1]:8000/v1").url == "http://[::1]:8000/v1"
    assert is_loopback("127.0.0.2") and not is_loopback("10.1.2.3") and not is_loopback("llm.chu.fr")
    for bad, words in [
        ("llm.chu.fr:8000/v1", "http:// or https://"),
        ("http://127.0.0.1:70000/v1", "port"),
        ("http://user:pw@127.0.0.1:8000/v1", "credentials"),
        ("http://127.0.0.1:8000/v1?x=1", "query"),
        ("http://10.1.2.3:8000/v1", "allow_remote"),
    ]:
        with pytest.raises(ValueError, match=words):
            _config(url=bad)
    assert _config(url="https://llm.chu.fr/v1", allow_remote=True).url == "https://llm.chu.fr/v1"


def test_bad_server_settings_are_one_line_before_any_stage(run_cli, tmp_path, monkeypatch):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    config = tmp_path / "server.yaml"
    config.write_text(
        "retriever: {type: bm25}\ntraining: {retriever: false, reader: none}\n", encoding="utf-8"
    )
    run = ["run", str(config), "--out", str(tmp_path / "run"), "--cohort", str(cohort)]
    base = [*run, "reader.type=server"]
    result = run_cli(*base, "reader.model=m", "reader.url=http://10.0.0.7:8000/v1")
    assert result.code == 2 and "reader.url" in result.stderr and "allow_remote" in result.stderr
    monkeypatch.delenv("CLINRAG_TEST_KEY", raising=False)
    result = run_cli(*base, "reader.model=m", "reader.api_key_env=CLINRAG_TEST_KEY")
    assert result.code == 2
    assert "CLINRAG_TEST_KEY is not set" in result.stderr
    assert "[cohort]" not in result.stderr + result.stdout  # refused before the first stage
    result = run_cli(*base, "reader.model=m", "reader.adapter=/tmp/nowhere")
    assert result.code == 2 and "reader.adapter" in result.stderr
    # the key's variable must be a name: a pasted key is refused without being repeated by the field's message
    with pytest.raises(ValueError, match="name of an environment variable") as err:
        _config(api_key_env="sk-abc.123")
    assert "sk-abc" not in str(err.value).split("input_value")[0]


def test_cache_identity_has_the_model_and_the_answer_settings_only():
    base = _config().identity()
    assert base["server_model"] == {"name": "m", "revision": None}
    same = [
        {"url": "http://localhost:1234/v1"},
        {"api_key_env": "SOME_KEY"},
        {"max_concurrency": 16},
        {"timeout": 5.0},
        {"retries": 0},
        {"backoff": 0.1},
    ]
    for change in same:
        assert _config(**change).identity() == base, change
    for change in [
        {"temperature": 0.7},
        {"seed": 1},
        {"structured": "none"},
        {"revision": "2026-05"},
        {"max_new_tokens": 8},
        {"grounded": False},
    ]:
        assert _config(**change).identity() != base, change
    assert ServerReaderConfig(model="other").identity() != base
    assert "SOME_KEY" not in json.dumps(_config(api_key_env="SOME_KEY").identity())


def test_answer_schema_lists_the_options_or_the_types_pattern_with_not_documented():
    nihss = Variable(name="nihss", type="integer", description="NIHSS", minimum=0, maximum=42)
    request = CellRequest("p", nihss, [])
    schema = answer_schema(request, {"12": "12", "non documenté": ""})
    assert schema["properties"]["valeur"] == {"type": "string", "enum": ["12", "non documenté"]}
    assert schema["required"] == ["valeur"] and schema["additionalProperties"] is False
    pattern = answer_schema(CellRequest("p", Variable(name="d", type="date", description="date"), []), None)[
        "properties"
    ]["valeur"]
    assert pattern["pattern"].startswith("^(non documenté|") and pattern["pattern"].endswith("$")


def test_answers_parse_to_the_type_or_are_recorded_failures():
    reader = build_reader(_config(booleans="llm", unmentioned="read"))
    boolean = Variable(name="diabete", type="boolean", description="Diabète")
    request = CellRequest("p1", boolean, [])
    choices = {"oui": "true", "non": "false", "non documenté": ""}
    assert answer_of('{"valeur": "oui"}', True) == "oui"
    assert answer_of("oui, le patient", True) == "oui, le patient"  # the schema ignored: the text itself
    assert reader._answer(request, "Oui.", choices, 0.9, 10, 0.1).cell == "true"
    assert reader._answer(request, "non documenté", choices, 0.9, 10, 0.1).cell == ""
    failed = reader._answer(request, "oui, le patient est diabétique", choices, 0.9, 10, 0.1)
    assert failed.cell == "" and failed.failed and "allowed answers" in failed.failed
    assert reader._answer(request, None, choices, 1.0, 0, 0.0).failed == "the server returned no text"
    weight = Variable(name="poids", type="number", description="Poids", unit="kg", minimum=20, maximum=300)
    free = CellRequest("p1", weight, [])
    assert reader._answer(free, "72,5", None, 1.0, 5, 0.1).cell == "72.5"
    assert reader._answer(free, "lourd", None, 1.0, 5, 0.1).failed


# ---- a tiny HTTP server on a loopback socket (not an inference server) --------------------------------------
class _Toy(BaseHTTPRequestHandler):
    mode = "ok"
    hits = 0
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802
        type(self).hits += 1
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        type(self).bodies.append({"headers": dict(self.headers), "body": body})
        if self.mode == "error500":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "boom ' + SECRET_PROMPT.encode() + b'"}')
            return
        if self.mode in ("invalid500", "invalid422"):
            # FastAPI's validation errors: llama-cpp-python's server answers them with HTTP 500 and Python's repr,
            # a FastAPI server with HTTP 422 and JSON; both may quote the request
            if self.mode == "invalid500":
                detail = "1 validation error: {'loc': ('body', 'response_format', 'type'), 'input': '%s'}"
                status, payload = 500, json.dumps({"error": {"message": detail % SECRET_PROMPT}})
            else:
                status = 422
                payload = json.dumps({"detail": [{"loc": ["body", "logprobs"], "input": SECRET_PROMPT}]})
            self.send_response(status)
            self.end_headers()
            self.wfile.write(payload.encode())
            return
        if self.mode == "unauthorized":
            self.send_response(401)
            self.end_headers()
            return
        if self.mode == "nonsense":
            payload = b"<html>not json</html>"
        else:
            form = body.get(
                "response_format", {}
            )  # OpenAI's json_schema form, or llama-cpp-python's json_object
            options = form.get("json_schema", {}).get("schema") or form.get("schema") or {}
            enum = options.get("properties", {}).get("valeur", {}).get("enum") or ["non documenté"]
            content = json.dumps({"valeur": enum[0]}, ensure_ascii=False)
            payload = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 42, "completion_tokens": 3},
                }
            ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def toy_server():
    _Toy.mode, _Toy.hits, _Toy.bodies = "ok", 0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Toy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _requests() -> list[CellRequest]:
    var = Variable(name="diabete", type="boolean", description="Diabète")
    passage = Passage("p1", "d1", 0, len(SECRET_PROMPT), SECRET_PROMPT, "2024-03-01", "CRH", "", 0, 0.0)
    return [CellRequest("p1", var, [passage]), CellRequest("p2", var, [passage])]


def test_the_request_carries_the_schema_the_seed_and_the_key_from_the_environment(toy_server, monkeypatch):
    monkeypatch.setenv("CLINRAG_TEST_KEY", "sk-test-123")
    reader = build_reader(
        _config(url=toy_server, api_key_env="CLINRAG_TEST_KEY", booleans="llm", unmentioned="read")
    )
    results = reader.read(_requests())
    assert [r.cell for r in results] == ["true", "true"] and all(r.tokens == 42 for r in results)
    sent = _Toy.bodies[0]
    assert sent["headers"]["Authorization"] == "Bearer sk-test-123"
    body = sent["body"]
    assert body["model"] == "m" and body["temperature"] == 0.0 and body["seed"] == 0
    enum = body["response_format"]["json_schema"]["schema"]["properties"]["valeur"]["enum"]
    assert enum == ["oui", "non", "non documenté"]


def test_structured_names_the_form_of_response_format_and_none_sends_none(toy_server):
    """``json_schema``: OpenAI's form (vLLM, SGLang, Ollama, llama-server); ``json_object``: the schema beside the
    type (llama-cpp-python's server); ``none``: no response_format, and the JSON overhead is not asked for."""
    sent = {}
    for structured in ("json_schema", "json_object", "none"):
        _Toy.bodies = []
        config = _config(url=toy_server, booleans="llm", unmentioned="read", structured=structured)
        results = build_reader(config).read(_requests()[:1])
        sent[structured] = _Toy.bodies[0]["body"]
        expected = "non documenté" if structured == "none" else "true"  # the toy answers its first option
        assert [r.cell or "non documenté" for r in results] == [expected], structured
    schema = answer_schema(_requests()[0], {"oui": "true", "non": "false", "non documenté": ""})
    assert sent["json_object"]["response_format"] == {"type": "json_object", "schema": schema}
    assert sent["json_schema"]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "cellule", "schema": schema, "strict": True},
    }
    assert "response_format" not in sent["none"]
    assert sent["json_object"]["max_tokens"] == sent["json_schema"]["max_tokens"] > sent["none"]["max_tokens"]


@pytest.mark.parametrize(
    ("mode", "words", "hits"),
    [
        ("error500", "HTTP 500 Internal Server Error (3 tries", 3),
        ("nonsense", "not an OpenAI chat completion (3 tries", 3),
        ("unauthorized", "HTTP 401 Unauthorized — check the API key", 1),
        (
            "invalid500",
            "HTTP 500 Internal Server Error: the server refused the request's response_format field",
            1,
        ),
        ("invalid422", "refused the request's logprobs field (try reader.logprobs: false)", 1),
    ],
)
def test_a_failing_server_is_one_line_naming_the_url_after_the_retries(toy_server, mode, words, hits):
    _Toy.mode = mode
    reader = build_reader(
        _config(
            url=toy_server, booleans="llm", unmentioned="read", retries=2, backoff=0.01, max_concurrency=1
        )
    )
    with pytest.raises(ServerError) as err:
        reader.read(_requests())
    message = str(err.value)
    assert message.startswith(f"reader server {toy_server}: ") and words in message, message
    assert "\n" not in message and "DUPONT" not in message and "SECRET" not in message
    assert _Toy.hits == hits


def test_requests_in_flight_stop_with_the_first_failure_and_its_cause_is_the_one_line(toy_server):
    _Toy.mode = "error500"
    reader = build_reader(
        _config(url=toy_server, booleans="llm", unmentioned="read", retries=3, backoff=0.2, max_concurrency=4)
    )
    with pytest.raises(ServerError, match=r"HTTP 500 Internal Server Error \(4 tries"):
        reader.read(_requests() * 4)
    assert _Toy.hits < 8 * 4  # the others stopped once one had failed for good


def test_a_server_that_is_down_is_one_line_after_the_retries():
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ServerClient(_config(url=f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01))
    with pytest.raises(ClinragError, match=r"connection refused .*\(2 tries over"):
        client.complete({"model": "m", "messages": [{"role": "user", "content": SECRET_PROMPT}]})


def test_no_proxy_from_the_environment_is_used(monkeypatch, toy_server):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would refuse: the request must not go there
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    reader = build_reader(_config(url=toy_server, booleans="llm", unmentioned="read"))
    assert [r.cell for r in reader.read(_requests())] == ["true", "true"]
