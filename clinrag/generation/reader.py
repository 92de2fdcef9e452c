"""Readers: write each (patient, variable) value from retrieved passages, or from the whole record.

* :class:`LLMReader` (``reader.type: llm``): the RAG reader. The prompt holds the variable's spec and its top
  retrieved passages; variables with few values are decided by scoring each allowed answer, free-form ones are
  generated under a grammar. The supporting passage is the best-ranked retrieved passage that states the answer
  (weak-label rules), else the top passage.
* :class:`FullRecordReader` (``reader.type: full_record``): the baseline in the manner of llm_extractinator. No
  retrieval: the whole record, documents in date order, split to the context window; each chunk is asked every
  variable; the most probable documented answer over chunks wins.

Both return :class:`CellResult` records: the canonical cell ("" = not documented) or an explicit failure, the
provenance, the score, and the tokens read.
"""

from __future__ import annotations

import dataclasses
import time

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.generation.base import CellRequest, CellResult, Learned, register_reader
from clinrag.generation.candidates import CANDIDATE_TYPES, ValueModel
from clinrag.generation.config import ReaderConfig
from clinrag.generation.constraints import (
    NOT_DOCUMENTED,
    answer_regex,
    options,
    parse_answer,
    stated_values,
)
from clinrag.generation.decoder import Decoder
from clinrag.generation.priors import (
    PRIOR_TYPES,
    BooleanModel,
    MentionCache,
    Prior,
    boolean_features,
    mentions_variable,
)
from clinrag.generation.prompts import build_messages, evidence_window, format_passages
from clinrag.text.annotate import Annotator, Mention
from clinrag.text.evidence import attached, states_value
from clinrag.text.passages import Passage
from clinrag.text.timepoints import (
    timepoint_label,
    value_timepoints,
    without_durations,
)


def values_with_timepoints(
    var: Variable, text: str, date: str
) -> list[tuple[int, int, str, str, str | None]]:
    """The values of ``var`` written in ``text`` (:func:`stated_values`) with the timepoint each one's clause
    names (:func:`clinrag.text.timepoints.value_timepoints`): ``(start, end, answer, cell, timepoint)``. For
    integers, numbers that are durations ("3 mois", "24 h", "J3") are left out: they are never a score."""
    stated = stated_values(var, text, date)
    if var.type == "integer":
        stated = without_durations(text, stated, var.unit)
    labels = (
        value_timepoints(text, [(v[0], v[1]) for v in stated]) if var.type in ("integer", "number") else []
    )
    labels += [None] * (len(stated) - len(labels))
    return [(*value, label) for value, label in zip(stated, labels, strict=True)]


def timepoint_consistent(var: Variable, labels: dict[str, set[str | None]]) -> list[str]:
    """The cells (in ``labels`` order) consistent with the variable's timepoint, given the timepoint labels of
    each cell's occurrences (None: no timepoint stated). When ``var.timepoint`` is a lexicon label
    (:data:`clinrag.text.timepoints.TIMEPOINT_CUES`): the cells stated at that timepoint if any, else those stated
    without a timepoint; otherwise every cell."""
    wanted = timepoint_label(var.timepoint)
    if wanted is None:
        return list(labels)
    wanted = wanted.casefold()
    named = [cell for cell, found in labels.items() if any(lb and lb.casefold() == wanted for lb in found)]
    return named or [cell for cell, found in labels.items() if None in found]


def supporting_passage(
    var: Variable, cell: str, passages: list[Passage], mentions: list[list[Mention]]
) -> Passage | None:
    """The first passage (best-ranked) that states ``cell`` by the weak-label rules, else the first passage."""
    if cell == "" or not passages:
        return None
    for passage, found in zip(passages, mentions, strict=True):
        if states_value(var, cell, passage, found):
            return passage
    return passages[0]


def reads_retrieved(config: ReaderConfig) -> bool:
    """Whether ``config`` is the ``llm`` reader's or one built on it (:class:`LLMReader`, e.g. ``server``):
    its settings ``values``, ``booleans``, ``dates`` and ``unmentioned`` then apply."""
    from clinrag.generation.base import reader_class

    kind = reader_class(config.type)
    return isinstance(kind, type) and issubclass(kind, LLMReader)


def decoder_variables(config: ReaderConfig, variables: list[Variable]) -> list[Variable]:
    """The variables the decoder answers under ``config``: not those the train split's table decides
    (integers, numbers and categories with ``values: candidates``, booleans with ``booleans: qualifiers``)."""
    if not reads_retrieved(config):
        return list(variables)
    decided = set(candidate_types(config))
    if config.booleans == "qualifiers":
        decided.add("boolean")
    return [v for v in variables if v.type not in decided]


def candidate_types(config: ReaderConfig) -> tuple[str, ...]:
    """The variable types the value model chooses among candidates under ``config`` (none with ``values:
    llm``; dates with ``dates: candidates``)."""
    if not reads_retrieved(config) or config.values != "candidates":
        return ()
    return (*CANDIDATE_TYPES, "date") if config.dates == "candidates" else CANDIDATE_TYPES


def retrieval_depth(config: ReaderConfig, k: int) -> int:
    """Passages to retrieve per cell: the decoder's ``k``, or more for the candidate model (or as many as a reader
    that says how many it reads: ``config.retrieval_depth``, the segment reader's ``passages``)."""
    if reads_retrieved(config) and config.values == "candidates":
        return max(k, config.candidate_passages)
    own = getattr(config, "retrieval_depth", None)
    return own(k) if own is not None else k


ADAPTER_VIEW_SETTINGS = ("max_passages", "max_passage_chars", "mark_mentions", "mark_timepoints", "prompt")
"""Reader settings that shape what an adapter was tuned to read: reading with others degrades it silently."""


def check_adapter_settings(config: ReaderConfig) -> list[str]:
    """Warn (and return the differences) when ``config`` reads passages otherwise than ``config.adapter`` was
    tuned on (its ``clinrag_reader.json``); an adapter without that file is not checked."""
    import json
    import warnings
    from pathlib import Path

    record_file = Path(config.adapter) / "clinrag_reader.json"
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    current = config.model_dump()
    record = {"mark_timepoints": False, **record}  # adapters tuned before timepoints were marked
    differences = [name for name in ADAPTER_VIEW_SETTINGS if name in record and record[name] != current[name]]
    if differences:
        warnings.warn(
            f"{config.adapter}: tuned with other reader settings ({', '.join(f'reader.{d}' for d in differences)} "
            f"differ from {record_file.name}); answers may degrade",
            stacklevel=3,
        )
    return differences


@register_reader("llm")
class LLMReader:
    """The retrieval-augmented reader (see the module docstring)."""

    needs_retrieval = True
    learns_from_table = True
    tunes_adapters = True
    """With ``training.reader: lora`` the run tunes LoRA adapters of its decoder (not the ``server`` reader's)."""

    def __init__(self, config: ReaderConfig | None = None, decoder: Decoder | None = None):
        self.config = config or ReaderConfig()
        self.decoder = decoder or self._make_decoder()
        self._mentions = MentionCache()
        self.priors: dict[str, Prior] = {}
        """Per variable, the cell its unmentioned train cells have (:mod:`clinrag.generation.priors`), used with
        ``reader.unmentioned: prior``; set by whoever learned them (the run, ``clinrag fill``)."""
        self.boolean_model: BooleanModel | None = None
        """Booleans read from their mentions' qualifiers (``reader.booleans: qualifiers``), learned likewise."""
        self.value_model: ValueModel | None = None
        """Integers, numbers and categories chosen among their candidates (``reader.values: candidates``,
        :mod:`clinrag.generation.candidates`), learned likewise."""
        if self.config.adapter:
            check_adapter_settings(self.config)

    def _make_decoder(self) -> Decoder | None:
        """The decoder ``config.model`` names (a subclass that reads otherwise returns None: the ``server``
        reader)."""
        return Decoder(self.config)

    def attach(self, cohort: Cohort, learned: Learned) -> None:
        """What the run learned from the train split's table (the cohort itself is not needed)."""
        self.priors, self.boolean_model = learned.priors, learned.boolean_model
        self.value_model = learned.value_model

    def messages(self, request: CellRequest) -> list[dict[str, str]]:
        """The chat messages for a cell."""
        passages = request.passages[: self.config.max_passages]
        mentions = self._mentions(request.variable, passages)
        var = request.variable
        values = None
        if var.type == "date":  # dates are shown resolved ("la veille" -> ISO), as answered
            values = [
                [(s, e, cell) for s, e, _, cell in stated_values(var, p.text, p.date)] for p in passages
            ]
        elif var.type in ("integer", "number") and self.config.mark_timepoints:
            # each value with the timepoint its clause names: «15|admission», «12|24 heures»
            values = [
                [(s, e, label or "") for s, e, _, _, label in values_with_timepoints(var, p.text, p.date)]
                for p in passages
            ]
        text = format_passages(
            passages,
            self.config.prompt,
            self.config.max_passage_chars,
            mentions,
            self.config.mark_mentions,
            values,
        )
        return build_messages(var, text, self.config.prompt)

    def choices(self, request: CellRequest) -> dict[str, str] | None:
        """``answer -> canonical cell`` the reader chooses from ("non documenté" included), or None for a
        free-form answer generated under a grammar.

        Booleans: their values. Categories: their values, or with ``grounded_categories`` those the passages
        name when they name some. Integers, numbers and dates with ``grounded``: the values written
        in the part of the passages the reader sees (an extractive reader: every value it gives is quoted in the
        evidence, or it abstains). Otherwise bounded integers: every value of the range."""
        var = request.variable
        if var.type == "category" and self.config.grounded_categories:
            return self._stated_categories(request)
        if not (self.config.grounded and var.type in ("integer", "number", "date")):
            return options(var, self.config.max_options)
        passages = request.passages[: self.config.max_passages]
        found: dict[str, str] = {}
        labels: dict[str, set[str | None]] = {}
        near: set[str] = set()
        for passage, mentions in zip(passages, self._mentions(var, passages), strict=True):
            begin, end = evidence_window(passage.text, mentions, self.config.max_passage_chars)
            window = passage.text[begin:end]
            terms = [(m.start - begin, m.end - begin) for m in mentions if not m.value]
            stated = values_with_timepoints(var, window, passage.date)
            announced = attached(window, terms, [(start, stop) for start, stop, *_ in stated])
            for (_, _, answer, cell, label), is_announced in zip(stated, announced, strict=True):
                found.setdefault(cell, answer)
                labels.setdefault(cell, set()).add(label)
                if is_announced:
                    near.add(cell)
        if self.config.timepoint_filter and var.type != "date":
            # a number next to the variable's term answers it ("NIHSS : 12"); others ("15 ans") only without one
            pool = {cell: cell_labels for cell, cell_labels in labels.items() if cell in near} or labels
            found = {cell: found[cell] for cell in timepoint_consistent(var, pool)}
        return {**{answer: cell for cell, answer in found.items()}, NOT_DOCUMENTED: ""}

    def decide(self, request: CellRequest) -> tuple[str, float, dict, Passage | None] | None:
        """A cell decided without the decoder, from what the train split's table taught: ``(cell, probability,
        provenance, supporting passage)``, or None when the decoder reads it. Integers, numbers and categories
        with ``reader.values: candidates`` (the values the passages state, weighed by
        :class:`~clinrag.generation.candidates.ValueModel`); booleans with ``reader.booleans: qualifiers`` (their
        mentions' qualifiers weighed by :class:`~clinrag.generation.priors.BooleanModel`); booleans and
        categories whose passages mention nothing, with ``reader.unmentioned: prior``. The supporting passage is
        None when :meth:`_decided` should find it."""
        var = request.variable
        if self.chooses_candidates(var):
            from clinrag.generation.candidates import candidates

            passages = request.candidates if request.candidates is not None else request.passages
            found = candidates(var, passages, self._mentions(var, passages), request.deceased)
            probabilities = self.value_model.probabilities(var.name, found)
            cell, score, chosen = self.value_model.choose(var.name, found, probabilities, request.deceased)
            extra: dict = {"answered_by": "candidates" if chosen else "fallback", "candidates": len(found)}
            if chosen is not None:
                best: dict[str, float] = {}
                for c, p in zip(found, probabilities, strict=True):
                    best[c.cell] = max(best.get(c.cell, 0.0), p)
                ranked = sorted(best.items(), key=lambda item: -item[1])
                extra["alternatives"] = [[c, round(p, 4)] for c, p in ranked[1:4]]
            return cell, score, extra, passages[chosen.passage] if chosen else None
        model = self.boolean_model
        if (
            var.type == "boolean"
            and self.config.booleans == "qualifiers"
            and model is not None
            and var.name in model.variables
        ):
            passages = request.passages[: self.config.max_passages]
            wide = request.candidates
            required = model.requirement(var)
            features = boolean_features(
                var,
                passages,
                self._mentions(var, passages),
                wide,
                self._mentions(var, wide) if wide else None,
                self._mentions(required, wide or passages, "requires") if required else None,
            )
            probabilities = model.probabilities(var.name, features)
            cell = max(probabilities, key=probabilities.get)
            return cell, probabilities[cell], {"answered_by": "qualifiers"}, None
        prior = self.unmentioned_prior(request)
        if prior is not None:
            return prior.cell, prior.share, {"answered_by": "prior", "prior": dataclasses.asdict(prior)}, None
        return None

    def chooses_candidates(self, var: Variable) -> bool:
        """Whether ``var`` is chosen among its candidates by the value model rather than read by the decoder."""
        model = self.value_model
        return var.type in candidate_types(self.config) and model is not None and var.name in model.variables

    def unmentioned_prior(self, request: CellRequest) -> Prior | None:
        """The variable's :class:`~clinrag.generation.priors.Prior` when the passages shown mention none of its
        terms or values and ``reader.unmentioned`` is ``prior``; else None (the decoder reads)."""
        var = request.variable
        prior = self.priors.get(var.name)
        if prior is None or self.config.unmentioned != "prior" or var.type not in PRIOR_TYPES:
            return None
        passages = request.passages[: self.config.max_passages]
        mentions = self._mentions(var, passages)
        return None if mentions_variable(var, passages, mentions, self.config.max_passage_chars) else prior

    def _stated_categories(self, request: CellRequest) -> dict[str, str] | None:
        """A category's options when the passages shown name some of its values (by value or synonym, in a
        mention that is not negated, hypothetical or about the family): those values and the abstention; every
        value when they name none."""
        var = request.variable
        every = options(var, self.config.max_options)
        passages = request.passages[: self.config.max_passages]
        stated: set[str] = set()
        for passage, mentions in zip(passages, self._mentions(var, passages), strict=True):
            begin, end = evidence_window(passage.text, mentions, self.config.max_passage_chars)
            stated.update(
                m.value for m in mentions if m.value and m.affirmed and begin <= m.start and m.end <= end
            )
        if not stated or every is None:
            return every
        return {answer: cell for answer, cell in every.items() if cell in stated or cell == ""}

    def read(self, requests: list[CellRequest], progress: bool = False) -> list[CellResult]:
        """Fill the requested cells (option scoring one cell at a time; generation in batches)."""
        results: dict[int, CellResult] = {}
        free: list[int] = []
        iterator = enumerate(requests)
        from clinrag.progress import bars_allowed

        if bars_allowed(progress):  # none inside clinrag.progress.quiet()
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, total=len(requests), desc="reading", unit="cell")
        for index, request in iterator:
            decided = self.decide(request)
            if decided is not None:
                results[index] = self._decided(request, *decided)
                continue
            choices = self.choices(request)
            if choices is None:
                free.append(index)
                continue
            start = time.perf_counter()
            ids = self.decoder.prompt_ids(self.messages(request))
            scored = self.decoder.score_options(self.decoder.encode(ids), list(choices))
            raw = list(choices)[scored.best]
            results[index] = self._finish(
                request, raw, scored.probability, len(ids), time.perf_counter() - start
            )
        for begin in range(0, len(free), self.config.batch_size):
            group = free[begin : begin + self.config.batch_size]
            by_regex: dict[str, list[int]] = {}
            for index in group:
                by_regex.setdefault(answer_regex(requests[index].variable), []).append(index)
            for regex, members in by_regex.items():
                start = time.perf_counter()
                prompts = [self.decoder.prompt_ids(self.messages(requests[i])) for i in members]
                answers = self.decoder.generate(prompts, regex)
                elapsed = (time.perf_counter() - start) / len(members)
                for index, ids, (raw, score) in zip(members, prompts, answers, strict=True):
                    results[index] = self._finish(requests[index], raw, score, len(ids), elapsed)
        return [results[i] for i in range(len(requests))]

    def _finish(
        self, request: CellRequest, raw: str, score: float, tokens: int, seconds: float
    ) -> CellResult:
        var = request.variable
        answer = parse_answer(var, raw)
        passages = request.passages[: self.config.max_passages]
        support = None
        if answer.cell and not answer.failed:
            support = supporting_passage(var, answer.cell, passages, self._mentions(var, passages))
        return CellResult(
            request.patient_id, var.name, answer.cell, raw, answer.failed, score, support, tokens, seconds
        )

    def _decided(
        self, request: CellRequest, cell: str, score: float, extra: dict, support: Passage | None = None
    ) -> CellResult:
        """The result of a cell :meth:`decide` answered: supported by ``support``, else by the best-ranked passage
        that states it (none for a prior or a fallback, or when no passage states it)."""
        var = request.variable
        every = options(var, self.config.max_options) or {}
        raw = next((answer for answer, value in every.items() if value == cell), cell or NOT_DOCUMENTED)
        if support is None and cell and extra["answered_by"] not in ("prior", "fallback"):
            passages = request.passages[: self.config.max_passages]
            mentions = self._mentions(var, passages)
            support = next(
                (p for p, m in zip(passages, mentions, strict=True) if states_value(var, cell, p, m)), None
            )
        return CellResult(request.patient_id, var.name, cell, raw, None, score, support, 0, 0.0, extra)


@register_reader("full_record")
class FullRecordReader:
    """The full-record baseline (see the module docstring)."""

    needs_retrieval = False
    learns_from_table = False

    def __init__(self, config: ReaderConfig | None = None, decoder: Decoder | None = None):
        self.config = config or ReaderConfig(type="full_record")
        self.decoder = decoder or Decoder(self.config)
        self.cohort: Cohort | None = None

    def attach(self, cohort: Cohort, learned: Learned) -> None:
        """The cohort whose records are read (nothing learned from the table is used)."""
        self.cohort = cohort

    def read(self, requests: list[CellRequest], progress: bool = False) -> list[CellResult]:
        """Each requested patient's record read once for all of that patient's requested variables."""
        if self.cohort is None:
            raise ValueError("the full-record reader reads the attached cohort: call attach() first")
        patients: dict[str, list[Variable]] = {}
        for request in requests:
            patients.setdefault(request.patient_id, []).append(request.variable)
        iterator = patients.items()
        from clinrag.progress import bars_allowed

        if bars_allowed(progress):  # none inside clinrag.progress.quiet()
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, total=len(patients), desc="reading records", unit="patient")
        found = {}
        for pid, variables in iterator:
            for result in self.read_patient(self.cohort, pid, variables):
                found[(pid, result.variable)] = result
        return [found[(r.patient_id, r.variable.name)] for r in requests]

    def chunks(self, cohort: Cohort, patient_id: str) -> list[tuple[str, list[Passage]]]:
        """The patient's record as text chunks of at most ``context_tokens`` tokens, documents in date order; each
        chunk with its documents as whole-document passages (for provenance)."""
        tokenizer = self.decoder.tokenizer
        chunks: list[tuple[str, list[Passage]]] = []
        text, docs, used = "", [], 0
        for doc in cohort.documents_of(patient_id):
            block = f"=== {doc.date_str[:10]} — {doc.doc_type} ===\n{doc.text.strip()}\n"
            size = len(tokenizer(block, add_special_tokens=False)["input_ids"])
            if used and used + size > self.config.context_tokens:
                chunks.append((text, docs))
                text, docs, used = "", [], 0
            # a document longer than the window is cut into window-sized pieces
            while size > self.config.context_tokens:
                cut = int(len(block) * self.config.context_tokens / size)
                chunks.append((block[:cut], [_whole(doc, patient_id)]))
                block = block[cut:]
                size = len(tokenizer(block, add_special_tokens=False)["input_ids"])
            text += block
            docs.append(_whole(doc, patient_id))
            used += size
        if text:
            chunks.append((text, docs))
        return chunks

    def read_patient(self, cohort: Cohort, patient_id: str, variables: list[Variable]) -> list[CellResult]:
        """Fill every variable of one patient from the whole record."""
        best: dict[str, dict] = {}
        tokens = dict.fromkeys((v.name for v in variables), 0)
        seconds = dict.fromkeys((v.name for v in variables), 0.0)
        for chunk, docs in self.chunks(cohort, patient_id):
            state = None  # the record's tokens are encoded once per chunk and shared by every question
            for var in variables:
                start = time.perf_counter()
                messages = build_messages(var, "(voir le dossier ci-dessus)", self.config.prompt)
                messages[1]["content"] = f"Dossier du patient :\n{chunk}\n\n" + messages[1]["content"]
                ids = self.decoder.prompt_ids(messages)
                state = self.decoder.encode(ids, state)
                choices = options(var, self.config.max_options)
                if choices is not None:
                    scored = self.decoder.score_options(state, list(choices))
                    raw, score = list(choices)[scored.best], scored.probability
                else:
                    raw, score = self.decoder.generate([ids], answer_regex(var))[0]
                tokens[var.name] += len(ids)
                seconds[var.name] += time.perf_counter() - start
                answer = parse_answer(var, raw)
                documented = bool(answer.cell) and not answer.failed
                # a documented answer beats "not documented"; between equals, the more probable one wins
                candidate = {"key": (documented, score), "answer": answer, "score": score, "docs": docs}
                if var.name not in best or candidate["key"] > best[var.name]["key"]:
                    best[var.name] = candidate
        results = []
        for var in variables:
            chosen = best[var.name]
            answer = chosen["answer"]
            support = None
            if answer.cell and not answer.failed:
                docs = chosen["docs"]
                found = [a.mentions for a in Annotator([var]).annotate_texts([d.text for d in docs])]
                support = next(
                    (d for d, m in zip(docs, found, strict=True) if states_value(var, answer.cell, d, m)),
                    None,
                )
            cell = "" if answer.failed else answer.cell
            results.append(
                CellResult(
                    patient_id,
                    var.name,
                    cell,
                    answer.raw,
                    answer.failed,
                    chosen["score"],
                    support,
                    tokens[var.name],
                    seconds[var.name],
                )
            )
        return results


def _whole(doc, patient_id: str) -> Passage:
    return Passage(patient_id, doc.doc_id, 0, len(doc.text), doc.text, doc.date_str, doc.doc_type, "", 0, 0.0)
