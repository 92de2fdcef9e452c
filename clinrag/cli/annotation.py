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
    from clinrag.io import check_output_folder
    from clinrag.text.entities import AnnotationConfig, annotate_to

    check_output_folder(out_dir, "--out")  # before the settings are read, as ever
    config = typed_settings(AnnotationConfig, config_file, overrides)
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
