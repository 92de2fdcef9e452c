"""`clinrag validate`: a cohort written to the contract passes; each defect is reported with file, line, field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinrag.data.cohort import save_cohort
from clinrag.data.validate import load_cohort, read_cohort
from clinrag.errors import CohortError

VARIABLES_YAML = """\
variables:
  - name: nihss_admission
    type: integer
    description: Score NIHSS à l'admission
    minimum: 0
    maximum: 42
    source_field: nihss0          # metadata, kept as is
  - name: glycemie
    type: number
    description: Glycémie à l'admission
    unit: mmol/L
  - name: fa
    type: boolean
    description: Fibrillation atriale
  - name: toast
    type: category
    description: Étiologie TOAST
    values: [cardioembolique, lacunaire, indeterminee]
  - name: date_avc
    type: date
    description: Date de l'AVC
  - name: commentaire
    type: text
    description: Commentaire libre
"""
DOCS = [
    {
        "patient_id": "A",
        "doc_id": "A1",
        "date": "2023-05-02T14:30",
        "doc_type": "urgences",
        "text": "NIHSS 12. Glycémie 6,4 mmol/L. Pas de FA.",
        "service": "SAU",
    },
    {
        "patient_id": "A",
        "doc_id": "A2",
        "date": "2023-05-09",
        "doc_type": "lettre_sortie",
        "text": "AVC cardioembolique. Holter : FA paroxystique.",
    },
    {
        "patient_id": "B",
        "doc_id": "B1",
        "date": "2023-06-11",
        "doc_type": "urgences",
        "text": "Mme X, NIHSS 3, AVC lacunaire.",
    },
    {
        "patient_id": "C",
        "doc_id": "C1",
        "date": "2023-07-01",
        "doc_type": "urgences",
        "text": "Patient sans table.",
    },
]
TABLE = """\
patient_id,nihss_admission,glycemie,fa,toast,date_avc,commentaire
A,12,6.4,true,cardioembolique,2023-05-02,
B,3,,false,lacunaire,2023-06-11,hémiparésie
"""
SPLITS = "patient_id,split\nA,train\nB,test\n"
EVIDENCE = [{"patient_id": "A", "variable": "nihss_admission", "doc_id": "A1", "start": 0, "end": 8}]
PHI = [{"doc_id": "B1", "start": 4, "end": 5, "label": "NOM"}]


def write_cohort(root: Path) -> Path:
    """A small cohort written by hand to the contract (not by clinrag), with metadata keys."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "variables.yaml").write_text(VARIABLES_YAML, encoding="utf-8")
    (root / "documents.jsonl").write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), encoding="utf-8"
    )
    (root / "table.csv").write_text(TABLE, encoding="utf-8")
    (root / "splits.csv").write_text(SPLITS, encoding="utf-8")
    (root / "evidence.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVIDENCE), encoding="utf-8")
    (root / "phi.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PHI), encoding="utf-8")
    return root


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[number - 1] = text + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def test_hand_written_cohort_loads(tmp_path):
    cohort = load_cohort(write_cohort(tmp_path / "c"))
    assert cohort.patients == ["A", "B", "C"]
    assert cohort.unlabeled_patients == ["C"]
    assert cohort.variable("nihss_admission").metadata == {"source_field": "nihss0"}
    assert cohort.documents[0].metadata == {"service": "SAU"}
    assert cohort.documents[0].has_time and not cohort.documents[1].has_time
    assert cohort.value("A", "glycemie") == pytest.approx(6.4)
    assert cohort.value("B", "glycemie") is None
    assert cohort.split_patients("test") == ["B"]
    assert [d.doc_id for d in cohort.documents_of("A")] == ["A1", "A2"]


def test_save_then_load_round_trips(tmp_path):
    cohort = load_cohort(write_cohort(tmp_path / "c"))
    save_cohort(cohort, tmp_path / "copy")
    again = load_cohort(tmp_path / "copy")
    assert again.fingerprint() == cohort.fingerprint()
    assert again.table == cohort.table
    assert [d.to_json() for d in again.documents] == [d.to_json() for d in cohort.documents]


def test_default_split_is_seeded_when_splits_absent(tmp_path):
    root = write_cohort(tmp_path / "c")
    (root / "splits.csv").unlink()
    first = load_cohort(root).splits
    assert set(first) == {"A", "B"} and set(first.values()) <= {"train", "dev", "test"}
    assert load_cohort(root).splits == first


def _errors(root: Path) -> list[str]:
    _, issues = read_cohort(root)
    return [str(i) for i in issues if i.severity == "error"]


@pytest.mark.parametrize(
    ("file", "line", "content", "expected"),
    [
        ("documents.jsonl", 2, '{"patient_id": "A", "doc_id": "A2", ', "documents.jsonl:2: malformed JSON"),
        (
            "documents.jsonl",
            2,
            '{"patient_id": "A", "doc_id": "A2", "date": "2023-05-09", "doc_type": "x"}',
            "documents.jsonl:2: field 'text': missing required field",
        ),
        (
            "documents.jsonl",
            2,
            '{"patient_id": "A", "doc_id": "A2", "date": "2023-05-09", "doc_type": "x", "text": 12}',
            "documents.jsonl:2: field 'text': expected a string, got a number",
        ),
        (
            "documents.jsonl",
            2,
            '{"patient_id": "A", "doc_id": "A1", "date": "2023-05-09", "doc_type": "x", "text": "t"}',
            "documents.jsonl:2: field 'doc_id': duplicate doc_id 'A1' (first on line 1)",
        ),
        (
            "documents.jsonl",
            2,
            '{"patient_id": "A", "doc_id": "A2", "date": "09/05/2023", "doc_type": "x", "text": "t"}',
            "documents.jsonl:2: field 'date': unparsable date '09/05/2023'",
        ),
        (
            "table.csv",
            1,
            "patient_id,nihss_admission,glycemie,fa,toast,date_avc,commentaire,poids",
            "table.csv:1: field 'poids': column 'poids' is not a variable",
        ),
        (
            "table.csv",
            2,
            "A,43,6.4,true,cardioembolique,2023-05-02,",
            "table.csv:2: field 'nihss_admission': '43' is above the maximum 42",
        ),
        (
            "table.csv",
            2,
            "A,12,six,true,cardioembolique,2023-05-02,",
            "table.csv:2: field 'glycemie': 'six' is not a number",
        ),
        (
            "table.csv",
            2,
            "A,12,6.4,peut-être,cardioembolique,2023-05-02,",
            "table.csv:2: field 'fa': 'peut-être' is not a boolean",
        ),
        (
            "table.csv",
            2,
            "A,12,6.4,true,atherome,2023-05-02,",
            "table.csv:2: field 'toast': 'atherome' is not one of the categories",
        ),
        (
            "table.csv",
            2,
            "A,12,6.4,true,cardioembolique,2023-02-30,",
            "table.csv:2: field 'date_avc': '2023-02-30' is not a calendar date",
        ),
        (
            "table.csv",
            3,
            "Z,3,,false,lacunaire,2023-06-11,",
            "table.csv:3: field 'patient_id': patient 'Z' has no documents",
        ),
        ("table.csv", 3, "B,3,,false,lacunaire", "table.csv:3: expected 7 cells, found 5"),
        ("splits.csv", 2, "A,validation", "splits.csv:2: field 'split': unknown split 'validation'"),
        (
            "evidence.jsonl",
            1,
            '{"patient_id": "A", "variable": "nihss_admission", "doc_id": "A1", "start": 30, "end": 500}',
            "evidence.jsonl:1: field 'end': offsets 30-500 are outside the text of 'A1'",
        ),
        (
            "evidence.jsonl",
            1,
            '{"patient_id": "B", "variable": "nihss_admission", "doc_id": "A1", "start": 0, "end": 8}',
            "evidence.jsonl:1: field 'patient_id': document 'A1' belongs to another patient",
        ),
        (
            "evidence.jsonl",
            1,
            '{"patient_id": "A", "variable": "poids", "doc_id": "A1", "start": 0, "end": 8}',
            "evidence.jsonl:1: field 'variable': unknown variable 'poids'",
        ),
        (
            "phi.jsonl",
            1,
            '{"doc_id": "B1", "start": -1, "end": 5, "label": "NOM"}',
            "phi.jsonl:1: field 'start': offsets -1-5 are outside",
        ),
        (
            "phi.jsonl",
            1,
            '{"doc_id": "B1", "start": 4, "end": 5, "label": "PATIENT"}',
            "phi.jsonl:1: field 'label': unknown label 'PATIENT'",
        ),
        (
            "phi.jsonl",
            1,
            '{"doc_id": "B1", "start": "4", "end": 5, "label": "NOM"}',
            "phi.jsonl:1: field 'start': expected an integer, got a string",
        ),
        ("variables.yaml", 5, "    minimum: zero", "variables.yaml:5: field 'minimum'"),
        (
            "variables.yaml",
            13,
            "    type: ordinal",
            "variables.yaml:13: field 'type': unknown type 'ordinal'",
        ),
        (
            "variables.yaml",
            2,
            "  - name: NIHSS admission",
            "variables.yaml:2: field 'name': 'NIHSS admission' is not snake_case",
        ),
        ("variables.yaml", 3, "    type: [integer", "variables.yaml:4: malformed YAML"),
    ],
)
def test_each_defect_is_reported_with_file_line_field(tmp_path, file, line, content, expected):
    root = write_cohort(tmp_path / "c")
    replace_line(root / file, line, content)
    errors = _errors(root)
    assert any(e.startswith(expected) for e in errors), errors
    with pytest.raises(CohortError):
        load_cohort(root)


def test_category_without_values(tmp_path):
    root = write_cohort(tmp_path / "c")
    text = (
        (root / "variables.yaml")
        .read_text()
        .replace("    values: [cardioembolique, lacunaire, indeterminee]\n", "")
    )
    (root / "variables.yaml").write_text(text)
    assert any("field 'values': a category variable needs a non-empty list" in e for e in _errors(root))


def test_non_utf8_bytes_are_located(tmp_path):
    root = write_cohort(tmp_path / "c")
    data = (root / "documents.jsonl").read_bytes().split(b"\n")
    data[2] = data[2].replace(b"Mme", b"M\xe9me")
    (root / "documents.jsonl").write_bytes(b"\n".join(data))
    table = (root / "table.csv").read_bytes().replace("hémiparésie".encode(), "hémiparésie".encode("latin-1"))
    (root / "table.csv").write_bytes(table)
    errors = _errors(root)
    assert any(e.startswith("documents.jsonl:3: not valid UTF-8 (byte 0xe9") for e in errors), errors
    assert any(e.startswith("table.csv:3: not valid UTF-8") for e in errors), errors


def test_every_defect_reported_at_once(tmp_path):
    root = write_cohort(tmp_path / "c")
    replace_line(root / "documents.jsonl", 1, "not json")
    replace_line(
        root / "documents.jsonl",
        3,
        '{"patient_id": "B", "doc_id": "B1", "date": "2023-13-01", "doc_type": "u", "text": "t"}',
    )
    replace_line(root / "table.csv", 2, "A,99,6.4,true,cardioembolique,2023-05-02,")
    replace_line(root / "phi.jsonl", 1, '{"doc_id": "NOPE", "start": 0, "end": 1, "label": "NOM"}')
    errors = _errors(root)
    assert any(e.startswith("documents.jsonl:1:") for e in errors)
    assert any(e.startswith("documents.jsonl:3: field 'date'") for e in errors)
    assert any(e.startswith("table.csv:2: field 'nihss_admission'") for e in errors)
    assert any(e.startswith("phi.jsonl:1: field 'doc_id': unknown document 'NOPE'") for e in errors)


def test_empty_document_is_a_warning(tmp_path, run_cli):
    root = write_cohort(tmp_path / "c")
    replace_line(
        root / "documents.jsonl",
        4,
        '{"patient_id": "C", "doc_id": "C1", "date": "2023-07-01", "doc_type": "u", "text": "  "}',
    )
    result = run_cli("validate", root)
    assert result.code == 0
    assert "documents.jsonl:4: field 'text': document 'C1' is empty" in result.stderr
    assert "valid cohort" in result.stdout


def test_non_canonical_cells_warn_and_load_normalized(tmp_path):
    root = write_cohort(tmp_path / "c")
    replace_line(root / "table.csv", 2, 'A,12,"6,4",oui,Cardioembolique,02/05/2023,')
    cohort, issues = read_cohort(root)
    assert cohort is not None
    assert cohort.table["A"] == {
        "nihss_admission": "12",
        "glycemie": "6.4",
        "fa": "true",
        "toast": "cardioembolique",
        "date_avc": "2023-05-02",
        "commentaire": "",
    }
    assert any(i.severity == "warning" and i.field == "glycemie" for i in issues)


def test_cli_exit_codes_and_one_line_per_defect(tmp_path, run_cli):
    root = write_cohort(tmp_path / "c")
    assert run_cli("validate", root).code == 0
    replace_line(root / "table.csv", 2, "A,99,6.4,true,cardioembolique,2023-05-02,")
    replace_line(root / "documents.jsonl", 4, "{broken")
    result = run_cli("validate", root)
    assert result.code == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "table.csv:2: field 'nihss_admission'" in result.stderr


def test_missing_required_files(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    result = run_cli("validate", tmp_path / "empty")
    assert result.code == 2
    assert "variables.yaml: required file is missing" in result.stderr
    assert "documents.jsonl: required file is missing" in result.stderr
    result = run_cli("validate", tmp_path / "nowhere")
    assert result.code == 2 and "not a directory" in result.stderr and "Traceback" not in result.stderr
