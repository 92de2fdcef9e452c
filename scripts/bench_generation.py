"""Generation benchmark: cells per second and tokens per second of the embedded decoder, on the CPU and, where
there is one, a CUDA GPU, with and without batching.

Two paths, on real prompts (a synthetic cohort's cells, bm25 passages, 3 per prompt):

* option scoring (booleans, categories, bounded integers, the default reader's choices): the prompt is encoded
  once, then the allowed answers are scored on copies of its cache, ``batch_size`` answers per forward pass
  (1 = no batching);
* grammar-constrained generation (numbers and dates with ``reader.grounded: false``): ``batch_size`` prompts
  generated together with left padding.

Tokens per second counts prompt tokens read plus answer tokens scored or generated. Peak memory: on the GPU,
torch's peak allocation during the row; on the CPU, the process's resident high-water mark so far.

``--devices cpu,cuda`` (the default) runs the CPU rows (float32) and, when torch sees a CUDA device, the GPU rows
(``--cuda-dtype``, bfloat16 by default); without one, it says so in a line under the table and prints no GPU row.

Usage: .venv/bin/python scripts/bench_generation.py [--cells 42] [--batch-sizes 1,8] [--devices cpu,cuda]
       [--cuda-dtype bfloat16]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch

DEVICES = ("cpu", "cuda")


def plan_devices(
    devices: list[str], cuda_dtype: str, cuda_available: bool
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (device, dtype) rows to measure and the notes on those that cannot be: a GPU row needs a CUDA device."""
    runs, notes = [], []
    for device in devices:
        if device == "cpu":
            runs.append(("cpu", "float32"))
        elif cuda_available:
            runs.append(("cuda", cuda_dtype))
        else:
            notes.append(
                f"cuda ({cuda_dtype}): not measured, no CUDA device available here (torch {torch.__version__}, "
                "torch.cuda.is_available() is False)"
            )
    return runs, notes


def _peak_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=42, help="cells per path")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--devices", default="cpu,cuda", help="cpu and/or cuda, comma-separated")
    parser.add_argument("--cuda-dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args(argv)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    unknown = sorted(set(devices) - set(DEVICES))
    if unknown or not devices:
        parser.error(f"--devices: {', '.join(unknown) or 'none given'}; choose among {', '.join(DEVICES)}")
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        parser.error("--batch-sizes takes comma-separated integers")
    if min(batch_sizes) < 1 or args.cells < 1:
        parser.error("--batch-sizes and --cells must be positive")
    runs, notes = plan_devices(devices, args.cuda_dtype, torch.cuda.is_available())
    if not runs:
        print("\n".join(notes))
        return
    from clinrag.data.validate import load_cohort
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.constraints import options
    from clinrag.generation.decoder import Decoder
    from clinrag.generation.reader import CellRequest, LLMReader
    from clinrag.retrieval.base import retrieve
    from clinrag.retrieval.bm25 import BM25Retriever
    from clinrag.synth import write_synthetic_cohort
    from clinrag.text.passages import build_passages

    torch.set_num_threads(2)
    folder = Path(tempfile.mkdtemp()) / "cohort"
    write_synthetic_cohort(folder, 30, seed=99)
    cohort = load_cohort(folder)
    store = build_passages(cohort)
    bm25 = BM25Retriever()
    bm25.index(store)
    requests = {"options": [], "grammar": []}
    for pid in cohort.patients:
        for var in cohort.variables:
            # the grammar path: numbers and dates as generated when the reader is not grounded
            path = "options" if options(var, 128) is not None else "grammar"
            if len(requests[path]) < args.cells:
                hits = retrieve(bm25, store, pid, var, 3)
                requests[path].append(CellRequest(pid, var, [store.passages[h.index] for h in hits]))
    print(
        f"embedded decoder SmolLM2-135M-Instruct, {torch.get_num_threads()} CPU threads, {args.cells} cells per path\n"
    )
    print(
        "| device | dtype | path | batch size | cells/s | tokens/s | prompt tokens per cell | peak memory (MB) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for device, dtype in runs:
        decoder = Decoder(ReaderConfig(device=device, dtype=dtype))
        for path in ("options", "grammar"):
            for batch_size in batch_sizes:
                decoder.config = decoder.config.model_copy(
                    update={"batch_size": batch_size, "grounded": path == "options"}
                )
                _row(decoder, LLMReader(decoder.config, decoder=decoder), requests[path], path, device)
    for note in notes:
        print(f"\n{note}")


def _row(decoder, reader, requests: list, path: str, device: str) -> None:
    """Time one (device, path, batch size) and print its row."""
    reader.read(requests[:2])  # warm-up: first calls initialize kernels and compile grammars
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    results = reader.read(requests)
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    prompt_tokens = sum(r.tokens for r in results)
    if path == "options":
        answer_tokens = sum(sum(len(decoder.answer_ids(a)) for a in reader.choices(req)) for req in requests)
    else:
        answer_tokens = sum(len(decoder.answer_ids(r.raw)) for r in results)
    name = "option scoring" if path == "options" else "constrained generation"
    print(
        f"| {device} | {decoder.config.dtype} | {name} | {decoder.config.batch_size} | {len(results) / elapsed:.2f} "
        f"| {(prompt_tokens + answer_tokens) / elapsed:.0f} | {prompt_tokens / len(results):.0f} "
        f"| {_peak_mb(device):,.0f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
