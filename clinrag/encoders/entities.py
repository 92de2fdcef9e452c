"""Clinical entities (disorders and findings) found by a segment model (:mod:`clinrag.encoders.segment`) trained
on French annotated corpora, beside or instead of ``clinrag annotate``'s dictionary (the CIM-10 labels and the
stroke lexicons of :mod:`clinrag.text.entities`).

* Corpora: E3C's French layer 1 (UIMA XMI, ``CLINENTITY`` spans: :func:`read_e3c`) and QUAERO (BRAT stand-off
  files, ten UMLS semantic groups: :func:`read_brat`). The ``entities`` head learns E3C's clinical entities and
  QUAERO's ``quaero_types`` (``DISO``, its disorders, by default) as one label, ``DISORDER``; with
  ``quaero_head``, a second tagging head learns all of QUAERO's groups, sharing the encoder and the BiLSTM.
* ``clinrag train-entities`` (:func:`train_entity_tagger`) writes the tagger's folder; ``clinrag annotate
  --entities tagger|both --tagger-model FOLDER`` reads it (:class:`TaggerPipe`, a pipe of the annotation
  pipeline, before the qualifiers, so the tagger's entities are qualified like the dictionary's).
* :func:`combine` is the one rule that merges the dictionary's disorders with the tagger's spans: every tagger
  span takes the code of the dictionary entity that overlaps it most (CIM-10 or a lexicon's), else none;
  ``tagger`` keeps the tagger's spans only, ``both`` the dictionary's and the tagger's that overlap none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from clinrag.encoders.data import FoundSpan, LabeledSpan
from clinrag.encoders.segment import HeadConfig, SegmentConfig, SegmentModel, TextExample, read_record
from clinrag.errors import ClinragError

ENTITY_HEAD = "entities"
"""The tagging head of clinical entities."""
ENTITY_LABEL = "DISORDER"
"""Its label (the dictionary's label of disorders and findings)."""
QUAERO_HEAD = "quaero"
"""The optional head of QUAERO's semantic groups."""
QUAERO_TYPES = ("ANAT", "CHEM", "DEVI", "DISO", "GEOG", "LIVB", "OBJC", "PHEN", "PHYS", "PROC")
"""QUAERO's UMLS semantic groups."""
TAGGER_KEY = "tagger"
"""The label prefix of the tagger's entities in the annotation pipeline (``tagger|<dictionary key>``)."""
USE = "clinical_entities"


@dataclass(frozen=True)
class AnnotatedText:
    """A text of an annotated corpus with its gold spans (a discontinuous entity is one span per fragment)."""

    doc_id: str
    text: str
    spans: tuple[LabeledSpan, ...]


def read_e3c(folder: str | Path) -> list[AnnotatedText]:
    """E3C's documents (``*.xml`` UIMA XMI files of a folder, sorted by name) with their ``CLINENTITY`` spans.

    Raises:
        ClinragError: No XMI file in the folder, or a file :func:`~clinrag.evaluation.annotation.read_e3c_xmi`
            refuses.
    """
    from clinrag.evaluation.annotation import read_e3c_xmi

    files = sorted(Path(folder).glob("*.xml"))
    if not files:
        raise ClinragError(f"{folder}: no E3C XMI file (*.xml)")
    texts = []
    for path in files:
        text, spans = read_e3c_xmi(path)
        texts.append(
            AnnotatedText(path.stem, text, tuple(LabeledSpan(s.start, s.end, s.kind) for s in spans))
        )
    return texts


def read_brat(folder: str | Path) -> list[AnnotatedText]:
    """The texts of a BRAT stand-off corpus: every ``*.txt`` under ``folder`` (recursively, sorted) with its
    ``.ann`` text-bound annotations (``T1<TAB>TYPE START END[;START END...]<TAB>text``; other lines, such as
    notes and relations, are skipped). Offsets index the ``.txt`` read as UTF-8 with its line ends kept.

    Raises:
        ClinragError: No ``.txt`` file, a missing ``.ann``, or a line whose type or offsets do not read
            (``FILE:LINE: field 'offsets': why``).
    """
    files = sorted(Path(folder).rglob("*.txt"))
    if not files:
        raise ClinragError(f"{folder}: no BRAT text file (*.txt)")
    texts = []
    for path in files:
        ann = path.with_suffix(".ann")
        if not ann.is_file():
            raise ClinragError(f"{path}: no annotation file beside it ({ann.name})")
        text = path.read_text(encoding="utf-8", errors="strict").replace("\r\n", "\n")
        spans = []
        for number, line in enumerate(ann.read_text(encoding="utf-8").splitlines(), 1):
            if not line.startswith("T"):
                continue
            fields = line.split("\t")
            if len(fields) < 2 or " " not in fields[1]:
                raise ClinragError(f"{ann}:{number}: field 'type offsets': not 'TYPE START END'")
            kind, offsets = fields[1].split(" ", 1)
            for fragment in offsets.split(";"):
                try:
                    start, end = (int(x) for x in fragment.split())
                except ValueError:
                    raise ClinragError(f"{ann}:{number}: field 'offsets': not 'START END'") from None
                if not 0 <= start < end <= len(text):
                    raise ClinragError(f"{ann}:{number}: field 'offsets': {start}-{end} outside the text")
                spans.append(LabeledSpan(start, end, kind))
        texts.append(AnnotatedText(path.stem, text, tuple(sorted(spans))))
    return texts


class EntityTaggerConfig(SegmentConfig):
    """Settings of the clinical entity tagger: a segment model's (``encoder``, ``epochs``... of
    :class:`~clinrag.encoders.segment.SegmentConfig`) and which corpus labels it learns."""

    encoder: str = "embedded:multilingual-e5-small"
    """The encoder (French-capable by default)."""
    heads: dict[str, HeadConfig] = Field(
        default_factory=lambda: {ENTITY_HEAD: HeadConfig(kind="tagging", labels=[ENTITY_LABEL])}
    )
    """Set by the tagger (the ``entities`` head, and ``quaero`` with ``quaero_head``)."""
    quaero_types: list[str] = Field(default_factory=lambda: ["DISO"])
    """QUAERO's groups the ``entities`` head learns as disorders."""
    quaero_head: bool = False
    """Also learn all of QUAERO's groups with a head of their own (multi-task)."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """A token is in an entity when its entity tags' probabilities add up to at least this."""

    def segment_config(self) -> SegmentConfig:
        """The segment model's settings, with the tagger's heads."""
        heads = {ENTITY_HEAD: HeadConfig(kind="tagging", labels=[ENTITY_LABEL], threshold=self.threshold)}
        if self.quaero_head:
            heads[QUAERO_HEAD] = HeadConfig(kind="tagging", labels=list(QUAERO_TYPES))
        settings = self.model_dump(exclude={"heads", "quaero_types", "quaero_head", "threshold"})
        return SegmentConfig(**settings, heads=heads)


def entity_examples(
    e3c: Sequence[AnnotatedText], quaero: Sequence[AnnotatedText], config: EntityTaggerConfig
) -> list[TextExample]:
    """The training examples: E3C's ``CLINENTITY`` spans and QUAERO's ``quaero_types`` spans as ``DISORDER`` for
    the ``entities`` head (and, with ``quaero_head``, QUAERO's groups for the ``quaero`` head)."""
    examples = [
        TextExample(t.text, {ENTITY_HEAD: [LabeledSpan(s.start, s.end, ENTITY_LABEL) for s in t.spans]})
        for t in e3c
    ]
    wanted = set(config.quaero_types)
    for t in quaero:
        targets: dict[str, Any] = {
            ENTITY_HEAD: [LabeledSpan(s.start, s.end, ENTITY_LABEL) for s in t.spans if s.label in wanted]
        }
        if config.quaero_head:
            targets[QUAERO_HEAD] = [s for s in t.spans if s.label in QUAERO_TYPES]
        examples.append(TextExample(t.text, targets))
    return examples


def train_entity_tagger(
    e3c: Sequence[AnnotatedText],
    quaero: Sequence[AnnotatedText],
    config: EntityTaggerConfig | None = None,
    progress: bool = False,
) -> SegmentModel:
    """Train the clinical entity tagger on E3C and/or QUAERO texts.

    Raises:
        ClinragError: No training text, or the encoder is not a model folder.
    """
    config = config or EntityTaggerConfig()
    if not e3c and not quaero:
        raise ClinragError("nothing to train the entity tagger on: give E3C and/or QUAERO texts")
    model = SegmentModel(config.segment_config())
    model.metadata = {
        "use": USE,
        "quaero_types": list(config.quaero_types),
        "corpora": {"e3c_texts": len(e3c), "quaero_texts": len(quaero)},
    }
    return model.fit(entity_examples(e3c, quaero, config), progress=progress)


def check_tagger(folder: str | Path) -> None:
    """Refuse, before any work, a folder that is not a clinical entity tagger (a segment model folder with a
    tagging head ``entities``), without loading it.

    Raises:
        ClinragError: One line naming the folder.
    """
    record = read_record(folder)
    head = (record.get("heads") or {}).get(ENTITY_HEAD) or {}
    if head.get("kind") != "tagging":
        raise ClinragError(
            f"{folder}: a segment model, but not a clinical entity tagger (no tagging head 'entities')"
        )


def load_tagger(folder: str | Path, device: str | None = None) -> SegmentModel:
    """Load a clinical entity tagger (checked by :func:`check_tagger`)."""
    check_tagger(folder)
    return SegmentModel.load(folder, device=device)


def tag_entities(model: SegmentModel, texts: Sequence[str]) -> list[list[FoundSpan]]:
    """The entity spans the tagger finds in each text."""
    return [found[ENTITY_HEAD] for found in model.predict(list(texts))]


# ---------------------------------------------------------------------------------------------------------
# the tagger beside the dictionary
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodedSpan:
    """A disorder of a text: offsets, what found it (``dictionary`` or ``tagger``) and the dictionary entry that
    codes it (its matcher key, e.g. ``cim10:I63``, and knowledge-base id), "" when uncoded."""

    start: int
    end: int
    source: str
    key: str = ""
    kb_id: str = ""


def combine(
    dictionary: Sequence[CodedSpan],
    tagged: Sequence[tuple[int, int]],
    mode: Literal["tagger", "both"],
    prefer: Literal["dictionary", "tagger"] = "dictionary",
) -> list[CodedSpan]:
    """The disorders of a text from the dictionary's and the tagger's spans (see the module's docstring).

    Args:
        dictionary: The dictionary's disorders (non-overlapping).
        tagged: The tagger's spans ``(start, end)`` (non-overlapping).
        mode: ``tagger``: the tagger's spans, coded by the dictionary; ``both``: the union.
        prefer: In ``both``, which of two overlapping spans is kept (the other is dropped).

    Returns:
        Non-overlapping spans in text order.
    """

    def overlap(a: Any, b: Any) -> int:
        return max(0, min(a.end, b.end) - max(a.start, b.start))

    coded = []
    for start, end in tagged:
        span = CodedSpan(start, end, "tagger")
        best = max(dictionary, key=lambda d: (overlap(span, d), d.end - d.start), default=None)
        if best is not None and overlap(span, best) > 0:
            span = CodedSpan(start, end, "tagger", best.key, best.kb_id)
        coded.append(span)
    if mode == "tagger":
        return sorted(coded, key=lambda s: (s.start, s.end))
    first, second = (list(dictionary), coded) if prefer == "dictionary" else (coded, list(dictionary))
    kept = first + [s for s in second if not any(overlap(s, k) for k in first)]
    return sorted(kept, key=lambda s: (s.start, s.end))


class TaggerPipe:
    """A pipe of ``clinrag annotate``'s edsnlp pipeline, after the dictionary's matchers and before the
    qualifiers: it replaces the document's disorders by :func:`combine`'s (``mode``), the tagger's labelled
    ``tagger|<key of the dictionary entry that codes it>``; the other entities (drugs, scores...) stay, and a
    tagger span that overlaps one of them is dropped.

    Args:
        model: The entity tagger.
        mode: ``tagger`` or ``both``.
        is_disorder: Whether an entity label of the pipeline is a disorder of the dictionary.
    """

    name = "clinrag_tagger"

    def __init__(
        self, model: SegmentModel, mode: Literal["tagger", "both"], is_disorder: Callable[[str], bool]
    ):
        self.model = model
        self.mode = mode
        self.is_disorder = is_disorder

    def __call__(self, doc: Any) -> Any:
        found = tag_entities(self.model, [doc.text])[0]
        disorders = [e for e in doc.ents if self.is_disorder(e.label_)]
        others = [e for e in doc.ents if not self.is_disorder(e.label_)]
        by_offsets = {(e.start_char, e.end_char): e for e in disorders}
        dictionary = [
            CodedSpan(e.start_char, e.end_char, "dictionary", e.label_, e.kb_id_) for e in disorders
        ]
        ents = list(others)
        for span in combine(dictionary, [(s.start, s.end) for s in found], self.mode):
            if span.source == "dictionary":
                ents.append(by_offsets[(span.start, span.end)])
                continue
            ent = doc.char_span(
                span.start,
                span.end,
                label=f"{TAGGER_KEY}|{span.key}",
                kb_id=span.kb_id,
                alignment_mode="expand",
            )
            if ent is not None and not any(ent.start < e.end and e.start < ent.end for e in ents):
                ents.append(ent)
        doc.ents = sorted(ents, key=lambda e: e.start)
        return doc
