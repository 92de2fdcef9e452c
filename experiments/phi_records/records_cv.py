"""Does the identifier model generalise better to free text when it also learns from the hand-written records?

Leave-one-round-out over the rounds of ``experiments/data/phi_records`` that are not held out (round 1 = dev +
test, round 2 = test2 … round 6 = test6, the training rounds 7, 8, 9, and rounds 10-13 = test7-test10, whose
first looks are done): for each round held out, a model is
trained exactly as the default one (:class:`~clinrag.pseudo.ner.NerConfig`'s settings, eds-pseudo's notes and the
synthetic cohort of :func:`clinrag.pseudo.default_model.training_data`) plus the records of *every other* round,
and scores the held-out round, model alone and hybrid. The baseline is one model trained the same way with the
records of ``--baseline-rounds`` only (none by default), or a given folder (``--baseline``). The model's numbers
are held out (it never saw the round); the hybrid's are development numbers for rounds 1-5 (the rules were written
reading their errors) and first looks for the others until their errors are read. The held-out sets of the
second confirmation (rounds 14-17) are never read here.

Aggregate numbers only. Usage:
    .venv/bin/python experiments/phi_records/records_cv.py [--eds-pseudo FILE] [--held-out ROUND ...]
        [--baseline MODEL | --baseline-rounds ROUND ...] [--out DIR]
(rounds are named "round 1" … "round 19"; ``--together`` holds the rounds given out of one model instead of one
model each; ``--thresholds 0.2 0.1`` scores each model at those tagging thresholds too; e.g. ``--held-out "round 7" "round 8" "round 9" --baseline-rounds
"round 1" "round 2" "round 3" "round 4"``: does a model learn more from rounds 5, 7, 8 and 9 than from rounds 1-4?)
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
    "round 5": ("test5",),
    "round 6": ("test6",),
    "round 7": ("train7",),
    "round 8": ("train8",),
    "round 9": ("train9",),
    "round 10": ("test7",),
    "round 11": ("test8",),
    "round 12": ("test9",),
    "round 13": ("test10",),
    "round 18": ("train18",),
    "round 19": ("train19",),
}


def _score(ner: NerDetector, notes: list[Note], thresholds: list[float]) -> dict[str, float]:
    """Model alone and hybrid, at the model's own threshold and at each of ``thresholds`` (keys ``model@0.2``…)."""
    row = {}
    own = ner.threshold
    try:
        for threshold in [None, *thresholds]:
            ner.threshold = own if threshold is None else threshold
            suffix = "" if threshold is None else f"@{threshold:g}"
            for name, kind in (("model", ModelDetector), ("hybrid", HybridDetector)):
                result = evaluate_detection(notes, detect_notes(kind(PseudoConfig(), ner), notes))
                row[name + suffix] = round(result["redact"], 3)
                row[f"{name}_precision{suffix}"] = round(result["redact_precision"], 3)
    finally:
        ner.threshold = own
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
    parser.add_argument(
        "--baseline-rounds",
        nargs="+",
        choices=sorted(ROUNDS),
        default=[],
        help="the baseline (trained here) learns from these rounds' records too (default: none)",
    )
    parser.add_argument(
        "--held-out",
        nargs="+",
        choices=sorted(ROUNDS),
        default=None,
        help="the rounds to hold out (default: all)",
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="hold the --held-out rounds out together: one model trained on every other round scores each",
    )
    parser.add_argument(
        "--thresholds",
        nargs="+",
        type=float,
        default=[],
        help="also score each model at these tagging thresholds (NerConfig.threshold; the models are not retrained)",
    )
    args = parser.parse_args()
    held_out = args.held_out or list(ROUNDS)
    if set(held_out) & set(args.baseline_rounds):
        parser.error("a held-out round cannot be in --baseline-rounds")
    args.out.mkdir(parents=True, exist_ok=True)
    config = NerConfig()
    base, _ = training_data([args.eds_pseudo])
    rounds = {
        name: [n for f in files for n in load_eds_pseudo(RECORDS / f"{f}.jsonl")]
        for name, files in ROUNDS.items()
    }
    started = time.perf_counter()
    known = [n for name in args.baseline_rounds for n in rounds[name]]
    baseline = (
        NerDetector.load(args.baseline)
        if args.baseline
        else NerDetector.train(Example.of_notes(base + known), config)
    )
    seconds = {"without records": round(time.perf_counter() - started, 1)}
    rows = {}
    folds = [held_out] if args.together else [[name] for name in held_out]
    for fold in folds:
        others = [n for other, notes in rounds.items() if other not in fold for n in notes]
        started = time.perf_counter()
        ner = NerDetector.train(Example.of_notes(base + others), config)
        seconds[" + ".join(fold)] = round(time.perf_counter() - started, 1)
        for name in fold:
            held = rounds[name]
            rows[name] = {
                "documents": len(held),
                "without": _score(baseline, held, args.thresholds),
                "with": _score(ner, held, args.thresholds),
            }
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
        args.out / "results.json",
        {
            "rows": rows,
            "seconds": seconds,
            "settings": config.model_dump(),
            "baseline": str(args.baseline) if args.baseline else {"rounds": args.baseline_rounds},
        },
    )


if __name__ == "__main__":
    main()
