"""Typed configuration of the reader (the decoder that writes each value) and of its LoRA tuning."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clinrag.models import check_model_reference, require_adapter_folder


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptConfig(_Config):
    """French prompt templates (Python ``str.format`` fields in braces); override any of them in a config."""

    system: str = "Registre d'AVC : réponds par la valeur seule, ou « non documenté »."
    """System message."""
    question: str = (
        "{name} : {description}{timepoint}. Réponse : {answer_format}.\n"
        "Extraits, du plus ancien au plus récent :\n{passages}\n"
        "{name} ="
    )
    """The user message; fields: name, description, timepoint, answer_format, passages."""
    passage: str = "[{number}] {date} — {doc_type}{section} : {text}"
    """One passage; fields: number, date, doc_type, section, text."""


class LoraConfig(_Config):
    """LoRA tuning of the reader under distant supervision (peft).

    The defaults are set for the embedded 135M decoder on a 2-core CPU (about 11 minutes for the main job's 1,260
    pairs with one passage each); on a GPU server with a 7B model, adapt every layer (``last_layers: null``)."""

    r: int = Field(16, ge=1)
    """Rank of the adapters."""
    alpha: int = Field(32, ge=1)
    """Scaling numerator (alpha / r)."""
    dropout: float = Field(0.05, ge=0, lt=1)
    """Dropout on the adapter input."""
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    """Linear layers that get adapters (Llama names)."""
    last_layers: int | None = Field(4, ge=1)
    """Put adapters only on the last N decoder layers: backpropagation then stops there, which makes CPU tuning
    several times cheaper (None: every layer)."""
    cache_frozen: bool = True
    """With ``last_layers``: run the layers below the adapters once per training pair and keep their output, so
    each epoch runs only the adapted layers (exact; memory: pairs x tokens x hidden size floats)."""
    epochs: int = Field(3, ge=1)
    """Passes over the training pairs."""
    lr: float = Field(2e-3, gt=0)
    """AdamW peak learning rate."""
    schedule: Literal["constant", "linear"] = "linear"
    """Learning-rate schedule: ``linear`` warms up over ``warmup`` of the steps, then decays to 0 at the last
    step (the adapters end where the updates are small, not wherever the last batches pushed them);
    ``constant``: ``lr`` throughout."""
    warmup: float = Field(0.06, ge=0, lt=1)
    """With ``schedule: linear``: the fraction of the steps spent warming up to ``lr`` (step ``s`` of ``w`` warmup
    steps runs at ``lr * (s + 1) / w``: the first step already learns; :func:`clinrag.training.linear_warmup_decay`)."""
    batch_size: int = Field(8, ge=1)
    """Pairs per optimizer step."""
    max_pairs: int | None = Field(None, ge=1)
    """Train on at most this many (patient, variable) pairs (a seeded sample), to bound CPU time (None: every
    pair; with 480 of the main job's 1,260 pairs each variable got about 23 examples, and the reader's accuracy
    moved by 0.04 with the sample's seed)."""
    weak_evidence: bool = True
    """Distant supervision's evidence in the training pairs: a pair whose retrieved passages do not state the
    table value gets the best-ranked passage of the record that does (by the weak-label rules) in place of its
    last one, so that the reader is not taught to answer from unrelated text; a pair whose value no passage
    states by those rules is kept as retrieved. False: the retrieved passages as they are."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (7B models on a GPU)."""
    seed: int = 0
    """Seed of the adapters' initialization and of the pair order."""
    merge: bool = False
    """Merge the adapters into the base weights after training (merge_and_unload) and save a full model."""


class ReaderConfig(_Config):
    """The reader: a decoder-only LM from a local folder, constrained to each variable's type."""

    type: str = "llm"
    """A registered reader (:func:`~clinrag.generation.base.register_reader`): ``llm`` reads the retrieved
    passages; ``full_record`` reads the whole record split to the context window, no retrieval (the
    llm_extractinator-style baseline)."""
    model: str = "embedded:smollm2-135m-instruct"
    """A Hugging Face causal LM folder (Llama family: Meditron, Vigogne, a merged model...) or
    ``embedded:smollm2-135m-instruct`` (converted once by ``clinrag models prepare``)."""
    adapter: str | None = None
    """A LoRA adapter folder (``clinrag train-reader``), applied to ``model``."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weights' dtype (bfloat16 on GPUs)."""
    device: str = "cpu"
    """torch device."""
    batch_size: int = Field(8, ge=1)
    """Sequences per forward pass (options of a cell, or cells in generation)."""
    max_passages: int | None = Field(None, ge=1)
    """At most this many of the retrieved passages go into the prompt (None: all ``retrieval.k`` of them)."""
    max_passage_chars: int = Field(160, ge=20)
    """Each passage is cut to this many characters, starting a little before the variable's first mention."""
    mark_mentions: bool = True
    """Mark the variable's terms in the passages, with what they name and edsnlp's qualifiers
    (« pas de «diabète|négation» »), so the reader sees negation, hypothesis and family history."""
    mark_timepoints: bool = True
    """Mark each integer and number in the passages with the timepoint its clause names
    (« NIHSS initial «15|admission», NIHSS à H24 «12|24 heures» », lexicon in
    :mod:`clinrag.text.timepoints`); numbers that are durations ("3 mois") are neither marked nor answers."""
    timepoint_filter: bool = True
    """With ``grounded``, integers and numbers: only those a term of the variable announces are offered ("NIHSS
    4/42" offers 4, "NIHSS 16, mRS 5" offers 16; every valid one when no term announces one). Then, when the
    variable's ``timepoint`` is one of the lexicon's labels, a value the passages attach to that timepoint
    excludes the others ("NIHSS de sortie 5" answers the discharge NIHSS, not "NIHSS initial 15"), and values
    attached to another timepoint are never offered; no value left means "non documenté". Variables whose
    timepoint the lexicon does not know get only the first step."""
    grounded: bool = True
    """Integers, numbers and dates are chosen among the values written in the passages shown (or "non
    documenté"): an extractive reader that cannot give a value its evidence does not state. False: bounded
    integers are scored over their whole range and numbers and dates are generated under a grammar."""
    grounded_categories: bool = True
    """Categories: when the passages shown name some of the variable's values (the value or one of its
    ``synonyms``, in a mention that is not negated, hypothetical or about the family: « transfert en
    «rééducation|reeducation» »), the reader chooses among those values and "non documenté"; when they name none,
    among every value. False: always every value."""
    booleans: Literal["qualifiers", "llm"] = "qualifiers"
    """``qualifiers``: a boolean is read from its mentions in the retrieved passages (affirmed, negated,
    hypothetical, about a relative: edsnlp's qualifiers) by a logistic regression fitted on the train split's
    table (:class:`clinrag.generation.priors.BooleanModel`), the decoder is not asked; ``llm``: the decoder
    chooses oui / non / non documenté. Measured in docs/generalization.md: with 20 training patients the
    embedded 135M decoder answers each boolean with its most common value whatever the passage says."""
    values: Literal["candidates", "llm"] = "candidates"
    """``candidates``: integers, numbers and categories are chosen among the values the top
    ``candidate_passages`` retrieved passages state, by a logistic regression of what the rules say of each
    (announced by a term, timepoint of its clause, qualifiers, retrieval rank, the document's day against the
    variable's timepoint, how many passages state it) fitted on the train split's table, with an abstention
    threshold chosen by cross-validation on the train patients
    (:class:`clinrag.generation.candidates.ValueModel`); the decoder is not asked. ``llm``: the decoder reads
    them from the top ``retrieval.k`` passages, among the options ``grounded``, ``timepoint_filter`` and
    ``grounded_categories`` leave. Measured in docs/generalization.md (stage 3)."""
    dates: Literal["candidates", "llm"] = "candidates"
    """With ``values: candidates``, dates too are chosen among the dates the passages state (absolute, or
    relative to the note's date: "la veille", "le 16/01") by the same model; ``llm``: the decoder writes them."""
    candidate_passages: int = Field(5, ge=1)
    """With ``values: candidates``: how many retrieved passages (best first) propose candidates."""
    unmentioned: Literal["prior", "read"] = "prior"
    """Booleans and categories whose passages shown mention none of the variable's terms or values: ``prior``
    answers what the train split's table has for such cells (most often "non documenté", "non" in registries
    that fill absences so; :mod:`clinrag.generation.priors`), with no supporting passage; ``read``: the decoder
    guesses from the unrelated passages."""
    max_new_tokens: int = Field(16, ge=1)
    """Tokens generated for free-form types (number, date, text)."""
    max_options: int = Field(128, ge=2)
    """Types with at most this many values (booleans, categories, bounded integers) are decided by scoring each
    allowed value; others are generated under a grammar (xgrammar)."""
    context_tokens: int = Field(2048, ge=128)
    """full_record: tokens of record per chunk (the record is split to fit)."""
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    """Prompt templates."""
    lora: LoraConfig = Field(default_factory=LoraConfig)
    """LoRA tuning settings (``clinrag train-reader``)."""

    def training_evidence(self) -> bool:
        """Whether a run's training pairs of this reader get weak evidence (``lora.weak_evidence``; a reader that
        trains otherwise says so in its own settings)."""
        return self.lora.weak_evidence

    def check_models(self, decoder: bool = True) -> None:
        """Refuse, before any work and without loading them, the decoder and LoRA adapter folders the section
        names when they cannot be loaded (:func:`clinrag.models.check_model_reference`).

        Args:
            decoder: Check ``model`` too (False where something else replaces it: a run's merged model).

        Raises:
            ClinragError: One line naming the folder, what is wrong and the field.
        """
        if decoder:
            check_model_reference(self.model, "decoder (reader.model)", decoder=True)
        if self.adapter:
            require_adapter_folder(self.adapter, "reader.adapter")
