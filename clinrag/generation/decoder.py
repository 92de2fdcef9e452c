"""A decoder-only LM from a local folder: prompts, option scoring with a shared KV cache, and
grammar-constrained generation (xgrammar).

Option scoring: the prompt is encoded once; each allowed answer (plus the end-of-turn token, so that "1" is not
mistaken for a prefix of "12") is scored in batches on copies of the prompt's cache. The answer is the option with
the highest log-likelihood; its probability among the options is its score.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clinrag.errors import ClinragError
from clinrag.generation.config import ReaderConfig
from clinrag.models import (
    EMBEDDED_PREFIX,
    prepare_embedded_decoder,
    require_adapter_folder,
    require_model_folder,
    resolve_model_path,
)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_decoder_path(spec: str) -> Path:
    """A decoder folder: ``embedded:smollm2-135m-instruct`` (converted on first use) or a local folder.

    Raises:
        ClinragError: The folder is missing or is not a model folder that loads
            (:func:`~clinrag.models.require_model_folder`).
    """
    if spec == f"{EMBEDDED_PREFIX}smollm2-135m-instruct":
        return prepare_embedded_decoder()
    return require_model_folder(resolve_model_path(spec), "decoder", decoder=True)


@dataclass
class Scored:
    """Log-likelihood of each option and the winner's probability among them."""

    logprobs: np.ndarray
    best: int
    probability: float


class Decoder:
    """A causal LM and its tokenizer, optionally with a LoRA adapter (peft)."""

    def __init__(self, config: ReaderConfig, model: Any = None, tokenizer: Any = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self.device = torch.device(config.device)
        if model is None:
            folder = resolve_decoder_path(config.model)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                str(folder), dtype=_DTYPES[config.dtype], local_files_only=True
            )
            self.folder = folder
        else:
            self.folder = None
        if config.adapter:
            from peft import PeftModel

            adapter = require_adapter_folder(config.adapter, "reader.adapter")
            model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.model = model.to(self.device).eval()
        self.end_id = self._end_of_answer_id()
        self._grammars: dict[str, Any] = {}

    # ---- prompts -----------------------------------------------------------------------------------------
    def _end_of_answer_id(self) -> int:
        """The token that closes an assistant turn (``<|im_end|>`` for SmolLM2), else EOS."""
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ClinragError("the decoder's tokenizer has no end-of-sequence token")
        return int(eos)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat prompt, ready for the assistant's answer."""
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            return list(ids)
        text = "\n\n".join(m["content"] for m in messages) + "\nRéponse : "
        return self.tokenizer(text, add_special_tokens=True)["input_ids"]

    def answer_ids(self, answer: str) -> list[int]:
        """Token ids of an answer followed by the end-of-answer token (how training targets are written too)."""
        return self.tokenizer(answer, add_special_tokens=False)["input_ids"] + [self.end_id]

    # ---- option scoring ----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(
        self, ids: list[int], state: tuple[list[int], Any, torch.Tensor] | None = None
    ) -> tuple[list[int], Any, torch.Tensor]:
        """Run the model over ``ids``; reuse ``state`` (a previous encode) for their longest common prefix."""
        start = 0
        cache = None
        if state is not None:
            old_ids, old_cache, _ = state
            common = 0
            for a, b in zip(old_ids, ids, strict=False):
                if a != b:
                    break
                common += 1
            common = min(common, len(ids) - 1)  # at least one new token, to get fresh last logits
            if common > 0:
                cache = copy.deepcopy(old_cache)
                if common < len(old_ids):
                    cache.crop(common - len(old_ids))  # transformers 5: a negative count of tokens to drop
                start = common
        inputs = torch.tensor([ids[start:]], device=self.device)
        out = self.model(input_ids=inputs, past_key_values=cache, use_cache=True)
        return ids, out.past_key_values, out.logits[0, -1].float()

    @torch.no_grad()
    def score_options(self, state: tuple[list[int], Any, torch.Tensor], answers: list[str]) -> Scored:
        """Log-likelihood of each answer (its tokens and the end-of-answer token) after the encoded prompt."""
        ids, cache, last_logits = state
        first_logprobs = torch.log_softmax(last_logits, dim=-1)
        tokenized = [self.answer_ids(a) for a in answers]
        totals = np.zeros(len(answers))
        for i, toks in enumerate(tokenized):
            totals[i] = float(first_logprobs[toks[0]])
        batch = self.config.batch_size
        for begin in range(0, len(answers), batch):
            group = list(range(begin, min(len(answers), begin + batch)))
            longest = max(len(tokenized[i]) - 1 for i in group)
            if longest == 0:
                continue
            pad = self.tokenizer.pad_token_id
            inputs = torch.full((len(group), longest), pad, dtype=torch.long, device=self.device)
            mask = torch.zeros((len(group), len(ids) + longest), dtype=torch.long, device=self.device)
            mask[:, : len(ids)] = 1
            for row, i in enumerate(group):
                rest = tokenized[i][:-1]
                if rest:
                    inputs[row, : len(rest)] = torch.tensor(rest)
                    mask[row, len(ids) : len(ids) + len(rest)] = 1
            group_cache = copy.deepcopy(cache)
            group_cache.batch_repeat_interleave(len(group))
            positions = (
                torch.arange(len(ids), len(ids) + longest, device=self.device)
                .unsqueeze(0)
                .expand(len(group), -1)
            )
            out = self.model(
                input_ids=inputs,
                attention_mask=mask,
                past_key_values=group_cache,
                position_ids=positions,
                use_cache=True,
            )
            logprobs = torch.log_softmax(out.logits.float(), dim=-1)
            for row, i in enumerate(group):
                targets = tokenized[i][1:]
                for step, token in enumerate(targets):
                    totals[i] += float(logprobs[row, step, token])
        best = int(np.argmax(totals))
        probabilities = np.exp(totals - totals.max())
        probabilities /= probabilities.sum()
        return Scored(totals, best, float(probabilities[best]))

    # ---- constrained generation --------------------------------------------------------------------------
    def _compiled(self, regex: str):
        if regex not in self._grammars:
            try:
                import xgrammar as xgr
            except ImportError as err:
                raise ClinragError(
                    "free-form answers need xgrammar: `pip install --no-deps xgrammar apache-tvm-ffi`"
                ) from err
            if "info" not in self._grammars:
                vocab = getattr(self.model.config, "vocab_size", None) or len(self.tokenizer)
                info = xgr.TokenizerInfo.from_huggingface(
                    self.tokenizer, vocab_size=vocab, stop_token_ids=[self.end_id]
                )
                self._grammars["info"] = xgr.GrammarCompiler(info)
            self._grammars[regex] = self._grammars["info"].compile_regex(regex)
        return self._grammars[regex]

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], regex: str) -> list[tuple[str, float]]:
        """Greedy answers under a regular-expression grammar, batched with left padding: (text, mean token
        probability)."""
        import xgrammar as xgr

        results: list[tuple[str, float]] = []
        for begin in range(0, len(prompts), self.config.batch_size):
            group = prompts[begin : begin + self.config.batch_size]
            width = max(len(p) for p in group)
            pad = self.tokenizer.pad_token_id
            inputs = torch.tensor([[pad] * (width - len(p)) + p for p in group], device=self.device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in group], device=self.device)
            processor = xgr.contrib.hf.LogitsProcessor(self._compiled(regex))
            out = self.model.generate(
                input_ids=inputs,
                attention_mask=mask,
                max_new_tokens=self.config.max_new_tokens,
                do_sample=False,
                logits_processor=[processor],
                eos_token_id=self.end_id,
                pad_token_id=pad,
                output_scores=True,
                return_dict_in_generate=True,
            )
            new = out.sequences[:, width:]
            scores = torch.stack(out.scores, dim=1).float() if out.scores else None
            for row in range(len(group)):
                tokens = new[row].tolist()
                kept = []
                logprob = 0.0
                for step, token in enumerate(tokens):
                    if token in (self.end_id, pad):
                        break
                    kept.append(token)
                    if scores is not None:
                        logprob += float(torch.log_softmax(scores[row, step], dim=-1)[token])
                text = self.tokenizer.decode(kept, skip_special_tokens=True)
                results.append((text, float(np.exp(logprob / max(1, len(kept))))))
        return results
