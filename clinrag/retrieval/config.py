"""Typed configurations of the retrievers (YAML is only how they are stored)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from clinrag.retrieval.base import validate_retriever_config

RetrieverConfig = Annotated[Any, PlainValidator(validate_retriever_config)]
"""A retriever section: validated by the config class registered under its ``type``
(:func:`~clinrag.retrieval.base.register_retriever`), so a retriever added in one file is configurable at once."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BM25Config(_Config):
    """Okapi BM25 over French tokens."""

    type: Literal["bm25"] = "bm25"
    backend: Literal["bm25s", "rank_bm25"] = "bm25s"
    """bm25s (sparse matrices, fast) or rank-bm25 (the reference implementation; same tokens, same ranking)."""
    k1: float = Field(1.5, gt=0)
    """Term-frequency saturation."""
    b: float = Field(0.75, ge=0, le=1)
    """Length normalization."""
    stem: bool = True
    """French Snowball stemming (PyStemmer)."""
    stopwords: bool = True
    """Drop French stop words."""


class DenseTrainConfig(_Config):
    """Fine-tuning of the dense encoder under distant supervision (``clinrag train-retriever --type dense``)."""

    epochs: int = Field(3, ge=1)
    """Maximum passes over the train pairs."""
    lr: float = Field(2e-5, gt=0)
    """AdamW learning rate."""
    temperature: float = Field(0.05, gt=0)
    """Softmax temperature of the contrastive loss."""
    pairs_per_step: int = Field(8, ge=1)
    """(patient, variable) pairs per optimizer step."""
    patience: int = Field(2, ge=1)
    """Epochs without a better dev weak-label recall@5 before stopping."""
    seed: int = 0
    """Seed of initialization and pair order."""


class DenseConfig(_Config):
    """A sentence encoder from a local folder and a faiss index."""

    type: Literal["dense"] = "dense"
    model: str = "embedded:all-minilm-l6-v2"
    """Encoder folder (sentence-transformers or plain Hugging Face encoder, e.g. CamemBERT-bio, DrBERT) or
    ``embedded:all-minilm-l6-v2``."""
    index: Literal["flat", "ivf", "hnsw"] = "flat"
    """faiss index: exact inner product (flat), inverted lists (ivf) or HNSW graph (hnsw)."""
    nlist: int = Field(64, ge=1)
    """IVF: number of inverted lists (capped by the number of passages / 39)."""
    nprobe: int = Field(8, ge=1)
    """IVF: lists visited per query."""
    hnsw_m: int = Field(32, ge=4)
    """HNSW: neighbours per node."""
    ef_search: int = Field(128, ge=1)
    """HNSW: candidate list size at search time."""
    batch_size: int = Field(64, ge=1)
    """Passages encoded per batch."""
    max_length: int = Field(256, ge=16)
    """Tokens kept per passage."""
    device: str = "cpu"
    """torch device for encoding (``cpu``, ``cuda``)."""
    train: DenseTrainConfig = Field(default_factory=DenseTrainConfig)
    """Fine-tuning settings (used by ``clinrag train-retriever --type dense``)."""


class HybridConfig(_Config):
    """Reciprocal rank fusion of two retrievers."""

    type: Literal["hybrid"] = "hybrid"
    first: RetrieverConfig = Field(default_factory=BM25Config)
    """The first retriever."""
    second: RetrieverConfig = Field(default_factory=DenseConfig)
    """The second retriever."""
    rrf_k: int = Field(60, ge=1)
    """RRF constant: a passage at rank r gets 1 / (rrf_k + r) from each retriever."""


class TemporalTrainConfig(_Config):
    """Training of the temporal retriever under distant supervision."""

    epochs: int = Field(60, ge=1)
    """Maximum passes over the train patients."""
    lr: float = Field(3e-3, gt=0)
    """AdamW learning rate of the recurrent layer and scorer."""
    weight_decay: float = Field(1e-4, ge=0)
    """AdamW weight decay."""
    patience: int = Field(8, ge=1)
    """Stop after this many epochs without a better dev recall@5 (weak labels of dev table values)."""
    seed: int = 0
    """Seed of initialization, dropout and patient order."""
    train_encoder: bool = False
    """Fine-tune the encoder end to end (slow on CPU); otherwise its embeddings are computed once and cached."""
    encoder_lr: float = Field(2e-5, gt=0)
    """Learning rate of the encoder when ``train_encoder``."""
    patients_per_step: int = Field(8, ge=1)
    """Patients whose losses are summed per optimizer step."""


class TemporalConfig(_Config):
    """The mission's retriever: an encoder, a recurrent layer over the patient's documents in date order, and a
    scorer of (variable, passage, document state, time) trained from table values alone."""

    type: Literal["temporal"] = "temporal"
    encoder: str = "embedded:all-minilm-l6-v2"
    """Passage encoder: a local folder or ``embedded:all-minilm-l6-v2``."""
    path: str | None = None
    """A trained temporal retriever folder to load (``clinrag train-retriever`` writes one); None = untrained."""
    rnn: Literal["gru", "lstm"] = "gru"
    """Recurrent layer over documents."""
    hidden: int = Field(128, ge=8)
    """Width of the recurrent state and of the scorer."""
    layers: int = Field(1, ge=1)
    """Recurrent layers."""
    bidirectional: bool = False
    """Also read documents backwards (later documents inform earlier ones)."""
    dropout: float = Field(0.1, ge=0, lt=1)
    """Dropout in the scorer during training."""
    batch_size: int = Field(64, ge=1)
    """Passages encoded per batch."""
    max_length: int = Field(256, ge=16)
    """Tokens kept per passage."""
    device: str = "cpu"
    """torch device."""
    train: TemporalTrainConfig = Field(default_factory=TemporalTrainConfig)
    """Training settings."""


class AnnotatedConfig(_Config):
    """A base retriever re-ranked with corpus annotations (:mod:`clinrag.retrieval.annotated`)."""

    type: Literal["annotated"] = "annotated"
    base: RetrieverConfig = Field(default_factory=BM25Config)
    """The retriever whose scores are adjusted."""
    demote_family: bool = True
    """Demote passages whose mentions of the variable's terms are all about a relative."""
    demote_hypothetical: bool = True
    """Demote passages whose mentions of the variable's terms are all hypothetical."""
    demote_negated: bool = False
    """Demote passages whose mentions are all negated (off: "pas de diabète" is evidence of a false boolean)."""
    demote: float = Field(0.5, ge=0, le=1)
    """Factor applied to a demoted passage's score."""
    section_weight: float = Field(1.0, ge=0)
    """Weight of the section prior learned from the train split's weak labels (0: off)."""
    date_weight: float = Field(1.0, ge=0)
    """Weight of the prior over days since the patient's index event, learned from weak labels (0: off)."""


def retriever_config(data: dict) -> BaseModel:
    """Validate a retriever config mapping (its ``type`` chooses the model)."""
    return validate_retriever_config(data)
