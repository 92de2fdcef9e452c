"""Dense retrieval: a sentence encoder from a local folder and a faiss inner-product index.

One index over the cohort; a patient's search is restricted to the patient's range of passages with faiss's
``IDSelectorRange``, so approximate indexes (IVF, HNSW) filter during the search rather than after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from clinrag.data.variables import Variable
from clinrag.models import check_model_reference
from clinrag.retrieval.base import (
    RUNTIME_FIELDS,
    RetrieverBase,
    RetrieverContext,
    build_query,
    register_retriever,
    run_folder,
    trained_folder,
)
from clinrag.retrieval.config import DenseConfig
from clinrag.retrieval.encoders import encode_texts, load_sentence_encoder
from clinrag.text.passages import PassageStore


def build_faiss_index(vectors: np.ndarray, config: DenseConfig):
    """A faiss inner-product index over L2-normalized ``vectors``, of the kind ``config.index`` names."""
    import faiss

    dim = vectors.shape[1]
    if config.index == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.index == "ivf":
        # faiss wants ~39 training points per list; fewer lists on small corpora
        nlist = max(1, min(config.nlist, len(vectors) // 39))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(config.nprobe, nlist)
    else:
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.ef_search
    index.add(vectors)
    return index


def search_range(
    index, config: DenseConfig, query: np.ndarray, start: int, end: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``query`` among ids in ``[start, end)``: (scores, ids), ids -1 where fewer were found."""
    import faiss

    selector = faiss.IDSelectorRange(start, end)
    if config.index == "ivf":
        params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    elif config.index == "hnsw":
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(config.ef_search, k))
    else:
        params = faiss.SearchParameters(sel=selector)
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
    return scores[0], ids[0]


@register_retriever("dense", DenseConfig)
class DenseRetriever(RetrieverBase):
    """Bi-encoder retrieval (see :class:`~clinrag.retrieval.config.DenseConfig`)."""

    @classmethod
    def prepare(cls, config: DenseConfig, context: RetrieverContext, role: str) -> tuple[DenseConfig, dict]:
        """The encoder as given (identified by its content hash), or fine-tuned on the train split's weak labels
        into the run's cache when ``training.dense`` (:func:`~clinrag.retrieval.dense_training.fine_tune_dense`)."""
        settings = config.model_dump(exclude=RUNTIME_FIELDS)
        encoder = context.model_hash(f"{role}.encoder", config.model)
        if not context.training.dense:
            return config, {**settings, "model": encoder}
        payload = {**context.inputs(), "retriever": settings, "encoder": encoder}

        def tune(staging: Path) -> None:
            from clinrag.retrieval.dense_training import fine_tune_dense

            fine_tune_dense(context.cohort, context.store, config, staging, progress=context.progress)

        folder = context.build("dense_encoder", role, payload, tune, "dense encoder fine-tuned on train")
        context.keep(trained_folder(role, "encoder"), folder)
        return config.model_copy(update={"model": str(folder)}), {**settings, "model": folder.name}

    @classmethod
    def from_run(
        cls, config: DenseConfig, models: Path, training: Any, role: str = "retriever"
    ) -> DenseConfig:
        """The run's fine-tuned encoder (``models/encoder``) when the run fine-tuned one."""
        if not training.dense:
            return config
        folder = run_folder(models, role, "encoder", "fine-tuned dense encoder")
        return config.model_copy(update={"model": str(folder)})

    @classmethod
    def check_models(cls, config: DenseConfig, role: str) -> None:
        """The encoder folder (also the starting point when a run fine-tunes it)."""
        check_model_reference(config.model, f"encoder ({role}.model)", sentence_transformers=True)

    def __init__(self, config: DenseConfig | None = None, encoder=None):
        self.config = config or DenseConfig()
        self.encoder = encoder
        self.store: PassageStore | None = None
        self.vectors: np.ndarray | None = None
        self.faiss_index = None
        self._queries: dict[str, np.ndarray] = {}

    def _encoder(self):
        if self.encoder is None:
            self.encoder = load_sentence_encoder(
                self.config.model, self.config.device, self.config.max_length
            )
        return self.encoder

    def index(self, store: PassageStore, vectors: np.ndarray | None = None) -> None:
        """Embed the passages (or take ``vectors``) and build the faiss index."""
        self.store = store
        if vectors is None:
            vectors = encode_texts(
                self._encoder(),
                store.texts,
                self.config.batch_size,
                progress=len(store) > 2000,
                role="passage",
            )
        self.vectors = vectors
        self.faiss_index = build_faiss_index(vectors, self.config)
        self._queries = {}

    def query_vector(self, variable: Variable) -> np.ndarray:
        """The embedding of the variable's query."""
        if variable.name not in self._queries:
            self._queries[variable.name] = encode_texts(
                self._encoder(), [build_query(variable)], cache=False, role="query"
            )[0]
        return self._queries[variable.name]

    def scores(self, patient_id: str, variable: Variable) -> np.ndarray:
        """Inner products with the patient's passages (-inf for those an approximate index did not return)."""
        start, end = self.store.patient_range(patient_id)
        found_scores, ids = search_range(
            self.faiss_index, self.config, self.query_vector(variable), start, end, end - start
        )
        scores = np.full(end - start, -np.inf, dtype=np.float32)
        keep = ids >= 0
        scores[ids[keep] - start] = found_scores[keep]
        return scores
