"""Reading a cohort directory and validating it in the same pass.

Every defect is collected (not just the first) as an :class:`~clinrag.errors.Issue` naming file, line and field.
:func:`load_cohort` raises when any of them is an error; :func:`read_cohort` returns them all. References into a
file that gave nothing to check them against (missing, unreadable, empty, or without one valid record) are not
checked: an empty documents.jsonl is one error, not one more for every table row, split, evidence and identifier
span that names a document or a patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clinrag.data.cohort import Cohort, default_split
from clinrag.data.readers import (  # noqa: F401  (re-exported: importable from here as before)
    read_documents,
    read_evidence,
    read_phi,
    read_splits,
    read_table,
    read_variables,
)
from clinrag.errors import ClinragError, CohortError, Issue


# ---------------------------------------------------------------------------------------------------------
# The whole directory
# ---------------------------------------------------------------------------------------------------------
def read_cohort(directory: str | Path, split_seed: int = 0) -> tuple[Cohort | None, list[Issue]]:
    """Read a cohort directory, checking every file of Contract 1.

    Args:
        directory: The cohort directory.
        split_seed: Seed of the default split, used when there is no splits.csv.

    Returns:
        The cohort (None when any error was found) and every issue, errors and warnings, in file order (but no
        error that follows from another: see the module docstring).

    Raises:
        ClinragError: ``directory`` is not a directory.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ClinragError(f"{directory}: not a directory")
    issues: list[Issue] = []
    variables = read_variables(root / "variables.yaml", issues)
    # whether a file gave something to check references against (see the module docstring)
    variables_read = bool(variables) or not _has_errors(issues, "variables.yaml")
    documents = read_documents(root / "documents.jsonl", issues)
    documents_read = bool(documents) or not _has_errors(issues, "documents.jsonl")
    docs = {doc.doc_id: doc for doc in documents}
    patients = {doc.patient_id for doc in documents}
    table = None
    columns: list[str] = []
    if (root / "table.csv").exists():
        columns, table = read_table(
            root / "table.csv",
            issues,
            variables,
            patients,
            check_patients=documents_read,
            check_columns=variables_read,
        )
    splits_given = (root / "splits.csv").exists()
    if splits_given:
        splits = read_splits(root / "splits.csv", issues, patients if documents_read else None)
        unsplit = [pid for pid in (table or {}) if pid not in splits]
        if unsplit and table is not None:
            issues.append(
                Issue(
                    "splits.csv",
                    None,
                    None,
                    f"{len(unsplit)} patient(s) of the table are in no split (e.g. '{unsplit[0]}'); they are left out of training and evaluation",
                    "warning",
                )
            )
    else:
        splits = {pid: default_split(pid, split_seed) for pid in table or {}}
    evidence = []
    if (root / "evidence.jsonl").exists():
        evidence = read_evidence(
            root / "evidence.jsonl",
            issues,
            docs,
            {v.name for v in variables},
            documents_read,
            variables_read,
        )
    phi = []
    if (root / "phi.jsonl").exists():
        phi = read_phi(root / "phi.jsonl", issues, docs, documents_read)
    if any(issue.severity == "error" for issue in issues):
        return None, issues
    cohort = Cohort(
        variables=variables,
        documents=documents,
        table=table,
        table_columns=columns,
        splits=splits,
        splits_given=splits_given,
        evidence=evidence,
        phi=phi,
        root=root,
    )
    return cohort, issues


@dataclass
class CohortCheck:
    """What :func:`check_cohort` found in a cohort directory (``clinrag validate``)."""

    directory: Path
    cohort: Cohort | None
    """The cohort; None when any error was found."""
    errors: list[Issue]
    warnings: list[Issue]

    def summary(self) -> str:
        """The closing line: the cohort's size when valid, the count of errors and warnings otherwise."""
        if self.cohort is None:
            return f"{self.directory}: invalid cohort, {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        cohort = self.cohort
        table = f", table of {len(cohort.table)} patients" if cohort.table is not None else ", no table"
        return (
            f"{self.directory}: valid cohort — {len(cohort.patients)} patients, {len(cohort.documents)} documents, "
            f"{len(cohort.variables)} variables{table}; {len(self.warnings)} warning(s)"
        )


def check_cohort(directory: str | Path) -> CohortCheck:
    """:func:`read_cohort` with its issues sorted into errors and warnings (each list in file order)."""
    cohort, issues = read_cohort(directory)
    return CohortCheck(
        directory,
        cohort,
        [i for i in issues if i.severity == "error"],
        [i for i in issues if i.severity == "warning"],
    )


def _has_errors(issues: list[Issue], file: str) -> bool:
    return any(issue.file == file and issue.severity == "error" for issue in issues)


def load_cohort(directory: str | Path, split_seed: int = 0) -> Cohort:
    """Load a cohort directory that must be valid.

    Raises:
        CohortError: The cohort has errors (all of them are in ``error.issues``).
        ClinragError: ``directory`` is not a directory.
    """
    cohort, issues = read_cohort(directory, split_seed)
    if cohort is None:
        raise CohortError(directory, [i for i in issues if i.severity == "error"])
    return cohort


def read_predictions(
    path: str | Path, cohort: Cohort, scored: list[str] | None = None, allow_missing: bool = False
) -> tuple[dict[str, dict[str, str]], list[Issue]]:
    """Read a predictions file (table.csv's shape) against a cohort.

    Unknown columns or patients are errors; an unparsable cell is a warning (it is scored as invalid).

    Args:
        path: The predictions file.
        cohort: The cohort whose table it is scored against.
        scored: The patients to be scored: each must have a row, and the file every column of the cohort's table
            (None: not checked).
        allow_missing: Missing rows and columns are then a warning (with their counts), and their cells are
            scored as abstentions.

    Raises:
        ClinragError: The file is missing or has errors (the message names file, line and field), or lacks rows
            or columns without ``allow_missing`` (it names the first of them and how many there are).
    """
    path = Path(path)
    if not path.is_file():
        raise ClinragError(f"{path}: no such file")
    issues: list[Issue] = []
    columns, table = read_table(
        path, issues, cohort.variables, set(cohort.patients), file_name=str(path), strict_cells=False
    )
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ClinragError(f"{errors[0]}{more}")
    if scored is not None:
        rows = [pid for pid in scored if pid not in table]
        absent = [name for name in cohort.table_columns if name not in columns]
        parts = []
        if rows:
            parts.append(f"no row for {len(rows)} scored patient(s) ({_first_of(rows)})")
        if absent:
            parts.append(f"no column for {len(absent)} variable(s) of the table ({_first_of(absent)})")
        missing = " and ".join(parts)
        if missing and not allow_missing:
            raise ClinragError(f"{path}: {missing}; pass --allow-missing to score those cells as abstentions")
        if missing:
            warning = f"{missing}; their cells are scored as abstentions"
            issues.append(Issue(str(path), None, None, warning, "warning"))
    return table, issues


def _first_of(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` names, and how many more there are."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
