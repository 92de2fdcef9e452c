"""Identifier detection, held out: rules, the segment-encoder identifier model and both (the default of
``clinrag pseudonymize``), on eds-pseudo by k-fold cross-validation, and on a synthetic cohort's test split.

* **eds-pseudo** (``../shared/data/eds-pseudo/dev.jsonl``, 800 notes): k-fold cross-validation by note. For each
  fold, a model is trained as the default one is (:mod:`clinrag.pseudo.default_model`: the settings of
  :class:`~clinrag.pseudo.ner.NerConfig`, the synthetic identifiers of its 30-patient cohort) on the other folds,
  and scores the fold's notes; the tables pool the k folds, so every note is scored by a model that never saw it.
  The rules were written while looking at these 800 notes: their numbers, and so the hybrid's, are development
  numbers for the rules (held out for the model).
* **synthetic test split** (``--synth-seed``, 0 to skip): a synthetic cohort of another seed, scored on its test
  patients by the first fold's model, each patient's documents read together as ``clinrag pseudonymize`` does;
  ``evidence_intact`` is the share of its gold evidence spans (dates excluded: they are identifiers) left intact.

``--set KEY=VALUE`` (repeatable, dotted keys, as ``clinrag train-pseudo --set``: ``--set augment.method=rules
--set epochs=16``) changes the :class:`~clinrag.pseudo.ner.NerConfig` of every fold's model; ``results.json``
records the overrides, the settings, each fold's rows, training time, losses and augmentation counts.

Prints the tables and writes ``results.json`` and ``table.md`` to ``--out``.

Usage: .venv/bin/python experiments/pseudo_study.py [--eds-pseudo FILE] [--folds 4] [--encoder NAME]
       [--set KEY=VALUE ...] [--extra FILE ...] [--synth-seed 919] [--out runs/pseudo_study]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clinrag.cli._app import typed_settings
from clinrag.errors import ClinragError
from clinrag.io import atomic_write_json, atomic_write_text
from clinrag.pseudo.corpora import cohort_notes, evidence_ranges, folds, load_eds_pseudo
from clinrag.pseudo.default_model import training_data
from clinrag.pseudo.labels import LABELS
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


def _row(result: dict) -> dict:
    return {
        "redact": result["redact"],
        "redact_full": result["redact_full"],
        "redact_precision": result["redact_precision"],
        "token_f1": result["token"]["micro"]["f1"],
        "entity_f1": result["entity"]["micro"]["f1"],
        "protected_intact": result["protected_intact"]["share"],
        "evidence_intact": (result.get("evidence_intact") or {}).get("share"),
        "redact_per_label": result["redact_per_label"],
    }


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eds-pseudo", type=Path, default=ROOT.parent / "shared/data/eds-pseudo/dev.jsonl")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--only-folds", type=int, nargs="*", default=None, help="run these folds only")
    parser.add_argument("--encoder", default=None, help="the encoder (default: NerConfig's)")
    parser.add_argument(
        "--threshold", type=float, default=None, help="the tagging threshold (default: NerConfig's)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="NerConfig override, repeatable, as `clinrag train-pseudo --set` (augment.method=rules, epochs=16)",
    )
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="an eds-pseudo-format file every fold also learns from (repeatable; the default model's setup passes "
        "the development records of experiments/data/phi_records)",
    )
    parser.add_argument("--synth-seed", type=int, default=919, help="synthetic test cohort's seed (0: none)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs/pseudo_study")
    args = parser.parse_args()
    try:  # checked before any work: a wrong key or value is one line, exit code 2
        config = typed_settings(
            NerConfig, None, args.overrides, encoder=args.encoder, threshold=args.threshold
        )
    except ClinragError as err:
        parser.error(str(err))
    args.out.mkdir(parents=True, exist_ok=True)
    eds = load_eds_pseudo(args.eds_pseudo)
    fold_of = folds(eds, args.folds, seed=0)
    synthetic, synthetic_data = training_data([])
    extra_files = [(str(path), load_eds_pseudo(path)) for path in args.extra]
    extra = [note for _, notes in extra_files for note in notes]
    run = args.only_folds if args.only_folds is not None else list(range(args.folds))

    pooled: dict[str, list] = {"model": [None] * len(eds), "hybrid": [None] * len(eds)}
    synth_rows: dict[str, dict] = {}
    timings = []
    per_fold: dict[int, dict] = {}
    for fold in run:
        train = [n for n, f in zip(eds, fold_of, strict=True) if f != fold]
        started = time.perf_counter()
        ner = NerDetector.train(Example.of_notes(train + extra + synthetic), config)
        timings.append(round(time.perf_counter() - started, 1))
        held = [i for i, f in enumerate(fold_of) if f == fold]
        notes = [eds[i] for i in held]
        per_fold[fold] = {
            "notes": len(notes),
            "seconds": timings[-1],
            "epoch_losses": ner.summary.get("epoch_losses"),
            "augmentation": ner.summary.get("augmentation"),
        }
        for name, kind in (("model", ModelDetector), ("hybrid", HybridDetector)):
            found = detect_notes(kind(PseudoConfig(), ner), notes)
            for i, spans in zip(held, found, strict=True):
                pooled[name][i] = spans
            per_fold[fold][name] = _row(evaluate_detection(notes, found))
        print(f"fold {fold}: {len(train)} + {len(synthetic)} training texts, {timings[-1]:.0f} s", flush=True)
        if fold == run[0] and args.synth_seed:  # a synthetic test split, read by the first model
            from clinrag.synth import synthesize_cohort

            cohort = synthesize_cohort(100, seed=args.synth_seed)
            test = cohort_notes(cohort, cohort.split_patients("test"))
            kept = evidence_ranges(cohort, test)
            for name, detector in (
                ("rules", RuleDetector(PseudoConfig(detector="rules"))),
                ("model", ModelDetector(PseudoConfig(), ner)),
                ("hybrid", HybridDetector(PseudoConfig(), ner)),
            ):
                synth_rows[name] = _row(evaluate_detection(test, detect_notes(detector, test), kept))
    scored = [i for i, f in enumerate(fold_of) if f in run]
    notes = [eds[i] for i in scored]
    rows = {
        "rules (development)": _row(
            evaluate_detection(notes, detect_notes(RuleDetector(PseudoConfig(detector="rules")), notes))
        ),
        "model (cross-validated)": _row(evaluate_detection(notes, [pooled["model"][i] for i in scored])),
        "hybrid (rules: development)": _row(evaluate_detection(notes, [pooled["hybrid"][i] for i in scored])),
    }
    results = {
        "eds_pseudo": {
            "notes": len(notes),
            "folds": args.folds,
            "run": run,
            "rows": rows,
            "per_fold": per_fold,
        },
        "synthetic_test": {"seed": args.synth_seed, "rows": synth_rows},
        "training": {
            "overrides": args.overrides,
            "settings": config.model_dump(),
            "synthetic": synthetic_data["synthetic"],
            "extra": [{"file": path, "notes": len(notes)} for path, notes in extra_files],
            "seconds_per_fold": timings,
        },
    }
    lines = [
        "| data | detector | redact | redact full | redact precision | token F1 | entity F1 | protected intact | evidence intact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for data, table in (
        (f"eds-pseudo, {len(notes)} notes", rows),
        (f"synthetic test (seed {args.synth_seed})", synth_rows),
    ):
        for name, row in table.items():
            lines.append(
                f"| {data} | {name} | {_fmt(row['redact'])} | {_fmt(row['redact_full'])} | "
                f"{_fmt(row['redact_precision'])} | {_fmt(row['token_f1'])} | {_fmt(row['entity_f1'])} | "
                f"{_fmt(row['protected_intact'])} | {_fmt(row['evidence_intact'])} |"
            )
    lines += ["", "| data | detector | " + " | ".join(LABELS) + " |", "|---|---|" + "---|" * len(LABELS)]
    for data, table in (("eds-pseudo", rows), ("synthetic test", synth_rows)):
        for name, row in table.items():
            per_label = row["redact_per_label"]
            lines.append(
                f"| {data} | {name} | " + " | ".join(_fmt(per_label[label]) for label in LABELS) + " |"
            )
    table = "\n".join(lines)
    print(table)
    for fold, row in per_fold.items():
        print(
            f"fold {fold}: model redact {_fmt(row['model']['redact'])} (precision "
            f"{_fmt(row['model']['redact_precision'])}), hybrid {_fmt(row['hybrid']['redact'])} (precision "
            f"{_fmt(row['hybrid']['redact_precision'])}), {row['seconds']:.0f} s"
        )
    print(
        f"settings: {' '.join(args.overrides) or 'NerConfig defaults'}; training seconds per fold: {timings}"
    )
    atomic_write_json(args.out / "results.json", results)
    atomic_write_text(args.out / "table.md", table + "\n")


if __name__ == "__main__":
    main()
