"""User-facing errors: each one prints as a single line naming the file, line and field at fault."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ClinragError(Exception):
    """An error caused by the user's input or setup (bad file, missing model folder, ...).

    The CLI prints ``str(error)`` on one line and exits with status 2, without a traceback.
    """


@dataclass(frozen=True)
class Issue:
    """One defect found in an input file.

    Attributes:
        file: File name (relative to the cohort directory when there is one).
        line: 1-based line number, or None when the defect concerns the whole file.
        field: The field, column or key at fault, or None.
        message: What is wrong, in plain words.
        severity: ``"error"`` (the input cannot be used) or ``"warning"`` (usable, but worth a look).
    """

    file: str
    line: int | None
    field: str | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = f" field '{self.field}':" if self.field else ""
        return f"{where}:{field} {self.message}"


class CohortError(ClinragError):
    """A cohort directory that does not follow the cohort format; carries every error found."""

    def __init__(self, directory: str | Path, issues: list[Issue]):
        self.directory = str(directory)
        self.issues = issues
        first = issues[0] if issues else None
        more = f" (and {len(issues) - 1} more; run `clinrag validate {directory}`)" if len(issues) > 1 else ""
        super().__init__(f"invalid cohort {directory}: {first}{more}")
