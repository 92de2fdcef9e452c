"""Annotate a cohort: sections, dates, codes, qualifiers."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import QUIET_OPTION, EntitySource, app, out, typed_settings


@app.command("annotate")
def annotate_command(
    cohort_dir: Path = typer.Option(..., "--cohort", help="The cohort directory to annotate."),
    out_dir: Path = typer.Option(
        ...,
        "--out",
        help="Folder for entities.jsonl and annotation.json (may be the cohort directory itself).",
    ),
    snomed: Path | None = typer.Option(
        None,
        "--snomed",
        help="A SNOMED CT RF2 description file (sct2_Description_*.txt) or a CODE<TAB>TERM file to normalize to.",
    ),
    entities: EntitySource | None = typer.Option(
        None,
        "--entities",
        help="Who finds disorders and findings: dictionary (CIM-10 labels and lexicons; default), tagger (a trained "
        "entity tagger, --tagger-model; its spans coded by the dictionary where it can) or both.",
    ),
    tagger_model: Path | None = typer.Option(
        None, "--tagger-model", help="The entity tagger's folder (clinrag train-entities)."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="YAML of annotation settings (lexicons, cim10, drugs, history, snomed...)."
    ),
    overrides: list[str] | None = typer.Option(
        None, "--set", help="Dotted override, repeatable: --set cim10=false --set snomed.threshold=85."
    ),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Annotate a cohort's documents: sections, dates (relative ones resolved), CIM-10 / ATC / lexicon codes,
    negation, hypothesis, family and history qualifiers, optional SNOMED CT codes; writes entities.jsonl."""
    from clinrag.io import check_output_folder
    from clinrag.text.entities import AnnotationConfig, annotate_to

    check_output_folder(out_dir, "--out")  # before the settings are read, as ever
    config = typed_settings(
        AnnotationConfig,
        config_file,
        overrides,
        entities=entities.value if entities else None,
        tagger_model=str(tagger_model) if tagger_model else None,
    )
    if snomed is not None:
        config = config.model_copy(update={"snomed": config.snomed.model_copy(update={"path": str(snomed)})})
    counts = annotate_to(cohort_dir, out_dir, config, progress=not quiet)
    out.print(
        f"annotated {counts['documents']} documents: {counts['entities']} entities "
        f"({counts['labels'].get('DATE', 0)} dates, {counts['qualifiers']['negated']} negated, "
        f"{counts['qualifiers']['family']} about relatives"
        + (f", {counts['snomed_coded']} with a SNOMED CT code" if config.snomed.path else "")
        + f"): {out_dir / 'entities.jsonl'}",
        markup=False,
    )


@app.command("train-entities")
def train_entities_command(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the entity tagger to."),
    e3c: Path | None = typer.Option(
        None, "--e3c", help="A folder of E3C UIMA XMI files (*.xml): their CLINENTITY spans are learnt."
    ),
    quaero: list[Path] | None = typer.Option(
        None,
        "--quaero",
        help="A QUAERO (BRAT) folder, read recursively (repeatable): its quaero_types spans (DISO) are learnt.",
    ),
    config_file: Path | None = typer.Option(None, "--config", help="YAML of tagger settings (README)."),
    overrides: list[str] | None = typer.Option(
        None, "--set", help="Override, repeatable: --set epochs=10 --set encoder=/models/camembert-bio."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an entity tagger folder written before."
    ),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Train the clinical entity tagger (segment encoder + BiLSTM, BIO tags of disorders and findings) on E3C
    and/or QUAERO; `clinrag annotate --entities tagger|both --tagger-model OUT` reads it."""
    from clinrag.encoders.entities import EntityTaggerConfig, read_brat, read_e3c, train_entity_tagger
    from clinrag.encoders.segment import RECORD_NAME
    from clinrag.errors import ClinragError
    from clinrag.io import check_output_folder
    from clinrag.models import check_model_reference

    check_output_folder(out_dir, "--out", overwrite, marks=(RECORD_NAME,))
    config = typed_settings(EntityTaggerConfig, config_file, overrides)
    check_model_reference(config.encoder, "entity tagger's encoder (encoder)", sentence_transformers=True)
    if e3c is None and not quaero:
        raise ClinragError("nothing to train on: give --e3c and/or --quaero")
    e3c_texts = read_e3c(e3c) if e3c is not None else []
    quaero_texts = [text for folder in quaero or [] for text in read_brat(folder)]
    model = train_entity_tagger(e3c_texts, quaero_texts, config, progress=not quiet)
    model.save(out_dir, replace=True)
    summary = model.summary
    out.print(
        f"entity tagger trained on {len(e3c_texts)} E3C and {len(quaero_texts)} QUAERO texts "
        f"({summary['tokens']} sub-word tokens, {summary['epochs_run']} epochs, {summary['seconds']:.0f} s, final "
        f"loss {summary['epoch_losses'][-1]:.4f}): {out_dir}",
        markup=False,
    )
