"""Retrieval evaluation against gold evidence: recall@k and MRR per variable and overall, with intervals.

A (patient, variable) counts when the cell has gold evidence. A retrieved passage is a hit when it overlaps a gold
evidence span (same document, at least one shared character). recall@k: share of pairs with a hit in the top k;
MRR: mean of 1 / rank of the first hit (0 when none). Intervals: bootstrap over patients, as for table
metrics (:mod:`clinrag.evaluation.bootstrap`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from clinrag.data.cohort import Cohort
from clinrag.evaluation.bootstrap import BootstrapSpec, draw_resamples, percentile_interval, ratio_replicates
from clinrag.retrieval.base import Retriever, top_hits
from clinrag.text.passages import PassageStore, overlap_matrix

DEFAULT_KS = (1, 5, 10)


def first_hit_ranks(
    cohort: Cohort,
    store: PassageStore,
    retriever: Retriever,
    patients: list[str],
    variables: list[str],
    progress: bool = False,
) -> dict[tuple[str, str], int]:
    """Rank (1-based) of the first passage overlapping gold evidence, 0 when no passage does, per (patient,
    variable) that has gold evidence (a progress bar over the patients when ``progress``)."""
    from clinrag.progress import progress_bar

    spans: dict[tuple[str, str], list[tuple[str, int, int]]] = defaultdict(list)
    for span in cohort.evidence:
        spans[(span.patient_id, span.variable)].append((span.doc_id, span.start, span.end))
    ranks: dict[tuple[str, str], int] = {}
    for pid in progress_bar(patients, enabled=progress, desc="retrieving", unit="patient"):
        passages = store.of_patient(pid)
        start, _ = store.patient_range(pid)
        for name in variables:
            gold = spans.get((pid, name))
            if not gold:
                continue
            relevant = overlap_matrix(passages, gold)
            hits = top_hits(retriever.scores(pid, cohort.variable(name)), start, None)
            ranks[(pid, name)] = next((h.rank for h in hits if relevant[h.index - start]), 0)
    return ranks


def retrieval_metrics(
    ranks: dict[tuple[str, str], int],
    patients: list[str],
    ks: tuple[int, ...] = DEFAULT_KS,
    spec: BootstrapSpec | None = None,
    groups: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """recall@k and MRR with bootstrap intervals, overall, per variable and per named group of variables."""
    spec = spec or BootstrapSpec()
    index = {pid: i for i, pid in enumerate(patients)}
    resamples = draw_resamples(len(patients), spec)

    def summarize(keys: list[tuple[str, str]]) -> dict[str, Any]:
        count = np.zeros(len(patients))
        reciprocal = np.zeros(len(patients))
        hit_at = {k: np.zeros(len(patients)) for k in ks}
        for pid, name in keys:
            rank = ranks[(pid, name)]
            i = index[pid]
            count[i] += 1
            reciprocal[i] += 1.0 / rank if rank else 0.0
            for k in ks:
                hit_at[k][i] += 1.0 if 0 < rank <= k else 0.0
        result: dict[str, Any] = {"n": int(count.sum())}
        for k in ks:
            point, reps = ratio_replicates(hit_at[k], count, resamples)
            result[f"recall@{k}"] = round(point, 4) if point is not None else None
            result[f"recall@{k}_ci"] = percentile_interval(reps, spec)
        point, reps = ratio_replicates(reciprocal, count, resamples)
        result["mrr"] = round(point, 4) if point is not None else None
        result["mrr_ci"] = percentile_interval(reps, spec)
        return result

    names = sorted({name for _, name in ranks})
    out: dict[str, Any] = {"overall": summarize(list(ranks)), "variables": {}}
    for name in names:
        out["variables"][name] = summarize([key for key in ranks if key[1] == name])
    for group, members in (groups or {}).items():
        keys = [key for key in ranks if key[1] in members]
        if keys:
            out.setdefault("groups", {})[group] = summarize(keys)
    return out


def evaluate_retriever(
    cohort: Cohort,
    store: PassageStore,
    retriever: Retriever,
    split: str = "test",
    ks: tuple[int, ...] = DEFAULT_KS,
    spec: BootstrapSpec | None = None,
    groups: dict[str, list[str]] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score a retriever on a split's gold evidence (the ``retrieval`` section of a run's metrics.json; a
    progress bar over the patients when ``progress``).

    Raises:
        ValueError: The cohort has no gold evidence for the split.
    """
    patients = cohort.split_patients(split) if split != "all" else list(cohort.table or {})
    variables = cohort.table_columns or [v.name for v in cohort.variables]
    ranks = first_hit_ranks(cohort, store, retriever, patients, variables, progress)
    if not ranks:
        raise ValueError(
            f"no gold evidence (evidence.jsonl) for the {split} split: nothing to score retrieval against"
        )
    metrics = retrieval_metrics(ranks, patients, ks, spec, groups)
    metrics["split"] = split
    return metrics
