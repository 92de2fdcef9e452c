"""Evaluation: table metrics by type with bootstrap intervals, and their display."""

from __future__ import annotations

from clinrag.evaluation.metrics import BootstrapSpec, evaluate_table

__all__ = ["BootstrapSpec", "evaluate_table"]
