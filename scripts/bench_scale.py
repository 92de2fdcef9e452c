"""Scale benchmark: 1k, 10k and 100k synthetic patients through generation, chunking, indexing, retrieval and
reading; each stage's time and peak memory, so that the growth of the cost is a measured curve.

Stages, for each size (number of patients):

* ``synth``: ``clinrag synth`` (``write_synthetic_cohort``: generate, then write the cohort folder).
* ``chunk``: ``build_passages`` (edsnlp sentences and sections, clinrag's default chunking), measured up to
  ``--chunk-max`` patients. Above it the corpus is the largest chunked one replicated with new patient and document
  ids (patient i is a copy of patient i mod M; every text string copied, so memory is that of distinct passages),
  and the chunking time is extrapolated from the passages/s measured at the largest chunked size.
* ``encode``: the dense retriever's encoder (all-MiniLM-L6-v2, 384-d) over the ``--sample`` set's passages,
  measured; at other sizes extrapolated as passages / the measured passages per second.
* ``bm25s index``, ``bm25s retrieve``: clinrag's BM25Retriever (bm25s backend: French tokens, stemmed), then the
  top-5 of every (patient, variable) cell, 21 variables.
* ``faiss flat|ivf|hnsw build``, ``... search``: ``clinrag.retrieval.dense.build_faiss_index`` and
  ``search_range`` (DenseConfig defaults: nlist 64, nprobe 8, HNSW M 32, efSearch 128). Vectors: the sample set's
  real MiniLM embeddings, tiled to the size's passage count, every copy after the first jittered (Gaussian,
  sigma ``--jitter`` per dimension, then renormalized) so that no two vectors are equal. Search: the
  patient-restricted top-5 (how clinrag searches) of 2,100 cells (100 patients spread over the corpus x 21
  variables' query embeddings), projected to every cell. An HNSW build that passes ``--budget`` seconds is
  stopped, and its full time extrapolated from the vectors added (a lower bound: insertion slows as the graph
  grows).

Also: recall of IVF and HNSW against the exact index at k = 5 and 10 on the sample set's real embeddings (within
each patient's passages, as clinrag searches, and over the whole corpus), and the reader's throughput per worker
process (the ``llm`` reader on the embedded SmolLM2-135M-Instruct, float32, every cell through the decoder as in
scripts/bench_generation.py, a fixed number of cells; W workers started together, ``2 / W`` torch threads each).

Each stage runs in a fresh process (the driver imports no library); once the stage's inputs are loaded, the
process's peak resident set is reset (``/proc/self/clear_refs``), so "peak" is the resident memory high-water
mark during the stage alone (inputs that stay resident included) and "added" is peak minus the resident memory
at the stage's start. Growth: the table gives the time ratio between consecutive sizes and the log-log slope of
time (and of the memory added) against passages over the measured sizes: 1 is linear.

Results accumulate in ``WORK/results.jsonl``: a command measures only what is missing there, then prints every
table, so sizes can be measured by separate commands (each under the CPU lock) and reported together.

Usage: flock /tmp/clinrag-cpu.lock .venv/bin/python scripts/bench_scale.py --work DIR [--sizes 1000,10000,100000]
       [--chunk-max 10000] [--sample 1000] [--workers 1,2] [--cells 42] [--budget 480]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import _current_mb  # noqa: E402  (the scripts folder is not a package)

SEED = 7
SEARCHED_PATIENTS = 100
FAISS_KINDS = ("flat", "ivf", "hnsw")
HNSW_SLICE = 50_000
"""Vectors added to an HNSW graph between two looks at the time budget."""


# ---- memory ---------------------------------------------------------------------------------------------------
def _high_water_mb() -> float:
    """Peak resident memory of this process since start or the last :func:`_reset_peak` (MB)."""
    with open("/proc/self/status") as handle:
        return int(re.search(r"VmHWM:\s+(\d+)", handle.read()).group(1)) / 1024


def _reset_peak() -> None:
    """Reset this process's resident high-water mark to its resident memory now (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


@contextmanager
def measured(rows: list[dict], stage: str, patients: int, passages: int, **extra):
    """Time the block and its peak memory into a row of ``rows``."""
    _reset_peak()
    start_mb = _current_mb()
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    peak = _high_water_mb()
    rows.append(
        {
            "stage": stage,
            "patients": patients,
            "passages": passages,
            "seconds": seconds,
            "peak_mb": peak,
            "added_mb": peak - start_mb,
            "load": os.getloadavg()[0],
            "how": "measured",
            **extra,
        }
    )


# ---- corpora --------------------------------------------------------------------------------------------------
def _store_file(work: Path, patients: int) -> Path:
    return work / f"passages_{patients}.jsonl"


def chunked_sizes(work: Path) -> list[int]:
    """The sizes whose passages were chunked for real (saved by the chunk stage)."""
    return sorted(int(p.stem.split("_")[1]) for p in work.glob("passages_*.jsonl"))


def replicate(passages: list, source_patients: list[str], patients: int) -> list:
    """``patients`` patients' passages from a chunked corpus: patient i is a copy of source patient i mod M,
    with new patient and document ids and every text string copied (so memory is that of distinct passages)."""
    import dataclasses

    by_patient: dict[str, list] = {}
    for passage in passages:
        by_patient.setdefault(passage.patient_id, []).append(passage)
    out = []
    for index in range(patients):
        copy = index // len(source_patients)
        for p in by_patient[source_patients[index % len(source_patients)]]:
            if copy == 0:
                out.append(p)
                continue
            out.append(
                dataclasses.replace(
                    p,
                    patient_id=f"{p.patient_id}~{copy}",
                    doc_id=f"{p.doc_id}~{copy}",
                    text=(p.text + " ")[:-1],
                )
            )
    return out


def corpus(work: Path, patients: int):
    """The passage store of ``patients`` patients: chunked, or replicated from the largest chunked corpus."""
    from clinrag.text.passages import PassageStore

    if _store_file(work, patients).exists():
        return PassageStore.load(_store_file(work, patients)), "chunked"
    source = max(chunked_sizes(work))
    store = PassageStore.load(_store_file(work, source))
    return PassageStore(
        replicate(store.passages, list(store.ranges), patients)
    ), f"replicated from {source:,}"


def passage_counts(work: Path, patients: int):
    """Passages per patient, in store order (cyclic copies of the largest chunked corpus above it)."""
    import numpy as np

    own = work / f"counts_{patients}.npy"
    if own.exists():
        return np.load(own)
    return np.resize(np.load(work / f"counts_{max(chunked_sizes(work))}.npy"), patients)


def tiled_vectors(work: Path, total: int, jitter: float):
    """``total`` unit vectors: the sample's real embeddings, repeated, every copy after the first jittered."""
    import numpy as np

    real = np.load(work / "embeddings.npy")
    rng = np.random.default_rng(0)
    vectors = np.empty((total, real.shape[1]), dtype=np.float32)
    for first in range(0, total, len(real)):
        last = min(total, first + len(real))
        block = real[: last - first]
        if first:
            block = block + rng.standard_normal(block.shape, dtype=np.float32) * jitter
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[first:last] = block
    return vectors


# ---- stages (each in its own process) ---------------------------------------------------------------------------
def job_synth(spec: dict) -> list[dict]:
    import tempfile

    from clinrag.synth import write_synthetic_cohort

    rows: list[dict] = []
    folder = Path(tempfile.mkdtemp(dir=spec["work"])) / "cohort"
    try:
        with measured(rows, "synth", spec["size"], 0):
            cohort = write_synthetic_cohort(folder, spec["size"], seed=SEED)
        rows[-1]["documents"] = len(cohort.documents)
        rows[-1]["mb_written"] = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
    finally:
        shutil.rmtree(folder.parent)
    return rows


def job_chunk(spec: dict) -> list[dict]:
    import numpy as np

    from clinrag.synth import synthesize_cohort
    from clinrag.text.passages import build_passages

    rows: list[dict] = []
    cohort = synthesize_cohort(spec["size"], seed=SEED)
    with measured(rows, "chunk", spec["size"], 0, documents=len(cohort.documents)):
        store = build_passages(cohort, progress=False)
    rows[-1]["passages"] = len(store)
    work = Path(spec["work"])
    store.save(_store_file(work, spec["size"]))
    np.save(work / f"counts_{spec['size']}.npy", np.array([e - s for s, e in store.ranges.values()]))
    return rows


def job_encode(spec: dict) -> list[dict]:
    import numpy as np
    import torch

    from clinrag.retrieval.base import build_query
    from clinrag.retrieval.config import DenseConfig
    from clinrag.retrieval.encoders import encode_texts, load_sentence_encoder
    from clinrag.synth import synthetic_variables

    torch.set_num_threads(spec["threads"])
    work = Path(spec["work"])
    store, _ = corpus(work, spec["size"])
    config = DenseConfig()
    encoder = load_sentence_encoder(config.model, "cpu", config.max_length)
    texts = store.texts
    rows: list[dict] = []
    encode_texts(
        encoder, texts[: config.batch_size], config.batch_size, cache=False, role="passage"
    )  # warm-up
    with measured(rows, "encode", spec["size"], len(store), model="all-MiniLM-L6-v2"):
        vectors = encode_texts(encoder, texts, config.batch_size, cache=False, role="passage")
    queries = encode_texts(
        encoder, [build_query(v) for v in synthetic_variables()], cache=False, role="query"
    )
    np.save(work / "embeddings.npy", vectors)
    np.save(work / "queries.npy", queries)
    return rows


def job_bm25(spec: dict) -> list[dict]:
    from clinrag.retrieval.base import retrieve
    from clinrag.retrieval.bm25 import BM25Retriever
    from clinrag.synth import synthetic_variables

    store, how = corpus(Path(spec["work"]), spec["size"])
    variables = synthetic_variables()
    rows: list[dict] = []
    size, n = spec["size"], len(store)
    with measured(rows, "bm25s index", size, n, corpus=how):
        retriever = BM25Retriever()
        retriever.index(store)
    with measured(rows, "bm25s retrieve", size, n, corpus=how, cells=size * len(variables)):
        for var in variables:
            for pid in store.ranges:
                retrieve(retriever, store, pid, var, 5)
    return rows


def job_faiss(spec: dict) -> list[dict]:
    import faiss
    import numpy as np

    from clinrag.retrieval.config import DenseConfig
    from clinrag.retrieval.dense import build_faiss_index, search_range

    faiss.omp_set_num_threads(spec["threads"])
    work, size, kind = Path(spec["work"]), spec["size"], spec["kind"]
    counts = passage_counts(work, size)
    ends = np.cumsum(counts)
    total = int(ends[-1])
    vectors = tiled_vectors(work, total, spec["jitter"])
    queries = np.load(work / "queries.npy")
    config = DenseConfig(index=kind)
    rows: list[dict] = []
    added = total
    with measured(rows, f"faiss {kind} build", size, total):
        if kind == "hnsw":  # added in slices, so that a build past the budget can stop
            index = build_faiss_index(vectors[:0], config)
            added, started = 0, time.perf_counter()
            while added < total and (not added or time.perf_counter() - started < spec["budget"]):
                index.add(vectors[added : added + HNSW_SLICE])
                added = min(total, added + HNSW_SLICE)
        else:
            index = build_faiss_index(vectors, config)
    if added < total:
        rows[-1].update(
            how="stopped",
            measured_seconds=rows[-1]["seconds"],
            vectors_added=added,
            seconds=rows[-1]["seconds"] * total / added,
        )
    searchable = int(np.searchsorted(ends, added, side="right"))  # patients whose passages are all indexed
    chosen = np.linspace(0, searchable - 1, min(SEARCHED_PATIENTS, searchable)).astype(int)
    cells = size * len(queries)
    latencies = []
    with measured(rows, f"faiss {kind} search", size, total, cells=cells):
        for patient in chosen:
            first, last = int(ends[patient] - counts[patient]), int(ends[patient])
            for query in queries:
                started = time.perf_counter()
                search_range(index, config, query, first, last, 5)
                latencies.append(time.perf_counter() - started)
    rows[-1].update(
        how="projected",
        measured_seconds=rows[-1]["seconds"],
        searches=len(latencies),
        seconds=cells * float(np.mean(latencies)),
        ms_per_search=1000 * float(np.mean(latencies)),
    )
    if added < total:
        rows[-1]["note"] = f"on the {added:,} vectors added before the build stopped"
    return rows


def overlap(exact: tuple, approx: tuple) -> tuple[int, int, int]:
    """How many of the exact top-k an approximate top-k found, from the two searches' ``(scores, ids)`` (ids -1:
    none): ``(same passages, passages scoring at least the exact k-th score, k or fewer when the range is
    smaller)``. The second counts ties as found: identical passages (a sentence written the same way twice) have
    equal scores, and either is an exact answer."""
    exact_scores, exact_ids = (x[exact[1] >= 0] for x in exact)
    approx_scores, approx_ids = (x[approx[1] >= 0] for x in approx)
    if not len(exact_ids):
        return 0, 0, 0
    same = len(set(exact_ids.tolist()) & set(approx_ids.tolist()))
    tied = min(len(exact_ids), int((approx_scores >= exact_scores[-1] - 1e-5).sum()))
    return same, tied, len(exact_ids)


def job_recall(spec: dict) -> list[dict]:
    import faiss
    import numpy as np

    from clinrag.retrieval.config import DenseConfig
    from clinrag.retrieval.dense import build_faiss_index, search_range

    faiss.omp_set_num_threads(spec["threads"])
    work = Path(spec["work"])
    vectors, queries = np.load(work / "embeddings.npy"), np.load(work / "queries.npy")
    counts = passage_counts(work, spec["size"])
    ends = np.cumsum(counts)
    configs = {kind: DenseConfig(index=kind) for kind in FAISS_KINDS}
    indexes = {kind: build_faiss_index(vectors, config) for kind, config in configs.items()}
    rows = []
    for kind in ("ivf", "hnsw"):
        for k in (5, 10):
            within = np.zeros(3)
            for end, count in zip(ends, counts, strict=True):
                first, last = int(end - count), int(end)
                for query in queries:
                    exact = search_range(indexes["flat"], configs["flat"], query, first, last, k)
                    approx = search_range(indexes[kind], configs[kind], query, first, last, k)
                    within += overlap(exact, approx)
            wide = np.zeros(3)
            exact, approx = indexes["flat"].search(queries, k), indexes[kind].search(queries, k)
            for row in range(len(queries)):
                wide += overlap((exact[0][row], exact[1][row]), (approx[0][row], approx[1][row]))
            rows.append(
                {
                    "stage": "recall",
                    "index": kind,
                    "k": k,
                    "patients": spec["size"],
                    "passages": len(vectors),
                    "within_patient": within[1] / within[2],
                    "within_patient_same_ids": within[0] / within[2],
                    "within_searches": len(ends) * len(queries),
                    "cohort_wide": wide[1] / wide[2],
                    "cohort_wide_same_ids": wide[0] / wide[2],
                    "cohort_searches": len(queries),
                }
            )
    return rows


def job_read(spec: dict) -> list[dict]:
    import torch

    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.reader import CellRequest, LLMReader
    from clinrag.retrieval.base import retrieve
    from clinrag.retrieval.bm25 import BM25Retriever
    from clinrag.synth import synthetic_variables

    torch.set_num_threads(spec["threads"])
    work = Path(spec["work"])
    store, _ = corpus(work, spec["size"])
    bm25 = BM25Retriever()
    bm25.index(store)
    variables = synthetic_variables()
    patients = list(store.ranges)

    def cells(chosen: list[str], count: int) -> list[CellRequest]:
        requests = []
        for pid in chosen:
            for var in variables:
                hits = retrieve(bm25, store, pid, var, 3)
                requests.append(CellRequest(pid, var, [store.passages[h.index] for h in hits]))
        return requests[:count]

    requests = cells(patients[: -(-spec["cells"] // len(variables))], spec["cells"])
    reader = LLMReader(ReaderConfig())  # no model learned from a table: every cell goes to the decoder
    # warm-up on another patient, one cell of each variable: kernels, each variable's annotator, the grammars
    reader.read(cells(patients[-1:], len(variables)))
    barrier = work / f"ready_{spec['run']}"
    barrier.mkdir(exist_ok=True)
    (barrier / str(spec["worker"])).touch()
    while len(list(barrier.iterdir())) < spec["workers"]:  # every worker starts reading at once
        time.sleep(0.05)
    rows: list[dict] = []
    with measured(rows, "read", spec["size"], len(store), workers=spec["workers"], threads=spec["threads"]):
        results = reader.read(requests)
    rows[-1].update(cells=len(results), failed=sum(r.failed is not None for r in results))
    return rows


JOBS = {
    "synth": job_synth,
    "chunk": job_chunk,
    "encode": job_encode,
    "bm25": job_bm25,
    "faiss": job_faiss,
    "recall": job_recall,
    "read": job_read,
}


# ---- driver ------------------------------------------------------------------------------------------------------
def _launch(spec: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--job", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _collect(proc: subprocess.Popen, spec: dict) -> list[dict]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"stage {spec['job']} ({spec.get('size')} patients) failed:\n{err[-3000:]}")
    rows = json.loads(out.strip().splitlines()[-1])
    for row in rows:
        row["job"] = _key(spec)
    return rows


def _key(spec: dict) -> str:
    return "/".join(str(spec[k]) for k in ("job", "size", "kind", "workers") if k in spec)


def plan(sizes: list[int], sample: int, chunk_max: int, workers: list[int], base: dict) -> list[list[dict]]:
    """The jobs to run, in order; each entry is a group of jobs run at the same time (the reading workers)."""
    steps: list[list[dict]] = [[{**base, "job": "synth", "size": n}] for n in sizes]
    steps += [[{**base, "job": "chunk", "size": n}] for n in sorted({sample, *sizes}) if n <= chunk_max]
    steps += [[{**base, "job": "encode", "size": sample}], [{**base, "job": "recall", "size": sample}]]
    steps += [[{**base, "job": "bm25", "size": n}] for n in sizes]
    steps += [[{**base, "job": "faiss", "size": n, "kind": kind}] for n in sizes for kind in FAISS_KINDS]
    for w in workers:
        run = f"{w}-{time.time_ns()}"  # one barrier per group of workers
        steps.append(
            [
                {
                    **base,
                    "job": "read",
                    "size": sample,
                    "workers": w,
                    "worker": i,
                    "threads": max(1, base["threads"] // w),
                    "run": run,
                }
                for i in range(w)
            ]
        )
    return steps


def run_missing(steps: list[list[dict]], results: Path) -> None:
    done = (
        {json.loads(line)["job"] for line in results.read_text().splitlines()} if results.exists() else set()
    )
    for group in steps:
        if _key(group[0]) in done:
            continue
        print(f"# {_key(group[0])} ...", file=sys.stderr, flush=True)
        procs = [(_launch(spec), spec) for spec in group]
        rows = [row for proc, spec in procs for row in _collect(proc, spec)]
        if "run" in group[0]:
            shutil.rmtree(Path(group[0]["work"]) / f"ready_{group[0]['run']}", ignore_errors=True)
        with results.open("a") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y against log x (1: y grows linearly with x); None with fewer than two points
    or a non-positive y."""
    if len(xs) < 2 or min(ys) <= 0:
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def extrapolated(rows: list[dict], sizes: list[int]) -> list[dict]:
    """Chunking and encoding rows for sizes where they were not measured: passages / the measured rate."""
    passages = {r["patients"]: r["passages"] for r in rows if r["stage"].startswith("bm25s")}
    out = []
    for stage in ("chunk", "encode"):
        done = [r for r in rows if r["stage"] == stage]
        if not done:
            continue
        ref = max(done, key=lambda r: r["patients"])
        for n in sizes:
            if n not in {r["patients"] for r in done} and n in passages:
                out.append(
                    {
                        "stage": stage,
                        "patients": n,
                        "passages": passages[n],
                        "how": "extrapolated",
                        "seconds": passages[n] * ref["seconds"] / ref["passages"],
                        "note": f"passages / {ref['passages'] / ref['seconds']:,.0f} per s measured at {ref['patients']:,}",
                    }
                )
    return out


def _seconds(value: float) -> str:
    """Seconds with three significant figures below 100, whole seconds above."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def report(rows: list[dict], sizes: list[int]) -> None:
    order = ["synth", "chunk", "encode", "bm25s index", "bm25s retrieve"]
    order += [f"faiss {k} {s}" for k in FAISS_KINDS for s in ("build", "search")]
    staged = [r for r in rows if r["stage"] in order and r["patients"] in sizes] + extrapolated(rows, sizes)
    print(
        "| stage | patients | passages | time (s) | time vs previous size | peak RSS (MB) | added by stage (MB) "
        "| load (1 min) | how |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for stage in order:
        previous = None
        for r in sorted((r for r in staged if r["stage"] == stage), key=lambda r: r["patients"]):
            ratio = f"x{r['seconds'] / previous:.1f}" if previous else ""
            how = r["how"]
            if how == "stopped":
                how = f"stopped after {r['measured_seconds']:.0f} s at {r['vectors_added']:,} vectors; total extrapolated"
            elif how == "projected":
                how = f"projected: {r['searches']:,} searches, {r['ms_per_search']:.3f} ms each, x {r['cells']:,} cells"
            elif r.get("cells"):
                how += f", {r['cells']:,} cells"
            elif r.get("mb_written"):
                how += f", {r['documents']:,} documents, {r['mb_written']:,.0f} MB written"
            how += f"; {r['note']}" if r.get("note") else ""
            how += f"; corpus {r['corpus']}" if r.get("corpus", "chunked") != "chunked" else ""
            peak = f"{r['peak_mb']:,.0f}" if "peak_mb" in r else ""
            added = f"{r['added_mb']:,.0f}" if "added_mb" in r else ""
            load = f"{r['load']:.1f}" if "load" in r else ""
            passages = f"{r['passages']:,}" if r["passages"] else ""
            print(
                f"| {stage} | {r['patients']:,} | {passages} | {_seconds(r['seconds'])} | {ratio} | {peak} | {added} "
                f"| {load} | {how} |"
            )
            previous = r["seconds"]
    print(
        "\nGrowth: log-log slope of time and of the memory a stage added against passages (documents for synth),"
        " over the sizes where the stage was measured (searches: projected from measured latencies); 1 = linear.\n"
    )
    print(
        "| stage | sizes | time slope | added-memory slope | ms per 1,000 passages (documents) at each size |"
    )
    print("|---|---|---:|---:|---|")
    for stage in order:
        done = sorted(
            (r for r in staged if r["stage"] == stage and r["how"] in ("measured", "projected")),
            key=lambda r: r["patients"],
        )
        if len(done) < 2:
            continue
        xs = [r["passages"] or r.get("documents", 0) for r in done]
        time_slope = slope(xs, [r["seconds"] for r in done])
        mem_slope = (
            slope(xs, [r["added_mb"] for r in done]) if min(r["added_mb"] for r in done) >= 1 else None
        )
        per = ", ".join(f"{1e6 * r['seconds'] / x:.2f}" for r, x in zip(done, xs, strict=True))
        measured_sizes = ", ".join(f"{r['patients']:,}" for r in done)
        memory = "" if mem_slope is None else f"{mem_slope:.2f}"
        print(f"| {stage} | {measured_sizes} | {time_slope:.2f} | {memory} | {per} |")
    recall = [r for r in rows if r["stage"] == "recall"]
    if recall:
        print(
            "\nRecall against the exact index (flat) on the sample's real embeddings (found: scoring at least the"
            " exact k-th score, ties included; same passages: the exact top-k's own ids):\n"
        )
        print(
            "| index | k | within each patient's passages (clinrag's search) | same passages | searches "
            "| over the whole corpus | same passages | searches |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in recall:
            print(
                f"| {r['index']} | {r['k']} | {r['within_patient']:.3f} | {r['within_patient_same_ids']:.3f} "
                f"| {r['within_searches']:,} | {r['cohort_wide']:.3f} | {r['cohort_wide_same_ids']:.3f} "
                f"| {r['cohort_searches']} |"
            )
    reads = [r for r in rows if r["stage"] == "read"]
    if reads:
        cells_per_patient = 21
        head = " | ".join(f"all cells, {n:,} patients (h)" for n in sizes)
        print("\nReading (embedded decoder, every cell through it), workers started together:\n")
        print(
            f"| workers | torch threads each | cells per worker | cells/s per worker | cells/s in all | peak RSS per worker (MB) | {head} |"
        )
        print("|---:|---:|---:|---:|---:|---:|" + "---:|" * len(sizes))
        for w in sorted({r["workers"] for r in reads}):
            group = [r for r in reads if r["workers"] == w]
            rates = [r["cells"] / r["seconds"] for r in group]
            total = sum(rates)
            hours = " | ".join(f"{n * cells_per_patient / total / 3600:,.1f}" for n in sizes)
            print(
                f"| {w} | {group[0]['threads']} | {group[0]['cells']} | {total / w:.2f} | {total:.2f} | "
                f"{max(r['peak_mb'] for r in group):,.0f} | {hours} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work", type=Path, required=False, help="folder for corpora and results.jsonl (kept)"
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="patients, comma-separated")
    parser.add_argument(
        "--sample", type=int, default=1000, help="patients encoded for real, for recall and reading"
    )
    parser.add_argument("--chunk-max", type=int, default=10000, help="largest size chunked for real")
    parser.add_argument("--workers", default="1,2", help="reading worker counts, comma-separated")
    parser.add_argument("--cells", type=int, default=42, help="cells each reading worker reads")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch, faiss)")
    parser.add_argument("--budget", type=float, default=480, help="seconds after which an HNSW build stops")
    parser.add_argument("--jitter", type=float, default=0.01, help="noise per dimension of the tiled copies")
    parser.add_argument("--report", action="store_true", help="print the tables of WORK/results.jsonl only")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:  # a stage, in its own process
        from clinrag.progress import quiet

        spec = json.loads(args.job)
        with quiet():
            rows = JOBS[spec["job"]](spec)
        print(json.dumps(rows))
        return
    if args.work is None:
        parser.error("--work DIR is required")
    try:
        sizes = sorted(int(s) for s in args.sizes.split(","))
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error("--sizes and --workers take comma-separated integers")
    if min(sizes) < 1 or min(workers) < 1 or args.sample < 1:
        parser.error("--sizes, --workers and --sample must be positive")
    if not Path("/proc/self/clear_refs").exists():
        parser.error("this benchmark reads peak memory from Linux's /proc (clear_refs, VmHWM)")
    args.work.mkdir(parents=True, exist_ok=True)
    results = args.work / "results.jsonl"
    if not args.report:
        base = {
            "work": str(args.work.resolve()),
            "threads": args.threads,
            "budget": args.budget,
            "jitter": args.jitter,
            "cells": args.cells,
        }
        run_missing(plan(sizes, args.sample, args.chunk_max, workers, base), results)
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    print(f"{os.cpu_count()} CPUs, {args.threads} threads; sample {args.sample:,} patients; seed {SEED}\n")
    report(rows, sizes)


if __name__ == "__main__":
    main()
