"""The temporal retriever: passages read in the light of the patient's earlier documents.

Architecture (one patient at a time):

1. An encoder embeds every passage (frozen by default: embeddings are computed once and cached; with
   ``train.train_encoder`` it is fine-tuned end to end).
2. A document vector is the mean of its passages' projected embeddings, joined with time features (days since
   the first document, gap since the previous one, position) and a learned document-type embedding.
3. A recurrent layer (GRU or LSTM) runs over the documents in date order: each document's state summarizes it
   and everything before it (``bidirectional`` adds the documents after it).
4. A scorer combines, for each (passage, variable): the passage, its document's state, type and time, its
   section, and lexical features of the variable in the passage (BM25 of the variable's query, cosine with the
   query embedding, its terms affirmed / negated / hypothetical / about a relative, a value-shaped token next to
   a term); a variable vector (learned embedding + projected query embedding) reads the result out.

Training uses weak labels from table values only (:mod:`clinrag.retrieval.supervision`): a multi-positive
contrastive loss over the patient's passages, AdamW, early stopping on the dev split's weak-label recall@5.
The trained retriever saves as a self-describing folder (``config.json`` + ``model.safetensors`` + versions).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.io import atomic_write_bytes, atomic_write_json, read_component_record
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
from clinrag.retrieval.bm25 import BM25Retriever
from clinrag.retrieval.config import BM25Config, TemporalConfig
from clinrag.retrieval.encoders import embed_with_grad, encode_texts, load_sentence_encoder
from clinrag.retrieval.supervision import passage_mentions, weak_labels
from clinrag.text.annotate import Mention
from clinrag.text.evidence import value_near_term
from clinrag.text.passages import PassageStore
from clinrag.training import EarlyStopping

N_TIME = 5
N_LEXICAL = 8
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class TemporalScorer(nn.Module):
    """The trainable part: projections, document-type and section embeddings, the recurrent layer, the scorer."""

    def __init__(
        self,
        dim: int,
        hidden: int,
        n_types: int,
        n_sections: int,
        n_variables: int,
        rnn: str,
        layers: int,
        bidirectional: bool,
        dropout: float,
    ):
        super().__init__()
        self.passage_proj = nn.Linear(dim, hidden)
        self.query_proj = nn.Linear(dim, hidden)
        self.type_emb = nn.Embedding(n_types, hidden)
        self.section_emb = nn.Embedding(n_sections, hidden)
        self.var_emb = nn.Embedding(n_variables + 1, hidden)  # last row: variables unseen in training (zeros)
        nn.init.zeros_(self.var_emb.weight[-1:])
        self.doc_in = nn.Linear(hidden * 2 + N_TIME, hidden)
        recurrent = nn.GRU if rnn == "gru" else nn.LSTM
        self.rnn = recurrent(hidden, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.state_out = nn.Linear(hidden * (2 if bidirectional else 1), hidden)
        self.context = nn.Linear(hidden * 4 + N_TIME, hidden)
        self.lexical = nn.Linear(N_LEXICAL, hidden)
        self.mlp = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.GELU())
        self.lexical_gain = nn.Parameter(torch.ones(N_LEXICAL) * 0.1)

    def forward(
        self,
        embeddings: torch.Tensor,  # (P, dim)
        doc_index: torch.Tensor,  # (P,) local document of each passage
        doc_time: torch.Tensor,  # (D, N_TIME)
        doc_type: torch.Tensor,  # (D,)
        section: torch.Tensor,  # (P,)
        lexical: torch.Tensor,  # (P, V, N_LEXICAL)
        query: torch.Tensor,  # (V, dim)
        variable_ids: torch.Tensor,  # (V,)
    ) -> torch.Tensor:
        """Scores (P, V)."""
        x = self.passage_proj(embeddings) + self.section_emb(section)
        n_docs = doc_time.shape[0]
        pooled = torch.zeros(n_docs, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, doc_index, x)
        counts = torch.bincount(doc_index, minlength=n_docs).clamp(min=1).unsqueeze(1).to(x.dtype)
        types = self.type_emb(doc_type)
        doc_input = self.doc_in(torch.cat([pooled / counts, types, doc_time], dim=1))
        states, _ = self.rnn(doc_input.unsqueeze(0))
        states = self.state_out(states.squeeze(0))
        context = self.context(
            torch.cat(
                [x, states[doc_index], types[doc_index], x * states[doc_index], doc_time[doc_index]], dim=1
            )
        )
        hidden = self.mlp(context.unsqueeze(1) + self.lexical(lexical))  # (P, V, H)
        variable = self.query_proj(query) + self.var_emb(variable_ids)  # (V, H)
        score = (hidden * variable.unsqueeze(0)).sum(-1) / math.sqrt(hidden.shape[-1])
        return score + (lexical * self.lexical_gain).sum(-1)


@register_retriever("temporal", TemporalConfig)
class TemporalRetriever(RetrieverBase):
    """The trained temporal retriever (see the module docstring and :class:`TemporalConfig`).

    Args:
        config: Architecture and training settings; ``config.path`` loads a trained folder.
        variables: The variables it is trained for (taken from the folder when loading).
        encoder: An already loaded sentence encoder (default: loaded from ``config.encoder``).
    """

    @classmethod
    def prepare(
        cls, config: TemporalConfig, context: RetrieverContext, role: str
    ) -> tuple[TemporalConfig, dict]:
        """A trained folder as given (identified by its content hash), or trained on the train split's table
        values into the run's cache (``training.retriever``)."""
        if config.path:
            return config, {"type": "temporal", "folder": context.model_hash(role, config.path)}
        if not context.training.retriever:
            raise ClinragError(
                f"{role}: an untrained temporal retriever cannot rank passages; set training.retriever=true or "
                f"{role}.path=FOLDER"
            )
        cohort, store = context.cohort, context.store
        payload = {
            **context.inputs(),
            "retriever": config.model_dump(exclude=RUNTIME_FIELDS),
            "encoder": context.model_hash(f"{role}.encoder", config.encoder),
            "variables": [v.name for v in cohort.variables if v.name in cohort.table_columns],
        }

        def train(staging: Path) -> None:
            model = cls(
                config.model_copy(update={"path": None}),
                variables=[cohort.variable(n) for n in cohort.table_columns],
            )
            model.index(store)
            model.fit(cohort, store, progress=context.progress)
            model.save_pretrained(staging)

        folder = context.build(
            "temporal_retriever", role, payload, train, "temporal retriever trained on train"
        )
        context.keep(trained_folder(role, "retriever"), folder)
        return config.model_copy(update={"path": str(folder)}), {"type": "temporal", "trained": folder.name}

    @classmethod
    def from_run(
        cls, config: TemporalConfig, models: Path, training: Any, role: str = "retriever"
    ) -> TemporalConfig:
        """The run's trained retriever (``models/retriever``) when the section names no folder."""
        if config.path:
            return config
        folder = run_folder(models, role, "retriever", "trained temporal retriever")
        return config.model_copy(update={"path": str(folder)})

    @classmethod
    def check_ready(cls, config: TemporalConfig) -> None:
        """An untrained temporal retriever cannot search."""
        if not config.path:
            raise ClinragError(
                "the temporal retriever must be trained first: `clinrag train-retriever --cohort DIR --out "
                "MODEL_DIR`, then retriever.path=MODEL_DIR (or an untrained retriever: retriever.type=bm25, by "
                "--retriever bm25 where a command has it, --set or the config)"
            )

    @classmethod
    def check_models(cls, config: TemporalConfig, role: str) -> None:
        """A trained folder (its record, its weights and the encoder it reads with), else the encoder it would be
        trained with."""
        if not config.path:
            check_model_reference(config.encoder, f"encoder ({role}.encoder)", sentence_transformers=True)
            return
        folder = Path(config.path)
        record = read_component_record(folder, CONFIG_NAME, "temporal_retriever", "temporal retriever")
        if not (folder / WEIGHTS_NAME).is_file():
            raise ClinragError(f"{folder}: {WEIGHTS_NAME} is missing (temporal retriever, {role}.path)")
        saved = record.get("config") or {}
        encoder = saved.get("encoder", TemporalConfig.model_fields["encoder"].default)
        if encoder == "encoder":  # fine-tuned end to end: the encoder lives in the folder
            encoder = str(folder / "encoder")
        check_model_reference(
            encoder, f"encoder of the temporal retriever ({role}.path)", sentence_transformers=True
        )

    def __init__(
        self,
        config: TemporalConfig | None = None,
        variables: list[Variable] | None = None,
        encoder: Any = None,
    ):
        config = config or TemporalConfig()
        self.encoder = encoder
        self.doc_types: list[str] = ["<unk>"]
        self.sections: list[str] = ["<unk>"]
        self.variables: list[Variable] = list(variables or [])
        self.model: TemporalScorer | None = None
        self.history: list[dict[str, float]] = []
        if config.path:
            self._load(Path(config.path), config)
        else:
            self.config = config
        self.store: PassageStore | None = None
        self._cache: dict[str, Any] = {}

    # ---- features --------------------------------------------------------------------------------------
    def _encoder(self):
        if self.encoder is None:
            self.encoder = load_sentence_encoder(
                self.config.encoder, self.config.device, self.config.max_length
            )
        return self.encoder

    def index(self, store: PassageStore, mentions: list[list[Mention]] | None = None) -> None:
        """Embed the passages, annotate them and index them with BM25 (lexical features)."""
        self.store = store
        self._cache = {}
        self.embeddings = encode_texts(
            self._encoder(), store.texts, self.config.batch_size, progress=len(store) > 2000, role="passage"
        )
        self.mentions = mentions if mentions is not None else passage_mentions(store, self.variables)
        self.bm25 = BM25Retriever(BM25Config())
        self.bm25.index(store)

    def _ensure_variable(self, variable: Variable) -> None:
        if all(v.name != variable.name for v in self.variables):
            # a variable it was not trained for: annotate its terms and score it by its query alone
            self.variables.append(variable)
            extra = passage_mentions(self.store, [variable])
            self.mentions = [old + new for old, new in zip(self.mentions, extra, strict=True)]
            self._cache = {}  # cached scores have one column per variable: recompute with the new one

    def _query_vectors(self, variables: list[Variable]) -> np.ndarray:
        key = "queries:" + "|".join(v.name for v in variables)
        if key not in self._cache:
            self._cache[key] = encode_texts(
                self._encoder(), [build_query(v) for v in variables], cache=False, role="query"
            )
        return self._cache[key]

    def patient_inputs(self, patient_id: str, variables: list[Variable]) -> dict[str, torch.Tensor]:
        """The model's input tensors for one patient and a list of variables."""
        start, end = self.store.patient_range(patient_id)
        passages = self.store.passages[start:end]
        doc_ids = list(dict.fromkeys(p.doc_id for p in passages))
        local = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        first_of = {p.doc_id: p for p in reversed(passages)}
        days = np.array([first_of[d].days for d in doc_ids], dtype=np.float32)
        gaps = np.diff(days, prepend=days[0])
        position = np.arange(len(doc_ids), dtype=np.float32) / max(1, len(doc_ids) - 1)
        doc_time = np.stack(
            [
                days / 365.0,
                np.log1p(days) / 6.0,
                np.log1p(gaps) / 6.0,
                position,
                (np.arange(len(doc_ids)) == 0).astype(np.float32),
            ],
            axis=1,
        )
        type_index = {t: i for i, t in enumerate(self.doc_types)}
        section_index = {s: i for i, s in enumerate(self.sections)}
        embeddings = self.embeddings[start:end]
        queries = self._query_vectors(variables)
        lexical = np.zeros((len(passages), len(variables), N_LEXICAL), dtype=np.float32)
        for j, var in enumerate(variables):
            bm25 = self.bm25.all_scores(var)[start:end]
            lexical[:, j, 0] = (bm25 - bm25.mean()) / (bm25.std() + 1e-6)
            lexical[:, j, 1] = embeddings @ queries[j]
            for i, passage in enumerate(passages):
                mentions = [m for m in self.mentions[start + i] if m.variable == var.name]
                terms = [m for m in mentions if m.value == ""]
                lexical[i, j, 2] = float(bool(terms))
                lexical[i, j, 3] = float(any(m.affirmed for m in terms))
                lexical[i, j, 4] = float(any(m.negated and not m.family for m in terms))
                lexical[i, j, 5] = float(any(m.hypothetical for m in terms))
                lexical[i, j, 6] = float(any(m.family for m in terms))
                lexical[i, j, 7] = float(value_near_term(var, passage, mentions))
        names = [v.name for v in self.variables]
        trained = self.model.var_emb.num_embeddings - 1 if self.model is not None else len(names)
        tensors = {
            "embeddings": torch.from_numpy(np.ascontiguousarray(embeddings)),
            "doc_index": torch.tensor([local[p.doc_id] for p in passages], dtype=torch.long),
            "doc_time": torch.from_numpy(doc_time.astype(np.float32)),
            "doc_type": torch.tensor(
                [type_index.get(first_of[d].doc_type, 0) for d in doc_ids], dtype=torch.long
            ),
            "section": torch.tensor([section_index.get(p.section, 0) for p in passages], dtype=torch.long),
            "lexical": torch.from_numpy(lexical),
            "query": torch.from_numpy(np.ascontiguousarray(queries)),
            # variables added after training share the last, all-zero embedding row
            "variable_ids": torch.tensor(
                [min(names.index(v.name), trained) for v in variables], dtype=torch.long
            ),
        }
        return {name: tensor.to(self.device) for name, tensor in tensors.items()}

    @property
    def device(self) -> torch.device:
        return torch.device(self.config.device)

    # ---- scoring ----------------------------------------------------------------------------------------
    def _ready_model(self) -> TemporalScorer:
        if self.model is None:
            self._build_model()
        return self.model

    def _build_model(self) -> None:
        torch.manual_seed(self.config.train.seed)
        self.model = TemporalScorer(
            dim=self.embeddings.shape[1],
            hidden=self.config.hidden,
            n_types=len(self.doc_types),
            n_sections=len(self.sections),
            n_variables=len(self.variables),
            rnn=self.config.rnn,
            layers=self.config.layers,
            bidirectional=self.config.bidirectional,
            dropout=self.config.dropout,
        ).to(self.device)

    def scores(self, patient_id: str, variable: Variable) -> np.ndarray:
        """Scores of the patient's passages for a variable."""
        self._ensure_variable(variable)
        key = f"scores:{patient_id}"
        if key not in self._cache:
            model = self._ready_model()
            model.eval()
            with torch.no_grad():
                self._cache[key] = (
                    model(**self.patient_inputs(patient_id, self.variables)).float().cpu().numpy()
                )
        names = [v.name for v in self.variables]
        return self._cache[key][:, names.index(variable.name)].astype(np.float32)

    # ---- training ---------------------------------------------------------------------------------------
    def fit(
        self, cohort: Cohort, store: PassageStore | None = None, progress: bool = True
    ) -> list[dict[str, float]]:
        """Train from the table values of the train split, early-stopping on the dev split.

        Args:
            cohort: The cohort (its table and splits; never its gold evidence).
            store: Its passages (indexed here when not indexed yet).
            progress: Show a progress bar.

        Returns:
            One record per epoch: train loss, dev weak-label recall@5.

        Raises:
            ClinragError: The cohort has no table or no train patient with a weak label.
        """
        if cohort.table is None:
            raise ClinragError("training the temporal retriever needs a table (distant supervision)")
        if not self.variables:
            self.variables = [cohort.variable(name) for name in cohort.table_columns]
        if store is not None and store is not self.store:
            self.index(store)
        train_patients, dev_patients = cohort.split_patients("train"), cohort.split_patients("dev")
        train_labels = weak_labels(cohort, self.store, self.mentions, train_patients, self.variables)
        dev_labels = weak_labels(cohort, self.store, self.mentions, dev_patients, self.variables)
        if not train_labels:
            raise ClinragError("no weak label found in the train split: nothing to learn from")
        self.doc_types = [
            "<unk>",
            *sorted({p.doc_type for pid in train_patients for p in self.store.of_patient(pid)}),
        ]
        self.sections = [
            "<unk>",
            *sorted({p.section for pid in train_patients for p in self.store.of_patient(pid)}),
        ]
        self._cache = {}
        self._build_model()
        cfg = self.config.train
        rng = random.Random(cfg.seed)
        groups = [{"params": self.model.parameters(), "lr": cfg.lr}]
        if cfg.train_encoder:
            groups.append({"params": self._encoder().parameters(), "lr": cfg.encoder_lr})
        optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        inputs = {
            pid: self.patient_inputs(pid, self.variables) for pid in sorted({p for p, _ in train_labels})
        }
        dev_inputs = {
            pid: self.patient_inputs(pid, self.variables) for pid in sorted({p for p, _ in dev_labels})
        }
        targets = {pid: t.to(self.device) for pid, t in self._targets(train_labels).items()}
        stopping = EarlyStopping(
            [self.model, self._encoder()] if cfg.train_encoder else [self.model],
            cfg.patience,
            baseline=-1.0,  # below any recall; without dev labels, the score (minus the loss) must beat it too
        )
        self.history = []
        epochs = range(cfg.epochs)
        from clinrag.progress import bars_allowed

        if bars_allowed(progress):  # none inside clinrag.progress.quiet()
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc="training temporal retriever", unit="epoch")
        for epoch in epochs:
            self.model.train()
            if cfg.train_encoder:
                self._encoder().train()
            order = sorted(inputs)
            rng.shuffle(order)
            total = 0.0
            for step in range(0, len(order), cfg.patients_per_step):
                optimizer.zero_grad()
                loss = torch.zeros(())
                for pid in order[step : step + cfg.patients_per_step]:
                    patient = self._live_inputs(pid, inputs[pid]) if cfg.train_encoder else inputs[pid]
                    loss = loss + self._patient_loss(self.model(**patient), targets[pid])
                loss.backward()
                optimizer.step()
                total += loss.item()
            if cfg.train_encoder:
                self._refresh_embeddings()
                inputs = {pid: self.patient_inputs(pid, self.variables) for pid in inputs}
                dev_inputs = {pid: self.patient_inputs(pid, self.variables) for pid in dev_inputs}
            recall = self._weak_recall(dev_inputs, dev_labels) if dev_labels else float("nan")
            self.history.append(
                {"epoch": epoch + 1, "loss": total / max(1, len(order)), "dev_weak_recall@5": recall}
            )
            if stopping.step(recall if dev_labels else -total):
                break
        if stopping.restore() and cfg.train_encoder:
            self._refresh_embeddings()
        self.model.eval()
        self._cache = {}
        return self.history

    def _live_inputs(self, patient_id: str, cached: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A patient's inputs with passage and query embeddings recomputed by the encoder (with gradients)."""
        encoder = self._encoder()
        start, end = self.store.patient_range(patient_id)
        live = dict(cached)
        for name, texts, role in (
            ("embeddings", self.store.texts[start:end], "passage"),
            ("query", [build_query(v) for v in self.variables], "query"),
        ):
            live[name] = embed_with_grad(encoder, texts, role).to(self.device)
        return live

    def _refresh_embeddings(self) -> None:
        """Re-embed every passage with the (fine-tuned) encoder, bypassing the on-disk cache."""
        encoder = self._encoder()
        encoder.eval()
        encoder.clinrag_folder = None  # its weights changed: cached embeddings no longer apply
        self.embeddings = encode_texts(
            encoder, self.store.texts, self.config.batch_size, cache=False, role="passage"
        )
        self._cache = {}

    def _targets(self, labels: dict[tuple[str, str], np.ndarray]) -> dict[str, torch.Tensor]:
        names = [v.name for v in self.variables]
        targets: dict[str, torch.Tensor] = {}
        for (pid, var), positive in labels.items():
            if pid not in targets:
                start, end = self.store.patient_range(pid)
                targets[pid] = torch.zeros(end - start, len(names), dtype=torch.bool)
            targets[pid][:, names.index(var)] = torch.from_numpy(positive)
        return targets

    @staticmethod
    def _patient_loss(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
        """Multi-positive InfoNCE over the patient's passages, summed over variables that have positives."""
        has = positive.any(dim=0)
        if not has.any():
            return scores.sum() * 0.0
        all_lse = torch.logsumexp(scores[:, has], dim=0)
        pos_lse = torch.logsumexp(scores[:, has].masked_fill(~positive[:, has], -1e9), dim=0)
        return (all_lse - pos_lse).sum()

    def _weak_recall(
        self,
        inputs: dict[str, dict[str, torch.Tensor]],
        labels: dict[tuple[str, str], np.ndarray],
        k: int = 5,
    ) -> float:
        self.model.eval()
        names = [v.name for v in self.variables]
        hits = 0
        with torch.no_grad():
            scores = {pid: self.model(**x).float().cpu().numpy() for pid, x in inputs.items()}
        for (pid, var), positive in labels.items():
            column = scores[pid][:, names.index(var)]
            top = np.argsort(-column, kind="stable")[:k]
            hits += bool(positive[top].any())
        return hits / len(labels)

    # ---- persistence ------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``config.json`` (settings, vocabularies, variables, versions) and ``model.safetensors``."""
        import safetensors.torch
        import transformers

        import clinrag

        if self.model is None:
            raise ClinragError("nothing to save: the temporal retriever is not trained")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = self.config.model_copy(update={"path": None})
        record = {
            "clinrag_component": "temporal_retriever",
            "config": config.model_dump(),
            "embedding_dim": int(self.model.passage_proj.in_features),
            "doc_types": self.doc_types,
            "sections": self.sections,
            "variables": [
                v.model_dump(exclude_none=True)
                for v in self.variables[: self.model.var_emb.num_embeddings - 1]
            ],
            "history": self.history,
            "versions": {
                "clinrag": clinrag.__version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            },
        }
        if self.config.train.train_encoder:
            self._encoder().save(str(folder / "encoder"))
            record["config"]["encoder"] = "encoder"  # relative to the folder
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        atomic_write_bytes(folder / WEIGHTS_NAME, safetensors.torch.save(state))
        atomic_write_json(folder / CONFIG_NAME, record)

    @classmethod
    def from_pretrained(cls, folder: str | Path, **overrides: Any) -> TemporalRetriever:
        """Load a folder written by :meth:`save_pretrained` (``overrides`` replace config fields, e.g. device)."""
        return cls(TemporalConfig(path=str(folder), **overrides))

    def _load(self, folder: Path, requested: TemporalConfig) -> None:
        import safetensors.torch

        record = read_component_record(folder, CONFIG_NAME, "temporal_retriever", "temporal retriever")
        saved = TemporalConfig(**record["config"])
        if saved.encoder == "encoder":  # fine-tuned end to end: the encoder lives in the folder
            saved = saved.model_copy(update={"encoder": str(folder / "encoder")})
        # what the folder fixes (architecture, encoder) wins; runtime settings come from the request
        runtime = {"device": requested.device, "batch_size": requested.batch_size}
        self.config = saved.model_copy(update={**runtime, "path": str(folder)})
        self.doc_types = record["doc_types"]
        self.sections = record["sections"]
        self.variables = [Variable(**v) for v in record["variables"]]
        self.history = record.get("history", [])
        self.model = TemporalScorer(
            dim=record["embedding_dim"],
            hidden=saved.hidden,
            n_types=len(self.doc_types),
            n_sections=len(self.sections),
            n_variables=len(self.variables),
            rnn=saved.rnn,
            layers=saved.layers,
            bidirectional=saved.bidirectional,
            dropout=saved.dropout,
        )
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise ClinragError(f"{folder}: {WEIGHTS_NAME} is missing")
        self.model.load_state_dict(safetensors.torch.load_file(str(weights)))
        self.model.to(self.device).eval()
