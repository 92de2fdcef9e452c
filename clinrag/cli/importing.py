"""`clinrag import`: from a hospital export (CSV/TSV, Excel, a folder of text files) to a cohort directory."""

from __future__ import annotations

from pathlib import Path

import typer

from clinrag.cli._app import app, err, out

_COLUMN_HELP = "Column of the {} (default: detected from the header{})."


def _column(option: str, what: str, note: str = "") -> typer.models.OptionInfo:
    return typer.Option(None, option, help=_COLUMN_HELP.format(what, note), show_default=False)


@app.command("import")
def import_command(
    source: Path = typer.Argument(
        ...,
        help="The document export: delimited text (.csv, .tsv, .txt), an Excel workbook (.xlsx), or a folder "
        "of text files with a manifest.",
        show_default=False,
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="The cohort directory to write (absent or empty, unless --overwrite)."
    ),
    table: Path | None = typer.Option(
        None, "--table", help="The registry table (delimited text or .xlsx), written as table.csv."
    ),
    variables: Path | None = typer.Option(
        None,
        "--variables",
        help="The variables.yaml to use; without it, one is drafted from --table's columns.",
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="A mapping YAML: columns, synonyms, table options (docs/import.md)."
    ),
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        help="A folder's manifest: file, patient, date, type (default SOURCE/manifest.csv).",
    ),
    patient_col: str | None = _column("--patient-col", "patient id", ": patient, IPP, NIP, id_patient..."),
    document_col: str | None = _column("--document-col", "document id", "; none: ids are generated"),
    date_col: str | None = _column("--date-col", "document's date", ": date, date_document, date_examen..."),
    type_col: str | None = _column("--type-col", "document's type", ": type, type_document, nature..."),
    text_col: str | None = _column(
        "--text-col", "document's text", ": texte, text, contenu, compte_rendu..."
    ),
    file_col: str | None = _column("--file-col", "manifest's file name", ": fichier, file, filename..."),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="Encoding of the export or the folder's files, e.g. cp1252 (default: detected).",
    ),
    delimiter: str | None = typer.Option(
        None,
        "--delimiter",
        help="Delimiter of the export or the manifest: ';', ',', tab... (default: detected).",
    ),
    sheet: str | None = typer.Option(
        None,
        "--sheet",
        help="The export's (or the manifest's) sheet in a workbook (default: the first); the table's is "
        "--table-sheet.",
    ),
    table_sheet: str | None = typer.Option(
        None,
        "--table-sheet",
        help="The table's sheet in a workbook (default: the mapping's, else the first).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/dev/test split of the table's patients."),
    skip_bad_rows: bool = typer.Option(
        False, "--skip-bad-rows", help="Import the readable rows; list the others in import.json."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace a non-empty output directory, if it is a cohort (it holds documents.jsonl or import.json).",
    ),
) -> None:
    """Convert a hospital export into a cohort directory (documents.jsonl, table.csv, variables.yaml, splits.csv,
    import.json).

    Example: clinrag import export.csv --table registre.xlsx --out cohorte/

    Dates are read day first: 02/06/2024, 2 juin 2024, 2024-06-02, with or without a time.

    A row that cannot be read is reported as FILE:LINE: column 'C': why, and nothing is written (exit 2)
    unless --skip-bad-rows.
    """
    from clinrag.importing import BadRowsError, ImportRequest, count_rows, import_cohort, report_lines

    request = ImportRequest(
        source=source,
        out=out_dir,
        manifest=manifest,
        table=table,
        variables=variables,
        mapping=mapping,
        columns={
            "patient": patient_col,
            "document": document_col,
            "date": date_col,
            "type": type_col,
            "text": text_col,
            "file": file_col,
        },
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        table_sheet=table_sheet,
        seed=seed,
        skip_bad_rows=skip_bad_rows,
        overwrite=overwrite,
    )
    try:
        result = import_cohort(request)
    except BadRowsError as bad:
        for line in report_lines(bad.errors):
            err.print(f"error: {line}", markup=False, soft_wrap=True)
        err.print(
            f"error: {count_rows(bad.errors)} unreadable row(s); nothing written (--skip-bad-rows imports the rest)",
            markup=False,
        )
        raise typer.Exit(2) from None
    for line in report_lines(result.skipped):
        err.print(f"skipped: {line}", markup=False, soft_wrap=True)
    out.print(result.summary(), markup=False, soft_wrap=True)
