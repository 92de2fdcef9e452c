"""Generation benchmark: cells per second and tokens per second of the embedded decoder on CPU, with and without
batching.

Two paths, on real prompts (a synthetic cohort's cells, bm25 passages, 3 per prompt):

* option scoring (booleans, categories, bounded integers, the default reader's choices): the prompt is encoded
  once, then the allowed answers are scored on copies of its cache, ``batch_size`` answers per forward pass
  (1 = no batching);
* grammar-constrained generation (numbers and dates with ``reader.grounded: false``): ``batch_size`` prompts
  generated together with left padding.

Tokens per second counts prompt tokens read plus answer tokens scored or generated.

Usage: .venv/bin/python scripts/bench_generation.py [--cells 42] [--batch-sizes 1,8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=42, help="cells per path")
    parser.add_argument("--batch-sizes", default="1,8")
    args = parser.parse_args()
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
    decoder = Decoder(ReaderConfig())
    requests = {"options": [], "grammar": []}
    for pid in cohort.patients:
        for var in cohort.variables:
            # the grammar path: numbers and dates as generated when the reader is not grounded
            path = "options" if options(var, 128) is not None else "grammar"
            if len(requests[path]) < args.cells:
                hits = retrieve(bm25, store, pid, var, 3)
                requests[path].append(CellRequest(pid, var, [store.passages[h.index] for h in hits]))
    print(
        f"embedded decoder SmolLM2-135M-Instruct (float32), {torch.get_num_threads()} CPU threads, {args.cells} cells per path\n"
    )
    print("| path | batch size | cells/s | tokens/s | prompt tokens per cell |")
    print("|---|---:|---:|---:|---:|")
    for path in ("options", "grammar"):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            decoder.config = decoder.config.model_copy(
                update={"batch_size": batch_size, "grounded": path == "options"}
            )
            reader = LLMReader(decoder.config, decoder=decoder)
            reader.read(requests[path][:2])  # warm-up: first calls initialize kernels and compile grammars
            start = time.perf_counter()
            results = reader.read(requests[path])
            elapsed = time.perf_counter() - start
            prompt_tokens = sum(r.tokens for r in results)
            if path == "options":
                answer_tokens = sum(
                    sum(len(decoder.answer_ids(a)) for a in reader.choices(req)) for req in requests[path]
                )
            else:
                answer_tokens = sum(len(decoder.answer_ids(r.raw)) for r in results)
            print(
                f"| {'option scoring' if path == 'options' else 'constrained generation'} | {batch_size} | {len(results) / elapsed:.2f} "
                f"| {(prompt_tokens + answer_tokens) / elapsed:.0f} | {prompt_tokens / len(results):.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
