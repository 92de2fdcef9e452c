"""The cohort format: typed model, reading with validation, and value semantics by type."""

from __future__ import annotations

from clinrag.data.cohort import Cohort, Document, EvidenceSpan, PhiSpan, save_cohort
from clinrag.data.validate import load_cohort, read_cohort
from clinrag.data.variables import Variable

__all__ = [
    "Cohort",
    "Document",
    "EvidenceSpan",
    "PhiSpan",
    "Variable",
    "load_cohort",
    "read_cohort",
    "save_cohort",
]
