"""The reader protocol and the registry that builds readers by name (``reader.type``).

A reader writes each (patient, variable) cell from its evidence: the passages retrieved for the cell
(:class:`CellRequest`), or, for a reader that reads whole records (``needs_retrieval = False``), the patient's
documents. It returns one :class:`CellResult` per request, in order. A new reader is one class registered with
:func:`register_reader` and its config class (a :class:`~clinrag.generation.config.ReaderConfig`, or a subclass
that adds the reader's own settings); ``clinrag run``, ``fill`` and ``extract`` then build it from
``reader.type``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.registry import Registry
from clinrag.text.passages import Passage, PassageStore


@dataclass
class CellRequest:
    """One cell to fill: a patient, a variable and the passages retrieved for it (best first)."""

    patient_id: str
    variable: Variable
    passages: list[Passage]
    candidates: list[Passage] | None = None
    """Passages the candidate model reads (``reader.values: candidates``; more than the decoder's ``k``, best
    first); None: ``passages``."""
    deceased: bool = False
    """Whether the patient's record reports their death (:meth:`~clinrag.text.passages.PassageStore.deceased`):
    the value model's fallback for the cell depends on it (a Rankin of 6, a follow-up never held)."""

    @classmethod
    def retrieved(
        cls, store: PassageStore, patient_id: str, variable: Variable, found: list[Passage], k: int
    ):
        """The cell with the passages retrieved for it, best first: the top ``k`` for the decoder, all of them
        for the candidate model, and whether the patient's record reports their death."""
        return cls(patient_id, variable, found[:k], found, patient_id in store.deceased())


@dataclass
class CellResult:
    """A filled cell with its provenance.

    Attributes:
        patient_id: The patient.
        variable: The variable's name.
        cell: Canonical value, "" when not documented (or when the answer failed to parse).
        raw: What the decoder wrote.
        failed: Why the answer could not be used (None when it could).
        score: Probability of the answer (among the options, or mean token probability when generated).
        support: The passage that supports the value (None when not documented).
        tokens: Prompt tokens the decoder read for this cell.
        seconds: Wall time spent on this cell.
    """

    patient_id: str
    variable: str
    cell: str
    raw: str
    failed: str | None
    score: float
    support: Passage | None
    tokens: int
    seconds: float
    extra: dict = field(default_factory=dict)


@dataclass
class Learned:
    """What a run learned from the train split's table without the decoder (:mod:`clinrag.generation.priors`,
    :mod:`clinrag.generation.candidates`), lent to the reader before it reads (:meth:`Reader.attach`)."""

    priors: dict = field(default_factory=dict)
    boolean_model: Any = None
    value_model: Any = None


@runtime_checkable
class Reader(Protocol):
    """Writes each requested cell's value, or "" (not documented), with its provenance."""

    needs_retrieval: ClassVar[bool]
    """True: each request carries the cell's retrieved passages; False: the reader reads the patient's whole
    record from the attached cohort (requests carry no passages, and a run reads whole patients per chunk)."""

    learns_from_table: ClassVar[bool]
    """Whether the reader uses what a run learns from the train split's table (:class:`Learned`, the LoRA
    adapters): a run learns it only for such a reader."""

    def attach(self, cohort: Cohort, learned: Learned) -> None:
        """The cohort whose cells are requested, and what the run learned from its train split."""

    def read(self, requests: list[CellRequest], progress: bool = False) -> list[CellResult]:
        """One result per request, in order."""


READERS = Registry(
    "reader",
    ("clinrag.generation.reader", "clinrag.generation.server", "clinrag.generation.segment"),
    default="llm",
)
"""Registered reader classes and their config classes, by name (``reader.type``)."""


def register_reader(name: str, config: type[BaseModel] | None = None) -> Callable[[type], type]:
    """Class decorator: make a reader buildable from a ``reader`` section whose ``type`` is ``name``, validated
    by ``config`` (default :class:`~clinrag.generation.config.ReaderConfig`; a subclass adds settings)."""
    from clinrag.generation.config import ReaderConfig

    chosen = config or ReaderConfig
    if not issubclass(chosen, ReaderConfig):
        raise TypeError(f"reader '{name}': its config class must extend ReaderConfig")
    return READERS.register(name, chosen)


def reader_class(name: str) -> type:
    """The class registered as ``name``.

    Raises:
        ClinragError: No reader of that name.
    """
    return READERS.get(name)


def validate_reader_config(data: Any) -> BaseModel:
    """A ``reader`` section validated by the config class its ``type`` names (default ``llm``)."""
    return READERS.validate(data)


def build_reader(config: Any, decoder: Any = None) -> Reader:
    """The reader ``config.type`` names, reading with ``decoder`` (default: the one ``config.model`` names)."""
    return reader_class(config.type)(config, decoder)
