"""A retriever and a reader written outside clinrag/ — one class and its config class each, registered from this
file — run end to end through `clinrag run` and `clinrag fill`, with no change to the package."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from clinrag.data.variables import Variable
from clinrag.generation import base as reader_base
from clinrag.generation.base import CellRequest, CellResult, Learned, register_reader
from clinrag.generation.config import ReaderConfig
from clinrag.retrieval import base as retriever_base
from clinrag.retrieval.base import RetrieverBase, register_retriever
from clinrag.text.passages import PassageStore


class LatestConfig(BaseModel):
    """The newest passages first (a toy: what a clinician skimming the last letters would read)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["latest"] = "latest"
    oldest_first: bool = False


class LatestRetriever(RetrieverBase):
    def __init__(self, config: LatestConfig | None = None, **_: object):
        self.config = config or LatestConfig()
        self.store: PassageStore | None = None

    def index(self, store: PassageStore) -> None:
        self.store = store

    def scores(self, patient_id: str, variable: Variable) -> np.ndarray:
        start, end = self.store.patient_range(patient_id)
        days = np.array([p.days or 0.0 for p in self.store.passages[start:end]], dtype=np.float64)
        return -days if self.config.oldest_first else days


class EchoConfig(ReaderConfig):
    """A reader that never answers, and says which passages it was shown."""

    type: Literal["echo"] = "echo"
    status: str = "not documented"


SEEN: list[CellRequest] = []


class EchoReader:
    needs_retrieval = True
    learns_from_table = False

    def __init__(self, config: EchoConfig, decoder: object = None):
        self.config = config

    def attach(self, cohort, learned: Learned) -> None:
        self.cohort = cohort

    def read(self, requests: list[CellRequest], progress: bool = False) -> list[CellResult]:
        SEEN.extend(requests)
        return [
            CellResult(
                r.patient_id,
                r.variable.name,
                "",
                self.config.status,
                None,
                1.0,
                r.passages[0] if r.passages else None,
                0,
                0.0,
            )
            for r in requests
        ]


@pytest.fixture
def registered():
    register_retriever("latest", LatestConfig)(LatestRetriever)
    register_reader("echo", EchoConfig)(EchoReader)
    SEEN.clear()
    yield
    retriever_base.RETRIEVERS.unregister("latest")
    reader_base.READERS.unregister("echo")


def test_a_retriever_and_a_reader_added_in_one_file_each_run_end_to_end(
    registered, synth_cohort_dir, tiny_llama_dir, tmp_path, run_cli
):
    config = {
        "variables": ["nihss_admission", "fibrillation_atriale"],
        "retriever": {"type": "latest"},
        "retrieval": {"k": 2, "eval_ks": [1, 2]},
        "reader": {"type": "echo", "model": str(tiny_llama_dir), "status": "rien lu"},
        "evaluation": {"bootstrap": 20},
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "run"
    args = [
        "run",
        config_file,
        "--cohort",
        synth_cohort_dir,
        "--out",
        out,
        "--cache",
        tmp_path / "cache",
        "-q",
    ]
    result = run_cli(*args)
    assert result.code == 0, result.stderr
    # the reader was shown the retriever's choice: each cell's two newest passages, newest first
    assert SEEN and all(len(r.passages) == 2 and r.passages[0].days >= r.passages[1].days for r in SEEN)
    with (out / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(row["nihss_admission"] == "" for row in rows)
    records = [
        json.loads(line) for line in (out / "provenance.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert {r["answer"] for r in records} == {"rien lu"}
    saved = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert saved["retriever"] == {"type": "latest", "oldest_first": False}
    assert saved["reader"]["type"] == "echo" and saved["reader"]["status"] == "rien lu"
    # a run of these components is a run like another: `clinrag fill` applies it to other patients
    filled = run_cli(
        "fill", "--cohort", synth_cohort_dir, "--run", out, "--out", tmp_path / "fill", "--patients", "dev"
    )
    assert filled.code == 0, filled.stderr
    assert (tmp_path / "fill" / "predictions.csv").is_file()


def test_registered_components_are_checked_like_the_builtin_ones(
    registered, tmp_path, run_cli, synth_cohort_dir
):
    from clinrag.experiment.config import ExperimentConfig

    config = ExperimentConfig.model_validate({"retriever": {"type": "latest", "oldest_first": True}})
    assert isinstance(config.retriever, LatestConfig) and config.retriever.oldest_first
    bad = tmp_path / "bad.yaml"
    bad.write_text("retriever:\n  type: latest\n  newest: true\n", encoding="utf-8")
    result = run_cli("run", bad, "--cohort", synth_cohort_dir, "--out", tmp_path / "out")
    assert result.code == 2 and "retriever.newest" in result.stderr and "Traceback" not in result.stderr
    bad.write_text("retriever:\n  type: oldest\n", encoding="utf-8")
    result = run_cli("run", bad, "--cohort", synth_cohort_dir, "--out", tmp_path / "out")
    assert result.code == 2 and "unknown retriever 'oldest'" in result.stderr and "latest" in result.stderr
    bad.write_text("reader:\n  type: echo\n  status: 3\n", encoding="utf-8")
    result = run_cli("run", bad, "--cohort", synth_cohort_dir, "--out", tmp_path / "out")
    assert result.code == 2 and "reader.status" in result.stderr
    with pytest.raises(ValueError, match="registered twice"):
        register_retriever("latest", LatestConfig)(LatestRetriever)


def test_each_trained_part_of_a_hybrid_has_its_own_run_folder(tmp_path):
    """Two temporal retrievers fused by a hybrid are trained apart: a run keeps each under models/ by its
    section's path, and `clinrag fill` takes each back from there (a run written before: models/retriever)."""
    from clinrag.errors import ClinragError
    from clinrag.experiment.config import ExperimentConfig
    from clinrag.retrieval.base import retriever_from_run, trained_folder

    config = ExperimentConfig.model_validate(
        {"retriever": {"type": "hybrid", "first": {"type": "temporal"}, "second": {"type": "temporal"}}}
    )
    assert trained_folder("retriever", "retriever") == "retriever"
    assert trained_folder("retriever.first", "retriever") != trained_folder("retriever.second", "retriever")
    models = tmp_path / "run" / "models"
    with pytest.raises(ClinragError, match=r"models/retriever\.first\.retriever is missing"):
        retriever_from_run(config.retriever, models, config.training)
    for role in ("retriever.first", "retriever.second"):
        (models / trained_folder(role, "retriever")).mkdir(parents=True)
    resolved = retriever_from_run(config.retriever, models, config.training)
    assert Path(resolved.first.path).name == "retriever.first.retriever"
    assert Path(resolved.second.path).name == "retriever.second.retriever"


def test_an_identifier_detector_added_in_one_file_pseudonymizes_a_cohort(synth_cohort_dir, tmp_path, run_cli):
    """The third component family: a detector registered from this file is chosen by name like the built-in ones."""
    import re

    from clinrag.pseudo import base as detector_base
    from clinrag.pseudo.base import register_detector
    from clinrag.pseudo.labels import Span

    class CapitalsDetector:
        """Every word in capitals of three letters or more is a name (a toy)."""

        def __init__(self, config) -> None:
            self.config = config

        def detect(self, texts, names):
            found = []
            for text in texts:
                found.append(
                    [Span.of(text, m.start(), m.end(), "NOM") for m in re.finditer(r"\b[A-Z]{3,}\b", text)]
                )
            return found

    register_detector("capitals")(CapitalsDetector)
    try:
        out = tmp_path / "pseudo"
        args = ["pseudonymize", "--cohort", synth_cohort_dir, "--out", out, "--detector", "capitals"]
        result = run_cli(*args, "--mode", "mask")
        assert result.code == 0, result.stderr
        texts = [
            json.loads(line)["text"]
            for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        assert "[NOM]" in "".join(texts) and not any(
            re.search(r"\b[A-Z]{3,}\b(?<!NOM)", t) for t in texts[:50]
        )
        result = run_cli(
            "pseudonymize", "--cohort", synth_cohort_dir, "--out", tmp_path / "x", "--detector", "nope"
        )
        assert result.code == 2 and "nope" in result.stderr and "capitals" in result.stderr
    finally:
        detector_base.DETECTORS.unregister("capitals")
