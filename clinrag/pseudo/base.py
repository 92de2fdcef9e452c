"""The identifier detector protocol and the registry that builds detectors by name (``detector``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from clinrag.pseudo.labels import Span
from clinrag.registry import Registry


class Detector(Protocol):
    """Finds identifiers in a batch of texts; ``names`` are ``(name, label)`` pairs known for each text."""

    def detect(
        self, texts: Sequence[str], names: Sequence[Sequence[tuple[str, str]]]
    ) -> list[list[Span]]: ...


DETECTORS = Registry("detector", ("clinrag.pseudo.pipeline",))
"""Registered identifier detectors by name (:func:`register_detector`): built from the settings."""


def register_detector(name: str) -> Callable[[type], type]:
    """Class decorator: make a detector (a class built from :class:`~clinrag.pseudo.pipeline.PseudoConfig` with a
    :meth:`Detector.detect` method) selectable as ``detector: NAME`` in ``clinrag pseudonymize`` and
    ``evaluate-pseudo``."""
    return DETECTORS.register(name)
