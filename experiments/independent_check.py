"""Independent-cohort check: a run trained on the synthetic cohort reads real case reports written by others.

Twelve adult case reports of the Pan African Medical Journal (``../shared/data/e3c-fr/pamj-unannotated``, CC BY
4.0: narrative prose, no dated notes, no section headers, other wording than the generator's) are labelled by hand
in ``experiments/data/pamj_independent.csv`` for the variables such a report states: age, sex, history of
hypertension and of diabetes. Labelling convention: "sans antécédents (pathologiques) particuliers / notables"
codes both histories false; a history list that omits them, or hypertension of another kind ("hypertension
intracrânienne", "HTAP"), leaves them not documented (empty).

The script builds a Contract 1 cohort from them (one document a patient, dated by publication; every patient in
the test split; the synthetic variables' definitions, only the four columns known), then applies the run with
``clinrag fill`` (its config, trained retriever and adapter) and scores the four columns with bootstrap intervals.

Usage: .venv/bin/python experiments/independent_check.py --run runs/main/run [--data ../shared/data] --out DIR
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from clinrag.experiment.fill import fill_table
from clinrag.io import atomic_write_jsonl, atomic_write_text

LABELS = Path(__file__).parent / "data" / "pamj_independent.csv"
VARIABLES = Path(__file__).resolve().parents[1] / "clinrag" / "synth" / "variables.yaml"


def build_cohort(data: Path, out: Path) -> list[str]:
    """Write the cohort folder; returns its patients."""
    reports = data / "e3c-fr" / "pamj-unannotated"
    if not reports.is_dir():
        raise SystemExit(f"{reports}: not found (the shared data folder is needed: --data)")
    with LABELS.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    documents = []
    for row in rows:
        record = json.loads((reports / f"{row['patient_id']}.json").read_text(encoding="utf-8"))
        documents.append(
            {
                "patient_id": row["patient_id"],
                "doc_id": f"{row['patient_id']}-D01",
                "date": record["publication_date"],
                "doc_type": "observation",
                "text": record["text"],
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(VARIABLES, out / "variables.yaml")
    atomic_write_jsonl(out / "documents.jsonl", documents)
    shutil.copyfile(LABELS, out / "table.csv")
    atomic_write_text(
        out / "splits.csv", "patient_id,split\n" + "".join(f"{r['patient_id']},test\n" for r in rows)
    )
    return [r["patient_id"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a clinrag run folder (config.yaml, models/)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("runs/independent"))
    args = parser.parse_args()
    build_cohort(args.data, args.out / "cohort")
    summary = fill_table(args.out / "cohort", args.run, args.out / "fill", patients="test")
    metrics = summary["metrics"]  # every patient is a labelled test patient: always scored
    overall = metrics["overall"]
    print(f"cells {overall['n']}: accuracy {overall['accuracy']:.3f} {overall['accuracy_ci']}")
    for name, entry in metrics["variables"].items():
        print(f"  {name}: {entry['accuracy']:.3f} {entry.get('accuracy_ci')} (n {entry['n']})")


if __name__ == "__main__":
    main()
