"""The ``server`` reader through llama.cpp's server against the in-process ``llm`` reader, on the same machine: cells
per second of the generations stage and accuracy on a synthetic cohort's test split.

Both read with the embedded SmolLM2-135M-Instruct: in-process, the transformers model converted from the GGUF file
(float32, option scoring, xgrammar for free-form cells); through the server, llama-cpp-python's
``python -m llama_cpp.server`` on that GGUF file itself (Q4_1), started here on a loopback port with the same
number of CPU threads, asked for the answer's JSON schema (``reader.structured: json_object``). Retrieval is bm25
(``k: 3``) and nothing is trained but the train-table models, so the two runs differ only in their decoder. Two
reader settings:

* ``decoder``: ``values: llm``, ``booleans: llm``, ``unmentioned: read`` — every cell reaches the decoder;
* ``default``: the reader's defaults (``values: candidates``, ``booleans: qualifiers``, ``unmentioned: prior``) —
  the train-table models decide most cells, the decoder reads dates and the rest.

Writes OUT/bench.json and OUT/bench.md. Needs llama-cpp-python's server (``pip install
'llama-cpp-python[server]'``: it compiles llama.cpp) and the embedded models (scripts/setup.sh).

Usage: flock /tmp/clinrag-cpu.lock .venv/bin/python experiments/server_bench.py [--patients 30] [--seed 2026]
       [--threads 2] [--out runs/server_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from clinrag.generation.loopback import LoopbackServer, free_port, llama_cpp_command
from clinrag.io import atomic_write_json, atomic_write_text
from clinrag.models import embedded_model_path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "decoder": {"values": "llm", "booleans": "llm", "unmentioned": "read"},
    "default": {},
}


def run(config: dict, cohort: Path, out: Path, cache: Path, threads: int) -> dict:
    """``clinrag run`` of ``config``; what the table reports of it."""
    config_file = out.with_suffix(".yaml")
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "clinrag", "run", str(config_file), "--cohort", str(cohort)]
    subprocess.run([*command, "--out", str(out), "--cache", str(cache), "-q"], env=env, check=True)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    stage = next(s for s in manifest["stages"] if s["stage"] == "generations")
    records = [
        json.loads(line) for line in (out / "provenance.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    decoded = sum(1 for r in records if "answered_by" not in r)
    return {
        "generations_seconds": stage["seconds"],
        "cached": stage["cached"],
        "cells": len(records),
        "decoder_cells": decoded,
        "decoder_cells_per_second": round(decoded / stage["seconds"], 3) if stage["seconds"] else None,
        "failed": metrics["reader"]["failed"],
        "documented": metrics["reader"]["documented"],
        "prompt_tokens_per_cell": metrics["reader"]["prompt_tokens_per_cell"],
        "accuracy": metrics["overall"]["accuracy"],
        "accuracy_ci": metrics["overall"].get("accuracy_ci"),
        "n": metrics["overall"]["n"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of each decoder")
    parser.add_argument("--out", type=Path, default=ROOT / "runs/server_bench")
    args = parser.parse_args()
    out = args.out.resolve()
    cohort = out / "cohort"
    if not (cohort / "documents.jsonl").exists():
        subprocess.run(
            [sys.executable, "-m", "clinrag", "synth", "--out", str(cohort), "--patients", str(args.patients)]
            + ["--seed", str(args.seed), "--overwrite"],
            check=True,
        )
    cache = out / "cache"  # its own stage cache: no generations read elsewhere
    base = {
        "name": "server-bench",
        "retriever": {"type": "bm25"},
        "retrieval": {"k": 3},
        "training": {"retriever": False, "reader": "none"},
        "evaluation": {"retrieval": False, "baselines": []},
        "cell_batch": 32,
    }
    port = free_port()
    gguf = embedded_model_path("smollm2-135m-instruct")
    command = llama_cpp_command(gguf, port, "smollm2", threads=args.threads)
    server = LoopbackServer("llama.cpp server", command, port, "smollm2", out / "llama_cpp.log")
    try:
        startup = server.start(wait=300)
    except RuntimeError as err:
        sys.exit(f"{err}; see {server.log}")
    rows = {}
    try:
        for setting, fields in SETTINGS.items():
            local = {**base, "reader": {"type": "llm", **fields}}
            rows[f"{setting}/in-process"] = run(
                local, cohort, out / f"{setting}-inprocess", cache, args.threads
            )
            remote = {
                **base,
                "reader": {
                    "type": "server",
                    "model": "smollm2",
                    "url": f"http://127.0.0.1:{port}/v1",
                    "structured": "json_object",
                    "max_concurrency": 1,  # llama-cpp-python's server answers one request at a time
                    **fields,
                },
            }
            rows[f"{setting}/llama.cpp"] = run(
                remote, cohort, out / f"{setting}-llamacpp", cache, args.threads
            )
    finally:
        server.stop()
    import llama_cpp
    import torch
    import transformers

    result = {
        "cohort": {"patients": args.patients, "seed": args.seed},
        "threads": args.threads,
        "versions": {
            "llama_cpp_python": llama_cpp.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "llama_cpp_startup_seconds": round(startup, 2),
        "runs": rows,
    }
    atomic_write_json(out / "bench.json", result)
    lines = [
        "| reader setting | decoder | cells (to the decoder) | generations stage | decoder cells/s | failed | "
        "documented | accuracy [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        setting, decoder = name.split("/")
        ci = row["accuracy_ci"] or [None, None]
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci[0] is not None else ""
        speed = row["decoder_cells_per_second"] if row["decoder_cells"] else "—"
        lines.append(
            f"| {setting} | {decoder} | {row['cells']} ({row['decoder_cells']}) | {row['generations_seconds']:.1f} s"
            f" | {speed} | {row['failed']} | {row['documented']} | {row['accuracy']:.3f}{interval} |"
        )
    atomic_write_text(out / "bench.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"llama.cpp server start: {startup:.1f} s; versions {result['versions']}")


if __name__ == "__main__":
    main()
