"""Pseudonymization commands: train the detector, pseudonymize a cohort, score detection."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import (
    PSEUDO_CONFIG,
    PSEUDO_DETECTOR,
    PSEUDO_MODEL,
    PSEUDO_SET,
    QUIET_OPTION,
    PseudoMode,
    Split,
    app,
    cohort_inputs,
    err,
    out,
    pseudo_settings,
    typed_settings,
)
from clinrag.errors import ClinragError
from clinrag.models import check_model_reference


@app.command("train-pseudo")
def train_pseudo_command(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the identifier model to."),
    cohort_dir: Path | None = typer.Option(
        None, "--cohort", help="A cohort with phi.jsonl: its train-split patients' documents are used."
    ),
    eds_pseudo: list[Path] | None = typer.Option(
        None, "--eds-pseudo", help="eds-pseudo JSONL file(s) of notes with gold identifiers (repeatable)."
    ),
    config_file: Path | None = typer.Option(None, "--config", help="YAML of the model's settings (README)."),
    overrides: list[str] | None = typer.Option(
        None, "--set", help="Override, repeatable: --set epochs=8 --set encoder=/models/camembert-bio."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model folder written before."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Train the identifier detector (a segment encoder + BiLSTM tagging the 13 eds-pseudo labels, on a local
    encoder) from gold identifier spans."""
    from clinrag.data.validate import load_cohort
    from clinrag.io import check_output_folder
    from clinrag.pseudo.corpora import cohort_notes, load_eds_pseudo
    from clinrag.pseudo.ner import Example, NerConfig, NerDetector

    check_output_folder(
        out_dir,
        "--out",
        overwrite,
        inputs=cohort_inputs(cohort_dir),
        marks=("clinrag_segment.json", "clinrag_ner.json"),
    )
    config = typed_settings(NerConfig, config_file, overrides)
    check_model_reference(config.encoder, "identifier model's encoder (encoder)", sentence_transformers=True)
    notes = []
    if cohort_dir is not None:
        cohort = load_cohort(cohort_dir)
        if not cohort.phi:
            raise ClinragError(f"{cohort_dir}/phi.jsonl: missing; training needs gold identifier spans")
        notes += cohort_notes(cohort, cohort.split_patients("train"))
    for path in eds_pseudo or []:
        notes += load_eds_pseudo(path)
    if not notes:
        raise ClinragError("nothing to train on: give --cohort (with phi.jsonl) and/or --eds-pseudo")
    detector = NerDetector.train(Example.of_notes(notes), config, progress=not quiet)
    detector.save(out_dir, replace=overwrite)
    summary = detector.summary
    made = summary.get("augmentation")
    out.print(
        f"identifier model trained on {summary['examples']} texts"
        + (f" ({made['kept']} of {made['made']} augmented texts kept, {made['method']})" if made else "")
        + f" ({summary['identifiers']} identifiers, "
        f"{summary['tokens']} tokens, {summary['seconds']:.0f} s, final loss {summary['epoch_losses'][-1]:.4f}): "
        f"{out_dir}",
        markup=False,
    )


@app.command("train-sections")
def train_sections_command(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the section classifier to."),
    cohort_dirs: list[Path] | None = typer.Option(
        None, "--cohort", help="A cohort whose documents are read (repeatable; no label needed)."
    ),
    eds_pseudo: list[Path] | None = typer.Option(
        None, "--eds-pseudo", help="An eds-pseudo JSONL file whose notes are read (repeatable)."
    ),
    texts: list[Path] | None = typer.Option(
        None, "--texts", help="A UTF-8 .txt file, or a folder of them, one document a file (repeatable)."
    ),
    overrides: list[str] | None = typer.Option(
        None, "--set", help="Override, repeatable: --set inverse_regularization=0.5 --set n_features=65536."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a section classifier folder."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Train the section sensitivity classifier (identity / clinical / general blocks) on the weak labels that
    the section rules give unlabelled documents; used by `pseudonymize --mode adaptive --set
    adaptive.classifier=DIR`."""
    from clinrag.io import check_output_folder
    from clinrag.pseudo.section_classifier import (
        SECTIONS_CONFIG_NAME,
        SectionClassifierConfig,
        read_training_texts,
        train_from_texts,
    )

    inputs = {f"the cohort {c}": c for c in cohort_dirs or []} | {f"the texts {t}": t for t in texts or []}
    check_output_folder(out_dir, "--out", overwrite, inputs=inputs, marks=(SECTIONS_CONFIG_NAME,))
    config = typed_settings(SectionClassifierConfig, None, overrides)
    documents, sources = read_training_texts(cohort_dirs or [], eds_pseudo or [], texts or [])
    classifier = train_from_texts(documents, config, sources, progress=not quiet)
    classifier.save_pretrained(out_dir, overwrite=overwrite)
    counts = classifier.summary["weak_labels"]
    out.print(
        f"section classifier trained on {len(documents)} texts ({classifier.summary['blocks']} blocks; weak labels "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f"): {out_dir}",
        markup=False,
    )


@app.command("pseudonymize")
def pseudonymize_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory to pseudonymize."),
    out_dir: Path = typer.Option(..., "--out", help="Directory for the pseudonymized cohort (same format)."),
    detector: str | None = PSEUDO_DETECTOR,
    model: Path | None = PSEUDO_MODEL,
    mode: PseudoMode | None = typer.Option(
        None,
        "--mode",
        help="surrogate (fake values, dates shifted; default), mask ([NOM]) or adaptive (by section sensitivity: "
        "identity lines masked whole, identifiers and unknown names in clinical text, identifiers in general text; "
        "--set adaptive.classifier=DIR for a trained section classifier).",
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="The secret that draws offsets and surrogates (keep it like a password); random if absent.",
    ),
    mapping: Path | None = typer.Option(
        None,
        "--mapping",
        help="Write the key (seed, date offsets, surrogates, id map) to this file; never elsewhere.",
    ),
    rename_ids: bool = typer.Option(
        False, "--rename-ids", help="Replace patient and document ids by keyed hashes."
    ),
    keep_metadata: list[str] | None = typer.Option(
        None, "--keep-metadata", help="Document metadata key to keep (repeatable); the others are dropped."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output directory."),
    config_file: Path | None = PSEUDO_CONFIG,
    overrides: list[str] | None = PSEUDO_SET,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Write a pseudonymized copy of a cohort: identifiers replaced, dates shifted per patient (intervals kept),
    table dates and evidence offsets carried along, so every downstream command runs on it unchanged."""
    from clinrag.pseudo.pipeline import pseudonymize_to

    config = pseudo_settings(
        config_file,
        overrides,
        detector=detector,
        model=str(model) if model else None,
        mode=mode.value if mode else None,
        rename_ids=rename_ids,
        keep_metadata=keep_metadata or [],
    )
    result = pseudonymize_to(cohort_dir, out_dir, config, seed, mapping, overwrite, progress=not quiet)
    summary = result.summary()
    dropped = summary["dropped_metadata_keys"]
    if result.note:
        err.print(f"note: {result.note}", markup=False, soft_wrap=True)
    out.print(
        f"pseudonymized {summary['documents']} documents (detector {result.detector}; {config.mode}): "
        f"{summary['identifiers_replaced']} identifiers replaced"
        + (f", metadata keys dropped: {', '.join(dropped)}" if dropped else "")
        + (f"; key written to {mapping}" if mapping else "; key not kept (pass --mapping FILE to keep it)")
        + f": {out_dir}",
        markup=False,
    )


@app.command("evaluate-pseudo")
def evaluate_pseudo_command(
    cohort_dir: Path | None = typer.Option(None, "--cohort", help="A cohort with phi.jsonl to score on."),
    eds_pseudo: Path | None = typer.Option(
        None, "--eds-pseudo", help="An eds-pseudo JSONL file to score on."
    ),
    split: Split = typer.Option(Split.TEST, "--split", help="The cohort's patients to score on."),
    detector: str | None = PSEUDO_DETECTOR,
    model: Path | None = PSEUDO_MODEL,
    out_file: Path | None = typer.Option(None, "--out", help="Write the metrics (JSON) here."),
    config_file: Path | None = PSEUDO_CONFIG,
    overrides: list[str] | None = PSEUDO_SET,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Score identifier detection against gold spans: per-label precision, recall and F1 (entities and tokens),
    redact, redact full, and the share of protected clinical terms (and gold evidence) left intact."""
    from clinrag.data.validate import load_cohort
    from clinrag.evaluation.display import detection_summary, detection_table
    from clinrag.io import atomic_write_json, check_output_file
    from clinrag.pseudo.evaluate import evaluate_detector

    if (cohort_dir is None) == (eds_pseudo is None):
        raise ClinragError("give exactly one of --cohort and --eds-pseudo")
    if out_file is not None:
        check_output_file(
            out_file, "--out", inputs={**cohort_inputs(cohort_dir), "the eds-pseudo file": eds_pseudo}
        )
    config = pseudo_settings(config_file, overrides, detector=detector, model=str(model) if model else None)
    metrics = evaluate_detector(
        config, load_cohort(cohort_dir) if cohort_dir else eds_pseudo, split.value, progress=not quiet
    )
    if metrics.get("note"):
        err.print(f"note: {metrics['note']}", markup=False, soft_wrap=True)
    out.print(detection_table(metrics))
    out.print(detection_summary(metrics), markup=False)
    if out_file is not None:
        atomic_write_json(out_file, metrics)
        out.print(f"metrics written to {out_file}", markup=False)
