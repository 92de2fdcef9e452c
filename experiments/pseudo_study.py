"""Identifier detection, held out: rules, the trained NER model and both, on eds-pseudo and on a synthetic cohort.

* **eds-pseudo** (``../shared/data/eds-pseudo/dev.jsonl``, 800 notes): k-fold cross-validation by note. For each
  fold, a model is trained on the other folds plus the synthetic cohort's train split, and scores the fold's
  notes; the table pools the k folds, so every note is scored by a model that never saw it. The rules were
  written while looking at these 800 notes: their numbers, and so the hybrid's, are development numbers.
* **synthetic test split**: a synthetic cohort (its own generator seed), scored on its test patients, whose
  documents no model and no rule saw. Each patient's documents are read together (names found in one are looked
  for in the others), as ``clinrag pseudonymize`` does. ``evidence_intact`` is the share of gold evidence spans
  (the clinical facts the table is filled from; dates excluded, as they are identifiers shifted with the
  table) that no identifier span touches.

Prints a table and writes ``results.json`` and ``table.md`` to ``--out``.

Usage: .venv/bin/python experiments/pseudo_study.py [--eds-pseudo FILE] [--synth-seed 515] [--folds 4]
       [--epochs 3] [--out runs/pseudo_study]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

from clinrag.data.validate import load_cohort
from clinrag.io import atomic_write_json, atomic_write_text
from clinrag.pseudo.corpora import Note, cohort_notes, evidence_ranges, folds, load_eds_pseudo
from clinrag.pseudo.ner import Example, NerConfig, NerDetector
from clinrag.pseudo.pipeline import (
    HybridDetector,
    ModelDetector,
    PseudoConfig,
    RuleDetector,
    detect_notes,
    evaluate_detection,
)

ROOT = Path(__file__).resolve().parents[1]


def _examples(notes: list[Note]) -> list[Example]:
    return [Example(n.text, n.spans) for n in notes]


def _row(name: str, result: dict) -> dict:
    token = result["token"]["micro"]
    entity = result["entity"]["micro"]
    return {
        "detector": name,
        "redact": result["redact"],
        "redact_full": result["redact_full"],
        "redact_precision": result["redact_precision"],
        "token_f1": token["f1"],
        "entity_p": entity["precision"],
        "entity_r": entity["recall"],
        "entity_f1": entity["f1"],
        "protected_intact": result["protected_intact"]["share"],
        "evidence_intact": (result.get("evidence_intact") or {}).get("share"),
        "per_label_redact": result["redact_per_label"],
    }


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eds-pseudo", type=Path, default=ROOT.parent / "shared/data/eds-pseudo/dev.jsonl")
    parser.add_argument("--synth-seed", type=int, default=515)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--synthetic-train-docs", type=int, default=200, help="synthetic documents per fold")
    parser.add_argument("--limit", type=int, default=None, help="eds-pseudo notes read (all by default)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs/pseudo_study")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cohort_dir = args.out / f"cohort-{args.synth_seed}"
    if not (cohort_dir / "documents.jsonl").exists():
        subprocess.run(
            [sys.executable, "-m", "clinrag", "synth", "--out", str(cohort_dir), "--patients",
             str(args.patients), "--seed", str(args.synth_seed), "--overwrite"],
            check=True,
        )  # fmt: skip
    cohort = load_cohort(cohort_dir)
    synth_train = cohort_notes(cohort, cohort.split_patients("train"))
    synth_test = cohort_notes(cohort, cohort.split_patients("test"))
    eds = load_eds_pseudo(args.eds_pseudo)[: args.limit]
    fold_of = folds(eds, args.folds, seed=0)
    config = NerConfig(epochs=args.epochs)
    rng = random.Random(0)

    pooled: dict[str, list] = {"model": [None] * len(eds), "hybrid": [None] * len(eds)}
    synthetic: dict[str, dict] = {}
    timings = []
    for fold in range(args.folds):
        train = [n for n, f in zip(eds, fold_of, strict=True) if f != fold]
        synth = rng.sample(synth_train, min(args.synthetic_train_docs, len(synth_train)))
        started = time.perf_counter()
        ner = NerDetector.train(_examples(train + synth), config)
        timings.append(time.perf_counter() - started)
        held = [i for i, f in enumerate(fold_of) if f == fold]
        notes = [eds[i] for i in held]
        for name, detector in (
            ("model", ModelDetector(PseudoConfig(), ner)),
            ("hybrid", HybridDetector(PseudoConfig(), ner)),
        ):
            for i, spans in zip(held, detect_notes(detector, notes), strict=True):
                pooled[name][i] = spans
        print(f"fold {fold}: {len(train)} + {len(synth)} training texts, {timings[-1]:.0f} s", flush=True)
        if fold == 0:  # the synthetic test split, read by the first fold's model (it saw no test patient)
            kept = evidence_ranges(cohort, synth_test)
            for name, detector in (
                ("rules", RuleDetector(PseudoConfig())),
                ("model", ModelDetector(PseudoConfig(), ner)),
                ("hybrid", HybridDetector(PseudoConfig(), ner)),
            ):
                synthetic[name] = _row(
                    name, evaluate_detection(synth_test, detect_notes(detector, synth_test), kept)
                )
            ner.save_pretrained(args.out / "model-fold0")

    rules_eds = detect_notes(RuleDetector(PseudoConfig()), eds)
    held_out = {
        "rules (development)": _row("rules", evaluate_detection(eds, rules_eds)),
        "model (cross-validated)": _row("model", evaluate_detection(eds, pooled["model"])),
        "hybrid (rules: development)": _row("hybrid", evaluate_detection(eds, pooled["hybrid"])),
    }
    results = {
        "eds_pseudo": {"notes": len(eds), "folds": args.folds, "rows": held_out},
        "synthetic_test": {
            "seed": args.synth_seed,
            "documents": len(synth_test),
            "identifiers": sum(len(n.spans) for n in synth_test),
            "rows": synthetic,
        },
        "ner": {**config.model_dump(), "train_seconds_per_fold": [round(t) for t in timings]},
    }
    lines = [
        "| data | detector | redact | redact full | redact precision | token F1 | entity F1 | protected intact | evidence intact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for data, rows in (
        ("eds-pseudo dev, 800 notes", held_out),
        (f"synthetic test (seed {args.synth_seed})", synthetic),
    ):
        for name, row in rows.items():
            lines.append(
                f"| {data} | {name} | {_fmt(row['redact'])} | {_fmt(row['redact_full'])} | "
                f"{_fmt(row['redact_precision'])} | {_fmt(row['token_f1'])} | {_fmt(row['entity_f1'])} | "
                f"{_fmt(row['protected_intact'])} | {_fmt(row['evidence_intact'])} |"
            )
    table = "\n".join(lines)
    print(table)
    atomic_write_json(args.out / "results.json", results)
    atomic_write_text(args.out / "table.md", table + "\n")


if __name__ == "__main__":
    main()
