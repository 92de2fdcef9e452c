"""clinrag: fill clinical registry tables from French hospital documents, every value with its evidence.

The Python API (docs/api.md; every name is imported on first use, so ``import clinrag`` stays fast)::

    import clinrag

    cohort = clinrag.write_synthetic_cohort("cohort", 30, seed=5)     # or clinrag.load_cohort("my_cohort")
    config = clinrag.load_experiment("configs/default.yaml", ["retrieval.k=3"])
    result = clinrag.run_experiment(config, "runs/demo", cohort_dir="cohort")
    print(result.metrics["overall"]["accuracy"])
    cell = clinrag.explain_cell("runs/demo", "P00006", "nihss_admission")

Cohorts: :func:`load_cohort`, :func:`write_synthetic_cohort`, :class:`Cohort`. Experiments:
:func:`load_experiment`, :class:`ExperimentConfig`, :func:`run_experiment`, :class:`RunResult`. Applying a run
and reading it: :func:`fill_table`, :func:`explain_cell`, :class:`CellExplanation`, :func:`evaluate_table`.
Output: :func:`quiet` (no progress bars, clinrag's or its libraries'). Errors a user can fix:
:class:`ClinragError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first access, see __getattr__)
_EXPORTS = {
    "CellExplanation": "clinrag.experiment.explain",
    "ClinragError": "clinrag.errors",
    "Cohort": "clinrag.data.cohort",
    "ExperimentConfig": "clinrag.experiment.config",
    "RunResult": "clinrag.experiment.runner",
    "evaluate_table": "clinrag.evaluation",
    "explain_cell": "clinrag.experiment.explain",
    "fill_table": "clinrag.experiment.fill",
    "load_cohort": "clinrag.data.validate",
    "load_experiment": "clinrag.experiment.config",
    "quiet": "clinrag.progress",
    "run_experiment": "clinrag.experiment.runner",
    "write_synthetic_cohort": "clinrag.synth",
}

__all__ = [
    "CellExplanation",
    "ClinragError",
    "Cohort",
    "ExperimentConfig",
    "RunResult",
    "evaluate_table",
    "explain_cell",
    "fill_table",
    "load_cohort",
    "load_experiment",
    "quiet",
    "run_experiment",
    "write_synthetic_cohort",
]

if TYPE_CHECKING:  # for type checkers and editors; at run time, __getattr__ imports on demand
    from clinrag.data.cohort import Cohort
    from clinrag.data.validate import load_cohort
    from clinrag.errors import ClinragError
    from clinrag.evaluation import evaluate_table
    from clinrag.experiment.config import ExperimentConfig, load_experiment
    from clinrag.experiment.explain import CellExplanation, explain_cell
    from clinrag.experiment.fill import fill_table
    from clinrag.experiment.runner import RunResult, run_experiment
    from clinrag.progress import quiet
    from clinrag.synth import write_synthetic_cohort


def __getattr__(name: str) -> Any:
    """Import a public name of :data:`__all__` from its module on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'clinrag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
