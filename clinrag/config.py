"""Typed configurations: pydantic models are the truth, YAML is how they are stored, dotted overrides
(``retriever.type=bm25 retrieval.k=3``) adjust them from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from clinrag.errors import ClinragError
from clinrag.retrieval.base import DEFAULT_RETRIEVER
from clinrag.retrieval.config import RetrieverConfig, TemporalConfig
from clinrag.text.passages import ChunkingConfig


class RetrievalOptions(BaseModel):
    """How many passages retrieval hands on, and which cut-offs its evaluation reports."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(3, ge=1)
    """Passages retrieved per (patient, variable): the evidence the reader sees (see ``reader.max_passages``)."""
    eval_ks: list[int] = Field(default_factory=lambda: [1, 5, 10])
    """Cut-offs of recall@k in evaluation."""


class RetrievalSettings(BaseModel):
    """Everything retrieval needs: chunking, the retriever, and retrieval options."""

    model_config = ConfigDict(extra="forbid")

    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    """How documents are cut into passages."""
    retriever: RetrieverConfig = Field(default_factory=TemporalConfig)
    """The retriever, chosen by its ``type`` (a registered retriever: bm25, dense, hybrid, temporal, annotated);
    a section without ``type`` is the default one, the same in every entry point."""
    retrieval: RetrievalOptions = Field(default_factory=RetrievalOptions)
    """k and evaluation cut-offs."""

    @model_validator(mode="before")
    @classmethod
    def _default_retriever_type(cls, data: Any) -> Any:
        return default_section_type(data, "retriever", DEFAULT_RETRIEVER)


def default_section_type(data: Any, section: str, default: str) -> Any:
    """``data`` with ``data[section]["type"]`` set to ``default`` when the section is given without a type."""
    if isinstance(data, dict) and isinstance(data.get(section), dict) and "type" not in data[section]:
        data = {**data, section: {"type": default, **data[section]}}
    return data


def load_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping.

    Raises:
        ClinragError: Missing file, bad YAML (with its line) or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ClinragError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ClinragError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ClinragError(f"{path}{line}: malformed YAML: {getattr(err, 'problem', None) or err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ClinragError(f"{path}: a config must be a mapping of keys to values")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML: ``3``, ``true``, ``[1, 5]``, ``bm25``).

    Setting a ``type`` key replaces its whole section (a bm25 section's ``k1`` means nothing to dense), so
    ``retriever.type=dense`` starts a fresh dense section; overrides after it fill it in.

    Raises:
        ClinragError: An override without ``=`` or with an empty key.
    """
    result = _deep_copy(data)
    for override in overrides:
        if "=" not in override:
            raise ClinragError(f"override '{override}': expected key=value (e.g. retriever.type=bm25)")
        key, raw = override.split("=", 1)
        parts = [p for p in key.strip().split(".")]
        if not all(parts):
            raise ClinragError(f"override '{override}': empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = result
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if parts[-1] == "type" and node.get("type") != value:
            node.clear()
        node[parts[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def validation_message(source: str, err: ValidationError) -> str:
    """One line naming the first invalid field of a config (and how many more there are)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{source}: field '{where}': {first['msg']}{more}"


def build_settings(model: type[BaseModel], source: str, data: dict[str, Any]) -> Any:
    """Validate a mapping into ``model``, turning pydantic errors into a one-line ClinragError."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ClinragError(validation_message(source, err)) from err
