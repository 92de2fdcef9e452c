"""Building a merged model with mergekit's Python API (``MergeConfiguration``, ``run_merge``).

The output is a Hugging Face model folder (``config.json``, safetensors weights, the base's tokenizer) that loads
as a decoder anywhere a model folder is accepted (``reader.model``), plus ``clinrag_merge.json``: the recipe as
merged, its SHA-256, the seed, every input's folder and content hash, and the versions that made it. mergekit
adds ``mergekit_config.yml`` and a model card (``README.md``).

The folder is written to a temporary sibling and renamed into place: an interrupted merge leaves nothing
half-written. ``MODEL+ADAPTER`` inputs are merged with peft into a temporary folder (mergekit's
``lora_merge_cache``) that is removed afterwards, so a changed adapter is never read from a stale cache.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clinrag.errors import ClinragError
from clinrag.io import atomic_folder, atomic_write_json, folder_sha256
from clinrag.merging.recipe import Recipe, replace_references

RECORD_FILE = "clinrag_merge.json"
"""What a merged folder records about how it was made."""

_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
)


def input_hashes(recipe: Recipe, hasher: Callable[[Path], str] = folder_sha256) -> dict[str, str]:
    """Folder path -> content hash of every model and adapter folder the recipe reads."""
    hashes: dict[str, str] = {}
    for item in recipe.inputs:
        for folder in (item.model, item.adapter):
            if folder is not None and str(folder) not in hashes:
                hashes[str(folder)] = hasher(folder)
    return hashes


def build_merge(
    recipe: Recipe,
    out: str | Path,
    overwrite: bool = False,
    hasher: Callable[[Path], str] = folder_sha256,
    progress: bool = False,
) -> Path:
    """Merge the recipe's models into ``out``.

    Args:
        recipe: A checked recipe (:func:`clinrag.merging.recipe.load_recipe`).
        out: The output folder (absent or empty, unless ``overwrite``).
        overwrite: Replace a non-empty ``out``.
        hasher: Content hash of an input folder (the runner passes its memoized one).
        progress: mergekit's progress bars.

    Returns:
        The merged model folder.

    Raises:
        ClinragError: ``out`` is not empty (without ``overwrite``) or is a file; mergekit refused the merge.
    """
    out = Path(out)
    if out.is_file():
        raise ClinragError(f"{out}: exists and is a file; --out must be a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ClinragError(f"{out}: not empty; choose another --out or pass --overwrite")
    hashes = input_hashes(recipe, hasher)
    started = time.time()
    with (
        atomic_folder(out, replace=overwrite, prefix=f".{out.name}.partial.") as staging,
        tempfile.TemporaryDirectory(
            prefix=f".{out.name}.lora.", dir=out.parent, ignore_cleanup_errors=True
        ) as lora_cache,
    ):
        _run_mergekit(recipe, staging, Path(lora_cache), progress)
        _ensure_tokenizer(recipe, staging)
        record = merge_record(recipe, hashes, started)
        atomic_write_json(staging / RECORD_FILE, record)
    return out


def merge_record(recipe: Recipe, hashes: dict[str, str], started: float | None = None) -> dict[str, Any]:
    """``clinrag_merge.json``: recipe, its hash, seed, inputs with content hashes, versions."""
    inputs = []
    for item in recipe.inputs:
        entry: dict[str, Any] = {
            "reference": item.reference,
            "field": item.field,
            "model": {"path": str(item.model), "sha256": hashes[str(item.model)]},
        }
        if item.adapter is not None:
            entry["adapter"] = {"path": str(item.adapter), "sha256": hashes[str(item.adapter)]}
        inputs.append(entry)
    record: dict[str, Any] = {
        "clinrag_component": "merge",
        "recipe_file": recipe.source,
        "merge_method": recipe.method,
        "random_seed": recipe.seed,
        "recipe": recipe.data,
        "recipe_sha256": recipe.sha256(),
        "base": str(recipe.base.model) if recipe.base else None,
        "inputs": inputs,
        "versions": versions(),
    }
    if started is not None:
        record["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
        record["seconds"] = round(time.time() - started, 1)
    return record


def versions() -> dict[str, str]:
    """Versions of what makes a merge."""
    from clinrag.io import package_versions

    return package_versions("clinrag", "mergekit", "torch", "transformers", "peft", "safetensors")


def _run_mergekit(recipe: Recipe, staging: Path, lora_cache: Path, progress: bool) -> None:
    from mergekit.io.tasks import LoaderCache
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    options = MergeOptions(
        lora_merge_cache=str(lora_cache),
        copy_tokenizer=True,
        # mergekit seeds torch, numpy and random (transformers' set_seed) with it before planning the merge;
        # DARE's drops (torch.bernoulli on the global generator) then repeat exactly
        random_seed=recipe.seed,
        quiet=not progress,
        device="cpu",
        write_model_card=True,
    )
    # mergekit keeps tensor loaders per reference in a process-wide singleton: a folder rewritten since an
    # earlier merge (same path, new weights) must not be read through a stale loader
    cache = LoaderCache()
    cache.loaders.clear()
    views = _dequantized_views(recipe, lora_cache.parent / f"{lora_cache.name}.views")
    try:
        from mergekit.config import MergeConfiguration

        data = recipe.data
        if views:
            by_reference = {
                item.mergekit_reference: str(views.get(item.model, item.model))
                + (f"+{item.adapter}" if item.adapter else "")
                for item in recipe.inputs
            }
            data = replace_references(data, by_reference)
        run_merge(
            MergeConfiguration.model_validate(data), str(staging), options, config_source=recipe.to_yaml()
        )
        card = staging / "README.md"
        if views and card.is_file():  # the card names the recipe's folders, not the temporary views
            text = card.read_text(encoding="utf-8")
            for original, view in views.items():
                text = text.replace(str(view), str(original))
            card.write_text(text, encoding="utf-8")
    except ClinragError:
        raise
    except (RuntimeError, ValueError, TypeError, KeyError, OSError) as err:
        raise ClinragError(
            f"{recipe.source}: mergekit refused the merge: {' '.join(str(err).split())}"
        ) from err
    finally:
        cache.loaders.clear()
        if views:
            shutil.rmtree(next(iter(views.values())).parent, ignore_errors=True)


def _dequantized_views(recipe: Recipe, root: Path) -> dict[Path, Path]:
    """Folders whose ``config.json`` still carries a GGUF ``quantization_config`` (the embedded SmolLM2, converted
    from GGUF: its safetensors weights are plain float32), seen through a view without it: transformers refuses to
    save a model whose config says GGUF, which mergekit does when it merges a LoRA adapter into it, and the merged
    config would say it too. A view links every file of the folder and rewrites ``config.json``.

    Returns:
        Original folder -> its view (empty when no input needs one).
    """
    views: dict[Path, Path] = {}
    for item in recipe.inputs:
        if item.model in views:
            continue
        config = json.loads((item.model / "config.json").read_text(encoding="utf-8"))
        quantization = config.get("quantization_config") or {}
        if quantization.get("quant_method") != "gguf":
            continue
        view = root / f"input{len(views)}"
        view.mkdir(parents=True)
        for file in item.model.iterdir():
            if file.name != "config.json":
                (view / file.name).symlink_to(file.resolve())
        config.pop("quantization_config")
        atomic_write_json(view / "config.json", config)
        views[item.model] = view
    return views


def _ensure_tokenizer(recipe: Recipe, staging: Path) -> None:
    """Copy the base's tokenizer files when mergekit wrote none (a LoRA-merged base has no tokenizer)."""
    if any((staging / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        return
    source = recipe.base.model
    for name in _TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
