"""Every command explains itself, and user mistakes end in one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import get_args

import pytest

from clinrag import cli
from clinrag.models import EMBEDDED_MODELS, embedded_model_path

COMMANDS = [["validate"], ["synth"], ["evaluate"], ["baseline"], ["models", "list"]]

# (command, option, the allowed values in --help's order)
CHOICES = [
    (["evaluate", "--cohort", "c", "--predictions", "p"], "--split", ["train", "dev", "test", "all"]),
    (["evaluate-retrieval", "--cohort", "c"], "--split", ["train", "dev", "test", "all"]),
    (["evaluate-pseudo", "--cohort", "c"], "--split", ["train", "dev", "test", "all"]),
    (["baseline", "--cohort", "c", "--out", "o"], "--split", ["unlabeled", "train", "dev", "test", "all"]),
    (["baseline", "--cohort", "c", "--out", "o"], "--method", ["majority"]),
    (["extract", "--cohort", "c", "--out", "o"], "--patients", ["unlabeled", "train", "dev", "test", "all"]),
    (
        ["fill", "--cohort", "c", "--run", "r", "--out", "o"],
        "--patients",
        ["unlabeled", "train", "dev", "test", "all"],
    ),
    (["train-retriever", "--cohort", "c", "--out", "o"], "--type", ["temporal", "dense"]),
    (["pseudonymize", "--cohort", "c", "--out", "o"], "--mode", ["surrogate", "mask", "adaptive"]),
    (["annotate", "--cohort", "c", "--out", "o"], "--entities", ["dictionary", "tagger", "both"]),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_help(command, run_cli):
    result = run_cli(*command, "--help")
    assert result.code == 0
    assert "Usage: clinrag" in result.stdout


def test_usage_error_exits_2(run_cli):
    result = run_cli("synth")
    assert result.code == 2 and "Missing option '--out'" in result.stderr
    result = run_cli("baseline", "--cohort", "x", "--out", "y", "--method", "oracle")
    assert result.code == 2


def test_baseline_unknown_method_one_line(synth_cohort_dir, tmp_path, run_cli):
    result = run_cli(
        "baseline", "--cohort", synth_cohort_dir, "--out", tmp_path / "p.csv", "--method", "oracle"
    )
    assert result.code == 2
    assert result.stderr.strip() == "error: --method: invalid choice 'oracle' (choose from majority)"
    assert not (tmp_path / "p.csv").exists()


def test_invalid_cohort_is_one_line_per_error(tmp_path, run_cli):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "variables.yaml").write_text("variables: []\n")
    result = run_cli("baseline", "--cohort", tmp_path / "c", "--out", tmp_path / "p.csv")
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'c'}/variables.yaml:1: field 'variables': the list of variables is empty",
        f"error: {tmp_path / 'c'}/documents.jsonl: required file is missing",
    ]


def test_console_script_runs_without_traceback(tmp_path):
    """The installed entry point, in a fresh process, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "clinrag", "validate", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'missing'}: not a directory"


def test_embedded_models_are_installed(run_cli):
    for name in EMBEDDED_MODELS:
        assert embedded_model_path(name).exists()
    assert (embedded_model_path("all-minilm-l6-v2") / "config.json").exists()
    result = run_cli("models", "list")
    assert result.code == 0 and result.stdout.count("installed") == 2


# ---- fixed choices -------------------------------------------------------------------------------------
@pytest.mark.parametrize("command, option, choices", CHOICES, ids=lambda c: c if isinstance(c, str) else None)
def test_help_lists_the_choices(command, option, choices, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli(command[0], "--help")
    assert result.code == 0
    line = next(line for line in result.stdout.splitlines() if f" {option} " in line)
    assert "|".join(choices) in line


@pytest.mark.parametrize("command, option, choices", CHOICES, ids=lambda c: c if isinstance(c, str) else None)
def test_a_bad_choice_is_one_line_naming_the_option_and_the_choices(command, option, choices, run_cli):
    result = run_cli(*command, option, "nope")
    assert result.code == 2
    assert result.stderr == f"error: {option}: invalid choice 'nope' (choose from {', '.join(choices)})\n"


def test_choices_agree_with_the_library():
    from clinrag.baselines.registry import BASELINES
    from clinrag.data.cohort import SPLITS
    from clinrag.pseudo.pipeline import PseudoConfig
    from clinrag.retrieval.base import retriever_class
    from clinrag.text.entities import AnnotationConfig

    assert [s.value for s in cli.Split] == [*SPLITS, "all"]
    assert [p.value for p in cli.Patients] == ["unlabeled", *SPLITS, "all"]
    assert {m.value for m in cli.BaselineMethod} == set(BASELINES.names())
    assert {m.value for m in cli.PseudoMode} == set(get_args(PseudoConfig.model_fields["mode"].annotation))
    assert [m.value for m in cli.EntitySource] == list(
        get_args(AnnotationConfig.model_fields["entities"].annotation)
    )
    for kind in cli.TrainableRetriever:
        retriever_class(kind.value)  # a registered retriever


@pytest.mark.parametrize(
    "args, message",
    [
        (["synth"], "error: Missing option '--out' (see 'clinrag synth --help')"),
        (["evaluate", "--nope"], "error: No such option: --nope (see 'clinrag evaluate --help')"),
        (["nope"], "error: No such command 'nope' (see 'clinrag --help')"),
        (
            ["synth", "--out", "x", "--patients", "0"],
            "error: --patients: Input should be greater than or equal to 1",
        ),
    ],
)
def test_command_line_mistakes_are_one_line(args, message, run_cli):
    result = run_cli(*args)
    assert result.code == 2
    assert result.stderr == message + "\n"


def test_no_arguments_prints_the_help(run_cli):
    result = run_cli()
    assert result.code == 2 and "Usage: clinrag" in result.stdout and result.stderr == ""


# ---- the library functions behind the commands ---------------------------------------------------------
def test_train_retriever_is_one_library_function(synth_cohort_dir, tiny_encoder_dir, tmp_path):
    from clinrag.config import RetrievalSettings
    from clinrag.data.validate import load_cohort
    from clinrag.errors import ClinragError
    from clinrag.retrieval.pipeline import train_retriever
    from clinrag.retrieval.temporal import TemporalRetriever

    cohort = load_cohort(synth_cohort_dir)
    settings = RetrievalSettings.model_validate(
        {
            "retriever": {
                "type": "temporal",
                "encoder": str(tiny_encoder_dir),
                "hidden": 16,
                "train": {"epochs": 2},
            }
        }
    )
    trained = train_retriever(settings, cohort, tmp_path / "model", progress=False)
    assert trained.type == "temporal" and trained.folder == tmp_path / "model"
    assert len(trained.history) == 2 and 0.0 <= trained.best_dev_recall <= 1.0
    assert TemporalRetriever.from_pretrained(trained.folder).history == trained.history
    bm25 = RetrievalSettings.model_validate({"retriever": {"type": "bm25"}})
    with pytest.raises(ClinragError, match="retriever.type bm25: nothing to train"):
        train_retriever(bm25, cohort, tmp_path / "bm25", progress=False)


def test_evaluate_pseudo_writes_what_evaluate_detector_returns(synth_cohort_dir, tmp_path, run_cli):
    from clinrag.data.validate import load_cohort
    from clinrag.pseudo.evaluate import evaluate_detector
    from clinrag.pseudo.pipeline import PseudoConfig

    result = run_cli(
        "evaluate-pseudo", "--cohort", synth_cohort_dir, "--split", "dev", "--out", tmp_path / "m.json"
    )
    assert result.code == 0, result.stderr
    metrics = evaluate_detector(PseudoConfig(), load_cohort(synth_cohort_dir), "dev")
    assert json.loads((tmp_path / "m.json").read_text()) == json.loads(json.dumps(metrics))
    assert f"detector {metrics['detector']}, on {metrics['texts']} texts" in result.stdout
