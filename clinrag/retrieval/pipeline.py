"""Retrieval end to end: passages of a cohort, a retriever built from settings, saved index folders, and what
the ``clinrag`` retrieval commands do (index, retrieve, train-retriever, evaluate-retrieval), each as one function.

An index folder holds ``passages.jsonl``, ``index.json`` (the settings, the fingerprint of the cohort's
documents, versions) and, for dense retrievers, ``embeddings.npy``; loading checks that the cohort is the one
that was indexed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from clinrag.config import RetrievalSettings, build_settings
from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.evaluation.bootstrap import BootstrapSpec
from clinrag.io import atomic_folder, atomic_write_bytes, atomic_write_json
from clinrag.retrieval.base import Hit, Retriever, build_retriever, check_ready, prepare_retriever, retrieve
from clinrag.retrieval.evaluation import evaluate_retriever
from clinrag.text.annotate import Annotator
from clinrag.text.passages import Passage, PassageStore, build_passages


def make_retriever(settings: RetrievalSettings, cohort: Cohort) -> Retriever:
    """Build the retriever of ``settings`` for a cohort (a temporal one must name a trained folder); one that
    learns from the cohort when indexed (``annotated``: priors from the train split's weak labels) gets it."""
    check_ready(settings.retriever)
    retriever = build_retriever(settings.retriever)
    if hasattr(retriever, "attach_cohort"):
        retriever.attach_cohort(cohort)
    return retriever


def prepare_retrieval(
    settings: RetrievalSettings, cohort: Cohort, progress: bool | None = None
) -> tuple[PassageStore, Retriever]:
    """Cut the cohort into passages and index them with the configured retriever (``progress``: a bar while
    annotating the documents; None: for more than 2,000 of them)."""
    store = build_passages(cohort, settings.chunking, progress=progress)
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
            "documents_sha256": cohort.documents_sha256(),
            "passages_sha256": store.fingerprint(),
            "n_passages": len(store),
            "clinrag_version": clinrag.__version__,
        },
    )


def load_index(folder: str | Path, cohort: Cohort) -> tuple[RetrievalSettings, PassageStore, Retriever]:
    """Load an index folder for the cohort it was built from.

    Raises:
        ClinragError: Not an index folder, built from other documents, or a model folder its settings name
            cannot be loaded.
    """
    folder = Path(folder)
    meta_file = folder / "index.json"
    if not meta_file.is_file():
        raise ClinragError(f"{folder}: not an index folder (no index.json; build one with `clinrag index`)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ClinragError(
            f"{meta_file}: not readable JSON ({error}); rebuild the index with `clinrag index`"
        ) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("settings"), dict):
        raise ClinragError(f"{meta_file}: no 'settings' mapping; rebuild the index with `clinrag index`")
    if meta.get("documents_sha256") != cohort.documents_sha256():
        raise ClinragError(
            f"{folder}: built from other documents than this cohort's; rebuild it with `clinrag index`"
        )
    settings = build_settings(RetrievalSettings, str(meta_file), meta["settings"])
    settings.check_models()
    store = PassageStore.load(folder / "passages.jsonl")
    retriever = make_retriever(settings, cohort)
    vectors_file = folder / "embeddings.npy"
    if vectors_file.exists() and settings.retriever.type == "dense":
        retriever.index(store, vectors=np.load(vectors_file))
    else:
        retriever.index(store)
    return settings, store, retriever


def _where(cohort: Cohort) -> str:
    """How errors name a cohort: its directory when it was read from one."""
    return str(cohort.root) if cohort.root is not None else "cohort"


def build_index(
    folder: str | Path,
    settings: RetrievalSettings,
    cohort: Cohort,
    progress: bool | None = None,
    overwrite: bool = False,
) -> PassageStore:
    """Cut the cohort into passages, index them and write the index folder (``clinrag index``; ``progress`` as
    :func:`prepare_retrieval`). The folder is written whole or not at all (:func:`~clinrag.io.atomic_folder`);
    with ``overwrite`` it replaces what ``folder`` held, none of which is left (an earlier dense index's
    ``embeddings.npy``).

    Returns:
        The passages indexed.

    Raises:
        FileExistsError: Without ``overwrite``, ``folder`` is a file or a folder that is not empty (found when
            the index is written; :func:`~clinrag.io.check_output_folder` refuses it before any work).
    """
    store, retriever = prepare_retrieval(settings, cohort, progress)
    with atomic_folder(folder, replace=overwrite) as staging:
        save_index(staging, cohort, settings, store, retriever)
    return store


@dataclass(frozen=True)
class ShownPassage:
    """A retrieved passage with the variable's terms in it.

    Attributes:
        hit: Its rank and score.
        passage: The passage.
        mentions: ``(start, end)`` of the variable's terms in ``passage.text``, in order, without overlaps.
    """

    hit: Hit
    passage: Passage
    mentions: list[tuple[int, int]]


@dataclass(frozen=True)
class PassageSearch:
    """A patient's top passages for a variable (``clinrag retrieve``).

    Attributes:
        patient: The patient id.
        variable: The variable searched for.
        retriever: The retriever's registered name.
        table_value: The variable's value in the cohort's table ("" when not documented), None without a row.
        passages: The passages, best first.
    """

    patient: str
    variable: Variable
    retriever: str
    table_value: str | None
    passages: list[ShownPassage]


def search_passages(
    cohort: Cohort,
    patient: str,
    variable: Variable,
    k: int | None = None,
    settings: RetrievalSettings | None = None,
    index: str | Path | None = None,
) -> PassageSearch:
    """A patient's top ``k`` passages for a variable, with the variable's terms found in each.

    Args:
        cohort: The cohort.
        patient: One of its patients.
        variable: One of its variables.
        k: How many passages (default ``retrieval.k`` of the settings).
        settings: The retrieval settings, indexed now (default settings when neither this nor ``index``).
        index: An index folder from :func:`build_index`, used instead of ``settings``.

    Raises:
        ClinragError: An index folder of other documents, or an untrained retriever.
    """
    if index is not None:
        settings, store, retriever = load_index(index, cohort)
    else:
        settings = settings or RetrievalSettings()
        store, retriever = prepare_retrieval(settings, cohort)
    hits = retrieve(retriever, store, patient, variable, k or settings.retrieval.k)
    passages = [store.passages[h.index] for h in hits]
    annotations = Annotator([variable]).annotate_texts([p.text for p in passages])
    shown = []
    for hit, passage, annotation in zip(hits, passages, annotations, strict=True):
        mentions, cursor = [], 0
        for mention in sorted(annotation.mentions, key=lambda m: m.start):
            if mention.start >= cursor:  # of overlapping mentions, the first one
                mentions.append((mention.start, mention.end))
                cursor = mention.end
        shown.append(ShownPassage(hit, passage, mentions))
    value = (cohort.table or {}).get(patient, {}).get(variable.name)
    return PassageSearch(patient, variable, settings.retriever.type, value, shown)


def evaluate_retrieval(
    settings: RetrievalSettings,
    cohort: Cohort,
    split: str = "test",
    spec: BootstrapSpec | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Index the cohort with the settings' retriever and score it against the split's gold evidence
    (:func:`~clinrag.retrieval.evaluation.evaluate_retriever`, at ``retrieval.eval_ks``), with progress bars
    when ``progress`` (None: while annotating more than 2,000 documents only).

    Returns:
        The metrics, with the retriever's settings under ``retriever``.

    Raises:
        ClinragError: An untrained retriever, or no gold evidence for the split.
    """
    check_ready(settings.retriever)  # before indexing, as the gold evidence below
    patients = set(cohort.split_patients(split) if split != "all" else cohort.table or {})
    if not any(span.patient_id in patients for span in cohort.evidence):
        raise ClinragError(
            f"{_where(cohort)}: no gold evidence (evidence.jsonl) for the {split} split: nothing to score "
            "retrieval against"
        )
    store, retriever = prepare_retrieval(settings, cohort, progress)
    try:
        metrics = evaluate_retriever(
            cohort,
            store,
            retriever,
            split,
            tuple(settings.retrieval.eval_ks),
            spec or BootstrapSpec(),
            progress=bool(progress),
        )
    except ValueError as error:
        raise ClinragError(f"{_where(cohort)}: {error}") from error
    metrics["retriever"] = settings.retriever.model_dump()
    return metrics


@dataclass(frozen=True)
class TrainedRetriever:
    """What :func:`train_retriever` wrote.

    Attributes:
        type: The retriever's registered name.
        folder: The trained folder (``retriever.path`` of a temporal retriever, ``retriever.model`` of a dense one).
        history: One record per epoch (``loss``, ``dev_weak_recall@5``).
    """

    type: str
    folder: Path
    history: list[dict[str, float]]

    @property
    def best_dev_recall(self) -> float:
        """The best dev weak-label recall@5 of the epochs (nan without any)."""
        return max((h["dev_weak_recall@5"] for h in self.history), default=float("nan"))


def train_retriever(
    settings: RetrievalSettings, cohort: Cohort, out_dir: str | Path, progress: bool = True
) -> TrainedRetriever:
    """Train the settings' retriever from the table values alone (distant supervision on the train split, early
    stopping on the dev split's weak labels; gold evidence is never read) and write it to ``out_dir``.

    It trains as a run does (:meth:`~clinrag.retrieval.base.RetrieverBase.prepare` of the registered retriever),
    straight into ``out_dir`` instead of a run's cache: a temporal retriever is trained, a dense encoder
    fine-tuned. A trained folder that the settings already name is trained again, not reused.

    Raises:
        ClinragError: The cohort has no table, the retriever has nothing to train (bm25), or more than one part
            to train (a hybrid of two trainable retrievers: train each on its own).
    """
    if cohort.table is None:
        raise ClinragError(f"{_where(cohort)}/table.csv: missing; training needs table values")
    section = settings.retriever
    if getattr(section, "path", None):
        section = section.model_copy(update={"path": None})
    store = build_passages(cohort, settings.chunking, progress=progress)
    context = _FolderContext(cohort, store, Path(out_dir), progress)
    prepare_retriever(section, context)
    if context.built is None:
        raise ClinragError(f"retriever.type {section.type}: nothing to train")
    return TrainedRetriever(section.type, context.built, _training_history(context.built))


class _FolderContext:
    """A :class:`~clinrag.retrieval.base.RetrieverContext` that trains into one folder: no cache, no run folder,
    so the identities that key a run's cache are left as given."""

    training = SimpleNamespace(retriever=True, dense=True)

    def __init__(self, cohort: Cohort, store: PassageStore, folder: Path, progress: bool):
        self.cohort, self.store, self.folder, self.progress = cohort, store, folder, progress
        self.built: Path | None = None

    def inputs(self) -> dict[str, Any]:
        return {}

    def model_hash(self, role: str, spec: str) -> str:
        return spec

    def build(self, stage: str, role: str, payload: dict, build: Callable[[Path], None], detail: str) -> Path:
        if self.built is not None:
            raise ClinragError(f"{role}: a second part to train; train one retriever at a time")
        build(self.folder)
        self.built = self.folder
        return self.folder

    def keep(self, name: str, folder: Path) -> None:
        pass


# Where a trained folder records its epochs: the dense encoder's clinrag_training.json, the temporal
# retriever's config.json (a dense folder's config.json is the encoder's, without a history).
_HISTORY_RECORDS = ("clinrag_training.json", "config.json")


def _training_history(folder: Path) -> list[dict[str, float]]:
    for name in _HISTORY_RECORDS:
        if (folder / name).is_file():
            record = json.loads((folder / name).read_text(encoding="utf-8"))
            if "history" in record:
                return record["history"]
    return []
