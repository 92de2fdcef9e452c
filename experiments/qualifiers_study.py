"""Qualifier study: edsnlp's negation, hypothesis and family qualifiers against the synthetic generator's truth.

The generator records what it meant by each mention it writes (risk factors affirmed or negated, a relative's
condition, suspected AF, AF and hemorrhage found or ruled out, treatments given or not:
``clinrag.synth.generator.synthesize_mentions``). Two measurements:

* **end to end**: the entities ``clinrag annotate`` finds (default settings); a gold mention is covered when an
  entity overlaps it, and a covered mention's qualifier is that of its entities (any of them);
* **qualifiers alone**: the gold spans themselves handed to edsnlp's qualifiers (detection left aside).

Prints Markdown tables (precision, recall, F1 of each qualifier's positive class, accuracy, and the accuracy of
always answering "no") and writes the numbers as JSON.

Usage: .venv/bin/python experiments/qualifiers_study.py [--patients 100] [--seed 777] [--no-cim10]
       [--out runs/qualifiers_study]
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from clinrag.evaluation.annotation import binary_scores
from clinrag.io import atomic_write_json
from clinrag.synth.generator import synthesize_cohort, synthesize_mentions
from clinrag.text.entities import DATE_LABEL, AnnotationConfig, EntityAnnotator

QUALIFIERS = {"negated": "negation", "hypothetical": "hypothesis", "family": "family"}


def _row(name: str, scores: dict) -> str:
    baseline = (scores["tn"] + scores["fp"]) / scores["n"] if scores["n"] else 0.0
    return (
        f"| {name} | {scores['tp'] + scores['fn']} / {scores['n']} | {scores['precision']:.3f} | {scores['recall']:.3f} "
        f"| {scores['f1']:.3f} | {scores['accuracy']:.3f} | {baseline:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--no-cim10", action="store_true", help="Leave eds.cim10 out (faster).")
    parser.add_argument("--out", type=Path, default=Path("runs/qualifiers_study"))
    args = parser.parse_args()
    cohort = synthesize_cohort(args.patients, args.seed)
    gold = synthesize_mentions(args.patients, args.seed)
    annotator = EntityAnnotator(AnnotationConfig(cim10=not args.no_cim10))
    entities = [e for e in annotator.annotate_documents(cohort.documents) if e.label != DATE_LABEL]
    by_doc = defaultdict(list)
    for entity in entities:
        by_doc[entity.doc_id].append(entity)
    gold_by_doc = defaultdict(list)
    for mention in gold:
        gold_by_doc[mention.doc_id].append(mention)

    end_to_end = {q: [] for q in QUALIFIERS}
    alone = {q: [] for q in QUALIFIERS}
    covered, missed = 0, Counter()
    for doc in cohort.documents:
        mentions = gold_by_doc.get(doc.doc_id, [])
        if not mentions:
            continue
        qualified = annotator.qualify_spans(doc.text, [(m.start, m.end) for m in mentions])
        for mention, flags in zip(mentions, qualified, strict=True):
            for q in QUALIFIERS:
                alone[q].append((getattr(mention, q), flags[q]))
            found = [e for e in by_doc.get(doc.doc_id, []) if e.start < mention.end and mention.start < e.end]
            if not found:
                missed[mention.concept] += 1
                continue
            covered += 1
            for q in QUALIFIERS:
                end_to_end[q].append((getattr(mention, q), any(getattr(e, q) for e in found)))

    results = {
        "patients": args.patients,
        "seed": args.seed,
        "cim10": not args.no_cim10,
        "gold_mentions": len(gold),
        "gold_by_kind": {q: sum(getattr(m, q) for m in gold) for q in QUALIFIERS},
        "covered": covered,
        "missed_by_concept": dict(missed.most_common()),
        "end_to_end": {q: binary_scores(pairs) for q, pairs in end_to_end.items()},
        "qualifiers_alone": {q: binary_scores(pairs) for q, pairs in alone.items()},
    }
    print(
        f"Synthetic cohort: {args.patients} patients (seed {args.seed}), {len(cohort.documents)} documents; "
        f"{len(gold)} gold mentions, {covered} ({covered / len(gold):.1%}) overlapped by a detected entity."
    )
    for title, key in (
        ("End to end (detected entities)", "end_to_end"),
        ("Qualifiers alone (gold spans)", "qualifiers_alone"),
    ):
        print(f"\n{title}:\n")
        print(
            "| qualifier | gold positives / mentions | precision | recall | F1 | accuracy | accuracy of 'no' |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for q, name in QUALIFIERS.items():
            print(_row(name, results[key][q]))
    if missed:
        print(f"\nGold mentions no entity overlaps, by concept: {dict(missed.most_common())}")
    atomic_write_json(args.out / "qualifiers_metrics.json", results)
    print(f"metrics: {args.out / 'qualifiers_metrics.json'}")


if __name__ == "__main__":
    main()
