"""Real case reports filled by transfer: a run trained on one cohort reads PAMJ case reports it never saw.

The reports (``../shared/data/e3c-fr/pamj-unannotated``, CC BY 4.0) labelled in ``experiments/data/pamj_labels``
(55 adult reports, nine variables, a ``tune`` and a ``report`` half; README there) become a cohort folder (one
document a patient, dated by publication; ``variables.yaml`` of that folder, a dictionary without keywords; the
``report`` half as the test split, the ``tune`` half as dev). ``clinrag fill`` applies the run (matching the
variables by name or concept) to each half, and the script prints each half's accuracy on the cells the run fills.

Usage: .venv/bin/python experiments/pamj_transfer.py --run RUN_DIR [--data ../shared/data] --out DIR
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from clinrag.experiment.fill import fill_table
from clinrag.io import atomic_write_jsonl, atomic_write_text

LABELS = Path(__file__).parent / "data" / "pamj_labels"


def build_cohort(data: Path, out: Path) -> None:
    reports = data / "e3c-fr" / "pamj-unannotated"
    if not reports.is_dir():
        raise SystemExit(f"{reports}: not found (the shared data folder is needed: --data)")
    with (LABELS / "labels.csv").open(encoding="utf-8", newline="") as handle:
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
    shutil.copyfile(LABELS / "variables.yaml", out / "variables.yaml")
    shutil.copyfile(LABELS / "evidence.jsonl", out / "evidence.jsonl")
    atomic_write_jsonl(out / "documents.jsonl", documents)
    columns = [c for c in rows[0] if c not in ("patient_id", "half")]
    atomic_write_text(
        out / "table.csv",
        ",".join(["patient_id", *columns])
        + "\n"
        + "".join(",".join([r["patient_id"], *(r[c] for c in columns)]) + "\n" for r in rows),
    )
    split = {"report": "test", "tune": "dev"}
    atomic_write_text(
        out / "splits.csv",
        "patient_id,split\n" + "".join(f"{r['patient_id']},{split[r['half']]}\n" for r in rows),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    build_cohort(args.data, args.out / "cohort")
    for half, split in (("tune", "dev"), ("report", "test")):
        summary = fill_table(args.out / "cohort", args.run, args.out / half, split, progress=False)
        overall = summary["metrics"]["overall"]
        print(
            f"{half}: accuracy {overall['accuracy']:.3f} {overall['accuracy_ci']} on {overall['n']} cells; "
            f"not filled: {', '.join(summary['not_filled']) or 'none'}"
        )
        for name, record in summary["metrics"]["variables"].items():
            print(f"  {name}: {record['accuracy']:.3f} (n={record['n']})")


if __name__ == "__main__":
    main()
