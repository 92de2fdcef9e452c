"""The table of docs/generalization.md from run and fill folders: accuracy with its 95% interval, the majority
baseline, evidence recall@1/@5, and abstention precision/recall ("non documenté" against the empty gold cells).

Usage: .venv/bin/python experiments/generalization_table.py NAME=FOLDER:COHORT_DIR [...]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def abstention(folder: Path, cohort: Path) -> tuple[float | None, float | None, int]:
    with (cohort / "table.csv").open(encoding="utf-8", newline="") as handle:
        gold = {row["patient_id"]: row for row in csv.DictReader(handle)}
    with (folder / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        predicted = list(csv.DictReader(handle))
    both = said = empty = 0
    for row in predicted:
        for column, cell in row.items():
            if column == "patient_id" or column not in gold[row["patient_id"]]:
                continue
            truth = gold[row["patient_id"]][column] == ""
            said += cell == ""
            empty += truth
            both += truth and cell == ""
    return (both / said if said else None), (both / empty if empty else None), empty


def main() -> None:
    print(
        "| source | accuracy [95% CI] | cells | majority | recall@1 | recall@5 | abstention P / R (empty cells) |"
    )
    print("|---|---|---|---|---|---|---|")
    for spec in sys.argv[1:]:
        name, rest = spec.split("=", 1)
        folder, cohort = (Path(p) for p in rest.split(":", 1))
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        overall = metrics["overall"]
        low, high = overall["accuracy_ci"]
        majority = metrics.get("baselines", {}).get("majority", {}).get("accuracy")
        retrieval = metrics.get("retrieval", {}).get("overall", {})
        precision, recall, empty = abstention(folder, cohort)

        def f(x):
            return "—" if x is None else f"{x:.3f}"

        print(
            f"| {name} | {overall['accuracy']:.3f} [{low:.3f}, {high:.3f}] | {overall['n']} | {f(majority)} | "
            f"{f(retrieval.get('recall@1'))} | {f(retrieval.get('recall@5'))} | {f(precision)} / {f(recall)} ({empty}) |"
        )


if __name__ == "__main__":
    main()
