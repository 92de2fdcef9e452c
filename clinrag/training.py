"""Training helpers shared by clinrag's trainable components: the learning-rate schedule and early stopping."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any


def linear_warmup_decay(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The factor of the peak learning rate at each optimizer step (0-based), for ``torch``'s ``LambdaLR``: a
    linear warmup from ``1/warmup_steps`` to 1 over the first ``warmup_steps`` steps, then a linear decay that
    reaches 0 after step ``total_steps - 1`` (and stays there).

    transformers' ``get_linear_schedule_with_warmup`` differs during the warmup: it starts at 0 (its first step
    learns nothing) and reaches 1 one step later; this schedule is kept so that trained models do not change.

    Args:
        warmup_steps: Steps spent warming up (0: start at the peak).
        total_steps: All the optimizer steps of the training.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


class EarlyStopping:
    """Early stopping on a score where higher is better, keeping a copy of the modules' best weights.

    Call :meth:`step` after each epoch and stop when it says so; :meth:`restore` then loads the best weights back.

    Args:
        modules: The modules whose weights are kept (``state_dict`` / ``load_state_dict``).
        patience: Stop after this many epochs in a row without a better score.
        min_delta: A score is better when it beats the best one by more than this.
        baseline: The score the first epoch must beat.
    """

    def __init__(
        self,
        modules: Sequence[Any],
        patience: int,
        min_delta: float = 1e-6,
        baseline: float = -math.inf,
    ):
        self.modules = list(modules)
        self.patience = patience
        self.min_delta = min_delta
        self.best = baseline
        self.stale = 0
        self._best_states: list[dict[str, Any]] | None = None

    def step(self, score: float | None) -> bool:
        """Record an epoch's score; a better one, or None (nothing to measure: the latest weights are the best),
        copies the modules' weights.

        Returns:
            Whether training should stop: ``patience`` epochs in a row without a better score.
        """
        if score is None or score > self.best + self.min_delta:
            if score is not None:
                self.best = score
            self._best_states = [copy.deepcopy(module.state_dict()) for module in self.modules]
            self.stale = 0
            return False
        self.stale += 1
        return self.stale >= self.patience

    def restore(self) -> bool:
        """Load the best weights back into the modules.

        Returns:
            Whether there were any (False when no epoch beat ``baseline``: the modules keep their last weights).
        """
        if self._best_states is None:
            return False
        for module, state in zip(self.modules, self._best_states, strict=True):
            module.load_state_dict(state)
        return True
