"""Pseudonymization benchmark: documents per second on CPU, for each detector and for a whole cohort.

Texts: the documents of a synthetic cohort (clinical letters and reports, about 470 characters each) and, when
the shared data is there, eds-pseudo's 800 notes (short snippets). For each detector (rules; the NER model; both)
the table gives documents and characters per second of detection alone, then of detection plus surrogate
replacement (``clinrag pseudonymize``'s work, names of a patient's record looked for in all its documents).

The model is ``--model`` (an identifier model folder of ``clinrag train-pseudo``), else the default one that
``clinrag models prepare`` trained (what ``clinrag pseudonymize`` uses out of the box).

Usage: .venv/bin/python scripts/bench_pseudo.py [--model NER_DIR] [--patients 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(function, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="an identifier model folder (default: the prepared one)"
    )
    parser.add_argument(
        "--patients", type=int, default=40, help="synthetic patients (about 9.5 documents each)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--eds-pseudo", type=Path, default=ROOT.parent / "shared/data/eds-pseudo/dev.jsonl")
    args = parser.parse_args()

    import torch

    from clinrag.models import default_identifier_model
    from clinrag.pseudo.corpora import Note, cohort_notes, load_eds_pseudo
    from clinrag.pseudo.ner import load_detector_model
    from clinrag.pseudo.pipeline import (
        HybridDetector,
        ModelDetector,
        PseudoConfig,
        RuleDetector,
        detect_notes,
        pseudonymize_cohort,
    )
    from clinrag.synth import synthesize_cohort

    torch.set_num_threads(args.threads)
    folder = args.model or default_identifier_model()
    if folder is None:
        raise SystemExit("no identifier model: give --model FOLDER or run `clinrag models prepare`")
    ner = load_detector_model(folder)
    cohort = synthesize_cohort(args.patients, seed=3)
    corpora: dict[str, list[Note]] = {"synthetic documents": cohort_notes(cohort)}
    if args.eds_pseudo.is_file():
        corpora["eds-pseudo notes"] = load_eds_pseudo(args.eds_pseudo)
    detectors = {
        "rules": RuleDetector(PseudoConfig()),
        "model": ModelDetector(PseudoConfig(detector="model"), ner),
        "hybrid": HybridDetector(PseudoConfig(detector="hybrid"), ner),
    }
    rows = []
    for corpus, notes in corpora.items():
        chars = sum(len(n.text) for n in notes)
        for name, detector in detectors.items():
            detect_notes(detector, notes[:20])  # warm-up (lazy imports, first batch)
            seconds = _time(lambda d=detector, n=notes: detect_notes(d, n))
            rows.append((corpus, f"detect: {name}", len(notes), chars, seconds))
    notes = corpora["synthetic documents"]
    chars = sum(len(n.text) for n in notes)
    for name, detector in detectors.items():
        config = PseudoConfig(detector=name)
        seconds = _time(lambda c=config, d=detector: pseudonymize_cohort(cohort, c, seed=1, detector=d))
        rows.append(("synthetic cohort", f"pseudonymize: {name}", len(notes), chars, seconds))

    print(f"CPU threads: {args.threads}; model: {folder} ({ner.kind})")
    print("| texts | work | documents | characters | seconds | documents/s | characters/s |")
    print("|---|---|---|---|---|---|---|")
    for corpus, work, n, chars, seconds in rows:
        print(
            f"| {corpus} | {work} | {n} | {chars} | {seconds:.2f} | {n / seconds:.1f} | {chars / seconds:,.0f} |"
        )


if __name__ == "__main__":
    main()
