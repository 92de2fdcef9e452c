"""Input checks of a merge, before any weight is read.

Models merge only when they share an architecture and a vocabulary: every input's ``config.json`` is compared
with the base's (architecture, model type, vocabulary size, hidden size, layers, heads...), and so is its
tokenizer's vocabulary (a hash of the token -> id map). An adapter (``MODEL+ADAPTER``) must be a LoRA adapter
whose target tensors exist in its model with the shapes its matrices expect: the shapes come from the
safetensors headers (a few kilobytes of JSON at the start of each file), not from the weights.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from clinrag.errors import ClinragError
from clinrag.io import file_sha256, stable_hash

ARCHITECTURE_FIELDS = (
    "architectures",
    "model_type",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "tie_word_embeddings",
)
"""``config.json`` fields every input must share with the base (when either states them)."""

_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")


def check_inputs(recipe) -> None:
    """Refuse inputs that cannot be merged, with the reason, before any weight is read.

    Args:
        recipe: A :class:`clinrag.merging.recipe.Recipe` (its inputs resolved, the base first).

    Raises:
        ClinragError: A folder without ``config.json``, a different architecture or vocabulary, an adapter that
            is not LoRA or does not fit its model; one line naming the recipe, the field and both folders.
    """
    base = recipe.base
    base_config = model_config(base.model, recipe.source, base.field)
    base_vocab = tokenizer_vocabulary_hash(base.model)
    for item in recipe.inputs:
        where = f"{recipe.source}: field '{item.field}'"
        config = (
            base_config if item.model == base.model else model_config(item.model, recipe.source, item.field)
        )
        for name in ARCHITECTURE_FIELDS:
            mine, theirs = config.get(name), base_config.get(name)
            if name == "tie_word_embeddings":  # transformers' default when a config leaves it out
                mine, theirs = (
                    bool(mine if mine is not None else True),
                    bool(theirs if theirs is not None else True),
                )
            if mine != theirs:
                raise ClinragError(
                    f"{where}: {item.model}: {name} {mine!r} differs from the base's {theirs!r} ({base.model}): "
                    f"{_why(name)}"
                )
        vocab = tokenizer_vocabulary_hash(item.model)
        if vocab is not None and base_vocab is not None and vocab != base_vocab:
            raise ClinragError(
                f"{where}: {item.model}: its tokenizer's vocabulary differs from the base's ({base.model}): "
                "the same token ids would mean different tokens"
            )
        if item.adapter is not None:
            check_adapter(item.adapter, item.model, where)


def _why(name: str) -> str:
    if name in ("vocab_size",):
        return "models of different vocabularies cannot be merged"
    if name in ("architectures", "model_type"):
        return "models of different architectures cannot be merged"
    return "models of different shapes cannot be merged"


def model_config(folder: Path, source: str, field: str) -> dict[str, Any]:
    """A model folder's ``config.json``.

    Raises:
        ClinragError: No ``config.json`` or not valid JSON.
    """
    path = folder / "config.json"
    if not path.is_file():
        raise ClinragError(f"{source}: field '{field}': {folder}: not a model folder (no config.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ClinragError(f"{source}: field '{field}': {path}: unreadable ({err})") from err
    if not isinstance(data, dict):
        raise ClinragError(f"{source}: field '{field}': {path}: not a JSON object")
    return data


def tokenizer_vocabulary_hash(folder: Path) -> str | None:
    """SHA-256 of a tokenizer's token -> id map (and added tokens), or None when the folder has no tokenizer.

    ``tokenizer.json``'s ``model.vocab`` and ``added_tokens`` are hashed canonically, so two tokenizers saved by
    different library versions with the same vocabulary hash alike; ``vocab.json`` or ``tokenizer.model`` are
    hashed as bytes otherwise.
    """
    for name in _TOKENIZER_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name == "tokenizer.json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return file_sha256(path)
            vocab = (data.get("model") or {}).get("vocab")
            added = sorted((t.get("id"), t.get("content")) for t in data.get("added_tokens") or [])
            return stable_hash({"vocab": vocab, "added": added})
        return file_sha256(path)
    return None


def safetensors_shapes(folder: Path) -> dict[str, list[int]] | None:
    """Tensor name -> shape of a model folder's safetensors files, from their headers only (None: no
    safetensors file, e.g. pytorch_model.bin)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        files = sorted({folder / name for name in weight_map.values()})
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    shapes: dict[str, list[int]] = {}
    for file in files:
        shapes.update(read_safetensors_header(file))
    return shapes


def read_safetensors_header(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a safetensors file's header (8 bytes of length, then JSON); no tensor is read.

    Raises:
        ClinragError: A file too short or with a malformed header.
    """
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError("header too long")
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError) as err:
        raise ClinragError(f"{path}: not a safetensors file ({err})") from err
    return {name: list(info["shape"]) for name, info in header.items() if name != "__metadata__"}


def check_adapter(adapter: Path, model: Path, where: str) -> None:
    """An adapter must be LoRA, and each of its matrices must fit the tensor of ``model`` it modifies.

    Raises:
        ClinragError: Not a LoRA adapter, a target tensor missing from the model, or shapes that do not fit.
    """
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ClinragError(f"{where}: {adapter}/adapter_config.json: unreadable ({err})") from err
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise ClinragError(
            f"{where}: {adapter}: a {config.get('peft_type')!r} adapter; only LoRA adapters merge"
        )
    model_shapes = safetensors_shapes(model)
    adapter_file = adapter / "adapter_model.safetensors"
    if model_shapes is None or not adapter_file.is_file():
        return  # pickled weights: their shapes cannot be known without loading them; peft checks them then
    for name, shape in read_safetensors_header(adapter_file).items():
        for kind in ("lora_A", "lora_B"):
            marker = f".{kind}."
            if marker not in name:
                continue
            module = name.split(marker)[0]
            if module.startswith("base_model.model."):
                module = module[len("base_model.model.") :]
            target = f"{module}.weight"
            if target not in model_shapes:
                raise ClinragError(
                    f"{where}: {adapter}: adapts {target}, which {model} does not have (an adapter of another "
                    "architecture)"
                )
            out_features, in_features = model_shapes[target][0], model_shapes[target][-1]
            fits = shape[-1] == in_features if kind == "lora_A" else shape[0] == out_features
            if not fits:
                raise ClinragError(
                    f"{where}: {adapter}: {name} has shape {shape}, which does not fit {target} "
                    f"{model_shapes[target]} of {model} (an adapter of another model)"
                )
