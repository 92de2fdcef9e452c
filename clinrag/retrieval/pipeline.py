"""Retrieval end to end: passages of a cohort, a retriever built from settings, and saved index folders.

An index folder holds ``passages.jsonl``, ``index.json`` (the settings, the fingerprint of the cohort's
documents, versions) and, for dense retrievers, ``embeddings.npy``; loading checks that the cohort is the one
that was indexed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from clinrag.config import RetrievalSettings, build_settings
from clinrag.data.cohort import Cohort
from clinrag.errors import ClinragError
from clinrag.io import atomic_write_bytes, atomic_write_json
from clinrag.retrieval.base import Retriever, build_retriever, check_ready
from clinrag.text.passages import PassageStore, build_passages


def documents_fingerprint(cohort: Cohort) -> str:
    """SHA-256 of the cohort's documents (ids, dates, types, texts)."""
    digest = hashlib.sha256()
    for doc in cohort.documents:
        digest.update(
            json.dumps(
                [doc.doc_id, doc.patient_id, doc.date_str, doc.doc_type, doc.text], ensure_ascii=False
            ).encode()
        )
    return digest.hexdigest()


def make_retriever(settings: RetrievalSettings, cohort: Cohort) -> Retriever:
    """Build the retriever of ``settings`` for a cohort (a temporal one must name a trained folder); one that
    learns from the cohort when indexed (``annotated``: priors from the train split's weak labels) gets it."""
    check_ready(settings.retriever)
    retriever = build_retriever(settings.retriever)
    if hasattr(retriever, "attach_cohort"):
        retriever.attach_cohort(cohort)
    return retriever


def prepare_retrieval(settings: RetrievalSettings, cohort: Cohort) -> tuple[PassageStore, Retriever]:
    """Cut the cohort into passages and index them with the configured retriever."""
    store = build_passages(cohort, settings.chunking)
    retriever = make_retriever(settings, cohort)
    retriever.index(store)
    return store, retriever


def save_index(
    folder: str | Path, cohort: Cohort, settings: RetrievalSettings, store: PassageStore, retriever: Retriever
) -> None:
    """Write an index folder (see the module docstring)."""
    import clinrag

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store.save(folder / "passages.jsonl")
    vectors = getattr(retriever, "vectors", None)
    if vectors is not None:
        import io

        buffer = io.BytesIO()
        np.save(buffer, vectors)
        atomic_write_bytes(folder / "embeddings.npy", buffer.getvalue())
    atomic_write_json(
        folder / "index.json",
        {
            "clinrag_component": "retrieval_index",
            "settings": settings.model_dump(),
            "documents_sha256": documents_fingerprint(cohort),
            "passages_sha256": store.fingerprint(),
            "n_passages": len(store),
            "clinrag_version": clinrag.__version__,
        },
    )


def load_index(folder: str | Path, cohort: Cohort) -> tuple[RetrievalSettings, PassageStore, Retriever]:
    """Load an index folder for the cohort it was built from.

    Raises:
        ClinragError: Not an index folder, or built from other documents.
    """
    folder = Path(folder)
    meta_file = folder / "index.json"
    if not meta_file.is_file():
        raise ClinragError(f"{folder}: not an index folder (no index.json; build one with `clinrag index`)")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("documents_sha256") != documents_fingerprint(cohort):
        raise ClinragError(
            f"{folder}: built from other documents than this cohort's; rebuild it with `clinrag index`"
        )
    settings = build_settings(RetrievalSettings, str(meta_file), meta["settings"])
    store = PassageStore.load(folder / "passages.jsonl")
    retriever = make_retriever(settings, cohort)
    vectors_file = folder / "embeddings.npy"
    if vectors_file.exists() and settings.retriever.type == "dense":
        retriever.index(store, vectors=np.load(vectors_file))
    else:
        retriever.index(store)
    return settings, store, retriever
