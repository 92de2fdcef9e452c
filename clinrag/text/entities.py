"""The annotated corpus: coded, qualified and dated entities of every document, with edsnlp's pipes.

One edsnlp pipeline per configuration: sentences (``eds.sentences``), sections (``eds.sections``), dates
(``eds.dates``, plus clinrag's "la veille" and day counts from the index event, "J3", "H24", "à 3 mois"), the
stroke lexicons (:mod:`clinrag.text.terminology`), CIM-10 (``eds.cim10``, the French ICD-10 labels that edsnlp
ships), drugs (``eds.drugs``, ATC), and the qualifiers ``eds.negation``, ``eds.hypothesis``, ``eds.family`` and
``eds.history``. Each entity gets its section and a date of reference: the nearest date stated in its sentence,
else its document's date. Entities can be normalized to a SNOMED CT edition the user provides.

``clinrag annotate`` writes the result as ``entities.jsonl`` (:func:`annotate_cohort`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clinrag.data.cohort import Cohort, Document
from clinrag.encoders.entities import TAGGER_KEY
from clinrag.text.cim10 import CIM10_KEY, cim10_terms
from clinrag.text.dates import find_dates, find_event_offsets
from clinrag.text.nlp import add_qualifiers, eds_pipeline
from clinrag.text.terminology import (
    STROKE_LEXICONS,
    Concept,
    SnomedConfig,
    Terminology,
    is_case_sensitive,
    load_lexicon,
    load_terminology,
)

logger = logging.getLogger(__name__)

DATE_LABEL = "DATE"
INDEX_EVENT_CODES = ("I63", "I64", "I61", "I60", "G45")
"""CIM-10 codes of the index event: a patient's first document that affirms one dates "J3" and "à 3 mois"."""


class AnnotationConfig(BaseModel):
    """What ``clinrag annotate`` detects and how (every field a ``--set`` override)."""

    model_config = ConfigDict(extra="forbid")

    lexicons: list[str] = Field(default_factory=lambda: [f"embedded:{name}" for name in STROKE_LEXICONS])
    """Lexicon YAML files (``embedded:NAME`` for the shipped stroke lexicons: disorders, scores, toast,
    occlusion, thrombolysis)."""
    cim10: bool = True
    """Match the French CIM-10 labels that edsnlp ships (building the matcher takes 15-25 s)."""
    cim10_matcher: Literal["exact", "simstring"] = "exact"
    """``exact`` phrases, or ``simstring`` approximate matching (higher recall, slower)."""
    cim10_edsnlp: bool = False
    """Use edsnlp's ``eds.cim10`` as it is (labels, short labels and codes such as "I63" as patterns) instead of
    clinrag's CIM-10 matcher (labels and short labels; codes left out, they match stray tokens)."""
    cim10_heads: bool = True
    """clinrag's matcher also matches each label's head as notes write it: "Fièvre, sans précision" as "fièvre",
    "Scoliose idiopathique (infantile)" as "scoliose idiopathique" (disease chapters A-T; see :func:`cim10_terms`)."""
    drugs: bool = True
    """Match drugs and code them in ATC (``eds.drugs``)."""
    history: bool = True
    """Qualify mentions as medical history: ``eds.history``'s cues ("ATCD de") and the "Antécédents" sections."""
    index_codes: list[str] = Field(default_factory=lambda: list(INDEX_EVENT_CODES))
    """Codes whose first affirmed mention in a patient's documents dates the index event ("J3", "à 3 mois" count
    from that document's date; without one, from each document's own date)."""
    snomed: SnomedConfig = Field(default_factory=SnomedConfig)
    """Normalization to a user-provided SNOMED CT edition (``snomed.path``; ``clinrag annotate --snomed``)."""
    entities: Literal["dictionary", "tagger", "both"] = "dictionary"
    """Who finds disorders and findings: ``dictionary`` (the CIM-10 labels and lexicons above), ``tagger`` (a trained
    entity tagger, ``tagger_model``; each of its spans takes the code of the dictionary entry that overlaps it, else
    none) or ``both`` (the dictionary's, plus the tagger's where the dictionary found nothing)."""
    tagger_model: str | None = None
    """The entity tagger's folder (``clinrag train-entities``), for ``entities: tagger`` or ``both``."""
    device: str = "cpu"
    """torch device of the entity tagger."""

    @model_validator(mode="after")
    def _tagger_named(self) -> AnnotationConfig:
        if self.entities != "dictionary" and not self.tagger_model:
            raise ValueError(f"entities '{self.entities}' needs tagger_model (--tagger-model FOLDER)")
        return self


@dataclass
class Entity:
    """A coded, qualified, dated mention (one line of entities.jsonl).

    Attributes:
        doc_id: The document ("" for a bare text).
        start: Character offset in the document's text.
        end: End offset (exclusive).
        text: The text at those offsets.
        label: DISORDER, DRUG, SCORE, ETIOLOGY, OCCLUSION, PROCEDURE (lexicons may add others), or DATE.
        code: The code in ``system`` (None for a date).
        system: CIM-10, ATC, a lexicon's system, or None.
        source: What found it: ``lexicon``, ``cim10``, ``drugs``, ``dates`` or ``tagger`` (the entity tagger; its
            code, when it has one, is the dictionary entry's that overlaps it).
        negated: Under a negation ("pas de FA").
        hypothetical: Under a hypothesis ("FA ?", "à éliminer").
        family: About a relative ("père diabétique").
        history: Medical history (an "Antécédents" section, "ancien", ...).
        section: The edsnlp section it lies in ("" before any title).
        date: ISO date the mention refers to: for a DATE its value; else the nearest date of its sentence, or the
            document's date.
        date_source: DATE: ``absolute``, ``document`` (relative to the note: "la veille") or ``index`` (counted
            from the index event: "J3"); other entities: ``sentence`` or ``document``.
        snomed_code: The SNOMED CT concept it was normalized to (with a terminology), else None.
        snomed_term: The terminology's term that matched.
        snomed_score: 100 for an exact match, the fuzzy score otherwise.
        snomed_method: ``exact`` or ``fuzzy``.
    """

    doc_id: str
    start: int
    end: int
    text: str
    label: str
    code: str | None
    system: str | None
    source: str
    negated: bool = False
    hypothetical: bool = False
    family: bool = False
    history: bool = False
    section: str = ""
    date: str | None = None
    date_source: str | None = None
    snomed_code: str | None = None
    snomed_term: str | None = None
    snomed_score: float | None = None
    snomed_method: str | None = None
    name: str = ""
    """The concept's name (lexicon) or CIM-10 label, for normalization; not written."""

    @property
    def affirmed(self) -> bool:
        """Neither negated, hypothetical nor about a relative."""
        return not (self.negated or self.hypothetical or self.family)

    def to_json(self, patient_id: str | None = None) -> dict[str, Any]:
        """The entities.jsonl record (``patient_id`` first when given)."""
        record = asdict(self)
        record.pop("name")
        return {"patient_id": patient_id, **record} if patient_id is not None else record


@dataclass
class TextAnnotation:
    """What the pipeline found in one text, before dates are resolved against the document's dates."""

    entities: list[Entity]
    sentences: list[tuple[int, int]]
    sections: list[tuple[int, int, str]]
    edsnlp_dates: list[tuple[int, int, Any]]
    """``(start, end, edsnlp date object)`` of ``eds.dates``."""


class EntityAnnotator:
    """The corpus-annotation pipeline of a configuration.

    Args:
        config: What to detect (default: stroke lexicons, CIM-10, drugs, every qualifier).
        terminology: A loaded terminology (else ``config.snomed.path`` is read, when set).
    """

    def __init__(
        self,
        config: AnnotationConfig | None = None,
        terminology: Terminology | None = None,
        progress: bool | None = None,
    ):
        self.config = config or AnnotationConfig()
        self.progress = progress
        """True: a spinner while the pipeline is built and a bar while texts are annotated; False: neither;
        None: a bar for more than 200 texts only."""
        self.concepts: list[Concept] = [c for name in self.config.lexicons for c in load_lexicon(name)]
        if terminology is None and self.config.snomed.path:
            terminology = load_terminology(self.config.snomed.path, self.config.snomed)
        self.terminology = terminology

    @cached_property
    def nlp(self):
        """The edsnlp pipeline (built on first use: CIM-10 takes a while, shown by a spinner when
        :attr:`progress`)."""
        from clinrag.progress import working

        with working("building the annotation pipeline (CIM-10 terms, drugs)", enabled=bool(self.progress)):
            return self._build_pipeline()

    def _build_pipeline(self):
        import edsnlp.pipes as eds

        nlp = eds_pipeline(sections=True, dates=True)
        exact: dict[str, list[str]] = {}
        as_written: dict[str, list[str]] = {}
        for index, concept in enumerate(self.concepts):
            for term in concept.terms:
                (as_written if is_case_sensitive(term) else exact).setdefault(f"c{index}", []).append(term)
        # edsnlp shows a progress bar over the 42,886 CIM-10 terms it adds (hard-coded): kept off the terminal
        # (the spinner of `nlp` writes to the stream it took before)
        with contextlib.redirect_stderr(io.StringIO()):
            if self.config.cim10 and self.config.cim10_edsnlp:
                logger.info("building edsnlp's CIM-10 matcher (%s)", self.config.cim10_matcher)
                nlp.add_pipe(eds.cim10(term_matcher=self.config.cim10_matcher, span_setter=["ents"]))
            elif self.config.cim10:
                logger.info("building the CIM-10 matcher (%s)", self.config.cim10_matcher)
                nlp.add_pipe(
                    eds.matcher(
                        terms=cim10_terms(heads=self.config.cim10_heads),
                        attr="NORM",
                        term_matcher=self.config.cim10_matcher,
                        span_setter=["ents"],
                    ),
                    name="cim10",
                )
            if self.config.drugs:
                nlp.add_pipe(eds.drugs(span_setter=["ents"]))
        # The lexicons come last: on the very same span, the last setter's entity is kept (the longest span wins
        # otherwise), and a curated stroke term is more specific than a CIM-10 label or a drug name.
        if exact:
            nlp.add_pipe(eds.matcher(terms=exact, attr="NORM", span_setter=["ents"]), name="lexicon")
        if as_written:
            nlp.add_pipe(eds.matcher(terms=as_written, attr="TEXT", span_setter=["ents"]), name="acronyms")
        # edsnlp's history sections include "histoire de la maladie" (the present illness): its cues are used, and
        # the "antécédents" sections are added in finish().
        matchers = len(nlp.pipe_names)
        nlp = add_qualifiers(nlp, family={}, history=self.config.history)
        if self.config.entities != "dictionary":
            # the tagger's disorders, before the qualifiers (so qualified like the dictionary's); added once they
            # are built, as edsnlp's qualifiers read the metadata of the pipes before them, which it has not
            from clinrag.encoders.entities import TaggerPipe, load_tagger

            tagger = load_tagger(self.config.tagger_model, device=self.config.device)
            pipe = TaggerPipe(tagger, self.config.entities, self._is_disorder)
            nlp.add_pipe(pipe, name="tagger", before=nlp.pipe_names[matchers])
        return nlp

    @cached_property
    def _qualifier_nlp(self):
        return add_qualifiers(eds_pipeline(sections=True), family={}, history=True)

    def qualify_spans(self, text: str, spans: list[tuple[int, int]]) -> list[dict[str, bool]]:
        """edsnlp's qualifiers of given spans of a text (detection left aside: the spans are taken as entities).

        Returns:
            For each span, ``negated``, ``hypothetical``, ``family`` and ``history``.
        """
        nlp = self._qualifier_nlp
        doc = nlp.make_doc(text)
        ents = [doc.char_span(start, end, label="X", alignment_mode="expand") for start, end in spans]
        from spacy.util import filter_spans

        doc.ents = filter_spans([e for e in ents if e is not None])
        for _name, pipe in nlp.pipeline:
            doc = pipe(doc)
        by_offsets = {(e.start_char, e.end_char): e for e in doc.ents}
        result = []
        for start, end in spans:
            ent = next((e for (s, t), e in by_offsets.items() if s < end and start < t), None)
            result.append(
                {
                    "negated": bool(ent is not None and ent._.negation),
                    "hypothetical": bool(ent is not None and ent._.hypothesis),
                    "family": bool(ent is not None and ent._.family),
                    "history": bool(ent is not None and ent._.history),
                }
            )
        return result

    @cached_property
    def _cim10_labels(self) -> dict[str, str]:
        import pandas as pd
        from edsnlp import BASE_DIR

        table = pd.read_csv(BASE_DIR / "resources" / "cim10.csv.gz", usecols=["code", "long"])
        return dict(zip(table["code"], table["long"], strict=True))

    def annotate_texts(self, texts: list[str]) -> list[TextAnnotation]:
        """Entities, sentences, sections and edsnlp dates of raw texts (dates not resolved yet)."""
        from clinrag.progress import progress_bar

        result = []
        show = len(texts) > 200 if self.progress is None else self.progress
        parsed_texts = progress_bar(
            self.nlp.pipe(texts), enabled=show, total=len(texts), desc="annotating", unit="doc"
        )
        for parsed in parsed_texts:
            entities = [self._entity(ent) for ent in parsed.ents]
            result.append(
                TextAnnotation(
                    entities=[e for e in entities if e is not None],
                    sentences=[(s.start_char, s.end_char) for s in parsed.sents],
                    sections=[(s.start_char, s.end_char, s.label_) for s in parsed.spans.get("sections", [])],
                    edsnlp_dates=[
                        (s.start_char, s.end_char, s._.date) for s in parsed.spans.get("dates", [])
                    ],
                )
            )
        return result

    def _found(self, label: str, kb_id: str) -> tuple[str, str | None, str | None, str, str] | None:
        """What a matcher's entity label (and knowledge-base id) stands for: kind, code, system, source, name."""
        if label.startswith("c") and label[1:].isdigit():
            concept = self.concepts[int(label[1:])]
            return (concept.label, concept.code, concept.system, "lexicon", concept.name)
        if label == "cim10" or label.startswith(CIM10_KEY):
            code = kb_id if label == "cim10" else label[len(CIM10_KEY) :]
            return ("DISORDER", code, "CIM-10", "cim10", self._cim10_labels.get(code, ""))
        if label == "drug":
            return ("DRUG", kb_id, "ATC", "drugs", "")
        return None

    def _is_disorder(self, label: str) -> bool:
        found = self._found(label, "")
        return found is not None and found[0] == "DISORDER"

    def _entity(self, ent) -> Entity | None:
        label = ent.label_
        if label.startswith(f"{TAGGER_KEY}|"):  # the tagger's, coded by the dictionary entry that overlaps it
            coded = self._found(label[len(TAGGER_KEY) + 1 :], ent.kb_id_)
            found = (
                "DISORDER",
                *(coded[1:3] if coded else (None, None)),
                "tagger",
                coded[4] if coded else "",
            )
        else:
            found = self._found(label, ent.kb_id_)
        if found is None:  # pragma: no cover - every pipe that writes ents is listed above
            return None
        kind, code, system, source, name = found
        return Entity(
            doc_id="",
            start=ent.start_char,
            end=ent.end_char,
            text=ent.text,
            label=kind,
            code=code,
            system=system,
            source=source,
            negated=bool(ent._.negation),
            hypothetical=bool(ent._.hypothesis),
            family=bool(ent._.family),
            history=bool(getattr(ent._, "history", False)) if self.config.history else False,
            name=name,
        )

    @staticmethod
    def _in_history_section(section: str) -> bool:
        return section.startswith("antécédent")

    def finish(
        self,
        doc_id: str,
        text: str,
        annotation: TextAnnotation,
        document_date: dt.datetime | None,
        index_date: dt.date | None,
    ) -> list[Entity]:
        """Resolve dates (relative ones against the document's date, day counts against the index date), give each
        entity its section and date of reference, normalize to the terminology; returns entities then dates, in
        text order."""
        dates = resolve_dates(text, annotation.edsnlp_dates, document_date, index_date)
        entities = []
        for entity in annotation.entities:
            entity.doc_id = doc_id
            entity.section = _section_at(annotation.sections, entity.start)
            if self.config.history and self._in_history_section(entity.section):
                entity.history = True
            entity.date, entity.date_source = _reference_date(
                entity, dates, annotation.sentences, document_date
            )
            if self.terminology is not None:
                match = self.terminology.match(entity.text, entity.name)
                if match is not None:
                    entity.snomed_code, entity.snomed_term = match.code, match.term
                    entity.snomed_score, entity.snomed_method = match.score, match.method
            entities.append(entity)
        for start, end, day, source in dates:
            entities.append(
                Entity(
                    doc_id=doc_id,
                    start=start,
                    end=end,
                    text=text[start:end],
                    label=DATE_LABEL,
                    code=None,
                    system=None,
                    source="dates",
                    section=_section_at(annotation.sections, start),
                    date=day.isoformat(),
                    date_source=source,
                )
            )
        return sorted(entities, key=lambda e: (e.start, e.end, e.label))

    def annotate_documents(self, documents: list[Document]) -> list[Entity]:
        """Annotate documents (of one or several patients); day counts use each patient's index date."""
        annotations = self.annotate_texts([doc.text for doc in documents])
        by_doc = dict(zip((d.doc_id for d in documents), annotations, strict=True))
        index_dates = self.index_dates(documents, by_doc)
        entities: list[Entity] = []
        for doc in documents:
            entities.extend(
                self.finish(
                    doc.doc_id, doc.text, by_doc[doc.doc_id], doc.date, index_dates.get(doc.patient_id)
                )
            )
        return entities

    def patient_index_dates(self, documents: list[Document]) -> dict[str, dt.date]:
        """Each patient's index date (see :meth:`index_dates`), annotating the documents."""
        annotations = self.annotate_texts([doc.text for doc in documents])
        return self.index_dates(documents, dict(zip((d.doc_id for d in documents), annotations, strict=True)))

    def index_dates(self, documents: list[Document], by_doc: dict[str, TextAnnotation]) -> dict[str, dt.date]:
        """Each patient's index date: the date of their first document (in date order) with an affirmed,
        present-tense mention of an index-event code (``config.index_codes``)."""
        codes = set(self.config.index_codes)
        found: dict[str, dt.date] = {}
        for doc in sorted(documents, key=lambda d: (d.date, d.doc_id)):
            if doc.patient_id in found:
                continue
            if any(e.code in codes and e.affirmed and not e.history for e in by_doc[doc.doc_id].entities):
                found[doc.patient_id] = doc.date.date()
        return found


def _section_at(sections: list[tuple[int, int, str]], offset: int) -> str:
    label = ""
    for start, _end, name in sections:
        if start <= offset:
            label = name
    return label


def resolve_dates(
    text: str,
    edsnlp_dates: list[tuple[int, int, Any]],
    document_date: dt.datetime | None,
    index_date: dt.date | None,
) -> list[tuple[int, int, dt.date, str]]:
    """Every date of a text resolved to a day: ``(start, end, date, source)``.

    Day counts from the index event ("J3", "H24", "à 3 mois") are resolved against ``index_date`` (else the
    document's date), phrases relative to the note ("la veille", "le lendemain") and edsnlp's relative dates
    ("il y a 3 jours") against the document's date; absolute dates as written (a missing year from the
    document's). Where two readings overlap, the first of that order wins.
    """
    reference = document_date.date() if document_date is not None else None
    candidates: list[tuple[int, int, dt.date, str]] = []
    anchor = index_date or reference
    if anchor is not None:
        source = "index" if index_date is not None else "document"
        candidates += [(s, e, d, source) for s, e, d in find_event_offsets(text, anchor)]
    for start, end, day in find_dates(text, reference):
        relative = not any(ch.isdigit() for ch in text[start:end])
        candidates.append((start, end, day, "document" if relative else "absolute"))
    note = dt.datetime.combine(reference, dt.time()) if reference is not None else None
    for start, end, value in edsnlp_dates:
        day = _edsnlp_day(value, note)
        if day is not None:
            relative = str(getattr(value, "mode", "")).lower().endswith("relative")
            candidates.append((start, end, day, "document" if relative else "absolute"))
    kept: list[tuple[int, int, dt.date, str]] = []
    for candidate in candidates:
        if not any(candidate[0] < k[1] and k[0] < candidate[1] for k in kept):
            kept.append(candidate)
    return sorted(kept)


def _edsnlp_day(value: Any, note: dt.datetime | None) -> dt.date | None:
    if value is None or getattr(value, "bound", None) is not None:  # "depuis le 3 mars": a bound, not a date
        return None
    try:
        moment = value.to_datetime(note_datetime=note, infer_from_context=True, tz=None, default_day=1)
    except Exception:  # noqa: BLE001 - edsnlp raises various errors on partial dates; such a date is skipped
        return None
    if moment is None or not hasattr(moment, "year"):
        return None
    try:
        return dt.date(moment.year, moment.month, moment.day)
    except (TypeError, ValueError):
        return None


def _reference_date(
    entity: Entity,
    dates: list[tuple[int, int, dt.date, str]],
    sentences: list[tuple[int, int]],
    document_date: dt.datetime | None,
) -> tuple[str | None, str | None]:
    sentence = next(((s, e) for s, e in sentences if s <= entity.start < e), (entity.start, entity.end))
    inside = [
        (min(abs(start - entity.end), abs(entity.start - end)), day)
        for start, end, day, _ in dates
        if sentence[0] <= start < sentence[1] and not (start < entity.end and entity.start < end)
    ]
    if inside:
        return min(inside, key=lambda pair: pair[0])[1].isoformat(), "sentence"
    if document_date is not None:
        return document_date.date().isoformat(), "document"
    return None, None


def annotate_cohort(
    cohort: Cohort, config: AnnotationConfig | None = None, progress: bool | None = None
) -> list[dict[str, Any]]:
    """The entities.jsonl records of a cohort (documents in documents.jsonl's order); ``progress`` as
    :attr:`EntityAnnotator.progress`."""
    annotator = EntityAnnotator(config, progress=progress)
    entities = annotator.annotate_documents(cohort.documents)
    patient_of = {doc.doc_id: doc.patient_id for doc in cohort.documents}
    return [entity.to_json(patient_of[entity.doc_id]) for entity in entities]


def annotate_to(
    cohort_dir: str | Path, out: str | Path, config: AnnotationConfig, progress: bool | None = None
) -> dict[str, Any]:
    """``clinrag annotate``: annotate a cohort directory into ``out`` (``entities.jsonl``, ``annotation.json``;
    ``out`` may be the cohort directory itself). Returns annotation.json's record (its counts).

    Raises:
        ClinragError: ``out`` cannot be written, or the cohort is invalid (one line).
    """
    from clinrag.data.validate import load_cohort
    from clinrag.io import atomic_write_json, atomic_write_jsonl, check_output_folder

    out = Path(out)
    check_output_folder(out, "--out")
    if config.entities != "dictionary":
        from clinrag.encoders.entities import check_tagger

        check_tagger(config.tagger_model)  # before the cohort is read and the pipeline built
    cohort = load_cohort(cohort_dir)
    records = annotate_cohort(cohort, config, progress=progress)
    atomic_write_jsonl(out / "entities.jsonl", records)
    manifest = annotation_manifest(cohort, config, records)
    atomic_write_json(out / "annotation.json", manifest)
    return manifest


def annotation_manifest(
    cohort: Cohort, config: AnnotationConfig, records: list[dict[str, Any]]
) -> dict[str, Any]:
    """annotation.json: the settings, versions, the documents' fingerprint and counts (no document text)."""
    from collections import Counter
    from importlib.metadata import version

    import clinrag

    return {
        "clinrag_component": "annotation",
        "config": config.model_dump(),
        "documents": len(cohort.documents),
        "documents_sha256": cohort.documents_sha256(),
        "entities": len(records),
        "labels": dict(sorted(Counter(r["label"] for r in records).items())),
        "qualifiers": {
            name: sum(1 for r in records if r[name])
            for name in ("negated", "hypothetical", "family", "history")
        },
        "snomed_coded": sum(1 for r in records if r["snomed_code"]),
        "versions": {"clinrag": clinrag.__version__, "edsnlp": version("edsnlp")},
    }
