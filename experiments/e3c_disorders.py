"""Disorder span detection on real French clinical text: E3C layer 1 (36 case reports, gold CLINENTITY spans).

Each detector variant annotates the raw text (the XMI's sofaString); its DISORDER entities are scored against the
gold CLINENTITY spans, exact and overlapping (``clinrag.evaluation.annotation.span_scores``), micro-averaged over
documents. The documents are split in two halves by sorted id (even positions: ``tune``, odd: ``report``): any
change to rules or lexicons made by looking at errors may look at the tune half only, and the report half is the
number to quote. (The CIM-10 label heads, ``AnnotationConfig.cim10_heads``, were added after reading the tune
half's gold spans; the stroke lexicon was written before looking at E3C.)

Usage: .venv/bin/python experiments/e3c_disorders.py [--data ../shared/data/e3c-fr/layer1] [--variants "a;b"]
       [--out runs/e3c_disorders]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clinrag.evaluation.annotation import read_e3c_xmi, span_scores
from clinrag.io import atomic_write_json
from clinrag.text.entities import AnnotationConfig, EntityAnnotator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "e3c-fr" / "layer1"
LEXICON_ONLY = ["embedded:disorders"]
EDS = {"cim10_edsnlp": True}
VARIANTS: dict[str, AnnotationConfig] = {
    "stroke lexicon": AnnotationConfig(cim10=False, drugs=False, lexicons=LEXICON_ONLY),
    "eds.cim10 exact": AnnotationConfig(**EDS, drugs=False, lexicons=[]),
    "eds.cim10 exact + stroke lexicon": AnnotationConfig(**EDS, drugs=False),
    "eds.cim10 simstring": AnnotationConfig(**EDS, cim10_matcher="simstring", drugs=False, lexicons=[]),
    "eds.cim10 simstring + stroke lexicon": AnnotationConfig(**EDS, cim10_matcher="simstring", drugs=False),
    "CIM-10 labels, no code patterns (exact)": AnnotationConfig(cim10_heads=False, drugs=False, lexicons=[]),
    "CIM-10 labels + heads (exact)": AnnotationConfig(drugs=False, lexicons=[]),
    "CIM-10 labels + heads + stroke lexicon (exact, clinrag annotate's default)": AnnotationConfig(
        drugs=False
    ),
    "CIM-10 labels + heads + stroke lexicon (simstring)": AnnotationConfig(
        cim10_matcher="simstring", drugs=False
    ),
}
DISORDER = "DISORDER"


def split_of(doc_ids: list[str]) -> dict[str, str]:
    """``tune`` for even positions of the sorted ids, ``report`` for odd ones."""
    return {doc: ("tune" if i % 2 == 0 else "report") for i, doc in enumerate(sorted(doc_ids))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variants", default=";".join(VARIANTS), help="Variant names separated by ';'.")
    parser.add_argument("--out", type=Path, default=Path("runs/e3c_disorders"))
    args = parser.parse_args()
    files = sorted(args.data.glob("*.xml"))
    if not files:
        raise SystemExit(f"no XMI files in {args.data}")
    texts, gold = {}, {}
    for path in files:
        text, spans = read_e3c_xmi(path)
        texts[path.stem] = text
        gold[path.stem] = [(s.start, s.end) for s in spans]
    halves = split_of(list(texts))
    results = {}
    for name in [v.strip() for v in args.variants.split(";") if v.strip()]:
        start = time.perf_counter()
        annotator = EntityAnnotator(VARIANTS[name])
        ids = list(texts)
        annotations = annotator.annotate_texts([texts[i] for i in ids])
        predicted = {
            doc: [(e.start, e.end) for e in ann.entities if e.label == DISORDER]
            for doc, ann in zip(ids, annotations, strict=True)
        }
        results[name] = {"seconds": round(time.perf_counter() - start, 1)}
        for part in ("all", "tune", "report"):
            keep = [d for d in ids if part == "all" or halves[d] == part]
            results[name][part] = span_scores({d: gold[d] for d in keep}, {d: predicted[d] for d in keep})
    n_gold = {
        part: sum(len(gold[d]) for d in gold if part == "all" or halves[d] == part)
        for part in ("all", "report")
    }
    print(
        f"E3C French layer 1: {len(files)} documents, {n_gold['all']} gold CLINENTITY spans "
        f"(report half: {sum(1 for d in halves.values() if d == 'report')} documents, {n_gold['report']} spans).\n"
    )
    for part in ("report", "all"):
        print(f"{'Report half' if part == 'report' else 'All 36 documents'}:\n")
        print("| detector | predicted | exact P | exact R | exact F1 | overlap P | overlap R | overlap F1 |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, res in results.items():
            r = res[part]
            e, o = r["exact"], r["overlap"]
            print(
                f"| {name} | {r['counts']['predicted']} | {e['precision']:.3f} | {e['recall']:.3f} | {e['f1']:.3f} "
                f"| {o['precision']:.3f} | {o['recall']:.3f} | {o['f1']:.3f} |"
            )
        print()
    atomic_write_json(
        args.out / "e3c_metrics.json", {"documents": len(files), "halves": halves, "results": results}
    )
    print(f"metrics: {args.out / 'e3c_metrics.json'}")


if __name__ == "__main__":
    main()
