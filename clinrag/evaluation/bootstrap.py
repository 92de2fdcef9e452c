"""The patient (cluster) bootstrap behind every interval and p-value of clinrag.

The resampling unit is the patient: a patient's cells (or evidence pairs, or outcome) are correlated, so they
are drawn together. One matrix of ``B`` resamples of the ``n`` patients, drawn from ``BootstrapSpec.seed``,
serves every statistic of an evaluation, so that replicate ``b`` of each metric, variable, run or condition
scores the same patients: intervals of related metrics are coherent, and differences are paired. The same seed
and the same patients give the same matrix in every module (so a grid summary's intervals equal those of each
run's metrics.json).

* :func:`draw_resamples`: the index matrix (B, n); :func:`resample_counts`: the same draws as counts per
  patient, for statistics computed as weighted sums (the outcome model's AUC).
* :func:`ratio_replicates`: a ratio of per-patient sums (accuracy, recall@k, MAE...) and its replicates.
* :func:`percentile_interval`: the percentile interval of the replicates.
* :func:`bootstrap_p_value`: the two-sided bootstrap p-value of a paired difference being zero.

``scipy.stats.bootstrap`` draws the same ``rng.integers(0, n, (B, n))`` and takes the same linear quantiles,
but it is not used: it keeps its resamples to itself, so one matrix cannot be shared by the many statistics
that must be paired, and it refuses a single patient, propagates the NaN replicates of an undefined ratio and
computes no p-value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Intervals and p-values are reported to 4 decimals.
_DIGITS = 4


@dataclass(frozen=True)
class BootstrapSpec:
    """How intervals are drawn.

    Attributes:
        n_resamples: Number of resamples of the patients (``B``).
        confidence: Coverage of the percentile intervals.
        seed: Seed of the numpy Generator that draws the resamples.
    """

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        """The settings as recorded in metrics.json, outcome.json and grid summaries."""
        return {
            "n_resamples": self.n_resamples,
            "confidence": self.confidence,
            "seed": self.seed,
            "unit": "patient",
        }


def draw_resamples(n: int, spec: BootstrapSpec) -> np.ndarray:
    """Draw ``spec.n_resamples`` resamples of ``n`` patients with replacement.

    Args:
        n: Number of patients.
        spec: Number of resamples and seed.

    Returns:
        Patient indices, an integer array (n_resamples, n): row ``b`` lists the patients of resample ``b``.
    """
    rng = np.random.default_rng(spec.seed)
    return rng.integers(0, n, size=(spec.n_resamples, n))


def resample_counts(n: int, spec: BootstrapSpec) -> np.ndarray:
    """How many times each of ``n`` patients is drawn in each resample of :func:`draw_resamples`.

    Args:
        n: Number of patients.
        spec: Number of resamples and seed.

    Returns:
        A float array (n_resamples, n) of counts (each row sums to ``n``), for weighted statistics.
    """
    draws = draw_resamples(n, spec)
    flat = (draws + np.arange(spec.n_resamples)[:, None] * n).ravel()
    return np.bincount(flat, minlength=spec.n_resamples * n).reshape(spec.n_resamples, n).astype(float)


def ratio_replicates(
    numerator: np.ndarray, denominator: np.ndarray, resamples: np.ndarray
) -> tuple[float | None, np.ndarray]:
    """A ratio of per-patient sums, ``sum(numerator) / sum(denominator)``, and its bootstrap replicates.

    Args:
        numerator: One value per patient (e.g. correct cells).
        denominator: One value per patient (e.g. cells).
        resamples: Patient indices from :func:`draw_resamples`.

    Returns:
        The point value (None when the denominator sums to 0) and one replicate per resample (NaN where the
        resampled patients have no denominator).
    """
    total = denominator.sum()
    point = float(numerator.sum() / total) if total > 0 else None
    num_b = numerator[resamples].sum(axis=1)
    den_b = denominator[resamples].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(den_b > 0, num_b / np.where(den_b > 0, den_b, 1), np.nan)
    return point, reps


def _round(value: float) -> float:
    # + 0.0 turns -0.0 (a bound of tiny negative replicates, rounded) into 0.0
    return round(value, _DIGITS) + 0.0


def percentile_interval(replicates: np.ndarray, spec: BootstrapSpec) -> list[float] | None:
    """The percentile interval of bootstrap replicates, NaN replicates (undefined statistic) left out.

    Args:
        replicates: One value per resample.
        spec: The interval's coverage (``spec.confidence``).

    Returns:
        ``[low, high]``, the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (linear
        interpolation) rounded to 4 decimals; None when no replicate is defined.
    """
    replicates = replicates[~np.isnan(replicates)]
    if replicates.size == 0:
        return None
    alpha = (1 - spec.confidence) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha])
    return [_round(float(low)), _round(float(high))]


def bootstrap_p_value(differences: np.ndarray) -> float | None:
    """Two-sided bootstrap p-value of a zero paired difference.

    Twice the smaller share of replicate differences on either side of zero, zeros counting on both sides, at
    most 1: replicates that are all zero (identical runs) give 1; a difference of one sign on every replicate
    gives 0, which only says p < 1/B. NaN replicates are left out.

    Args:
        differences: Replicates of the paired difference (same resamples on both sides).

    Returns:
        The p-value rounded to 4 decimals; None when no replicate is defined.
    """
    differences = differences[~np.isnan(differences)]
    if differences.size == 0:
        return None
    below = float(np.mean(differences <= 0))
    above = float(np.mean(differences >= 0))
    return _round(min(1.0, 2.0 * min(below, above)))
