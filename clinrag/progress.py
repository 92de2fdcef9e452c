"""Progress on stderr, and one switch that silences it all.

Long steps show a tqdm bar on stderr (:func:`progress_bar`) or, when they have nothing to count, a line or a
spinner (:func:`working`). Library functions draw them when their caller passes ``progress=True``, the way
``clinrag run`` passes ``progress=not quiet``.

:func:`quiet` is the process-wide override behind every command's ``-q``: inside it, clinrag draws no bar, no
spinner, no line, whatever ``progress`` says, and neither do the libraries it calls: transformers (its
"Loading weights" bar and its logs below errors), huggingface_hub, datasets, and sentence-transformers'
"Batches" bar (clinrag passes ``show_progress_bar`` only when :func:`bars_allowed`). Bars and spinners never
name a patient or show document text: only a step's name and counts.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["bars_allowed", "muted_stderr", "progress_bar", "quiet", "quiet_active", "working"]

_quiet_depth = 0


def quiet_active() -> bool:
    """Whether a :func:`quiet` block is open (a command ran with ``-q``)."""
    return _quiet_depth > 0


def bars_allowed(progress: bool = True) -> bool:
    """Whether to draw a bar: the caller asked for it (``progress``) and no :func:`quiet` block is open."""
    return bool(progress) and not quiet_active()


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    enabled: bool = True,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
) -> Any:
    """A tqdm bar on stderr over ``iterable`` (or, without one, updated by hand with ``update``).

    Args:
        iterable: What to iterate over.
        enabled: Whether the caller wants a bar; none is drawn when False or inside :func:`quiet`, and the
            object still iterates and accepts ``update`` and ``close``.
        total: The number of items (default ``len(iterable)`` when it has one).
        desc: The step's name (no identifier, no document text).
        unit: What one item is.
    """
    from tqdm.auto import tqdm

    return tqdm(
        iterable, total=total, desc=desc, unit=unit, disable=not bars_allowed(enabled), file=sys.stderr
    )


@contextlib.contextmanager
def working(description: str, *, enabled: bool = True) -> Iterator[None]:
    """Show that a step with nothing to count is running: on a terminal, a spinner with the elapsed time
    (cleared when the step ends); elsewhere (a log file), one line ``description…`` when it starts.

    Args:
        description: The step (no identifier, no document text).
        enabled: Whether the caller wants it; nothing is shown when False or inside :func:`quiet`.
    """
    if not bars_allowed(enabled):
        yield
        return
    if not sys.stderr.isatty():
        print(f"{description}…", file=sys.stderr, flush=True)
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    # the stream as it is now: a step may redirect sys.stderr to hide a third party's bar
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as spinner:
        spinner.add_task(description, total=None)
        yield


@contextlib.contextmanager
def muted_stderr(enabled: bool = True) -> Iterator[None]:
    """Send what is written to ``sys.stderr`` inside the block nowhere (when ``enabled``): for a third party's
    progress bar that no switch turns off. Exceptions still propagate."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence progress, clinrag's and the libraries', inside the block; restore it after (blocks nest).

    Inside: :func:`bars_allowed` is False; transformers, huggingface_hub and datasets draw no progress bar,
    FutureWarning and DeprecationWarning notices are not shown, and
    transformers and datasets log errors only.

    Args:
        enabled: False makes the block do nothing (``with quiet(args.quiet):``).
    """
    global _quiet_depth
    if not enabled:
        yield
        return
    restore = _silence_libraries() if _quiet_depth == 0 else []
    _quiet_depth += 1
    try:
        with warnings.catch_warnings():
            # the libraries' deprecation notices (transformers' past_key_values, numpy.core...) are for their
            # callers' developers, not for someone who asked for a quiet run; clinrag's own messages are not
            # warnings
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        _quiet_depth -= 1
        if _quiet_depth == 0:
            for undo in reversed(restore):
                undo()


def _silence_libraries() -> list[Any]:
    """Turn the libraries' bars and chatty logs off; returns what turns each back to how it was.

    The libraries are imported here (about a second), not left to read environment variables when first
    imported: some are imported already (by an earlier call, or a test), and environment variables would outlive
    the block."""
    restore: list[Any] = []
    with contextlib.suppress(ImportError):
        import huggingface_hub.utils as hub

        if not hub.are_progress_bars_disabled():
            hub.disable_progress_bars()
            restore.append(hub.enable_progress_bars)
    with contextlib.suppress(ImportError):
        import transformers.utils.logging as transformers_logging

        level = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()
        restore.append(lambda level=level: transformers_logging.set_verbosity(level))
        if transformers_logging.is_progress_bar_enabled():
            transformers_logging.disable_progress_bar()
            restore.append(transformers_logging.enable_progress_bar)
    with contextlib.suppress(ImportError):
        import datasets.utils.logging as datasets_logging

        # the module, not the class `datasets.utils.tqdm` that shadows it as an attribute
        datasets_tqdm = importlib.import_module("datasets.utils.tqdm")

        level = datasets_logging.get_verbosity()
        datasets_logging.set_verbosity(logging.ERROR)
        restore.append(lambda level=level: datasets_logging.set_verbosity(level))
        if not datasets_tqdm.are_progress_bars_disabled():
            datasets_tqdm.disable_progress_bars()
            restore.append(datasets_tqdm.enable_progress_bars)
    return restore
