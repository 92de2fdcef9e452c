"""The segment encoder: long notes cut into segments, each segment read by a BERT-class encoder, a BiLSTM across
the segments carrying the whole note's context, and linear heads per task (the architecture of Truveta's
"Structured LLM Augmentation for Clinical Information Extraction", MedInfo 2025).

The API, for every use (clinical entities, identifiers, a values reader)::

    from clinrag.encoders.segment import HeadConfig, SegmentConfig, SegmentModel, TextExample

    config = SegmentConfig(
        encoder="embedded:multilingual-e5-small",          # or embedded:all-minilm-l6-v2, or a local folder
        heads={"entities": HeadConfig(kind="tagging"), "polarity": HeadConfig(kind="class")},
    )
    model = SegmentModel(config)                              # loads the encoder; heads are built by fit()
    model.fit([TextExample(text, {"entities": [(0, 7, "DISO")], "polarity": "positive"}), ...], dev=None)
    model.predict(["Patient admis pour AVC ..."])             # [{"entities": [FoundSpan], "polarity": ClassScore}]
    model.predict(texts, spans={"role": [[(12, 18)], ...]})   # a span head classifies spans given with the texts
    model.save("models/entities")                             # a self-describing folder
    model = SegmentModel.load("models/entities")              # exit 2 (ClinragError) for a folder that is not one

**Texts** (``level="text"``): a text is cut into segments of ``segment_length`` sub-word tokens
(:mod:`clinrag.encoders.data`: cuts at word starts, offsets back to characters); the encoder reads each segment;
its tokens' states, over all its segments, form one BiLSTM sequence; a ``tagging`` head tags each token (BIO over
its labels) and spans come back as character offsets; a ``class`` head classifies the whole text (mean and max of
the BiLSTM's states); a ``span`` head classifies spans given with the text (mean and max over the span's tokens).

**Document sequences** (``level="sequence"``): an example is several documents of one patient in order
(:class:`SequenceExample`); each segment of each document is one vector (mean of its tokens' states, plus a flag
on each document's first segment), and the segments of all the documents form one BiLSTM sequence; ``class``
heads give one class per sequence: ``model.predict([[doc1, doc2, doc3], ...])``.

**Training** (:mod:`clinrag.encoders.train`): ``encoder_training="frozen"`` reads each text once with the encoder
and trains only the BiLSTM and the heads (minutes on 2 CPU cores); ``"fine-tune"`` also tunes the encoder (its
word embeddings stay frozen unless ``freeze_embeddings=False``: a 250,000-word vocabulary would dominate memory and
time). Seeded and deterministic on a CPU. Heads are declared by name; an example that has no target for a head
trains the others only, so one model can learn from corpora annotated differently (a head per corpus).

**The folder** (:meth:`SegmentModel.save`): ``clinrag_segment.json`` (``clinrag_component: segment_model``, the
settings, each head's kind and labels, the training summary, the use's metadata, the versions), ``encoder/`` (the Hugging Face
encoder and tokenizer as trained) and ``heads.safetensors`` (the BiLSTM's and heads' weights).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clinrag.encoders.data import FoundSpan, LabeledSpan, Segmenter
from clinrag.errors import ClinragError

#: The file that makes a folder a clinrag segment model.
RECORD_NAME = "clinrag_segment.json"
COMPONENT = "segment_model"
WHAT = "clinrag segment model"
HEADS_FILE = "heads.safetensors"
ENCODER_FOLDER = "encoder"


class HeadConfig(BaseModel):
    """One task head of a segment model."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tagging", "class", "span"]
    """``tagging``: BIO tags on each token (spans of ``labels``); ``class``: one of ``labels`` per text (or per
    sequence of documents); ``span``: one of ``labels`` per span given with the text."""
    labels: list[str] = Field(default_factory=list)
    """The entity labels (tagging) or classes; empty: those of the training examples, sorted."""
    weight: float = Field(1.0, gt=0)
    """The head's loss weight."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """tagging: a token is in an entity when its entity tags' probabilities add up to at least this."""
    widen: bool = True
    """tagging: widen a span cut inside a word to the word's edges."""


class SegmentConfig(BaseModel):
    """Settings of a segment model (encoder, segments, BiLSTM, heads, training)."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = "embedded:all-minilm-l6-v2"
    """The encoder: ``embedded:NAME`` (``all-minilm-l6-v2``, ``multilingual-e5-small``) or a local folder (any
    BERT-class model with a fast tokenizer: CamemBERT-bio, DrBERT...)."""
    level: Literal["text", "sequence"] = "text"
    """``text``: one text is one BiLSTM sequence of its tokens; ``sequence``: several documents are one BiLSTM
    sequence of their segments (``class`` heads only)."""
    heads: dict[str, HeadConfig]
    """The task heads, by name."""
    segment_length: int = Field(128, ge=8, le=512)
    """Sub-word tokens per segment, special tokens included."""
    encoder_layers: list[int] | Literal["thirds"] = Field(default_factory=lambda: [-1])
    """The encoder's layers whose states, side by side, are the BiLSTM's input (Hugging Face's ``hidden_states``
    indices: 0 the embeddings, -1 the last layer), or ``"thirds"``: the layers at a third, two thirds and the end
    of the encoder's depth, whatever it is (4, 8 and 12 of a 12-layer encoder; 2, 4 and 6 of a 6-layer one). A
    sentence-embedding encoder's last layer is trained for pooling: the middle ones keep more of each token.
    ``[-1]``: the last layer alone."""

    lstm_hidden: int = Field(128, ge=4)
    """Hidden size of each direction of the BiLSTM."""
    lstm_layers: int = Field(1, ge=1, le=4)
    """BiLSTM layers."""
    dropout: float = Field(0.1, ge=0, lt=1)
    """Dropout on the BiLSTM's input and output."""
    encoder_training: Literal["frozen", "fine-tune"] = "frozen"
    """``frozen``: train the BiLSTM and heads on the encoder's fixed states (fast); ``fine-tune``: the encoder too."""
    freeze_embeddings: bool = True
    """fine-tune: keep the encoder's word embeddings frozen."""
    epochs: int = Field(10, ge=1)
    """Passes over the training examples."""
    batch_size: int = Field(8, ge=1)
    """Examples (texts or sequences) per optimizer step."""
    learning_rate: float = Field(1e-3, gt=0)
    """Peak AdamW learning rate of the BiLSTM and the heads (linear warm-up, then linear decay)."""
    encoder_learning_rate: float = Field(3e-5, gt=0)
    """Peak learning rate of the encoder (fine-tune)."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    """Share of the steps spent warming up."""
    patience: int = Field(3, ge=1)
    """With development examples: stop after this many epochs without a lower development loss (the best
    epoch's weights are kept)."""
    encoder_batch: int = Field(32, ge=1)
    """Segments per encoder call."""
    seed: int = 0
    """Seed of the heads' initialization, dropout and the example order."""
    device: str = "cpu"
    """torch device (``cuda`` on a GPU server)."""
    threads: int | None = Field(2, ge=1)
    """torch CPU threads while training and predicting (None: torch's default)."""

    @model_validator(mode="after")
    def _heads_fit_the_level(self) -> SegmentConfig:
        if not self.heads:
            raise ValueError("heads: at least one head is needed")
        if self.level == "sequence":
            wrong = [name for name, head in self.heads.items() if head.kind != "class"]
            if wrong:
                raise ValueError(f"heads: level 'sequence' takes class heads only ({', '.join(wrong)})")
        return self


@dataclass(frozen=True)
class TextExample:
    """A text and its targets, by head name: a tagging or span head's ``[(start, end, label)]``, a class head's
    label. A head without a target here is not trained on this text."""

    text: str
    targets: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceExample:
    """Several documents of one sequence (a patient's notes in date order) and the class heads' labels."""

    texts: Sequence[str]
    targets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassScore:
    """A class head's answer: the most probable label and every label's probability."""

    label: str
    probabilities: dict[str, float]


def encoder_layers(setting: list[int] | str, depth: int) -> list[int]:
    """The ``hidden_states`` indices that :attr:`SegmentConfig.encoder_layers` names for an encoder of ``depth``
    layers.

    Raises:
        ClinragError: An index outside the encoder's ``depth + 1`` states, or no index.
    """
    if setting == "thirds":
        return sorted({max(1, round(depth / 3)), max(1, round(2 * depth / 3)), depth})
    count = depth + 1
    if not setting or any(not -count <= layer < count for layer in setting):
        raise ClinragError(
            f"encoder_layers: {setting} is outside the encoder's states (0 to {depth}, or -{count} to -1)"
        )
    return list(setting)


class SegmentModel:
    """A segment encoder with its BiLSTM and heads; see the module's docstring.

    Args:
        config: The settings. The encoder is loaded now (``ClinragError`` for a folder that is not a model); the
            BiLSTM and heads are built by :meth:`fit` (their sizes depend on the labels) or :meth:`load`.
    """

    def __init__(self, config: SegmentConfig, _encoder_folder: str | Path | None = None):
        self.config = config
        self.encoder, self.tokenizer = _load_encoder(_encoder_folder or config.encoder)
        self.layers = encoder_layers(config.encoder_layers, self.encoder.config.num_hidden_layers)
        self.segmenter = Segmenter(self.tokenizer, config.segment_length)
        self.labels: dict[str, list[str]] = {}
        self.network: Any = None
        self.summary: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        """What a use of the model records about itself in the folder (JSON; e.g. the corpora it learnt from)."""

    # ---- training ---------------------------------------------------------------------------------------------
    def fit(
        self,
        examples: Sequence[TextExample | SequenceExample],
        dev: Sequence[TextExample | SequenceExample] | None = None,
        progress: bool = False,
    ) -> SegmentModel:
        """Train the BiLSTM and heads (and the encoder, with ``encoder_training="fine-tune"``).

        Args:
            examples: Training texts (level ``text``) or sequences (level ``sequence``) with targets.
            dev: Development examples: the epoch of lowest development loss is kept (early stopping).
            progress: A progress bar over the training steps.

        Returns:
            The model itself, trained.

        Raises:
            ClinragError: No example, an example of the wrong kind, a target for an unknown head, a span outside
                its text or a label outside a head's declared labels.
        """
        from clinrag.encoders.train import prepare_items, train_network

        if not examples:
            raise ClinragError("no training example: the segment model needs examples with targets")
        labels, previous = _head_labels(self.config, examples), self.labels
        self.labels = labels
        try:
            items = prepare_items(self, examples)
            dev_items = prepare_items(self, dev) if dev else None
        except ClinragError:
            self.labels = previous  # a model trained before keeps its labels
            raise
        self.network = self._build_network()
        with torch_threads(self.config.threads):
            self.summary = train_network(self, items, dev_items, progress=progress)
        return self

    def _build_network(self):
        import torch

        from clinrag.encoders.model import SegmentNetwork

        torch.manual_seed(self.config.seed)  # the heads' initialization
        sizes = {}
        for name, head in self.config.heads.items():
            count = len(self.labels[name])
            sizes[name] = (head.kind, 1 + 2 * count if head.kind == "tagging" else count)
        network = SegmentNetwork(
            self.encoder,
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0,
            self.config.level,
            sizes,
            self.layers,
            self.config.lstm_hidden,
            self.config.lstm_layers,
            self.config.dropout,
        )
        return network.to(self.config.device)

    # ---- inference --------------------------------------------------------------------------------------------
    def predict(
        self,
        inputs: Sequence[str] | Sequence[Sequence[str]],
        spans: Mapping[str, Sequence[Sequence[tuple[int, int]]]] | None = None,
    ) -> list[dict[str, Any]]:
        """Each head's answer for each input.

        Args:
            inputs: Texts (level ``text``) or sequences of documents (level ``sequence``: lists of texts).
            spans: For each span head, the spans to classify in each text (a list per text).

        Returns:
            One dict per input, by head name: a tagging head's ``[FoundSpan]`` (sorted, non-overlapping), a class
            head's :class:`ClassScore`, a span head's ``[ClassScore]`` (one per given span).

        Raises:
            ClinragError: The model is not trained, or ``spans`` does not fit the inputs or the span heads.
        """
        from clinrag.encoders.train import predict_items

        if self.network is None:
            raise ClinragError("the segment model is not trained: call fit() or load a trained folder")
        with torch_threads(self.config.threads):
            return predict_items(self, inputs, spans or {})

    # ---- persistence ------------------------------------------------------------------------------------------
    def save(self, folder: str | Path, replace: bool = False) -> Path:
        """Write the self-describing folder (see the module's docstring), all or nothing.

        Args:
            folder: The folder to write (absent or empty, unless ``replace``).
            replace: Replace what ``folder`` holds.

        Raises:
            ClinragError: The model is not trained, or ``folder`` exists and is not empty (without ``replace``).
        """
        from safetensors.torch import save_file

        import clinrag
        from clinrag.io import atomic_folder, atomic_write_json, package_versions

        if self.network is None:
            raise ClinragError("the segment model is not trained: nothing to save")
        folder = Path(folder)
        try:
            with atomic_folder(folder, replace=replace) as staging:
                self.encoder.save_pretrained(staging / ENCODER_FOLDER)
                self.tokenizer.save_pretrained(staging / ENCODER_FOLDER)
                state = {k: v.detach().cpu().contiguous() for k, v in self.network.top.state_dict().items()}
                save_file(state, staging / HEADS_FILE)
                record = {
                    "clinrag_component": COMPONENT,
                    "config": self.config.model_dump(),
                    "heads": {
                        name: {"kind": head.kind, "labels": self.labels[name]}
                        for name, head in self.config.heads.items()
                    },
                    "training": self.summary,
                    "metadata": self.metadata,
                    "versions": {
                        "clinrag": clinrag.__version__,
                        **package_versions("torch", "transformers", "safetensors"),
                    },
                }
                atomic_write_json(staging / RECORD_NAME, record)
        except FileExistsError:
            raise ClinragError(f"{folder}: exists and is not empty (save with replace=True)") from None
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> SegmentModel:
        """Load a folder written by :meth:`save`.

        Raises:
            ClinragError: The folder is missing, is not a clinrag segment model, or its files do not load.
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        record = read_record(folder)
        try:
            config = SegmentConfig(**record["config"])
            labels = {name: list(head["labels"]) for name, head in record["heads"].items()}
        except (KeyError, TypeError, ValueError) as err:
            raise ClinragError(f"{folder / RECORD_NAME}: not a {WHAT} record ({err})") from None
        if set(labels) != set(config.heads):
            raise ClinragError(f"{folder / RECORD_NAME}: its heads and its settings' heads differ")
        if device is not None:
            config = config.model_copy(update={"device": device})
        model = cls(config, _encoder_folder=folder / ENCODER_FOLDER)
        model.labels = labels
        model.summary = record.get("training") or {}
        model.metadata = record.get("metadata") or {}
        model.network = model._build_network()
        try:
            model.network.top.load_state_dict(load_file(folder / HEADS_FILE))
        except (OSError, RuntimeError, ValueError) as err:
            raise ClinragError(f"{folder / HEADS_FILE}: the heads' weights do not load ({err})") from None
        model.network.to(config.device)
        return model


def read_record(folder: str | Path) -> dict[str, Any]:
    """The ``clinrag_segment.json`` of a segment model folder, checked to be one (without loading any weight),
    for commands that must refuse a wrong folder before long work.

    Raises:
        ClinragError: "FOLDER: not a clinrag segment model folder (no clinrag_segment.json)", and the like.
    """
    from clinrag.io import read_component_record

    folder = Path(folder)
    if not folder.is_dir():
        raise ClinragError(f"{folder}: {WHAT} folder not found")
    record = read_component_record(folder, RECORD_NAME, COMPONENT, WHAT)
    for name in (ENCODER_FOLDER, HEADS_FILE):
        if not (folder / name).exists():
            raise ClinragError(f"{folder}: not a complete {WHAT} folder (no {name})")
    return record


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` for a block, then put back (None: unchanged)."""
    import torch

    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load_encoder(spec: str | Path) -> tuple[Any, Any]:
    """The Hugging Face encoder (``AutoModel``) and fast tokenizer of ``embedded:NAME`` or a local folder."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from clinrag.models import require_model_folder, resolve_model_path

    folder = require_model_folder(resolve_model_path(spec), "segment encoder", sentence_transformers=True)
    folder = _transformer_folder(folder)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a sentence-transformers folder's unused pooler: nothing to report
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        encoder = AutoModel.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ClinragError(f"{folder}: the encoder cannot be loaded ({err})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    if not getattr(tokenizer, "is_fast", False):
        raise ClinragError(f"{folder}: the segment encoder needs a fast tokenizer (tokenizer.json)")
    return encoder, tokenizer


def _transformer_folder(folder: Path) -> Path:
    """The Hugging Face folder of an encoder: the folder itself, or the Transformer module's subfolder of a
    sentence-transformers folder that keeps it there (``modules.json``, ``0_Transformer/``)."""
    import json

    if (folder / "config.json").is_file() or not (folder / "modules.json").is_file():
        return folder
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith("Transformer"):
            return folder / str(module.get("path", ""))
    raise ClinragError(
        f"{folder}: a sentence-transformers folder without a Transformer module (modules.json)"
    )


def _head_labels(
    config: SegmentConfig, examples: Sequence[TextExample | SequenceExample]
) -> dict[str, list[str]]:
    """Each head's labels: declared, or those of the examples (sorted); checks the examples' heads and kinds.

    Raises:
        ClinragError: An example of the wrong kind for the level, a target for an unknown head, a head without
            any label, or a label outside a head's declared ones.
    """
    kind = TextExample if config.level == "text" else SequenceExample
    seen: dict[str, set[str]] = {name: set() for name in config.heads}
    for number, example in enumerate(examples, 1):
        if not isinstance(example, kind):
            raise ClinragError(f"example {number}: level '{config.level}' takes {kind.__name__} examples")
        for name, target in example.targets.items():
            if name not in config.heads:
                raise ClinragError(
                    f"example {number}: target for an unknown head '{name}' ({', '.join(config.heads)})"
                )
            if config.heads[name].kind == "class":
                seen[name].add(str(target))
            else:
                seen[name].update(LabeledSpan(*span).label for span in target)
    labels = {}
    for name, head in config.heads.items():
        if head.labels:
            unknown = sorted(seen[name] - set(head.labels))
            if unknown:
                raise ClinragError(
                    f"head '{name}': label '{unknown[0]}' of the examples is not in its labels"
                )
            labels[name] = list(head.labels)
        else:
            labels[name] = sorted(seen[name])
        if not labels[name]:
            raise ClinragError(f"head '{name}': no label declared and none in the examples")
    return labels


__all__ = [
    "ClassScore",
    "FoundSpan",
    "HeadConfig",
    "LabeledSpan",
    "SegmentConfig",
    "SegmentModel",
    "SequenceExample",
    "TextExample",
    "read_record",
]
