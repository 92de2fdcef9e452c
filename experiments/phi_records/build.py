"""Build the hand-written identifier records (experiments/data/phi_records) into eds-pseudo JSONL files.

The raw files (``raw/*.txt``) hold French clinical documents written by hand, each opened by a header line
``### r01 | kind | setting``, with every identifier marked inline as ``[[LABEL:text]]`` (LABEL one of
``clinrag.pseudo.labels.LABELS``). This script only removes the marks and records their offsets: it writes
``dev.jsonl``, ``test.jsonl``, ``test2.jsonl`` … ``test14.jsonl``, ``train7.jsonl``, ``train8.jsonl``, ``train9.jsonl``,
``train18.jsonl`` and ``train19.jsonl`` (one note a line: ``note_id``, ``note_text``, ``entities`` with
``start``, ``end``, ``label``, as eds-pseudo; plus ``kind`` and ``setting``), and prints the counts per label.

The splits were fixed before any measurement. Round 1 (``raw/lot*.txt``, r01-r68): the documents are ordered
by ``sha256("phi_records:" + id)`` and the first half (34) is ``dev``, the rest ``test``. Round 2
(``raw/round2_*.txt``, r69-r100, written after the rules of round 1 were measured on ``test``): ``test2``. Round 3
(``raw/round3_*.txt``, r101-r130, written by another helper before the segment-encoder identifier model was
measured, to hold it out): ``test3``. Round 4 (``raw/round4_*.txt``, r131-r166, written by a third helper before
the default detector was measured on it, to hold it out): ``test4``. Round 5 (``raw/round5_*.txt``, r167-r202,
written by a fourth helper before the default detector was measured on it, to hold it out): ``test5``. Round 6
(``raw/round6_*.txt``, r284-r319, written by a fifth helper, to hold out the default detector of round 6 of the
rules and of the model trained with rounds 7-9): ``test6``. Rounds 7, 8 and 9 (``raw/round7_*.txt`` …, r203-r283,
written at the same time by three other helpers, each on a kind of writing of its own, as training data for the
identifier model): ``train7``, ``train8``, ``train9``. Rounds 10 and 11 (``raw/round10_*.txt``, r320-r355, and
``raw/round11_*.txt``, r356-r391, written by two more helpers after test6 was measured, to hold out the same
default detector again): ``test7`` (documents in a hospital store's proportions, as test6) and ``test8`` (kinds
chosen away from the usual ones, as test5). Rounds 12 and 13 (r392-r427, r428-r463, written after test7 and test8
were measured, to confirm on text no one had read with the default frozen): ``test9`` (as test7) and ``test10``
(as test8). Rounds 14 to 17 (r464-r607, written by four more helpers after test9 and test10 were measured, to
confirm once more with the default frozen): ``test11`` and ``test13`` (as test7), ``test12`` and ``test14`` (as
test8). Rounds 18 and 19 (r608-r643, r644-r679, written at the same time by two more helpers, as training data):
``train18`` and ``train19``.

Usage: .venv/bin/python experiments/phi_records/build.py [--data experiments/data/phi_records] [--check]
(``--check``: rebuild in memory and fail when the JSONL files on disk differ.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

from clinrag.pseudo.labels import LABELS

ROOT = Path(__file__).resolve().parents[2]
_HEADER = re.compile(r"^### (?P<id>r\d+) \| (?P<kind>[^|]+?) \| (?P<setting>[^|]+?)\s*$")
_MARK = re.compile(r"\[\[(?P<label>[A-Z_]+):(?P<text>[^\[\]\n]+)\]\]")


def _rank(doc_id: str) -> str:
    return hashlib.sha256(f"phi_records:{doc_id}".encode()).hexdigest()


#: The split of each round after the first (decided before any measurement): rounds 2-6 and 10-17 were written to
#: be held out (test2 … test14), rounds 7-9, 18 and 19 as training data for the model.
ROUND_SPLITS = {
    **{n: f"test{n}" for n in range(2, 7)},
    **{n: f"train{n}" for n in (7, 8, 9)},
    10: "test7",
    11: "test8",
    12: "test9",
    13: "test10",
    14: "test11",
    15: "test12",
    16: "test13",
    17: "test14",
    18: "train18",
    19: "train19",
}
SPLITS = ("dev", "test", *dict.fromkeys(ROUND_SPLITS.values()))
#: The held-out sets of the last confirmation (rounds 14-17, docs/pseudonymization.md: measured once at 0be1c00, their
#: errors not read): scripts/setup.sh's default model learns from the other splits, never from these, so that the
#: docs' numbers stay those of the model it trains.
HELD_OUT = ("test11", "test12", "test13", "test14")


def splits(records: list[dict]) -> dict[str, str]:
    """``id -> "dev" | "test" | "test2" | ... | "test6" | "train7" | ...``: round 1's documents in hash order, the
    first half dev and the rest test; the other rounds' as :data:`ROUND_SPLITS` says (decided before any
    measurement)."""
    ordered = sorted((r["id"] for r in records if r["round"] == 1), key=_rank)
    half = len(ordered) // 2
    split = {doc_id: "dev" if index < half else "test" for index, doc_id in enumerate(ordered)}
    split.update({r["id"]: ROUND_SPLITS[r["round"]] for r in records if r["round"] > 1})
    return split


def unmark(marked: str, where: str) -> tuple[str, list[dict]]:
    """The text without its marks, and the marks as ``{start, end, label}``.

    Raises:
        ValueError: An unknown label, a mark with spaces at its ends, or a bracket left after unmarking.
    """
    out: list[str] = []
    entities = []
    position = 0
    length = 0
    for match in _MARK.finditer(marked):
        label, value = match["label"], match["text"]
        if label not in LABELS:
            raise ValueError(f"{where}: unknown label {label!r}")
        if value != value.strip():
            raise ValueError(f"{where}: mark {value!r} starts or ends with a space")
        before = marked[position : match.start()]
        out.append(before)
        length += len(before)
        entities.append({"start": length, "end": length + len(value), "label": label})
        out.append(value)
        length += len(value)
        position = match.end()
    out.append(marked[position:])
    text = "".join(out)
    if "[[" in text or "]]" in text:
        raise ValueError(f"{where}: a malformed mark is left: {text[text.find('[[') :][:60]!r}")
    return text, entities


def read_records(raw: Path) -> list[dict]:
    """Every record of the raw files, in file order.

    Raises:
        ValueError: A malformed header, an id used twice, text before the first header, or a bad mark.
    """
    records: list[dict] = []
    for path in sorted(raw.glob("*.txt")):
        blocks: list[tuple[dict, list[str]]] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.startswith("### "):
                header = _HEADER.match(line)
                if header is None:
                    raise ValueError(f"{path.name}:{number}: malformed header {line!r}")
                if any(r["id"] == header["id"] for r in records) or any(
                    b[0]["id"] == header["id"] for b in blocks
                ):
                    raise ValueError(f"{path.name}:{number}: id {header['id']} used twice")
                blocks.append(
                    ({"id": header["id"], "kind": header["kind"], "setting": header["setting"]}, [])
                )
            elif blocks:
                blocks[-1][1].append(line)
            elif line.strip():
                raise ValueError(f"{path.name}:{number}: text before the first header")
        numbered = re.match(r"round(\d+)_", path.name)
        round_ = int(numbered[1]) if numbered else 1
        if round_ > 1 and round_ not in ROUND_SPLITS:
            raise ValueError(f"{path.name}: round {round_} has no split (ROUND_SPLITS)")
        for meta, lines in blocks:
            text, entities = unmark("\n".join(lines).strip("\n"), f"{path.name}:{meta['id']}")
            records.append({**meta, "round": round_, "text": text, "entities": entities})
    return records


def jsonl(records: list[dict]) -> str:
    return "".join(
        json.dumps(
            {
                "note_id": r["id"],
                "note_text": r["text"],
                "entities": r["entities"],
                "kind": r["kind"],
                "setting": r["setting"],
            },
            ensure_ascii=False,
        )
        + "\n"
        for r in records
    )


def counts_table(records: list[dict]) -> str:
    """A Markdown table of documents, characters and identifiers per label, for each split and in all."""
    split = splits(records)
    columns = {name: [r for r in records if split[r["id"]] == name] for name in SPLITS}
    columns["all"] = records
    counts = {name: Counter(e["label"] for r in rs for e in r["entities"]) for name, rs in columns.items()}
    rows = ["| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    rows.append("| documents | " + " | ".join(str(len(rs)) for rs in columns.values()) + " |")
    rows.append(
        "| characters | "
        + " | ".join(f"{sum(len(r['text']) for r in rs):,}" for rs in columns.values())
        + " |"
    )
    for label in LABELS:
        rows.append(f"| {label} | " + " | ".join(str(counts[name][label]) for name in columns) + " |")
    rows.append("| **identifiers** | " + " | ".join(f"**{sum(c.values())}**" for c in counts.values()) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT / "experiments/data/phi_records")
    parser.add_argument("--check", action="store_true", help="fail when the JSONL files on disk differ")
    args = parser.parse_args()
    records = read_records(args.data / "raw")
    split = splits(records)
    outputs = {name: jsonl([r for r in records if split[r["id"]] == name]) for name in SPLITS}
    for name, content in outputs.items():
        path = args.data / f"{name}.jsonl"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != content:
                sys.exit(f"{path}: differs from the raw files (run build.py)")
        else:
            path.write_text(content, encoding="utf-8")
    print(counts_table(records))


if __name__ == "__main__":
    main()
