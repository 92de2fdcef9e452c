"""LoRA tuning of the reader under distant supervision (peft).

Training pairs are (variable, passages retrieved for a train-split patient, the table value or "non documenté");
the loss is on the answer tokens only (and the end-of-answer token). Adapters save as standard peft folders plus
``clinrag_reader.json`` (the base model as given in the config, the prompt templates, the history); the base model
is always given explicitly when loading (peft stores an absolute path, which moves with the machine).
"""

from __future__ import annotations

import random
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
from clinrag.retrieval.supervision import _numbers
from clinrag.text.passages import PassageStore


def training_target(var: Variable, cell: str, request: CellRequest) -> str:
    """The answer the reader is taught to write: the table value in the answer format. For a number stated in
    another unit in the passages, the value as written there ("1,32 g/L"), which the parser converts: a small
    decoder should copy, not do arithmetic."""
    if var.type == "number" and cell:
        for passage in request.passages:
            for _start, _end, candidate in _numbers(var, passage.text):
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
) -> list[tuple[CellRequest, str]]:
    """(request, target) for each (patient, variable) of ``patients`` with a table row (empty cells included:
    the reader must learn to abstain)."""
    if cohort.table is None:
        raise ValueError("training pairs need a table")
    variables = variables or [cohort.variable(n) for n in cohort.table_columns]
    pairs = []
    for pid in patients:
        for var in variables:
            hits = retrieve(retriever, store, pid, var, k)
            request = CellRequest(pid, var, [store.passages[h.index] for h in hits])
            pairs.append((request, training_target(var, cohort.table[pid].get(var.name, ""), request)))
    return pairs


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
    layers = None
    if config.last_layers is not None:
        total = model.config.num_hidden_layers
        layers = list(range(max(0, total - config.last_layers), total))
    peft_config = PeftLoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=config.target_modules,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, peft_config)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    pad = decoder.tokenizer.pad_token_id
    device = decoder.device
    history = []
    bar = None
    n_steps = config.epochs * ((len(examples) + config.batch_size - 1) // config.batch_size)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, desc="LoRA tuning", unit="step")
    order = list(range(len(examples)))
    for epoch in range(config.epochs):
        rng.shuffle(order)
        total, count = 0.0, 0
        for begin in range(0, len(order), config.batch_size):
            batch = [examples[i] for i in order[begin : begin + config.batch_size]]
            # Left padding puts every answer at the end of its row: the vocabulary projection (the largest
            # matrix of a small model) then runs on the answer positions only (logits_to_keep).
            width = max(len(ids) for ids, _ in batch)
            keep = max(len(ids) - prompt_len for ids, prompt_len in batch) + 1
            inputs = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), keep), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (ids, prompt_len) in enumerate(batch):
                inputs[row, width - len(ids) :] = torch.tensor(ids)
                mask[row, width - len(ids) :] = 1
                answer = ids[prompt_len:]
                # logits at position t predict token t+1: the last `keep` logits cover the answer's tokens
                labels[row, keep - 1 - len(answer) : keep - 1] = torch.tensor(answer)
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            logits = model(
                input_ids=inputs.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
                logits_to_keep=keep,
            ).logits
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                labels[:, :-1].reshape(-1).to(device),
                ignore_index=-100,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
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
            "lora": config.lora.model_dump(),
            "pairs": n_pairs,
            "history": history,
            "clinrag_version": clinrag.__version__,
        },
    )
