"""Do corpus annotations help retrieval and weak supervision? Measured on synthetic cohorts' test splits.

Retrieval: BM25 alone, then re-ranked with annotations (``clinrag.retrieval.annotated``): passages whose mentions
of the variable are all about a relative or hypothetical demoted, all negated demoted, a section prior and a
prior over time since the index event learned from the train split's weak labels. recall@5 (and @1, MRR) against
gold evidence, on the time- and negation-dependent variables (``TARGET``) and on all variables.

Weak supervision: precision and recall against gold evidence of the weak labels (train split) with the current
rules, and with mentions about a relative or hypothetical left out of the "value next to a term" rules.

Usage: .venv/bin/python experiments/annotation_retrieval.py [--patients 200] [--seeds 777,2027]
       [--out runs/annotation_retrieval]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from clinrag.data.validate import load_cohort
from clinrag.io import atomic_write_json
from clinrag.retrieval.annotated import AnnotatedRetriever
from clinrag.retrieval.config import AnnotatedConfig
from clinrag.retrieval.evaluation import evaluate_retriever
from clinrag.retrieval.supervision import passage_mentions, weak_labels
from clinrag.synth import write_synthetic_cohort
from clinrag.text.entities import AnnotationConfig, EntityAnnotator
from clinrag.text.passages import build_passages, overlap_matrix

TARGET = [
    "fibrillation_atriale",
    "mrs_3_mois",
    "nihss_admission",
    "nihss_sortie",
    "transformation_hemorragique",
    "hta",
    "diabete",
    "dyslipidemie",
    "tabagisme",
]
"""Time-dependent (AF found late, scores at several timepoints, hemorrhage at 24 h) and negation-dependent
(history booleans) variables."""
OFF = {"demote_family": False, "demote_hypothetical": False, "section_weight": 0.0, "date_weight": 0.0}
VARIANTS = {
    "bm25": AnnotatedConfig(**OFF),
    "+ demote family / hypothetical": AnnotatedConfig(
        **{**OFF, "demote_family": True, "demote_hypothetical": True}
    ),
    "+ demote negated too": AnnotatedConfig(
        **{**OFF, "demote_family": True, "demote_hypothetical": True, "demote_negated": True}
    ),
    "bm25 + section prior": AnnotatedConfig(**{**OFF, "section_weight": 1.0}),
    "bm25 + date prior": AnnotatedConfig(**{**OFF, "date_weight": 1.0}),
    "annotated (defaults: demote family / hypothetical + section + date priors)": AnnotatedConfig(),
}


def _cell(result: dict, metric: str) -> str:
    low, high = result[f"{metric}_ci"]
    return f"{result[metric]:.3f} [{low:.2f}, {high:.2f}]"


def weak_label_quality(cohort, store, mentions, patients, names) -> dict[str, float]:
    """Precision (weak positive passages overlapping gold evidence) and recall (pairs with gold evidence that
    have a weak positive overlapping it) of the weak labels of ``names``."""
    labels = weak_labels(cohort, store, mentions, patients, [cohort.variable(n) for n in names])
    gold = defaultdict(list)
    for span in cohort.evidence:
        gold[(span.patient_id, span.variable)].append((span.doc_id, span.start, span.end))
    positives = correct = pairs = found = 0
    for pid in patients:
        passages = store.of_patient(pid)
        for name in names:
            relevant = overlap_matrix(passages, gold.get((pid, name), []))
            label = labels.get((pid, name))
            if label is not None:
                positives += int(label.sum())
                correct += int((label & relevant).sum())
            if relevant.any():
                pairs += 1
                found += int(label is not None and (label & relevant).any())
    return {
        "precision": round(correct / positives, 4) if positives else 0.0,
        "recall": round(found / pairs, 4) if pairs else 0.0,
        "positives": positives,
        "pairs": pairs,
    }


def _three_month_window(store, mentions, index_dates):
    """Mentions with those of ``mrs_3_mois`` kept only in passages dated 75-105 days after the index event (the
    registries' 3-month window, ``clinrag.text.timepoints.follow_up_window``)."""
    import datetime as dt

    from clinrag.text.timepoints import TIMEPOINT_DAYS, follow_up_window

    low, high = follow_up_window(TIMEPOINT_DAYS["3 mois"])
    kept = []
    for passage, found in zip(store.passages, mentions, strict=True):
        index = index_dates.get(passage.patient_id)
        days = (dt.date.fromisoformat(passage.date[:10]) - index).days if index else None
        inside = days is not None and low <= days <= high
        kept.append([m for m in found if m.variable != "mrs_3_mois" or inside])
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--seeds", default="777,2027")
    parser.add_argument("--out", type=Path, default=Path("runs/annotation_retrieval"))
    args = parser.parse_args()
    report: dict = {"target": TARGET, "seeds": {}}
    for seed in [int(s) for s in args.seeds.split(",")]:
        cohort_dir = args.out / f"cohort-{seed}"
        if not (cohort_dir / "documents.jsonl").exists():
            write_synthetic_cohort(cohort_dir, args.patients, seed=seed, overwrite=True)
        cohort = load_cohort(cohort_dir)
        store = build_passages(cohort)
        variables = [cohort.variable(n) for n in cohort.table_columns]
        mentions = passage_mentions(store, variables)
        index_dates = EntityAnnotator(AnnotationConfig(cim10=False, drugs=False)).patient_index_dates(
            cohort.documents
        )
        results = {}
        for name, config in VARIANTS.items():
            retriever = AnnotatedRetriever(config, variables=variables)
            retriever.attach_cohort(cohort)
            retriever.index(store, mentions=mentions, index_dates=index_dates)
            results[name] = evaluate_retriever(
                cohort, store, retriever, "test", (1, 5, 10), groups={"target": TARGET}
            )
        train = cohort.split_patients("train")
        plain = weak_label_quality(cohort, store, mentions, train, TARGET)
        skipped = [[m for m in ms if not (m.family or m.hypothetical)] for ms in mentions]
        filtered = weak_label_quality(cohort, store, skipped, train, TARGET)
        windowed = weak_label_quality(
            cohort, store, _three_month_window(store, mentions, index_dates), train, TARGET
        )
        report["seeds"][seed] = {
            "retrieval": results,
            "weak_labels": {
                "current": plain,
                "skip family / hypothetical mentions": filtered,
                "mrs_3_mois only 75-105 days after the index event": windowed,
                "mrs_3_mois alone, current": weak_label_quality(
                    cohort, store, mentions, train, ["mrs_3_mois"]
                ),
                "mrs_3_mois alone, 75-105 days after the index event": weak_label_quality(
                    cohort, store, _three_month_window(store, mentions, index_dates), train, ["mrs_3_mois"]
                ),
            },
            "index_dates_found": len(index_dates),
            "patients": len(cohort.patients),
        }
        test = len(cohort.split_patients("test"))
        print(
            f"\nSeed {seed}: {args.patients} patients, {len(store)} passages; test split {test} patients; "
            f"index event dated for {len(index_dates)} patients.\n"
        )
        print("| retriever | target recall@1 | target recall@5 | target MRR | all recall@5 |")
        print("|---|---:|---:|---:|---:|")
        for name, metrics in results.items():
            target, overall = metrics["groups"]["target"], metrics["overall"]
            print(
                f"| {name} | {_cell(target, 'recall@1')} | {_cell(target, 'recall@5')} | {_cell(target, 'mrr')} "
                f"| {_cell(overall, 'recall@5')} |"
            )
        print("\nrecall@5 per target variable:\n")
        print("| retriever | " + " | ".join(TARGET) + " |")
        print("|---|" + "---:|" * len(TARGET))
        for name, metrics in results.items():
            cells = [
                f"{metrics['variables'][v]['recall@5']:.3f}" for v in TARGET if v in metrics["variables"]
            ]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print("\nWeak labels of the target variables (train split) against gold evidence:\n")
        print("| rules | precision | recall | weak positives |")
        print("|---|---:|---:|---:|")
        for name, quality in report["seeds"][seed]["weak_labels"].items():
            print(
                f"| {name} | {quality['precision']:.3f} | {quality['recall']:.3f} | {quality['positives']} |"
            )
    atomic_write_json(args.out / "annotation_retrieval.json", report)
    print(f"\nmetrics: {args.out / 'annotation_retrieval.json'}")


if __name__ == "__main__":
    main()
