"""Hybrid retrieval: reciprocal rank fusion (RRF) of two retrievers."""

from __future__ import annotations

import numpy as np

from clinrag.data.variables import Variable
from clinrag.retrieval.base import RetrieverBase, build_retriever, register_retriever
from clinrag.retrieval.config import HybridConfig
from clinrag.text.passages import PassageStore


def reciprocal_rank_fusion(score_lists: list[np.ndarray], k: int = 60) -> np.ndarray:
    """RRF scores: each passage gets the sum over retrievers of 1 / (k + its rank) (ranks from 1, ties by order)."""
    fused = np.zeros(len(score_lists[0]), dtype=np.float64)
    for scores in score_lists:
        order = np.lexsort((np.arange(len(scores)), -scores))
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[order] = np.arange(1, len(scores) + 1)
        fused += 1.0 / (k + ranks)
    return fused


@register_retriever("hybrid", HybridConfig)
class HybridRetriever(RetrieverBase):
    """RRF of ``config.first`` and ``config.second`` (see :class:`~clinrag.retrieval.config.HybridConfig`)."""

    children = ("first", "second")

    def __init__(self, config: HybridConfig | None = None, **kwargs):
        self.config = config or HybridConfig()
        self.parts = [
            build_retriever(self.config.first, **kwargs),
            build_retriever(self.config.second, **kwargs),
        ]

    def index(self, store: PassageStore) -> None:
        """Index the store with both retrievers."""
        for part in self.parts:
            part.index(store)

    def scores(self, patient_id: str, variable: Variable) -> np.ndarray:
        """Fused scores of the patient's passages."""
        return reciprocal_rank_fusion(
            [part.scores(patient_id, variable) for part in self.parts], self.config.rrf_k
        )
