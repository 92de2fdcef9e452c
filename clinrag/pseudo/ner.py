"""The trainable identifier detector: the segment encoder (:mod:`clinrag.encoders.segment`) with one tagging head
over the 13 eds-pseudo labels.

A note is cut into segments of ``segment_length`` sub-word tokens, each read by a local BERT-class encoder (the
embedded multilingual-e5-small by default, all-MiniLM-L6-v2, or CamemBERT-bio / DrBERT on a server); a BiLSTM
reads the tokens of all the segments in order, so a token at a segment's edge sees the whole note; a linear head
tags each token (BIO over the labels). A token is an identifier when its identifier tags' probabilities add up to
at least ``threshold`` (below 0.5 the model favours recall: a missed identifier leaks, an extra mask costs little);
a span is widened to whole words (the gold spans of eds-pseudo are) and kept when plausible for its label
(:func:`plausible`: never an age, a score or a common word).

Training reads texts with gold spans (eds-pseudo's ``entities``, a cohort's ``phi.jsonl``) and nothing else; with
the encoder frozen (the default), each text is encoded once and only the BiLSTM and the head learn: minutes on 2
CPU cores, seeded and deterministic. The trained detector is a segment model folder (``clinrag_segment.json``,
``encoder/``, ``heads.safetensors``) whose training summary records its data and settings.

Folders of earlier clinrag versions (``clinrag_ner.json``: a token-classification head on a fine-tuned encoder)
still load through :func:`load_detector_model` (:mod:`clinrag.pseudo._token_ner`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clinrag.encoders.augment import AugmentConfig
from clinrag.errors import ClinragError
from clinrag.pseudo.labels import LABELS, Span
from clinrag.pseudo.vocabulary import common_words, fold

if TYPE_CHECKING:
    from clinrag.pseudo.corpora import Note

#: The segment model's head that tags identifiers.
HEAD = "identifiers"


class NerConfig(BaseModel):
    """Settings of the trainable identifier detector (``clinrag train-pseudo --set KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = "embedded:multilingual-e5-small"
    """The encoder: ``embedded:NAME`` (``multilingual-e5-small``, ``all-minilm-l6-v2``) or a local folder (any
    BERT-class model with a fast tokenizer)."""
    encoder_training: Literal["frozen", "fine-tune"] = "frozen"
    """``frozen``: only the BiLSTM and the head learn, on the encoder's states computed once (minutes on a CPU);
    ``fine-tune``: the encoder too (a GPU)."""
    segment_length: int = Field(128, ge=16, le=512)
    """Sub-word tokens per segment, special tokens included."""
    encoder_layers: list[int] | Literal["thirds"] = "thirds"
    """The encoder's layers read, side by side (0 the embeddings, -1 the last layer), or ``"thirds"``: those at a
    third, two thirds and the end of its depth (4, 8, 12 of multilingual-e5-small). Its last layer is trained for
    sentence embeddings; the middle ones keep more of each token: the model alone on free text it never saw,
    0.79-0.90 -> 0.89-0.96 (docs/pseudonymization.md). ``[-1]`` reads the last alone."""
    lstm_hidden: int = Field(128, ge=4)
    """Hidden size of each direction of the BiLSTM."""
    epochs: int = Field(8, ge=1)
    """Passes over the training texts (16 did better on eds-pseudo's held-out folds, model alone 0.880 -> 0.898,
    and worse on the free-text records written by hand, 0.81-0.86 -> 0.80-0.84: docs/augmentation.md)."""
    batch_size: int = Field(8, ge=1)
    """Texts per optimizer step."""
    learning_rate: float = Field(2e-3, gt=0)
    """Peak AdamW learning rate of the BiLSTM and the head (linear warm-up, then linear decay)."""
    encoder_learning_rate: float = Field(3e-5, gt=0)
    """Peak learning rate of the encoder (``fine-tune``)."""
    dropout: float = Field(0.1, ge=0, lt=1)
    """Dropout on the BiLSTM's input and output."""
    threshold: float = Field(0.15, gt=0, lt=1)
    """A token is an identifier when its identifier tags' probabilities add up to at least this (0.3 before:
    0.15 gained 0.002-0.004 of the model's recall and 0-0.002 of the hybrid's on five record sets it had not seen,
    for 0.004-0.010 of the model's precision and 0.003-0.007 of the hybrid's; docs/pseudonymization.md)."""
    seed: int = 0
    """Seed of the initialization, dropout and the text order."""
    device: str = "cpu"
    """torch device (``cuda`` on a GPU server)."""
    threads: int | None = Field(2, ge=1)
    """torch CPU threads while training and detecting (None: torch's default)."""
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    """Augmented training texts (:mod:`clinrag.encoders.augment`): ``--set augment.method=rules`` writes
    ``augment.per_example`` variants of each training text, every identifier kept verbatim at its new offsets
    (a variant whose identifiers are not all there is dropped); ``none`` (the default) trains on the texts as
    given."""

    def recorded(self) -> dict[str, Any]:
        """The settings a trained model records (``augment`` only when it is used: a model trained without it
        records what a clinrag before it recorded)."""
        return self.model_dump(exclude=None if self.augment.active else {"augment"})

    def segment_config(self) -> Any:
        """The :class:`~clinrag.encoders.segment.SegmentConfig` these settings make."""
        from clinrag.encoders.segment import HeadConfig, SegmentConfig

        return SegmentConfig(
            encoder=self.encoder,
            heads={HEAD: HeadConfig(kind="tagging", labels=list(LABELS), threshold=self.threshold)},
            segment_length=self.segment_length,
            encoder_layers=self.encoder_layers,
            lstm_hidden=self.lstm_hidden,
            dropout=self.dropout,
            encoder_training=self.encoder_training,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            encoder_learning_rate=self.encoder_learning_rate,
            seed=self.seed,
            device=self.device,
            threads=self.threads,
        )


@dataclass(frozen=True)
class Example:
    """A text and its gold identifiers, for training."""

    text: str
    spans: tuple[Span, ...]

    @classmethod
    def of_notes(cls, notes: Iterable[Note]) -> list[Example]:
        """The training examples of notes read with their gold identifiers (:mod:`clinrag.pseudo.corpora`)."""
        return [cls(note.text, note.spans) for note in notes]


class NerDetector:
    """The segment-encoder identifier detector; see the module's docstring.

    Build one with :meth:`train` or :meth:`load`; :meth:`predict` finds spans.

    Args:
        model: A trained :class:`~clinrag.encoders.segment.SegmentModel` with a tagging head ``identifiers`` over
            the 13 labels.
    """

    kind = "segment encoder + BiLSTM"

    def __init__(self, model: Any):
        self.model = model

    @property
    def summary(self) -> dict[str, Any]:
        """The training summary saved with the model (counts, losses, seconds, the data it learned from)."""
        return self.model.summary

    @property
    def threshold(self) -> float:
        """The tagging threshold (see :class:`NerConfig`)."""
        return self.model.config.heads[HEAD].threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        heads = self.model.config.heads
        heads[HEAD] = heads[HEAD].model_copy(update={"threshold": value})

    # ---- training -----------------------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        examples: Sequence[Example],
        config: NerConfig | None = None,
        progress: bool = False,
        data: dict[str, Any] | None = None,
    ) -> NerDetector:
        """Train the detector on texts with gold identifier spans.

        Args:
            examples: Training texts with their spans (overlapping spans: the longer one is kept).
            config: Settings (defaults when None).
            progress: A progress bar over the training steps.
            data: What the examples are (files, hashes, counts), recorded in the training summary.

        Raises:
            ClinragError: No example, or an encoder folder that is not one.
        """
        from clinrag.encoders.augment import Labelled, augment
        from clinrag.encoders.segment import SegmentModel, TextExample

        config = config or NerConfig()
        if not examples:
            raise ClinragError("no training text: the NER detector needs texts with gold identifier spans")
        model = SegmentModel(config.segment_config())
        labelled = [Labelled.of(e.text, [(s.start, s.end, s.label) for s in e.spans]) for e in examples]
        added = augment(labelled, config.augment)  # re-check: every identifier still there, same string
        labelled += [variant.example for variant in added.variants]
        model.fit([TextExample(e.text, {HEAD: list(e.spans)}) for e in labelled], progress=progress)
        model.summary["identifiers"] = sum(len(e.spans) for e in examples)
        model.summary["settings"] = config.recorded()
        if config.augment.active:
            model.summary["augmentation"] = {"method": config.augment.method, **added.summary()}
        if data is not None:
            model.summary["data"] = data
        return cls(model)

    # ---- inference ----------------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str]) -> list[list[Span]]:
        """The identifiers the model finds in each text (non-overlapping, sorted, ``source="model"``)."""
        from clinrag.pseudo.rules import resolve_overlaps

        found = self.model.predict(list(texts))
        out = []
        for text, heads in zip(texts, found, strict=True):
            spans = [
                Span.of(text, s.start, s.end, s.label, source="model") for s in heads[HEAD] if s.end > s.start
            ]
            out.append(resolve_overlaps(s for s in spans if plausible(s)))
        return out

    # ---- persistence --------------------------------------------------------------------------------------
    def save(self, folder: str | Path, replace: bool = False) -> Path:
        """Write the segment model folder, all or nothing (see the module's docstring)."""
        return self.model.save(folder, replace=replace)

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> NerDetector:
        """Load a folder written by :meth:`save`.

        Raises:
            ClinragError: The folder is not a segment model, or its model has no ``identifiers`` tagging head over
                the 13 eds-pseudo labels.
        """
        from clinrag.encoders.segment import RECORD_NAME, SegmentModel, read_record

        record = read_record(folder)
        head = (record.get("heads") or {}).get(HEAD) or {}
        if head.get("kind") != "tagging" or head.get("labels") != list(LABELS):
            raise ClinragError(
                f"{Path(folder) / RECORD_NAME}: a segment model without an identifier head (a tagging head "
                f"'{HEAD}' over the 13 eds-pseudo labels): not an identifier model of `clinrag train-pseudo`"
            )
        return cls(SegmentModel.load(folder, device=device))


def load_detector_model(folder: str | Path, device: str | None = None) -> Any:
    """The identifier model of a folder: a segment model (:class:`NerDetector`, ``clinrag_segment.json``) or a
    token-classification model of an earlier clinrag (``clinrag_ner.json``, still read as it was).

    Raises:
        ClinragError: One line: the folder is missing, or is neither kind of identifier model.
    """
    from clinrag.encoders.segment import RECORD_NAME
    from clinrag.pseudo import _token_ner

    folder = Path(folder)
    if not folder.is_dir():
        raise ClinragError(
            f"{folder}: identifier model folder not found (a folder of `clinrag train-pseudo`)"
        )
    if (folder / RECORD_NAME).is_file():
        return NerDetector.load(folder, device=device)
    if (folder / _token_ner.RECORD_NAME).is_file():
        return _token_ner.TokenNerDetector.load(folder, device=device)
    raise ClinragError(
        f"{folder}: not a clinrag identifier model folder (no {RECORD_NAME}; train one with `clinrag train-pseudo`)"
    )


def check_detector_model(folder: str | Path) -> None:
    """Refuse, before any work and without loading weights, a folder that is not an identifier model.

    Raises:
        ClinragError: As :func:`load_detector_model`.
    """
    from clinrag.encoders.segment import RECORD_NAME, read_record
    from clinrag.io import read_component_record
    from clinrag.pseudo import _token_ner

    folder = Path(folder)
    if not folder.is_dir():
        raise ClinragError(
            f"{folder}: identifier model folder not found (a folder of `clinrag train-pseudo`)"
        )
    if (folder / RECORD_NAME).is_file():
        read_record(folder)
    elif (folder / _token_ner.RECORD_NAME).is_file():
        read_component_record(folder, _token_ner.RECORD_NAME, _token_ner.COMPONENT, "clinrag NER model")
    else:
        raise ClinragError(
            f"{folder}: not a clinrag identifier model folder (no {RECORD_NAME}; train one with `clinrag "
            "train-pseudo`)"
        )


_MONTH = re.compile(
    r"janv|f[ée]vr?|mars|avr|mai|juin|juil|ao[uû]t|sept|oct|nov|d[ée]c|jan|feb|mar|apr|may|jun|jul|aug|sep|dec",
    re.IGNORECASE,
)
_DAY_MONTH = re.compile(r"(?<!\d)(\d{1,2})\s?[/.-]\s?(\d{1,2})(?!\d)")
_STREET = re.compile(
    r"\b(?:rue|avenue|av|bd|boulevard|all[ée]e|chemin|place|impasse|route|quai|cours|square|voie|r[ée]sidence|"
    r"lieu-dit|hameau|sentier|passage|cit[ée])\b",
    re.IGNORECASE,
)
_FRACTION = re.compile(r"\d{1,3} ?/ ?\d{1,3}")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")


def plausible(span: Span) -> bool:
    """Whether a span the model proposes can be what its label says; the model alone masked ages ("63" of
    "63 ans") and scores ("21/42") as dates and lower-case words as names.

    * Never a number of one to three digits alone nor a score ("22/42"), whatever the label, nor a common
      word (``lexicon.yaml``) unless a date.

    * DATE, DATE_NAISSANCE: a month's name, a year, a day/month pair of valid numbers, or six or eight digits
      (spaced or not) reading as a day, a month and a year.
    * NOM, PRENOM: starts with a capital letter, and is not a common word (``lexicon.yaml``).
    * HOPITAL, VILLE: holds a capital letter, and is not a common word ("Madame", "Glycémie").
    * IPP, NDA, TEL, SECU: at least 4 digits; ZIP: at least 3 (the "73" of "73 ans" is none of them).
    * ADRESSE: a digit, a capital letter or a street word ("sept allée des roses").
    """
    text = span.text
    if text.isdigit() and len(text) <= 3:
        return False  # an age, a score, a dose, whatever the label
    if fold(text) in common_words() and span.label not in ("DATE", "DATE_NAISSANCE"):
        return False  # "Madame", "Glycémie" (the common words hold the months: those are dates)
    if span.label in ("DATE", "DATE_NAISSANCE"):
        if _MONTH.search(text) or _YEAR.search(text):
            return True
        if any(1 <= int(d) <= 31 and 1 <= int(m) <= 12 for d, m in _DAY_MONTH.findall(text)):
            return True
        digits = "".join(c for c in text if c.isdigit())
        return len(digits) in (6, 8) and 1 <= int(digits[:2]) <= 31 and 1 <= int(digits[2:4]) <= 12
    if _FRACTION.fullmatch(text):
        return False  # a score ("NIHSS 22/42") read as a phone or a number
    digits = sum(c.isdigit() for c in text)
    if span.label in ("NOM", "PRENOM"):
        return text[0].isupper() and fold(text) not in common_words()
    if span.label in ("HOPITAL", "VILLE"):
        return any(c.isupper() for c in text) and fold(text) not in common_words()
    if span.label in ("IPP", "NDA", "TEL", "SECU"):
        return digits >= 4
    if span.label == "ZIP":
        return digits >= 3
    if span.label == "ADRESSE":
        return digits > 0 or any(c.isupper() for c in text) or _STREET.search(text) is not None
    return True
