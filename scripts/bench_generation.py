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

``--model`` chooses the decoder: ``embedded`` (SmolLM2-135M-Instruct, the default) or a Llama of 1B, 3B or 8B
parameters built in code with random weights (``llama-1b``, ``llama-3b``, ``llama-8b``: the layer shapes of
Llama-3.2-1B, Llama-3.2-3B and Llama-3.1-8B; the embedded decoder's tokenizer and its 49,152-token vocabulary
instead of Llama 3's 128,256, so the embedding matrices are smaller than the real models'). Random weights
answer nonsense: what is measured is throughput (the same prompts, the same number of answer tokens scored; a
generated answer runs to its grammar's end or ``max_new_tokens``). The model is built directly in the row's
dtype on the row's device.

Usage: .venv/bin/python scripts/bench_generation.py [--cells 42] [--batch-sizes 1,8] [--devices cpu,cuda]
       [--cuda-dtype bfloat16] [--model embedded|llama-1b|llama-3b|llama-8b]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch

DEVICES = ("cpu", "cuda")
# Layer shapes of the public Llama checkpoints (their config.json): hidden size, layers, attention heads, key/value
# heads, MLP size, tied input/output embeddings.
LLAMA_SHAPES = {
    "llama-1b": (2048, 16, 32, 8, 8192, True),  # Llama-3.2-1B
    "llama-3b": (3072, 28, 24, 8, 8192, True),  # Llama-3.2-3B
    "llama-8b": (4096, 32, 32, 8, 14336, False),  # Llama-3.1-8B
}


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


def build_decoder(name: str, device: str, dtype: str, tokenizer_folder: Path | None = None):
    """The benchmark's decoder: the embedded one loaded from its folder, or a random-weight Llama of ``name``'s
    shape with the tokenizer of ``tokenizer_folder`` (default: the embedded decoder's), built in ``dtype`` on
    ``device``."""
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.decoder import Decoder, resolve_decoder_path

    config = ReaderConfig(device=device, dtype=dtype)
    if name == "embedded":
        return Decoder(config)
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    folder = tokenizer_folder or resolve_decoder_path(config.model)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    hidden, layers, heads, kv_heads, mlp, tied = LLAMA_SHAPES[name]
    shape = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=mlp,
        tie_word_embeddings=tied,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(shape, dtype=getattr(torch, dtype))
    return Decoder(config, model=model, tokenizer=tokenizer)


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
    parser.add_argument("--model", default="embedded", choices=["embedded", *LLAMA_SHAPES])
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
    from clinrag.generation.constraints import options
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
    described = (
        "embedded decoder SmolLM2-135M-Instruct"
        if args.model == "embedded"
        else f"{args.model} ({LLAMA_SHAPES[args.model]}: hidden, layers, heads, kv heads, MLP, tied), random weights"
    )
    print(f"{described}, {torch.get_num_threads()} CPU threads, {args.cells} cells per path\n")
    print(
        "| device | dtype | path | batch size | cells/s | tokens/s | prompt tokens per cell | peak memory (MB) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for device, dtype in runs:
        decoder = build_decoder(args.model, device, dtype)
        parameters = sum(p.numel() for p in decoder.model.parameters())
        print(f"<!-- {device} {dtype}: {parameters / 1e9:.2f} B parameters -->", flush=True)
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
