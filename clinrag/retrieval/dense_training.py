"""Fine-tuning the dense encoder under distant supervision (weak labels from table values only).

For each (train patient, variable) with weak positives, the variable's query is pulled towards the positive
passages and pushed from the patient's other passages (multi-positive InfoNCE with a temperature). Early
stopping on the dev split's weak-label recall@5. The result is a sentence-transformers folder that
``DenseConfig.model`` (or ``TemporalConfig.encoder``) can name.

transformers' ``Trainer`` and sentence-transformers' ``SentenceTransformerTrainer`` would change the trained
weights: they draw batches with a torch ``RandomSampler`` (not this ``random.Random(seed)`` order) and feed losses
fixed-width dataset rows, where this loss contrasts a query with all of one patient's passages (a varying number).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from clinrag.data.cohort import Cohort
from clinrag.errors import ClinragError
from clinrag.io import atomic_write_json
from clinrag.retrieval.base import build_query
from clinrag.retrieval.config import DenseConfig
from clinrag.retrieval.encoders import embed_with_grad, encode_texts, load_sentence_encoder
from clinrag.retrieval.supervision import passage_mentions, weak_labels
from clinrag.text.passages import PassageStore
from clinrag.training import EarlyStopping


def _weak_recall(encoder, cohort: Cohort, store: PassageStore, labels: dict, k: int = 5) -> float:
    encoder.eval()
    vectors = encode_texts(encoder, store.texts, cache=False, role="passage")
    queries = {
        name: encode_texts(encoder, [build_query(cohort.variable(name))], cache=False, role="query")[0]
        for _, name in labels
    }
    hits = 0
    for (pid, name), positive in labels.items():
        start, end = store.patient_range(pid)
        top = np.argsort(-(vectors[start:end] @ queries[name]), kind="stable")[:k]
        hits += bool(positive[top].any())
    return hits / max(1, len(labels))


def fine_tune_dense(
    cohort: Cohort, store: PassageStore, dense: DenseConfig, out: str | Path, progress: bool = True
) -> list[dict]:
    """Fine-tune ``dense.model`` on the train split's weak labels (settings in ``dense.train``), save it to ``out``.

    Returns:
        One record per epoch (loss, dev weak recall@5).

    Raises:
        ClinragError: No table, or no weak label in the train split.
    """
    if cohort.table is None:
        raise ClinragError("fine-tuning the dense encoder needs a table (distant supervision)")
    variables = [cohort.variable(name) for name in cohort.table_columns]
    mentions = passage_mentions(store, variables)
    train = weak_labels(cohort, store, mentions, cohort.split_patients("train"), variables)
    dev = weak_labels(cohort, store, mentions, cohort.split_patients("dev"), variables)
    if not train:
        raise ClinragError("no weak label found in the train split: nothing to learn from")
    config = dense.train
    torch.manual_seed(config.seed)
    encoder = load_sentence_encoder(dense.model, dense.device, dense.max_length)
    encoder.clinrag_folder = None  # its weights will change: never reuse cached embeddings
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.lr)
    rng = random.Random(config.seed)
    pairs = sorted(train)
    stopping = EarlyStopping([encoder], config.patience)
    history = []
    epochs = range(config.epochs)
    from clinrag.progress import bars_allowed

    if bars_allowed(progress):  # none inside clinrag.progress.quiet()
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="fine-tuning dense encoder", unit="epoch")
    for epoch in epochs:
        encoder.train()
        rng.shuffle(pairs)
        total = 0.0
        for step in range(0, len(pairs), config.pairs_per_step):
            optimizer.zero_grad()
            loss = torch.zeros((), device=encoder.device)
            for pid, name in pairs[step : step + config.pairs_per_step]:
                start, end = store.patient_range(pid)
                passages = embed_with_grad(encoder, store.texts[start:end], "passage")
                query = embed_with_grad(encoder, [build_query(cohort.variable(name))], "query")[0]
                scores = passages @ query / config.temperature
                positive = torch.from_numpy(train[(pid, name)]).to(scores.device)
                loss = (
                    loss
                    + torch.logsumexp(scores, 0)
                    - torch.logsumexp(scores.masked_fill(~positive, -1e9), 0)
                )
            loss.backward()
            optimizer.step()
            total += loss.item()
        recall = _weak_recall(encoder, cohort, store, dev) if dev else float("nan")
        history.append({"epoch": epoch + 1, "loss": total / len(pairs), "dev_weak_recall@5": recall})
        if stopping.step(recall if dev else None):  # no dev pair: every epoch is the best so far
            break
    stopping.restore()
    out = Path(out)
    encoder.save(str(out))
    atomic_write_json(
        out / "clinrag_training.json",
        {"component": "dense_encoder", "config": dense.model_dump(), "history": history},
    )
    return history
