"""LoRA tuning of the reader under distant supervision (peft).

Training pairs are (variable, passages retrieved for a train-split patient, the table value or "non documenté");
the loss is on the answer tokens only (and the end-of-answer token). Adapters save as standard peft folders plus
``clinrag_reader.json`` (the base model as given in the config, the prompt templates, the history); the base model
is always given explicitly when loading (peft stores an absolute path, which moves with the machine).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from pathlib import Path

import torch

from clinrag.data.cohort import Cohort
from clinrag.data.values import cells_match
from clinrag.data.variables import Variable
from clinrag.generation.config import LoraConfig
from clinrag.generation.constraints import answer_text
from clinrag.generation.reader import CellRequest, LLMReader
from clinrag.io import atomic_write_json
from clinrag.retrieval.base import Retriever, retrieve
from clinrag.text.annotate import Annotator
from clinrag.text.evidence import find_numbers, states_value
from clinrag.text.passages import PassageStore
from clinrag.training import linear_warmup_decay


def training_target(var: Variable, cell: str, request: CellRequest) -> str:
    """The answer the reader is taught to write: the table value in the answer format. For a number stated in
    another unit in the passages, the value as written there ("1,32 g/L"), which the parser converts: a small
    decoder should copy, not do arithmetic."""
    if var.type == "number" and cell:
        for passage in request.passages:
            for _start, _end, candidate in find_numbers(var, passage.text):
                if cells_match(var, cell, candidate):
                    return candidate
    return answer_text(var, cell)


def training_pairs(
    cohort: Cohort,
    store: PassageStore,
    retriever: Retriever,
    patients: list[str],
    k: int,
    variables: list[Variable] | None = None,
    weak_evidence: bool = True,
    progress: bool = False,
) -> list[tuple[CellRequest, str]]:
    """(request, target) for each (patient, variable) of ``patients`` with a table row (empty cells included:
    the reader must learn to abstain); with ``weak_evidence``, requests completed or left out by
    :func:`with_weak_evidence`. ``progress``: a bar over the patients while retrieving their passages."""
    from clinrag.generation.pipeline import cell_requests, retrieving
    from clinrag.progress import progress_bar

    variables = variables or [cohort.variable(n) for n in cohort.table_columns]
    bar = progress_bar(patients, enabled=progress, desc="retrieving training passages", unit="patient")
    requests = cell_requests(
        ((pid, var) for pid in bar for var in variables), store, retrieving(retriever, store, k), k
    )
    if weak_evidence:
        evidence = find_weak_evidence(cohort, store, retriever, patients, variables)
        requests = with_weak_evidence(requests, evidence, store, cohort)
    return labelled_pairs(cohort, requests)


def find_weak_evidence(
    cohort: Cohort,
    store: PassageStore,
    retriever: Retriever,
    patients: list[str],
    variables: list[Variable],
) -> dict[str, dict[str, list[int]]]:
    """For each (patient, variable) of ``patients`` whose table cell is not empty: the indices of the patient's
    passages that state it by the weak-label rules (:func:`~clinrag.text.evidence.states_value`), best
    ranked by ``retriever`` first (empty when none does). Reads ``cohort.table`` only."""
    if cohort.table is None:
        raise ValueError("weak evidence needs a table")
    ranges = {pid: store.patient_range(pid) for pid in patients}
    indices = [i for start, end in ranges.values() for i in range(start, end)]
    annotated = Annotator(variables).annotate_texts([store.passages[i].text for i in indices])
    mentions = dict(zip(indices, (a.mentions for a in annotated), strict=True))
    found: dict[str, dict[str, list[int]]] = {}
    for pid, (start, end) in ranges.items():
        row = cohort.table.get(pid, {})
        for var in variables:
            cell = row.get(var.name, "")
            if cell:
                ranked = [h.index for h in retrieve(retriever, store, pid, var, end - start)]
                found.setdefault(pid, {})[var.name] = [
                    i for i in ranked if states_value(var, cell, store.passages[i], mentions[i])
                ]
    return found


def with_weak_evidence(
    requests: list[CellRequest],
    evidence: dict[str, dict[str, list[int]]],
    store: PassageStore,
    cohort: Cohort,
) -> list[CellRequest]:
    """The training requests as the reader should learn from them under distant supervision.

    A request whose passages do not state the table value teaches the reader to invent it from unrelated text.
    Such a request gets, in place of its last passage, the best-ranked passage that states the value by the
    weak-label rules (:func:`find_weak_evidence`). Where no passage of the record states it by those rules, the
    request is kept as retrieved: the rules can be wrong (a terse "H 72a" states a sex and an age no term
    announces), and a cohort whose table fills absences with "non" teaches that habit so. Requests of empty cells
    are kept as they are: they teach the abstention.
    """
    kept = []
    for request in requests:
        stating = evidence.get(request.patient_id, {}).get(request.variable.name)
        shown = {(p.doc_id, p.start, p.end) for p in request.passages}
        if not stating or any(_key(store.passages[i]) in shown for i in stating):
            kept.append(request)
        else:
            passages = [*request.passages[:-1], store.passages[stating[0]]]
            kept.append(CellRequest(request.patient_id, request.variable, passages))
    return kept


def _key(passage) -> tuple[str, int, int]:
    return (passage.doc_id, passage.start, passage.end)


def labelled_pairs(cohort: Cohort, requests: list[CellRequest]) -> list[tuple[CellRequest, str]]:
    """Each request with the answer the reader is taught for it: its table cell (:func:`training_target`)."""
    if cohort.table is None:
        raise ValueError("training pairs need a table")
    return [
        (r, training_target(r.variable, cohort.table[r.patient_id].get(r.variable.name, ""), r))
        for r in requests
    ]


def train_lora(
    reader: LLMReader,
    pairs: list[tuple[CellRequest, str]],
    config: LoraConfig,
    out: str | Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Tune LoRA adapters on ``pairs``; the reader's decoder then carries the adapters (merged if asked).

    Returns:
        One record per epoch (mean loss).
    """
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    decoder = reader.decoder
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    if config.max_pairs is not None and len(pairs) > config.max_pairs:
        pairs = rng.sample(pairs, config.max_pairs)
    examples = []
    for request, target in pairs:
        prompt = decoder.prompt_ids(reader.messages(request))
        answer = decoder.answer_ids(target)
        examples.append((prompt + answer, len(prompt)))
    model = decoder.model
    total_layers = model.config.num_hidden_layers
    frozen = 0
    if config.last_layers is not None:
        frozen = max(0, total_layers - config.last_layers)
    peft_config = PeftLoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=config.target_modules,
        layers_to_transform=list(range(frozen, total_layers)) if frozen else None,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, peft_config)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    device = decoder.device
    pad = decoder.tokenizer.pad_token_id
    # The layers below the adapters never change: their output for each training prompt is computed once, and
    # every epoch runs only the adapted layers on it (exact: those layers have no dropout).
    stem = _FrozenStem(model, frozen) if frozen and config.cache_frozen else None
    if stem is not None:
        stem.precompute([ids for ids, _ in examples], pad, device, config.batch_size, progress)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    history = []
    bar = None
    n_steps = config.epochs * ((len(examples) + config.batch_size - 1) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor(config, n_steps))
    from clinrag.progress import bars_allowed

    if bars_allowed(progress):  # none inside clinrag.progress.quiet()
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, desc="LoRA tuning", unit="step")
    order = list(range(len(examples)))
    for epoch in range(config.epochs):
        rng.shuffle(order)
        total, count = 0.0, 0
        for begin in range(0, len(order), config.batch_size):
            chosen = order[begin : begin + config.batch_size]
            batch = [examples[i] for i in chosen]
            # Left padding puts every answer at the end of its row: the vocabulary projection (the largest
            # matrix of a small model) then runs on the answer positions only (logits_to_keep).
            inputs, mask, positions = left_padded([ids for ids, _ in batch], pad)
            width = inputs.shape[1]
            keep = max(len(ids) - prompt_len for ids, prompt_len in batch) + 1
            labels = torch.full((len(batch), keep), -100, dtype=torch.long)
            for row, (ids, prompt_len) in enumerate(batch):
                answer = ids[prompt_len:]
                # logits at position t predict token t+1: the last `keep` logits cover the answer's tokens
                labels[row, keep - 1 - len(answer) : keep - 1] = torch.tensor(answer)
            kwargs = {
                "attention_mask": mask.to(device),
                "position_ids": positions.to(device),
                "logits_to_keep": keep,
                "use_cache": False,
            }
            if stem is not None:
                with stem.upper_layers():
                    logits = model(inputs_embeds=stem.batch(chosen, width), **kwargs).logits
            else:
                logits = model(input_ids=inputs.to(device), **kwargs).logits
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                labels[:, :-1].reshape(-1).to(device),
                ignore_index=-100,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch)
            count += len(batch)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
        history.append({"epoch": epoch + 1, "loss": total / max(1, count)})
    if bar is not None:
        bar.close()
    model.eval()
    if out is not None:
        save_adapter(model, reader, out, history, len(examples))
    if config.merge:
        model = model.merge_and_unload()
        if out is not None:
            model.save_pretrained(str(Path(out) / "merged"))
            decoder.tokenizer.save_pretrained(str(Path(out) / "merged"))
    decoder.model = model.eval()
    return history


def learning_rate_factor(config: LoraConfig, n_steps: int) -> Callable[[int], float]:
    """The factor of ``config.lr`` at each optimizer step (0-based): 1 for ``constant``; for ``linear``, a warmup
    from ``1/warmup_steps`` to 1 over ``warmup`` of the steps, then a linear decay that reaches 0 after the
    last step (:func:`clinrag.training.linear_warmup_decay`, which says why not transformers' schedule)."""
    if config.schedule == "constant":
        return lambda step: 1.0
    return linear_warmup_decay(int(config.warmup * n_steps), n_steps)


def left_padded(sequences: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids left-padded to the longest sequence, with their attention mask and position ids (counted from
    each sequence's first real token, so padding does not shift the rotary positions)."""
    width = max(len(ids) for ids in sequences)
    inputs = torch.full((len(sequences), width), pad, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        inputs[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    return inputs, mask, (mask.cumsum(dim=1) - 1).clamp(min=0)


class _FrozenStem:
    """The decoder layers below the adapters, run once per training prompt.

    ``precompute`` stores each prompt's hidden states after the frozen layers (no padding); ``upper_layers`` then
    swaps the model's layer list for the adapted layers only, so that ``model(inputs_embeds=...)`` starts where the
    frozen stem ended (rotary positions and the causal mask are rebuilt from ``position_ids`` and the mask).
    """

    def __init__(self, model, frozen: int):
        self.inner = model.get_base_model().get_decoder()
        self.layers = self.inner.layers
        self.frozen = frozen
        self.hidden: list[torch.Tensor] = []

    @contextlib.contextmanager
    def _swapped(self, layers, norm=None):
        saved_layers, saved_norm = self.inner.layers, self.inner.norm
        self.inner.layers = layers
        if norm is not None:
            self.inner.norm = norm
        try:
            yield
        finally:
            self.inner.layers, self.inner.norm = saved_layers, saved_norm

    def upper_layers(self):
        """Context in which the model runs the adapted layers only, from ``inputs_embeds``."""
        return self._swapped(self.layers[self.frozen :])

    @torch.no_grad()
    def precompute(
        self, sequences: list[list[int]], pad: int, device, batch_size: int, progress: bool
    ) -> None:
        """Hidden states of every sequence after the frozen layers (batched by length, stored unpadded)."""
        self.hidden = [None] * len(sequences)  # type: ignore[list-item]
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        bar = None
        from clinrag.progress import bars_allowed

        if bars_allowed(progress):  # none inside clinrag.progress.quiet()
            from tqdm.auto import tqdm

            bar = tqdm(total=len(sequences), desc="frozen layers", unit="pair")
        with self._swapped(self.layers[: self.frozen], torch.nn.Identity()):
            for begin in range(0, len(order), batch_size):
                group = order[begin : begin + batch_size]
                inputs, mask, positions = left_padded([sequences[i] for i in group], pad)
                width = inputs.shape[1]
                out = self.inner(
                    input_ids=inputs.to(device),
                    attention_mask=mask.to(device),
                    position_ids=positions.to(device),
                    use_cache=False,
                ).last_hidden_state
                for row, i in enumerate(group):
                    self.hidden[i] = out[row, width - len(sequences[i]) :].clone()
                if bar is not None:
                    bar.update(len(group))
        if bar is not None:
            bar.close()

    def batch(self, chosen: list[int], width: int) -> torch.Tensor:
        """The chosen examples' stored states, left-padded with zeros to ``width`` (padding is masked out)."""
        first = self.hidden[chosen[0]]
        out = first.new_zeros((len(chosen), width, first.shape[-1]))
        for row, i in enumerate(chosen):
            out[row, width - self.hidden[i].shape[0] :] = self.hidden[i]
        return out


def save_adapter(model, reader: LLMReader, out: str | Path, history: list[dict], n_pairs: int) -> None:
    """Save the adapters (a standard peft folder) and what clinrag needs to use them again."""
    import clinrag

    out = Path(out)
    model.save_pretrained(str(out))
    config = reader.config
    atomic_write_json(
        out / "clinrag_reader.json",
        {
            "clinrag_component": "reader_adapter",
            "base_model": config.model,
            "prompt": config.prompt.model_dump(),
            "max_passages": config.max_passages,
            "max_passage_chars": config.max_passage_chars,
            "mark_mentions": config.mark_mentions,
            "mark_timepoints": config.mark_timepoints,
            "lora": config.lora.model_dump(),
            "pairs": n_pairs,
            "history": history,
            "clinrag_version": clinrag.__version__,
        },
    )
