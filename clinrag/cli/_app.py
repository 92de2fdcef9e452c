"""What every command module shares: the typer app, the consoles, the fixed choices and the settings builders."""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from clinrag.data.cohort import cohort_inputs  # noqa: F401  (the commands' output checks)

# ---------------------------------------------------------------------------------------------------------
# Readable --help. typer >= 0.2x (which vendors its own click) prints a type column for every option: flags
# included (`--quiet -q <bool>`, `--help <bool>`: its rich panel does not skip flags, its plain formatter does),
# choices as `<train|dev|test|all>`, repeatable options as `<list[str]>`. The help of clinrag's commands shows
# flags bare, choices as [train|dev|test|all] and a repeatable option's value as one value (`--set <str>`, its
# help says "repeatable"). An option that sets its own metavar keeps it; an older typer, which prints metavars
# itself, is left alone.
# ---------------------------------------------------------------------------------------------------------
_TYPE_LABEL = re.compile(r"<(?P<label>.*)>")
_LIST_LABEL = re.compile(r"list\[(?P<item>.*)\]")


def readable_metavar(param: Any, ctx: Any) -> None:
    """Give an option of typer's ``<type>`` help the metavar its help should show (see above)."""
    if getattr(param, "param_type_name", "") != "option" or param.metavar is not None:
        return
    if not hasattr(param, "display_type") or not hasattr(param, "type_descriptor"):
        return  # a typer that prints metavars the click way
    if param.is_flag or param.count:
        param.metavar = ""
        return
    found = _TYPE_LABEL.fullmatch(param.display_type(ctx) or "")
    if found is None:
        return
    label = found["label"]
    if param.type_descriptor.is_choice:
        param.metavar = f"[{label}]"
    elif (item := _LIST_LABEL.fullmatch(label)) is not None:
        param.metavar = f"<{item['item']}>"


class _ReadableHelp:
    """Mixin of clinrag's commands and groups: their options' help as :func:`readable_metavar` gives it."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            readable_metavar(param, ctx)
        return params


class ClinragCommand(_ReadableHelp, TyperCommand):
    """A clinrag command (readable help)."""


class ClinragGroup(_ReadableHelp, TyperGroup):
    """A group of clinrag commands (readable help)."""


class ClinragTyper(typer.Typer):
    """A typer app whose commands are :class:`ClinragCommand` (a command may still name its own ``cls``)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("cls", ClinragGroup)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any):
        return super().command(name, cls=cls or ClinragCommand, **kwargs)


app = ClinragTyper(
    help="clinrag: fill a clinical registry table from French hospital documents, every value with its evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = ClinragTyper(help="Embedded default models and local model folders.", no_args_is_help=True)
app.add_typer(models_app, name="models")

# Piped output (CI logs, files) gets wide lines instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def clinrag_version() -> str:
    """The installed clinrag's version (its package metadata), else the source tree's ``__version__``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clinrag")
    except PackageNotFoundError:
        import clinrag

        return clinrag.__version__


def _print_version(value: bool) -> None:
    if value:
        out.print(f"clinrag {clinrag_version()}", markup=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", help="Print clinrag's version and exit.", callback=_print_version, is_eager=True
    ),
) -> None:
    """Options of ``clinrag`` itself, before any command (``--version``)."""


def _enter_quiet(ctx: typer.Context, value: bool) -> bool:
    """``-q``: open a :func:`clinrag.progress.quiet` block for the rest of the command (closed with it)."""
    if value:
        from clinrag.progress import quiet

        ctx.with_resource(quiet())
    return value


WITH_TEXT_OPTION = typer.Option(
    False,
    "--with-text",
    help="Embed patient text (cited documents, quotes, raw answers) in report.html; without it the report shows "
    "offsets and a masked view of each passage. Changes no other output.",
)
"""``--with-text`` of the commands that write a report.html (run, grid, fill)."""


QUIET_OPTION = typer.Option(
    False,
    "--quiet",
    "-q",
    help="No progress bars or spinners, clinrag's or its libraries' (transformers, sentence-transformers, "
    "datasets), and no library logs below errors.",
    callback=_enter_quiet,
)
"""``-q`` of a command that runs long work; the command also passes ``progress=not quiet`` to the library."""


# ---------------------------------------------------------------------------------------------------------
# Fixed choices: typer lists them in --help and refuses any other value. Each mirrors a list of the library
# (tests/test_cli.py checks that they agree); they are not imported from it, to keep `clinrag --help` fast.
# Registered components (--retriever, --detector) stay names: a registry is open, a test or a plugin adds to it.
# ---------------------------------------------------------------------------------------------------------
class Split(StrEnum):
    """Patients of the table to score: a split (``clinrag.data.cohort.SPLITS``), or all of them."""

    TRAIN = "train"
    DEV = "dev"
    TEST = "test"
    ALL = "all"


class Patients(StrEnum):
    """Patients to predict or fill (``Cohort.select_patients``): without a table row, a split's, or all."""

    UNLABELED = "unlabeled"
    TRAIN = "train"
    DEV = "dev"
    TEST = "test"
    ALL = "all"


class EngineName(StrEnum):
    """``clinrag.experiment.engine.ENGINES``: where the cells are read."""

    LOCAL = "local"
    RAY = "ray"


class BaselineMethod(StrEnum):
    """``clinrag.baselines.registry.BASELINES``."""

    MAJORITY = "majority"


class TrainableRetriever(StrEnum):
    """The registered retrievers that train (``clinrag.retrieval.pipeline.train_retriever``)."""

    TEMPORAL = "temporal"
    DENSE = "dense"


class PseudoMode(StrEnum):
    """``PseudoConfig.mode``."""

    SURROGATE = "surrogate"
    MASK = "mask"
    ADAPTIVE = "adaptive"


class EntitySource(StrEnum):
    """``AnnotationConfig.entities``."""

    DICTIONARY = "dictionary"
    TAGGER = "tagger"
    BOTH = "both"


# ---------------------------------------------------------------------------------------------------------
# Engines (run's reading stage, fill): docs/distributed.md
# ---------------------------------------------------------------------------------------------------------
ENGINE_OPTION = typer.Option(
    EngineName.LOCAL,
    "--engine",
    help="Where the cells are read: local (this process) or ray (Ray workers, the 'ray' extra); the same files.",
)
ADDRESS_OPTION = typer.Option(
    None,
    "--address",
    help="With --engine ray: the Ray cluster to join (auto, HOST:PORT, ray://HOST:PORT); "
    "default: start Ray on this machine.",
)
WORKERS_OPTION = typer.Option(
    None,
    "--workers",
    min=1,
    help="With --engine ray: Ray workers, each holding one reader (and retriever); on this machine also the CPUs "
    "Ray may use (default: all CPUs, or all the cluster holds).",
)
GPUS_OPTION = typer.Option(
    0.0,
    "--gpus-per-worker",
    min=0.0,
    help="With --engine ray: GPUs each worker holds (0.5 shares one between two); 0 on CPUs.",
)


def engine_spec(engine: EngineName, address: str | None, workers: int | None, gpus: float) -> Any:
    """The :class:`~clinrag.experiment.engine.EngineSpec` of the engine options, checked."""
    from clinrag.experiment.engine import EngineSpec

    spec = EngineSpec(engine.value, address, workers, gpus)
    spec.check()
    return spec


# ---------------------------------------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------------------------------------
CONFIG_OPTION = typer.Option(
    None, "--config", help="YAML file of retrieval settings (chunking, retriever, retrieval)."
)
SET_OPTION = typer.Option(
    None, "--set", help="Dotted override, repeatable: --set retriever.type=dense --set retrieval.k=3."
)


def typed_settings(kind: type, config_file: Path | None, overrides: list[str] | None, /, **options: object):
    """A typed config from an optional YAML file, then ``--set`` overrides, then the explicit options given
    (None, [] and False mean "not given"; ``kind`` and the rest are positional, so an option may be called
    ``model``). An invalid field's error names the override or option that set it, else the file and line."""
    from clinrag.config import apply_overrides, build_settings, load_yaml_mapping, override_origins

    overrides = list(overrides or [])
    given = {k: v for k, v in options.items() if v not in (None, [], False)}
    data = load_yaml_mapping(config_file) if config_file else {}
    data = apply_overrides(data, overrides)
    data.update(given)
    origins = [*override_origins(overrides), *(((k,), f"--{k.replace('_', '-')}") for k in given)]
    return build_settings(kind, config_file or "settings", data, origins)


RETRIEVER_HELP = (
    "A registered retriever: bm25, dense, hybrid, temporal or annotated (default: the config's, else temporal, "
    "which needs a trained folder, retriever.path; bm25 needs no training)."
)


def retrieval_settings(config_file: Path | None, retriever: str | None, overrides: list[str] | None):
    """RetrievalSettings (``--retriever`` as the first override), its model folders checked before any work."""
    from clinrag.config import RetrievalSettings

    extra = ([f"retriever.type={retriever}"] if retriever else []) + list(overrides or [])
    settings = typed_settings(RetrievalSettings, config_file, extra)
    settings.check_models()
    return settings


def pipeline_settings(config_file: Path | None, overrides: list[str] | None):
    """PipelineSettings, its model folders (retriever's, decoder, adapter) checked before any work."""
    from clinrag.generation.pipeline import PipelineSettings

    settings = typed_settings(PipelineSettings, config_file, overrides)
    settings.check_models()
    return settings


PIPELINE_CONFIG = typer.Option(
    None, "--config", help="YAML settings: chunking, retriever, retrieval, reader."
)


def pseudo_settings(config_file: Path | None, overrides: list[str] | None, **options: object):
    """PseudoConfig from a YAML file, ``--set`` overrides, then the explicit options that were given."""
    from clinrag.pseudo.pipeline import PseudoConfig

    return typed_settings(PseudoConfig, config_file, overrides, **options)


PSEUDO_DETECTOR = typer.Option(
    None,
    "--detector",
    help="A registered detector: rules, model (the trained identifier model) or hybrid (both; the default, with "
    "the rules alone and a note when no model is prepared).",
)
PSEUDO_MODEL = typer.Option(
    None,
    "--model",
    help="Identifier model folder from `clinrag train-pseudo`; default: the one `clinrag models prepare` trained.",
)
PSEUDO_CONFIG = typer.Option(None, "--config", help="YAML of pseudonymization settings (README).")
PSEUDO_SET = typer.Option(
    None, "--set", help="Override, repeatable: --set max_shift_days=180 --set propagate_names=false."
)
