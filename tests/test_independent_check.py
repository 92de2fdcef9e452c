"""The independent-cohort check builds a valid cohort from the shared case reports and the hand labels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from clinrag.data.validate import load_cohort

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "independent_check.py"


def test_the_case_reports_make_a_valid_cohort(tmp_path, shared_data):
    spec = importlib.util.spec_from_file_location("independent_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    patients = module.build_cohort(shared_data, tmp_path / "cohort")
    cohort = load_cohort(tmp_path / "cohort")
    assert len(patients) == 12 and sorted(cohort.split_patients("test")) == sorted(patients)
    assert cohort.table_columns == ["age", "sexe", "hta", "diabete"]
    # each label is stated in its report (the age written in it), so the labels belong to these texts
    for pid in patients:
        (doc,) = cohort.documents_of(pid)
        assert f"{cohort.table[pid]['age']} ans" in " ".join(doc.text.split())
