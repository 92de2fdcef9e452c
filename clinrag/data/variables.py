"""The registry variables of a cohort (``variables.yaml``): a typed spec per variable."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VariableType = Literal["integer", "number", "boolean", "category", "date", "text"]
VARIABLE_TYPES: tuple[str, ...] = ("integer", "number", "boolean", "category", "date", "text")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


class Variable(BaseModel):
    """One column of the registry table.

    Keys beyond the documented ones are kept, untouched, in ``metadata``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    """snake_case identifier, unique in the cohort; the table column's header."""
    type: VariableType
    """integer, number, boolean, category, date or text."""
    description: str
    """What the variable means, in French (it also seeds retrieval queries)."""
    values: list[str] | None = None
    """Allowed values of a category variable, in canonical spelling."""
    minimum: float | None = None
    """Smallest allowed value of an integer or number variable."""
    maximum: float | None = None
    """Largest allowed value of an integer or number variable."""
    unit: str | None = None
    """Unit the table stores a number in (e.g. ``mmol/L``); values written in it are accepted with or without it."""
    unit_conversions: dict[str, float] | None = None
    """Other units a value may be written in, each with the factor that converts it into ``unit``."""
    synonyms: dict[str, list[str]] | None = None
    """Other spellings of category values (or of ``true``/``false``), mapped from the canonical value."""
    timepoint: str | None = None
    """When the value is taken (free text, e.g. ``admission``, ``3 mois``)."""
    keywords: list[str] = Field(default_factory=list)
    """Terms that name the concept in documents (retrieval cues; weak supervision looks for the value next to them
    and, for a boolean, checks whether they are negated, hypothetical or about a relative)."""

    @property
    def metadata(self) -> dict[str, Any]:
        """Keys of variables.yaml that clinrag does not interpret, kept as given."""
        return dict(self.model_extra or {})

    @property
    def is_ordinal_score(self) -> bool:
        """Whether the variable is a bounded integer score (NIHSS, mRS...), scored with MAE and within-1 accuracy."""
        return self.type == "integer"


# Keys of variables.yaml with a meaning for clinrag, and the types for which each makes sense.
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "values": ("category",),
    "minimum": ("integer", "number"),
    "maximum": ("integer", "number"),
    "unit": ("integer", "number"),
    "unit_conversions": ("number",),
    "synonyms": ("category", "boolean"),
}
