"""Diagnostic: what the hybrid detector's merge keeps of its two parts. Redact (identifier tokens covered), redact
full and redact precision of the rules, the model, the hybrid (the model's spans merged into the rules' first
pass, :class:`~clinrag.pseudo.pipeline.HybridDetector`) and the plain union of the rules' and the model's spans,
on the development sets only (dev, test, test2, eds-pseudo; never test3 or test4). Aggregate numbers only.

Usage: .venv/bin/python experiments/phi_records/merge_loss.py --model NER_DIR [--sets dev test test2 eds-pseudo]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from clinrag.pseudo.corpora import load_eds_pseudo  # noqa: E402
from clinrag.pseudo.pipeline import (  # noqa: E402
    HybridDetector,
    ModelDetector,
    PseudoConfig,
    RuleDetector,
    detect_notes,
    evaluate_detection,
)
from experiments.phi_records.measure import SETS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument(
        "--sets",
        nargs="+",
        choices=["dev", "test", "test2", "eds-pseudo"],
        default=["dev", "test", "test2", "eds-pseudo"],
    )
    args = parser.parse_args()
    hybrid = HybridDetector(PseudoConfig(detector="hybrid", model=args.model))
    model = ModelDetector(PseudoConfig(detector="model"), hybrid.ner)
    rules = RuleDetector(PseudoConfig(detector="rules"))
    print("| set | detector | redact | redact full | redact precision |")
    print("|---|---|---|---|---|")
    for name in args.sets:
        notes = load_eds_pseudo(SETS[name])
        found = {"rules": detect_notes(rules, notes), "model": detect_notes(model, notes)}
        found["hybrid"] = detect_notes(hybrid, notes)
        found["union"] = [a + b for a, b in zip(found["rules"], found["model"], strict=True)]
        for detector, spans in found.items():
            result = evaluate_detection(notes, spans)
            print(
                f"| {name} | {detector} | {result['redact']:.3f} | {result['redact_full']:.3f} "
                f"| {result['redact_precision']:.3f} |"
            )


if __name__ == "__main__":
    main()
