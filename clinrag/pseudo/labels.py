"""The identifier labels of eds-pseudo and the :class:`Span` every detector returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from clinrag.data.cohort import PHI_LABELS

#: The 13 eds-pseudo labels, as in phi.jsonl (Contract 1 of DESIGN.md): one definition for the whole package.
LABELS: tuple[str, ...] = PHI_LABELS

#: Which label wins when two detections cover exactly the same characters (first wins). Labels that a detector
#: can only give with a context word ("IPP :", "né le") come before the pattern-only ones they refine.
LABEL_PRIORITY: tuple[str, ...] = (
    "MAIL",
    "SECU",
    "IPP",
    "NDA",
    "TEL",
    "DATE_NAISSANCE",
    "DATE",
    "ADRESSE",
    "ZIP",
    "HOPITAL",
    "VILLE",
    "NOM",
    "PRENOM",
)


@dataclass(frozen=True, order=True)
class Span:
    """One personal identifier found in a text.

    Attributes:
        start: Offset of the first character (0-based).
        end: Offset after the last character (exclusive, as in phi.jsonl).
        label: One of :data:`LABELS`.
        text: ``document_text[start:end]``.
        source: Which detector found it (``"rules"``, ``"model"`` for the trained NER model).
    """

    start: int
    end: int
    label: str
    text: str
    source: str = "rules"

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown identifier label '{self.label}' (expected one of {', '.join(LABELS)})")
        if not 0 <= self.start < self.end:
            raise ValueError(f"invalid span offsets {self.start}..{self.end}")
        if len(self.text) != self.end - self.start:
            raise ValueError(f"span text '{self.text}' does not have length {self.end - self.start}")

    @classmethod
    def of(cls, text: str, start: int, end: int, label: str, source: str = "rules") -> Span:
        """The span of ``text[start:end]``, its text taken from the document."""
        return cls(start, end, label, text[start:end], source)

    def overlaps(self, other: Span) -> bool:
        """Whether the two spans share at least one character."""
        return self.start < other.end and other.start < self.end

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record (``start``, ``end``, ``label``, ``text``, ``source``)."""
        return asdict(self)
