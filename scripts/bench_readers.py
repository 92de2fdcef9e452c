"""Reading speed of trained runs' readers: cells per second of the reading stage alone, on the same cells.

Each run's reader is rebuilt from its folder as ``clinrag fill`` does (config.yaml, models/), the cells' passages
are retrieved first (not timed), then the reader is built (timed apart: loading its model) and reads every cell
of the chosen split (timed: what the run's generations stage does, its first-use setup included, e.g. edsnlp's
annotators). The answers are checked against the run's predictions.csv (the same reader, the same cells).

Usage (under the CPU lock, one run after the other on the same machine):
    flock /tmp/clinrag-cpu.lock .venv/bin/python scripts/bench_readers.py --cohort DIR RUN_DIR [RUN_DIR ...]
        [--patients test] [--threads 2] [--reader-threads 1,2]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path


def bench(run_dir: Path, cohort_dir: Path, patients: str, reader_threads: int | None) -> dict:
    from clinrag.config import RetrievalSettings
    from clinrag.data.validate import load_cohort
    from clinrag.experiment.fill import trained_config
    from clinrag.generation.base import Learned, build_reader
    from clinrag.generation.pipeline import cell_requests, load_learned, retrieving, rows_of
    from clinrag.generation.reader import retrieval_depth
    from clinrag.retrieval.pipeline import prepare_retrieval

    config, columns = trained_config(run_dir)
    reader_config = config.reader
    if reader_threads is not None and "threads" in type(reader_config).model_fields:
        reader_config = reader_config.model_copy(update={"threads": reader_threads})
    cohort = load_cohort(cohort_dir)
    chosen = cohort.select_patients(patients)
    variables = [cohort.variable(name) for name in columns]
    priors = run_dir / "models" / "priors"
    learned = load_learned(priors) if priors.is_dir() else Learned()
    settings = RetrievalSettings(
        chunking=config.chunking, retriever=config.retriever, retrieval=config.retrieval
    )
    store, retriever = prepare_retrieval(settings, cohort)
    k = config.retrieval.k
    depth = retrieval_depth(config.reader, k)
    cells = [(pid, var) for pid in chosen for var in variables]
    requests = cell_requests(cells, store, retrieving(retriever, store, depth), k)
    begun = time.perf_counter()
    reader = build_reader(reader_config)
    reader.attach(cohort, learned)
    loaded = time.perf_counter()
    results = reader.read(requests)
    done = time.perf_counter()
    with (run_dir / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        expected = {row.pop("patient_id"): row for row in csv.DictReader(handle)}
    rows = rows_of(results)
    same = all(rows[pid][var] == expected.get(pid, {}).get(var) for pid in rows for var in rows[pid])
    return {
        "run": run_dir.name,
        "reader": reader_config.type,
        "threads": getattr(reader_config, "threads", None),
        "cells": len(results),
        "load_s": loaded - begun,
        "read_s": done - loaded,
        "tokens": sum(r.tokens for r in results) / max(1, len(results)),
        "same": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (clinrag run)")
    parser.add_argument("--cohort", type=Path, required=True, help="the cohort the runs read")
    parser.add_argument("--patients", default="test", help="the split whose cells are read (default test)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--reader-threads",
        default="",
        help="comma-separated values of reader.threads to try, for readers that have the setting (default: "
        "the run's)",
    )
    args = parser.parse_args()
    import torch

    from clinrag.progress import quiet

    torch.set_num_threads(args.threads)
    tries = [int(t) for t in args.reader_threads.split(",") if t] or [None]
    print(f"torch threads {args.threads}; cells of the {args.patients} split\n")
    print(
        "| run | reader | reader.threads | cells | load (s) | read (s) | cells/s | tokens per cell | as the run |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    with quiet():
        for run_dir in args.runs:
            for threads in tries:
                r = bench(run_dir, args.cohort, args.patients, threads)
                print(
                    f"| {r['run']} | {r['reader']} | {r['threads'] if r['threads'] is not None else '—'} "
                    f"| {r['cells']} | {r['load_s']:.1f} | {r['read_s']:.1f} | {r['cells'] / r['read_s']:.1f} "
                    f"| {r['tokens']:.0f} | {'yes' if r['same'] else 'NO'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
