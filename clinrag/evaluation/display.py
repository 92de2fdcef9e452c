"""Readable terminal output of the commands: metrics tables (table filling, retrieval, identifier detection) and
retrieved passages with the variable's terms highlighted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from clinrag.retrieval.pipeline import PassageSearch

_TYPE_METRICS = {
    "integer": ("mae", "within1"),
    "number": ("mae",),
    "boolean": ("sensitivity", "specificity"),
    "category": ("macro_f1",),
}


def _fmt(value: float | None, ci: list[float] | None = None) -> str:
    if value is None:
        return "—"
    text = f"{value:.3f}"
    if ci:
        text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return text


def metrics_table(metrics: dict[str, Any], title: str = "") -> Table:
    """A rich table: one row per variable (accuracy with its interval, type-specific metrics), then overall."""
    table = Table(
        title=title or f"Table metrics — split {metrics['split']}, 95% bootstrap intervals over patients"
    )
    table.add_column("variable")
    table.add_column("type")
    table.add_column("n", justify="right")
    table.add_column("accuracy [95% CI]", justify="right")
    table.add_column("other metrics")
    table.add_column("abstentions (false / values on empty)", justify="right")
    for name, result in metrics["variables"].items():
        extra = ", ".join(f"{m} {_fmt(result.get(m))}" for m in _TYPE_METRICS.get(result["type"], ()))
        table.add_row(
            name,
            result["type"],
            str(result["n"]),
            _fmt(result["accuracy"], result.get("accuracy_ci")),
            extra,
            f"{result['false_abstentions']} / {result['false_values']}",
        )
    overall = metrics["overall"]
    table.add_section()
    table.add_row(
        "overall (cells)",
        "",
        str(overall["n"]),
        _fmt(overall["accuracy"], overall.get("accuracy_ci")),
        f"{overall['n_patients']} patients, mean of variables {_fmt(overall['mean_variable_accuracy'])}",
        "",
    )
    return table


def retrieval_table(metrics: dict[str, Any]) -> Table:
    """A rich table of :func:`~clinrag.retrieval.pipeline.evaluate_retrieval`'s metrics: one row per variable, then
    overall; recall@k (each k measured) and MRR with their intervals."""
    table = Table(
        title=f"Retrieval ({metrics['retriever']['type']}) — split {metrics['split']}, "
        "95% bootstrap intervals over patients"
    )
    overall = metrics["overall"]
    columns = [c for c in overall if c.startswith("recall@") and not c.endswith("_ci")] + ["mrr"]
    table.add_column("variable")
    table.add_column("n", justify="right")
    for column in columns:
        table.add_column(column, justify="right")
    for name, result in [*metrics["variables"].items(), ("overall", overall)]:
        table.add_row(
            name,
            str(result["n"]),
            *(f"{result[c]:.3f} [{result[c + '_ci'][0]:.2f}, {result[c + '_ci'][1]:.2f}]" for c in columns),
        )
    return table


def detection_table(metrics: dict[str, Any]) -> Table:
    """A rich table of :func:`~clinrag.pseudo.evaluate.evaluate_detector`'s metrics: one row per label found in the
    gold or the predictions, then micro averages; entity and token precision, recall and F1, redact, support."""
    table = Table(title=f"detector {metrics['detector']}, on {metrics['texts']} texts")
    table.add_column("label")
    for column in ("entity P", "entity R", "entity F1", "token P", "token R", "token F1", "redact", "n"):
        table.add_column(column, justify="right")
    entity, token = metrics["entity"], metrics["token"]
    rows = [
        (label, entity["per_label"][label], token["per_label"][label], metrics["redact_per_label"][label])
        for label in entity["per_label"]
    ]
    rows.append(("micro", entity["micro"], token["micro"], metrics["redact"]))
    for label, ent, tok, redact in rows:
        if not ent["support"] and not ent["predicted"]:
            continue
        table.add_row(
            label, *(_fmt(ent[k]) for k in ("precision", "recall", "f1")),
            *(_fmt(tok[k]) for k in ("precision", "recall", "f1")), _fmt(redact), str(ent["support"]),
        )  # fmt: skip
    return table


def detection_summary(metrics: dict[str, Any]) -> str:
    """One line under :func:`detection_table`: redact, redact full, redact precision, and the share of protected
    clinical terms (and of gold evidence, when measured) left intact."""
    intact = metrics["protected_intact"]
    line = (
        f"redact {_fmt(metrics['redact'])}, redact full {_fmt(metrics['redact_full'])}, "
        f"redact precision {_fmt(metrics['redact_precision'])}, protected terms intact {_fmt(intact['share'])} "
        f"(n={intact['n']})"
    )
    if "evidence_intact" in metrics:
        evidence = metrics["evidence_intact"]
        line += f", gold evidence intact {_fmt(evidence['share'])} (n={evidence['n']})"
    return line


def passages_markup(search: PassageSearch) -> list[str]:
    """Lines of rich markup showing :func:`~clinrag.retrieval.pipeline.search_passages`' result: a header (patient,
    variable, retriever, table value), then each passage's rank, score, date, document and span, and its text
    with the variable's terms in bold yellow. Document text is escaped: it is never read as markup."""
    variable = search.variable
    lines = [
        f"[bold]{escape(search.patient)} — {escape(variable.name)}[/bold] ({escape(variable.description)}); "
        f"retriever {search.retriever}"
        + (
            f"; table value: {escape(search.table_value) or 'not documented'}"
            if search.table_value is not None
            else ""
        )
    ]
    for shown in search.passages:
        passage, text, cursor, pieces = shown.passage, shown.passage.text, 0, []
        for start, end in shown.mentions:
            pieces.append(escape(text[cursor:start]))
            pieces.append(f"[bold yellow]{escape(text[start:end])}[/bold yellow]")
            cursor = end
        pieces.append(escape(text[cursor:]))
        section = f", {passage.section}" if passage.section else ""
        lines.append(
            f"\n[bold]#{shown.hit.rank}[/bold] score {shown.hit.score:.3f} — {passage.date} "
            f"{escape(passage.doc_type)}{escape(section)} — {escape(passage.doc_id)} [{passage.start}:{passage.end}]"
        )
        lines.append("".join(pieces))
    return lines
