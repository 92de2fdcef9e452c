"""Reference predictors that every learned pipeline must beat."""

from __future__ import annotations

from clinrag.baselines.majority import MajorityBaseline

__all__ = ["MajorityBaseline"]
