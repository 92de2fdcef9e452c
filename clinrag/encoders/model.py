"""The segment encoder's network: a Hugging Face encoder reads each segment, a BiLSTM reads the whole text (or the
whole sequence of documents), linear heads read the BiLSTM's states.

* ``level="text"``: the encoder's last hidden states of a text's tokens, segment after segment (special tokens
  left out), are one BiLSTM sequence: a token at the start of a segment sees, through the BiLSTM, the tokens of
  the segments before and after it, which no encoder window holds.
* ``level="sequence"``: each segment is one vector (the mean of its tokens' states), with a flag that marks the
  first segment of each document; the segments of all the documents of a sequence (a patient's notes in date
  order) are one BiLSTM sequence.

Heads: ``tagging`` (a linear layer on each token's state: BIO tags), ``class`` (on the mean and the max of all the
states of the sequence: one class per text or per sequence) and ``span`` (on the mean and the max of the states of
the tokens of a span given with the text: one class per span).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from clinrag.encoders.data import Segmented
from clinrag.encoders.segment import torch_threads

HEAD_KINDS = ("tagging", "class", "span")


class SegmentNetwork(nn.Module):
    """Encoder, BiLSTM and heads.

    Args:
        encoder: A Hugging Face encoder (``AutoModel``: its output has ``last_hidden_state``).
        pad_id: The tokenizer's padding id.
        level: ``text`` or ``sequence`` (see the module's docstring).
        heads: ``name -> (kind, number of outputs)``.
        layers: The encoder's ``hidden_states`` whose states are put side by side (``[-1]``: the last layer).
        lstm_hidden: Hidden size of each direction of the BiLSTM.
        lstm_layers: BiLSTM layers.
        dropout: Dropout on the BiLSTM's input and output.
    """

    def __init__(
        self,
        encoder: Any,
        pad_id: int,
        level: str,
        heads: dict[str, tuple[str, int]],
        layers: Sequence[int],
        lstm_hidden: int,
        lstm_layers: int,
        dropout: float,
    ):
        super().__init__()
        self.encoder = encoder
        self.pad_id = pad_id
        self.level = level
        self.kinds = {name: kind for name, (kind, _) in heads.items()}
        self.layers = list(layers)
        self.width = encoder.config.hidden_size * len(self.layers)
        width = self.width + (1 if level == "sequence" else 0)
        self.top = nn.ModuleDict(
            {
                "lstm": BiLSTM(width, lstm_hidden, lstm_layers, dropout),
                "heads": nn.ModuleDict(
                    {
                        name: nn.Linear(2 * lstm_hidden * (1 if kind == "tagging" else 2), size)
                        for name, (kind, size) in heads.items()
                    }
                ),
            }
        )
        self.dropout = nn.Dropout(dropout)

    # ---- the encoder ------------------------------------------------------------------------------------------
    def features(self, items: Sequence[Sequence[Segmented]], chunk: int) -> list[torch.Tensor]:
        """The BiLSTM's input of each item (a text: one :class:`Segmented`; a sequence: one per document).

        Args:
            items: The items' segmented parts.
            chunk: Segments per encoder call.

        Returns:
            One tensor per item: (tokens, hidden) at the text level, (segments, hidden + 1) at the sequence level.
        """
        segments = [seg for parts in items for part in parts for seg in part.segments]
        states = self._encode(segments, chunk)
        out, cursor = [], 0
        for parts in items:
            rows = []
            for part in parts:
                for index, positions in enumerate(part.positions):
                    hidden = states[cursor][positions]
                    cursor += 1
                    if self.level == "text":
                        rows.append(hidden)
                    else:
                        flag = hidden.new_tensor([1.0 if index == 0 else 0.0])
                        rows.append(torch.cat([hidden.mean(dim=0), flag])[None])
            width = self.width + (1 if self.level == "sequence" else 0)
            out.append(torch.cat(rows) if rows else states_like(states, width))
        return out

    def _encode(self, segments: list[list[int]], chunk: int) -> list[torch.Tensor]:
        """The states of each segment (its own length, padding removed): those of :attr:`layers` side by side."""
        device = next(self.encoder.parameters()).device
        result: list[torch.Tensor] = []
        for begin in range(0, len(segments), chunk):
            batch = segments[begin : begin + chunk]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, seg in enumerate(batch):
                ids[row, : len(seg)] = torch.tensor(seg)
                mask[row, : len(seg)] = 1
            if self.layers == [-1]:
                hidden = self.encoder(
                    input_ids=ids.to(device), attention_mask=mask.to(device)
                ).last_hidden_state
            else:
                every = self.encoder(
                    input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True
                ).hidden_states
                hidden = torch.cat([every[layer] for layer in self.layers], dim=-1)
            result.extend(hidden[row, : len(seg)] for row, seg in enumerate(batch))
        return result

    # ---- the BiLSTM and the heads -----------------------------------------------------------------------------
    def contextualize(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The BiLSTM's states of a batch of items.

        Returns:
            States (items, longest, 2 * lstm_hidden) and a boolean mask of the real positions (items, longest).
        """
        lengths = [f.shape[0] for f in features]
        longest = max(1, *lengths)
        width = features[0].shape[1]
        padded = features[0].new_zeros((len(features), longest, width))
        mask = torch.zeros((len(features), longest), dtype=torch.bool, device=padded.device)
        for row, feature in enumerate(features):
            padded[row, : feature.shape[0]] = feature
            mask[row, : feature.shape[0]] = True
        states = self.top["lstm"](self.dropout(padded), lengths)
        return self.dropout(states), mask

    def tag_logits(self, name: str, states: torch.Tensor) -> torch.Tensor:
        """A tagging head's logits of every position (items, longest, tags)."""
        return self.top["heads"][name](states)

    def class_logits(self, name: str, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """A class head's logits of every item (items, classes), from its pooled states."""
        return self.top["heads"][name](pooled(states, mask))

    def span_logits(
        self, name: str, states: torch.Tensor, spans: Sequence[tuple[int, int, int]]
    ) -> torch.Tensor:
        """A span head's logits of spans given as ``(item, first token, last token + 1)`` (spans, classes)."""
        vectors = []
        for item, first, last in spans:
            part = states[item, first:last]
            vectors.append(torch.cat([part.mean(dim=0), part.max(dim=0).values]))
        return self.top["heads"][name](torch.stack(vectors))


class BiLSTM(nn.Module):
    """A bidirectional LSTM over zero-padded sequences of different lengths, without packing them.

    torch's CPU LSTM runs a ``PackedSequence`` step by step with a shrinking batch, and its backward pass took ten
    times as long as on the padded tensor (1.9 s against 0.2 s for 4 sequences of 300 to 600 steps). The
    recurrence runs on one CPU thread: each step's products are too small to share, and with two threads on a
    loaded machine OpenMP's waiting threads made one 5,000-step pass (input 384, hidden 256) take 9.3 s against
    0.08 s on one thread, which is also what two idle threads take (0.10 s); hidden 32: 2.0 s against 0.003 s
    (an ``nn.LSTM`` timed alone under a load of 3.6 on 2 cores). Here each
    direction is a one-way ``nn.LSTM`` over the padded tensor: the forward one reads each sequence from its
    start, the backward one reads each sequence reversed within its own length (its padding stays at the end), so
    neither ever reads padding before a real position, and a position's state does not depend on the other
    sequences of the batch.

    Args:
        width: Input size.
        hidden: Hidden size of each direction.
        layers: Stacked layers (each reads both directions of the one below).
        dropout: Dropout between layers.
    """

    def __init__(self, width: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        sizes = [width] + [2 * hidden] * (layers - 1)
        self.forward_layers = nn.ModuleList(nn.LSTM(size, hidden, batch_first=True) for size in sizes)
        self.backward_layers = nn.ModuleList(nn.LSTM(size, hidden, batch_first=True) for size in sizes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, inputs: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """The states (batch, longest, 2 * hidden) of zero-padded inputs (batch, longest, width); positions past
        a sequence's length hold values nothing should read."""
        longest = inputs.shape[1]
        positions = torch.arange(longest, device=inputs.device)
        reverse = torch.stack(
            [torch.where(positions < n, n - 1 - positions, positions) for n in lengths]
        )  # each sequence reversed within its length: its own inverse
        index = reverse.unsqueeze(-1)
        output = inputs
        for depth, (ahead, back) in enumerate(zip(self.forward_layers, self.backward_layers, strict=True)):
            if depth:
                output = self.dropout(output)
            flipped = output.gather(1, index.expand(-1, -1, output.shape[-1]))
            with torch_threads(1):
                forward, _ = ahead(output)
                backward, _ = back(flipped)
            backward = backward.gather(1, index.expand(-1, -1, backward.shape[-1]))
            output = torch.cat([forward, backward], dim=-1)
        return output


def pooled(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean and the max of each item's real states, side by side (items, 2 * width); zeros for an item
    without any."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    count = weights.sum(dim=1).clamp(min=1.0)
    mean = (states * weights).sum(dim=1) / count
    masked = states.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
    masked = torch.where(torch.isfinite(masked), masked, torch.zeros_like(masked))
    return torch.cat([mean, masked], dim=-1)


def states_like(states: list[torch.Tensor], width: int) -> torch.Tensor:
    """An empty (0, width) feature for an item without tokens, on the encoder's device and dtype."""
    if states:
        return states[0].new_zeros((0, width))
    return torch.zeros((0, width))
