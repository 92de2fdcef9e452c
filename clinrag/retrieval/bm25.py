"""BM25 over French tokens: bm25s (sparse, fast) or rank-bm25 (the reference), on the same tokens.

One index over the whole cohort (so term statistics come from every document), scored on one patient's range.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from clinrag.data.values import strip_accents
from clinrag.data.variables import Variable
from clinrag.retrieval.base import RetrieverBase, build_query, register_retriever
from clinrag.retrieval.config import BM25Config
from clinrag.text.passages import PassageStore

_TOKEN = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _french_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_FRENCH

    return frozenset(strip_accents(w).lower() for w in STOPWORDS_FRENCH)


class FrenchTokenizer:
    """Lower-case, accent-free word tokens, French stop words removed, Snowball-stemmed.

    Args:
        stem: Apply the French Snowball stemmer (PyStemmer).
        stopwords: Drop French stop words.
    """

    def __init__(self, stem: bool = True, stopwords: bool = True):
        self.stopwords = _french_stopwords() if stopwords else frozenset()
        self.stemmer = None
        if stem:
            try:
                import Stemmer
            except ImportError as err:  # pragma: no cover - a declared dependency
                raise ImportError("PyStemmer is not installed: `pip install PyStemmer`") from err
            self.stemmer = Stemmer.Stemmer("french")

    def __call__(self, text: str) -> list[str]:
        tokens = [t for t in _TOKEN.findall(strip_accents(text).lower()) if t not in self.stopwords]
        return self.stemmer.stemWords(tokens) if self.stemmer else tokens


@register_retriever("bm25", BM25Config)
class BM25Retriever(RetrieverBase):
    """Okapi BM25 (see :class:`~clinrag.retrieval.config.BM25Config`)."""

    def __init__(self, config: BM25Config | None = None):
        self.config = config or BM25Config()
        self.tokenizer = FrenchTokenizer(self.config.stem, self.config.stopwords)
        self.store: PassageStore | None = None
        self._engine = None
        self._query_cache: dict[str, list[str]] = {}
        self._score_cache: dict[str, np.ndarray] = {}

    def index(self, store: PassageStore) -> None:
        """Tokenize every passage and build the index."""
        self.store = store
        corpus = [self.tokenizer(p.text) for p in store.passages]
        if self.config.backend == "bm25s":
            import bm25s

            engine = bm25s.BM25(k1=self.config.k1, b=self.config.b)
            engine.index(corpus, show_progress=False)
        else:
            from rank_bm25 import BM25Okapi

            # rank-bm25 divides by the mean length: an empty corpus would break it, as would empty passages
            engine = BM25Okapi([tokens or ["\x00"] for tokens in corpus], k1=self.config.k1, b=self.config.b)
        self._engine = engine
        self._score_cache: dict[str, np.ndarray] = {}

    def query_tokens(self, variable: Variable) -> list[str]:
        """The variable's query, tokenized."""
        if variable.name not in self._query_cache:
            self._query_cache[variable.name] = self.tokenizer(build_query(variable))
        return self._query_cache[variable.name]

    def all_scores(self, variable: Variable) -> np.ndarray:
        """BM25 scores of every passage of the store for a variable's query."""
        if self._engine is None or self.store is None:
            raise RuntimeError("index() must be called before scoring")
        if variable.name not in self._score_cache:
            tokens = self.query_tokens(variable)
            if self.config.backend == "bm25s":
                known = [t for t in tokens if t in self._engine.vocab_dict]
                scores = self._engine.get_scores(known) if known else np.zeros(len(self.store))
            else:
                scores = self._engine.get_scores(tokens)
            self._score_cache[variable.name] = np.asarray(scores, dtype=np.float32)
        return self._score_cache[variable.name]

    def scores(self, patient_id: str, variable: Variable) -> np.ndarray:
        """BM25 scores of the patient's passages."""
        start, end = self.store.patient_range(patient_id)
        if self.config.backend == "bm25s":
            return self.all_scores(variable)[start:end]
        tokens = self.query_tokens(variable)
        return np.asarray(self._engine.get_batch_scores(tokens, list(range(start, end))), dtype=np.float32)
