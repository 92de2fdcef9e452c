"""Identifier detection of a detector on the hand-written records (dev, test) and eds-pseudo: aggregate numbers
only (no span, no error is printed, so that the test half can be measured without reading its errors).

Rows: redact (share of identifier tokens covered, with its 95% interval, the documents resampled), redact full (share of documents fully covered), redact
precision, token and entity micro F1, protected terms intact, and redact per label — the metrics of
``clinrag evaluate-pseudo`` and ``experiments/pseudo_study.py``. Each note is read alone (no record grouping).

``--cohorts`` adds the over-masking check on cohorts written by others without identifiers marked
(experiments/data/cohorts, development ones only): the share of their gold evidence spans (the clinical facts
their tables are filled from; dates left out, as they are identifiers) that no detected span touches, and the
identifiers detected per document.

Usage: .venv/bin/python experiments/phi_records/measure.py [--sets dev test test2 eds-pseudo] [--detector rules]
       [--model NER_DIR] [--cohorts chu_unv ch_rural ...] [--pool] [--out results.json]
(``--pool``: one more row, the sets' documents together, as the confirmation's rule reads them.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from clinrag.data.validate import load_cohort
from clinrag.evaluation.bootstrap import BootstrapSpec, draw_resamples, percentile_interval, ratio_replicates
from clinrag.pseudo.base import Detector
from clinrag.pseudo.corpora import cohort_notes, evidence_ranges, load_eds_pseudo
from clinrag.pseudo.evaluate import score
from clinrag.pseudo.labels import LABELS
from clinrag.pseudo.pipeline import PseudoConfig, build_detector, detect_notes, evaluate_detection

ROOT = Path(__file__).resolve().parents[2]
SETS = {
    "dev": ROOT / "experiments/data/phi_records/dev.jsonl",
    "test": ROOT / "experiments/data/phi_records/test.jsonl",
    "test2": ROOT / "experiments/data/phi_records/test2.jsonl",
    "test3": ROOT / "experiments/data/phi_records/test3.jsonl",
    "test4": ROOT / "experiments/data/phi_records/test4.jsonl",
    "test5": ROOT / "experiments/data/phi_records/test5.jsonl",
    **{f"test{n}": ROOT / f"experiments/data/phi_records/test{n}.jsonl" for n in range(6, 15)},
    **{f"train{n}": ROOT / f"experiments/data/phi_records/train{n}.jsonl" for n in (7, 8, 9, 18, 19)},
    "eds-pseudo": ROOT.parent / "shared/data/eds-pseudo/dev.jsonl",
}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _interval(row: dict) -> str:
    interval = row["redact_interval"]
    return "" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def detected(path: Path, detector: Detector, config: PseudoConfig) -> tuple[list, list, float]:
    """The notes of ``path``, the detector's spans for each, and the seconds detection took."""
    notes = load_eds_pseudo(path)
    start = time.perf_counter()
    predicted = detect_notes(detector, notes, config.propagate_names)
    return notes, predicted, time.perf_counter() - start


def measure(name: str, notes: list, predicted: list, seconds: float) -> dict:
    """One row of the table: ``notes`` scored against ``predicted``."""
    result = evaluate_detection(notes, predicted)
    return {
        "set": name,
        "documents": len(notes),
        "identifiers": sum(len(n.spans) for n in notes),
        "seconds": seconds,
        "redact": result["redact"],
        "redact_interval": redact_interval(notes, predicted),
        "redact_full": result["redact_full"],
        "redact_precision": result["redact_precision"],
        "token_f1": result["token"]["micro"]["f1"],
        "entity_f1": result["entity"]["micro"]["f1"],
        "protected_intact": result["protected_intact"],
        "redact_per_label": result["redact_per_label"],
        "token_support": {label: result["token"]["per_label"][label]["support"] for label in LABELS},
    }


def redact_interval(notes: list, predicted: list) -> list[float] | None:
    """The 95% percentile interval of redact, the documents resampled (clinrag's bootstrap: 1,000 draws, seed
    0): a document's identifiers are not independent of each other."""
    covered, total = [], []
    for note, spans in zip(notes, predicted, strict=True):
        one = score([list(note.spans)], [list(spans)], [note.text])
        tokens = sum(one["token"]["per_label"][label]["support"] for label in LABELS)
        total.append(tokens)
        covered.append((one["redact"] or 0.0) * tokens)
    spec = BootstrapSpec()
    _, replicates = ratio_replicates(np.array(covered), np.array(total), draw_resamples(len(notes), spec))
    return percentile_interval(replicates, spec)


def over_masking(name: str, detector: Detector, config: PseudoConfig) -> dict:
    cohort = load_cohort(ROOT / "experiments/data/cohorts" / name)
    notes = cohort_notes(cohort)
    predicted = detect_notes(detector, notes, config.propagate_names)
    result = evaluate_detection(notes, predicted, evidence_ranges(cohort, notes))
    return {
        "cohort": name,
        "documents": len(notes),
        "spans_per_document": sum(map(len, predicted)) / len(notes),
        "evidence_intact": result["evidence_intact"],
        "protected_intact": result["protected_intact"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["dev", "eds-pseudo"])
    parser.add_argument("--detector", default="rules")
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--cohorts", nargs="*", default=[], choices=["chu_unv", "ch_rural", "clinique_dictee", "chu_nord"]
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--pool",
        action="store_true",
        help="add a row for the --sets pooled (their documents resampled together)",
    )
    args = parser.parse_args()
    config = PseudoConfig(detector=args.detector, model=args.model)
    detector = build_detector(config)
    runs = {name: detected(SETS[name], detector, config) for name in args.sets}
    rows = [measure(name, *run) for name, run in runs.items()]
    if args.pool and len(args.sets) > 1:
        notes = [note for run in runs.values() for note in run[0]]
        predicted = [spans for run in runs.values() for spans in run[1]]
        rows.append(measure(" + ".join(args.sets), notes, predicted, sum(run[2] for run in runs.values())))
    print(
        "| set | documents | identifiers | redact | redact full | redact precision | token F1 | entity F1 | "
        "protected intact |"
    )
    print("|---|---:|---:|---|---|---|---|---|---|")
    for r in rows:
        protected = r["protected_intact"]
        print(
            f"| {r['set']} | {r['documents']} | {r['identifiers']} | {_fmt(r['redact'])} {_interval(r)} "
            f"| {_fmt(r['redact_full'])} "
            f"| {_fmt(r['redact_precision'])} | {_fmt(r['token_f1'])} | {_fmt(r['entity_f1'])} "
            f"| {_fmt(protected['share'])} (n={protected['n']}) |"
        )
    print()
    print("| set | " + " | ".join(LABELS) + " |")
    print("|---|" + "---|" * len(LABELS))
    for r in rows:
        print(f"| {r['set']} | " + " | ".join(_fmt(r["redact_per_label"][label]) for label in LABELS) + " |")
    cohorts = [over_masking(name, detector, config) for name in args.cohorts]
    if cohorts:
        print()
        print(
            "| cohort (no identifiers marked) | documents | spans per document | gold evidence intact | protected intact |"
        )
        print("|---|---:|---:|---|---|")
        for c in cohorts:
            evidence, protected = c["evidence_intact"], c["protected_intact"]
            print(
                f"| {c['cohort']} | {c['documents']} | {c['spans_per_document']:.1f} | {_fmt(evidence['share'])} "
                f"(n={evidence['n']}) | {_fmt(protected['share'])} (n={protected['n']}) |"
            )
    if args.out:
        args.out.write_text(json.dumps({"sets": rows, "cohorts": cohorts}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
