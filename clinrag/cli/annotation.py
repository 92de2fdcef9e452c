"""Annotate a cohort: sections, dates, codes, qualifiers."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import QUIET_OPTION, app, out, typed_settings


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
    from clinrag.data.validate import load_cohort
    from clinrag.io import atomic_write_json, atomic_write_jsonl, check_output_folder
    from clinrag.text.entities import AnnotationConfig, annotate_cohort, annotation_manifest

    check_output_folder(out_dir, "--out")
    config = typed_settings(AnnotationConfig, config_file, overrides)
    if snomed is not None:
        config = config.model_copy(update={"snomed": config.snomed.model_copy(update={"path": str(snomed)})})
    cohort = load_cohort(cohort_dir)
    records = annotate_cohort(cohort, config, progress=not quiet)
    atomic_write_jsonl(out_dir / "entities.jsonl", records)
    atomic_write_json(out_dir / "annotation.json", annotation_manifest(cohort, config, records))
    coded = sum(1 for r in records if r["snomed_code"])
    out.print(
        f"annotated {len(cohort.documents)} documents: {len(records)} entities "
        f"({sum(1 for r in records if r['label'] == 'DATE')} dates, {sum(1 for r in records if r['negated'])} negated, "
        f"{sum(1 for r in records if r['family'])} about relatives"
        + (f", {coded} with a SNOMED CT code" if config.snomed.path else "")
        + f"): {out_dir / 'entities.jsonl'}",
        markup=False,
    )
