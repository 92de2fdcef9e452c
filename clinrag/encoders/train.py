"""Training and inference of a segment model (:mod:`clinrag.encoders.segment`).

The loop is plain torch with clinrag's shared helpers (:mod:`clinrag.training`: the warm-up/decay schedule and
early stopping that the identifier detector and the dense retriever use) rather than transformers' ``Trainer`` or
accelerate: an example here is a whole text (or a patient's documents) whose variable number of segments are
encoded, then put back together into one BiLSTM sequence, and a frozen encoder's states are computed once and
reused at every epoch. ``Trainer`` batches fixed-width dataset rows and re-runs the model's forward on every step;
fitting it to both would mean overriding its data loader and its loss, keeping none of what it offers on a CPU
(accelerate's device placement, mixed precision and multi-GPU are for a server; ``device`` covers one GPU).

Determinism: the heads' initialization, dropout and the example order come from ``config.seed`` (torch's CPU
kernels used here are deterministic), so a seed gives the same weights on the same machine.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from clinrag.encoders.data import (
    IGNORE,
    LabeledSpan,
    Segmented,
    bio_targets,
    decode_tags,
    token_range,
)
from clinrag.encoders.segment import torch_threads
from clinrag.errors import ClinragError
from clinrag.training import EarlyStopping, linear_warmup_decay

if TYPE_CHECKING:
    from clinrag.encoders.segment import SegmentModel


@dataclass
class Item:
    """An example ready for the network: its segmented parts and its targets by head.

    Targets: a tagging head's tag index per token; a class head's label index; a span head's
    ``[(first token, last token + 1, label index)]``. A head absent from ``targets`` has none.
    """

    parts: list[Segmented]
    targets: dict[str, Any]

    @property
    def size(self) -> int:
        """How many segments the item has (its cost for the encoder)."""
        return sum(len(part.segments) for part in self.parts)


def prepare_items(model: SegmentModel, examples: Sequence[Any]) -> list[Item]:
    """Segment the examples and turn their targets into indices.

    Raises:
        ClinragError: A span outside its text, or a label outside the head's labels.
    """
    from clinrag.encoders.segment import SequenceExample, TextExample

    kind = TextExample if model.config.level == "text" else SequenceExample
    items = []
    for number, example in enumerate(examples, 1):
        if not isinstance(example, kind):
            raise ClinragError(
                f"example {number}: level '{model.config.level}' takes {kind.__name__} examples"
            )
        texts = [example.text] if model.config.level == "text" else list(example.texts)
        parts = [model.segmenter(text) for text in texts]
        targets: dict[str, Any] = {}
        for name, target in example.targets.items():
            if name not in model.config.heads:
                raise ClinragError(f"example {number}: target for an unknown head '{name}'")
            head = model.config.heads[name]
            labels = model.labels[name]
            if head.kind == "class":
                if str(target) not in labels:
                    raise ClinragError(f"example {number}: head '{name}': unknown label '{target}'")
                targets[name] = labels.index(str(target))
                continue
            spans = [LabeledSpan(*span) for span in target]
            text = texts[0]
            for span in spans:
                if not 0 <= span.start < span.end <= len(text):
                    raise ClinragError(
                        f"example {number}: head '{name}': span {span.start}-{span.end} outside the text "
                        f"({len(text)} characters)"
                    )
                if span.label not in labels:
                    raise ClinragError(f"example {number}: head '{name}': unknown label '{span.label}'")
            offsets = parts[0].offsets
            if head.kind == "tagging":
                targets[name] = bio_targets(offsets, spans, labels)
            elif offsets:
                targets[name] = [
                    (*token_range(offsets, s.start, s.end), labels.index(s.label)) for s in spans
                ]
        items.append(Item(parts, targets))
    return items


def train_network(
    model: SegmentModel, items: list[Item], dev_items: list[Item] | None, progress: bool = False
) -> dict[str, Any]:
    """Train ``model.network`` on the items (early stopping on ``dev_items``' loss when given).

    Returns:
        The training summary recorded in the saved folder (counts, steps, losses, seconds).
    """
    from clinrag.progress import progress_bar

    config = model.config
    network = model.network
    frozen = config.encoder_training == "frozen"
    begun = time.perf_counter()
    rng = random.Random(config.seed)
    for parameter in network.encoder.parameters():
        parameter.requires_grad = not frozen
    if not frozen and config.freeze_embeddings:
        for parameter in network.encoder.get_input_embeddings().parameters():
            parameter.requires_grad = False
    cache = _features(network, items, config.encoder_batch) if frozen else None
    dev_cache = _features(network, dev_items, config.encoder_batch) if (frozen and dev_items) else None
    groups = [{"params": list(network.top.parameters()), "lr": config.learning_rate}]
    if not frozen:
        tuned = [p for p in network.encoder.parameters() if p.requires_grad]
        groups.append({"params": tuned, "lr": config.encoder_learning_rate})
    steps_per_epoch = math.ceil(len(items) / config.batch_size)
    steps = config.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_warmup_decay(int(steps * config.warmup_ratio), steps)
    )
    kept = [network.top] if frozen else [network]
    stopping = EarlyStopping(kept, config.patience) if dev_items else None
    torch.manual_seed(config.seed)  # dropout
    losses, dev_losses = [], []
    bar = progress_bar(enabled=progress, total=steps, desc="training the segment model", unit="step")
    for _epoch in range(config.epochs):
        network.train()
        if frozen:
            network.encoder.eval()
        order = list(range(len(items)))
        rng.shuffle(order)
        total, weight = 0.0, 0
        for begin in range(0, len(order), config.batch_size):
            batch = order[begin : begin + config.batch_size]
            # a frozen encoder's step is the BiLSTM's and the heads': one thread (see model.BiLSTM)
            with torch_threads(1 if frozen else None):
                loss = _batch_loss(model, [items[i] for i in batch], cache and [cache[i] for i in batch])
                if loss is not None:
                    loss.backward()
                    nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
                    optimizer.step()
                    total += loss.item() * len(batch)
                    weight += len(batch)
            optimizer.zero_grad()
            scheduler.step()
            bar.update(1)
        losses.append(round(total / max(1, weight), 5))
        if stopping is not None:
            dev_losses.append(round(_mean_loss(model, dev_items, dev_cache), 5))
            if stopping.step(-dev_losses[-1]):
                break
    bar.close()
    if stopping is not None:
        stopping.restore()
    network.eval()
    return {
        "examples": len(items),
        "segments": sum(item.size for item in items),
        "tokens": sum(part.n_tokens for item in items for part in item.parts),
        "targets": {name: sum(name in item.targets for item in items) for name in model.config.heads},
        "labels": {name: list(labels) for name, labels in model.labels.items()},
        "encoder_training": config.encoder_training,
        "steps": steps_per_epoch * len(losses),
        "epochs_run": len(losses),
        "epoch_losses": losses,
        "dev_losses": dev_losses,
        "best_epoch": (dev_losses.index(min(dev_losses)) + 1) if dev_losses else len(losses),
        "seconds": round(time.perf_counter() - begun, 1),
    }


def _features(network: Any, items: list[Item], chunk: int) -> list[torch.Tensor]:
    """The BiLSTM inputs of every item, with the encoder frozen (computed once)."""
    network.encoder.eval()
    out = []
    with torch.no_grad():
        for begin in range(0, len(items), 8):
            out.extend(network.features([item.parts for item in items[begin : begin + 8]], chunk))
    return out


def _batch_loss(
    model: SegmentModel, batch: list[Item], cached: list[torch.Tensor] | None
) -> torch.Tensor | None:
    """The weighted sum of the heads' losses on a batch (None when no head has a target in it)."""
    network = model.network
    features = (
        cached
        if cached is not None
        else network.features([i.parts for i in batch], model.config.encoder_batch)
    )
    states, mask = network.contextualize(features)
    device = states.device
    total = None
    for name, head in model.config.heads.items():
        have = [row for row, item in enumerate(batch) if name in item.targets]
        if not have:
            continue
        if head.kind == "tagging":
            logits = network.tag_logits(name, states)
            target = torch.full(mask.shape, IGNORE, dtype=torch.long)
            for row in have:
                tags = batch[row].targets[name]
                target[row, : len(tags)] = torch.tensor(tags, dtype=torch.long)
            if not (target != IGNORE).any():
                continue
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), target.reshape(-1).to(device), ignore_index=IGNORE
            )
        elif head.kind == "class":
            logits = network.class_logits(name, states[have], mask[have])
            target = torch.tensor([batch[row].targets[name] for row in have], dtype=torch.long, device=device)
            loss = nn.functional.cross_entropy(logits, target)
        else:
            spans = [(row, first, last) for row in have for first, last, _ in batch[row].targets[name]]
            if not spans:
                continue
            logits = network.span_logits(name, states, spans)
            labels = [label for row in have for _, _, label in batch[row].targets[name]]
            loss = nn.functional.cross_entropy(logits, torch.tensor(labels, dtype=torch.long, device=device))
        total = head.weight * loss if total is None else total + head.weight * loss
    return total


def _mean_loss(model: SegmentModel, items: list[Item], cached: list[torch.Tensor] | None) -> float:
    """The mean loss over items, without dropout or gradients."""
    network = model.network
    network.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for begin in range(0, len(items), model.config.batch_size):
            batch = items[begin : begin + model.config.batch_size]
            loss = _batch_loss(model, batch, cached and cached[begin : begin + len(batch)])
            if loss is not None:
                total += loss.item() * len(batch)
                count += len(batch)
    return total / max(1, count)


# ---------------------------------------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------------------------------------
def predict_items(
    model: SegmentModel,
    inputs: Sequence[str] | Sequence[Sequence[str]],
    spans: Mapping[str, Sequence[Sequence[tuple[int, int]]]],
) -> list[dict[str, Any]]:
    """Each head's answer for each input (see :meth:`SegmentModel.predict`)."""
    from clinrag.encoders.segment import ClassScore

    config = model.config
    network = model.network
    network.eval()
    span_heads = [name for name, head in config.heads.items() if head.kind == "span"]
    for name in spans:
        if name not in span_heads:
            raise ClinragError(
                f"spans given for '{name}', which is not a span head ({', '.join(span_heads) or 'none'})"
            )
        if len(spans[name]) != len(inputs):
            raise ClinragError(f"spans of head '{name}': {len(spans[name])} lists for {len(inputs)} texts")
    if config.level == "text":
        if any(not isinstance(text, str) for text in inputs):
            raise ClinragError("level 'text' predicts texts (strings)")
        parts = [[model.segmenter(text)] for text in inputs]
    else:
        if any(isinstance(seq, str) for seq in inputs):
            raise ClinragError("level 'sequence' predicts sequences of documents (lists of texts)")
        parts = [[model.segmenter(text) for text in seq] for seq in inputs]
    order = sorted(range(len(inputs)), key=lambda i: sum(len(p.segments) for p in parts[i]))
    results: list[dict[str, Any]] = [{} for _ in inputs]
    with torch.inference_mode():
        for begin in range(0, len(order), config.batch_size):
            batch = order[begin : begin + config.batch_size]
            features = network.features([parts[i] for i in batch], config.encoder_batch)
            states, mask = network.contextualize(features)
            for name, head in config.heads.items():
                labels = model.labels[name]
                if head.kind == "class":
                    probs = torch.softmax(network.class_logits(name, states, mask).float(), dim=-1).cpu()
                    for row, index in enumerate(batch):
                        results[index][name] = _class_score(ClassScore, labels, probs[row])
                elif head.kind == "tagging":
                    probs = torch.softmax(network.tag_logits(name, states).float(), dim=-1).cpu()
                    for row, index in enumerate(batch):
                        offsets = parts[index][0].offsets
                        results[index][name] = decode_tags(
                            inputs[index],
                            offsets,
                            probs[row, : len(offsets)],
                            labels,
                            head.threshold,
                            head.widen,
                        )
                else:
                    for row, index in enumerate(batch):
                        given = list(spans.get(name, [[]] * len(inputs))[index])
                        offsets = parts[index][0].offsets
                        if not given or not offsets:
                            results[index][name] = [None] * len(given)
                            continue
                        ranges = [(row, *token_range(offsets, s, e)) for s, e in given]
                        probs = torch.softmax(network.span_logits(name, states, ranges).float(), dim=-1).cpu()
                        results[index][name] = [_class_score(ClassScore, labels, p) for p in probs]
    return results


def _class_score(kind: type, labels: list[str], probs: torch.Tensor) -> Any:
    values = {label: round(float(p), 6) for label, p in zip(labels, probs, strict=True)}
    return kind(label=labels[int(probs.argmax())], probabilities=values)


__all__ = ["Item", "predict_items", "prepare_items", "train_network"]
