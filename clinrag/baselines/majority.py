"""The floor to beat: each variable's most frequent value among train-split patients.

"Not documented" is a value like any other here: when most training cells of a variable are empty, the
baseline abstains on it.
"""

from __future__ import annotations

from collections import Counter

from clinrag.data.cohort import Cohort


class MajorityBaseline:
    """Predicts, for every patient, each variable's most frequent train-split cell.

    Ties are broken by the canonical text's order, so the result does not depend on row order.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def fit(self, cohort: Cohort, split: str = "train") -> MajorityBaseline:
        """Learn the most frequent cell of each table column from ``split``'s patients.

        Raises:
            ValueError: The cohort has no table, or no patient in ``split``.
        """
        if cohort.table is None:
            raise ValueError("the cohort has no table.csv: nothing to learn from")
        patients = cohort.split_patients(split)
        if not patients:
            raise ValueError(f"no patient of the table is in split '{split}'")
        for name in cohort.table_columns:
            counts = Counter(cohort.table[pid].get(name, "") for pid in patients)
            self.values[name] = min(counts, key=lambda cell: (-counts[cell], cell))
        return self

    def predict(self, patients: list[str]) -> dict[str, dict[str, str]]:
        """The same row for every patient."""
        return {pid: dict(self.values) for pid in patients}
