"""A first tour of clinrag's Python API (docs/api.md): synthesize a tiny cohort, run the default experiment on it
with a small override, then print the metrics and why one cell has its value.

    .venv/bin/python examples/api_quickstart.py [--out DIR] [--patients N] [--seed S] [-q]

On a laptop CPU it takes a minute or two (the BM25 override spares training the temporal retriever). It writes
DIR/cohort (the synthetic cohort) and DIR/run (the run folder, Contract 3); run again, it resumes from the stage
cache. The last lines quote a document of the synthetic cohort: patient text, invented here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import clinrag

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "default.yaml"
OVERRIDES = ["retriever.type=bm25"]  # nothing to train before retrieving: the quickest run


def synthesize(folder: Path, patients: int = 20, seed: int = 5) -> Path:
    """Write a synthetic cohort (documents, table, splits, gold evidence) to ``folder`` (replaced if there)."""
    clinrag.write_synthetic_cohort(folder, patients, seed=seed, overwrite=True)
    return folder


def run(
    cohort_dir: Path,
    run_dir: Path,
    overrides: list[str] = OVERRIDES,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> clinrag.RunResult:
    """Run the default experiment (configs/default.yaml, else the built-in defaults) with ``overrides`` on the
    cohort: train on its train split, fill and score its test split, write the run folder (each stage logs one
    line on stderr)."""
    config = clinrag.load_experiment(DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None, overrides)
    return clinrag.run_experiment(config, run_dir, cohort_dir, cache_dir, progress=progress)


def metrics_lines(result: clinrag.RunResult) -> list[str]:
    """The overall accuracy with its 95% interval, then each variable's accuracy."""
    metrics = result.metrics
    overall = metrics["overall"]
    low, high = overall["accuracy_ci"]
    lines = [
        f"accuracy {overall['accuracy']:.3f} [{low:.3f}, {high:.3f}] on {overall['n']} {metrics['split']} cells"
    ]
    for name, variable in metrics["variables"].items():
        lines.append(f"  {name:<28} {variable['accuracy']:.3f}  (n={variable['n']})")
    return lines


def documented_cell(run_dir: Path) -> tuple[str, str]:
    """The (patient, variable) of the first cell of provenance.jsonl that a passage supports."""
    with (run_dir / "provenance.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["doc_id"] is not None:
                return record["patient_id"], record["variable"]
    raise LookupError(f"{run_dir}: no documented cell")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/api_quickstart"), help="Output folder.")
    parser.add_argument("--patients", type=int, default=20, help="Patients of the synthetic cohort.")
    parser.add_argument("--seed", type=int, default=5, help="Seed of the synthetic cohort.")
    parser.add_argument("-q", "--quiet", action="store_true", help="No progress bars.")
    args = parser.parse_args(argv)

    with clinrag.quiet(args.quiet):
        cohort_dir = synthesize(args.out / "cohort", args.patients, args.seed)
        result = run(cohort_dir, args.out / "run", progress=not args.quiet)
        print("\n".join(metrics_lines(result)))
        patient, variable = documented_cell(result.run_dir)
        explanation = clinrag.explain_cell(result.run_dir, patient, variable)
    print()
    print("\n".join(explanation.lines()))


if __name__ == "__main__":
    main()
