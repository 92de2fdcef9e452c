"""Clinical entities on E3C, cross-validated: the CIM-10 dictionary, the segment-encoder tagger, and both.

E3C's French layer 1 (36 case reports, 596 gold CLINENTITY spans) is cut into 4 folds by document (a seeded
permutation of the sorted ids). For each fold, a tagger (:mod:`clinrag.encoders.entities`) is trained on the 3
other folds' documents (and, by variant, on QUAERO's train and dev texts, never on E3C's held-out fold) and tags
the held-out documents. The dictionary (``clinrag annotate``'s default CIM-10 labels + heads + stroke lexicon,
drugs off as in ``experiments/e3c_disorders.py``) needs no training. "both" merges the two with
:func:`clinrag.encoders.entities.combine`, the rule ``clinrag annotate --entities both`` applies.

Choices (variants, encoder, threshold, merge order) are made on the ``tune`` half's documents (even positions of
the sorted ids, as in e3c_disorders.py); the ``report`` half (odd positions) was never looked at for any choice and
is the number to quote beside the 36 documents' cross-validated figure. Intervals: bootstrap over documents
(1,000 resamples, the same for every system), paired differences against the dictionary.

Usage (each fold is one training run; run folds in separate processes to stay under 10 minutes each):
    python experiments/e3c_tagger.py dictionary
    python experiments/e3c_tagger.py fold --variant "e5 frozen, E3C + QUAERO DISO" --folds 0,1,2
    python experiments/e3c_tagger.py development [--variants "a;b"]   # the tune half's grid (choices made on it)
    python experiments/e3c_tagger.py table [--variants "a;b"]         # chosen on the tune half, scored on both
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from clinrag.encoders.entities import (
    ENTITY_HEAD,
    EntityTaggerConfig,
    combine,
    read_brat,
    read_e3c,
    tag_entities,
    train_entity_tagger,
)
from clinrag.evaluation.annotation import span_scores_with_intervals
from clinrag.io import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
E3C = DATA / "e3c-fr" / "layer1"
QUAERO = [DATA / "quaero" / "train", DATA / "quaero" / "dev"]
FOLDS = 4
MINILM = "embedded:all-minilm-l6-v2"
E5 = "embedded:multilingual-e5-small"
E3C_ONLY = {"quaero": False, "epochs": 20, "batch_size": 4, "learning_rate": 2e-3}
WITH_QUAERO = {"quaero": True, "epochs": 8, "batch_size": 8, "learning_rate": 2e-3}
FINE_TUNE = {"encoder_training": "fine-tune", "encoder_learning_rate": 5e-5}
VARIANTS: dict[str, dict] = {
    "MiniLM frozen, E3C": {"encoder": MINILM, **E3C_ONLY},
    "MiniLM frozen, E3C + QUAERO DISO": {"encoder": MINILM, **WITH_QUAERO},
    "e5 frozen, E3C": {"encoder": E5, **E3C_ONLY},
    "e5 frozen, E3C, 60 epochs": {"encoder": E5, **E3C_ONLY, "epochs": 60, "learning_rate": 3e-3},
    "e5 frozen, E3C + QUAERO DISO": {"encoder": E5, **WITH_QUAERO},
    "e5 frozen, E3C + QUAERO DISO + QUAERO head": {"encoder": E5, **WITH_QUAERO, "quaero_head": True},
    "e5 fine-tuned, E3C": {"encoder": E5, **E3C_ONLY, **FINE_TUNE, "epochs": 8},
    "e5 fine-tuned, E3C + QUAERO DISO": {"encoder": E5, **WITH_QUAERO, **FINE_TUNE, "epochs": 3},
}
BASE = {"threads": 2, "seed": 0}
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def folds_of(doc_ids: list[str]) -> dict[str, int]:
    """Each document's fold: a seeded permutation of the sorted ids, dealt round-robin."""
    order = sorted(doc_ids)
    random.Random(0).shuffle(order)
    return {doc: i % FOLDS for i, doc in enumerate(order)}


def halves_of(doc_ids: list[str]) -> dict[str, str]:
    """``tune`` for even positions of the sorted ids, ``report`` for odd ones (as e3c_disorders.py)."""
    return {doc: ("tune" if i % 2 == 0 else "report") for i, doc in enumerate(sorted(doc_ids))}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def run_dictionary(out: Path) -> None:
    """The dictionary's disorders of every E3C document, with the key that codes each."""
    from clinrag.text.entities import AnnotationConfig, EntityAnnotator

    docs = read_e3c(E3C)
    start = time.perf_counter()
    annotator = EntityAnnotator(AnnotationConfig(drugs=False))
    annotations = annotator.annotate_texts([d.text for d in docs])
    result = {
        d.doc_id: [
            [e.start, e.end, f"{e.system}:{e.code}" if e.code else ""]
            for e in ann.entities
            if e.label == "DISORDER"
        ]
        for d, ann in zip(docs, annotations, strict=True)
    }
    atomic_write_json(
        out / "dictionary.json", {"seconds": round(time.perf_counter() - start, 1), "docs": result}
    )
    print(f"dictionary: {sum(len(v) for v in result.values())} disorders in {len(result)} documents")


def run_folds(variant: str, folds: list[int], out: Path) -> None:
    """Train on the other folds (and QUAERO), tag the held-out fold; one JSON per fold."""
    settings = dict(VARIANTS[variant])
    use_quaero = settings.pop("quaero")
    config = EntityTaggerConfig(**{**BASE, **settings})
    docs = read_e3c(E3C)
    quaero = [t for folder in QUAERO for t in read_brat(folder)] if use_quaero else []
    fold_of = folds_of([d.doc_id for d in docs])
    for fold in folds:
        target = out / slug(variant) / f"fold{fold}.json"
        if target.exists():
            print(f"{variant} fold {fold}: done already")
            continue
        train = [d for d in docs if fold_of[d.doc_id] != fold]
        held = [d for d in docs if fold_of[d.doc_id] == fold]
        start = time.perf_counter()
        model = train_entity_tagger(train, quaero, config)
        trained = time.perf_counter() - start
        found = tag_entities(model, [d.text for d in held])
        by_threshold = {}  # the same model decoded at other thresholds (chosen on the tune half only)
        for threshold in THRESHOLDS:
            head = model.config.heads[ENTITY_HEAD].model_copy(update={"threshold": threshold})
            model.config = model.config.model_copy(
                update={"heads": {**model.config.heads, ENTITY_HEAD: head}}
            )
            spans = tag_entities(model, [d.text for d in held])
            by_threshold[str(threshold)] = {
                d.doc_id: [[s.start, s.end, s.score] for s in v] for d, v in zip(held, spans, strict=True)
            }
        record = {
            "variant": variant,
            "fold": fold,
            "config": config.model_dump(),
            "training": model.summary,
            "train_seconds": round(trained, 1),
            "predict_seconds": round(time.perf_counter() - start - trained, 1),
            "docs": {
                d.doc_id: [[s.start, s.end, s.score] for s in spans]
                for d, spans in zip(held, found, strict=True)
            },
            "by_threshold": by_threshold,
        }
        atomic_write_json(target, record)
        print(
            f"{variant} fold {fold}: {len(train)} E3C + {len(quaero)} QUAERO texts, trained in {trained:.0f} s, "
            f"{sum(len(v) for v in record['docs'].values())} spans on {len(held)} held-out documents"
        )


def load_variant(out: Path, variant: str) -> dict[float, dict[str, list[tuple[int, int]]]] | None:
    """The cross-validated spans of a variant at each of ``THRESHOLDS`` (None unless every fold is there)."""
    folder = out / slug(variant)
    records = [folder / f"fold{f}.json" for f in range(FOLDS)]
    if not all(r.exists() for r in records):
        return None
    decoded: dict[float, dict[str, list[tuple[int, int]]]] = {t: {} for t in THRESHOLDS}
    for path in records:
        record = json.loads(path.read_text(encoding="utf-8"))
        for threshold in THRESHOLDS:
            for doc, spans in record["by_threshold"][str(threshold)].items():
                decoded[threshold][doc] = [(s, e) for s, e, _ in spans]
    return decoded


def read_dictionary(out: Path) -> dict[str, list]:
    from clinrag.encoders.entities import CodedSpan

    raw = json.loads((out / "dictionary.json").read_text(encoding="utf-8"))["docs"]
    return {d: [CodedSpan(s, e, "dictionary", key) for s, e, key in v] for d, v in raw.items()}


def candidates(dictionary: dict[str, list], decoded: dict[float, dict]) -> dict[tuple[str, float], dict]:
    """Every system a variant offers: ``(tagger | both, dictionary first | both, tagger first, threshold)``
    -> ``doc -> [(start, end)]`` (``both``: :func:`combine`, what ``annotate --entities both`` applies)."""
    systems = {}
    for threshold, spans in decoded.items():
        systems[("tagger", threshold)] = spans
        for prefer in ("dictionary", "tagger"):
            systems[(f"both, {prefer} first", threshold)] = {
                d: [(c.start, c.end) for c in combine(dictionary[d], spans[d], "both", prefer=prefer)]
                for d in spans
            }
    return systems


def choose(gold: dict, systems: dict[tuple[str, float], dict]) -> dict[str, tuple[str, float]]:
    """On the documents of ``gold`` (the tune half) only: the threshold of each system (the tagger alone, both with
    the dictionary's span kept where the two overlap, as ``annotate --entities both`` does, and both with the
    tagger's kept) with the highest overlap F1 (ties: the threshold closest to 0.5)."""
    from clinrag.evaluation.annotation import span_scores

    def f1(key: tuple[str, float]) -> float:
        return span_scores(gold, {d: systems[key][d] for d in gold})["overlap"]["f1"]

    names = dict.fromkeys(k[0] for k in systems)
    return {
        name: max((k for k in systems if k[0] == name), key=lambda k: (f1(k), -abs(k[1] - 0.5)))
        for name in names
    }


def development(out: Path, variants: list[str]) -> None:
    """The tune half's scores of every variant at every threshold, alone and merged: what choices are made on
    (the report half is not printed)."""
    from clinrag.evaluation.annotation import span_scores

    docs = read_e3c(E3C)
    halves = halves_of([d.doc_id for d in docs])
    gold = {d.doc_id: [(s.start, s.end) for s in d.spans] for d in docs if halves[d.doc_id] == "tune"}
    dictionary = read_dictionary(out)
    print("| variant | system | threshold | exact F1 | overlap P | overlap R | overlap F1 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = [("dictionary", "dictionary", "", {d: [(c.start, c.end) for c in dictionary[d]] for d in gold})]
    for variant in variants:
        decoded = load_variant(out, variant)
        if decoded is not None:
            for (name, threshold), spans in candidates(dictionary, decoded).items():
                rows.append((variant, name, threshold, spans))
    for variant, name, threshold, spans in rows:
        r = span_scores(gold, {d: spans[d] for d in gold})
        print(
            f"| {variant} | {name} | {threshold} | {r['exact']['f1']:.3f} | {r['overlap']['precision']:.3f} | "
            f"{r['overlap']['recall']:.3f} | {r['overlap']['f1']:.3f} |"
        )


def table(out: Path, variants: list[str]) -> None:
    """Per variant, the tagger and both at the threshold (and merge order) chosen on the tune half, scored on the
    report half (never tuned on), on the tune half (development numbers) and on all 36 documents."""
    docs = read_e3c(E3C)
    gold = {d.doc_id: [(s.start, s.end) for s in d.spans] for d in docs}
    halves = halves_of(list(gold))
    tune_gold = {d: g for d, g in gold.items() if halves[d] == "tune"}
    dictionary = read_dictionary(out)
    systems = {"dictionary": {d: [(s.start, s.end) for s in v] for d, v in dictionary.items()}}
    timings, chosen = {}, {}
    for variant in variants:
        decoded = load_variant(out, variant)
        if decoded is None:
            print(f"(skipped: {variant}: folds missing)")
            continue
        offered = candidates(dictionary, decoded)
        for role, key in choose(tune_gold, offered).items():
            name = f"{variant}: {key[0]} @ {key[1]}"
            systems[name] = offered[key]
            chosen[name] = {"variant": variant, "role": role, "system": key[0], "threshold": key[1]}
        records = [
            json.loads((out / slug(variant) / f"fold{f}.json").read_text(encoding="utf-8"))
            for f in range(FOLDS)
        ]
        timings[variant] = {
            "train_seconds_per_fold": sum(r["train_seconds"] for r in records) / FOLDS,
            "train_seconds_max": max(r["train_seconds"] for r in records),
            "epochs_run": [r["training"]["epochs_run"] for r in records],
        }
    results = {}
    for part in ("report", "tune", "all"):
        keep = [d for d in gold if part == "all" or halves[d] == part]
        results[part] = span_scores_with_intervals(
            {d: gold[d] for d in keep},
            {name: {d: s[d] for d in keep} for name, s in systems.items()},
            reference="dictionary",
        )
    best = {  # the tagger alone and merged, each the variant and threshold of the best tune-half overlap F1
        role: max(
            (n for n, c in chosen.items() if (c["role"] == "tagger") == (role == "tagger")),
            key=lambda n: results["tune"][n]["overlap"]["f1"],
            default=None,
        )
        for role in ("tagger", "both")
    }
    atomic_write_json(
        out / "e3c_tagger_metrics.json",
        {"folds": FOLDS, "chosen": chosen, "best_on_tune": best, "results": results, "timings": timings},
    )
    print(
        f"Best on the tune half (overlap F1): tagger alone: {best['tagger']}; with the dictionary: {best['both']}"
    )
    titles = {
        "report": "Report half: never tuned on",
        "tune": "Tune half: DEVELOPMENT numbers (thresholds and merge order chosen here)",
        "all": "All 36 documents (half of them the tune half's: partly development)",
    }
    for part, title in titles.items():
        res = results[part]
        print(f"\n{title}: {res['documents']} documents, {res['dictionary']['counts']['gold']} gold spans\n")
        print(
            "| system | predicted | exact P | exact R | exact F1 [95% CI] | overlap P | overlap R | "
            "overlap F1 [95% CI] | Δ overlap F1 vs dictionary [95% CI] |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in systems:
            r = res[name]
            e, o = r["exact"], r["overlap"]
            ci = lambda c: f"[{c[0]:.3f}, {c[1]:.3f}]" if c else ""  # noqa: E731
            diff = r.get("vs_reference", {}).get("overlap")
            delta = f"{diff['f1_difference']:+.3f} {ci(diff['ci'])}" if diff else "(reference)"
            print(
                f"| {name} | {r['counts']['predicted']} | {e['precision']:.3f} | {e['recall']:.3f} | "
                f"{e['f1']:.3f} {ci(e['f1_ci'])} | {o['precision']:.3f} | {o['recall']:.3f} | "
                f"{o['f1']:.3f} {ci(o['f1_ci'])} | {delta} |"
            )
    print("\n| variant | training per fold, mean (max) s | epochs run per fold |")
    print("|---|---:|---|")
    for variant, t in timings.items():
        print(
            f"| {variant} | {t['train_seconds_per_fold']:.0f} ({t['train_seconds_max']:.0f}) | "
            f"{', '.join(map(str, t['epochs_run']))} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["dictionary", "fold", "development", "table"])
    parser.add_argument("--variant", choices=list(VARIANTS))
    parser.add_argument("--folds", default=",".join(str(f) for f in range(FOLDS)))
    parser.add_argument("--variants", default=";".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("runs/e3c_tagger"))
    args = parser.parse_args()
    if args.command == "dictionary":
        run_dictionary(args.out)
    elif args.command == "fold":
        if not args.variant:
            parser.error("fold needs --variant")
        run_folds(args.variant, [int(f) for f in args.folds.split(",")], args.out)
    elif args.command == "development":
        development(args.out, [v.strip() for v in args.variants.split(";") if v.strip()])
    else:
        table(args.out, [v.strip() for v in args.variants.split(";") if v.strip()])


if __name__ == "__main__":
    main()
