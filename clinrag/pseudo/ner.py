"""A trainable identifier detector: token classification (BIO over the 13 eds-pseudo labels) on any local
encoder, the embedded all-MiniLM-L6-v2 by default (CamemBERT-bio, DrBERT or any BERT-like folder on a server).

The model reads sub-word tokens in windows (``max_length`` tokens, overlapping by ``stride``); a token read in
several windows gets the mean of its probabilities. A token is an identifier when the probabilities of all
identifier labels add up to at least ``threshold`` (below 0.5, the model favours recall: a missed identifier
leaks, an extra mask costs little), and takes the most probable of them. Neighbouring tokens of one label form a
span unless the second starts a new entity ("B-") after a space; spans are then widened to whole words, as the
gold spans of eds-pseudo are.

Training reads texts with gold spans (a cohort's ``phi.jsonl``, eds-pseudo's ``entities``): nothing else. The
trained detector saves as a self-describing folder (``clinrag_ner.json`` with settings, label list, training
summary and versions, next to the Hugging Face model and tokenizer).
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clinrag.errors import ClinragError
from clinrag.io import atomic_write_json, read_component_record
from clinrag.pseudo.labels import LABELS, Span
from clinrag.pseudo.vocabulary import common_words, fold
from clinrag.training import linear_warmup_decay

logger = logging.getLogger(__name__)

#: The file that makes a folder a clinrag NER model.
NER_CONFIG_NAME = "clinrag_ner.json"
#: BIO tags: "O", then B- and I- of each label.
TAGS: tuple[str, ...] = ("O", *(f"{p}-{label}" for label in LABELS for p in ("B", "I")))
_IGNORE = -100


class NerConfig(BaseModel):
    """Settings of the trainable identifier detector."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = "embedded:all-minilm-l6-v2"
    """The encoder to fine-tune: ``embedded:NAME`` or a local folder (BERT-like, with a fast tokenizer)."""
    max_length: int = Field(256, ge=16, le=4096)
    """Sub-word tokens per window (special tokens included)."""
    stride: int = Field(64, ge=0)
    """Tokens shared by two consecutive windows of a long text."""
    epochs: int = Field(3, ge=1)
    """Passes over the training texts."""
    batch_size: int = Field(16, ge=1)
    """Windows per optimizer step (and per inference batch)."""
    learning_rate: float = Field(1e-4, gt=0)
    """Peak AdamW learning rate (linear warm-up, then linear decay)."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    """Share of the steps spent warming up."""
    empty_window_rate: float = Field(0.3, ge=0, le=1)
    """Share of the training windows without any identifier that are kept (long documents are mostly text
    without identifiers: keeping them all makes training slow and teaches little)."""
    threshold: float = Field(0.3, gt=0, lt=1)
    """A token is an identifier when its identifier labels' probabilities add up to at least this."""
    seed: int = 0
    """Seed of the head's initialization, the window sampling and the batch order."""
    device: str = "cpu"
    """torch device (``cuda`` on a GPU server)."""


@dataclass(frozen=True)
class Example:
    """A text and its gold identifiers, for training."""

    text: str
    spans: tuple[Span, ...]


class NerDetector:
    """Token classification of identifiers; see the module's docstring.

    Build one with :meth:`train` or :meth:`from_pretrained`; :meth:`predict` finds spans.
    """

    def __init__(self, model: Any, tokenizer: Any, config: NerConfig, summary: dict[str, Any] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.summary = summary or {}

    # ---- training -----------------------------------------------------------------------------------------
    @classmethod
    def train(
        cls, examples: Sequence[Example], config: NerConfig | None = None, progress: bool = False
    ) -> NerDetector:
        """Fine-tune the encoder on texts with gold identifier spans.

        Args:
            examples: Training texts with their spans (overlapping spans: the longer one is kept).
            config: Settings (defaults when None).
            progress: A progress bar over the training steps.

        Raises:
            ClinragError: No example, or an encoder folder that is not one.
        """
        import torch

        config = config or NerConfig()
        if not examples:
            raise ClinragError("no training text: the NER detector needs texts with gold identifier spans")
        torch.manual_seed(config.seed)  # the classification head's initialization
        model, tokenizer = _load_encoder(config)
        device = torch.device(config.device)
        model.to(device)
        rng = random.Random(config.seed)
        windows = [w for example in examples for w in _training_windows(tokenizer, example, config)]
        kept = [w for w in windows if w.has_entity or rng.random() < config.empty_window_rate]
        if not kept:
            raise ClinragError("the training texts give no window to learn from")
        steps = config.epochs * math.ceil(len(kept) / config.batch_size)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, linear_warmup_decay(int(steps * config.warmup_ratio), steps)
        )
        torch.manual_seed(config.seed)
        model.train()
        losses = []
        from clinrag.progress import progress_bar

        bar = progress_bar(enabled=progress, total=steps, desc="training the NER model", unit="step")
        for epoch in range(config.epochs):
            epoch_loss = 0.0
            for batch in _length_batches(kept, config.batch_size, rng):
                inputs = _collate(batch, tokenizer.pad_token_id, device, with_labels=True)
                loss = model(**inputs).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                epoch_loss += loss.item() * len(batch)
                bar.update(1)
            losses.append(epoch_loss / len(kept))
            logger.info("NER epoch %d/%d: loss %.4f", epoch + 1, config.epochs, losses[-1])
        bar.close()
        model.eval()
        summary = {
            "texts": len(examples),
            "identifiers": sum(len(e.spans) for e in examples),
            "windows": len(kept),
            "windows_dropped_without_identifier": len(windows) - len(kept),
            "steps": steps,
            "epoch_losses": [round(x, 5) for x in losses],
        }
        return cls(model, tokenizer, config, summary)

    # ---- inference ----------------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str]) -> list[list[Span]]:
        """The identifiers the model finds in each text (non-overlapping, sorted, ``source="model"``)."""
        import torch

        config = self.config
        device = torch.device(config.device)
        self.model.to(device)
        self.model.eval()
        windows = [
            w for index, text in enumerate(texts) for w in _windows(self.tokenizer, text, config, index)
        ]
        # token probabilities, summed over the windows that read each token: text -> (start, end) -> sum
        sums: list[dict[tuple[int, int], Any]] = [{} for _ in texts]
        ordered = sorted(windows, key=lambda w: len(w.input_ids))
        with torch.inference_mode():
            for batch in _batches(ordered, config.batch_size):
                inputs = _collate(batch, self.tokenizer.pad_token_id, device, with_labels=False)
                probs = torch.softmax(self.model(**inputs).logits.float(), dim=-1).cpu()
                for row, window in enumerate(batch):
                    for position, offset in enumerate(window.offsets):
                        if offset is None:
                            continue
                        previous = sums[window.text_index].get(offset)
                        value = probs[row, position]
                        sums[window.text_index][offset] = value if previous is None else previous + value
        return [
            _decode(text, token_probs, config.threshold)
            for text, token_probs in zip(texts, sums, strict=True)
        ]

    # ---- persistence --------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> None:
        """Write the model and tokenizer (Hugging Face files) and ``clinrag_ner.json``."""
        import torch
        import transformers

        import clinrag

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        record = {
            "clinrag_component": "ner_detector",
            "config": self.config.model_dump(),
            "tags": list(TAGS),
            "training": self.summary,
            "versions": {
                "clinrag": clinrag.__version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            },
        }
        atomic_write_json(folder / NER_CONFIG_NAME, record)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | None = None) -> NerDetector:
        """Load a folder written by :meth:`save_pretrained`.

        Raises:
            ClinragError: The folder is missing or is not a clinrag NER model.
        """
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        folder = Path(folder)
        record = read_component_record(folder, NER_CONFIG_NAME, "ner_detector", "clinrag NER model")
        if record.get("tags") != list(TAGS):
            raise ClinragError(
                f"{folder / NER_CONFIG_NAME}: not a clinrag NER model with the 13 eds-pseudo labels"
            )
        config = NerConfig(**record["config"])
        if device is not None:
            config = config.model_copy(update={"device": device})
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForTokenClassification.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as err:
            raise ClinragError(f"{folder}: the NER model cannot be loaded ({err})") from err
        return cls(model, tokenizer, config, record.get("training"))


# ---------------------------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Window:
    """Sub-word tokens of a part of one text: ids, character offsets (None for special tokens), tags."""

    text_index: int
    input_ids: list[int]
    offsets: list[tuple[int, int] | None]
    tags: list[int]
    has_entity: bool


def _load_encoder(config: NerConfig) -> tuple[Any, Any]:
    """The encoder with a fresh token-classification head, and its fast tokenizer."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from clinrag.models import require_model_folder, resolve_model_path

    folder = require_model_folder(resolve_model_path(config.encoder), "identifier detector's encoder")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were newly initialized": the head, as intended
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForTokenClassification.from_pretrained(
            folder,
            local_files_only=True,
            num_labels=len(TAGS),
            id2label=dict(enumerate(TAGS)),
            label2id={tag: i for i, tag in enumerate(TAGS)},
        )
    except (OSError, ValueError) as err:
        raise ClinragError(f"{folder}: the encoder cannot be loaded ({err})") from err
    finally:
        hf_logging.set_verbosity(verbosity)
    if not getattr(tokenizer, "is_fast", False):
        raise ClinragError(f"{folder}: the NER detector needs a fast tokenizer (tokenizer.json)")
    return model, tokenizer


def _windows(tokenizer: Any, text: str, config: NerConfig, text_index: int) -> list[_Window]:
    """The windows of one text (without tags)."""
    if not text.strip():
        return []
    stride = min(config.stride, config.max_length // 2)
    encoded = tokenizer(
        text,
        truncation=True,
        max_length=config.max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    windows = []
    for n, ids in enumerate(encoded["input_ids"]):
        special = set(
            i for i, s in enumerate(encoded.sequence_ids(n)) if s is None
        )  # [CLS], [SEP] and padding have no character
        offsets = [
            None if (i in special or start == end) else (start, end)
            for i, (start, end) in enumerate(encoded["offset_mapping"][n])
        ]
        windows.append(_Window(text_index, list(ids), offsets, [], False))
    return windows


def _training_windows(tokenizer: Any, example: Example, config: NerConfig) -> list[_Window]:
    """The windows of a training text, each token tagged B-, I- or O from the gold spans."""
    spans = sorted(example.spans, key=lambda s: (s.start, -(s.end - s.start)))
    out = []
    for window in _windows(tokenizer, example.text, config, 0):
        tags = []
        for offset in window.offsets:
            if offset is None:
                tags.append(_IGNORE)
                continue
            start, end = offset
            tag = 0
            for span in spans:
                if span.start < end and start < span.end:
                    prefix = "B" if start <= span.start else "I"
                    tag = TAGS.index(f"{prefix}-{span.label}")
                    break
            tags.append(tag)
        has_entity = any(t > 0 for t in tags)
        out.append(_Window(0, window.input_ids, window.offsets, tags, has_entity))
    return out


def _length_batches(windows: Sequence[_Window], size: int, rng: random.Random) -> list[list[_Window]]:
    """Shuffled batches of windows of similar lengths (less padding): windows are shuffled, sorted by length
    within pools of 50 batches, cut into batches, and the batches shuffled."""
    order = list(windows)
    rng.shuffle(order)
    pool = size * 50
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda w: len(w.input_ids))
        batches.extend(_batches(chunk, size))
    rng.shuffle(batches)
    return batches


def _batches(windows: Sequence[_Window], size: int) -> list[list[_Window]]:
    return [list(windows[i : i + size]) for i in range(0, len(windows), size)]


def _collate(batch: list[_Window], pad_id: int, device: Any, with_labels: bool) -> dict[str, Any]:
    """Pad a batch to its longest window."""
    import torch

    width = max(len(w.input_ids) for w in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), _IGNORE, dtype=torch.long)
    for row, window in enumerate(batch):
        n = len(window.input_ids)
        ids[row, :n] = torch.tensor(window.input_ids)
        mask[row, :n] = 1
        if with_labels:
            labels[row, :n] = torch.tensor(window.tags)
    inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if with_labels:
        inputs["labels"] = labels.to(device)
    return inputs


# ---------------------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------------------
_NAME_LABELS = frozenset({"NOM", "PRENOM"})


def _decode(text: str, token_probs: dict[tuple[int, int], Any], threshold: float) -> list[Span]:
    """Token probabilities to word-aligned, non-overlapping spans.

    Identifier tokens next to each other (nothing or one space between) form one entity, whatever label each
    token prefers: the model often gives a piece of a phone number or an address another label, and a piece
    alone would be dropped as implausible. Two exceptions keep names apart: a first name beside a surname
    ("Jean DUPONT"), and a token tagged as beginning a new entity of the same label after a space. The entity
    takes the label with the most probability over its tokens; when that label is implausible for its text
    (:func:`plausible`), the next label holding at least a quarter of it, if plausible, else the entity is dropped.
    """
    from clinrag.pseudo.rules import resolve_overlaps

    groups: list[list[tuple[int, int, list[float], str, bool]]] = []
    for (start, end), summed in sorted(token_probs.items()):
        probs = summed / float(summed.sum())
        if 1.0 - float(probs[0]) < threshold:
            continue
        mass = [float(probs[1 + 2 * i] + probs[2 + 2 * i]) for i in range(len(LABELS))]
        best = max(range(len(LABELS)), key=mass.__getitem__)
        begins = float(probs[1 + 2 * best]) >= float(probs[2 + 2 * best])
        piece = (start, end, mass, LABELS[best], begins)
        if groups:
            last = groups[-1][-1]
            gap = text[last[1] : start]
            names_apart = last[3] in _NAME_LABELS and piece[3] in _NAME_LABELS and last[3] != piece[3]
            new_entity = begins and piece[3] == last[3]
            if gap == "" or (len(gap) == 1 and gap.isspace() and not names_apart and not new_entity):
                groups[-1].append(piece)
                continue
        groups.append([piece])
    spans = []
    for group in groups:
        start, end = group[0][0], group[-1][1]
        while start > 0 and text[start - 1].isalnum():
            start -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
        totals = [sum(piece[2][i] for piece in group) for i in range(len(LABELS))]
        ranked = sorted(range(len(LABELS)), key=lambda i: -totals[i])
        for rank, index in enumerate(ranked):
            if rank and totals[index] < 0.25 * totals[ranked[0]]:
                break
            span = Span.of(text, start, end, LABELS[index], source="model")
            if plausible(span):
                spans.append(span)
                break
    return resolve_overlaps(spans)


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
