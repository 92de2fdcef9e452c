"""The edsnlp pipelines clinrag builds, from one recipe: every one starts with sentences and the normalizer (the
``NORM`` attribute the matchers read), then sections and dates where it needs them; its matchers; then edsnlp's
qualifiers in one order (negation, hypothesis, family, history), each with the cues its user gives.
"""

from __future__ import annotations

import logging
from typing import Any


def silence_edsnlp() -> None:
    """Quiet edsnlp's own logging: it warns that eds.sections is in beta at every construction and shows a
    progress bar while adding terms; that is known, not news."""
    logging.getLogger("edsnlp").setLevel(logging.ERROR)
    try:
        from loguru import logger as loguru_logger

        loguru_logger.disable("edsnlp")
    except ImportError:  # pragma: no cover - edsnlp depends on loguru
        pass


def eds_pipeline(sections: bool = True, dates: bool = False) -> Any:
    """A blank edsnlp pipeline with the pipes every clinrag pipeline starts with: ``eds.sentences``,
    ``eds.normalizer``, and ``eds.sections`` / ``eds.dates`` when asked."""
    import edsnlp
    import edsnlp.pipes as eds

    silence_edsnlp()
    nlp = edsnlp.blank("eds")
    nlp.add_pipe(eds.sentences())
    nlp.add_pipe(eds.normalizer())
    if sections:
        nlp.add_pipe(eds.sections())
    if dates:
        nlp.add_pipe(eds.dates())
    return nlp


def add_qualifiers(
    nlp: Any,
    negation: dict[str, Any] | None = None,
    hypothesis: dict[str, Any] | None = None,
    family: dict[str, Any] | None = None,
    history: bool = False,
) -> Any:
    """Add edsnlp's qualifiers after the matchers: ``eds.negation`` and ``eds.hypothesis`` (with the settings
    given: cues, ``span_getter``...), ``eds.family`` when ``family`` is given (its settings, ``{}`` for the
    defaults) and ``eds.history`` when asked. Returns ``nlp``."""
    import edsnlp.pipes as eds

    nlp.add_pipe(eds.negation(**(negation or {})))
    nlp.add_pipe(eds.hypothesis(**(hypothesis or {})))
    if family is not None:
        nlp.add_pipe(eds.family(**family))
    if history:
        nlp.add_pipe(eds.history())
    return nlp
