"""The trainable section classifier: a logistic regression (scikit-learn) of a block's sensitivity on hashed words of
the block, its heading and its edsnlp section, and on the signals the rules read (:mod:`clinrag.pseudo.sections`),
trained on the rules' weak labels of unlabelled documents (``clinrag train-sections``). It is saved as a
self-describing folder: ``clinrag_sections.json`` (settings, classes, features, training counts, versions) and
``weights.safetensors``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clinrag.errors import ClinragError
from clinrag.pseudo.labels import Span
from clinrag.pseudo.sections import (
    DENSE_FEATURES,
    SENSITIVITIES,
    LabelledSegment,
    RuleLabeller,
    Segment,
    Signals,
    blocks_of,
    fold_ascii,
    weak_labels,
)

SECTIONS_CONFIG_NAME = "clinrag_sections.json"
WEIGHTS_NAME = "weights.safetensors"


class SectionClassifierConfig(BaseModel):
    """Settings of the section classifier (``clinrag train-sections --set KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    n_features: int = Field(2**15, ge=16)
    """Hashed word features (words and word pairs of the block, words of its heading, its edsnlp section)."""
    inverse_regularization: float = Field(1.0, gt=0)
    """Logistic regression's ``C``."""
    class_weight: Literal["balanced", "none"] = "balanced"
    """``balanced``: each sensitivity weighs the same whatever its number of blocks."""
    max_iter: int = Field(2000, ge=10)
    """Solver iterations."""


def _hashed_tokens(text: str, seg: Segment) -> list[str]:
    words = [re.sub(r"\d", "0", w) for w in fold_ascii(text[seg.start : seg.end]).split()]
    tokens = [f"w:{w}" for w in words] + [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    tokens += [f"h:{w}" for w in fold_ascii(seg.heading).split()]
    tokens.append(f"e:{seg.eds_section}")
    return tokens


class SectionClassifier:
    """Logistic regression of a block's sensitivity, trained on the rules' weak labels.

    Args:
        config: The feature and training settings.
        coef: ``(3, n_features + len(DENSE_FEATURES))`` weights, rows in :data:`SENSITIVITIES` order.
        intercept: ``(3,)``.
        summary: What it was trained on (counts, no text).
    """

    name = "classifier"

    def __init__(self, config: SectionClassifierConfig, coef: Any, intercept: Any, summary: dict[str, Any]):
        self.config, self.coef, self.intercept, self.summary = config, coef, intercept, summary

    def _matrix(self, texts: Sequence[str], blocks: Sequence[Sequence[tuple[Segment, Signals]]]) -> Any:
        import numpy as np
        from scipy import sparse
        from sklearn.feature_extraction.text import HashingVectorizer

        hasher = HashingVectorizer(
            n_features=self.config.n_features, analyzer=lambda tokens: tokens, alternate_sign=False, norm="l2"
        )
        rows = [_hashed_tokens(text, seg) for text, doc in zip(texts, blocks, strict=True) for seg, _ in doc]
        dense = [sig.dense() for doc in blocks for _, sig in doc]
        if not rows:
            return sparse.csr_matrix((0, self.config.n_features + len(DENSE_FEATURES)))
        return sparse.hstack([hasher.transform(rows), sparse.csr_matrix(np.asarray(dense))]).tocsr()

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        config: SectionClassifierConfig | None = None,
        sources: Sequence[str] | None = None,
        blocks: Sequence[Sequence[tuple[Segment, Signals]]] | None = None,
    ) -> SectionClassifier:
        """Fit on the weak labels of ``texts`` (blocks no rule decides are left out).

        Args:
            texts: Unlabelled documents.
            spans: The identifier detector's spans of each text.
            config: Settings.
            sources: A name for each text's corpus, counted in the summary.
            blocks: The texts' blocks and signals (:func:`~clinrag.pseudo.sections.blocks_of`), when already
                computed.

        Raises:
            ClinragError: The weak labels hold fewer than two sensitivities.
        """
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        config = config or SectionClassifierConfig()
        blocks = blocks if blocks is not None else blocks_of(texts, spans)
        labels = [label for doc in blocks for label, _ in weak_labels(doc)]
        model = cls(config, None, None, {})
        matrix = model._matrix(texts, blocks)
        keep = [i for i, label in enumerate(labels) if label is not None]
        y = [SENSITIVITIES.index(labels[i]) for i in keep]
        present = sorted(set(y))
        if len(present) < 2:
            raise ClinragError(
                "the weak labels of these texts hold fewer than two sensitivities: give more varied documents"
            )
        fitted = LogisticRegression(
            C=config.inverse_regularization,
            class_weight=None if config.class_weight == "none" else "balanced",
            max_iter=config.max_iter,
        ).fit(matrix[keep], y)
        coef = np.zeros((len(SENSITIVITIES), matrix.shape[1]), dtype=np.float32)
        intercept = np.full(len(SENSITIVITIES), -1e4, dtype=np.float32)  # a class never seen is never chosen
        if len(present) == 2:  # scikit-learn's binary model: one row, for the second class
            coef[present[1]], intercept[present[1]] = fitted.coef_[0], fitted.intercept_[0]
            intercept[present[0]] = 0.0
        else:
            for row, klass in enumerate(fitted.classes_):
                coef[klass], intercept[klass] = fitted.coef_[row], fitted.intercept_[row]
        per_source: dict[str, Counter[str]] = {}
        flat_sources = [
            s for s, doc in zip(sources or ["texts"] * len(texts), blocks, strict=True) for _ in doc
        ]
        for source, label in zip(flat_sources, labels, strict=True):
            per_source.setdefault(source, Counter())[label or "undecided"] += 1
        summary = {
            "texts": len(texts),
            "blocks": len(labels),
            "weak_labels": dict(Counter(label or "undecided" for label in labels)),
            "per_source": {k: dict(v) for k, v in sorted(per_source.items())},
        }
        model.coef, model.intercept, model.summary = coef, intercept, summary
        return model

    def probabilities(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> list[list[tuple[Segment, Any]]]:
        """Each block of each text with its probability of each sensitivity (:data:`SENSITIVITIES` order)."""
        import numpy as np

        blocks = blocks_of(texts, spans)
        matrix = self._matrix(texts, blocks)
        scores = matrix @ self.coef.T + self.intercept if matrix.shape[0] else np.zeros((0, 3))
        scores = np.asarray(scores)
        scores -= scores.max(axis=1, keepdims=True) if len(scores) else 0
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True) if len(probs) else 1
        out, row = [], 0
        for doc in blocks:
            out.append([(seg, probs[row + i]) for i, (seg, _) in enumerate(doc)])
            row += len(doc)
        return out

    def label(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[list[LabelledSegment]]:
        """The labelled blocks of each text: the most probable sensitivity."""
        return [
            [LabelledSegment(seg, SENSITIVITIES[int(p.argmax())], "classifier") for seg, p in doc]
            for doc in self.probabilities(texts, spans)
        ]

    # ---- persistence --------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, overwrite: bool = False) -> None:
        """Write ``weights.safetensors`` and ``clinrag_sections.json`` (settings, classes, features, training
        counts, versions) to ``folder``, all at once."""
        from safetensors.numpy import save_file

        from clinrag.io import atomic_folder, atomic_write_json, package_versions

        with atomic_folder(folder, replace=overwrite) as staging:
            save_file({"coef": self.coef, "intercept": self.intercept}, str(staging / WEIGHTS_NAME))
            (staging / WEIGHTS_NAME).chmod(0o644)  # safetensors writes it private
            atomic_write_json(
                staging / SECTIONS_CONFIG_NAME,
                {
                    "clinrag_component": "section_classifier",
                    "config": self.config.model_dump(),
                    "classes": list(SENSITIVITIES),
                    "dense_features": list(DENSE_FEATURES),
                    "training": self.summary,
                    "versions": package_versions("clinrag", "scikit-learn", "edsnlp", "safetensors"),
                },
            )

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> SectionClassifier:
        """Load a folder written by :meth:`save_pretrained`.

        Raises:
            ClinragError: Not a section classifier folder, or weights of the wrong shape.
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        from clinrag.io import read_component_record

        folder = Path(folder)
        record = read_component_record(
            folder, SECTIONS_CONFIG_NAME, "section_classifier", "section classifier"
        )
        if record.get("classes") != list(SENSITIVITIES) or record.get("dense_features") != list(
            DENSE_FEATURES
        ):
            raise ClinragError(f"{folder / SECTIONS_CONFIG_NAME}: written for other classes or features")
        try:
            config = SectionClassifierConfig(**record.get("config", {}))
            weights = load_file(str(folder / WEIGHTS_NAME))
        except (OSError, SafetensorError, ValueError, TypeError) as err:
            raise ClinragError(f"{folder}: the section classifier cannot be loaded ({err})") from None
        width = config.n_features + len(DENSE_FEATURES)
        coef, intercept = weights.get("coef"), weights.get("intercept")
        if coef is None or intercept is None or coef.shape != (3, width) or intercept.shape != (3,):
            raise ClinragError(f"{folder / WEIGHTS_NAME}: weights of the wrong shape for {width} features")
        return cls(config, coef, intercept, record.get("training", {}))


def build_labeller(classifier: str | Path | None) -> RuleLabeller | SectionClassifier:
    """The rules (``classifier`` None) or the trained classifier in that folder.

    Raises:
        ClinragError: The folder is not a section classifier.
    """
    return RuleLabeller() if classifier is None else SectionClassifier.from_pretrained(classifier)


def read_training_texts(
    cohorts: Sequence[str | Path], eds_pseudo: Sequence[str | Path], texts: Sequence[str | Path]
) -> tuple[list[str], list[str]]:
    """The documents ``clinrag train-sections`` reads, with the name of the source of each.

    Args:
        cohorts: Cohort folders (their documents, validated as by ``clinrag validate``).
        eds_pseudo: eds-pseudo JSONL files (their notes).
        texts: ``.txt`` files, or folders of them (one document a file, UTF-8).

    Raises:
        ClinragError: An invalid cohort or file, a folder without ``.txt`` file, a text that is not UTF-8, or
            nothing to read.
    """
    from clinrag.data.validate import load_cohort
    from clinrag.pseudo.corpora import load_eds_pseudo

    documents: list[str] = []
    sources: list[str] = []
    for folder in cohorts:
        cohort = load_cohort(folder)
        documents += [doc.text for doc in cohort.documents]
        sources += [Path(folder).name] * len(cohort.documents)
    for path in eds_pseudo:
        notes = load_eds_pseudo(path)
        documents += [note.text for note in notes]
        sources += [Path(path).name] * len(notes)
    for path in map(Path, texts):
        if path.is_dir():
            files = sorted(path.glob("*.txt"))
            if not files:
                raise ClinragError(f"{path}: no .txt file in this folder")
        elif path.is_file():
            files = [path]
        else:
            raise ClinragError(f"{path}: no such file or folder (--texts)")
        for file in files:
            try:
                documents.append(file.read_text(encoding="utf-8"))
            except UnicodeDecodeError as err:
                raise ClinragError(f"{file}: not UTF-8 (byte {err.start})") from None
            sources.append(path.name)
    if not documents:
        raise ClinragError("nothing to train on: give --cohort, --eds-pseudo or --texts")
    return documents, sources


def train_from_texts(
    texts: Sequence[str],
    config: SectionClassifierConfig | None = None,
    sources: Sequence[str] | None = None,
    progress: bool = False,
) -> SectionClassifier:
    """Find the identifiers of ``texts`` with the rules, then fit the classifier on their weak labels."""
    from clinrag.progress import progress_bar
    from clinrag.pseudo.rules import detect

    spans = [detect(text) for text in progress_bar(texts, enabled=progress, desc="reading", unit="text")]
    return SectionClassifier.train(texts, spans, config, sources)
