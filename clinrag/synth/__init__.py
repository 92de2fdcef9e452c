"""Synthetic French longitudinal stroke cohorts with gold table, evidence and identifiers."""

from __future__ import annotations

from clinrag.synth.folder import write_synthetic_cohort
from clinrag.synth.generator import synthesize_cohort, synthetic_variables

__all__ = ["synthesize_cohort", "synthetic_variables", "write_synthetic_cohort"]
