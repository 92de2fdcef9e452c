"""User-facing errors: each one prints as a single line naming the file, line and field at fault."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHOWN_VALUE_LENGTH = 16
"""The longest value an error message quotes (see :func:`quoted`)."""


def quoted(value: str) -> str:
    """How an error message shows a value the user wrote (a table cell, a date field): quoted when short, else
    only its length. A registry cell or a metadata field may hold free text copied from a note (a name, a
    sentence), and messages go to terminals and logs where patient text must not: a value of more than
    :data:`SHOWN_VALUE_LENGTH` characters, of more than two words, or of two capitalized words (a name) is not
    shown."""
    words = value.split()
    named = len(words) == 2 and all(word[:1].isupper() for word in words)
    if len(value) <= SHOWN_VALUE_LENGTH and len(words) <= 2 and not named:
        return f"'{value}'"
    return f"a value of {len(value)} characters"


class ClinragError(Exception):
    """An error caused by the user's input or setup (bad file, missing model folder, ...).

    The CLI prints ``str(error)`` on one line and exits with status 2, without a traceback (several lines for an
    :class:`ErrorList`: see :meth:`displayed`).
    """

    def displayed(self) -> tuple[list[str], str | None]:
        """The messages the command line prints, one line each after "error: ", and the line that counts those
        left out (None when none is)."""
        return [str(self)], None


class ErrorList(ClinragError):
    """Several errors found at once (a cohort's defects, a config's invalid fields), one line each.

    ``str(error)`` is the first with how many more there are; the command line prints the first ``shown`` of
    them, then "… and N more errors" and ``hint``.

    Args:
        messages: Every error, one line each (at least one).
        shown: How many the command line prints.
        hint: Said after the count of those left out, e.g. " (run `clinrag validate DIR` for all)".
        summary: ``str(error)`` (default: the first message and how many more there are).
    """

    def __init__(self, messages: list[str], shown: int = 10, hint: str = "", summary: str | None = None):
        self.messages = messages
        self.shown = shown
        self.hint = hint
        more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        super().__init__(summary or f"{messages[0]}{more}")

    def displayed(self) -> tuple[list[str], str | None]:
        left_out = len(self.messages) - self.shown
        tail = f"… and {left_out} more errors{self.hint}" if left_out > 0 else None
        return self.messages[: self.shown], tail


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


class CohortError(ErrorList):
    """A cohort directory that does not follow the cohort format; carries every error found (at least one).

    The command line prints the first :data:`COHORT_ERRORS_SHOWN` as ``clinrag validate`` does (DIR/FILE:LINE:
    field 'F': reason), then how many more there are.
    """

    def __init__(self, directory: str | Path, issues: list[Issue]):
        self.directory = str(directory)
        self.issues = issues
        more = f" (and {len(issues) - 1} more; run `clinrag validate {directory}`)" if len(issues) > 1 else ""
        super().__init__(
            [f"{directory}/{issue}" for issue in issues],
            shown=COHORT_ERRORS_SHOWN,
            hint=f" (run `clinrag validate {directory}` for all)",
            summary=f"invalid cohort {directory}: {issues[0]}{more}",
        )


COHORT_ERRORS_SHOWN = 20
"""How many of an invalid cohort's errors a command that loads it prints (``clinrag validate`` prints all)."""
