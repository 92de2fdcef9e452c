"""What every command module shares: the typer app, the consoles, the fixed choices and the settings builders."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    help="clinrag: fill a clinical registry table from French hospital documents, every value with its evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Embedded default models and local model folders.", no_args_is_help=True)
app.add_typer(models_app, name="models")

# Piped output (CI logs, files) gets wide lines instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


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
    ``model``)."""
    from clinrag.config import apply_overrides, build_settings, load_yaml_mapping

    data = load_yaml_mapping(config_file) if config_file else {}
    data = apply_overrides(data, list(overrides or []))
    data.update({k: v for k, v in options.items() if v not in (None, [], False)})
    return build_settings(kind, str(config_file or "settings"), data)


RETRIEVER_HELP = (
    "A registered retriever: bm25, dense, hybrid, temporal or annotated (default: the config's, else temporal, "
    "which needs a trained folder, retriever.path; bm25 needs no training)."
)


def retrieval_settings(config_file: Path | None, retriever: str | None, overrides: list[str] | None):
    from clinrag.config import RetrievalSettings

    extra = ([f"retriever.type={retriever}"] if retriever else []) + list(overrides or [])
    return typed_settings(RetrievalSettings, config_file, extra)


def pipeline_settings(config_file: Path | None, overrides: list[str] | None):
    from clinrag.generation.pipeline import PipelineSettings

    return typed_settings(PipelineSettings, config_file, overrides)


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
    help="A registered detector: rules, model (the trained NER model) or hybrid (both); default rules "
    "(hybrid with --model).",
)
PSEUDO_MODEL = typer.Option(None, "--model", help="NER model folder from `clinrag train-pseudo`.")
PSEUDO_CONFIG = typer.Option(None, "--config", help="YAML of pseudonymization settings (README).")
PSEUDO_SET = typer.Option(
    None, "--set", help="Override, repeatable: --set max_shift_days=180 --set propagate_names=false."
)
