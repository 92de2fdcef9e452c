"""Shared fixtures: a small synthetic cohort, the public data folder, and an in-process CLI runner."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from clinrag.cli import main
from clinrag.synth import write_synthetic_cohort

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run ``clinrag ARGS`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def synth_cohort_dir(tmp_path_factory) -> Path:
    """A 60-patient synthetic cohort, written once per session (read-only: copy it before breaking it)."""
    out = tmp_path_factory.mktemp("cohort") / "synth60"
    write_synthetic_cohort(out, 60, seed=11)
    return out


@pytest.fixture
def cohort_copy(synth_cohort_dir, tmp_path) -> Path:
    """A private copy of the session cohort, free to modify."""
    target = tmp_path / "cohort"
    shutil.copytree(synth_cohort_dir, target)
    return target


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data not found at {SHARED_DATA} (tests that read real text are skipped)")
    return SHARED_DATA
