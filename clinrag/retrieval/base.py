"""The retriever protocol, the registry that builds retrievers by name, and queries from variable specs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.text.passages import PassageStore


@dataclass(frozen=True)
class Hit:
    """A retrieved passage: its index in the store, its score and its rank (1 = best)."""

    index: int
    score: float
    rank: int


@runtime_checkable
class Retriever(Protocol):
    """Finds, in one patient's passages, those that state a variable's value."""

    def index(self, store: PassageStore) -> None:
        """Prepare to search ``store`` (tokenize, embed, build an index...)."""

    def scores(self, patient_id: str, variable: Variable) -> np.ndarray:
        """A score for each of the patient's passages (store order); higher is more likely evidence."""


def top_hits(scores: np.ndarray, offset: int, k: int | None) -> list[Hit]:
    """The ``k`` best passages (all when k is None), ties broken by passage order (earlier first)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    if k is not None:
        order = order[:k]
    return [Hit(offset + int(i), float(scores[i]), rank) for rank, i in enumerate(order, start=1)]


def retrieve(
    retriever: Retriever, store: PassageStore, patient_id: str, variable: Variable, k: int | None = 5
) -> list[Hit]:
    """The top-``k`` passages of a patient for a variable."""
    start, _ = store.patient_range(patient_id)
    return top_hits(retriever.scores(patient_id, variable), start, k)


def build_query(variable: Variable) -> str:
    """The text query of a variable: its description, timepoint and keywords."""
    parts = [variable.description]
    if variable.timepoint:
        parts.append(variable.timepoint)
    if variable.keywords:
        parts.append(" ".join(variable.keywords))
    return " ; ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Registry: retrievers are chosen by name from configs.
# ---------------------------------------------------------------------------------------------------------
RETRIEVERS: dict[str, Callable[..., Retriever]] = {}


def register_retriever(name: str) -> Callable[[type], type]:
    """Class decorator: make a retriever buildable from a config whose ``type`` is ``name``."""

    def decorate(cls: type) -> type:
        if name in RETRIEVERS:
            raise ValueError(f"retriever '{name}' is registered twice")
        RETRIEVERS[name] = cls
        return cls

    return decorate


def build_retriever(config: Any, **kwargs: Any) -> Retriever:
    """Build the retriever that ``config.type`` names.

    Raises:
        ClinragError: No retriever of that name.
    """
    import clinrag.retrieval.annotated  # noqa: F401  (registers)
    import clinrag.retrieval.bm25  # noqa: F401
    import clinrag.retrieval.dense  # noqa: F401
    import clinrag.retrieval.hybrid  # noqa: F401
    import clinrag.retrieval.temporal  # noqa: F401

    if config.type not in RETRIEVERS:
        raise ClinragError(f"unknown retriever '{config.type}' (known: {', '.join(sorted(RETRIEVERS))})")
    return RETRIEVERS[config.type](config, **kwargs)


def require_model_folder(path: str | Path, what: str) -> Path:
    """Check that ``path`` is a Hugging Face / sentence-transformers model folder.

    Raises:
        ClinragError: The folder is missing or holds no ``config.json`` / ``modules.json``.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ClinragError(f"{folder}: {what} folder not found")
    if not ((folder / "config.json").exists() or (folder / "modules.json").exists()):
        raise ClinragError(f"{folder}: not a model folder (no config.json or modules.json) for the {what}")
    return folder
