"""Retrieval benchmark: index build time, query latency and peak memory, and the temporal retriever's scaling.

1. BM25: bm25s vs rank-bm25 at 1e3, 1e4 and 1e5 passages (real synthetic French sentences, 30 per patient).
2. faiss: exact (flat) vs approximate (IVF, HNSW) at the same sizes, on 384-d unit vectors (the size of the
   embedded all-MiniLM-L6-v2; index cost does not depend on what the vectors mean).
3. Temporal retriever: time to score one patient for 21 variables as documents per patient double.

Each (method, size) runs in a fresh process so that its peak resident memory (``ru_maxrss``) is its own; the
table reports how much building and querying the index raised the peak above the footprint once the corpus
(token lists, or vectors) was in memory. Query latency is the median over queries of
one patient-restricted top-5 search.

Usage: .venv/bin/python scripts/bench_retrieval.py [--sizes 1000,10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

PER_PATIENT = 30


def _rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_mb() -> float:
    """Resident memory of this process now (MB)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _sentences(n: int) -> list[str]:
    import re

    from clinrag.synth import synthesize_cohort

    patients = max(1, n // 300 + 1)
    sentences: list[str] = []
    seed = 0
    while len(sentences) < n:
        cohort = synthesize_cohort(patients, seed=seed)
        for doc in cohort.documents:
            sentences.extend(s for s in re.split(r"(?<=[.:])\s+|\n", doc.text) if len(s) > 15)
        seed += 1
    return sentences[:n]


def bench_bm25(backend: str, n: int, queries: int) -> dict:
    from clinrag.retrieval.bm25 import BM25Retriever
    from clinrag.retrieval.config import BM25Config
    from clinrag.synth import synthetic_variables
    from clinrag.text.passages import Passage, PassageStore

    texts = _sentences(n)
    store = PassageStore(
        [
            Passage(f"p{i // PER_PATIENT}", f"d{i // 10}", 0, len(t), t, "2024-01-01", "u", "", 0, 0.0)
            for i, t in enumerate(texts)
        ]
    )
    base = _current_mb()
    start = time.perf_counter()
    retriever = BM25Retriever(BM25Config(backend=backend))
    retriever.index(store)
    build = time.perf_counter() - start
    variables = synthetic_variables()
    patients = sorted(store.ranges)
    latencies = []
    for q in range(queries):
        var = variables[q % len(variables)]
        retriever._score_cache.clear()  # a new query each time, not a cached one
        t0 = time.perf_counter()
        scores = retriever.scores(patients[(q * 7) % len(patients)], var)
        scores.argsort()[-5:]
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    return {"build_s": build, "query_ms": 1000 * latencies[len(latencies) // 2], "peak_mb": _rss_mb() - base}


def bench_faiss(kind: str, n: int, queries: int) -> dict:
    import numpy as np

    from clinrag.retrieval.config import DenseConfig
    from clinrag.retrieval.dense import build_faiss_index, search_range

    rng = np.random.default_rng(0)
    # built in chunks, so that no large temporary sets the peak before the index is even built
    vectors = np.empty((n, 384), dtype=np.float32)
    for first in range(0, n, 10_000):
        chunk = rng.standard_normal((min(10_000, n - first), 384), dtype=np.float32)
        vectors[first : first + len(chunk)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    config = DenseConfig(index=kind)
    base = _current_mb()
    start = time.perf_counter()
    index = build_faiss_index(vectors, config)
    build = time.perf_counter() - start
    latencies, agree = [], 0
    for q in range(queries):
        query = rng.standard_normal(384).astype(np.float32)
        query /= np.linalg.norm(query)
        first = (q * 7 % max(1, n // PER_PATIENT)) * PER_PATIENT
        last = min(n, first + PER_PATIENT)
        t0 = time.perf_counter()
        _, ids = search_range(index, config, query, first, last, 5)
        latencies.append(time.perf_counter() - t0)
        exact = first + np.argsort(-(vectors[first:last] @ query))[:5]
        agree += len(set(ids.tolist()) & set(exact.tolist())) / 5
    latencies.sort()
    return {
        "build_s": build,
        "query_ms": 1000 * latencies[len(latencies) // 2],
        "peak_mb": _rss_mb() - base,
        "recall@5_vs_exact": agree / queries,
    }


def bench_temporal(docs_per_patient: int, repeats: int) -> dict:
    import numpy as np
    import torch

    from clinrag.retrieval.bm25 import BM25Retriever
    from clinrag.retrieval.temporal import TemporalRetriever
    from clinrag.synth import synthetic_variables
    from clinrag.text.passages import Passage, PassageStore

    torch.set_num_threads(2)
    texts = _sentences(8 * docs_per_patient)
    passages = [
        Passage("p0", f"d{i // 8}", 0, len(t), t, "2024-01-01", "u", "", i // 8, float(i // 8))
        for i, t in enumerate(texts)
    ]
    store = PassageStore(passages)
    retriever = TemporalRetriever(variables=synthetic_variables())
    retriever.store = store
    retriever.embeddings = np.random.default_rng(0).standard_normal((len(store), 384)).astype(np.float32)
    retriever.mentions = [[] for _ in passages]
    retriever.bm25 = BM25Retriever()
    retriever.bm25.index(store)
    retriever._cache = {
        "queries:" + "|".join(v.name for v in retriever.variables): np.zeros(
            (len(retriever.variables), 384), np.float32
        )
    }
    retriever._build_model()
    retriever.model.eval()
    with torch.no_grad():  # warm-up: the first call initializes torch's kernels
        retriever.model(**retriever.patient_inputs("p0", retriever.variables))
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            retriever.model(**retriever.patient_inputs("p0", retriever.variables))
        timings.append(time.perf_counter() - t0)
    timings.sort()
    return {"passages": len(store), "score_ms": 1000 * timings[len(timings) // 2]}


def _run(kind: str, method: str, size: int, queries: int) -> dict:
    code = f"import json,sys; sys.path.insert(0, 'scripts'); import bench_retrieval as b; print(json.dumps(b.{kind}({method!r}, {size}, {queries})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| index | passages | build (s) | query p50 (ms) | peak memory (MB) | top-5 agreement with exact |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in sizes:
        for backend in ("bm25s", "rank_bm25"):
            r = _run(
                "bench_bm25", backend, size, args.queries if backend == "bm25s" else min(args.queries, 50)
            )
            print(
                f"| BM25 {backend} | {size:,} | {r['build_s']:.2f} | {r['query_ms']:.2f} | {r['peak_mb']:.0f} | |",
                flush=True,
            )
        for kind in ("flat", "ivf", "hnsw"):
            r = _run("bench_faiss", kind, size, args.queries)
            print(
                f"| faiss {kind} | {size:,} | {r['build_s']:.2f} | {r['query_ms']:.3f} | {r['peak_mb']:.0f} | {r['recall@5_vs_exact']:.3f} |",
                flush=True,
            )
    print()
    print(
        "| temporal retriever: documents per patient | passages | score one patient, 21 variables (ms) | ratio to previous |"
    )
    print("|---:|---:|---:|---:|")
    previous = None
    for docs in (4, 8, 16, 32, 64):
        r = bench_temporal(docs, 9)
        ratio = f"{r['score_ms'] / previous:.2f}" if previous else ""
        print(f"| {docs} | {r['passages']} | {r['score_ms']:.1f} | {ratio} |", flush=True)
        previous = r["score_ms"]


if __name__ == "__main__":
    main()
