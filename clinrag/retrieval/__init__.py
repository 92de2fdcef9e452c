"""Retrieval: for each (patient, variable), the passages that state the value.

Retrievers (bm25, dense, hybrid, temporal) are chosen by name from configs (:func:`build_retriever`) and share
the :class:`Retriever` protocol.
"""

from __future__ import annotations

from clinrag.retrieval.base import Hit, Retriever, build_query, build_retriever, retrieve

__all__ = ["Hit", "Retriever", "build_query", "build_retriever", "retrieve"]
