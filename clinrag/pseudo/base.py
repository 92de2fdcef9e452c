"""The identifier detector protocol and the registry that builds detectors by name (``detector``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from clinrag.pseudo.labels import Span


class Detector(Protocol):
    """Finds identifiers in a batch of texts; ``names`` are ``(name, label)`` pairs known for each text."""

    def detect(
        self, texts: Sequence[str], names: Sequence[Sequence[tuple[str, str]]]
    ) -> list[list[Span]]: ...


DETECTORS: dict[str, Callable[[Any], Detector]] = {}
"""Registered identifier detectors by name (:func:`register_detector`): built from the settings."""


def register_detector(name: str) -> Callable[[type], type]:
    """Class decorator: make a detector (a class built from :class:`~clinrag.pseudo.pipeline.PseudoConfig` with a
    :meth:`Detector.detect` method) selectable as ``detector: NAME`` in ``clinrag pseudonymize`` and
    ``evaluate-pseudo``."""

    def decorate(cls: type) -> type:
        if name in DETECTORS:
            raise ValueError(f"detector '{name}' is registered twice")
        DETECTORS[name] = cls
        return cls

    return decorate
