"""Readable terminal tables of metrics."""

from __future__ import annotations

from typing import Any

from rich.table import Table

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
