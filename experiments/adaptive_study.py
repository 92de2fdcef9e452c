"""Adaptive masking by section sensitivity: the trade-off of ``mask``, ``surrogate`` and ``adaptive``.

Three stages (the first and last are short; ``runs`` trains the pipeline once per cohort and mode, each run
under ``flock /tmp/clinrag-cpu.lock`` so heavy jobs run one at a time):

* ``prepare``: the section classifier, trained on the weak labels of texts written by others and of a synthetic
  cohort of its own seed (``--train-seed``): the dev cohorts ch_rural and clinique_dictee, QUAERO's EMEA drug
  summaries, 200 PAMJ case reports and eds-pseudo's notes; the notes of eds-pseudo are labelled by
  cross-fitting (``--folds``: each fold's notes by a classifier that did not read them), everything else by the
  classifier trained on all of it (``OUT/section-classifier``). Then identifier coverage (redact, redact full,
  redact precision), protected terms and gold evidence intact, on eds-pseudo and on the test split of a fresh
  synthetic seed (``--synth-seed``), for the rule detector's spans (what ``mask`` and ``surrogate`` replace) and
  for adaptive masking (section rules, and the classifier). Last, the cohorts of the utility check pseudonymized
  in each mode (``--cohorts``), with the same intact shares.
* ``runs``: ``clinrag run CONFIG`` on each original and pseudonymized cohort (skipped when its metrics exist).
* ``table``: the trade-off table (``OUT/table.md``, ``OUT/results.json``), and the hand labels'
  (``experiments/data/section_labels.jsonl``) agreement with the section rules and the classifier.

Usage: .venv/bin/python experiments/adaptive_study.py {prepare,runs,table} [--out runs/adaptive_study]
       [--synth-seed 1234] [--train-seed 31] [--seed 77] [--cohort NAME=DIR ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from clinrag.data.cohort import Cohort
from clinrag.data.validate import load_cohort
from clinrag.io import atomic_write_json, atomic_write_text
from clinrag.pseudo.adaptive import AdaptiveConfig, coverage_spans, plan
from clinrag.pseudo.corpora import Note, cohort_notes, evidence_ranges, folds, load_eds_pseudo
from clinrag.pseudo.pipeline import (
    PseudoConfig,
    RuleDetector,
    detect_notes,
    evaluate_detection,
    pseudonymize_cohort,
    write_cohort,
)
from clinrag.pseudo.section_classifier import SectionClassifier
from clinrag.pseudo.sections import SENSITIVITIES, RuleLabeller, blocks_of

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
COHORTS = ROOT / "experiments" / "data" / "cohorts"
HAND_LABELS = ROOT / "experiments" / "data" / "section_labels.jsonl"
MODES = ("mask", "surrogate", "adaptive")
ABLATIONS = {
    "identity lines": AdaptiveConfig(clinical_words=False),
    "clinical words": AdaptiveConfig(identity_lines=False),
}


def _clinrag(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "clinrag", *args], check=True)


def _synth(out: Path, seed: int, patients: int) -> Path:
    folder = out / f"synth-{seed}"
    if not (folder / "documents.jsonl").exists():
        _clinrag(
            "synth", "--out", str(folder), "--patients", str(patients), "--seed", str(seed), "--overwrite"
        )
    return folder


def training_texts(out: Path, train_seed: int) -> tuple[list[str], list[str]]:
    """The texts the classifier learns from (eds-pseudo apart), with their source."""
    texts, sources = [], []
    for name in ("ch_rural", "clinique_dictee"):
        docs = load_cohort(COHORTS / name).documents
        texts += [d.text for d in docs]
        sources += [name] * len(docs)
    for split in ("train", "dev"):
        for path in sorted((DATA / "quaero" / split / "EMEA").glob("*.txt")):
            texts.append(path.read_text(encoding="utf-8"))
            sources.append("emea")
    for path in sorted((DATA / "e3c-fr" / "pamj-unannotated").glob("*.json"))[:200]:
        texts.append(json.loads(path.read_text(encoding="utf-8"))["text"])
        sources.append("pamj")
    docs = load_cohort(_synth(out, train_seed, 40)).documents
    texts += [d.text for d in docs]
    sources += [f"synthetic seed {train_seed}"] * len(docs)
    return texts, sources


def _coverage(notes: list[Note], spans: list, labelled: list, config: AdaptiveConfig) -> list:
    return [
        coverage_spans(n.text, plan(n.text, s, lab, config))
        for n, s, lab in zip(notes, spans, labelled, strict=True)
    ]


def _row(result: dict) -> dict:
    return {
        "redact": result["redact"],
        "redact_full": result["redact_full"],
        "redact_precision": result["redact_precision"],
        "protected_intact": result["protected_intact"]["share"],
        "protected_n": result["protected_intact"]["n"],
        "evidence_intact": (result.get("evidence_intact") or {}).get("share"),
        "evidence_n": (result.get("evidence_intact") or {}).get("n"),
    }


def _sensitivity_counts(labelled: list) -> dict:
    return dict(Counter(item.label for doc in labelled for item in doc))


def prepare(args: argparse.Namespace) -> None:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    extra_texts, extra_sources = training_texts(out, args.train_seed)
    eds = load_eds_pseudo(DATA / "eds-pseudo" / "dev.jsonl")
    fold_of = folds(eds, args.folds, seed=0)
    rules = RuleDetector(PseudoConfig())
    eds_spans = detect_notes(rules, eds)
    extra_spans = [rules.detect([t], [()])[0] for t in extra_texts]
    eds_texts = [n.text for n in eds]
    eds_blocks = blocks_of(eds_texts, eds_spans)
    extra_blocks = blocks_of(extra_texts, extra_spans)

    final = SectionClassifier.train(
        extra_texts + eds_texts,
        extra_spans + eds_spans,
        sources=extra_sources + ["eds-pseudo"] * len(eds),
        blocks=extra_blocks + eds_blocks,
    )
    final.save_pretrained(out / "section-classifier", overwrite=True)
    results["classifier_training"] = final.summary
    crossfit: list = [None] * len(eds)
    for fold in range(args.folds):
        train = [i for i, f in enumerate(fold_of) if f != fold]
        held = [i for i, f in enumerate(fold_of) if f == fold]
        model = SectionClassifier.train(
            extra_texts + [eds_texts[i] for i in train],
            extra_spans + [eds_spans[i] for i in train],
            blocks=extra_blocks + [eds_blocks[i] for i in train],
        )
        for i, labelled in zip(
            held, model.label([eds_texts[i] for i in held], [eds_spans[i] for i in held]), strict=True
        ):
            crossfit[i] = labelled
    atomic_write_json(
        out / "eds_crossfit_labels.json",
        {
            n.note_id: [[x.segment.start, x.segment.end, x.label] for x in doc]
            for n, doc in zip(eds, crossfit, strict=True)
        },
    )

    config = AdaptiveConfig()
    coverage: dict = {}
    eds_rules = RuleLabeller().label(eds_texts, eds_spans)
    coverage["eds-pseudo"] = {
        "texts": len(eds),
        "identifiers": sum(len(n.spans) for n in eds),
        "sensitivities_rules": _sensitivity_counts(eds_rules),
        "sensitivities_classifier": _sensitivity_counts(crossfit),
        "rows": {
            "mask / surrogate (rules detector)": _row(evaluate_detection(eds, eds_spans)),
            "adaptive, section rules": _row(
                evaluate_detection(eds, _coverage(eds, eds_spans, eds_rules, config))
            ),
            "adaptive, classifier (cross-fitted)": _row(
                evaluate_detection(eds, _coverage(eds, eds_spans, crossfit, config))
            ),
            **{
                f"adaptive, section rules, {part} only": _row(
                    evaluate_detection(eds, _coverage(eds, eds_spans, eds_rules, ablation))
                )
                for part, ablation in ABLATIONS.items()
            },
        },
    }
    synth = load_cohort(_synth(out, args.synth_seed, 100))
    notes = cohort_notes(synth, synth.split_patients("test"))
    kept = evidence_ranges(synth, notes)
    spans = detect_notes(rules, notes)
    texts = [n.text for n in notes]
    by_rules = RuleLabeller().label(texts, spans)
    by_model = final.label(texts, spans)
    coverage[f"synthetic test, seed {args.synth_seed}"] = {
        "texts": len(notes),
        "identifiers": sum(len(n.spans) for n in notes),
        "sensitivities_rules": _sensitivity_counts(by_rules),
        "sensitivities_classifier": _sensitivity_counts(by_model),
        "rows": {
            "mask / surrogate (rules detector)": _row(evaluate_detection(notes, spans, kept)),
            "adaptive, section rules": _row(
                evaluate_detection(notes, _coverage(notes, spans, by_rules, config), kept)
            ),
            "adaptive, classifier": _row(
                evaluate_detection(notes, _coverage(notes, spans, by_model, config), kept)
            ),
            **{
                f"adaptive, section rules, {part} only": _row(
                    evaluate_detection(notes, _coverage(notes, spans, by_rules, ablation), kept)
                )
                for part, ablation in ABLATIONS.items()
            },
        },
    }
    results["coverage"] = coverage

    # the utility cohorts: pseudonymized in each mode, and what each leaves intact
    pseudo = {}
    for name, folder in args.cohorts.items():
        cohort = load_cohort(folder)
        pseudo[name] = {}
        for mode in MODES:
            settings = PseudoConfig(mode=mode)
            if mode == "adaptive":
                settings = PseudoConfig(
                    mode=mode, adaptive=AdaptiveConfig(classifier=str(out / "section-classifier"))
                )
            result = pseudonymize_cohort(cohort, settings, seed=args.seed)
            target = out / f"{name}-{mode}"
            if not (target / "documents.jsonl").exists():
                write_cohort(result, target, overwrite=True)
            pseudo[name][mode] = {"summary": result.summary(), **_intact(cohort, result.mapping, settings)}
    results["cohorts"] = pseudo
    atomic_write_json(out / "prepare.json", results)
    print(json.dumps(results["coverage"], indent=1))


def _intact(cohort: Cohort, mapping: dict, settings: PseudoConfig) -> dict:
    """Protected terms and gold evidence (dates left out) that no replaced region touches, on a cohort without
    gold identifiers (the regions are read back from the detection, as ``pseudonymize`` made them)."""
    from clinrag.pseudo.pipeline import _label_sections, build_detector, detect_cohort

    spans = detect_cohort(build_detector(settings), cohort.documents, settings.propagate_names)
    notes = [Note(d.doc_id, d.patient_id, d.text, ()) for d in cohort.documents]
    if settings.mode == "adaptive":
        sections = _label_sections(cohort.documents, spans, settings, None)
        covered = [
            coverage_spans(d.text, plan(d.text, spans[d.doc_id], sections[d.doc_id], settings.adaptive))
            for d in cohort.documents
        ]
    else:
        covered = [spans[d.doc_id] for d in cohort.documents]
    result = evaluate_detection(notes, covered, evidence_ranges(cohort, notes))
    return {
        "protected_intact": result["protected_intact"],
        "evidence_intact": result["evidence_intact"],
        "characters": sum(len(d.text) for d in cohort.documents),
        "characters_masked": sum(s.end - s.start for doc in covered for s in doc),
    }


def runs(args: argparse.Namespace) -> None:
    for name, folder in args.cohorts.items():
        for variant in ("original", *MODES):
            cohort = folder if variant == "original" else args.out / f"{name}-{variant}"
            run_dir = args.runs_dir / f"run-{name}-{variant}"
            if (run_dir / "metrics.json").exists():
                continue
            subprocess.run(
                ["flock", "/tmp/clinrag-cpu.lock", sys.executable, "-m", "clinrag", "run", str(args.config),
                 "--cohort", str(cohort), "--out", str(run_dir), "--cache", str(args.runs_dir / "cache"), "-q"],
                check=True,
            )  # fmt: skip


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def hand_agreement(out: Path, args: argparse.Namespace) -> dict:
    """The hand labels against the section rules and the classifier, block by block."""
    labels = [
        json.loads(line) for line in HAND_LABELS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    texts: dict[tuple[str, str], str] = {}
    eds = {n.note_id: n.text for n in load_eds_pseudo(DATA / "eds-pseudo" / "dev.jsonl")}
    for source in {x["source"] for x in labels}:
        if source == "eds-pseudo":
            texts.update({("eds-pseudo", k): v for k, v in eds.items()})
        else:
            texts.update({(source, d.doc_id): d.text for d in load_cohort(COHORTS / source).documents})
    keys = sorted({(x["source"], x["doc_id"]) for x in labels})
    doc_texts = [texts[k] for k in keys]
    rules = RuleDetector(PseudoConfig())
    spans = [rules.detect([t], [()])[0] for t in doc_texts]
    by_rules = RuleLabeller().label(doc_texts, spans)
    model = SectionClassifier.from_pretrained(out / "section-classifier")
    by_model = model.label(doc_texts, spans)
    crossfit = json.loads((out / "eds_crossfit_labels.json").read_text(encoding="utf-8"))
    predicted: dict[str, dict] = {"rules": {}, "classifier": {}}
    for key, r_doc, m_doc in zip(keys, by_rules, by_model, strict=True):
        for item in r_doc:
            predicted["rules"][(*key, item.segment.start, item.segment.end)] = item.label
        if key[0] == "eds-pseudo":
            for start, end, label in crossfit.get(key[1], []):
                predicted["classifier"][(*key, start, end)] = label
        else:
            for item in m_doc:
                predicted["classifier"][(*key, item.segment.start, item.segment.end)] = item.label
    report: dict = {"blocks": len(labels), "hand": dict(Counter(x["label"] for x in labels))}
    for name, table in predicted.items():
        confusion: Counter = Counter()
        per_source: dict = {}
        errors = []
        for x in labels:
            guess = table.get((x["source"], x["doc_id"], x["start"], x["end"]), "missing block")
            confusion[(x["label"], guess)] += 1
            src = "eds-pseudo" if x["source"] == "eds-pseudo" else "dev cohorts (chu_unv, chu_nord)"
            per_source.setdefault(src, Counter())[guess == x["label"]] += 1
            if guess != x["label"]:
                errors.append({**x, "predicted": guess})
        agree = sum(n for (h, g), n in confusion.items() if h == g)
        report[name] = {
            "agreement": agree / len(labels),
            "per_source": {k: v[True] / (v[True] + v[False]) for k, v in per_source.items()},
            "per_source_n": {k: v[True] + v[False] for k, v in per_source.items()},
            "confusion": {f"{h} -> {g}": n for (h, g), n in sorted(confusion.items())},
            "errors": errors,
        }
        try:
            from sklearn.metrics import cohen_kappa_score

            hand = [x["label"] for x in labels]
            guessed = [table.get((x["source"], x["doc_id"], x["start"], x["end"]), "missing") for x in labels]
            report[name]["kappa"] = cohen_kappa_score(hand, guessed, labels=list(SENSITIVITIES))
        except ValueError:
            report[name]["kappa"] = None
    return report


def table(args: argparse.Namespace) -> None:
    out = args.out
    prepared = json.loads((out / "prepare.json").read_text(encoding="utf-8"))
    lines = [
        "| data | masking | redact | redact full | redact precision | protected terms intact | gold evidence intact |",
        "|---|---|---|---|---|---|---|",
    ]
    for data, block in prepared["coverage"].items():
        for name, row in block["rows"].items():
            lines.append(
                f"| {data} | {name} | {_fmt(row['redact'])} | {_fmt(row['redact_full'])} | "
                f"{_fmt(row['redact_precision'])} | {_fmt(row['protected_intact'])} | {_fmt(row['evidence_intact'])} |"
            )
    lines += [
        "",
        "| cohort | cohort as given to `clinrag run` | overall accuracy [95% CI] | test cells | characters masked | "
        "protected terms intact | gold evidence intact |",
        "|---|---|---|---|---|---|---|",
    ]
    utility: dict = {}
    for name in args.cohorts:
        for variant in ("original", *MODES):
            metrics_file = args.runs_dir / f"run-{name}-{variant}" / "metrics.json"
            if not metrics_file.exists():
                continue
            overall = json.loads(metrics_file.read_text(encoding="utf-8"))["overall"]
            utility.setdefault(name, {})[variant] = overall
            low, high = overall["accuracy_ci"]
            info = prepared["cohorts"].get(name, {}).get(variant, {})
            masked = (
                f"{info['characters_masked'] / info['characters']:.3f}" if info.get("characters") else "0"
            )
            lines.append(
                f"| {name} | {variant} | {overall['accuracy']:.3f} [{low:.3f}, {high:.3f}] | {overall['n']} | "
                f"{masked} | {_fmt((info.get('protected_intact') or {}).get('share', 1.0 if variant == 'original' else None))} | "
                f"{_fmt((info.get('evidence_intact') or {}).get('share', 1.0 if variant == 'original' else None))} |"
            )
    agreement = hand_agreement(out, args) if HAND_LABELS.exists() else None
    text = "\n".join(lines) + "\n"
    if agreement:
        text += (
            f"\nHand labels ({agreement['blocks']} blocks: {agreement['hand']}): rules agree on "
            f"{agreement['rules']['agreement']:.3f} (kappa {_fmt(agreement['rules']['kappa'])}), the classifier on "
            f"{agreement['classifier']['agreement']:.3f} (kappa {_fmt(agreement['classifier']['kappa'])}).\n"
        )
    print(text)
    atomic_write_text(out / "table.md", text)
    atomic_write_json(out / "results.json", {**prepared, "utility": utility, "hand_labels": agreement})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=("prepare", "runs", "table"))
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "adaptive_study")
    parser.add_argument("--runs-dir", type=Path, default=None, help="where the runs go (default: --out)")
    parser.add_argument("--synth-seed", type=int, default=1234)
    parser.add_argument("--train-seed", type=int, default=31)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=77, help="pseudonymization secret")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    parser.add_argument(
        "--cohort", action="append", default=None, help="NAME=DIR of a utility cohort (repeatable); default: "
        "chu_unv, chu_nord and a 100-patient synthetic cohort of seed 2026 (the main job's)",
    )  # fmt: skip
    args = parser.parse_args()
    args.runs_dir = args.runs_dir or args.out
    if args.cohort:
        args.cohorts = dict(item.split("=", 1) for item in args.cohort)
        args.cohorts = {k: Path(v) for k, v in args.cohorts.items()}
    else:
        args.cohorts = {
            "chu_unv": COHORTS / "chu_unv",
            "chu_nord": COHORTS / "chu_nord",
            "synth": _synth(args.out, 2026, 100),
        }
    {"prepare": prepare, "runs": runs, "table": table}[args.stage](args)


if __name__ == "__main__":
    main()
