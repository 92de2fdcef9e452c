"""An OpenAI-compatible inference server started on this machine's loopback interface, for the checks that read
through a real server (tests/test_server_real.py, experiments/server_bench.py): llama-cpp-python's server command,
a free port, and the server's process started, waited for until it answers, and killed with its children.
Nothing here is used by a run: ``reader.type: server`` only ever talks to the URL a user configures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def llama_cpp_command(gguf: Path, port: int, alias: str, threads: int = 2) -> list[str]:
    """``python -m llama_cpp.server`` serving ``gguf`` as ``alias`` on 127.0.0.1:``port``, on the CPU."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--logits_all",
        "false",  # the server's default (true) keeps a context-sized logits array the reader does not use
    ]


class LoopbackServer:
    """An OpenAI-compatible server on 127.0.0.1:PORT run by ``command`` in its own process group, its output
    appended to ``log``; ``model`` is the name requests give it, ``env`` variables set for it on top of this
    process's environment."""

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        model: str,
        log: Path,
        env: Mapping[str, str] | None = None,
    ):
        self.name, self.command, self.port, self.model, self.log = name, command, port, model, log
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: float = 180.0) -> float:
        """Start the server and return the seconds it took to answer ``GET /v1/models``.

        Raises:
            RuntimeError: It exited, or did not answer within ``wait`` seconds (then it is killed).
        """
        import httpx

        started = time.monotonic()
        with self.log.open("ab") as handle:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                self.command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        while time.monotonic() - started < wait:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2, trust_env=False).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer in {wait:.0f} s")

    def stop(self) -> None:
        """Kill the server's whole process group (transformers serve runs its engine in a child process)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None
