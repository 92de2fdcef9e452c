"""Generation study: zero-shot SmolLM2, LoRA-tuned SmolLM2 with retrieval, and the full-record baseline.

Train on the train split (temporal retriever and LoRA adapters from table values only), score on the test split:
accuracy with 95% bootstrap intervals over patients, prompt tokens read per cell, seconds per cell (2 CPU cores).
Each reader's results are written as soon as they exist (``--out``/study.json), so a long run can be followed.

Usage: .venv/bin/python experiments/generation_study.py [--patients 100] [--seed 4242] [--k 3]
       [--max-passage-chars 160] [--max-pairs N] [--epochs N] [--lr X] [--last-layers N] (default: the library's LoraConfig)
       [--readers majority,zero_shot,lora,full_record] [--out runs/generation_study]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clinrag.baselines import MajorityBaseline
from clinrag.data.validate import load_cohort
from clinrag.evaluation import BootstrapSpec, evaluate_table
from clinrag.generation.config import LoraConfig, ReaderConfig
from clinrag.generation.lora import train_lora, training_pairs
from clinrag.generation.pipeline import build_reader, fill_cells, rows_of, write_predictions
from clinrag.io import atomic_write_json
from clinrag.retrieval.config import TemporalConfig
from clinrag.retrieval.temporal import TemporalRetriever
from clinrag.synth import write_synthetic_cohort
from clinrag.text.passages import build_passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=4242)
    # LoRA settings default to the library's (clinrag.generation.config.LoraConfig)
    parser.add_argument("--max-pairs", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--last-layers", type=int)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max-passage-chars", type=int, default=ReaderConfig().max_passage_chars)
    parser.add_argument("--readers", default="majority,zero_shot,lora,full_record")
    parser.add_argument("--out", type=Path, default=Path("runs/generation_study"))
    args = parser.parse_args()
    readers = args.readers.split(",")
    out = args.out
    cohort_dir = out / "cohort"
    if not (cohort_dir / "documents.jsonl").exists():
        write_synthetic_cohort(cohort_dir, args.patients, seed=args.seed, overwrite=True)
    cohort = load_cohort(cohort_dir)
    columns = cohort.table_columns
    variables = [cohort.variable(n) for n in columns]
    test = cohort.split_patients("test")
    store = build_passages(cohort)
    retriever = TemporalRetriever(TemporalConfig(), variables=variables)
    retriever.index(store)
    retriever.fit(cohort)
    study: dict = {
        "patients": args.patients,
        "seed": args.seed,
        "test_patients": len(test),
        "k": args.k,
        "readers": {},
    }
    spec = BootstrapSpec(1000)

    def record(
        name: str, metrics: dict, results=None, seconds: float | None = None, extra: dict | None = None
    ) -> None:
        entry = {
            "accuracy": metrics["overall"]["accuracy"],
            "accuracy_ci": metrics["overall"]["accuracy_ci"],
            "metrics": metrics,
        }
        if results is not None:
            entry["tokens_per_cell"] = sum(r.tokens for r in results) / len(results)
            entry["seconds_per_cell"] = (
                seconds if seconds is not None else sum(r.seconds for r in results)
            ) / len(results)
            entry["failed"] = sum(1 for r in results if r.failed)
        entry.update(extra or {})
        study["readers"][name] = entry
        atomic_write_json(out / "study.json", study)
        print(f"{name}: accuracy {entry['accuracy']:.3f} {entry['accuracy_ci']}", flush=True)

    if "majority" in readers:
        predictions = MajorityBaseline().fit(cohort).predict(test)
        record("majority", evaluate_table(cohort, predictions, "test", spec))
    lora_overrides = {
        "max_pairs": args.max_pairs,
        "epochs": args.epochs,
        "lr": args.lr,
        "last_layers": args.last_layers,
    }
    lora = LoraConfig(**{k: v for k, v in lora_overrides.items() if v is not None})
    base_config = ReaderConfig(max_passages=args.k, max_passage_chars=args.max_passage_chars, lora=lora)
    study["reader"] = base_config.model_dump(exclude={"prompt"})
    if "zero_shot" in readers:
        reader = build_reader(base_config)
        start = time.perf_counter()
        results = fill_cells(cohort, test, variables, reader, store, retriever, args.k, progress=True)
        elapsed = time.perf_counter() - start
        write_predictions(out / "zero_shot", cohort, results, columns)
        record("zero_shot_rag", evaluate_table(cohort, rows_of(results), "test", spec), results, elapsed)
    if "lora" in readers:
        reader = build_reader(base_config)
        pairs = training_pairs(cohort, store, retriever, cohort.split_patients("train"), args.k, variables)
        start = time.perf_counter()
        history = train_lora(reader, pairs, base_config.lora, out / "adapter")
        training_s = time.perf_counter() - start
        start = time.perf_counter()
        results = fill_cells(cohort, test, variables, reader, store, retriever, args.k, progress=True)
        elapsed = time.perf_counter() - start
        write_predictions(out / "lora", cohort, results, columns)
        record(
            "lora_rag",
            evaluate_table(cohort, rows_of(results), "test", spec),
            results,
            elapsed,
            {
                "training_s": training_s,
                "history": history,
                "pairs": min(len(pairs), lora.max_pairs or len(pairs)),
            },
        )
    if "full_record" in readers:
        reader = build_reader(base_config.model_copy(update={"type": "full_record"}))
        start = time.perf_counter()
        results = fill_cells(cohort, test, variables, reader, progress=True)
        elapsed = time.perf_counter() - start
        write_predictions(out / "full_record", cohort, results, columns)
        record("full_record", evaluate_table(cohort, rows_of(results), "test", spec), results, elapsed)
    print(f"\n{len(test)} test patients, {len(test) * len(variables)} cells; seed {args.seed}\n")
    print("| reader | accuracy [95% CI] | prompt tokens per cell | seconds per cell | training (s) |")
    print("|---|---|---:|---:|---:|")
    for name, entry in study["readers"].items():
        low, high = entry["accuracy_ci"]
        tokens = f"{entry['tokens_per_cell']:.0f}" if "tokens_per_cell" in entry else ""
        seconds = f"{entry['seconds_per_cell']:.2f}" if "seconds_per_cell" in entry else ""
        training = f"{entry['training_s']:.0f}" if "training_s" in entry else ""
        print(
            f"| {name} | {entry['accuracy']:.3f} [{low:.3f}, {high:.3f}] | {tokens} | {seconds} | {training} |"
        )


if __name__ == "__main__":
    main()
