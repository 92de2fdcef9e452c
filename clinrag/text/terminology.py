"""Terminologies the user provides (SNOMED CT is licensed and cannot ship) and the editable stroke lexicons.

A terminology file is either a SNOMED CT RF2 description file (``sct2_Description_*.txt``: tab-separated, columns
``id effectiveTime active moduleId conceptId languageCode typeId term caseSignificanceId``; active rows of the
chosen languages are kept) or a plain ``code<TAB>term`` file (``#`` comments and blank lines skipped). Mentions
are normalized to it by exact match on a folded form (case, accents, punctuation), then, when none, by fuzzy
match (rapidfuzz) above a threshold.

A lexicon is a YAML file of concepts (``label``, ``code``, ``system``, ``name``, ``terms``); the stroke lexicons
(disorders and risk factors in CIM-10, NIHSS and Rankin, TOAST, occlusion sites, thrombolysis drugs) ship in
``clinrag/text/lexicons/`` and can be edited or replaced.
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from clinrag.errors import ClinragError
from clinrag.text import folding

RF2_COLUMNS = (
    "id",
    "effectiveTime",
    "active",
    "moduleId",
    "conceptId",
    "languageCode",
    "typeId",
    "term",
    "caseSignificanceId",
)
FSN_TYPE = "900000000000003001"
"""typeId of a fully specified name, whose trailing semantic tag ("(trouble)", "(disorder)") is no wording."""
_SEMANTIC_TAG = re.compile(r"\s*\([^()]*\)\s*$")


def fold(text: str) -> str:
    """The form terms are compared in: lower case, no accents, every run of non-alphanumerics one space
    (:func:`clinrag.text.folding.fold`, style ``"ascii"``)."""
    return folding.fold(text, "ascii")


class SnomedConfig(BaseModel):
    """Normalization of mentions to a user-provided terminology (a SNOMED CT edition, or ``code<TAB>term``)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    """The terminology file (RF2 description file or ``code<TAB>term``); None: no normalization."""
    languages: list[str] = Field(default_factory=lambda: ["fr"])
    """RF2 ``languageCode`` values kept."""
    fuzzy: bool = True
    """Try a fuzzy match when no term matches exactly."""
    threshold: float = Field(90.0, ge=0, le=100)
    """Lowest rapidfuzz score (0-100) a fuzzy match needs."""
    scorer: Literal["ratio", "token_sort_ratio", "token_set_ratio", "WRatio"] = "token_sort_ratio"
    """rapidfuzz scorer of fuzzy matches (token_sort_ratio: word order does not count)."""
    min_chars: int = Field(5, ge=1)
    """Mentions shorter than this (folded) are matched exactly only: a fuzzy "FA" would match anything short."""


@dataclass(frozen=True)
class TermMatch:
    """A mention normalized to a terminology entry.

    Attributes:
        code: The entry's code (a SNOMED CT conceptId).
        term: The entry's term that matched, as written in the file.
        score: 100 for an exact match, the fuzzy score otherwise.
        method: ``exact`` or ``fuzzy``.
    """

    code: str
    term: str
    score: float
    method: str


class Terminology:
    """Terms by code, searchable exactly (folded forms) and fuzzily (rapidfuzz).

    Args:
        entries: ``(code, term)`` pairs; several terms may share a code.
        config: Matching settings.
    """

    def __init__(self, entries: list[tuple[str, str]], config: SnomedConfig | None = None):
        self.config = config or SnomedConfig()
        self.entries = entries
        self._exact: dict[str, tuple[str, str]] = {}
        for code, term in entries:
            self._exact.setdefault(fold(term), (code, term))
        self._choices = list(self._exact)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def codes(self) -> set[str]:
        """Every code of the terminology."""
        return {code for code, _ in self.entries}

    def match(self, *texts: str) -> TermMatch | None:
        """The entry that the first of ``texts`` to match names (each tried exactly, then each fuzzily).

        Args:
            texts: Wordings of one mention, best first (the text as written, then the concept's name).
        """
        folded = [fold(t) for t in texts if t and fold(t)]
        for key in folded:
            if key in self._exact:
                code, term = self._exact[key]
                return TermMatch(code, term, 100.0, "exact")
        if not self.config.fuzzy or not self._choices:
            return None
        from rapidfuzz import fuzz, process

        scorer = getattr(fuzz, self.config.scorer)
        best: TermMatch | None = None
        for key in folded:
            if len(key) < self.config.min_chars:
                continue
            found = process.extractOne(key, self._choices, scorer=scorer, score_cutoff=self.config.threshold)
            if found is not None and (best is None or found[1] > best.score):
                code, term = self._exact[found[0]]
                best = TermMatch(code, term, round(float(found[1]), 2), "fuzzy")
        return best


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """UTF-8 lines of a file, numbered from 1.

    Raises:
        ClinragError: Unreadable, or a line that is not UTF-8 (its number and column named).
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ClinragError(f"{path}: cannot read: {err.strerror}") from err
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ClinragError(
                f"{path}:{number}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        lines.append((number, text.rstrip("\r")))
    return lines


def load_terminology(path: str | Path, config: SnomedConfig | None = None) -> Terminology:
    """Read a SNOMED CT RF2 description file or a ``code<TAB>term`` file (told apart by the RF2 header).

    Raises:
        ClinragError: Missing file, bad encoding, a malformed line (file, line and field named), or no term.
    """
    config = config or SnomedConfig()
    path = Path(path)
    if not path.is_file():
        raise ClinragError(f"{path}: no such terminology file")
    lines = _read_lines(path)
    first = next((text for _, text in lines if text.strip()), "")
    entries = _read_rf2(path, lines, config) if first.split("\t")[:2] == ["id", "effectiveTime"] else None
    if entries is None:
        entries = _read_code_terms(path, lines)
    if not entries:
        raise ClinragError(f"{path}: no term found (expected an RF2 description file or CODE<TAB>TERM lines)")
    return Terminology(entries, config)


def _read_rf2(path: Path, lines: list[tuple[int, str]], config: SnomedConfig) -> list[tuple[str, str]]:
    header_seen = False
    entries = []
    for number, text in lines:
        if not text.strip():
            continue
        columns = text.split("\t")
        if not header_seen:
            if tuple(columns) != RF2_COLUMNS:
                raise ClinragError(f"{path}:{number}: RF2 header expected: {' '.join(RF2_COLUMNS)}")
            header_seen = True
            continue
        if len(columns) != len(RF2_COLUMNS):
            raise ClinragError(
                f"{path}:{number}: field '{RF2_COLUMNS[min(len(columns), len(RF2_COLUMNS) - 1)]}': "
                f"expected {len(RF2_COLUMNS)} tab-separated columns, found {len(columns)}"
            )
        row = dict(zip(RF2_COLUMNS, columns, strict=True))
        if row["active"] not in ("0", "1"):
            raise ClinragError(f"{path}:{number}: field 'active': expected 0 or 1, found '{row['active']}'")
        if not row["conceptId"].isdigit():
            raise ClinragError(f"{path}:{number}: field 'conceptId': expected an SCTID (digits)")
        if not row["term"].strip():
            raise ClinragError(f"{path}:{number}: field 'term': empty")
        if row["active"] != "1" or row["languageCode"] not in config.languages:
            continue
        term = row["term"].strip()
        if row["typeId"] == FSN_TYPE:
            term = _SEMANTIC_TAG.sub("", term) or term
        entries.append((row["conceptId"], term))
    return entries


def _read_code_terms(path: Path, lines: list[tuple[int, str]]) -> list[tuple[str, str]]:
    entries = []
    for number, text in lines:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if "\t" not in text:
            raise ClinragError(f"{path}:{number}: field 'term': missing (expected CODE<TAB>TERM)")
        code, term = (part.strip() for part in text.split("\t", 1))
        if not code:
            raise ClinragError(f"{path}:{number}: field 'code': empty")
        if not term or "\t" in term:
            reason = "empty" if not term else "more than two tab-separated columns"
            raise ClinragError(f"{path}:{number}: field 'term': {reason} (expected CODE<TAB>TERM)")
        entries.append((code, term))
    return entries


# ---------------------------------------------------------------------------------------------------------
# Lexicons
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Concept:
    """A lexicon entry: what its terms are (label), and their code in a system."""

    label: str
    code: str
    system: str
    name: str
    terms: tuple[str, ...]


STROKE_LEXICONS = ("disorders", "scores", "toast", "occlusion", "thrombolysis")
"""The lexicons shipped in ``clinrag/text/lexicons/`` (``embedded:NAME`` in a config)."""


def lexicon_path(name: str) -> Path:
    """The file of a lexicon: ``embedded:NAME`` (shipped) or a path."""
    if name.startswith("embedded:"):
        stem = name.split(":", 1)[1]
        if stem not in STROKE_LEXICONS:
            raise ClinragError(f"unknown embedded lexicon '{stem}' (known: {', '.join(STROKE_LEXICONS)})")
        return Path(str(importlib.resources.files("clinrag.text").joinpath("lexicons", f"{stem}.yaml")))
    return Path(name)


def _concept_lines(text: str) -> list[int]:
    """The line (1-based) of each item of the top-level ``concepts`` list (empty if the YAML does not parse)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "concepts" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def load_lexicon(name: str) -> list[Concept]:
    """Read a lexicon YAML (``embedded:NAME`` or a path): top-level defaults ``label`` and ``system``, and a
    ``concepts`` list whose items have ``code``, ``name``, ``terms`` and optionally their own label and system.

    Raises:
        ClinragError: Missing file, bad YAML, or a concept without its fields (file, line and field named).
    """
    path = lexicon_path(name)
    if not path.is_file():
        raise ClinragError(f"{path}: no such lexicon file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ClinragError(f"{path}: not valid UTF-8 (byte {err.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ClinragError(f"{path}{where}: malformed YAML: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("concepts"), list):
        raise ClinragError(f"{path}: field 'concepts': a lexicon needs a list of concepts")
    lines = _concept_lines(text)
    concepts = []
    for index, item in enumerate(data["concepts"]):
        where = f"{path}:{lines[index]}" if index < len(lines) else f"{path}: concept {index + 1}"
        if not isinstance(item, dict):
            raise ClinragError(f"{where}: a concept must be a mapping (code, name, terms)")
        merged = {"label": data.get("label"), "system": data.get("system"), **item}
        for key in ("label", "system", "code", "name"):
            if not isinstance(merged.get(key), str | int) or not str(merged[key]).strip():
                raise ClinragError(f"{where}: field '{key}': missing or empty")
        terms = merged.get("terms")
        if (
            not isinstance(terms, list)
            or not terms
            or not all(isinstance(t, str) and t.strip() for t in terms)
        ):
            raise ClinragError(f"{where}: field 'terms': must be a non-empty list of words")
        unknown = set(item) - {"label", "system", "code", "name", "terms"}
        if unknown:
            raise ClinragError(f"{where}: field '{sorted(unknown)[0]}': unknown key")
        concepts.append(
            Concept(
                label=str(merged["label"]),
                code=str(merged["code"]),
                system=str(merged["system"]),
                name=str(merged["name"]),
                terms=tuple(dict.fromkeys(t.strip() for t in terms)),
            )
        )
    return concepts


def is_case_sensitive(term: str) -> bool:
    """Whether a term is an acronym matched as written: capitals, at most 4 characters ("FA", "HTA", "AIT")."""
    letters = [c for c in term if c.isalpha()]
    return bool(letters) and len(term) <= 4 and all(c.isupper() for c in letters)
