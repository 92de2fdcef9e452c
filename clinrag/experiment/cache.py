"""A content-addressed cache of experiment stages.

Each entry is a folder ``ROOT/<stage>/<key>/`` whose key is the SHA-256 of what the stage depends on (its inputs'
hashes, the config section it reads, clinrag's cache format version) and of the code that computes it
(:func:`code_version`: the sources of the stage's modules and of the stages it reads from), so that a code change
that may alter a stage's results recomputes that stage and the ones after it, never serving a stale entry. An entry is built in a temporary sibling
and renamed into place when complete, so a run killed at any point leaves either a whole entry or none: started
again, it recomputes exactly what was missing. Two runs that differ in one config axis share every entry that
axis does not touch.

Model folders are hashed by content (every file's bytes); the hash of each file is remembered beside the cache
under its path, size and modification time, so a 14 GB model folder is read once, not at every run.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clinrag.io import atomic_folder, atomic_write_json, cache_home, file_sha256

# 2: integers inside dates are no values (weak labels, marks, answers); 3: weak labels respect the variable's
# timepoint (a discharge NIHSS is no evidence of the admission one), so does the temporal retriever's
# value-next-to-a-term feature
# 4: variables read with their vocabulary (lexicon and learned terms); timepoints in registry wordings, windows
# from the timepoint's delay; numbers read with the variable's units and conversions
# 5: numbers written in French words read as values (weak labels, candidates, learned cues); training pairs with
# weak evidence (lora.weak_evidence); every overlapping mention qualified, a treatment "contre-indiqué"/"récusé" negated
# 6: a "non" that qualifies a condition's management is no negation ("HTA non traitée"); the retrieval stage keeps
# reader.candidate_passages hits per cell; the LoRA stage is keyed on the passages its pairs show
CACHE_FORMAT = 7
"""Bump when a stage's stored format or semantics change: older entries are then ignored."""


_TRAINED_RETRIEVER = (
    "clinrag.retrieval",
    "clinrag.models",
    "clinrag.e5",
    "clinrag.training",
    "clinrag.experiment.stages.retrieval",
)
STAGE_CODE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # stage: (the modules or packages that compute it, the stages whose results it reads)
    # clinrag.text.folding: the folds of data.values (normalize_text, strip_accents)
    "cohort": (
        ("clinrag.synth", "clinrag.data", "clinrag.text.folding", "clinrag.experiment.stages.cohort"),
        (),
    ),
    "vocabulary": (("clinrag.text", "clinrag.experiment.stages.cohort"), ("cohort",)),
    "temporal_retriever": (_TRAINED_RETRIEVER, ("vocabulary",)),
    "dense_encoder": (_TRAINED_RETRIEVER, ("vocabulary",)),
    "retrieval": (
        (
            "clinrag.retrieval",
            "clinrag.evaluation.bootstrap",  # retrieval's intervals; not the report, which changes no stage
            "clinrag.experiment.runner",
            "clinrag.experiment.stages.base",
            "clinrag.experiment.stages.retrieval",
        ),
        ("temporal_retriever", "dense_encoder"),
    ),
    "merge": (("clinrag.merging", "clinrag.models", "clinrag.experiment.stages.retrieval"), ()),
    "reader_adapter": (
        ("clinrag.generation", "clinrag.models", "clinrag.training", "clinrag.experiment.stages.reader"),
        ("retrieval", "merge"),
    ),
    "reader_priors": (("clinrag.generation", "clinrag.experiment.stages.reader"), ("retrieval",)),
    "generations": (
        ("clinrag.generation", "clinrag.experiment.engine", "clinrag.experiment.stages.generations"),
        ("reader_adapter", "reader_priors"),
    ),
    # clinrag fill's chunks: retrieval and reading with the run's trained folders
    "fill": (
        (
            "clinrag.data",
            "clinrag.generation",
            "clinrag.retrieval",
            "clinrag.text",
            "clinrag.models",
            "clinrag.experiment.engine",
            "clinrag.experiment.fill",
            "clinrag.experiment.transfer",
        ),
        (),
    ),
}
"""What each cached stage's :func:`code_version` covers. A stage missing here is keyed on every clinrag source."""


def fault_point(name: str) -> None:
    """Fault injection for the resume tests: ``CLINRAG_FAULT=NAME`` kills this process with SIGKILL here (no
    cleanup, no flush: what a power cut or the OOM killer does)."""
    if os.environ.get("CLINRAG_FAULT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def default_cache_dir() -> Path:
    """``$CLINRAG_CACHE_DIR/runs`` (default ``~/.cache/clinrag/runs``)."""
    return cache_home() / "runs"


def stable_hash(payload: Any) -> str:
    """SHA-256 of a JSON-serializable payload (canonical: sorted keys, no spaces)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Cache:
    """Stage entries under a root folder (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._file_hashes: dict[str, Any] | None = None

    def key(self, stage: str, payload: dict[str, Any]) -> str:
        """The key of a stage's entry: a hash of its payload, the stage, the cache format and the version of the
        code that computes it (:func:`code_version`)."""
        return stable_hash(
            {"stage": stage, "format": CACHE_FORMAT, "code": code_version(stage), "payload": payload}
        )

    def path(self, stage: str, key: str) -> Path:
        """Where the entry lives (whether or not it exists)."""
        return self.root / stage / key

    def has(self, stage: str, key: str) -> bool:
        """Whether a complete entry exists."""
        return (self.path(stage, key) / ".complete").is_file()

    def build(self, stage: str, key: str, builder: Callable[[Path], Any]) -> tuple[Path, bool]:
        """The entry's folder, built by ``builder(staging_folder)`` when missing.

        Returns:
            The entry's folder and whether it came from the cache.
        """
        target = self.path(stage, key)
        if self.has(stage, key):
            return target, True
        with atomic_folder(target, replace=True, prefix=".staging.") as staging:
            builder(staging)
            fault_point(f"stage:{stage}")
            (staging / ".complete").write_text("", encoding="utf-8")
        return target, False

    # ---- content hashes of folders ------------------------------------------------------------------------
    def folder_hash(self, folder: str | Path) -> str:
        """:func:`folder_sha256`, each file's digest remembered by size and modification time."""
        memo = self._load_file_hashes()
        changed = False

        def file_digest(file: Path) -> str:
            nonlocal changed
            stat = file.stat()
            signature = [stat.st_size, stat.st_mtime_ns]
            known = memo.get(str(file))
            if known and known[0] == signature:
                return known[1]
            digest = file_sha256(file)
            memo[str(file)] = [signature, digest]
            changed = True
            return digest

        result = folder_sha256(folder, file_digest)
        if changed:
            atomic_write_json(self.root / "file_hashes.json", memo)
        return result

    def _load_file_hashes(self) -> dict[str, Any]:
        if self._file_hashes is None:
            path = self.root / "file_hashes.json"
            try:
                self._file_hashes = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._file_hashes = {}
        return self._file_hashes


def code_version(stage: str) -> str:
    """SHA-256 of the sources of the modules that compute ``stage`` (:data:`STAGE_CODE`) and of the code
    versions of the stages it reads from: editing a module recomputes every stage downstream of it."""
    modules, upstream = STAGE_CODE.get(stage, (("clinrag",), ()))
    return stable_hash(
        {"sources": [source_hash(name) for name in modules], "upstream": [code_version(u) for u in upstream]}
    )


@functools.cache
def source_hash(module: str) -> str:
    """SHA-256 of a module's source file, or of every source and data file of a package (Python files, YAML
    lexicons, templates), by relative path."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ValueError(f"no module named {module!r}")
    if not spec.submodule_search_locations:  # a module
        return file_sha256(Path(spec.origin))
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix in {".py", ".yaml", ".yml", ".json", ".j2"}
    )
    digest = hashlib.sha256()
    for file in files:
        digest.update(
            file.relative_to(folder).as_posix().encode() + b"\0" + file_sha256(file).encode() + b"\n"
        )
    return digest.hexdigest()


def folder_sha256(folder: str | Path, file_digest: Callable[[Path], str] | None = None) -> str:
    """SHA-256 over a file or folder's files (relative paths and contents; a cache entry's ``.complete`` marker
    excluded, so an entry and its copy hash alike). ``file_digest``: each file's SHA-256 (default: read it)."""
    file_digest = file_digest or file_sha256
    folder = Path(folder).resolve()
    files = (
        [folder]
        if folder.is_file()
        else sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".complete")
    )
    digest = hashlib.sha256()
    for file in files:
        relative = file.name if file == folder else file.relative_to(folder).as_posix()
        digest.update(relative.encode("utf-8") + b"\0" + file_digest(file).encode() + b"\n")
    return digest.hexdigest()
