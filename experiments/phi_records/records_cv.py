"""Does the identifier model generalise better to free text when it also learns from the hand-written records?

Leave-one-round-out over the development rounds of ``experiments/data/phi_records`` (round 1 = dev + test, round
2 = test2, round 3 = test3, round 4 = test4): for each round, a model is trained exactly as the default one
(:class:`~clinrag.pseudo.ner.NerConfig`'s settings, eds-pseudo's notes and the synthetic cohort of
:func:`clinrag.pseudo.default_model.training_data`) plus the records of the *other* rounds, and scores the held-out
round, model alone and hybrid. The baseline is the same without any record (one model, trained once). The model's
numbers are held out (it never saw the round); the hybrid's rules were written reading every round's errors, so
the hybrid rows are development numbers. Held-out sets (test5 and later) are never read here.

Aggregate numbers only. Usage:
    .venv/bin/python experiments/phi_records/records_cv.py [--eds-pseudo FILE] [--baseline MODEL] [--out DIR]
(``--baseline``: the default model prepared at setup, trained on the same data without records.)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clinrag.io import atomic_write_json
from clinrag.pseudo.corpora import Note, load_eds_pseudo
from clinrag.pseudo.default_model import training_data
from clinrag.pseudo.ner import Example, NerConfig, NerDetector
from clinrag.pseudo.pipeline import (
    HybridDetector,
    ModelDetector,
    PseudoConfig,
    detect_notes,
    evaluate_detection,
)

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "experiments/data/phi_records"
#: The development rounds and their files (round 1 was split in two halves before any measurement).
ROUNDS: dict[str, tuple[str, ...]] = {
    "round 1": ("dev", "test"),
    "round 2": ("test2",),
    "round 3": ("test3",),
    "round 4": ("test4",),
}


def _score(ner: NerDetector, notes: list[Note]) -> dict[str, float]:
    row = {}
    for name, kind in (("model", ModelDetector), ("hybrid", HybridDetector)):
        result = evaluate_detection(notes, detect_notes(kind(PseudoConfig(), ner), notes))
        row[name] = round(result["redact"], 3)
        row[f"{name}_precision"] = round(result["redact_precision"], 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eds-pseudo", type=Path, default=ROOT.parent / "shared/data/eds-pseudo/dev.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "runs/records_cv")
    parser.add_argument(
        "--baseline", type=Path, default=None, help="a model trained without records (default: trained here)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = NerConfig()
    base, _ = training_data([args.eds_pseudo])
    rounds = {
        name: [n for f in files for n in load_eds_pseudo(RECORDS / f"{f}.jsonl")]
        for name, files in ROUNDS.items()
    }
    started = time.perf_counter()
    baseline = (
        NerDetector.load(args.baseline)
        if args.baseline
        else NerDetector.train(Example.of_notes(base), config)
    )
    seconds = {"without records": round(time.perf_counter() - started, 1)}
    rows = {}
    for name, held in rounds.items():
        others = [n for other, notes in rounds.items() if other != name for n in notes]
        started = time.perf_counter()
        ner = NerDetector.train(Example.of_notes(base + others), config)
        seconds[name] = round(time.perf_counter() - started, 1)
        rows[name] = {"documents": len(held), "without": _score(baseline, held), "with": _score(ner, held)}
        print(f"{name}: {rows[name]}", flush=True)
    print(
        "| held-out round | documents | model without / with records | hybrid without / with (development) |"
    )
    print("|---|---:|---|---|")
    for name, row in rows.items():
        w, r = row["without"], row["with"]
        print(
            f"| {name} | {row['documents']} | {w['model']:.3f} / {r['model']:.3f} | {w['hybrid']:.3f} / "
            f"{r['hybrid']:.3f} |"
        )
    atomic_write_json(
        args.out / "results.json", {"rows": rows, "seconds": seconds, "settings": config.model_dump()}
    )


if __name__ == "__main__":
    main()
