"""French prompts from the variable spec and the retrieved passages (templates in :class:`PromptConfig`)."""

from __future__ import annotations

from clinrag.data.variables import Variable
from clinrag.generation.config import PromptConfig
from clinrag.generation.constraints import NOT_DOCUMENTED, answer_format
from clinrag.text.passages import Passage


def format_passages(passages: list[Passage], config: PromptConfig, max_chars: int) -> str:
    """The passages, oldest first, each with its date, document type and section."""
    ordered = sorted(passages, key=lambda p: (p.date, p.doc_id, p.start))
    lines = []
    for number, passage in enumerate(ordered, start=1):
        text = " ".join(passage.text.split())
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        section = f" ({passage.section})" if passage.section else ""
        lines.append(
            config.passage.format(
                number=number, date=passage.date[:10], doc_type=passage.doc_type, section=section, text=text
            )
        )
    return "\n".join(lines) if lines else f"(aucun extrait : répondre « {NOT_DOCUMENTED} »)"


def build_messages(var: Variable, passages_text: str, config: PromptConfig) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for ``var`` given the formatted passages."""
    user = config.question.format(
        name=var.name,
        description=var.description,
        timepoint=f" (moment : {var.timepoint})" if var.timepoint else "",
        answer_format=answer_format(var) + f", ou « {NOT_DOCUMENTED} »",
        passages=passages_text,
    )
    return [{"role": "system", "content": config.system}, {"role": "user", "content": user}]
