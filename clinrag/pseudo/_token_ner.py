"""Identifier models of earlier clinrag versions (before issue 20): a token-classification head fine-tuned on a
local encoder, saved as ``clinrag_ner.json`` beside a Hugging Face ``*ForTokenClassification`` folder.

Such folders still load and detect (``--model OLD_FOLDER``), read as they were: sub-word windows of
``max_length`` tokens overlapping by ``stride``, a token's probabilities averaged over the windows that read it,
neighbouring identifier tokens joined into one entity whatever label each prefers (except a first name beside a
surname, or a new entity of the same label after a space), widened to whole words, and kept when plausible for
their label (:func:`clinrag.pseudo.ner.plausible`). They are no longer trained: ``clinrag train-pseudo`` trains
the segment-encoder model (:mod:`clinrag.pseudo.ner`), which should replace them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinrag.errors import ClinragError
from clinrag.io import read_component_record
from clinrag.pseudo.labels import LABELS, Span

#: The file that makes a folder an identifier model of an earlier clinrag.
RECORD_NAME = "clinrag_ner.json"
COMPONENT = "ner_detector"
#: BIO tags: "O", then B- and I- of each label.
TAGS: tuple[str, ...] = ("O", *(f"{p}-{label}" for label in LABELS for p in ("B", "I")))


@dataclass(frozen=True)
class _Settings:
    """What inference reads of an earlier model's settings."""

    max_length: int = 256
    stride: int = 64
    batch_size: int = 16
    threshold: float = 0.3
    device: str = "cpu"


class TokenNerDetector:
    """An identifier model of an earlier clinrag (see the module's docstring); :meth:`load` then :meth:`predict`."""

    kind = "token classification (earlier clinrag; retrain with `clinrag train-pseudo`)"

    def __init__(
        self, model: Any, tokenizer: Any, settings: _Settings, summary: dict[str, Any] | None = None
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.summary = summary or {}

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> TokenNerDetector:
        """Load a folder written by an earlier ``clinrag train-pseudo``.

        Raises:
            ClinragError: The folder is not such a model, or its files do not load.
        """
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        folder = Path(folder)
        record = read_component_record(folder, RECORD_NAME, COMPONENT, "clinrag NER model")
        if record.get("tags") != list(TAGS):
            raise ClinragError(
                f"{folder / RECORD_NAME}: not a clinrag NER model with the 13 eds-pseudo labels"
            )
        stored = record.get("config") or {}
        known = {
            k: stored[k] for k in ("max_length", "stride", "batch_size", "threshold", "device") if k in stored
        }
        if device is not None:
            known["device"] = device
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForTokenClassification.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as err:
            raise ClinragError(f"{folder}: the NER model cannot be loaded ({err})") from None
        return cls(model.eval(), tokenizer, _Settings(**known), record.get("training"))

    def predict(self, texts: Sequence[str]) -> list[list[Span]]:
        """The identifiers the model finds in each text (non-overlapping, sorted, ``source="model"``)."""
        import torch

        settings = self.settings
        device = torch.device(settings.device)
        self.model.to(device)
        self.model.eval()
        windows = [
            w for index, text in enumerate(texts) for w in _windows(self.tokenizer, text, settings, index)
        ]
        # token probabilities, summed over the windows that read each token: text -> (start, end) -> sum
        sums: list[dict[tuple[int, int], Any]] = [{} for _ in texts]
        ordered = sorted(windows, key=lambda w: len(w.input_ids))
        with torch.inference_mode():
            for begin in range(0, len(ordered), settings.batch_size):
                batch = ordered[begin : begin + settings.batch_size]
                inputs = _collate(batch, self.tokenizer.pad_token_id, device)
                probs = torch.softmax(self.model(**inputs).logits.float(), dim=-1).cpu()
                for row, window in enumerate(batch):
                    for position, offset in enumerate(window.offsets):
                        if offset is None:
                            continue
                        previous = sums[window.text_index].get(offset)
                        value = probs[row, position]
                        sums[window.text_index][offset] = value if previous is None else previous + value
        return [
            _decode(text, token_probs, settings.threshold)
            for text, token_probs in zip(texts, sums, strict=True)
        ]


@dataclass(frozen=True)
class _Window:
    """Sub-word tokens of a part of one text: ids and character offsets (None for special tokens)."""

    text_index: int
    input_ids: list[int]
    offsets: list[tuple[int, int] | None]


def _windows(tokenizer: Any, text: str, settings: _Settings, text_index: int) -> list[_Window]:
    """The windows of one text."""
    if not text.strip():
        return []
    encoded = tokenizer(
        text,
        truncation=True,
        max_length=settings.max_length,
        stride=min(settings.stride, settings.max_length // 2),
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    windows = []
    for n, ids in enumerate(encoded["input_ids"]):
        special = {i for i, s in enumerate(encoded.sequence_ids(n)) if s is None}
        offsets = [
            None if (i in special or start == end) else (start, end)
            for i, (start, end) in enumerate(encoded["offset_mapping"][n])
        ]
        windows.append(_Window(text_index, list(ids), offsets))
    return windows


def _collate(batch: list[_Window], pad_id: int, device: Any) -> dict[str, Any]:
    """Pad a batch to its longest window."""
    import torch

    width = max(len(w.input_ids) for w in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, window in enumerate(batch):
        ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
        mask[row, : len(window.input_ids)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


_NAME_LABELS = frozenset({"NOM", "PRENOM"})


def _decode(text: str, token_probs: dict[tuple[int, int], Any], threshold: float) -> list[Span]:
    """Token probabilities to word-aligned, non-overlapping spans (see the module's docstring). The entity takes
    the label with the most probability over its tokens; when that label is implausible for its text, the next
    label holding at least a quarter of it, if plausible, else the entity is dropped."""
    from clinrag.pseudo.ner import plausible
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
