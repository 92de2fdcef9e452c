"""Merge recipes: mergekit's own YAML format, read strictly, with clinrag's model references resolved.

A recipe is what ``mergekit-yaml`` reads (``merge_method``, ``base_model``, ``models`` with ``parameters``,
``slices``, ``dtype``...), validated by mergekit's :class:`~mergekit.config.MergeConfiguration`. clinrag adds:

- model references may be ``embedded:NAME`` (resolved to the prepared folder) or local folders, and
  ``MODEL+ADAPTER`` applies a LoRA adapter folder to a model before merging (mergekit's own ``+`` syntax: the
  adapter is merged into the model named on the left with peft's ``merge_and_unload``; the adapter's recorded
  ``base_model_name_or_path`` is never used);
- ``random_seed`` (top level, optional, default 0): seeds torch's global RNG through mergekit's
  ``MergeOptions.random_seed`` before the merge, so DARE's random drops are reproducible;
- unknown keys (top level, per model, or a parameter the method does not take) are errors, not silent defaults.

Everything here reads config files only (``config.json``, ``adapter_config.json``, tokenizer files and
safetensors headers); no weight is loaded (:mod:`clinrag.merging.checks`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinrag.errors import ClinragError
from clinrag.io import stable_hash

SEED_KEY = "random_seed"
"""clinrag's one addition to mergekit's recipe format: the seed of randomized methods (DARE)."""

_MODEL_KEYS = {"model", "parameters"}
_SLICE_KEYS = {"sources", "base_model", "residual_weight", "parameters"}
_SOURCE_KEYS = {"model", "layer_range", "parameters"}


@dataclass(frozen=True)
class ModelInput:
    """One model reference of a recipe, resolved: a model folder and, for ``MODEL+ADAPTER``, a LoRA adapter.

    Attributes:
        reference: The reference as the recipe writes it (``embedded:smollm2-135m-instruct+runs/a/adapter``).
        field: Where it is in the recipe (``models[1].model``).
        model: The model folder.
        adapter: The adapter folder, or None.
    """

    reference: str
    field: str
    model: Path
    adapter: Path | None = None

    @property
    def mergekit_reference(self) -> str:
        """The reference mergekit reads (absolute folders, ``+`` before the adapter)."""
        text = str(self.model)
        return f"{text}+{self.adapter}" if self.adapter else text


@dataclass
class Recipe:
    """A validated recipe: its source file, the mapping mergekit reads (references resolved), its inputs.

    Attributes:
        source: The recipe file (or a label for a recipe given as a mapping).
        data: The recipe as mergekit reads it: references replaced by absolute folders, ``random_seed`` removed.
        seed: The seed of randomized methods.
        inputs: Every distinct model reference, the base first.
        base: The input whose architecture and vocabulary every other must share (``base_model``, else the
            first model).
    """

    source: str
    data: dict[str, Any]
    seed: int
    inputs: list[ModelInput] = field(default_factory=list)
    base: ModelInput | None = None

    @property
    def method(self) -> str:
        """The merge method's name."""
        return str(self.data["merge_method"])

    def configuration(self):
        """mergekit's :class:`~mergekit.config.MergeConfiguration` of the recipe."""
        from mergekit.config import MergeConfiguration

        return MergeConfiguration.model_validate(self.data)

    def to_yaml(self) -> str:
        """The recipe mergekit reads, as YAML (what ``mergekit_config.yml`` holds)."""
        import yaml

        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True, width=100)

    def identity(self, hashes: dict[str, str]) -> dict[str, Any]:
        """What the merged weights depend on: the recipe with each reference replaced by its inputs' content
        hashes (so moving a folder keeps the identity, changing a file changes it), the seed, mergekit's version.

        Args:
            hashes: Folder path (``str``) -> content SHA-256, for every input's model and adapter folder.
        """
        import importlib.metadata

        by_reference = {
            item.mergekit_reference: hashes[str(item.model)]
            + (f"+{hashes[str(item.adapter)]}" if item.adapter else "")
            for item in self.inputs
        }
        return {
            "recipe": replace_references(self.data, by_reference),
            "seed": self.seed,
            "mergekit": importlib.metadata.version("mergekit"),
        }

    def sha256(self) -> str:
        """SHA-256 of the resolved recipe (canonical JSON) and its seed."""
        return stable_hash({"recipe": self.data, "seed": self.seed})


def load_recipe(path: str | Path, seed: int | None = None) -> Recipe:
    """Read, resolve and check a recipe file (no weight is read).

    Args:
        path: The recipe YAML (mergekit's format, see the module docstring).
        seed: Overrides the recipe's ``random_seed``.

    Raises:
        ClinragError: A missing or malformed file, an unknown key or method, a missing model or adapter folder,
            or inputs that cannot be merged (different architectures, shapes or vocabularies), one line naming
            the file and field.
    """
    from clinrag.config import load_yaml_mapping

    path = Path(path)
    return recipe_from_mapping(load_yaml_mapping(path), str(path), seed)


def recipe_from_mapping(data: dict[str, Any], source: str, seed: int | None = None) -> Recipe:
    """Like :func:`load_recipe`, from a mapping already read (``source`` names it in errors)."""
    from clinrag.merging.checks import check_inputs

    data = copy.deepcopy(data)
    recipe_seed = data.pop(SEED_KEY, 0)
    if isinstance(recipe_seed, bool) or not isinstance(recipe_seed, int):
        raise ClinragError(f"{source}: field '{SEED_KEY}': expected an integer, got {recipe_seed!r}")
    _check_keys(data, source)
    inputs: dict[str, ModelInput] = {}
    resolved = _resolve_references(data, source, inputs)
    try:
        from mergekit.config import MergeConfiguration

        MergeConfiguration.model_validate(resolved)
    except Exception as err:  # pydantic's ValidationError, or mergekit's own RuntimeError/ValueError checks
        raise ClinragError(f"{source}: {_mergekit_message(err)}") from err
    base_field = "base_model" if "base_model" in data else None
    if base_field is None:
        base = next(iter(inputs.values()), None)
    else:
        base = next(i for i in inputs.values() if i.field == "base_model")
    if base is None:
        raise ClinragError(f"{source}: field 'models': the recipe names no model to merge")
    ordered = [base, *(i for i in inputs.values() if i is not base)]
    recipe = Recipe(source, resolved, recipe_seed if seed is None else seed, ordered, base)
    check_inputs(recipe)
    return recipe


# ---- keys -------------------------------------------------------------------------------------------------
def _check_keys(data: dict[str, Any], source: str) -> None:
    from mergekit.config import MergeConfiguration

    known = set(MergeConfiguration.model_fields)
    for key in data:
        if key not in known:
            raise ClinragError(
                f"{source}: field '{key}': unknown key of a merge recipe (known: {', '.join(sorted(known))}, "
                f"{SEED_KEY})"
            )
    method_name = data.get("merge_method")
    if not isinstance(method_name, str):
        raise ClinragError(f"{source}: field 'merge_method': required (linear, task_arithmetic, ties, ...)")
    from mergekit.merge_methods import registry

    try:
        method = registry.get(method_name)
    except RuntimeError as err:
        names = ", ".join(sorted(m.spec.name for m in registry.registered_methods()))
        raise ClinragError(
            f"{source}: field 'merge_method': unknown method '{method_name}' (known: {names})"
        ) from err
    parameters = {p.name for p in method.spec.parameters}

    def check_parameters(node: Any, where: str) -> None:
        if node is None:
            return
        if not isinstance(node, dict):
            raise ClinragError(f"{source}: field '{where}': expected a mapping of parameter names to values")
        for name in node:
            if name not in parameters:
                raise ClinragError(
                    f"{source}: field '{where}.{name}': not a parameter of {method_name} "
                    f"(its parameters: {', '.join(sorted(parameters)) or 'none'})"
                )

    def check_mapping(node: Any, allowed: set[str], where: str) -> None:
        if not isinstance(node, dict):
            raise ClinragError(f"{source}: field '{where}': expected a mapping")
        for key in node:
            if key not in allowed:
                raise ClinragError(
                    f"{source}: field '{where}.{key}': unknown key (known: {', '.join(sorted(allowed))})"
                )
        check_parameters(node.get("parameters"), f"{where}.parameters")

    check_parameters(data.get("parameters"), "parameters")
    contract = getattr(getattr(method.spec, "contract", None), "base", None)
    if (
        str(getattr(contract, "value", contract)) == "required"
        and not data.get("base_model")
        and data.get("models")
    ):
        raise ClinragError(
            f"{source}: field 'base_model': {method_name} needs a base model (the deltas' origin)"
        )
    required = [
        p for p in method.spec.parameters if p.required and str(p.scope.value) in ("input", "non_base")
    ]
    shared = data.get("parameters") or {}
    for number, model in enumerate(data.get("models") or []):
        check_mapping(model, _MODEL_KEYS, f"models[{number}]")
        if str(model.get("model")) == str(data.get("base_model")):
            continue  # the base takes no per-model parameter (and weighs nothing in a delta method)
        for spec in required:
            if spec.name not in (model.get("parameters") or {}) and spec.name not in shared:
                raise ClinragError(
                    f"{source}: field 'models[{number}].parameters.{spec.name}': required by {method_name}"
                )
    for number, out_slice in enumerate(data.get("slices") or []):
        check_mapping(out_slice, _SLICE_KEYS, f"slices[{number}]")
        for index, source_slice in enumerate(out_slice.get("sources") or []):
            check_mapping(source_slice, _SOURCE_KEYS, f"slices[{number}].sources[{index}]")


def _mergekit_message(err: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return f"field '{where}': {first['msg']}{more}"
    return " ".join(str(err).split())


# ---- references -------------------------------------------------------------------------------------------
def _reference_fields(data: dict[str, Any]):
    """(path of keys, field label) of every model reference in a recipe."""
    if isinstance(data.get("base_model"), str):
        yield ("base_model",), "base_model"
    if isinstance(data.get("tokenizer_source"), str) and data["tokenizer_source"] not in ("union", "base"):
        yield ("tokenizer_source",), "tokenizer_source"
    for number, model in enumerate(data.get("models") or []):
        if isinstance(model, dict) and "model" in model:
            yield ("models", number, "model"), f"models[{number}].model"
    for number, out_slice in enumerate(data.get("slices") or []):
        if not isinstance(out_slice, dict):
            continue
        if isinstance(out_slice.get("base_model"), str):
            yield ("slices", number, "base_model"), f"slices[{number}].base_model"
        for index, source_slice in enumerate(out_slice.get("sources") or []):
            if isinstance(source_slice, dict) and "model" in source_slice:
                yield (
                    ("slices", number, "sources", index, "model"),
                    f"slices[{number}].sources[{index}].model",
                )


def _resolve_references(data: dict[str, Any], source: str, inputs: dict[str, ModelInput]) -> dict[str, Any]:
    resolved = copy.deepcopy(data)
    for keys, label in _reference_fields(data):
        node = resolved
        for key in keys[:-1]:
            node = node[key]
        reference = node[keys[-1]]
        if not isinstance(reference, str):
            raise ClinragError(
                f"{source}: field '{label}': expected a model folder, 'embedded:NAME' or MODEL+ADAPTER"
            )
        item = inputs.get(reference) or _resolve_reference(reference, label, source)
        inputs.setdefault(reference, item)
        node[keys[-1]] = item.mergekit_reference
    return resolved


def _resolve_reference(reference: str, label: str, source: str) -> ModelInput:
    from clinrag.generation.decoder import resolve_decoder_path

    parts = reference.split("+")
    if len(parts) > 2 or not all(p.strip() for p in parts):
        raise ClinragError(
            f"{source}: field '{label}': '{reference}': expected MODEL or MODEL+ADAPTER (a folder name must not "
            "contain '+')"
        )
    try:
        model = resolve_decoder_path(parts[0].strip()).resolve()
    except ClinragError as err:
        raise ClinragError(f"{source}: field '{label}': {err}") from err
    adapter = None
    if len(parts) == 2:
        adapter = Path(parts[1].strip()).expanduser()
        if not adapter.is_dir():
            raise ClinragError(f"{source}: field '{label}': {adapter}: adapter folder not found")
        if not (adapter / "adapter_config.json").is_file():
            raise ClinragError(
                f"{source}: field '{label}': {adapter}: not a LoRA adapter folder (no adapter_config.json)"
            )
        adapter = adapter.resolve()
    for folder in (model, adapter):
        if folder is not None and "@" in str(folder):
            # mergekit reads MODEL@REVISION: a folder with '@' in its path would be cut there
            raise ClinragError(f"{source}: field '{label}': {folder}: a folder path must not contain '@'")
    return ModelInput(reference, label, model, adapter)


def replace_references(node: Any, by_reference: dict[str, str]) -> Any:
    """``node`` (a recipe or part of it) with every string in ``by_reference`` replaced by its value."""
    if isinstance(node, dict):
        return {k: replace_references(v, by_reference) for k, v in node.items()}
    if isinstance(node, list):
        return [replace_references(v, by_reference) for v in node]
    if isinstance(node, str) and node in by_reference:
        return by_reference[node]
    return node
