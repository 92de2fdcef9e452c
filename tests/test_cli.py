"""Every command explains itself, and user mistakes end in one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clinrag.models import EMBEDDED_MODELS, embedded_model_path

COMMANDS = [["validate"], ["synth"], ["evaluate"], ["baseline"], ["models", "list"]]


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
    assert result.stderr.strip() == "error: --method: unknown baseline 'oracle' (known: majority)"
    assert not (tmp_path / "p.csv").exists()


def test_invalid_cohort_is_one_line(tmp_path, run_cli):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "variables.yaml").write_text("variables: []\n")
    result = run_cli("baseline", "--cohort", tmp_path / "c", "--out", tmp_path / "p.csv")
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "invalid cohort" in result.stderr


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
