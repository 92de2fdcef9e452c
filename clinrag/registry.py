"""One registry shape for every component family (retrievers, readers, identifier detectors): a component is a
class registered under a name with the config class its section is validated by; the family's built-in
components register when their modules are first imported (``builtins``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from clinrag.errors import ClinragError


class Registry:
    """Components of one family by name.

    Args:
        family: What a component is, in messages ("retriever").
        builtins: The modules whose import registers the built-in components.
        default: The ``type`` of a section that names none (None: ``type`` is required).
    """

    def __init__(self, family: str, builtins: tuple[str, ...], default: str | None = None):
        self.family, self.builtins, self.default = family, builtins, default
        self.classes: dict[str, type] = {}
        self.configs: dict[str, type[BaseModel] | None] = {}

    def register(self, name: str, config: type[BaseModel] | None = None) -> Callable[[type], type]:
        """Class decorator: the component named ``name``, its sections validated by ``config``.

        Raises:
            ValueError: The name is taken.
        """

        def decorate(cls: type) -> type:
            if name in self.classes:
                raise ValueError(f"{self.family} '{name}' is registered twice")
            self.classes[name] = cls
            self.configs[name] = config
            return cls

        return decorate

    def unregister(self, name: str) -> None:
        """Forget a component (tests register toy ones)."""
        self.classes.pop(name, None)
        self.configs.pop(name, None)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._load()
        return sorted(self.classes)

    def get(self, name: str) -> type:
        """The class registered as ``name``.

        Raises:
            ClinragError: No component of that name.
        """
        self._load()
        if name not in self.classes:
            raise ClinragError(self.unknown(name))
        return self.classes[name]

    def unknown(self, name: str) -> str:
        """The message for a name nobody registered."""
        return f"unknown {self.family} '{name}' (known: {', '.join(self.names())})"

    def validate(self, data: Any) -> BaseModel:
        """A section validated by the config class its ``type`` names (how config files are read)."""
        self._load()
        if isinstance(data, BaseModel):
            if self.configs.get(getattr(data, "type", None)) is type(data):
                return data
            data = data.model_dump()
        if not isinstance(data, dict):
            raise ValueError(f"a {self.family} section is a mapping with a `type`")
        name = data.get("type", self.default)
        if not isinstance(name, str):
            raise ValueError(f"a {self.family} section is a mapping with a `type`")
        if name not in self.configs or self.configs[name] is None:
            raise ValueError(self.unknown(name))
        return self.configs[name].model_validate(data)

    def _load(self) -> None:
        for module in self.builtins:
            importlib.import_module(module)
