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
        from clinrag.generation.config import ReaderConfig
        from clinrag.generation.decoder import Decoder

        self.decoder = Decoder(ReaderConfig(model=decoder, device=device))
        self.max_new_tokens = max_new_tokens

    def __call__(self, example: Any, seed: int) -> str:
        """A sampled paraphrase of ``example``'s text (seeded)."""
        import torch

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
        tokenizer = self.decoder.tokenizer
        ids = torch.tensor([self.decoder.prompt_ids(messages)], device=self.decoder.device)
        torch.manual_seed(seed)
        with torch.no_grad():
            out = self.decoder.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=min(self.max_new_tokens, 16 + 2 * len(tokenizer(example.text)["input_ids"])),
                do_sample=True,
                temperature=0.7,
                top_p=0.9,
                pad_token_id=tokenizer.pad_token_id,
            )
        return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
