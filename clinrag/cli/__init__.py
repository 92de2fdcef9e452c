"""The ``clinrag`` command line: thin typed commands, the logic lives in the library.

One module per family of commands; each registers its commands on the app of ``_app`` when imported, in the
order ``clinrag --help`` lists them.

Every command parses its options, calls one library function and prints its result. It exits 0 on success and
2 with a one-line reason on bad input (no traceback for a user's mistake), a mistake in the command line itself
included; input with several defects (a cohort, a config) gets one line each, the first few and how many more.
Logs and messages never print document text or identifiers.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys

import typer

from clinrag.cli._app import (
    BaselineMethod,
    EntitySource,
    Patients,
    PseudoMode,
    Split,
    TrainableRetriever,
    app,
    err,
)
from clinrag.errors import ClinragError

# Each module registers its commands when imported, in this order (the order `clinrag --help` lists them).
COMMAND_MODULES = (
    "importing",
    "cohort",
    "scoring",
    "retrieval",
    "generation",
    "experiments",
    "explain",
    "pseudo",
    "annotation",
    "models",
)
for _module in COMMAND_MODULES:
    importlib.import_module(f"clinrag.cli.{_module}")

__all__ = [
    "BaselineMethod",
    "EntitySource",
    "Patients",
    "PseudoMode",
    "Split",
    "TrainableRetriever",
    "app",
    "main",
]


# click's UsageError, the base of every mistake in the command line itself (a missing or unknown option, a bad
# value): typer's public BadParameter derives from it, which reaches it whether typer vendors click or not.
_UsageError: type[Exception] = typer.BadParameter.__base__
# how click and typer word a value outside an option's choices: 'x' is not one of 'train', 'dev', 'test', 'all'.
_NOT_A_CHOICE = re.compile(r"(?P<value>'[^']*'|\"[^\"]*\") is not (?:one of )?(?P<choices>'.*')\.$")


def _usage_line(error: Exception) -> str:
    """One line for a mistake in the command line: the option and what is wrong with it (for a value outside
    the choices, the choices), or click's message and where the options are listed."""
    param = getattr(error, "param", None)
    if isinstance(error, typer.BadParameter) and error.message and param is not None:
        opts = getattr(param, "opts", None) or [param.name]
        name = next((o for o in opts if o.startswith("--")), opts[0])
        message = error.message.removeprefix("Value error, ")
        found = _NOT_A_CHOICE.search(message)
        if found:
            choices = ast.literal_eval(f"[{found['choices']}]")
            return f"{name}: invalid choice {found['value']} (choose from {', '.join(choices)})"
        return f"{name}: {message}"
    ctx = getattr(error, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"{error.format_message().rstrip('.')}{where}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line on stderr and exit status 2.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    try:
        # not standalone: typer returns the exit status and raises command-line mistakes instead of printing
        # them in a box
        status = app(args=argv, prog_name="clinrag", standalone_mode=False)
    except _UsageError as error:
        if type(error).__name__ != "NoArgsIsHelpError":  # that one is the help, already printed
            err.print(f"error: {_usage_line(error)}", markup=False, soft_wrap=True)
        sys.exit(2)
    except ClinragError as error:
        messages, left_out = error.displayed()
        for message in messages:
            err.print(f"error: {message}", markup=False, soft_wrap=True)
        if left_out is not None:
            err.print(left_out, markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
    if isinstance(status, int) and status:
        sys.exit(status)


if __name__ == "__main__":
    main()
