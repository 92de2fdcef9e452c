"""`clinrag import`: hospital exports (CSV in any delimiter and Western encoding, Excel, a text folder) made cohort
directories that `clinrag validate` accepts and `clinrag run` reads; every unreadable row reported as
FILE:LINE: column 'C': why, and nothing written."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
import yaml

from clinrag.data.validate import load_cohort
from clinrag.data.variables import Variable
from clinrag.importing.dates import DateError, read_date
from clinrag.importing.splits import split_patients
from clinrag.importing.starter import guess_variable
from clinrag.importing.table import read_cell

# ---------------------------------------------------------------------------------------------------------
# the exports: three kinds of notes for five patients, written for these tests
# ---------------------------------------------------------------------------------------------------------
HEADER = ["IPP", "Date examen", "Nature", "Compte rendu"]
NOTES = [
    (
        "P01",
        "02/06/2024 14:05",
        "urgences",
        "Patient de 71 ans amené par le SAMU pour hémiplégie droite brutale.\nNIHSS à 14 à l'arrivée, "
        "glycémie capillaire 6,2 mmol/L, T° 37,2 °C. Décision de thrombolyse.",
    ),
    (
        "P01",
        "2 juin 2024",
        "imagerie",
        "IRM cérébrale : lésion ischémique récente du territoire sylvien gauche, occlusion M1. Pas de "
        "saignement. Cœur : fibrillation atriale découverte à l'ECG.",
    ),
    (
        "P01",
        "12/06/2024",
        "lettre de sortie",
        "Hospitalisé pour AVC ischémique sylvien gauche d'origine cardio-embolique. Retour à domicile, "
        "mRS 2 à la sortie ; anticoagulation débutée.",
    ),
    (
        "P02",
        "1er mai 2024",
        "urgences",
        "Patiente de 64 ans, aphasie et faiblesse du membre supérieur droit depuis 9h. NIHSS à 6. "
        "Glycémie 7,9 mmol/L. Pas de thrombolyse (délai dépassé).",
    ),
    (
        "P02",
        "03/05/2024",
        "lettre de sortie",
        "Sténose carotidienne gauche serrée : athérome des grosses artères retenu. Endartériectomie "
        "programmée ; sœur suivie pour diabète.",
    ),
    (
        "P03",
        "mercredi 10 avril 2024",
        "urgences",
        "Homme de 58 ans, hémianopsie latérale homonyme gauche, NIHSS à 3. Thrombolyse intraveineuse "
        "réalisée à 11h40, glycémie 5,4 mmol/L.",
    ),
    (
        "P03",
        "2024-04-11",
        "imagerie",
        "Scanner de contrôle à H24 : infarctus occipital droit constitué, sans transformation hémorragique.",
    ),
    (
        "P04",
        "15/03/2024 08:30",
        "urgences",
        "Troubles de l'équilibre et dysarthrie au réveil ; NIHSS à 4, glycémie à 9,1 mmol/L. Lacune "
        "capsulaire à l'IRM, pas de thrombolyse (heure de début inconnue).",
    ),
    (
        "P05",
        "20/02/2024",
        "urgences",
        "Déficit brachio-facial gauche de 2 heures, NIHSS à 9. Thrombolyse puis thrombectomie. "
        "Glycémie 6,8 mmol/L, apyrétique (36,9 °C).",
    ),
    (
        "P05",
        "28/02/2024",
        "lettre de sortie",
        "AVC sylvien droit de cause indéterminée malgré un bilan complet. Transfert en rééducation.",
    ),
    (
        "P06",
        "05/01/2024",
        "consultation",
        "Consultation de suivi à 3 mois d'un AIT : pas de récidive, traitement par aspirine poursuivi. "
        "Élève infirmière, reçue avec sa fille.",
    ),
]
# the registry, as a team fills it by hand (P06 has no row: unlabeled)
TABLE_HEADER = ["IPP", "NIHSS entrée", "Thrombolyse", "TOAST", "Glycémie", "Date AVC"]
TABLE_ROWS = [
    ["P01", "14", "oui", "Cardio-embolique", "6,2", "02/06/2024"],
    ["P02", "6", "non", "athérome", "7,9", "1er mai 2024"],
    ["P03", "3", "O", "indéterminé", "5,4", "10/04/2024"],
    ["P04", "4", "N", "lacune", "non renseigné", "15 mars 2024"],
    ["P05", "9", "vrai", "indéterminé", "6,8", "2024-02-20"],
]
VARIABLES_YAML = """\
variables:
  - name: nihss_admission
    type: integer
    description: Score NIHSS à l'admission aux urgences
    minimum: 0
    maximum: 42
  - name: thrombolyse
    type: boolean
    description: Thrombolyse intraveineuse réalisée
  - name: toast
    type: category
    description: Étiologie de l'AVC selon la classification TOAST
    values: [athérome, cardioembolique, lacune, indéterminé]
  - name: glycemie_admission
    type: number
    description: Glycémie à l'admission
    unit: mmol/L
  - name: date_avc
    type: date
    description: Date de l'AVC
"""
SECRET = "Élève infirmière"  # a phrase of a note: it must never appear in a message


def write_csv(path: Path, header: list[str], rows: list, delimiter: str, encoding: str, newline: str = "\n"):
    """A delimited export, as hospital systems write them (every cell quoted when it must be)."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def export_dir(tmp_path) -> Path:
    """The cp1252 semicolon export, the registry table (UTF-8, commas) and variables.yaml."""
    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(folder / "export.csv", HEADER, NOTES, ";", "cp1252", newline="\r\n")
    write_csv(folder / "registre.csv", TABLE_HEADER, TABLE_ROWS, ",", "utf-8")
    (folder / "variables.yaml").write_text(VARIABLES_YAML, encoding="utf-8")
    (folder / "mapping.yaml").write_text(
        yaml.safe_dump(
            {
                "table": {
                    "columns": {
                        "NIHSS entrée": "nihss_admission",
                        "Glycémie": "glycemie_admission",
                    }
                },
                "synonyms": {"toast": {"cardioembolique": ["cardio-embolique", "CE"]}},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory) -> Path:
    """A tiny random decoder whose tokenizer was trained on the notes above."""
    from conftest import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("reader") / "tiny-llama", [n[3] for n in NOTES])


def run_config(folder: Path, reader: Path) -> Path:
    """The cheapest `clinrag run`: bm25, the tiny decoder zero-shot, few bootstrap resamples."""
    config = {
        "name": "import",
        "retriever": {"type": "bm25"},
        "retrieval": {"k": 2, "eval_ks": [1, 2]},
        "reader": {"model": str(reader), "max_passage_chars": 80},
        "training": {"reader": "none"},
        "evaluation": {"bootstrap": 20},
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------
# round trips: import, validate, run
# ---------------------------------------------------------------------------------------------------------
def test_cp1252_semicolon_export_round_trips_through_validate_and_run(
    export_dir, tmp_path, run_cli, tiny_reader
):
    out = tmp_path / "cohort"
    result = run_cli(
        "import", export_dir / "export.csv", "--table", export_dir / "registre.csv", "--out", out
    )
    assert result.code == 0, result.stderr
    summary = result.stdout.strip()
    assert "encoding cp1252 (detected)" in summary and "delimiter ';' (detected)" in summary
    assert (
        "patient=IPP*" in summary and "text=Compte rendu*" in summary and "document ids generated" in summary
    )
    assert "6 patients, 11 documents" in summary and "variables.yaml drafted" in summary
    documents = read_jsonl(out / "documents.jsonl")
    assert [d["text"] for d in documents] == [n[3] for n in NOTES]  # é, è, ç, œ, °, line breaks kept
    assert [d["date"] for d in documents[:4]] == [
        "2024-06-02T14:05",
        "2024-06-02",
        "2024-06-12",
        "2024-05-01",
    ]
    assert documents[0]["doc_id"] == "P01_20240602_2" and documents[5]["date"] == "2024-04-10"
    assert {d["doc_type"] for d in documents} == {"urgences", "imagerie", "lettre de sortie", "consultation"}
    table = read_rows(out / "table.csv")
    assert table[0] == {
        "patient_id": "P01",
        "nihss_entree": "14",
        "thrombolyse": "true",
        "toast": "Cardio-embolique",
        "glycemie": "6.2",
        "date_avc": "2024-06-02",
    }
    assert [row["glycemie"] for row in table] == ["6.2", "7.9", "5.4", "", "6.8"]
    assert [row["date_avc"] for row in table][1:] == ["2024-05-01", "2024-04-10", "2024-03-15", "2024-02-20"]
    splits = read_rows(out / "splits.csv")
    assert [row["patient_id"] for row in splits] == ["P01", "P02", "P03", "P04", "P05"]  # P06: unlabeled
    assert sorted(row["split"] for row in splits) == ["dev", "test", "train", "train", "train"]
    record = json.loads((out / "import.json").read_text(encoding="utf-8"))
    assert record["sources"]["documents"]["encoding"] == "cp1252"
    assert len(record["sources"]["documents"]["sha256"]) == 64 and record["counts"]["unlabeled_patients"] == 1
    assert SECRET not in (out / "import.json").read_text(encoding="utf-8")

    assert run_cli("validate", out).code == 0
    run = run_cli("run", run_config(tmp_path, tiny_reader), "--cohort", out, "--out", tmp_path / "run", "-q")
    assert run.code == 0, run.stderr
    predicted = read_rows(tmp_path / "run" / "predictions.csv")
    assert [row["patient_id"] for row in predicted] == [
        r["patient_id"] for r in splits if r["split"] == "test"
    ]


def test_excel_export_round_trips_through_validate_and_run(export_dir, tmp_path, run_cli, tiny_reader):
    rows: list[list] = [["Rapport exporté le 01/07/2024"], [], HEADER]  # a title above the header
    for patient, date, kind, text in NOTES:
        rows.append([patient, date, kind, text])
    rows[3][1] = dt.datetime(2024, 6, 2, 14, 5)  # date cells, with and without a time
    rows[4][1] = dt.datetime(2024, 6, 2)
    table = [TABLE_HEADER] + [[r[0], int(r[1]), *r[2:4], r[4], r[5]] for r in TABLE_ROWS]
    table[2][4] = 7.9  # a number cell
    table[1][5] = dt.date(2024, 6, 2)
    source = write_xlsx(tmp_path / "export.xlsx", {"Comptes rendus": rows[2:]})
    registry = write_xlsx(tmp_path / "registre.xlsx", {"Registre": table})
    out = tmp_path / "cohort"
    result = run_cli(
        "import",
        source,
        "--table",
        registry,
        "--variables",
        export_dir / "variables.yaml",
        "--mapping",
        export_dir / "mapping.yaml",
        "--out",
        out,
    )
    assert result.code == 0, result.stderr
    assert "sheet 'Comptes rendus'" in result.stdout and "next: `clinrag validate" in result.stdout
    documents = read_jsonl(out / "documents.jsonl")
    assert [d["date"] for d in documents[:2]] == ["2024-06-02T14:05", "2024-06-02"]
    assert documents[0]["doc_id"] == "P01_20240602_2"  # the sheet's row
    table_rows = read_rows(out / "table.csv")
    assert list(table_rows[0]) == [
        "patient_id",
        "nihss_admission",
        "thrombolyse",
        "toast",
        "glycemie_admission",
        "date_avc",
    ]
    assert [r["toast"] for r in table_rows] == [
        "cardioembolique",
        "athérome",
        "indéterminé",
        "lacune",
        "indéterminé",
    ]
    assert table_rows[1]["glycemie_admission"] == "7.9" and table_rows[0]["date_avc"] == "2024-06-02"
    assert (out / "variables.yaml").read_text(encoding="utf-8") == VARIABLES_YAML  # given: copied as is
    assert load_cohort(out).table["P04"]["glycemie_admission"] == ""

    assert run_cli("validate", out).code == 0
    run = run_cli("run", run_config(tmp_path, tiny_reader), "--cohort", out, "--out", tmp_path / "run", "-q")
    assert run.code == 0, run.stderr
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_xlsx_with_a_title_row_reports_the_sheet_row(tmp_path, run_cli):
    rows = [["Export DPI"], [], HEADER, ["P01", "31/02/2024", "urgences", "Note."]]
    source = write_xlsx(tmp_path / "export.xlsx", {"Feuil1": rows})
    (tmp_path / "v.yaml").write_text(VARIABLES_YAML, encoding="utf-8")
    result = run_cli("import", source, "--variables", tmp_path / "v.yaml", "--out", tmp_path / "out")
    assert result.code == 2
    assert f"error: {source}:4: column 'Date examen': '31/02/2024' is not a calendar date" in result.stderr


# ---------------------------------------------------------------------------------------------------------
# formats: encodings, delimiters, a text folder
# ---------------------------------------------------------------------------------------------------------
def test_utf8_bom_tsv(tmp_path, run_cli, export_dir):
    source = tmp_path / "export.tsv"
    write_csv(source, ["NIP", "date_document", "type_document", "texte"], NOTES, "\t", "utf-8-sig")
    assert source.read_bytes().startswith(b"\xef\xbb\xbf")
    out = tmp_path / "cohort"
    result = run_cli("import", source, "--variables", export_dir / "variables.yaml", "--out", out)
    assert result.code == 0, result.stderr
    assert "encoding utf-8-sig (detected), delimiter tab (detected)" in result.stdout
    assert "patient=NIP*" in result.stdout  # not "\ufeffNIP"
    assert read_jsonl(out / "documents.jsonl")[4]["text"] == NOTES[4][3]
    assert not (out / "table.csv").exists() and not (out / "splits.csv").exists()
    assert run_cli("validate", out).code == 0


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_delimiter_is_detected_despite_punctuation_in_the_text(tmp_path, run_cli, export_dir, delimiter):
    notes = [(p, d, k, f"{t} Conclusion ; suite : 1, 2 | 3.") for p, d, k, t in NOTES]
    source = write_csv(tmp_path / "export.txt", HEADER, notes, delimiter, "utf-8")
    out = tmp_path / "cohort"
    result = run_cli("import", source, "--variables", export_dir / "variables.yaml", "--out", out)
    assert result.code == 0, result.stderr
    record = json.loads((out / "import.json").read_text(encoding="utf-8"))
    assert record["sources"]["documents"]["delimiter"] == delimiter
    assert read_jsonl(out / "documents.jsonl")[0]["text"] == notes[0][3]


def test_delimiter_and_encoding_given(tmp_path, run_cli, export_dir):
    source = write_csv(tmp_path / "export.csv", HEADER, NOTES, ";", "cp1252")
    out = tmp_path / "cohort"
    result = run_cli(
        "import",
        source,
        "--variables",
        export_dir / "variables.yaml",
        "--out",
        out,
        "--delimiter",
        ";",
        "--encoding",
        "cp1252",
    )
    assert result.code == 0, result.stderr
    assert "encoding cp1252, delimiter ';';" in result.stdout


def test_text_folder_with_a_manifest(tmp_path, run_cli, export_dir):
    folder = tmp_path / "notes"
    folder.mkdir()
    rows = []
    for number, (patient, date, kind, text) in enumerate(NOTES, start=1):
        name = f"cr_{number:02d}.txt"
        (folder / name).write_bytes(text.replace("\n", "\r\n").encode("cp1252" if number % 2 else "utf-8"))
        rows.append([name, patient, date, kind])
    (folder / "lisezmoi.txt").write_text("non listé", encoding="utf-8")
    write_csv(folder / "manifest.csv", ["fichier", "patient", "date", "type"], rows, ",", "utf-8")
    out = tmp_path / "cohort"
    result = run_cli("import", folder, "--variables", export_dir / "variables.yaml", "--out", out)
    assert result.code == 0, result.stderr
    assert "11 text files, encoding cp1252 ×6, utf-8 ×5 (detected)" in result.stdout
    assert "file=fichier*" in result.stdout
    documents = read_jsonl(out / "documents.jsonl")
    assert [d["text"] for d in documents] == [n[3] for n in NOTES]  # \r\n made \n
    record = json.loads((out / "import.json").read_text(encoding="utf-8"))
    assert record["sources"]["documents"]["unlisted_files"] == 1
    assert "cr_01" not in json.dumps(record["sources"])  # file names may name patients: only a digest
    assert run_cli("validate", out).code == 0


def test_text_folder_reports_missing_and_undecodable_files(tmp_path, run_cli, export_dir):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_bytes("Hémiplégie.".encode("cp1252"))
    rows = [["a.txt", "P01", "02/06/2024", "urgences"], ["absent.txt", "P01", "03/06/2024", "urgences"]]
    manifest = write_csv(tmp_path / "liste.csv", ["file", "IPP", "date", "nature"], rows, ";", "utf-8")
    result = run_cli(
        "import",
        folder,
        "--manifest",
        manifest,
        "--encoding",
        "utf-8",
        "--variables",
        export_dir / "variables.yaml",
        "--out",
        tmp_path / "out",
    )
    assert result.code == 2
    assert f"{manifest}:2: column 'file': the file's byte 0xe9 is not valid utf-8" in result.stderr
    assert f"{manifest}:3: column 'file': no such file in notes/" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_legacy_encoding_given_for_a_utf8_file_is_refused(tmp_path, run_cli, export_dir):
    # cp1252 would read "déficit" as "dÃ©ficit": a file that decodes as UTF-8 and has accents is refused
    source = write_csv(tmp_path / "export_utf8.csv", HEADER, NOTES, ";", "utf-8")
    variables = export_dir / "variables.yaml"
    for given in ("cp1252", "latin-1"):
        result = run_cli(
            "import", source, "--encoding", given, "--variables", variables, "--out", tmp_path / "o"
        )
        assert result.code == 2 and result.stderr.splitlines() == [
            f"error: {source}: the file decodes as UTF-8; --encoding {given} would misread its accents: drop "
            "--encoding or pass utf-8"
        ]
    assert not (tmp_path / "o").exists()
    # ASCII only: cp1252 reads it as UTF-8 does, nothing to refuse
    ascii_notes = [[p, d, k, "Note de suivi, RAS."] for p, d, k, _ in NOTES]
    plain = write_csv(tmp_path / "ascii.csv", HEADER, ascii_notes, ";", "utf-8")
    result = run_cli(
        "import", plain, "--encoding", "cp1252", "--variables", variables, "--out", tmp_path / "o"
    )
    assert result.code == 0, result.stderr
    # the table's encoding comes from the mapping, and is named as such
    registry = write_csv(tmp_path / "registre.csv", TABLE_HEADER, TABLE_ROWS, ";", "utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("table:\n  encoding: cp1252\n", encoding="utf-8")
    result = run_cli(
        "import",
        export_dir / "export.csv",
        "--table",
        registry,
        "--mapping",
        mapping,
        "--out",
        tmp_path / "p",
    )
    assert result.code == 2 and result.stderr.splitlines() == [
        f"error: {registry}: the file decodes as UTF-8; the mapping's table.encoding cp1252 would misread its "
        "accents: drop the mapping's table.encoding or pass utf-8"
    ]
    # a folder's text files: each one a row error of the manifest
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "cr.txt").write_text("Déficit brachio-facial gauche.", encoding="utf-8")
    write_csv(
        folder / "manifest.csv", ["fichier", "IPP", "date"], [["cr.txt", "P01", "02/06/2024"]], ";", "utf-8"
    )
    result = run_cli(
        "import", folder, "--encoding", "cp1252", "--variables", variables, "--out", tmp_path / "q"
    )
    assert result.code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {folder / 'manifest.csv'}:2: column 'fichier': the file decodes as UTF-8; --encoding cp1252 "
        "would misread its accents: drop --encoding or pass utf-8"
    )


def test_a_ragged_row_keeps_the_detected_delimiter(tmp_path, run_cli, export_dir):
    lines = ["IPP;Date examen;Nature;Compte rendu"]
    lines += [f"{p};{d};{k};{t.replace(chr(10), ' ')}" for p, d, k, t in NOTES if ";" not in t]
    lines.insert(4, "P02;03/05/2024;lettre de sortie;Sténose carotidienne; endartériectomie programmée.")
    source = tmp_path / "export.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    variables = export_dir / "variables.yaml"
    result = run_cli("import", source, "--variables", variables, "--out", tmp_path / "o")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: {source}:5: expected 4 cells, found 5",
        "error: 1 unreadable row(s); nothing written (--skip-bad-rows imports the rest)",
    ]
    result = run_cli("import", source, "--variables", variables, "--out", tmp_path / "o", "--skip-bad-rows")
    assert result.code == 0, result.stderr
    assert "delimiter ';' (detected)" in result.stdout and f"{len(lines) - 2} documents" in result.stdout


def test_an_empty_or_header_only_file_is_one_line(tmp_path, run_cli, export_dir):
    variables = export_dir / "variables.yaml"
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    blank = tmp_path / "blanc.csv"
    blank.write_bytes(b"\xef\xbb\xbf\r\n\r\n")
    for path in (empty, blank):
        result = run_cli("import", path, "--variables", variables, "--out", tmp_path / "o")
        assert result.code == 2 and result.stderr.splitlines() == [f"error: {path}: empty file"]
    # a header and no row: one line, not "the patient has no document" for each patient of the table
    header_only = write_csv(tmp_path / "export.csv", HEADER, [], ";", "cp1252")
    result = run_cli("import", header_only, "--table", export_dir / "registre.csv", "--out", tmp_path / "o")
    assert result.code == 2
    assert result.stderr.splitlines() == [f"error: {header_only}: no rows under the header"]
    table = write_csv(tmp_path / "registre.csv", TABLE_HEADER, [], ";", "utf-8")
    result = run_cli("import", export_dir / "export.csv", "--table", table, "--out", tmp_path / "o")
    assert result.code == 2 and result.stderr.splitlines() == [f"error: {table}: no rows under the header"]
    workbook = write_xlsx(tmp_path / "export.xlsx", {"Comptes rendus": [HEADER]})
    result = run_cli("import", workbook, "--variables", variables, "--out", tmp_path / "o")
    assert result.code == 2 and result.stderr.splitlines() == [f"error: {workbook}: no rows under the header"]
    assert not (tmp_path / "o").exists()


def test_a_folder_where_a_file_is_expected(tmp_path, run_cli, export_dir):
    folder = tmp_path / "dossier"
    folder.mkdir()
    export, variables = export_dir / "export.csv", export_dir / "variables.yaml"
    for args in (
        [export, "--table", folder],
        [export, "--variables", folder],
        [export, "--variables", variables, "--mapping", folder],
        [folder, "--variables", variables, "--manifest", folder],
    ):
        result = run_cli("import", *args, "--out", tmp_path / "o")
        assert result.code == 2 and result.stderr.splitlines() == [
            f"error: {folder}: is a folder, not a file"
        ]


# ---------------------------------------------------------------------------------------------------------
# bad rows: FILE:LINE: column 'C': why, exit 2, nothing written, no text of a note
# ---------------------------------------------------------------------------------------------------------
def test_every_bad_row_is_reported_and_nothing_is_written(tmp_path, run_cli, export_dir):
    notes = [list(n) for n in NOTES]
    notes[0][1] = "31/02/2024"  # line 2 (the first note spans lines 2-3: a line break in its text)
    notes[1][0] = ""  # line 4: no patient
    notes[3][3] = "   "  # line 6: empty text
    notes[5][1] = "hier"  # line 8
    notes[8][2] = ""  # line 11: no type
    notes.append(["P04", "lundi 10 avril 2024", "urgences", "Note complémentaire."])  # line 14: a Wednesday
    # line 15: a year in the future (69 is 2069 with the pivot at 70: the furthest a two-digit year reaches)
    notes.append(["P04", "3/4/69", "urgences", "Note complémentaire."])
    source = write_csv(tmp_path / "export.csv", HEADER, notes, ";", "cp1252")
    table_rows = [list(r) for r in TABLE_ROWS]
    table_rows[0][3] = "lacunaire ?"  # line 2: not a category
    table_rows[1][2] = "peut-être"  # line 3: not a boolean
    table_rows[2][1] = "3,5"  # line 4: not an integer
    table_rows[3][1] = "57"  # line 5: above the maximum
    table_rows[4][0] = "P99"  # line 6: no documents
    registry = write_csv(tmp_path / "registre.csv", TABLE_HEADER, table_rows, ";", "utf-8")
    out = tmp_path / "cohort"
    result = run_cli(
        "import",
        source,
        "--table",
        registry,
        "--variables",
        export_dir / "variables.yaml",
        "--mapping",
        export_dir / "mapping.yaml",
        "--out",
        out,
    )
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {source}:2: column 'Date examen': '31/02/2024' is not a calendar date and time (day is out of "
        "range for month)",
        f"error: {source}:4: column 'IPP': missing patient id",
        f"error: {source}:6: column 'Compte rendu': empty text",
        f"error: {source}:8: column 'Date examen': unreadable date 'hier' (expected DD/MM/YYYY, 2 juin 2024 or "
        "YYYY-MM-DD, optionally with a time HH:MM)",
        f"error: {source}:11: column 'Nature': missing document type",
        f"error: {source}:14: column 'Date examen': 'lundi 10 avril 2024': 2024-04-10 is a mercredi, not a lundi",
        f"error: {source}:15: column 'Date examen': '3/4/69': the two-digit year would be 2069; write the year "
        "in full",
        f"error: {registry}:2: column 'TOAST': not one of the categories (athérome, cardioembolique, lacune, "
        "indéterminé); add it to the mapping's synonyms",
        f"error: {registry}:3: column 'Thrombolyse': not a boolean (oui/non, vrai/faux, o/n, 1/0, x, or a "
        "synonym of the mapping)",
        f"error: {registry}:4: column 'NIHSS entrée': not an integer",
        f"error: {registry}:5: column 'NIHSS entrée': outside the variable's bounds (minimum 0, maximum 42)",
        f"error: {registry}:6: column 'IPP': the patient has no document in the export",
        "error: 12 unreadable row(s); nothing written (--skip-bad-rows imports the rest)",
    ]
    assert not out.exists() and list(tmp_path.glob(".cohort*")) == []
    assert SECRET not in result.stderr and "lacunaire" not in result.stderr and "P99" not in result.stderr


def test_wrong_encoding_is_one_line_for_the_file(tmp_path, run_cli, export_dir):
    # 33 notes written in cp1252, read with --encoding utf-8: every row fails alike; one line says so (the first
    # bad line, how many rows, what the file looks like), not 20 identical lines and a count of cells
    notes = [[f"P{i:02d}", d, k, t] for i, (_, d, k, t) in enumerate(NOTES * 3)]
    source = write_csv(tmp_path / "export.csv", HEADER, notes, ";", "cp1252")
    args = ["import", source, "--encoding", "utf-8", "--variables", export_dir / "variables.yaml"]
    result = run_cli(*args, "--out", tmp_path / "out")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: {source}: 33 of 33 rows hold bytes that are not valid utf-8, the first on line 2 (column "
        "'Compte rendu': byte 0xe9): wrong --encoding? (the file looks like cp1252)",
        "error: 33 unreadable row(s); nothing written (--skip-bad-rows imports the rest)",
    ]
    assert not (tmp_path / "out").exists()
    # with rows that decode, --skip-bad-rows skips the others: one line on screen, each row in import.json
    notes += [
        ["P90", "02/06/2024", "urgences", "Note sans accent."],
        ["P91", "03/06/2024", "urgences", "RAS."],
    ]
    write_csv(source, HEADER, notes, ";", "cp1252")
    result = run_cli(*args, "--out", tmp_path / "out", "--skip-bad-rows")
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"skipped: {source}: 33 of 35 rows hold bytes that are not valid utf-8, the first on line 2 (column "
        "'Compte rendu': byte 0xe9): wrong --encoding? (the file looks like cp1252)"
    ]
    assert "33 bad row(s) skipped" in result.stdout
    record = json.loads((tmp_path / "out" / "import.json").read_text(encoding="utf-8"))
    assert len(record["skipped"]) == 33 and record["skipped"][1]["line"] == 4
    assert record["counts"]["documents"] == 2


def test_more_than_twenty_bad_rows_are_cut_short(tmp_path, run_cli, export_dir):
    rows = [["P01", f"{day}/13/2024", "urgences", "Note."] for day in range(1, 26)]
    source = write_csv(tmp_path / "export.csv", HEADER, rows, ",", "utf-8")
    result = run_cli("import", source, "--variables", export_dir / "variables.yaml", "--out", tmp_path / "o")
    lines = result.stderr.strip().splitlines()
    assert result.code == 2 and len(lines) == 22
    assert lines[19].startswith(f"error: {source}:21: column 'Date examen'")
    assert lines[20:] == [
        "error: … and 5 more",
        "error: 25 unreadable row(s); nothing written (--skip-bad-rows imports the rest)",
    ]


def test_skip_bad_rows_writes_the_rest_and_lists_what_was_skipped(tmp_path, run_cli, export_dir):
    notes = [list(n) for n in NOTES]
    notes[9][1] = "30/02/2024"  # P05's letter (line 12)
    notes[8][0] = ""  # P05's emergency note (line 11): P05 has no document left, so its table row goes too
    source = write_csv(tmp_path / "export.csv", HEADER, notes, ";", "cp1252")
    registry = write_csv(tmp_path / "registre.csv", TABLE_HEADER, TABLE_ROWS, ",", "utf-8")
    out = tmp_path / "cohort"
    result = run_cli("import", source, "--table", registry, "--out", out, "--skip-bad-rows")
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"skipped: {source}:11: column 'IPP': missing patient id",
        f"skipped: {source}:12: column 'Date examen': '30/02/2024' is not a calendar date and time (day is out "
        "of range for month)",
        f"skipped: {registry}:6: column 'IPP': the patient has no document in the export",
    ]
    assert "3 bad row(s) skipped (listed in import.json)" in result.stdout
    record = json.loads((out / "import.json").read_text(encoding="utf-8"))
    assert [(s["line"], s["column"]) for s in record["skipped"]] == [
        (11, "IPP"),
        (12, "Date examen"),
        (6, "IPP"),
    ]
    assert record["counts"]["documents"] == 9 and record["counts"]["table_patients"] == 4
    assert run_cli("validate", out).code == 0


# ---------------------------------------------------------------------------------------------------------
# the output folder
# ---------------------------------------------------------------------------------------------------------
def test_output_folder_refusals_and_overwrite(tmp_path, run_cli, export_dir):
    args = ["import", export_dir / "export.csv", "--variables", export_dir / "variables.yaml"]
    afile = tmp_path / "cohort.txt"
    afile.write_text("x")
    result = run_cli(*args, "--out", afile)
    assert (
        result.code == 2
        and result.stderr.strip() == f"error: {afile}: is a file, not a folder; choose another --out"
    )
    result = run_cli(*args, "--out", afile, "--overwrite")
    assert result.code == 2 and afile.read_text() == "x"
    # --overwrite replaces a cohort folder (one with documents.jsonl or import.json), never another folder
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thèse.docx").write_text("mon travail")
    result = run_cli(*args, "--out", notes)
    assert result.code == 2 and "exists and is not empty; use --overwrite to replace it" in result.stderr
    result = run_cli(*args, "--out", notes, "--overwrite")
    assert result.code == 2 and result.stderr.strip() == (
        f"error: {notes}: holds files clinrag did not write (no documents.jsonl or import.json); --overwrite "
        "replaces only a cohort folder"
    )
    assert (notes / "thèse.docx").read_text() == "mon travail"
    out = tmp_path / "cohort"
    assert run_cli(*args, "--out", out).code == 0
    (out / "old.txt").write_text("old")
    result = run_cli(*args, "--out", out)
    assert result.code == 2 and "exists and is not empty; use --overwrite to replace it" in result.stderr
    assert (out / "old.txt").exists()
    result = run_cli(*args, "--out", out, "--overwrite")
    assert result.code == 0 and not (out / "old.txt").exists() and (out / "documents.jsonl").is_file()
    (out / "import.json").unlink()  # a cohort by its documents.jsonl alone
    assert run_cli(*args, "--out", out, "--overwrite").code == 0
    result = run_cli(*args, "--out", export_dir, "--overwrite")  # would delete the export itself
    assert result.code == 2 and "holds the input" in result.stderr and (export_dir / "export.csv").exists()


def test_an_empty_folder_is_written_into(tmp_path, run_cli, export_dir):
    out = tmp_path / "cohort"
    out.mkdir()
    result = run_cli(
        "import", export_dir / "export.csv", "--variables", export_dir / "variables.yaml", "--out", out
    )
    assert result.code == 0 and (out / "variables.yaml").is_file()


# ---------------------------------------------------------------------------------------------------------
# columns: options, mapping, detection
# ---------------------------------------------------------------------------------------------------------
def test_columns_by_option_and_generated_ids(tmp_path, run_cli, export_dir):
    header = ["Identifiant", "Quand", "Genre", "Corps", "Numéro"]
    rows = [[p, d, k, t, f"DOC-{i}"] for i, (p, d, k, t) in enumerate(NOTES)]
    source = write_csv(tmp_path / "dpi.csv", header, rows, ";", "utf-8")
    result = run_cli("import", source, "--variables", export_dir / "variables.yaml", "--out", tmp_path / "o")
    assert result.code == 2
    assert (
        "no patient column found (columns: Identifiant, Quand, Genre, Corps, Numéro); name it with --patient-col"
        in result.stderr
    )
    result = run_cli(
        "import",
        source,
        "--variables",
        export_dir / "variables.yaml",
        "--out",
        tmp_path / "o",
        "--patient-col",
        "identifiant",
        "--date-col",
        "Quand",
        "--type-col",
        "Genre",
        "--text-col",
        "Corps",
        "--document-col",
        "Numéro",
    )
    assert result.code == 0, result.stderr
    assert (
        "columns patient=Identifiant, document=Numéro, date=Quand, type=Genre, text=Corps;" in result.stdout
    )
    assert read_jsonl(tmp_path / "o" / "documents.jsonl")[3]["doc_id"] == "DOC-3"


def test_mapping_yaml_columns_metadata_and_errors(tmp_path, run_cli, export_dir):
    header = ["patient", "IPP", "date", "type", "texte", "service"]
    rows = [[p, p, d, k, t, "neurologie"] for p, d, k, t in NOTES]
    source = write_csv(tmp_path / "dpi.csv", header, rows, ",", "utf-8")
    variables = export_dir / "variables.yaml"
    result = run_cli("import", source, "--variables", variables, "--out", tmp_path / "o")
    assert (
        result.code == 2
        and "several columns could be the patient (patient, IPP); choose with --patient-col" in result.stderr
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("documents:\n  patient: IPP\n  metadata: [service]\n", encoding="utf-8")
    result = run_cli(
        "import", source, "--variables", variables, "--mapping", mapping, "--out", tmp_path / "o"
    )
    assert result.code == 0, result.stderr
    assert read_jsonl(tmp_path / "o" / "documents.jsonl")[0]["service"] == "neurologie"
    mapping.write_text("documents:\n  patient: IPP\n  colonnes: {}\n", encoding="utf-8")
    result = run_cli(
        "import", source, "--variables", variables, "--mapping", mapping, "--out", tmp_path / "p"
    )
    assert result.code == 2 and "documents.colonnes" in result.stderr and "Traceback" not in result.stderr


def test_a_cohort_needs_variables_or_a_table(tmp_path, run_cli, export_dir):
    result = run_cli("import", export_dir / "export.csv", "--out", tmp_path / "o")
    assert result.code == 2
    assert (
        result.stderr.strip()
        == "error: a cohort needs its variables: give --variables FILE, or --table FILE to draft them"
    )


def test_table_columns_must_match_the_variables(tmp_path, run_cli, export_dir):
    result = run_cli(
        "import",
        export_dir / "export.csv",
        "--table",
        export_dir / "registre.csv",
        "--variables",
        export_dir / "variables.yaml",
        "--out",
        tmp_path / "o",
    )
    assert result.code == 2
    assert "column(s) NIHSS entrée, Glycémie match no variable of variables.yaml" in result.stderr


def test_sheet_is_the_exports_and_table_sheet_the_tables(tmp_path, run_cli, export_dir):
    table = [["Registre AVC 2024"], TABLE_HEADER, *TABLE_ROWS]
    registry = write_xlsx(
        tmp_path / "registre.xlsx", {"Lisez-moi": [["Saisie", "par l'ARC"]], "Registre": table}
    )
    export = export_dir / "export.csv"
    out = tmp_path / "cohort"
    result = run_cli("import", export, "--table", registry, "--sheet", "Registre", "--out", out)
    assert result.code == 2 and result.stderr.splitlines() == [
        f"error: --sheet: {export} is not a workbook; the table's sheet is --table-sheet"
    ]
    result = run_cli("import", export, "--table", registry, "--table-sheet", "Registre", "--out", out)
    assert result.code == 0, result.stderr
    assert [r["nihss_entree"] for r in read_rows(out / "table.csv")] == ["14", "6", "3", "4", "9"]
    result = run_cli(
        "import",
        export,
        "--table",
        export_dir / "registre.csv",
        "--table-sheet",
        "Registre",
        "--out",
        tmp_path / "o",
    )
    assert result.code == 2 and result.stderr.splitlines() == [
        f"error: --table-sheet: {export_dir / 'registre.csv'} is not a workbook"
    ]
    result = run_cli(
        "import",
        export,
        "--variables",
        export_dir / "variables.yaml",
        "--table-sheet",
        "R",
        "--out",
        tmp_path / "o",
    )
    assert result.code == 2 and result.stderr.splitlines() == ["error: --table-sheet: no --table given"]


def test_help_shows_an_example(run_cli):
    result = run_cli("import", "--help")
    assert (
        result.code == 0 and "clinrag import export.csv --table registre.xlsx --out cohorte/" in result.stdout
    )


# ---------------------------------------------------------------------------------------------------------
# the starter variables.yaml, cells and dates
# ---------------------------------------------------------------------------------------------------------
def test_starter_variables_types_and_normalized_table(tmp_path, run_cli, export_dir):
    header = [
        "IPP",
        "Fumeur",
        "FA connue",
        "Sexe",
        "mRS 3 mois",
        "IMC",
        "Date sortie",
        "Commentaire",
        "Statin",
        "Vide",
    ]
    rows = [
        ["P01", "oui", "x", "F", "2", "24,5", "12/06/2024", "revu en HDJ", "1", ""],
        ["P02", "non", "", "M", "NA", "31,2", "3 mai 2024", "appel de la famille", "0", "nd"],
        ["P03", "Non", "X", "M", "0", "-", "1er mai 2024", "dossier incomplet, relancer", "1", ""],
        ["P04", "non renseigné", "", "f", "4", "22", "2024-03-20", "", "0", ""],
        ["P05", "OUI", "x", "M", "6", "27,0", "28/02/2024", "décédé à J40", "1", "vide"],
    ]
    registry = write_csv(tmp_path / "registre.csv", header, rows, ";", "cp1252")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("table:\n  blank_means_false: [fa_connue]\n", encoding="utf-8")
    out = tmp_path / "cohort"
    result = run_cli(
        "import", export_dir / "export.csv", "--table", registry, "--mapping", mapping, "--out", out
    )
    assert result.code == 0, result.stderr
    text = (out / "variables.yaml").read_text(encoding="utf-8")
    assert text.startswith("# DRAFT written by `clinrag import` from the columns of registre.csv")
    drafted = {v["name"]: v for v in yaml.safe_load(text)["variables"]}
    assert {name: v["type"] for name, v in drafted.items()} == {
        "fumeur": "boolean",
        "fa_connue": "boolean",
        "sexe": "category",
        "mrs_3_mois": "integer",
        "imc": "number",
        "date_sortie": "date",
        "commentaire": "text",
        "statin": "boolean",
        "vide": "text",
    }
    assert drafted["sexe"]["values"] == ["F", "M"] and drafted["sexe"]["source_column"] == "Sexe"
    assert drafted["mrs_3_mois"]["description"].startswith(
        "TODO: décrire la variable (colonne « mRS 3 mois »"
    )
    assert drafted["mrs_3_mois"]["description"].endswith("valeurs observées de 0 à 6")
    assert all(
        v["description"].startswith("TODO") for v in drafted.values()
    )  # `clinrag validate` warns on them
    table = read_rows(out / "table.csv")
    assert [r["fumeur"] for r in table] == ["true", "false", "false", "", "true"]
    assert [r["fa_connue"] for r in table] == ["true", "false", "true", "false", "true"]
    assert [r["sexe"] for r in table] == ["F", "M", "M", "F", "M"]
    assert [r["mrs_3_mois"] for r in table] == ["2", "", "0", "4", "6"]
    assert [r["imc"] for r in table] == ["24.5", "31.2", "", "22", "27.0"]
    assert [r["date_sortie"] for r in table] == [
        "2024-06-12",
        "2024-05-03",
        "2024-05-01",
        "2024-03-20",
        "2024-02-28",
    ]
    assert [r["statin"] for r in table] == ["true", "false", "true", "false", "true"]
    assert {r["vide"] for r in table} == {""}
    assert run_cli("validate", out).code == 0


def test_edited_draft_is_imported_again_in_place(tmp_path, run_cli, export_dir):
    args = ["import", export_dir / "export.csv", "--table", export_dir / "registre.csv", "--out"]
    out = tmp_path / "cohort"
    assert run_cli(*args, out).code == 0
    draft = yaml.safe_load((out / "variables.yaml").read_text(encoding="utf-8"))
    for var in draft["variables"]:
        var["description"] = f"Variable {var['name']} du registre"
    draft["variables"][0]["name"] = "nihss_admission"  # renamed: found again by its source_column
    draft["variables"][0]["maximum"] = 42
    (out / "variables.yaml").write_text(yaml.safe_dump(draft, allow_unicode=True), encoding="utf-8")
    result = run_cli(*args, out, "--variables", out / "variables.yaml", "--overwrite")
    assert result.code == 0, result.stderr
    assert "next: `clinrag validate" in result.stdout
    assert list(read_rows(out / "table.csv")[0])[:2] == ["patient_id", "nihss_admission"]
    assert load_cohort(out).variable("nihss_admission").maximum == 42


def test_draft_types_a_column_by_most_of_its_values_and_reports_the_others(tmp_path, run_cli, export_dir):
    # one bad cell no longer makes NIHSS a text, a glycemia a text or a thrombolysis a category: the column has
    # the type most of its values have, and the other cells are row errors to correct
    header = ["IPP", "NIHSS entrée", "Thrombolyse", "Glycémie (mmol/L)", "Date AVC", "Commentaire"]
    rows = [
        ["P01", "14", "oui", "6,2", "02/06/2024", "Dr Martin"],
        ["P02", "6", "non", "7,9 mmol/L", "1er mai 2024", ""],
        ["P03", "3", "peut-être", "5,4", "10/04/2024", "revu en HDJ"],
        ["P04", "4", "N", "7,2", "15 mars 2024", ""],
        ["P05", "9", "vrai", "1,1 g/L", "2024-02-20", ""],
        ["P06", "douze", "non", "6,8", "05/01/2024", ""],
    ]
    registry = write_csv(tmp_path / "registre.csv", header, rows, ";", "cp1252")
    out = tmp_path / "cohort"
    result = run_cli("import", export_dir / "export.csv", "--table", registry, "--out", out)
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: {registry}:4: column 'Thrombolyse': not a boolean (oui/non, vrai/faux, o/n, 1/0, x, or a "
        "synonym of the mapping); the draft makes the column a boolean, as 5 of its 6 values are",
        f"error: {registry}:6: column 'Glycémie (mmol/L)': not a number in the variable's units (mmol/L); the "
        "draft makes the column a number, as 5 of its 6 values are",
        f"error: {registry}:7: column 'NIHSS entrée': not an integer; the draft makes the column an integer, as "
        "5 of its 6 values are",
        "error: 3 unreadable row(s); nothing written (--skip-bad-rows imports the rest)",
    ]
    assert "douze" not in result.stderr and "peut-être" not in result.stderr
    result = run_cli(
        "import", export_dir / "export.csv", "--table", registry, "--out", out, "--skip-bad-rows"
    )
    assert result.code == 0, result.stderr
    drafted = {v["name"]: v for v in yaml.safe_load((out / "variables.yaml").read_text("utf-8"))["variables"]}
    assert {name: (v["type"], v.get("unit")) for name, v in drafted.items()} == {
        "nihss_entree": ("integer", None),
        "thrombolyse": ("boolean", None),
        "glycemie_mmol_l": ("number", "mmol/L"),  # the unit the cells carry
        "date_avc": ("date", None),
        "commentaire": ("text", None),  # two different comments: no category
    }
    assert drafted["nihss_entree"]["description"].endswith("valeurs observées de 3 à 14")
    table = read_rows(out / "table.csv")
    assert [r["patient_id"] for r in table] == ["P01", "P02", "P04"]
    assert [r["glycemie_mmol_l"] for r in table] == ["6.2", "7.9", "7.2"]  # not "7,2"
    assert [r["thrombolyse"] for r in table] == ["true", "false", "false"]
    assert run_cli("validate", out).code == 0


@pytest.mark.parametrize(
    ("values", "kind", "unit"),
    [
        (["14", "6", "3", "4", "9", "douze"], "integer", None),  # 5 of 6
        (["14", "6", "3", "douze"], "text", None),  # 3 of 4: no large majority
        (["14", "6", "douze"], "text", None),  # fewer than 3 values of the type
        (["6,2", "7,9", "5,4", "6,4 g/L", "6,8"], "number", "g/L"),  # the unit one cell carries
        (["1,12 g/L", "0,98", "1,45 g/L", "1,3"], "number", "g/L"),
        (["oui", "non", "O", "N", "vrai", "peut-être"], "boolean", None),
        (["02/06/2024", "1er mai 2024", "10/04/2024", "2024-02-20", "transféré"], "date", None),
        (["0", "1", "2", "1", "0", "6"], "integer", None),  # all read as integers: not a boolean with errors
    ],
)
def test_draft_type_is_the_large_majority(values, kind, unit):
    var = guess_variable("v", "V", values)
    assert (var.type, var.unit) == (kind, unit)
    assert var.description.startswith("TODO")


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["F", "M", "M", "F", "M"], "category"),
        (["AVC", "AIT", "AVC", "AVC", "AIT", "AVC"], "category"),
        (["retour à domicile", "rééducation", "retour à domicile", "rééducation"], "category"),
        (["Dr Martin", "revu en HDJ", "", "", "", ""], "text"),  # each once: not categories
        (["Dr Martin", "Dr Durand", "Mme Petit", "RAS", "à revoir", "appel famille"], "text"),
        (["F", "M", "M"], "text"),  # 1.5 times each on average: too few to tell
        (["revu en consultation à 3 mois", "pas de suivi prévu"] * 3, "text"),  # free text, if repeated
    ],
)
def test_draft_category_needs_values_that_repeat_and_are_no_free_text(values, kind):
    assert guess_variable("commentaire", "Commentaire", values).type == kind


def test_every_drafted_description_starts_with_todo():
    drafts = [
        guess_variable("v", "V", ["oui", "non"]),
        guess_variable("v", "V", ["1,5", "2"]),
        guess_variable("v", "V", ["F", "M", "F", "M"]),
        guess_variable("v", "V", ["texte libre"]),
        guess_variable("v", "V", []),
        guess_variable("v", "V", ["CE", "CE"], {"cardioembolique": ["CE"]}),
        guess_variable("v", "V", ["faite"], {"true": ["faite"]}),
    ]
    assert {var.type for var in drafts} == {"boolean", "number", "category", "text"}
    assert all(var.description.startswith("TODO: ") for var in drafts)


def test_draft_takes_the_mapping_synonyms():
    var = guess_variable("toast", "TOAST", ["CE", "athérome", "Athérome", "ce"], {"cardioembolique": ["CE"]})
    assert var.type == "category" and var.values == ["cardioembolique", "athérome"]
    assert read_cell(var, "ce") == "cardioembolique"


BOOLEAN = Variable(name="b", type="boolean", description="b")
NUMBER = Variable(name="n", type="number", description="n", unit="mmol/L")
CATEGORY = Variable(name="c", type="category", description="c", values=["athérome", "lacune", "inconnu"])


@pytest.mark.parametrize(
    ("var", "raw", "cell"),
    [
        (BOOLEAN, "oui", "true"),
        (BOOLEAN, "Non", "false"),
        (BOOLEAN, "o", "true"),
        (BOOLEAN, "N", "false"),
        (BOOLEAN, "vrai", "true"),
        (BOOLEAN, "FAUX", "false"),
        (BOOLEAN, "1", "true"),
        (BOOLEAN, "0", "false"),
        (BOOLEAN, "yes", "true"),
        (BOOLEAN, "no", "false"),
        (BOOLEAN, "X", "true"),
        (BOOLEAN, "", ""),
        (BOOLEAN, True, "true"),
        (NUMBER, "3,5", "3.5"),
        (NUMBER, "6,40 mmol/L", "6.40"),
        (NUMBER, 7.25, "7.25"),
        (NUMBER, "1 234,5", "1234.5"),
        (NUMBER, "vide", ""),
        (NUMBER, "NA", ""),
        (NUMBER, "nd", ""),
        (NUMBER, "Non renseigné", ""),
        (NUMBER, "-", ""),
        (NUMBER, "NR", ""),
        (CATEGORY, "ATHEROME", "athérome"),
        (CATEGORY, "Lacune", "lacune"),
        (CATEGORY, "inconnu", "inconnu"),  # a category before a missing marker
        (CATEGORY, "nd", ""),
    ],
)
def test_cells_french_booleans_decimal_commas_and_missing_markers(var, raw, cell):
    assert read_cell(var, raw) == cell


def test_blank_means_false_only_for_a_blank():
    assert read_cell(BOOLEAN, "", blank_means_false=True) == "false"
    assert read_cell(BOOLEAN, "NR", blank_means_false=True) == ""


@pytest.mark.parametrize(
    ("raw", "expected", "has_time"),
    [
        ("02/06/2024", dt.datetime(2024, 6, 2), False),
        ("2/6/24", dt.datetime(2024, 6, 2), False),
        ("02.06.2024", dt.datetime(2024, 6, 2), False),
        ("02-06-2024", dt.datetime(2024, 6, 2), False),
        ("02/06/2024 14:05", dt.datetime(2024, 6, 2, 14, 5), True),
        ("02/06/2024 14h05", dt.datetime(2024, 6, 2, 14, 5), True),
        ("2 juin 2024", dt.datetime(2024, 6, 2), False),
        ("1er juin 2024", dt.datetime(2024, 6, 1), False),
        ("Dimanche 2 juin 2024", dt.datetime(2024, 6, 2), False),
        ("dimanche, 2 juin 2024 à 9h", dt.datetime(2024, 6, 2, 9), True),
        ("2 févr. 2024", dt.datetime(2024, 2, 2), False),
        ("12 aout 2023", dt.datetime(2023, 8, 12), False),
        ("2024-06-02", dt.datetime(2024, 6, 2), False),
        ("2024-06-02T14:05", dt.datetime(2024, 6, 2, 14, 5), True),
        ("2024-06-02 14:05:59", dt.datetime(2024, 6, 2, 14, 5), True),
    ],
)
def test_read_date_french_forms(raw, expected, has_time):
    assert read_date(raw, today=dt.date(2026, 1, 1)) == (expected, has_time)


@pytest.mark.parametrize(
    "raw",
    [
        "31/02/2024",
        "13/13/2024",
        "2024-13-01",
        "lundi 2 juin 2024",
        "2 juin",
        "juin 2024",
        "hier",
        "2/6/45",
        "2 juni 2024",
        "02/06/2024 25:00",
        "",
    ],
)
def test_read_date_never_guesses(raw):
    with pytest.raises(DateError):
        read_date(raw, today=dt.date(2026, 1, 1))


def test_split_is_seeded_and_independent_of_order():
    patients = [f"P{i:02d}" for i in range(10)]
    split = split_patients(patients, seed=3)
    assert split == split_patients(list(reversed(patients)), seed=3)
    assert sorted(split.values()).count("train") == 6 and list(split.values()).count("test") == 2
    assert split_patients(["A", "B", "C"], seed=0).keys() == {"A", "B", "C"}
    assert sorted(split_patients(["A", "B", "C"], seed=0).values()) == ["dev", "test", "train"]
