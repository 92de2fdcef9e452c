"""The Python API: `from clinrag import ...` for every public name, imported lazily; the quickstart example runs."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import clinrag

REPO = Path(__file__).resolve().parents[1]
PUBLIC = [
    "CellExplanation",
    "ClinragError",
    "Cohort",
    "ExperimentConfig",
    "RunResult",
    "evaluate_table",
    "explain_cell",
    "fill_table",
    "load_cohort",
    "load_experiment",
    "quiet",
    "run_experiment",
    "write_synthetic_cohort",
]


def test_all_lists_the_public_names():
    assert sorted(clinrag.__all__) == PUBLIC
    assert set(clinrag._EXPORTS) == set(PUBLIC)
    assert set(PUBLIC) <= set(dir(clinrag))


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_imports_and_is_documented(name):
    namespace: dict = {}
    exec(f"from clinrag import {name}", namespace)
    value = namespace[name]
    assert value is getattr(importlib.import_module(clinrag._EXPORTS[name]), name)
    assert inspect.getdoc(value), f"{name} has no docstring"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        clinrag.nope  # noqa: B018
    with pytest.raises(ImportError):
        exec("from clinrag import nope", {})


def test_subpackages_still_import_through_the_package():
    from clinrag import cli, progress

    assert cli.main and progress.quiet


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_clinrag_and_the_help_stay_light():
    heavy = {"torch", "transformers", "sentence_transformers", "edsnlp", "pandas", "numpy"}
    assert not heavy & _modules_after("import clinrag")
    loaded = _modules_after(
        "from clinrag.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not heavy & loaded


def _load_example():
    spec = importlib.util.spec_from_file_location("api_quickstart", REPO / "examples" / "api_quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quickstart_example_runs_on_a_tiny_cohort(tmp_path, tiny_llama_dir):
    """The example's functions, with the tiny decoder instead of the embedded one (seconds, not minutes)."""
    example = _load_example()
    cohort_dir = example.synthesize(tmp_path / "cohort", patients=16, seed=21)
    overrides = [
        *example.OVERRIDES,
        f"reader.model={tiny_llama_dir}",
        "variables=[nihss_admission, toast, thrombolyse]",
        "training.reader=none",
        "evaluation.bootstrap=50",
    ]
    result = example.run(
        cohort_dir, tmp_path / "run", overrides, cache_dir=tmp_path / "cache", progress=False
    )
    assert isinstance(result, clinrag.RunResult)
    lines = example.metrics_lines(result)
    assert lines[0].startswith("accuracy ") and len(lines) == 1 + 3
    patient, variable = example.documented_cell(result.run_dir)
    explanation = clinrag.explain_cell(result.run_dir, patient, variable)
    assert isinstance(explanation, clinrag.CellExplanation)
    assert explanation.evidence is not None and explanation.lines()[0].startswith(f"{patient} — {variable}")
    # the cohort the example wrote is a valid cohort of 16 patients
    assert len(clinrag.load_cohort(cohort_dir).patients) == 16
