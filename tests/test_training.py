"""Shared training helpers: the learning-rate schedule and early stopping."""

from __future__ import annotations

import pytest
import torch

from clinrag.training import EarlyStopping, linear_warmup_decay


def test_linear_warmup_decay_by_hand():
    factor = linear_warmup_decay(2, 10)
    assert [factor(step) for step in range(12)] == pytest.approx(
        [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0, 0.0]
    )
    assert [linear_warmup_decay(0, 4)(step) for step in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]


def test_linear_warmup_decay_is_the_ner_schedule_it_replaced():
    """The NER detector's former one-line schedule, step by step, to the last bit."""
    for steps in (1, 3, 10, 101):
        for ratio in (0.0, 0.1, 0.5, 0.9):
            warmup = int(steps * ratio)
            former = lambda s: min((s + 1) / max(warmup, 1), max(0.0, (steps - s) / (steps - warmup)))  # noqa: E731, B023
            factor = linear_warmup_decay(warmup, steps)
            assert [factor(s) for s in range(steps + 3)] == [former(s) for s in range(steps + 3)]


def _module(value: float) -> torch.nn.Linear:
    module = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(value)
    return module


def test_early_stopping_stops_after_patience_and_restores_the_best():
    module = _module(0.0)
    stopping = EarlyStopping([module], patience=2)
    stops = []
    for epoch, score in enumerate([0.2, 0.5, 0.5 + 1e-7, 0.4]):
        with torch.no_grad():
            module.weight.fill_(float(epoch))
        stops.append(stopping.step(score))
    assert stops == [False, False, False, True]  # a gain within min_delta is no gain
    assert stopping.best == 0.5 and stopping.restore()
    assert module.weight.item() == 1.0  # the weights of the best epoch


def test_early_stopping_baseline_and_no_score():
    module = _module(3.0)
    below = EarlyStopping([module], patience=1, baseline=-1.0)
    assert below.step(-5.0) and not below.restore()  # never beat the baseline: the weights stay
    assert module.weight.item() == 3.0
    latest = EarlyStopping([module], patience=1)
    for value in (1.0, 2.0):
        with torch.no_grad():
            module.weight.fill_(value)
        assert not latest.step(None)  # nothing to measure: each epoch is the best so far
    with torch.no_grad():
        module.weight.fill_(9.0)
    assert latest.restore() and module.weight.item() == 2.0
