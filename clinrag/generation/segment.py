"""The segment-BiLSTM reader (``reader.type: segment_bilstm``): the fast, encoder-only reader.

Each cell (patient, variable) is one text (:func:`cell_view`): a line naming the variable (name, description,
timepoint), then, in date order, each of its top ``passages`` retrieved passages that mentions the variable, one a
line with its retrieval rank, day and document type, cut to ``max_passage_chars`` from a little before its first
mention (what the ``llm`` reader's prompt shows). The segment encoder (:mod:`clinrag.encoders.segment`: a BERT-class encoder reads each segment, a BiLSTM
reads the whole text, linear heads read the BiLSTM's states) reads it, and a head answers by the variable's type:

* **boolean**: a class head shared by every boolean (``false``, ``true``, ``non documenté``): the header tells
  it which boolean is asked;
* **category**: a class head of the variable's own (its values and ``non documenté``);
* **integer, number, date**: the values the passages state — clinrag's value finder
  (:func:`~clinrag.generation.reader.values_with_timepoints`: in the type and range, durations left out, units
  converted, relative dates resolved against the note), the same values the ``llm`` reader's value model
  chooses among — are spans of the text, each classified by a ``span`` head shared by these types as the answer
  or not. The most probable value answers when its probability reaches ``threshold``; else, or when the
  passages state none, "non documenté". The value finder turns a span into a canonical cell ("la veille" into a
  date, "1,32 g/L" into mmol/L), which a tagging head's raw spans would still need; choosing among its spans
  keeps one parser for every reader.

**Training** (the run's reader stage, :meth:`SegmentReader.train_model`) reads the train split's table alone
(distant supervision): a class head's target is the patient's table cell ("non documenté" when empty), a span's
whether its value is the table cell (by the type's comparison rules). With ``train.weak_evidence``, a training cell
whose passages do not state its table value gets, in place of its last passage, the best-ranked passage of the
record that does by the weak-label rules (:func:`clinrag.generation.lora.with_weak_evidence`, as the LoRA pairs).
A seeded share of the train patients (``train.dev_share``) is held out for early stopping. Gold evidence is never
read. With ``training.augment`` (the run's), the fit cells' weak positives are also rewritten and labelled again by
the weak labeller (:mod:`clinrag.generation.segment_training`).

**Provenance**: a value chosen among spans is supported by its passage, with the value's own document offsets
(``value_start``, ``value_end``); a class answer by the best-ranked passage shown that states it by the weak-label
rules, none when none does (a registry's "non" for an unmentioned condition), as the qualifier model's answers.

**The trained folder** (a run's ``models/segment_reader``, which ``clinrag fill`` reads): ``clinrag_segment_reader.json``
(the variables and each one's head, the settings it was trained with, the training summary, versions) and
``model/``, the segment model's own self-describing folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from clinrag.data.cohort import Cohort, seeded_draw
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.generation.base import CellRequest, CellResult, Learned, register_reader
from clinrag.generation.config import ReaderConfig
from clinrag.generation.constraints import NOT_DOCUMENTED
from clinrag.generation.priors import MentionCache
from clinrag.text.annotate import Mention
from clinrag.text.passages import Passage

RECORD_NAME = "clinrag_segment_reader.json"
COMPONENT = "segment_reader"
WHAT = "clinrag segment reader"
MODEL_FOLDER = "model"

TRAINING_FIELDS = frozenset(
    {
        "encoder",
        "passages",
        "max_passage_chars",
        "segment_length",
        "lstm_hidden",
        "lstm_layers",
        "dropout",
        "train",
    }
)
"""The settings a trained folder depends on (the reader stage's cache key, and its record)."""

VALUE_TYPES = ("integer", "number", "date")
"""Types answered by choosing among the values the passages state (the span head)."""
BOOLEAN_HEAD = "boolean"
VALUE_HEAD = "value"
ANSWER, OTHER = "answer", "other"


def class_head(var: Variable) -> str:
    """The head that answers ``var`` (``boolean``, ``category:NAME`` or ``value``); ``""`` for a type the reader
    does not answer (free text)."""
    if var.type == "boolean":
        return BOOLEAN_HEAD
    if var.type == "category":
        return f"category:{var.name}"
    if var.type in VALUE_TYPES:
        return VALUE_HEAD
    return ""


class SegmentTraining(BaseModel):
    """How the segment reader is trained on the train split (frozen encoder by default: minutes on 2 cores)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(30, ge=1)
    """Passes over the training cells (early stopping on the held-out patients ends most runs sooner)."""
    batch_size: int = Field(16, ge=1)
    """Cells per optimizer step."""
    learning_rate: float = Field(2e-3, gt=0)
    """Peak AdamW learning rate of the BiLSTM and the heads (linear warm-up, then linear decay)."""
    patience: int = Field(4, ge=1)
    """Stop after this many epochs without a lower loss on the held-out patients (their best epoch is kept)."""
    dev_share: float = Field(0.2, ge=0, lt=1)
    """Share of the train patients held out for early stopping (a seeded draw by patient id; 0: none, every
    epoch runs)."""
    weak_evidence: bool = True
    """A training cell whose passages do not state its table value gets the best-ranked passage of the record
    that does (the weak-label rules) in place of its last one; false: the passages as retrieved."""
    encoder_training: Literal["frozen", "fine-tune"] = "frozen"
    """``frozen``: the encoder reads each text once, only the BiLSTM and heads learn; ``fine-tune``: the encoder
    too (its word embeddings stay frozen)."""
    encoder_learning_rate: float = Field(3e-5, gt=0)
    """Peak learning rate of the encoder with ``fine-tune``."""
    seed: int = 0
    """Seed of the heads' initialization, dropout, the cell order and the held-out draw."""


class SegmentReaderConfig(ReaderConfig):
    """The segment-BiLSTM reader's settings. Of the ``llm`` reader's fields it reads ``device`` and
    ``batch_size`` (cells per forward pass); the decoder's, the prompt's and ``lora`` do not apply."""

    type: Literal["segment_bilstm"] = "segment_bilstm"
    encoder: str = "embedded:all-minilm-l6-v2"
    """The segment encoder: ``embedded:all-minilm-l6-v2``, ``embedded:multilingual-e5-small`` or a local
    BERT-class folder with a fast tokenizer (CamemBERT-bio, DrBERT)."""
    path: str | None = None
    """A trained segment reader folder (``models/segment_reader`` of a run); None: the run trains one
    (``training.reader: lora``, the default)."""
    passages: int = Field(5, ge=1)
    """Retrieved passages (best first) read per cell, then put in date order."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Integers, numbers, dates: the probability the most probable stated value needs to answer."""
    segment_length: int = Field(128, ge=8, le=512)
    """Sub-word tokens per encoder segment, special tokens included."""
    lstm_hidden: int = Field(128, ge=4)
    """Hidden size of each direction of the BiLSTM."""
    lstm_layers: int = Field(1, ge=1, le=4)
    """BiLSTM layers."""
    dropout: float = Field(0.1, ge=0, lt=1)
    """Dropout on the BiLSTM's input and output while training."""
    threads: int | None = Field(1, ge=1)
    """torch CPU threads while training and reading (None: torch's default). One by default: on 2 shared cores
    a BiLSTM's many small steps ran 6 to 15 times slower with 2 threads than with 1 (docs/segment_reader.md)."""
    train: SegmentTraining = Field(default_factory=SegmentTraining)
    """Training on the train split."""

    def check_models(self, decoder: bool = True) -> None:
        """Refuse, before any work, a trained folder that is not one (``path``), else an encoder folder that
        cannot be loaded (``encoder``); the decoder of ``model`` is not read."""
        from clinrag.models import check_model_reference

        if self.path:
            read_reader_record(self.path)
        else:
            check_model_reference(
                self.encoder, "segment encoder (reader.encoder)", sentence_transformers=True
            )

    def training_evidence(self) -> bool:
        return self.train.weak_evidence

    def retrieval_depth(self, k: int) -> int:
        """Passages retrieved per cell: ``passages`` (or the decoder's ``k``, when larger)."""
        return max(k, self.passages)


def read_reader_record(folder: str | Path) -> dict[str, Any]:
    """The record of a trained segment reader folder, checked (and its segment model's), without loading any
    weight.

    Raises:
        ClinragError: "FOLDER: not a clinrag segment reader folder (no clinrag_segment_reader.json)", a record
            without its variables, or a ``model/`` that is not a segment model folder.
    """
    from clinrag.encoders.segment import read_record
    from clinrag.io import read_component_record

    folder = Path(folder)
    if not folder.is_dir():
        raise ClinragError(f"{folder}: {WHAT} folder not found (reader.path)")
    record = read_component_record(folder, RECORD_NAME, COMPONENT, WHAT)
    variables = record.get("variables")
    if not isinstance(variables, dict) or not all(
        isinstance(v, dict) and "type" in v and "head" in v for v in variables.values()
    ):
        raise ClinragError(f"{folder / RECORD_NAME}: not a {WHAT} record (no 'variables' with their heads)")
    read_record(folder / MODEL_FOLDER)
    return record


# ---------------------------------------------------------------------------------------------------------------
# what the encoder reads
# ---------------------------------------------------------------------------------------------------------------
def shown_passages(request: CellRequest, count: int) -> list[Passage]:
    """The passages a cell reads: its top ``count`` retrieved ones (best first)."""
    found = request.candidates if request.candidates is not None else request.passages
    return list(found[:count])


class ValueSpan(NamedTuple):
    """A value a passage states, as a span of the cell's text."""

    start: int
    end: int
    cell: str
    """Its canonical cell."""
    passage: int
    """Its passage's index in retrieval order."""
    offset: int
    """Where it starts in its passage's text."""


@dataclass(frozen=True)
class CellView:
    """What the encoder reads for a cell (:func:`cell_view`)."""

    text: str
    passages: list[Passage]
    """The passages shown, in retrieval order (best first)."""
    mentions: list[list[Mention]]
    """Each passage's mentions of the variable (edsnlp, :func:`~clinrag.generation.priors.request_mentions`)."""
    values: list[ValueSpan]
    """Integers, numbers, dates: the values stated in the text (the span head's spans)."""


def cell_view(var: Variable, passages: list[Passage], mentions: list[list[Mention]], chars: int) -> CellView:
    """The text of a cell: a header line (``name : description (timepoint)``), then, in date order, each passage
    that mentions the variable (one of its terms or values, or, for integers, numbers and dates, a value of its
    type), one a line: ``[rank] J<days> doc_type : window``, where rank 1 is the best retrieved, days count from
    the patient's first document and the window is the passage's ``chars`` characters from a little before its
    first mention (:func:`~clinrag.generation.prompts.window_before`: what the ``llm`` reader's prompt shows).
    Passages that mention nothing are left out: a cell whose passages say nothing of the variable reads its
    header alone, and its class head learns what the table has for such cells."""
    from clinrag.generation.prompts import window_before
    from clinrag.generation.reader import values_with_timepoints

    header = f"{var.name} : {var.description}" + (f" ({var.timepoint})" if var.timepoint else "")
    order = sorted(
        range(len(passages)), key=lambda i: (passages[i].date, passages[i].doc_index, passages[i].start)
    )
    text, values = header, []
    for i in order:
        passage = passages[i]
        anchors = [m.start for m in mentions[i] if m.variable == var.name]
        stated = values_with_timepoints(var, passage.text, passage.date) if var.type in VALUE_TYPES else []
        if not anchors:
            anchors = [start for start, *_ in stated]
        if not anchors:
            continue
        begin, end = window_before(passage.text, anchors, chars)
        line = f"\n[{i + 1}] J{int(passage.days)} {passage.doc_type} : "
        shift = len(text) + len(line) - begin
        text += line + passage.text[begin:end]
        values += [
            ValueSpan(shift + start, shift + stop, cell, i, start)
            for start, stop, _answer, cell, _label in stated
            if begin <= start and stop <= end
        ]
    return CellView(text, passages, mentions, values)


def cell_views(requests: list[CellRequest], count: int, chars: int, cache: Any = None) -> list[CellView]:
    """Each request's :func:`cell_view` of its top ``count`` passages, their mentions annotated in one batch per
    variable, or by ``cache`` (a :class:`~clinrag.generation.priors.MentionCache`: the reader's, kept from one
    chunk of cells to the next)."""
    from clinrag.generation.priors import request_mentions

    shown = [CellRequest(r.patient_id, r.variable, shown_passages(r, count)) for r in requests]
    if cache is None:
        mentions = request_mentions(shown, None)
    else:
        mentions = [cache(r.variable, r.passages) for r in shown]
    return [cell_view(r.variable, r.passages, found, chars) for r, found in zip(shown, mentions, strict=True)]


def head_labels(var: Variable) -> list[str]:
    """The labels of the head that answers ``var``."""
    if var.type == "boolean":
        return ["false", "true", NOT_DOCUMENTED]
    if var.type == "category":
        return [*(var.values or []), NOT_DOCUMENTED]
    return [ANSWER, OTHER]


# ---------------------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------------------
def held_out(patients: list[str], share: float, seed: int) -> set[str]:
    """The train patients held out for early stopping: a seeded draw by patient id (never all of them)."""
    if share <= 0 or len(patients) < 2:
        return set()
    chosen = {pid for pid in patients if seeded_draw(seed, f"segment-reader:{pid}") / 2**64 < share}
    return chosen if len(chosen) < len(patients) else set()


# ---------------------------------------------------------------------------------------------------------------
# the reader
# ---------------------------------------------------------------------------------------------------------------
@register_reader("segment_bilstm", SegmentReaderConfig)
class SegmentReader:
    """The segment-BiLSTM reader (see the module docstring)."""

    needs_retrieval = True
    learns_from_table = True
    tunes_adapters = False
    trained_name = "segment_reader"
    """The run's ``models/`` folder of the trained reader."""

    def __init__(self, config: SegmentReaderConfig | None = None, decoder: Any = None):
        from clinrag.encoders.segment import SegmentModel

        self.config = config or SegmentReaderConfig()
        if not self.config.path:
            raise ClinragError(
                "reader.path: the segment_bilstm reader reads a trained folder (`clinrag run` trains one)"
            )
        folder = Path(self.config.path)
        self.record = read_reader_record(folder)
        self.model = SegmentModel.load(folder / MODEL_FOLDER, device=self.config.device)
        self.model.config = self.model.config.model_copy(
            update={"batch_size": self.config.batch_size, "threads": self.config.threads}
        )
        self._mentions = MentionCache()

    def attach(self, cohort: Cohort, learned: Learned) -> None:
        """Nothing the run learns for the other readers is used: the trained folder holds what it learned."""

    # ---- the run's reader stage ---------------------------------------------------------------------------
    @classmethod
    def training_settings(cls, config: SegmentReaderConfig) -> dict[str, Any]:
        """The settings the trained folder depends on (the reader stage's cache key)."""
        return config.model_dump(include=TRAINING_FIELDS)

    @classmethod
    def check_training(cls, config: SegmentReaderConfig, trains: bool) -> None:
        """Refuse a config that gives a trained folder and asks the run to train one, or neither."""
        if trains and config.path:
            raise ClinragError(
                "reader.path is set and training.reader=lora: train a new segment reader (unset reader.path) or "
                "read with the given one (training.reader=none)"
            )
        if not trains and not config.path:
            raise ClinragError(
                "reader.type segment_bilstm with training.reader=none: give a trained folder (reader.path)"
            )

    @classmethod
    def with_trained(cls, config: SegmentReaderConfig, folder: Path) -> SegmentReaderConfig:
        """``config`` reading with the trained ``folder``."""
        return config.model_copy(update={"path": str(folder)})

    @classmethod
    def from_run(cls, config: SegmentReaderConfig, models: Path, trained: bool) -> SegmentReaderConfig:
        """The config a run's folder reads with (``clinrag fill``): its ``models/segment_reader`` when the run
        trained it."""
        if not trained or config.path:
            return config
        folder = models / cls.trained_name
        if not folder.is_dir():
            raise ClinragError(
                f"{models.parent}: models/{cls.trained_name} is missing (the run's segment reader)"
            )
        return cls.with_trained(config, folder)

    @classmethod
    def train_model(
        cls,
        config: SegmentReaderConfig,
        cohort: Cohort,
        requests: list[CellRequest],
        out: Path,
        progress: bool = False,
        augment: Any = None,
    ) -> dict[str, Any]:
        """Train on the train cells ``requests`` (labels from ``cohort.table`` alone) and write the folder; with
        ``augment`` (an active :class:`~clinrag.encoders.augment.AugmentConfig`: ``training.augment``), the fit
        cells' weak positives are rewritten too (:mod:`clinrag.generation.segment_training`).

        Returns:
            The record written (``clinrag_segment_reader.json``).
        """
        import clinrag
        from clinrag.encoders.segment import HeadConfig, SegmentConfig, SegmentModel
        from clinrag.io import atomic_write_json, package_versions

        begun = time.perf_counter()
        variables = {r.variable.name: r.variable for r in requests if class_head(r.variable)}
        if not variables:
            raise ClinragError(
                "the segment reader answers booleans, categories, integers, numbers and dates: none here"
            )
        heads = {
            class_head(var): HeadConfig(
                kind="span" if class_head(var) == VALUE_HEAD else "class", labels=head_labels(var)
            )
            for var in variables.values()
        }
        from clinrag.generation.segment_training import augmented_cells, training_examples

        cells = training_examples(cohort, requests, config.passages, config.max_passage_chars)
        if not cells:
            raise ClinragError("no training cell for the segment reader (no train patient with a table row)")
        patients = sorted({cell.patient_id for cell in cells})
        dev_patients = held_out(patients, config.train.dev_share, config.train.seed)
        fit = [cell.example for cell in cells if cell.patient_id not in dev_patients]
        dev = [cell.example for cell in cells if cell.patient_id in dev_patients]
        augmentation = None
        if augment is not None and augment.active:  # new cells from the fit cells' weak positives
            added, augmentation = augmented_cells(
                cohort,
                [c for c in cells if c.patient_id not in dev_patients],
                augment,
                config.max_passage_chars,
            )
            fit += added
        settings = SegmentConfig(
            encoder=config.encoder,
            heads=heads,
            segment_length=config.segment_length,
            lstm_hidden=config.lstm_hidden,
            lstm_layers=config.lstm_layers,
            dropout=config.dropout,
            encoder_training=config.train.encoder_training,
            epochs=config.train.epochs,
            batch_size=config.train.batch_size,
            learning_rate=config.train.learning_rate,
            encoder_learning_rate=config.train.encoder_learning_rate,
            patience=config.train.patience,
            seed=config.train.seed,
            device=config.device,
            threads=config.threads,
        )
        model = SegmentModel(settings).fit(fit, dev or None, progress=progress)
        model.save(out / MODEL_FOLDER)
        record = {
            "clinrag_component": COMPONENT,
            "variables": {
                name: {"type": var.type, "head": class_head(var)} for name, var in sorted(variables.items())
            },
            "settings": config.model_dump(include=TRAINING_FIELDS),
            "training": {
                "patients": len(patients),
                "held_out_patients": len(dev_patients),
                "cells": len(fit),
                "held_out_cells": len(dev),
                **({"augmentation": augmentation} if augmentation is not None else {}),
                "epochs_run": model.summary.get("epochs_run"),
                "best_epoch": model.summary.get("best_epoch"),
                "seconds": round(time.perf_counter() - begun, 1),
            },
            "versions": {"clinrag": clinrag.__version__, **package_versions("torch", "transformers")},
        }
        atomic_write_json(out / RECORD_NAME, record)
        return record

    # ---- reading ------------------------------------------------------------------------------------------
    def _check_variables(self, requests: list[CellRequest]) -> None:
        known = self.record["variables"]
        for var in {r.variable.name: r.variable for r in requests}.values():
            if not class_head(var):
                continue
            saved = known.get(var.name)
            if saved is None:
                raise ClinragError(
                    f"{self.config.path}: the segment reader was not trained on variable '{var.name}' "
                    f"(it reads {', '.join(sorted(known))})"
                )
            if saved["type"] != var.type:
                raise ClinragError(
                    f"{self.config.path}: variable '{var.name}' was trained as {saved['type']}, not {var.type}"
                )

    def read(self, requests: list[CellRequest], progress: bool = False) -> list[CellResult]:
        """Fill the requested cells, ``batch_size`` cells per forward pass.

        Raises:
            ClinragError: A variable the folder was not trained on, or trained with another type.
        """
        from clinrag.progress import progress_bar

        self._check_variables(requests)
        results: list[CellResult] = []
        bar = progress_bar(enabled=progress, total=len(requests), desc="reading", unit="cell")
        step = max(1, self.config.batch_size) * 8
        for begin in range(0, len(requests), step):
            results.extend(self._read_batch(requests[begin : begin + step]))
            bar.update(min(step, len(requests) - begin))
        bar.close()
        return results

    def _read_batch(self, requests: list[CellRequest]) -> list[CellResult]:
        start = time.perf_counter()
        views = cell_views(requests, self.config.passages, self.config.max_passage_chars, self._mentions)
        given = {}
        if VALUE_HEAD in self.model.config.heads:
            given = {VALUE_HEAD: [[(v.start, v.end) for v in view.values] for view in views]}
        predicted = self.model.predict([view.text for view in views], spans=given)
        seconds = (time.perf_counter() - start) / max(1, len(requests))
        results = []
        for request, view, answer in zip(requests, views, predicted, strict=True):
            var = request.variable
            head = class_head(var)
            tokens = self.model.segmenter(view.text).n_tokens
            if not head:
                failure = "the segment_bilstm reader answers no free-text variable"
                results.append(
                    CellResult(request.patient_id, var.name, "", "", failure, 0.0, None, tokens, seconds)
                )
                continue
            extra: dict[str, Any] = {"answered_by": "segment_bilstm", "head": head}
            if head == VALUE_HEAD:
                cell, raw, score, support = self._chosen_value(view, answer.get(VALUE_HEAD) or [], extra)
            else:
                scored = answer[head]
                cell = "" if scored.label == NOT_DOCUMENTED else scored.label
                raw, score = scored.label, scored.probabilities[scored.label]
                ranked = sorted(scored.probabilities.items(), key=lambda item: -item[1])
                extra["alternatives"] = [
                    [c if c != NOT_DOCUMENTED else "", round(p, 4)] for c, p in ranked[1:4]
                ]
                support = stating_passage(var, cell, view)
            results.append(
                CellResult(
                    request.patient_id,
                    var.name,
                    cell,
                    raw,
                    None,
                    float(score),
                    support,
                    tokens,
                    seconds,
                    extra,
                )
            )
        return results

    def _chosen_value(
        self, view: CellView, scores: list[Any], extra: dict[str, Any]
    ) -> tuple[str, str, float, Passage | None]:
        """``(cell, raw, score, support)``: the most probable stated value when it reaches ``threshold`` (ties: the
        best-ranked passage's), its document offsets in ``extra``; else "non documenté"."""
        found = view.values
        extra["candidates"] = len(found)
        if not found:
            return "", NOT_DOCUMENTED, 1.0, None
        probabilities = [s.probabilities[ANSWER] for s in scores]
        best = max(range(len(found)), key=lambda i: (probabilities[i], -found[i].passage))
        chosen = found[best]
        by_cell: dict[str, float] = {}
        for value, p in zip(found, probabilities, strict=True):
            by_cell[value.cell] = max(by_cell.get(value.cell, 0.0), p)
        ranked = sorted(by_cell.items(), key=lambda item: -item[1])
        extra["alternatives"] = [[c, round(p, 4)] for c, p in ranked if c != chosen.cell][:3]
        if probabilities[best] < self.config.threshold:
            return "", NOT_DOCUMENTED, 1.0 - probabilities[best], None
        passage = view.passages[chosen.passage]
        length = chosen.end - chosen.start
        extra["value_start"] = passage.start + chosen.offset
        extra["value_end"] = passage.start + chosen.offset + length
        raw = passage.text[chosen.offset : chosen.offset + length]
        return chosen.cell, raw, probabilities[best], passage


def stating_passage(var: Variable, cell: str, view: CellView) -> Passage | None:
    """The best-ranked passage shown that states ``cell`` by the weak-label rules (None for an abstention, or
    when none does)."""
    from clinrag.text.evidence import states_value

    if not cell:
        return None
    return next(
        (p for p, m in zip(view.passages, view.mentions, strict=True) if states_value(var, cell, p, m)), None
    )
