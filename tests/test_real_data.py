"""Real French clinical text from ../shared/data through the cohort format."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from clinrag.data.cohort import PHI_LABELS
from clinrag.data.validate import read_cohort

VARIABLES = "variables:\n  - name: note_type\n    type: text\n    description: Type de note\n"


def eds_pseudo_cohort(shared_data: Path, root: Path, limit: int = 300) -> tuple[Path, int]:
    """The eds-pseudo snippets as a cohort: one patient per note, gold identifiers as phi.jsonl."""
    root.mkdir(parents=True)
    docs, phi = [], []
    with open(shared_data / "eds-pseudo" / "dev.jsonl", encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            if index >= limit:
                break
            note = json.loads(line)
            doc_id = f"eds-{index}"  # note_ids repeat in this file: the validator reports them as duplicates
            docs.append(
                {
                    "patient_id": f"p{index}",
                    "doc_id": doc_id,
                    "date": "2024-01-01",
                    "doc_type": "note",
                    "text": note["note_text"],
                }
            )
            phi.extend(
                {"doc_id": doc_id, "start": e["start"], "end": e["end"], "label": e["label"]}
                for e in note["entities"]
            )
    (root / "variables.yaml").write_text(VARIABLES, encoding="utf-8")
    (root / "documents.jsonl").write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8"
    )
    (root / "phi.jsonl").write_text("".join(json.dumps(p) + "\n" for p in phi), encoding="utf-8")
    return root, len(phi)


def test_eds_pseudo_notes_form_a_valid_cohort(shared_data, tmp_path):
    root, n_phi = eds_pseudo_cohort(shared_data, tmp_path / "eds")
    cohort, issues = read_cohort(root)
    assert cohort is not None, [str(i) for i in issues if i.severity == "error"][:5]
    assert len(cohort.phi) == n_phi > 1000
    assert set(Counter(span.label for span in cohort.phi)) <= set(PHI_LABELS)
    names = [cohort.document(s.doc_id).text[s.start : s.end] for s in cohort.phi if s.label == "NOM"]
    assert names and all(name.strip() for name in names)


def test_real_text_with_a_broken_offset_is_located(shared_data, tmp_path):
    root, _ = eds_pseudo_cohort(shared_data, tmp_path / "eds", limit=50)
    lines = (root / "phi.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[6])
    record["end"] = 10**6
    lines[6] = json.dumps(record)
    (root / "phi.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cohort, issues = read_cohort(root)
    assert cohort is None
    errors = [str(i) for i in issues if i.severity == "error"]
    assert len(errors) == 1 and errors[0].startswith("phi.jsonl:7: field 'end': offsets")


def test_e3c_case_reports_load_as_documents(shared_data, tmp_path):
    """E3C's raw texts (accents, ligatures, odd whitespace) survive the round trip through documents.jsonl."""
    folder = shared_data / "e3c-fr" / "layer1-text"
    files = sorted(folder.glob("*.json"))[:10]
    assert files, f"no E3C texts in {folder}"
    root = tmp_path / "e3c"
    root.mkdir()
    docs = []
    for index, path in enumerate(files):
        data = json.loads(path.read_text(encoding="utf-8"))
        text = data["text"]
        docs.append(
            {
                "patient_id": f"c{index}",
                "doc_id": path.stem,
                "date": "2020-01-01",
                "doc_type": "cas_clinique",
                "text": text,
            }
        )
    (root / "variables.yaml").write_text(VARIABLES, encoding="utf-8")
    (root / "documents.jsonl").write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8"
    )
    cohort, issues = read_cohort(root)
    assert cohort is not None and not issues
    assert [d.text for d in cohort.documents] == [d["text"] for d in docs]
