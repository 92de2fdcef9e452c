"""The patient bootstrap: draws, ratio replicates, percentile intervals and p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from clinrag.evaluation.bootstrap import (
    BootstrapSpec,
    bootstrap_p_value,
    draw_resamples,
    percentile_interval,
    ratio_replicates,
    resample_counts,
)


def test_draws_are_seeded_and_counts_are_the_same_draws():
    spec = BootstrapSpec(50, seed=4)
    draws = draw_resamples(7, spec)
    assert draws.shape == (50, 7) and draws.min() >= 0 and draws.max() < 7
    assert np.array_equal(draws, draw_resamples(7, spec))
    assert not np.array_equal(draws, draw_resamples(7, BootstrapSpec(50, seed=5)))
    counts = resample_counts(7, spec)
    assert counts.shape == (50, 7) and np.all(counts.sum(axis=1) == 7)
    for row, drawn in zip(counts, draws, strict=True):
        assert np.array_equal(row, np.bincount(drawn, minlength=7))


def test_replicates_and_interval_equal_scipy_percentile_bootstrap():
    """The same draws and quantiles as scipy.stats.bootstrap (percentile method), replicate by replicate."""
    values = np.random.default_rng(4).random(17)
    spec = BootstrapSpec(300, confidence=0.9, seed=5)
    point, replicates = ratio_replicates(values, np.ones(17), draw_resamples(17, spec))
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=300,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(5),
    )
    assert point == pytest.approx(values.mean())
    np.testing.assert_allclose(replicates, result.bootstrap_distribution, rtol=1e-12)
    low, high = result.confidence_interval
    assert percentile_interval(replicates, spec) == [round(low, 4), round(high, 4)]


def test_ratio_without_denominator_is_undefined():
    resamples = np.array([[0, 0], [0, 1], [1, 1]])
    point, replicates = ratio_replicates(np.array([1.0, 0.0]), np.array([0.0, 2.0]), resamples)
    assert point == 0.5
    assert np.isnan(replicates[0]) and replicates[1:].tolist() == [0.5, 0.0]
    point, replicates = ratio_replicates(np.zeros(2), np.zeros(2), resamples)
    assert point is None and np.isnan(replicates).all()


def test_interval_leaves_nan_out_and_writes_no_negative_zero():
    spec = BootstrapSpec(confidence=0.5)
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0, 4.0, np.nan]), spec) == [1.75, 3.25]
    assert percentile_interval(np.array([np.nan, np.nan]), spec) is None
    low, high = percentile_interval(np.full(4, -0.00003), spec)
    assert (low, high) == (0.0, 0.0) and str(low) == "0.0"


@pytest.mark.parametrize(
    ("differences", "expected"),
    [
        (np.zeros(10), 1.0),  # identical runs
        (np.full(10, 0.1), 0.0),  # better on every replicate: p < 1/B
        (np.array([-1.0, 1.0, 2.0, 3.0]), 0.5),
        (np.array([-1.0, 0.0, 2.0, 3.0, np.nan]), 1.0),  # a zero counts on both sides; NaN left out
        (np.array([np.nan]), None),
    ],
)
def test_p_value(differences, expected):
    assert bootstrap_p_value(differences) == expected


def test_settings_record():
    assert BootstrapSpec(200, 0.9, 3).to_json() == {
        "n_resamples": 200,
        "confidence": 0.9,
        "seed": 3,
        "unit": "patient",
    }
