"""Sentence encoders from local folders, and an on-disk cache of passage embeddings.

An encoder folder is a sentence-transformers folder or a plain Hugging Face encoder (CamemBERT-bio, DrBERT...),
which sentence-transformers wraps with mean pooling. Nothing is downloaded: loading is ``local_files_only``.
Embeddings are cached under ``$CLINRAG_CACHE_DIR`` (default ``~/.cache/clinrag``), keyed by the encoder folder's
content (:func:`clinrag.io.model_folder_sha256`, the identity the stage cache gives it too) and the exact texts, so
a grid never embeds the same passages twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from clinrag.io import atomic_write_bytes, cache_home, model_folder_sha256
from clinrag.models import require_model_folder, resolve_model_path


def cache_dir() -> Path:
    """Where clinrag caches embeddings and other derived artifacts."""
    return cache_home()


def load_sentence_encoder(spec: str | Path, device: str = "cpu", max_length: int = 256) -> Any:
    """Load a sentence encoder from a local folder or ``embedded:NAME``.

    Raises:
        ClinragError: The folder is missing or is not a model folder.
    """
    from sentence_transformers import SentenceTransformer

    folder = require_model_folder(resolve_model_path(spec), "encoder", sentence_transformers=True)
    model = SentenceTransformer(str(folder), device=device, local_files_only=True)
    model.max_seq_length = max_length
    model.clinrag_folder = folder
    return model


def role_prompt(model: Any, role: str | None) -> str:
    """The prompt the encoder's folder declares for ``role`` (``query`` or ``passage``: e5's "query: " and
    "passage: ", in config_sentence_transformers.json), "" when it declares none."""
    return (getattr(model, "prompts", None) or {}).get(role or "", "")


def encode_texts(
    model: Any,
    texts: list[str],
    batch_size: int = 64,
    cache: bool = True,
    progress: bool = False,
    role: str | None = None,
) -> np.ndarray:
    """L2-normalized float32 embeddings of ``texts`` (cached on disk when ``cache``), each prefixed with the
    encoder's prompt for ``role`` (``query``: a variable's query; ``passage``: a passage) when it has one.
    sentence-transformers draws its "Batches" bar when ``progress`` and no :func:`clinrag.progress.quiet` block
    is open."""
    from clinrag.progress import bars_allowed

    prompt = role_prompt(model, role)
    folder = getattr(model, "clinrag_folder", None)
    key = None
    if cache and folder is not None:
        digest = hashlib.sha256(model_folder_sha256(folder).encode())
        digest.update(str(model.max_seq_length).encode())
        digest.update(prompt.encode("utf-8") + b"\x00")
        for text in texts:
            digest.update(text.encode("utf-8") + b"\x00")
        key = cache_dir() / "embeddings" / f"{digest.hexdigest()}.npy"
        if key.exists():
            return np.load(key)
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    vectors = model.encode(
        [prompt + text for text in texts],
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=bars_allowed(progress),
    ).astype(np.float32)
    if key is not None:
        import io

        buffer = io.BytesIO()
        np.save(buffer, vectors)
        atomic_write_bytes(key, buffer.getvalue())
    return vectors


def embed_with_grad(encoder: Any, texts: list[str], role: str | None = None):
    """L2-normalized embeddings of ``texts`` as a torch tensor that keeps gradients (for fine-tuning), with the
    encoder's prompt for ``role`` as :func:`encode_texts` puts it."""
    import torch

    prepare = (
        getattr(encoder, "preprocess", None) or encoder.tokenize
    )  # sentence-transformers >= 6 renamed it
    prompt = role_prompt(encoder, role)
    features = prepare([prompt + text for text in texts])
    features = {k: v.to(encoder.device) if hasattr(v, "to") else v for k, v in features.items()}
    return torch.nn.functional.normalize(encoder(features)["sentence_embedding"], dim=-1)
