"""Outcome study: predict poor 3-month outcome (mRS >= 3) from known and from filled admission variables.

An L2 logistic regression is fitted on the train split's known table and evaluated on the test patients' known
outcome twice: with their known admission variables, then with the filled table's (a run's predictions.csv or
`clinrag fill` output). When the filled table also covers the train patients, a second model is fitted on the
filled table alone. AUC, Brier score and accuracy at 0.5 come with 95% bootstrap intervals over test patients,
and the AUC differences with a paired bootstrap. The logic lives in clinrag.evaluation.outcome.

Prints a Markdown table and writes outcome.json and outcome.md to --out. Exit 2 with a one-line reason on bad
input (missing file, cohort without table, outcome variable absent, filled table lacking test patients).

Usage: .venv/bin/python experiments/outcome.py --cohort DIR --filled FILE [--split test] [--out runs/outcome]
       [--seed 0] [--bootstrap 1000] [--features age,nihss_admission,...] [--outcome mrs_3_mois] [--threshold 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clinrag.data.validate import load_cohort, read_predictions
from clinrag.errors import ClinragError
from clinrag.evaluation.metrics import BootstrapSpec
from clinrag.evaluation.outcome import DEFAULT_FEATURES, OutcomeSpec, evaluate_outcome, outcome_markdown
from clinrag.io import atomic_write_json, atomic_write_text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cohort", type=Path, required=True, help="cohort directory with table.csv and splits"
    )
    parser.add_argument(
        "--filled",
        type=Path,
        required=True,
        help="filled table (table.csv's shape) covering the test patients",
    )
    parser.add_argument("--split", choices=("test", "dev"), default="test", help="evaluated patients")
    parser.add_argument("--out", type=Path, default=Path("runs/outcome"), help="folder for outcome.json/.md")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the model fit")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of test patients")
    parser.add_argument(
        "--features",
        default=",".join(DEFAULT_FEATURES),
        help="comma-separated admission variables (those absent from the cohort are skipped)",
    )
    parser.add_argument("--outcome", default="mrs_3_mois", help="outcome variable (an integer score)")
    parser.add_argument("--threshold", type=int, default=3, help="poor outcome is outcome >= threshold")
    args = parser.parse_args(argv)
    if args.bootstrap < 10:
        parser.error("--bootstrap: at least 10 resamples")
    return args


def run(args: argparse.Namespace) -> dict:
    """Load the inputs, run the study, print and write its results.

    Raises:
        ClinragError: Bad input (the message is one line naming the file or setting at fault).
    """
    cohort = load_cohort(args.cohort)
    if cohort.table is None:
        raise ClinragError(f"{args.cohort}/table.csv: missing; the outcome model needs known values")
    filled, issues = read_predictions(args.filled, cohort)
    if issues:
        print(
            f"warning: {len(issues)} issue(s) in {args.filled}, e.g. {issues[0]} "
            "(an unparsable cell is read as missing)",
            file=sys.stderr,
        )
    features = tuple(name.strip() for name in args.features.split(",") if name.strip())
    spec = OutcomeSpec(outcome=args.outcome, threshold=args.threshold, features=features, seed=args.seed)
    result = evaluate_outcome(
        cohort, filled, split=args.split, spec=spec, bootstrap=BootstrapSpec(args.bootstrap, seed=args.seed)
    )
    result["inputs"] = {"cohort": str(args.cohort), "filled": str(args.filled)}
    markdown = outcome_markdown(result)
    print(markdown, end="")
    atomic_write_json(args.out / "outcome.json", result)
    atomic_write_text(args.out / "outcome.md", markdown)
    print(f"\nwritten: {args.out / 'outcome.json'}, {args.out / 'outcome.md'}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with a one-line reason on stderr for bad input."""
    args = parse_args(argv)
    try:
        run(args)
    except ClinragError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
