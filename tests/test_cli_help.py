"""Every command's --help reads well: flags without a type, choices listed as [a|b|c], `clinrag --version`, and
a -q on every command that runs long work."""

from __future__ import annotations

import enum
import typing
from importlib.metadata import version

import pytest
import typer

from clinrag.cli import app

# the commands that run long work (minutes on a real cohort): each takes -q / --quiet
LONG_COMMANDS = [
    "index",
    "train-retriever",
    "evaluate-retrieval",
    "train-reader",
    "extract",
    "run",
    "grid",
    "merge",
    "fill",
    "train-pseudo",
    "train-sections",
    "pseudonymize",
    "evaluate-pseudo",
    "annotate",
    "train-entities",
]


def _commands(command, path=()):
    """Every command path of the click group (``models prepare`` and ``models list`` included), with the
    command."""
    yield path, command
    for name in getattr(command, "commands", {}):
        yield from _commands(command.commands[name], (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT))


def _choices(command) -> dict[str, list[str]]:
    """``--option -> its values`` for each option whose annotation is an Enum (what typer lists as choices)."""
    if command.callback is None:
        return {}
    hints = typing.get_type_hints(command.callback)
    found = {}
    for param in command.params:
        kinds = typing.get_args(hints.get(param.name)) or (hints.get(param.name),)
        kind = next((k for k in kinds if isinstance(k, type) and issubclass(k, enum.Enum)), None)
        if kind is not None and param.param_type_name == "option":
            long = next(o for o in param.opts if o.startswith("--"))
            found[long] = [member.value for member in kind]
    return found


def _option_line(help_text: str, option: str) -> str:
    return next(line for line in help_text.splitlines() if f" {option} " in line)


def test_the_command_tree_has_the_expected_commands():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"explain", "models prepare", "models list", *LONG_COMMANDS} <= paths


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "clinrag")
def test_help_shows_flags_bare_and_choices_listed(path, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per option: each checked on its own line
    command = dict(COMMANDS)[path]
    result = run_cli(*path, "--help")
    assert result.code == 0 and result.stderr == ""
    assert "Usage: clinrag" in result.stdout
    assert "<bool>" not in result.stdout
    assert "<" not in _option_line(result.stdout, "--help")
    for option, values in _choices(command).items():
        assert f"[{'|'.join(values)}]" in _option_line(result.stdout, option)
    assert "list[" not in "\n".join(
        line for line in result.stdout.splitlines() if line.lstrip("│ *").startswith("--")
    ), "a repeatable option shows one value's type"


def test_every_choice_option_is_checked():
    """The test above is not vacuous: the commands with fixed choices are found."""
    with_choices = {" ".join(path) for path, command in COMMANDS if _choices(command)}
    assert {"evaluate", "baseline", "extract", "fill", "train-retriever", "pseudonymize"} <= with_choices


@pytest.mark.parametrize("name", LONG_COMMANDS)
def test_long_commands_take_quiet(name, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli(name, "--help")
    line = _option_line(result.stdout, "--quiet")
    assert "-q" in line and "No progress bars" in line


def test_retrieve_k_is_a_short_option(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli("retrieve", "--help")
    line = next(line for line in result.stdout.splitlines() if " -k " in line)
    assert "--k" not in line and "Passages to show" in line


def test_version(run_cli):
    result = run_cli("--version")
    assert result.code == 0 and result.stderr == ""
    assert result.stdout == f"clinrag {version('clinrag')}\n"
