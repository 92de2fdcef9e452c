"""``clinrag grid``: every combination of config axes as a run, sharing one cache, then a results table.

``--axis retriever.type=bm25,dense,temporal --axis retrieval.k=3,5`` runs the 6 combinations into
``GRID/runs/<combination>/`` (each a Contract 3 run folder; a combination already done is reused, a killed grid
resumes), then writes ``results.md``, ``results.csv``, ``results.tex``, ``summary.json`` and ``results.png``
(:mod:`clinrag.experiment.summary`: accuracy with 95% intervals, paired bootstrap against the reference).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from clinrag.errors import ClinragError
from clinrag.experiment.config import load_experiment
from clinrag.experiment.runner import _log_stderr, run_experiment


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """``key=v1,v2,...`` -> (key, values parsed as YAML scalars).

    Raises:
        ClinragError: No ``=``, an empty key or no value.
    """
    if "=" not in text:
        raise ClinragError(f"--axis '{text}': expected key=value1,value2 (e.g. retrieval.k=3,5)")
    key, raw = text.split("=", 1)
    key = key.strip()
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if not key or not values:
        raise ClinragError(f"--axis '{text}': expected key=value1,value2 (e.g. retrieval.k=3,5)")
    parsed = []
    for value in values:
        try:
            parsed.append(yaml.safe_load(value))
        except yaml.YAMLError:
            parsed.append(value)
    return key, parsed


def combination_label(axes: dict[str, Any]) -> str:
    """``retriever.type=bm25 retrieval.k=3``."""
    return " ".join(f"{k}={_text(v)}" for k, v in axes.items())


def combination_slug(axes: dict[str, Any]) -> str:
    """A folder name for a combination: ``retriever.type-bm25__retrieval.k-3``."""
    slug = "__".join(f"{k}-{_text(v)}" for k, v in axes.items())
    return re.sub(r"[^A-Za-z0-9._-]+", "_", slug)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def run_grid(
    config_file: str | Path | None,
    axes: list[str],
    out: str | Path,
    overrides: list[str] | None = None,
    cohort_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    reference: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = _log_stderr,
) -> dict[str, Any]:
    """Run every combination of ``axes`` (each ``key=v1,v2``) and summarize them.

    Args:
        config_file: The base experiment YAML (None: defaults).
        axes: The axes, in order; the first varies slowest.
        out: The grid folder.
        overrides: Dotted overrides applied to the base config before each combination's values.
        cohort_dir: The cohort folder (else the config's).
        cache_dir: The shared cache (default: clinrag's).
        reference: The label of the reference combination (default: the first).
        progress: Progress bars.
        log: Where stage lines go.

    Returns:
        The summary (see :func:`clinrag.experiment.summary.summarize_grid`).

    Raises:
        ClinragError: A bad axis, a repeated axis, an unknown reference, or any run's error.
    """
    from clinrag.data.validate import load_cohort
    from clinrag.experiment.summary import GridRun, plot_grid, summarize_grid, write_grid_tables

    parsed = [parse_axis(a) for a in axes]
    if not parsed:
        raise ClinragError("grid: give at least one --axis key=value1,value2")
    keys = [k for k, _ in parsed]
    if len(set(keys)) != len(keys):
        raise ClinragError(f"grid: an axis is given twice ({', '.join(keys)})")
    out = Path(out)
    combinations = [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*(v for _, v in parsed))
    ]
    labels = [combination_label(c) for c in combinations]
    if reference is not None and reference not in labels:
        raise ClinragError(f"--reference '{reference}': not a combination (one of: {'; '.join(labels)})")
    # validate every combination before running any: a typo in the last value should not cost an hour
    configs = [
        load_experiment(config_file, [*(overrides or []), *(f"{k}={_text(v)}" for k, v in c.items())])
        for c in combinations
    ]
    # and every input and model folder (merge recipes: keys, methods, architectures, vocabularies; no weight is read)
    for config in configs:
        config.check_inputs(cohort_dir)
    runs = []
    cohort_path = None
    for number, (combination, label, config) in enumerate(zip(combinations, labels, configs, strict=True), 1):
        log(f"[grid {number}/{len(combinations)}] {label}")
        run_dir = out / "runs" / combination_slug(combination)
        result = run_experiment(config, run_dir, cohort_dir, cache_dir, progress, log)
        runs.append(GridRun(label, combination, result.run_dir))
        cohort_path = cohort_path or _cohort_of(result.run_dir)
    cohort = load_cohort(cohort_path)
    split = configs[0].evaluation.split
    from clinrag.evaluation import BootstrapSpec

    spec = BootstrapSpec(configs[0].evaluation.bootstrap, seed=configs[0].evaluation.seed)
    summary = summarize_grid(cohort, runs, split, reference, spec, configs[0].variables)
    for warning in summary.get("warnings", []):
        log(f"[grid] warning: {warning}")
    write_grid_tables(summary, out)
    plot_grid(summary, out / "results.png")
    return summary


def _cohort_of(run_dir: Path) -> Path:
    import json

    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    return Path(manifest["cohort"]["path"])
