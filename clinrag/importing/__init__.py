"""From a hospital export to a cohort directory (``clinrag import``).

Documents come from a delimited text file (any delimiter, any Western encoding), an Excel workbook or a folder
of text files with a manifest; a registry table, if any, becomes table.csv with each cell in its variable's
canonical form; variables.yaml is the user's, or a draft made from the table's columns; the table's patients
are split into train, dev and test. A row that cannot be read is reported as FILE:LINE: column 'C': why, never
with the text of a cell.
"""

from __future__ import annotations

from clinrag.importing.pipeline import ImportRequest, ImportResult, import_cohort
from clinrag.importing.report import BadRowsError, RowError, count_rows, report_lines

__all__ = [
    "BadRowsError",
    "ImportRequest",
    "ImportResult",
    "RowError",
    "count_rows",
    "import_cohort",
    "report_lines",
]
