"""The ``server`` reader: the retrieval-augmented reader of :class:`~clinrag.generation.reader.LLMReader`, its
decoder being a model behind an OpenAI-compatible inference server (vLLM, llama.cpp's ``llama-server``, SGLang,
Ollama, ``transformers serve``) at a URL the config names.

Everything but the decoder is the ``llm`` reader's: the prompt, the options a cell may take (grounded values,
categories the passages name, "non documenté"), the cells the train split's table decides without the decoder
(``reader.values``, ``reader.booleans``, ``reader.unmentioned``), the supporting passage. Each cell the decoder
answers is one ``POST {url}/chat/completions`` whose ``response_format`` is a JSON schema built from the cell's
options or its type's grammar (:func:`answer_schema`): ``{"valeur": <one of the options | a string matching the
type's pattern>}``, "non documenté" included, in the form the server takes (``structured``): OpenAI's
``{"type": "json_schema", "json_schema": {"schema": ...}}`` (vLLM, SGLang, Ollama, llama.cpp's ``llama-server``)
or ``{"type": "json_object", "schema": ...}`` (llama-cpp-python's ``python -m llama_cpp.server``, which refuses
the other; ``llama-server`` takes both). A server that honours it can only write an allowed answer; one that
ignores it (``transformers serve``) writes free text, which is read as the answer itself. Either way the answer
goes through the type's parser, and anything else is the cell's recorded failure (``CellResult.failed``), never a
guess.

Only the configured host is contacted (no proxy from the environment, no redirect), and a host that is not
this machine is refused unless ``allow_remote: true``. The API key is read from the environment variable
``api_key_env`` names, at run time: it is in no file clinrag writes. A server that cannot be reached, refuses,
times out or answers something that is not a chat completion, after ``retries`` retries with exponential
backoff, stops the read with one :class:`ServerError` line naming the URL and the cause; neither the prompts
nor the answers are in any message or log line.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from clinrag.errors import ClinragError
from clinrag.generation.base import CellRequest, CellResult, register_reader
from clinrag.generation.config import ReaderConfig
from clinrag.generation.constraints import NOT_DOCUMENTED, answer_regex, parse_answer
from clinrag.generation.reader import LLMReader, supporting_passage

ANSWER_KEY = "valeur"
"""The one property of the JSON object a server is asked to write."""

JSON_OVERHEAD_TOKENS = 24
"""Tokens allowed on top of ``max_new_tokens`` for the JSON around the answer (``structured`` not ``none``)."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's host name) is this machine: ``localhost`` or a loopback address."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SERVER_RUNTIME_FIELDS = frozenset(
    {
        "url",
        "allow_remote",
        "api_key_env",
        "connect_timeout",
        "timeout",
        "max_concurrency",
        "retries",
        "backoff",
        "model",
        "revision",
        "adapter",
        "lora",
        "device",
        "dtype",
        "batch_size",
        "context_tokens",
    }
)
"""Server reader fields that do not change the answers (where and how the server is reached), or that do not apply; and
the model's fields, keyed apart (:meth:`ServerReaderConfig.identity`)."""


class ServerReaderConfig(ReaderConfig):
    """The ``llm`` reader's settings, its decoder being a model behind an OpenAI-compatible server.

    ``dtype``, ``device``, ``batch_size``, ``context_tokens`` and ``lora`` do not apply (the server loads the
    model); ``adapter`` is refused (serve the adapter from the server: vLLM ``--lora-modules``)."""

    type: Literal["server"] = "server"
    model: str = Field(min_length=1)
    """The model's name on the server (the ``model`` of its ``/v1/models`` list: vLLM's ``--served-model-name``,
    Ollama's tag, llama.cpp's alias, transformers serve's folder)."""
    allow_remote: bool = False
    """Allow a ``url`` whose host is not this machine (the hospital's inference server on its network): every
    prompt (the retrieved passages of patient records) is sent there. False: only a loopback host."""
    url: str = "http://127.0.0.1:8000/v1"
    """The server's OpenAI API base (``http://HOST:PORT/v1``); the reader posts to ``{url}/chat/completions``."""
    api_key_env: str | None = None
    """The name of the environment variable that holds the server's API key (sent as ``Authorization: Bearer``);
    None: no key. The key itself is never in a config, manifest or log."""
    revision: str | None = None
    """A label of the weights behind ``model`` (a date, a hash): in the cache key, so that new weights served
    under the same name are read again (the server's weights cannot be hashed from here)."""
    structured: Literal["json_schema", "json_object", "none"] = "json_schema"
    """How each request asks for the answer's JSON schema (built from the cell's options or type):
    ``json_schema``: ``response_format: {"type": "json_schema", "json_schema": {"schema": ...}}``, OpenAI's form
    (vLLM, SGLang, Ollama, llama.cpp's llama-server); ``json_object``: ``response_format: {"type": "json_object",
    "schema": ...}`` (llama-cpp-python's server, which refuses the other; llama-server takes it too);
    ``none``: no ``response_format`` (for a server that refuses the field). A server that ignores the field
    answers free text, read as the answer."""
    temperature: float = Field(0.0, ge=0)
    """Sampling temperature (0: greedy, the ``llm`` reader's decoding)."""
    seed: int | None = 0
    """The ``seed`` sent with each request (None: none sent)."""
    logprobs: bool = True
    """Ask for the answer tokens' log-probabilities: the cell's score is their mean probability (1.0 from a
    server that returns none)."""
    connect_timeout: float = Field(5.0, gt=0)
    """Seconds to open a connection."""
    timeout: float = Field(120.0, gt=0)
    """Seconds to wait for one answer."""
    max_concurrency: int = Field(4, ge=1)
    """Requests in flight at once (the server batches them)."""
    retries: int = Field(3, ge=0)
    """Retries of a request that failed for a reason that may pass (no connection, time-out, HTTP 429 or 5xx,
    an answer that is not a chat completion), waiting ``backoff`` seconds, then twice as long each time."""
    backoff: float = Field(1.0, ge=0)
    """Seconds before the first retry."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str, info) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/v1")
        try:
            parts.port  # noqa: B018 (raises on a port that is not a number in range)
        except ValueError:
            raise ValueError("has a port that is not a number from 0 to 65535") from None
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: name the API key's variable in reader.api_key_env")
        if parts.query or parts.fragment:
            raise ValueError(
                "must be the API base, without a query or fragment (e.g. http://127.0.0.1:8000/v1)"
            )
        if not is_loopback(parts.hostname) and not info.data.get("allow_remote", False):
            raise ValueError(
                f"host {parts.hostname} is not this machine and every prompt holds patient text: set "
                "reader.allow_remote: true if it is the hospital's server"
            )
        return url.strip().rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, name: str | None) -> str | None:
        if name is not None and not _ENV_NAME.fullmatch(name):
            # the value is not repeated: it may be the key itself, pasted by mistake
            raise ValueError(
                "must be the name of an environment variable (e.g. CLINRAG_LLM_KEY), not the key"
            )
        return name

    def check_models(self, decoder: bool = True) -> None:
        """Refuse, before any work, what would stop the reader: an adapter (the server holds the weights), a
        merge recipe (``decoder`` False: its merged folder would replace ``model``), an API-key variable that is
        not set. The server is not contacted.

        Raises:
            ClinragError: One line naming the field.
        """
        if self.adapter:
            raise ClinragError(
                "reader.adapter: the server reader reads with the server's weights; serve the adapter there "
                "(vLLM --lora-modules, llama.cpp --lora) and name it in reader.model"
            )
        if not decoder:
            raise ClinragError(
                "merge: a merge recipe builds a local model, and reader.type server reads with the server's; "
                "serve the merged folder and name it in reader.model"
            )
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise ClinragError(
                f"reader.api_key_env: the environment variable {self.api_key_env} is not set (the server's API key)"
            )

    def identity(self) -> dict[str, Any]:
        """What the answers depend on besides the cells' inputs: the served model's name and revision, and the
        settings that change the requests (not the URL, the key, the time-outs, the concurrency, the retries)."""
        return {
            "server_model": {"name": self.model, "revision": self.revision},
            "settings": self.model_dump(exclude=set(SERVER_RUNTIME_FIELDS)),
        }


def answer_schema(request: CellRequest, choices: dict[str, str] | None) -> dict[str, Any]:
    """The JSON schema of a cell's answer: ``{"valeur": ...}`` with one of ``choices`` (the reader's options,
    "non documenté" included), or, for a free-form cell, a string matching the type's grammar
    (:func:`~clinrag.generation.constraints.answer_regex`, which has "non documenté")."""
    if choices is not None:
        answer: dict[str, Any] = {"type": "string", "enum": list(choices)}
    else:
        answer = {"type": "string", "pattern": f"^{answer_regex(request.variable)}$"}
    return {
        "type": "object",
        "properties": {ANSWER_KEY: answer},
        "required": [ANSWER_KEY],
        "additionalProperties": False,
    }


def response_format(structured: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` of a request asking for ``schema``, in the form ``structured`` names: OpenAI's
    ``json_schema`` (vLLM, SGLang, Ollama, llama-server), or ``json_object`` with the schema beside the type
    (llama-cpp-python's server; llama-server also reads it)."""
    if structured == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "cellule", "schema": schema, "strict": True}}


class ServerError(ClinragError):
    """The server could not answer (after the retries): one line naming the URL and the cause."""


class _Fatal(Exception):
    """A failure no retry mends (HTTP 400, 401, 404...)."""


class ServerClient:
    """Chat completions from one OpenAI-compatible server, with retries, from several threads at once."""

    def __init__(self, config: ServerReaderConfig):
        try:
            import httpx
        except ImportError as err:
            raise ClinragError(
                "reader.type server needs httpx: `pip install 'clinrag[server]'` (or `pip install httpx`)"
            ) from err
        self.config = config
        self.endpoint = f"{config.url}/chat/completions"
        headers = {"Accept": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ClinragError(
                    f"reader.api_key_env: the environment variable {config.api_key_env} is not set "
                    "(the server's API key)"
                )
            headers["Authorization"] = f"Bearer {key}"
        self.http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            trust_env=False,  # no proxy from HTTP(S)_PROXY: only the configured host is contacted
            follow_redirects=False,
        )
        self.stopped = threading.Event()
        self.failure: ServerError | None = None
        """The first failure (the others are requests it stopped)."""
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def body(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        """The request for one cell."""
        config = self.config
        body: dict[str, Any] = {
            "model": config.model,
            "messages": messages,
            "temperature": config.temperature,
            "max_tokens": config.max_new_tokens,
            "stream": False,
        }
        if config.seed is not None:
            body["seed"] = config.seed
        if config.logprobs:
            body["logprobs"] = True
        if config.structured != "none":
            body["max_tokens"] += JSON_OVERHEAD_TOKENS
            body["response_format"] = response_format(config.structured, schema)
        return body

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat completion of ``body`` (a parsed response with a ``choices[0].message``), after retries.

        Raises:
            ServerError: No usable answer after the retries, or a refusal no retry mends.
        """
        import httpx

        config = self.config
        delay, started = config.backoff, time.perf_counter()
        cause = "stopped"
        for attempt in range(config.retries + 1):
            if self.stopped.is_set():  # another request failed for good: the read stops
                raise ServerError(f"reader server {config.url}: stopped")
            try:
                response = self.http.post(self.endpoint, json=body)
            except httpx.TimeoutException as err:
                kind = "connecting" if isinstance(err, httpx.ConnectTimeout) else "waiting for an answer"
                limit = config.connect_timeout if isinstance(err, httpx.ConnectTimeout) else config.timeout
                cause = f"timed out {kind} ({limit:g} s)"
            except httpx.ConnectError:
                cause = "connection refused or host unreachable (is the server running?)"
            except httpx.HTTPError as err:  # the connection dropped mid-answer...
                cause = f"{type(err).__name__} (the connection broke)"
            else:
                status = response.status_code
                if status == 200:
                    parsed = _completion(response)
                    if parsed is not None:
                        return parsed
                    cause = "answered something that is not an OpenAI chat completion"
                elif (field := _invalid_field(response)) is not None:
                    raise self._fail(
                        f"reader server {config.url}: HTTP {status} {response.reason_phrase}: the server refused "
                        f"the request's {field} field{_FIELD_HINTS.get(field, '')}"
                    )
                elif status in (408, 409, 425, 429) or status >= 500:
                    cause = f"HTTP {status} {response.reason_phrase}"
                else:
                    raise self._fail(
                        f"reader server {config.url}: HTTP {status} {response.reason_phrase}{_hint(status)}"
                    )
            if attempt < config.retries:
                # sleep in small steps, to stop soon after another request failed for good
                until = time.perf_counter() + delay
                while time.perf_counter() < until and not self.stopped.is_set():
                    time.sleep(min(0.1, max(0.0, until - time.perf_counter())))
                delay *= 2
        tries = config.retries + 1
        raise self._fail(
            f"reader server {config.url}: {cause} ({tries} tr{'ies' if tries > 1 else 'y'} over "
            f"{time.perf_counter() - started:.0f} s); the chunks of cells already read are cached: run again to "
            "resume"
        )

    def _fail(self, message: str) -> ServerError:
        """The error of a request that failed for good; the first one is kept, and the others stop."""
        error = ServerError(message)
        with self._lock:
            if self.failure is None:
                self.failure = error
        self.stopped.set()
        return error


def _hint(status: int) -> str:
    if status in (401, 403):
        return " — check the API key (reader.api_key_env)"
    if status == 404:
        return " — check reader.url (the API base, ending in /v1) and reader.model (the server's model name)"
    if status in (400, 422):
        return (
            " — the server refused the request (a field it does not support? try reader.structured: none or "
            "reader.logprobs: false; a prompt longer than its context?)"
        )
    return ""


_FIELD_HINTS = {
    "response_format": (
        " (llama-cpp-python's server takes reader.structured: json_object; a server that takes neither form: "
        "reader.structured: none)"
    ),
    "logprobs": " (try reader.logprobs: false)",
    "seed": " (try reader.seed: null)",
}
_INVALID_FIELD = re.compile(r"""['"]loc['"]: *[(\[]['"]body['"], *['"]([A-Za-z_]+)['"]""")


def _invalid_field(response) -> str | None:
    """The request field an error answer says is invalid (FastAPI's validation error, which llama-cpp-python's
    server answers with HTTP 500: ``'loc': ('body', 'response_format', 'type')``), else None. Only the field's
    name is kept from the answer: the rest may quote the request."""
    if response.status_code < 400:
        return None
    match = _INVALID_FIELD.search(response.text[:4000])
    return match.group(1) if match else None


def _completion(response) -> dict[str, Any] | None:
    """A response's JSON when it is a chat completion with a message, else None."""
    try:
        data = response.json()
        choice = data["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(message, dict):
        return None
    return data


def answer_of(content: str | None, structured: bool) -> str | None:
    """The answer in a message's content: the ``valeur`` of the JSON object asked for, else (a server that
    ignored ``response_format``, or ``structured: none``) the text itself. None: no text at all."""
    if content is None:
        return None
    if structured:
        try:
            data = json.loads(content)
        except ValueError:
            return content
        if isinstance(data, dict) and isinstance(data.get(ANSWER_KEY), str | int | float):
            value = data[ANSWER_KEY]
            return value if isinstance(value, str) else json.dumps(value)
    return content


def mean_probability(choice: dict[str, Any]) -> float:
    """The mean probability of the answer's tokens (``logprobs.content``), 1.0 when the server gave none."""
    logprobs = choice.get("logprobs") or {}
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    values = [t.get("logprob") for t in tokens or [] if isinstance(t, dict)]
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not values:
        return 1.0
    return float(math.exp(sum(values) / len(values)))


@register_reader("server", ServerReaderConfig)
class ServerReader(LLMReader):
    """The ``llm`` reader whose decoder is a model behind an OpenAI-compatible server (module docstring)."""

    learns_from_table = True
    tunes_adapters = False
    """The run tunes no LoRA adapter for it (the server holds the weights)."""

    config: ServerReaderConfig

    def _make_decoder(self) -> Any:
        return None  # the client is opened when the first cell is read

    def read(self, requests: list[CellRequest], progress: bool = False) -> list[CellResult]:
        """Fill the requested cells: those the train split's table decides here, the others by the server,
        ``max_concurrency`` requests at a time (the prompts are built, and the answers read, in this thread:
        only the HTTP exchanges run in the pool)."""
        results: dict[int, CellResult] = {}
        asked: list[tuple[int, dict[str, str] | None, list[dict[str, str]], dict[str, Any]]] = []
        for index, request in enumerate(requests):
            decided = self.decide(request)
            if decided is not None:
                results[index] = self._decided(request, *decided)
                continue
            choices = self.choices(request)
            asked.append((index, choices, self.messages(request), answer_schema(request, choices)))
        if not asked:
            return [results[i] for i in range(len(requests))]
        client = ServerClient(self.config)
        try:
            replies = self._exchange(client, [client.body(m, schema) for _, _, m, schema in asked], progress)
        finally:
            client.close()
        structured = self.config.structured != "none"
        for (index, choices, _, _), (data, seconds) in zip(asked, replies, strict=True):
            choice = data["choices"][0]
            raw = answer_of(choice["message"].get("content"), structured)
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            tokens = int(usage.get("prompt_tokens") or 0)
            results[index] = self._answer(
                requests[index], raw, choices, mean_probability(choice), tokens, seconds
            )
        return [results[i] for i in range(len(requests))]

    def _exchange(
        self, client: ServerClient, bodies: list[dict[str, Any]], progress: bool
    ) -> list[tuple[dict[str, Any], float]]:
        """Each body's chat completion and the seconds it took, in order, ``max_concurrency`` at a time; the
        first failure stops the others and is raised."""

        def one(body: dict[str, Any]) -> tuple[dict[str, Any], float]:
            start = time.perf_counter()
            return client.complete(body), time.perf_counter() - start

        from clinrag.progress import bars_allowed

        bar = None
        if bars_allowed(progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=len(bodies), desc="reading (server)", unit="cell")
        done: dict[int, tuple[dict[str, Any], float]] = {}
        with ThreadPoolExecutor(max_workers=self.config.max_concurrency) as pool:
            futures = {pool.submit(one, body): number for number, body in enumerate(bodies)}
            try:
                for future in as_completed(futures):
                    done[futures[future]] = future.result()
                    if bar is not None:
                        bar.update(1)
            except BaseException as err:
                client.stopped.set()
                pool.shutdown(wait=True, cancel_futures=True)
                if client.failure is not None and client.failure is not err:
                    raise client.failure from None  # the first failure, not a request it stopped
                raise
            finally:
                if bar is not None:
                    bar.close()
        return [done[number] for number in range(len(bodies))]

    def _answer(
        self,
        request: CellRequest,
        raw: str | None,
        choices: dict[str, str] | None,
        score: float,
        tokens: int,
        seconds: float,
    ) -> CellResult:
        """The cell of a server's answer: one of ``choices`` (exactly, or but for case and a final period), or
        for a free-form cell a value of the type (:func:`parse_answer`); else a recorded failure."""
        var = request.variable
        if raw is None:
            return CellResult(
                request.patient_id,
                var.name,
                "",
                "",
                "the server returned no text",
                score,
                None,
                tokens,
                seconds,
            )
        if choices is not None:
            text = raw.strip().strip(".").strip()
            folded = {answer.casefold(): answer for answer in choices}
            chosen = text if text in choices else folded.get(text.casefold())
            if chosen is None:
                failed = f"not one of the {len(choices)} allowed answers ({NOT_DOCUMENTED!r} included)"
                return CellResult(request.patient_id, var.name, "", raw, failed, score, None, tokens, seconds)
            cell = choices[chosen]
            support = None
            if cell:
                passages = request.passages[: self.config.max_passages]
                support = supporting_passage(var, cell, passages, self._mentions(var, passages))
            return CellResult(request.patient_id, var.name, cell, raw, None, score, support, tokens, seconds)
        answer = parse_answer(var, raw)
        if answer.failed:
            return CellResult(
                request.patient_id, var.name, "", raw, answer.failed, score, None, tokens, seconds
            )
        return self._finish(request, raw, score, tokens, seconds)
