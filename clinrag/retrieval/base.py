"""The retriever protocol, the registry that builds retrievers by name, and queries from variable specs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.registry import Registry
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
# Registry: a retriever is one class registered under a name with its config class. The class does the
# searching (``index``, ``scores``) and, through the classmethods of :class:`RetrieverBase`, the rest of its life:
# getting ready inside a run (training into the run's cache, what its results depend on), taking a trained run's
# folders back, refusing to search untrained. Nothing outside this module walks retriever configs.
# ---------------------------------------------------------------------------------------------------------
RUNTIME_FIELDS = frozenset({"device", "batch_size"})
"""Retriever settings that change where and how fast, not what is computed (left out of identities)."""

RETRIEVERS = Registry(
    "retriever",
    tuple(f"clinrag.retrieval.{m}" for m in ("annotated", "bm25", "dense", "hybrid", "temporal")),
)
"""Registered retriever classes and their config classes, by name (the ``type`` of their config section)."""
DEFAULT_RETRIEVER = "temporal"
"""The ``type`` of a retriever section that names none, in every entry point (the mission's retriever)."""


class RetrieverContext(Protocol):
    """What a run lends a retriever section to get it ready (:meth:`RetrieverBase.prepare`)."""

    cohort: Cohort
    store: PassageStore
    training: Any
    """The run's ``training`` settings (``retriever``: train a temporal retriever; ``dense``: fine-tune)."""
    progress: bool

    def inputs(self) -> dict[str, Any]:
        """What every trained retriever depends on: the cohort's hash, the chunking."""

    def model_hash(self, role: str, spec: str) -> str:
        """The content hash of the model folder ``spec`` names (recorded in the manifest under ``role``)."""

    def build(self, stage: str, role: str, payload: dict, build: Callable[[Path], None], detail: str) -> Path:
        """A cached folder keyed on ``payload``, built by ``build(staging)`` when missing (logged as ``role``)."""

    def keep(self, name: str, folder: Path) -> None:
        """Copy a trained folder into the run's ``models/<name>`` (what ``clinrag fill`` reloads)."""


class RetrieverBase:
    """Defaults of a registered retriever's life besides searching. A composite retriever lists in ``children``
    the config fields that hold retriever sections (hybrid: first, second); the defaults recurse into them."""

    children: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def prepare(cls, config: Any, context: RetrieverContext, role: str) -> tuple[Any, dict[str, Any]]:
        """The section ready to search (trained folders filled in) and its identity: what its scores depend
        on, for cache keys and the manifest. Default: the settings (runtime ones left out) and the children's."""
        prepared = {f: prepare_retriever(getattr(config, f), context, f"{role}.{f}") for f in cls.children}
        identity = config.model_dump(exclude=RUNTIME_FIELDS | set(cls.children))
        identity.update({f: child_identity for f, (_, child_identity) in prepared.items()})
        return config.model_copy(update={f: section for f, (section, _) in prepared.items()}), identity

    @classmethod
    def from_run(cls, config: Any, models: Path, training: Any, role: str = "retriever") -> Any:
        """The section of a finished run with the run's trained folders (``models/``, see
        :func:`trained_folder`) filled in.

        Raises:
            ClinragError: A trained folder the section needs is missing.
        """
        return config.model_copy(
            update={
                f: retriever_from_run(getattr(config, f), models, training, f"{role}.{f}")
                for f in cls.children
            }
        )

    @classmethod
    def check_ready(cls, config: Any) -> None:
        """Raise a ClinragError when the section cannot search as it is (e.g. an untrained model)."""
        for f in cls.children:
            check_ready(getattr(config, f))

    @classmethod
    def check_models(cls, config: Any, role: str) -> None:
        """Raise a ClinragError, before any work and without loading anything, when a model folder the section
        names cannot be loaded (:func:`clinrag.models.check_model_reference`). Default: the children's."""
        for f in cls.children:
            check_models(getattr(config, f), f"{role}.{f}")


def register_retriever(name: str, config: type[BaseModel]) -> Callable[[type], type]:
    """Class decorator: make a retriever buildable from a config section whose ``type`` is ``name``, validated
    by ``config`` (a pydantic model with ``type: Literal[name]``)."""
    return RETRIEVERS.register(name, config)


def retriever_names() -> list[str]:
    """The registered retrievers' names."""
    return RETRIEVERS.names()


def retriever_class(name: str) -> type:
    """The class registered as ``name``.

    Raises:
        ClinragError: No retriever of that name.
    """
    return RETRIEVERS.get(name)


def validate_retriever_config(data: Any) -> BaseModel:
    """A retriever section validated by the config class its ``type`` names (how config files are read)."""
    return RETRIEVERS.validate(data)


def build_retriever(config: Any, **kwargs: Any) -> Retriever:
    """Build the retriever that ``config.type`` names.

    Raises:
        ClinragError: No retriever of that name.
    """
    return retriever_class(config.type)(config, **kwargs)


def prepare_retriever(config: Any, context: RetrieverContext, role: str = "retriever") -> tuple[Any, dict]:
    """:meth:`RetrieverBase.prepare` of the section's retriever."""
    return _life(config).prepare(config, context, role)


def retriever_from_run(config: Any, models: Path, training: Any, role: str = "retriever") -> Any:
    """:meth:`RetrieverBase.from_run` of the section's retriever."""
    return _life(config).from_run(config, models, training, role)


def trained_folder(role: str, kind: str) -> str:
    """The name, under a run's ``models/``, of the trained part of the retriever section at ``role``: ``kind``
    ("retriever", "encoder") for the top section, ``ROLE.KIND`` for a nested one ("retriever.first.retriever"),
    so that two trained parts of a hybrid never share a folder."""
    return kind if role == "retriever" else f"{role}.{kind}"


def run_folder(models: Path, role: str, kind: str, what: str) -> Path:
    """The trained folder of the section at ``role`` in a finished run's ``models/`` (a nested section of a run
    written before nested parts had their own folders: ``models/KIND``).

    Raises:
        ClinragError: The folder is missing.
    """
    for name in dict.fromkeys([trained_folder(role, kind), kind]):
        if (models / name).is_dir():
            return models / name
    raise ClinragError(f"{models.parent}: models/{trained_folder(role, kind)} is missing (the run's {what})")


def check_ready(config: Any) -> None:
    """:meth:`RetrieverBase.check_ready` of the section's retriever."""
    _life(config).check_ready(config)


def check_models(config: Any, role: str = "retriever") -> None:
    """:meth:`RetrieverBase.check_models` of the section's retriever (``role``: its dotted path, for messages)."""
    _life(config).check_models(config, role)


def walk_retrievers(config: Any, path: str = "retriever") -> Iterator[tuple[str, Any]]:
    """Every retriever section of ``config`` (itself, then its children), with its dotted path."""
    yield path, config
    for f in _life(config).children:
        yield from walk_retrievers(getattr(config, f), f"{path}.{f}")


def _life(config: Any) -> type[RetrieverBase]:
    cls = retriever_class(config.type)
    return cls if issubclass(cls, RetrieverBase) else RetrieverBase
