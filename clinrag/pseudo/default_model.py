"""The default identifier model: trained once at setup (``clinrag models prepare``, which scripts/setup.sh runs),
like the embedded decoder's conversion, so that ``clinrag pseudonymize`` detects with the rules and a model out of
the box (``detector: hybrid``, no ``--model``).

It learns from eds-pseudo's notes with their gold identifiers (``--eds-pseudo FILE``: AP-HP's public
``dev.jsonl``, 800 fictitious notes, which clinrag does not ship; scripts/setup.sh passes
``../shared/data/eds-pseudo/dev.jsonl`` when it is there, and the hand-written free-text records of
``experiments/data/phi_records`` that are development sets, in the same format) and from the identifiers of a small
synthetic cohort that
clinrag's generator writes in memory (``phi.jsonl``'s spans: :data:`SYNTHETIC_PATIENTS` patients, seed
:data:`SYNTHETIC_SEED`), with the settings of :class:`~clinrag.pseudo.ner.NerConfig` (a frozen encoder: a few
minutes on 2 CPU cores, seeded). The folder's training summary records what it learned from (files and their
SHA-256, synthetic patients and seed) and the settings; running ``prepare`` again with the same data keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinrag.pseudo.corpora import Note, cohort_notes, load_eds_pseudo
from clinrag.pseudo.ner import Example, NerConfig, NerDetector

SYNTHETIC_PATIENTS = 30
"""Patients of the synthetic cohort whose identifiers the default model learns from (about 280 documents)."""
SYNTHETIC_SEED = 20
"""The synthetic cohort's generator seed (no measurement reads this cohort's documents)."""


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare_identifier_model` did."""

    folder: Path
    trained: bool
    """False: the folder was already prepared and kept."""
    data: dict[str, Any]
    """What the model learned from (see :func:`training_data`)."""
    seconds: float
    """Time spent training (0 when kept)."""


def training_data(
    eds_pseudo: Sequence[str | Path], synthetic_patients: int = SYNTHETIC_PATIENTS, seed: int = SYNTHETIC_SEED
) -> tuple[list[Note], dict[str, Any]]:
    """The default model's training notes and their description.

    Args:
        eds_pseudo: eds-pseudo JSONL files (may be empty).
        synthetic_patients: Patients of the synthetic cohort (0: none).
        seed: Its generator seed.

    Returns:
        The notes, and ``{"eds_pseudo": [{"file", "sha256", "notes", "identifiers"}], "synthetic": {"patients",
        "seed", "documents", "identifiers"}}``.

    Raises:
        ClinragError: An eds-pseudo file that is missing or malformed (file, line and field named).
    """
    from clinrag.io import file_sha256
    from clinrag.synth import synthesize_cohort

    notes: list[Note] = []
    files = []
    for path in eds_pseudo:
        read = load_eds_pseudo(path)
        files.append(
            {
                "file": Path(path).name,
                "sha256": file_sha256(path),
                "notes": len(read),
                "identifiers": sum(len(n.spans) for n in read),
            }
        )
        notes += read
    synthetic: list[Note] = []
    if synthetic_patients:
        synthetic = cohort_notes(synthesize_cohort(synthetic_patients, seed=seed))
    notes += synthetic
    data = {
        "eds_pseudo": files,
        "synthetic": {
            "patients": synthetic_patients,
            "seed": seed,
            "documents": len(synthetic),
            "identifiers": sum(len(n.spans) for n in synthetic),
        },
    }
    return notes, data


def prepare_identifier_model(
    eds_pseudo: Sequence[str | Path] = (),
    force: bool = False,
    progress: bool = False,
    config: NerConfig | None = None,
    synthetic_patients: int = SYNTHETIC_PATIENTS,
) -> Prepared:
    """Train the default identifier model into :func:`~clinrag.models.identifier_model_folder`, once.

    A prepared folder is kept when no eds-pseudo file is given (a later ``prepare`` without the data must not
    replace a model trained with it) or when it learned from the same files and settings; it is trained again
    with ``force`` or other data. The folder is written all at once (a temporary sibling renamed into place).

    Args:
        eds_pseudo: eds-pseudo JSONL files to learn from, beside the synthetic cohort.
        force: Train again even when a prepared folder would be kept.
        progress: A progress bar while training.
        config: Settings (the defaults of :class:`NerConfig` when None).
        synthetic_patients: Patients of the synthetic cohort (seed :data:`SYNTHETIC_SEED`).

    Raises:
        ClinragError: A malformed eds-pseudo file, or an encoder that cannot be loaded.
    """
    from clinrag.encoders.segment import read_record
    from clinrag.models import default_identifier_model, identifier_model_folder

    config = config or NerConfig()
    folder = identifier_model_folder()
    existing = default_identifier_model()
    if existing is not None and not force:
        summary = read_record(existing).get("training") or {}
        data = summary.get("data") or {}
        same = (
            summary.get("settings") == config.recorded()
            and [f.get("sha256") for f in data.get("eds_pseudo", [])] == [_sha(path) for path in eds_pseudo]
            and data.get("synthetic", {}).get("patients") == synthetic_patients
            and data.get("synthetic", {}).get("seed") == SYNTHETIC_SEED
        )
        if not eds_pseudo or same:
            return Prepared(existing, False, data, 0.0)
    notes, data = training_data(eds_pseudo, synthetic_patients)
    started = time.perf_counter()
    detector = NerDetector.train(Example.of_notes(notes), config, progress, data=data)
    seconds = time.perf_counter() - started
    detector.save(folder, replace=True)
    return Prepared(folder, True, data, seconds)


def _sha(path: str | Path) -> str | None:
    from clinrag.io import file_sha256

    return file_sha256(path) if Path(path).is_file() else None
