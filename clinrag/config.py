"""Typed configurations: pydantic models are the truth, YAML is how they are stored, dotted overrides
(``retriever.type=bm25 retrieval.k=3``) adjust them from the command line. An invalid config is refused with
every error, one line each in plain words, naming the override that brought it, else the file and the line."""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator

from clinrag.errors import ClinragError, ErrorList
from clinrag.retrieval.base import DEFAULT_RETRIEVER, check_models
from clinrag.retrieval.config import RetrieverConfig, TemporalConfig
from clinrag.text.passages import ChunkingConfig


class RetrievalOptions(BaseModel):
    """How many passages retrieval hands on, and which cut-offs its evaluation reports."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(3, ge=1)
    """Passages retrieved per (patient, variable): the evidence the reader sees (see ``reader.max_passages``)."""
    eval_ks: list[int] = Field(default_factory=lambda: [1, 5, 10])
    """Cut-offs of recall@k in evaluation."""


class RetrievalSettings(BaseModel):
    """Everything retrieval needs: chunking, the retriever, and retrieval options."""

    model_config = ConfigDict(extra="forbid")

    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    """How documents are cut into passages."""
    retriever: RetrieverConfig = Field(default_factory=TemporalConfig)
    """The retriever, chosen by its ``type`` (a registered retriever: bm25, dense, hybrid, temporal, annotated);
    a section without ``type`` is the default one, the same in every entry point."""
    retrieval: RetrievalOptions = Field(default_factory=RetrievalOptions)
    """k and evaluation cut-offs."""

    @model_validator(mode="before")
    @classmethod
    def _default_retriever_type(cls, data: Any) -> Any:
        return default_section_type(data, "retriever", DEFAULT_RETRIEVER)

    def check_models(self) -> None:
        """Refuse, before any work and without loading anything, a model folder the retriever section names that
        cannot be loaded (:meth:`~clinrag.retrieval.base.RetrieverBase.check_models`).

        Raises:
            ClinragError: One line naming the folder, what is wrong and the field.
        """
        check_models(self.retriever)


def default_section_type(data: Any, section: str, default: str) -> Any:
    """``data`` with ``data[section]["type"]`` set to ``default`` when the section is given without a type."""
    if isinstance(data, dict) and isinstance(data.get(section), dict) and "type" not in data[section]:
        data = {**data, section: {"type": default, **data[section]}}
    return data


def load_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping.

    Raises:
        ClinragError: Missing file, bad YAML (with its line) or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ClinragError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ClinragError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ClinragError(f"{path}{line}: malformed YAML: {getattr(err, 'problem', None) or err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ClinragError(f"{path}: a config must be a mapping of keys to values")
    return data


def override_key(override: str) -> tuple[str, ...]:
    """The key of a ``dotted.key=value`` override, as a path of names.

    Raises:
        ClinragError: No ``=``, or an empty name in the key.
    """
    if "=" not in override:
        raise ClinragError(f"override '{override}': expected key=value (e.g. retriever.type=bm25)")
    parts = tuple(override.split("=", 1)[0].strip().split("."))
    if not all(parts):
        raise ClinragError(f"override '{override}': empty key")
    return parts


def override_origins(overrides: Sequence[str]) -> list[tuple[tuple[str, ...], str]]:
    """Where each override sets a value, for :func:`build_settings` to name it in errors."""
    return [(override_key(override), f"override '{override}'") for override in overrides]


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML: ``3``, ``true``, ``[1, 5]``, ``bm25``).

    Setting a ``type`` key replaces its whole section (a bm25 section's ``k1`` means nothing to dense), so
    ``retriever.type=dense`` starts a fresh dense section; overrides after it fill it in.

    Raises:
        ClinragError: An override without ``=`` or with an empty key.
    """
    result = _deep_copy(data)
    for override in overrides:
        parts = override_key(override)
        raw = override.split("=", 1)[1]
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = result
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if parts[-1] == "type" and node.get("type") != value:
            node.clear()
        node[parts[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


CONFIG_ERRORS_SHOWN = 10
"""How many of a config's invalid fields the command line prints (then how many more there are)."""


def build_settings(
    model: type[BaseModel],
    source: str | Path,
    data: dict[str, Any],
    origins: Sequence[tuple[tuple[str, ...], str]] = (),
) -> Any:
    """Validate a mapping into ``model``; every invalid field becomes one line of the error raised.

    Args:
        model: The settings' pydantic model.
        source: Where ``data`` was read: a YAML file (a Path: each error then gives the line of its key) or a
            label ("settings").
        data: The mapping, overrides and options applied.
        origins: (key path, label) of each value set over those of ``source``, in order: dotted overrides
            (:func:`override_origins`), options (``--model``). An error at, under or above such a path names the
            last of them instead of ``source``.

    Raises:
        ErrorList: One line a field, in plain words: "SOURCE[:LINE]: field 'retrieval.k': must be ≥ 1",
            "override 'reader.lora.epoch=3': unknown field 'reader.lora.epoch' (did you mean 'epochs'?)".
    """
    try:
        return model.model_validate(data)
    except ValidationError as err:
        messages = validation_messages(model, source, data, err, origins)
        raise ErrorList(messages, shown=CONFIG_ERRORS_SHOWN) from err


def validation_messages(
    model: type[BaseModel],
    source: str | Path,
    data: dict[str, Any],
    err: ValidationError,
    origins: Sequence[tuple[tuple[str, ...], str]] = (),
) -> list[str]:
    """One line per invalid field of ``data`` (see :func:`build_settings`), without repeats."""
    lines = _yaml_key_lines(source) if isinstance(source, Path) else {}
    messages = []
    for error in err.errors():
        loc = tuple(error["loc"])
        where = next((label for path, label in reversed(origins) if _overlaps(path, loc)), None)
        if where is None:
            line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
            where = f"{source}:{line}" if line else str(source)
        messages.append(f"{where}: {_plain_error(model, data, error)}")
    return list(dict.fromkeys(messages))


def _overlaps(path: tuple[str, ...], loc: tuple[Any, ...]) -> bool:
    """Whether an error at ``loc`` concerns the value set at ``path`` (one is a prefix of the other)."""
    n = min(len(path), len(loc))
    return tuple(str(p) for p in loc[:n]) == path[:n]


def _yaml_key_lines(path: Path) -> dict[tuple[Any, ...], int]:
    """The 1-based line of every key (and list item) of a YAML file, by its path; {} when it cannot be read."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*prefix, key.value)] = key.start_mark.line + 1
                walk(value, (*prefix, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*prefix, index)] = item.start_mark.line + 1
                walk(item, (*prefix, index))

    walk(root, ())
    return lines


# pydantic's error types, in plain words ("got ..." is added where the value helps)
_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
}
_BOUNDS = {
    "greater_than_equal": ("≥", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("≤", "le"),
    "less_than": ("<", "lt"),
}


def _plain_error(model: type[BaseModel], data: dict[str, Any], error: dict[str, Any]) -> str:
    """One pydantic error in plain words, naming its field."""
    loc = error["loc"]
    dotted = ".".join(str(part) for part in loc)
    if error["type"] == "extra_forbidden":
        fields = _section_fields(model, data, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
        return f"unknown field '{dotted}'" + (f" (did you mean '{close[0]}'?)" if close else "")
    reason = _plain_reason(error)
    return f"field '{dotted}': {reason}" if loc else reason


def _plain_reason(error: dict[str, Any]) -> str:
    """What is wrong with a field's value, in plain words (pydantic's own message for the rarer kinds)."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    got = f", got {_describe(given)}"
    if kind == "missing":
        return "missing (required)"
    if kind in _EXPECTED:
        return _EXPECTED[kind] + got
    if kind in _BOUNDS:
        sign, key = _BOUNDS[kind]
        return f"must be {sign} {ctx[key]}{got}"
    if kind in ("literal_error", "enum"):
        choices = [c.strip("'\"") for c in re.split(r", | or ", str(ctx.get("expected", "")))]
        close = difflib.get_close_matches(str(given), choices, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{_describe(given)} is not one of: {', '.join(choices)}{hint}"
    return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _describe(value: Any) -> str:
    """A value as a message shows it: scalars as written, containers by kind."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else repr(value)


def _section_fields(model: type[BaseModel], data: Any, path: tuple[Any, ...]) -> list[str]:
    """The field names of the section at ``path`` of ``data`` validated by ``model`` ([] when unknown)."""
    cls: type[BaseModel] | None = model
    for part in path:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        data = data.get(part) if isinstance(data, dict) else None
        cls = _section_class(field, data)
        if cls is None:
            return []
    return list(cls.model_fields)


def _section_class(field: Any, data: Any) -> type[BaseModel] | None:
    """The model that validates a field's section: for a registered component's section (a plain validator: a
    retriever, a reader), the config class its ``type`` names; otherwise the field's default's or annotation's."""
    validator = next((m for m in field.metadata if isinstance(m, PlainValidator)), None)
    if validator is not None and isinstance(data, dict) and "type" in data:
        try:
            return type(validator.func({"type": data["type"]}))
        except (ValueError, ClinragError):
            return None
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        return type(default)
    for kind in (field.annotation, *typing.get_args(field.annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None
