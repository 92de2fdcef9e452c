"""Paraphrase by a local decoder, for :mod:`clinrag.encoders.augment` (``method: llm``): the text is rewritten by
sampling (temperature 0.7, top-p 0.9, seeded), the prompt asking for the labelled strings to be copied unchanged.
Whether they were is the augmenter's check (:func:`~clinrag.encoders.augment.located`), not the decoder's word."""

from __future__ import annotations

from typing import Any


class Paraphraser:
    """A local decoder that rewrites labelled texts (:class:`~clinrag.encoders.augment.Labelled`), asked to copy
    their labelled strings unchanged; loaded once.

    Args:
        decoder: ``embedded:smollm2-135m-instruct`` or a local folder (a 7B instruct model on a server).
        max_new_tokens: The longest paraphrase.
        device: torch device.

    Raises:
        ClinragError: The decoder folder is missing or does not load.
    """

    def __init__(self, decoder: str, max_new_tokens: int = 256, device: str = "cpu"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from clinrag.generation.decoder import resolve_decoder_path

        folder = resolve_decoder_path(decoder)
        self.max_new_tokens = max_new_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = (
            AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        )
        self.device = device
        self._torch = torch

    def __call__(self, example: Any, seed: int) -> str:
        """A sampled paraphrase of ``example``'s text (seeded)."""
        torch = self._torch
        keep = "; ".join(f"« {s} »" for s in dict.fromkeys(example.strings()))
        messages = [
            {"role": "system", "content": "Tu réécris des extraits de dossiers médicaux en français."},
            {
                "role": "user",
                "content": "Réécris ce texte avec d'autres mots, sans rien ajouter ni retirer"
                + (f", en recopiant exactement : {keep}" if keep else "")
                + ". Réponds par le texte seul.\n\n"
                + example.text,
            },
        ]
        if getattr(self.tokenizer, "chat_template", None):
            prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            prompt = "\n\n".join(m["content"] for m in messages) + "\n\n"
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        torch.manual_seed(seed)
        with torch.no_grad():
            out = self.model.generate(
                **ids,
                max_new_tokens=min(
                    self.max_new_tokens, 16 + 2 * len(self.tokenizer(example.text)["input_ids"])
                ),
                do_sample=True,
                temperature=0.7,
                top_p=0.9,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
