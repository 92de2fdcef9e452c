"""A synthetic cohort written as a cohort folder (the files ``clinrag validate`` reads)."""

from __future__ import annotations

from pathlib import Path

from clinrag.data.cohort import Cohort, save_cohort
from clinrag.errors import ClinragError
from clinrag.io import atomic_folder
from clinrag.synth.generator import synthesize_cohort


def write_synthetic_cohort(
    out: str | Path, n_patients: int, seed: int = 0, overwrite: bool = False
) -> Cohort:
    """Generate a cohort and write it to ``out`` (into a temporary sibling first, then renamed into place).

    Args:
        out: The cohort folder to write.
        n_patients: Number of patients (see :func:`~clinrag.synth.generator.synthesize_cohort`).
        seed: Random seed; the same seed gives the same files, byte for byte.
        overwrite: Replace ``out`` when it exists and is not empty.

    Returns:
        The cohort, its ``root`` set to ``out``.

    Raises:
        ClinragError: ``out`` exists and is not empty, and ``overwrite`` is False.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ClinragError(f"{out}: exists and is not empty (use --overwrite to replace it)")
    cohort = synthesize_cohort(n_patients, seed)
    with atomic_folder(out, replace=overwrite) as staging:
        save_cohort(cohort, staging)
    cohort.root = out
    return cohort
