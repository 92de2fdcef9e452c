"""Pseudonymizing a whole cohort: detection (rules, the trained model, or both), patient by patient, then
replacement, with every file of the cohort kept consistent with the new texts.

* **Detectors** are registered by name (:func:`register_detector`; :data:`DETECTORS`) and chosen by
  ``detector``: ``rules`` (:func:`~clinrag.pseudo.rules.detect`),
  ``model`` (the trained :class:`~clinrag.pseudo.ner.NerDetector` alone) and ``hybrid`` (the default: the model's
  spans merged into the rules' first pass). The model is ``model``'s folder, or else the default one trained once
  at setup (``clinrag models prepare``); where neither exists, ``hybrid`` detects with the rules alone and says
  so (:attr:`ModelDetector.note`). Over a patient's record, the names found in any document are looked for again
  in all the others (``propagate_names``), so "Mme Durand" in the letter's header also catches a bare "Durand"
  in the nurse's note.
* **A pseudonymized cohort is still a cohort**: documents rewritten, their ``date`` fields and the table's date
  columns shifted by the patient's offset (intervals kept), evidence and gold identifier offsets carried to the
  new texts, text cells of the table pseudonymized too, splits kept. Document metadata is dropped unless named in
  ``keep_metadata`` (a free key may hold a name). Patient and document ids can be replaced by keyed hashes.
* **Nothing identifying is logged.** Counts go to the summary; the key (seed, offsets, surrogates, id map) is
  written only to the mapping file the user names.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clinrag.data.cohort import Cohort, Document, EvidenceSpan, PhiSpan, save_cohort
from clinrag.errors import ClinragError
from clinrag.pseudo.adaptive import AdaptiveConfig, whole_text
from clinrag.pseudo.adaptive import rewrite as adaptive_rewrite
from clinrag.pseudo.base import DETECTORS, Detector, register_detector
from clinrag.pseudo.corpora import Note
from clinrag.pseudo.evaluate import score
from clinrag.pseudo.labels import Span
from clinrag.pseudo.ner import load_detector_model
from clinrag.pseudo.replace import PatientKey, Replaced, replace, shift_iso_date
from clinrag.pseudo.rules import detect, resolve_overlaps, unprotected_spans
from clinrag.pseudo.vocabulary import protected_ranges

_NAME_LABELS = ("NOM", "PRENOM")


class PseudoConfig(BaseModel):
    """Settings of ``clinrag pseudonymize`` and ``clinrag evaluate-pseudo``."""

    model_config = ConfigDict(extra="forbid")

    detector: str = "hybrid"
    """Which registered detector: ``rules``, ``model`` (the trained identifier model alone) or ``hybrid`` (both;
    the rules alone, with a note, when there is no model: no ``model`` folder and no default one prepared)."""
    model: str | None = None
    """Folder of an identifier model trained by ``clinrag train-pseudo``; None: the default one, trained once at
    setup (``clinrag models prepare``)."""
    mode: Literal["mask", "surrogate", "adaptive"] = "surrogate"
    """``mask`` writes ``[NOM]``; ``surrogate`` writes consistent fake values and shifts dates; ``adaptive`` masks
    by section sensitivity (identity lines whole, identifiers and unknown names in clinical text, identifiers
    alone in general text; :mod:`clinrag.pseudo.adaptive`)."""
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    """Settings of ``mode: adaptive`` (the section labeller, dates, what is masked)."""
    propagate_names: bool = True
    """Look for the names found in one of a patient's documents in all the others."""
    max_shift_days: int = Field(365, ge=1)
    """Largest date offset, in days, either way."""
    min_shift_days: int = Field(32, ge=1)
    """Smallest date offset, in days, either way (32: a month-year always changes)."""
    keep_metadata: list[str] = Field(default_factory=list)
    """Document metadata keys kept as they are (every other metadata key is dropped)."""
    rename_ids: bool = False
    """Replace patient and document ids by keyed hashes (``pat-…``, ``doc-…``)."""
    device: str = "cpu"
    """torch device of the identifier model."""

    @field_validator("detector")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in DETECTORS.classes:
            raise ValueError(DETECTORS.unknown(name))
        return name


# ---------------------------------------------------------------------------------------------------------
# detectors
# ---------------------------------------------------------------------------------------------------------
@register_detector("rules")
class RuleDetector:
    """The rules of :mod:`clinrag.pseudo.rules`."""

    def __init__(self, config: PseudoConfig) -> None:
        self.config = config

    def detect(self, texts: Sequence[str], names: Sequence[Sequence[tuple[str, str]]]) -> list[list[Span]]:
        return [detect(text, labelled_names=known) for text, known in zip(texts, names, strict=True)]


@register_detector("model")
class ModelDetector:
    """The trained identifier model alone (protected clinical terms still never masked).

    Args:
        config: Settings: ``model`` names the folder; None: the default model prepared at setup.
        ner: A model already in memory, used instead of loading one.

    Raises:
        ClinragError: A folder that is not an identifier model, or no model at all (``hybrid`` then falls back
            to the rules instead).
    """

    #: Whether the detector may work with the rules alone when there is no model (``hybrid``).
    falls_back = False

    def __init__(self, config: PseudoConfig, ner: Any | None = None) -> None:
        self.config = config
        self.note: str | None = None
        """Set when the detector works without a model (why, and how to get one)."""
        self.folder: Path | None = None
        if ner is None:
            self.folder = model_folder(config)
            if self.folder is not None:
                ner = load_detector_model(self.folder, device=config.device)
            elif self.falls_back:
                self.note = NO_MODEL_NOTE
            else:
                raise ClinragError(
                    f"detector '{config.detector}' needs a trained identifier model: give one (--model FOLDER, "
                    "pseudo.model) or prepare the default one (`clinrag models prepare`, run by scripts/setup.sh)"
                )
        self.ner = ner
        self._last: tuple[tuple[str, ...], list[list[Span]]] | None = None

    def predict(self, texts: Sequence[str]) -> list[list[Span]]:
        """The model's spans, remembered for the last batch: :func:`detect_record`'s second pass (the same
        texts, more names) does not run the model again."""
        if self.ner is None:
            return [[] for _ in texts]
        key = tuple(texts)
        if self._last is None or self._last[0] != key:
            self._last = (key, self.ner.predict(texts))
        return self._last[1]

    def detect(self, texts: Sequence[str], names: Sequence[Sequence[tuple[str, str]]]) -> list[list[Span]]:
        return [unprotected(text, spans) for text, spans in zip(texts, self.predict(texts), strict=True)]


@register_detector("hybrid")
class HybridDetector(ModelDetector):
    """The model's spans merged into the rules' first pass (the rules alone when there is no model)."""

    falls_back = True

    def detect(self, texts: Sequence[str], names: Sequence[Sequence[tuple[str, str]]]) -> list[list[Span]]:
        predicted = self.predict(texts)
        return [
            detect(text, extra=spans, labelled_names=known)
            for text, spans, known in zip(texts, predicted, names, strict=True)
        ]


NO_MODEL_NOTE = (
    "the default identifier model is not prepared (run `clinrag models prepare`, as scripts/setup.sh does, or "
    "give --model FOLDER): identifiers detected by the rules alone"
)


def model_folder(config: PseudoConfig) -> Path | None:
    """The identifier model folder ``config`` asks for: ``config.model``, else the default one when it is
    prepared, else None (only ``rules`` and ``hybrid`` work then)."""
    from clinrag.models import default_identifier_model

    return Path(config.model) if config.model else default_identifier_model()


def check_detector(config: PseudoConfig) -> None:
    """Refuse, before any work and without loading weights, settings whose detector cannot be built: a ``model``
    folder that is not an identifier model, or detector ``model`` without any model.

    Raises:
        ClinragError: One line naming the folder or the setting.
    """
    from clinrag.pseudo.ner import check_detector_model

    kind = DETECTORS.get(config.detector)
    if not issubclass(kind, ModelDetector):
        return
    folder = model_folder(config)
    if folder is not None:
        check_detector_model(folder)
    elif not kind.falls_back:
        kind(config)  # raises its own "needs a trained identifier model"


def describe_detector(detector: Detector) -> str:
    """What a detector is, in a few words, for the console and ``pseudonymization.json``: its registered name
    and, for a model detector, the folder it loaded (no patient data)."""
    name = next((n for n, cls in DETECTORS.classes.items() if cls is type(detector)), type(detector).__name__)
    if isinstance(detector, ModelDetector):
        if detector.ner is None:
            return f"{name} (rules only: no identifier model)"
        where = detector.folder if detector.folder is not None else "in memory"
        return f"{name} ({'rules + ' if detector.falls_back else ''}model {where})"
    return name


def build_detector(config: PseudoConfig) -> Detector:
    """The detector ``config.detector`` names.

    Raises:
        ClinragError: An unknown name, or a model detector without a model folder.
    """
    return DETECTORS.get(config.detector)(config)


def unprotected(text: str, spans: Sequence[Span]) -> list[Span]:
    """The spans that touch no protected clinical term, without overlaps."""
    return resolve_overlaps(unprotected_spans(text, spans))


def detect_record(detector: Detector, texts: Sequence[str], propagate_names: bool = True) -> list[list[Span]]:
    """Identifiers of one patient's documents; with ``propagate_names``, the names found in any of them are
    looked for again in all (a second pass)."""
    found = detector.detect(texts, [()] * len(texts))
    if not propagate_names or len(texts) < 2:
        return found
    names = sorted({(s.text, s.label) for spans in found for s in spans if s.label in _NAME_LABELS})
    if not names:
        return found
    return detector.detect(texts, [names] * len(texts))


def detect_cohort(
    detector: Detector, documents: Sequence[Document], propagate_names: bool = True, progress: bool = False
) -> dict[str, list[Span]]:
    """Identifiers of every document, patient by patient: ``doc_id -> spans`` (a progress bar over the patients
    when ``progress``)."""
    from clinrag.progress import progress_bar

    by_patient: dict[str, list[Document]] = {}
    for doc in documents:
        by_patient.setdefault(doc.patient_id, []).append(doc)
    out: dict[str, list[Span]] = {}
    for docs in progress_bar(
        by_patient.values(), enabled=progress, desc="detecting identifiers", unit="patient"
    ):
        spans = detect_record(detector, [d.text for d in docs], propagate_names)
        out.update({doc.doc_id: doc_spans for doc, doc_spans in zip(docs, spans, strict=True)})
    return out


# ---------------------------------------------------------------------------------------------------------
# the cohort
# ---------------------------------------------------------------------------------------------------------
@dataclass
class PseudoResult:
    """What :func:`pseudonymize_cohort` did (counts only: nothing identifying) and the key, kept in memory."""

    cohort: Cohort
    counts: Counter[str] = field(default_factory=Counter)
    documents: int = 0
    dropped_metadata: set[str] = field(default_factory=set)
    mapping: dict[str, Any] = field(default_factory=dict)
    masks: Counter[str] = field(default_factory=Counter)
    sensitivities: Counter[str] = field(default_factory=Counter)
    detector: str = ""
    """What detected the identifiers (:func:`describe_detector`)."""
    note: str | None = None
    """Why the detector worked without its model, when it did."""

    def summary(self) -> dict[str, Any]:
        """Detector, counts per label, documents, dropped metadata keys (and, in adaptive mode, the blocks per
        sensitivity and the lines, words and numbers masked beyond the identifiers): safe to print and to write
        beside the cohort."""
        out = {
            "detector": self.detector,
            **({"note": self.note} if self.note else {}),
            "documents": self.documents,
            "identifiers_replaced": sum(self.counts.values()),
            "per_label": dict(sorted(self.counts.items())),
            "dropped_metadata_keys": sorted(self.dropped_metadata),
        }
        if self.sensitivities:
            out["blocks_per_sensitivity"] = dict(sorted(self.sensitivities.items()))
            out["masked_beyond_identifiers"] = {k: self.masks.get(k, 0) for k in ("line", "word", "number")}
        return out


def pseudonymize_cohort(
    cohort: Cohort,
    config: PseudoConfig,
    seed: int | None = None,
    detector: Detector | None = None,
    progress: bool = False,
    labeller: Any = None,
) -> PseudoResult:
    """A new cohort with every document pseudonymized and every other file kept consistent with it.

    Args:
        cohort: The cohort to pseudonymize (left unchanged).
        config: Settings.
        seed: The secret that draws offsets and surrogates; None draws a random one (the run is then
            reproducible only from the mapping file).
        detector: The detector (built from ``config`` when None).
        progress: A progress bar over the patients while detecting identifiers.
        labeller: In adaptive mode, the section labeller (built from ``config.adaptive`` when None).

    Returns:
        The new cohort, counts, and the mapping (seed, offsets, surrogates, ids) for the caller to keep or drop.
    """
    if config.min_shift_days > config.max_shift_days:
        raise ClinragError(
            f"min_shift_days ({config.min_shift_days}) is larger than max_shift_days ({config.max_shift_days})"
        )
    secret = secrets.randbits(64) if seed is None else seed
    detector = detector or build_detector(config)
    keys = {
        pid: PatientKey(pid, secret, config.max_shift_days, config.min_shift_days) for pid in cohort.patients
    }
    if cohort.table:
        for pid in cohort.table:
            keys.setdefault(pid, PatientKey(pid, secret, config.max_shift_days, config.min_shift_days))
    spans = detect_cohort(detector, cohort.documents, config.propagate_names, progress)
    result = PseudoResult(
        cohort=cohort, detector=describe_detector(detector), note=getattr(detector, "note", None)
    )
    sections = {}
    if config.mode == "adaptive":
        sections = _label_sections(cohort.documents, spans, config, labeller)
        result.sensitivities.update(s.label for doc in sections.values() for s in doc)
    patient_ids = {pid: _hashed_id("pat", secret, pid) if config.rename_ids else pid for pid in keys}
    doc_ids = {
        doc.doc_id: _hashed_id("doc", secret, doc.doc_id) if config.rename_ids else doc.doc_id
        for doc in cohort.documents
    }
    replaced: dict[str, Replaced] = {}
    surrogates: dict[str, list[dict[str, str]]] = {}
    new_documents = []
    for doc in cohort.documents:
        key = keys[doc.patient_id]
        if config.mode == "adaptive":
            adaptive = adaptive_rewrite(
                doc.text, spans[doc.doc_id], sections[doc.doc_id], key, config.adaptive
            )
            rewritten = adaptive.replaced
            result.counts.update(s.label for s in spans[doc.doc_id])
            result.masks.update(r.kind for r in adaptive.regions)
            records = adaptive.records(doc.text)
        else:
            rewritten = replace(doc.text, spans[doc.doc_id], key, config.mode)  # type: ignore[arg-type]
            result.counts.update(s.label for s in rewritten.spans)
            records = [
                (old.label, old.text, new.text)
                for old, new in zip(spans[doc.doc_id], rewritten.spans, strict=True)
            ]
        replaced[doc.doc_id] = rewritten
        result.documents += 1
        for label, original, replacement in records:
            surrogates.setdefault(doc.patient_id, []).append(
                {"doc_id": doc.doc_id, "label": label, "original": original, "replacement": replacement}
            )
        kept = {k: v for k, v in doc.metadata.items() if k in config.keep_metadata}
        result.dropped_metadata.update(k for k in doc.metadata if k not in config.keep_metadata)
        new_documents.append(
            Document(
                patient_id=patient_ids[doc.patient_id],
                doc_id=doc_ids[doc.doc_id],
                date=_shift_datetime(doc, key),
                doc_type=doc.doc_type,
                text=rewritten.text,
                has_time=doc.has_time,
                metadata=kept,
            )
        )
    table = None
    if cohort.table is not None:
        table = {
            patient_ids[pid]: _pseudonymize_row(cohort, row, keys[pid], detector, config)
            for pid, row in cohort.table.items()
        }
    evidence = [
        EvidenceSpan(
            patient_ids[e.patient_id],
            e.variable,
            doc_ids[e.doc_id],
            *replaced[e.doc_id].offsets.widen(e.start, e.end),
        )
        for e in cohort.evidence
    ]
    phi = [
        PhiSpan(doc_ids[p.doc_id], *replaced[p.doc_id].offsets.widen(p.start, p.end), p.label)
        for p in cohort.phi
    ]
    result.cohort = Cohort(
        variables=cohort.variables,
        documents=new_documents,
        table=table,
        table_columns=cohort.table_columns,
        splits={patient_ids[pid]: split for pid, split in cohort.splits.items()},
        # a renamed cohort keeps its split explicitly: the default split hashes the (new) ids
        splits_given=cohort.splits_given or (config.rename_ids and bool(cohort.splits)),
        evidence=evidence,
        phi=phi,
    )
    result.mapping = {
        "seed": secret,
        "mode": config.mode,
        "patients": {
            pid: {
                "new_id": patient_ids[pid],
                "offset_days": keys[pid].offset_days,
                "replacements": surrogates.get(pid, []),
            }
            for pid in keys
        },
        "documents": doc_ids if config.rename_ids else {},
    }
    return result


def write_cohort(result: PseudoResult, out: Path, overwrite: bool = False) -> None:
    """Write the pseudonymized cohort to ``out`` all at once (a temporary folder renamed at the end), with
    ``pseudonymization.json`` (counts, no identifier) beside it.

    Raises:
        ClinragError: ``out`` exists and is not empty, without ``overwrite``.
    """
    from clinrag.io import atomic_folder, atomic_write_json

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ClinragError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    with atomic_folder(out, replace=overwrite) as staging:
        save_cohort(result.cohort, staging)
        atomic_write_json(staging / "pseudonymization.json", result.summary())


def pseudonymize_to(
    cohort_dir: str | Path,
    out: str | Path,
    config: PseudoConfig,
    seed: int | None = None,
    mapping: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> PseudoResult:
    """``clinrag pseudonymize``: read a cohort directory, write its pseudonymized copy to ``out`` and the key to
    ``mapping`` (mode 600) when given.

    The output and the key file are checked before any work: a key that cannot be written would be lost with
    its cohort, and a key file is never overwritten (it may re-identify an earlier pseudonymized copy).

    Raises:
        ClinragError: One line: ``out`` is the input cohort or cannot be written, ``mapping`` is inside ``out``,
            exists or has no folder, the model folder is not an identifier model, or the cohort is invalid.
    """
    import os

    from clinrag.data.cohort import cohort_inputs
    from clinrag.data.validate import load_cohort
    from clinrag.io import atomic_write_json, check_output_file, check_output_folder

    cohort_dir, out = Path(cohort_dir), Path(out)
    mapping = Path(mapping) if mapping is not None else None
    if out.resolve() == cohort_dir.resolve():
        raise ClinragError(f"{out}: the output must not be the input cohort")
    check_output_folder(out, "--out", overwrite, inputs=cohort_inputs(cohort_dir), marks=("documents.jsonl",))
    if mapping is not None:
        if mapping.resolve().is_relative_to(out.resolve()):
            raise ClinragError(
                f"{mapping}: the key must not be written inside the output cohort (it would travel with it)"
            )
        check_output_file(mapping, "--mapping")
        if mapping.exists():
            raise ClinragError(
                f"{mapping}: exists; a key is never overwritten (it may re-identify an earlier pseudonymized copy): "
                "name a new file"
            )
        if not mapping.parent.is_dir():
            raise ClinragError(f"{mapping}: its folder does not exist (create {mapping.parent} first)")
    check_detector(config)
    labeller = None
    if config.mode == "adaptive":  # a classifier folder that is not one is refused before any work
        from clinrag.pseudo.section_classifier import build_labeller

        labeller = build_labeller(config.adaptive.classifier)
    result = pseudonymize_cohort(
        load_cohort(cohort_dir), config, seed=seed, progress=progress, labeller=labeller
    )
    write_cohort(result, out, overwrite=overwrite)
    if mapping is not None:
        atomic_write_json(mapping, result.mapping)
        os.chmod(mapping, 0o600)
    return result


def _pseudonymize_row(
    cohort: Cohort, row: dict[str, str], key: PatientKey, detector: Detector, config: PseudoConfig
) -> dict[str, str]:
    """A table row: dates shifted by the patient's offset, free-text cells pseudonymized like documents (in
    adaptive mode, as one clinical block)."""
    kinds = {v.name: v.type for v in cohort.variables}
    out = {}
    for name, cell in row.items():
        kind = kinds.get(name)
        if cell and kind == "date":
            out[name] = shift_iso_date(cell, key)
        elif cell and kind == "text":
            spans = detector.detect([cell], [()])[0]
            if config.mode == "adaptive":
                out[name] = adaptive_rewrite(
                    cell, spans, whole_text(cell), key, config.adaptive
                ).replaced.text
            else:
                out[name] = replace(cell, spans, key, config.mode).text  # type: ignore[arg-type]
        else:
            out[name] = cell
    return out


def _label_sections(
    documents: Sequence[Document], spans: dict[str, list[Span]], config: PseudoConfig, labeller: Any
) -> dict[str, list[Any]]:
    """Each document's blocks with their sensitivity (``doc_id -> labelled blocks``)."""
    from clinrag.pseudo.section_classifier import build_labeller

    labeller = labeller or build_labeller(config.adaptive.classifier)
    texts = [doc.text for doc in documents]
    labelled = labeller.label(texts, [spans[doc.doc_id] for doc in documents])
    return {doc.doc_id: blocks for doc, blocks in zip(documents, labelled, strict=True)}


def _shift_datetime(doc: Document, key: PatientKey) -> Any:
    """The document's date moved by the patient's offset (its time of day kept)."""
    return doc.date + (key.shift(doc.date.date()) - doc.date.date())


def _hashed_id(prefix: str, secret: int, value: str) -> str:
    """A keyed hash of an id (HMAC-SHA256, 10 hex digits): stable under one secret, meaningless without it."""
    digest = hmac.new(str(secret).encode(), value.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:10]}"


def detect_notes(
    detector: Detector, notes: Sequence[Note], propagate_names: bool = True, progress: bool = False
) -> list[list[Span]]:
    """Identifiers of each note, group by group (a patient's documents together, as :func:`detect_cohort`; a
    progress bar over the groups when ``progress``)."""
    from clinrag.progress import progress_bar

    by_group: dict[str, list[int]] = {}
    for index, note in enumerate(notes):
        by_group.setdefault(note.group, []).append(index)
    out: list[list[Span]] = [[] for _ in notes]
    for indices in progress_bar(
        by_group.values(), enabled=progress, desc="detecting identifiers", unit="group"
    ):
        found = detect_record(detector, [notes[i].text for i in indices], propagate_names)
        for index, spans in zip(indices, found, strict=True):
            out[index] = spans
    return out


def evaluate_detection(
    notes: Sequence[Note], predicted: Sequence[Sequence[Span]], kept: Sequence[Sequence[tuple[int, int]]] = ()
) -> dict[str, Any]:
    """eds-pseudo's metrics (:func:`~clinrag.pseudo.evaluate.score`) plus what must stay intact.

    Args:
        notes: The texts with their gold spans.
        predicted: The detector's spans for each note.
        kept: For each note, character ranges that must not be touched (a cohort's gold evidence); empty:
            not measured.

    Returns:
        :func:`~clinrag.pseudo.evaluate.score`'s dict, plus ``protected_intact`` (the share of protected
        clinical terms of the texts that no span touches, with their count; a term inside a gold identifier, as
        "Charcot" in "2 avenue Charcot", is left out: it is to be masked) and, when ``kept`` is given,
        ``evidence_intact`` (the same for those ranges).
    """
    result = score([list(n.spans) for n in notes], [list(p) for p in predicted], [n.text for n in notes])
    protected = [
        [
            (a, b)
            for a, b in protected_ranges(note.text)
            if not any(g.start < b and a < g.end for g in note.spans)
        ]
        for note in notes
    ]
    result["protected_intact"] = _intact(protected, predicted)
    if kept:
        result["evidence_intact"] = _intact(kept, predicted)
    return result


def _intact(
    ranges: Sequence[Sequence[tuple[int, int]]], predicted: Sequence[Sequence[Span]]
) -> dict[str, Any]:
    total = touched = 0
    for doc_ranges, spans in zip(ranges, predicted, strict=True):
        for start, end in doc_ranges:
            total += 1
            touched += any(s.start < end and start < s.end for s in spans)
    return {"share": (total - touched) / total if total else None, "n": total}
