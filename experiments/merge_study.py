"""Merge study: two LoRA specialists of the embedded decoder, merged with each method, scored like any ablation.

1. Two specialists are LoRA-tuned (``configs/default.yaml``'s reader settings, ``--max-pairs`` pairs each) on the
   train split, on disjoint groups of variables: ``numbers`` (integers, numbers, dates: age, scores, glycemia, LDL,
   the stroke's date) and ``choices`` (booleans and categories). Both use one temporal retriever (shared cache).
2. Merge recipes (mergekit YAML, written to ``OUT/recipes/``) over ``embedded:smollm2-135m-instruct+ADAPTER``:
   each specialist alone (its adapter merged into the base), the linear soup, task arithmetic, TIES, DARE-TIES
   and DARE-linear at a few weights and densities (DARE with ``random_seed: 0``).
3. ``clinrag grid`` machinery (:func:`clinrag.experiment.grid.run_grid`) with ``training.reader=none`` and one axis,
   ``merge=null,RECIPE,...``: every model reads the whole test split (all variables) through ``clinrag run``'s
   stages; the base (``merge=null``, zero-shot) is the first row. Accuracy with 95% bootstrap intervals over
   patients, paired differences against the linear soup, and the accuracy on each group of variables.

Writes ``OUT/study.json`` and ``OUT/study.md`` (the table for the README). Resumable: every stage is cached
(``--cache``), a killed study started again continues where it stopped.

Usage: .venv/bin/python experiments/merge_study.py [--cohort runs/main/cohort] [--out runs/merge_study]
       [--cache runs/merge_study/cache] [--max-pairs 240] [--config configs/default.yaml]
       [--only base,specialists,...] (method names to keep, for a shorter study)
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import yaml

from clinrag.data.validate import load_cohort, read_predictions
from clinrag.evaluation import BootstrapSpec, evaluate_table
from clinrag.experiment.config import load_experiment
from clinrag.experiment.grid import combination_label, run_grid
from clinrag.experiment.runner import Run
from clinrag.experiment.stages import CohortStage, ReaderStage, RetrievalStage
from clinrag.io import atomic_write_json, atomic_write_text
from clinrag.merging import folder_sha256
from clinrag.synth import write_synthetic_cohort

BASE = "embedded:smollm2-135m-instruct"
NUMBER_TYPES = {"integer", "number", "date"}


def train_specialist(
    config_file: Path, cohort_dir: Path, cache: Path, out: Path, group: list[str], pairs: int
):
    """LoRA-tune the reader on one group of variables (train split), through the runner's cached stages.

    Returns:
        The adapter folder (in the cache) and the seconds the tuning took (0 when it came from the cache).
    """
    config = load_experiment(
        config_file, [f"variables={json.dumps(group)}", f"reader.lora.max_pairs={pairs}"]
    )
    run = Run(config, out, cohort_dir, cache, progress=False)
    for stage in (CohortStage(), RetrievalStage(), ReaderStage()):
        stage.execute(run)
    stage = next(s for s in run.stages if s["stage"] == "reader")
    return run.trained["adapter"], stage["seconds"], stage["cached"]


def recipes(numbers: Path, choices: Path) -> dict[str, tuple[str, dict]]:
    """name -> (what it is, recipe mapping)."""
    a, b = f"{BASE}+{numbers}", f"{BASE}+{choices}"

    def pair(method: str, weight: float, density: float | None = None, **extra) -> dict:
        parameters = {"weight": weight} if density is None else {"weight": weight, "density": density}
        return {
            "merge_method": method,
            "base_model": BASE,
            "models": [{"model": a, "parameters": parameters}, {"model": b, "parameters": dict(parameters)}],
            "dtype": "float32",
            **extra,
        }

    return {
        "specialist_numbers": (
            "specialist: numbers (its adapter merged)",
            {
                "merge_method": "linear",
                "models": [{"model": a, "parameters": {"weight": 1.0}}],
                "dtype": "float32",
            },
        ),
        "specialist_choices": (
            "specialist: booleans and categories",
            {
                "merge_method": "linear",
                "models": [{"model": b, "parameters": {"weight": 1.0}}],
                "dtype": "float32",
            },
        ),
        "linear": (
            "linear soup, weights 0.5 / 0.5",
            {
                "merge_method": "linear",
                "models": [
                    {"model": a, "parameters": {"weight": 0.5}},
                    {"model": b, "parameters": {"weight": 0.5}},
                ],
                "dtype": "float32",
            },
        ),
        "task_arithmetic_1.0": ("task arithmetic, weights 1.0 / 1.0", pair("task_arithmetic", 1.0)),
        "task_arithmetic_0.7": ("task arithmetic, weights 0.7 / 0.7", pair("task_arithmetic", 0.7)),
        "ties_0.5": ("TIES, density 0.5, weights 1.0", pair("ties", 1.0, 0.5)),
        "ties_0.2": ("TIES, density 0.2, weights 1.0", pair("ties", 1.0, 0.2)),
        "dare_ties_0.5": (
            "DARE-TIES, density 0.5, weights 1.0, seed 0",
            pair("dare_ties", 1.0, 0.5, random_seed=0),
        ),
        "dare_linear_0.5": (
            "DARE-linear, density 0.5, weights 1.0, seed 0",
            pair("dare_linear", 1.0, 0.5, random_seed=0),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, default=Path("runs/main/cohort"))
    parser.add_argument("--out", type=Path, default=Path("runs/merge_study"))
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument("--max-pairs", type=int, default=240)
    parser.add_argument(
        "--only", help="comma-separated recipe names to evaluate (default: all), plus the base"
    )
    args = parser.parse_args()
    out = args.out
    cache = args.cache or out / "cache"
    started = time.time()
    cohort_dir = args.cohort
    if not (cohort_dir / "documents.jsonl").is_file():  # the main job's cohort: 100 patients, seed 2026
        cohort_dir = out / "cohort"
        if not (cohort_dir / "documents.jsonl").is_file():
            write_synthetic_cohort(cohort_dir, 100, seed=2026, overwrite=True)
    cohort = load_cohort(cohort_dir)
    columns = cohort.table_columns
    groups = {
        "numbers": [n for n in columns if cohort.variable(n).type in NUMBER_TYPES],
        "choices": [n for n in columns if cohort.variable(n).type not in NUMBER_TYPES],
    }
    study: dict = {
        "cohort": str(cohort_dir),
        "max_pairs": args.max_pairs,
        "groups": groups,
        "specialists": {},
    }
    adapters = {}
    for name, group in groups.items():
        adapter, seconds, cached = train_specialist(
            args.config, cohort_dir, cache, out / "specialists" / name, group, args.max_pairs
        )
        # a readable copy beside the study (recipes name it; the merge's cache key hashes content, not paths)
        copy = out / "specialists" / name / "adapter"
        if not copy.is_dir() or folder_sha256(copy) != folder_sha256(adapter):
            partial = copy.with_name("adapter.partial")
            for stale in (partial, copy):
                if stale.exists():
                    shutil.rmtree(stale)
            shutil.copytree(adapter, partial, ignore=shutil.ignore_patterns(".complete"))
            partial.rename(copy)
        adapters[name] = copy
        study["specialists"][name] = {"adapter": str(copy), "seconds": seconds, "cached": cached}
    recipe_dir = out / "recipes"
    recipe_dir.mkdir(parents=True, exist_ok=True)
    chosen = recipes(adapters["numbers"], adapters["choices"])
    if args.only:
        keep = set(args.only.split(","))
        chosen = {k: v for k, v in chosen.items() if k in keep}
    files = {}
    for name, (_, recipe) in chosen.items():
        files[name] = recipe_dir / f"{name}.yaml"
        atomic_write_text(files[name], yaml.safe_dump(recipe, sort_keys=False))
    axis = "merge=" + ",".join(["null", *(str(files[n]) for n in chosen)])
    reference_name = "linear" if "linear" in files else next(iter(files))
    reference = combination_label({"merge": str(files[reference_name])})
    summary = run_grid(
        args.config,
        [axis],
        out / "grid",
        ["training.reader=none"],
        cohort_dir,
        cache,
        reference,
        progress=False,
    )
    spec = BootstrapSpec(1000)
    names = {combination_label({"merge": None}): ("base", "base, zero-shot (no merge)")}
    names.update({combination_label({"merge": str(files[n])}): (n, chosen[n][0]) for n in chosen})
    rows = []
    for row in summary["rows"]:
        name, description = names[row["label"]]
        predictions, _ = read_predictions(Path(row["run_dir"]) / "predictions.csv", cohort)
        by_group = {}
        for group, variables in groups.items():
            metrics = evaluate_table(cohort, predictions, "test", spec, variables)
            by_group[group] = {
                "accuracy": metrics["overall"]["accuracy"],
                "accuracy_ci": metrics["overall"]["accuracy_ci"],
            }
        manifest = json.loads((Path(row["run_dir"]) / "manifest.json").read_text(encoding="utf-8"))
        merge_stage = next((s for s in manifest["stages"] if s["stage"] == "merge"), None)
        rows.append(
            {
                "name": name,
                "description": description,
                "accuracy": row["accuracy"],
                "accuracy_ci": row["accuracy_ci"],
                "diff": row["diff"],
                "diff_ci": row["diff_ci"],
                "p_value": row["p_value"],
                "groups": by_group,
                "run_dir": row["run_dir"],
                "merge_seconds": merge_stage["seconds"] if merge_stage else None,
            }
        )
    study["reference"] = reference_name
    study["rows"] = rows
    study["seconds"] = round(time.time() - started, 1)
    atomic_write_json(out / "study.json", study)
    atomic_write_text(out / "study.md", render(study))
    print(render(study))


def render(study: dict) -> str:
    """The study's Markdown table."""

    def ci(value, interval, signed=False):
        sign = "+" if signed else ""
        return f"{value:{sign}.3f} [{interval[0]:{sign}.3f}, {interval[1]:{sign}.3f}]"

    groups = study["groups"]
    header = (
        f"| model | accuracy, all {sum(map(len, groups.values()))} variables [95% CI] | Δ vs linear soup [95% CI] | p | "
        f"numbers ({len(groups['numbers'])} variables) | booleans, categories ({len(groups['choices'])}) |"
    )
    lines = [header, "|---|---|---|---:|---|---|"]
    for row in study["rows"]:
        diff = "(reference)" if row["diff"] is None else ci(row["diff"], row["diff_ci"], signed=True)
        p = (
            "—"
            if row["p_value"] is None
            else ("< 0.001" if row["p_value"] < 0.001 else f"{row['p_value']:.3f}")
        )
        cells = [
            row["description"],
            ci(row["accuracy"], row["accuracy_ci"]),
            diff,
            p,
            ci(row["groups"]["numbers"]["accuracy"], row["groups"]["numbers"]["accuracy_ci"]),
            ci(row["groups"]["choices"]["accuracy"], row["groups"]["choices"]["accuracy_ci"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
