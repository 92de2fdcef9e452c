"""What an import reports: a row it cannot read, and the error that stops an import when rows failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clinrag.errors import ClinragError

SHOWN_ERRORS = 20
"""Row errors printed before "… and N more"."""


@dataclass(frozen=True)
class RowError:
    """A row of an input file that cannot be imported.

    The reason names what is wrong, never the cell's text (a document's narrative, a patient's identifier); an
    unreadable date may be quoted, shortened, as it is no narrative.

    Attributes:
        file: The input file, as given.
        line: 1-based line in the file, header included (for a spreadsheet: the sheet's row); None for a whole
            file.
        column: The column at fault, as the file names it, or None.
        reason: What is wrong, in plain words.
        group: The one line that reports this row together with others that fail alike (the rows an encoding
            given wrongly cannot decode), or None: reports show it once, in place of each row's line.
    """

    file: str
    line: int | None
    column: str | None
    reason: str
    group: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        column = f" column '{self.column}':" if self.column else ""
        return f"{where}:{column} {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """The record of import.json's ``skipped`` list."""
        return {"file": self.file, "line": self.line, "column": self.column, "reason": self.reason}


class BadRowsError(ClinragError):
    """Rows of the inputs could not be read, and nothing was written (``--skip-bad-rows`` imports the rest)."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        first = errors[0].group or str(errors[0])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}; nothing written")


def report_lines(errors: list[RowError], limit: int = SHOWN_ERRORS) -> list[str]:
    """The first ``limit`` errors, one a line (the errors of a group as its one line, where the first of them
    is), then "… and N more" when there are others."""
    lines: list[str] = []
    groups: set[str] = set()
    for error in errors:
        if error.group is None:
            lines.append(str(error))
        elif error.group not in groups:
            groups.add(error.group)
            lines.append(error.group)
    if len(lines) > limit:
        return [*lines[:limit], f"… and {len(lines) - limit} more"]
    return lines


def count_rows(errors: list[RowError]) -> int:
    """How many rows the errors are about (a row with two bad cells is one row; a whole file's error, one)."""
    return len({(error.file, error.line if error.line is not None else id(error)) for error in errors})
