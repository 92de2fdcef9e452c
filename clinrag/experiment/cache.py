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

import ast
import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clinrag.io import FileHashes, atomic_folder, cache_home, file_sha256, stable_hash

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


class Cache:
    """Stage entries under a root folder (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._file_hashes = FileHashes(self.root / "file_hashes.json")

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

    def folder_hash(self, folder: str | Path) -> str:
        """:func:`clinrag.io.folder_sha256`, each file's digest remembered in ``file_hashes.json`` beside the
        entries (:class:`clinrag.io.FileHashes`)."""
        return self._file_hashes.folder_sha256(folder)


def code_version(stage: str) -> str:
    """SHA-256 of the sources of the code that computes ``stage`` (:func:`code_modules`) and of the code
    versions of the stages it reads from: editing a module recomputes every stage downstream of it."""
    _, upstream = STAGE_CODE.get(stage, (("clinrag",), ()))
    return stable_hash(
        {
            "sources": [source_hash(name) for name in code_modules(stage)],
            "upstream": [code_version(u) for u in upstream],
        }
    )


_PACKAGE = Path(__file__).resolve().parents[1]  # clinrag/
_NOT_FOLLOWED = frozenset({"clinrag.experiment.cache", "clinrag.experiment.runner", "clinrag.progress"})
"""Modules whose imports are not followed: the cache itself (imported by every stage; a change of what it stores
bumps :data:`CACHE_FORMAT`), the progress bars, and the runner, hashed where :data:`STAGE_CODE` lists it (the
requests it builds from the retrieval stage's hits) but whose imports serve the run folder it writes (report,
baseline, metrics), which no cached stage reads."""


def code_modules(stage: str) -> list[str]:
    """The modules whose sources ``stage``'s :func:`code_version` covers: those :data:`STAGE_CODE` lists
    (a package whole, its data files included) and every clinrag module they import, directly or through
    others, at the top of a module or inside a function (not the imports for type checkers alone); a package
    reached by an import counts by its ``__init__.py`` (``NAME.__init__``). A stage missing from
    :data:`STAGE_CODE` covers every clinrag source."""
    modules, _ = STAGE_CODE.get(stage, (("clinrag",), ()))
    return sorted(_import_closure(tuple(modules)))


@functools.cache
def _import_closure(roots: tuple[str, ...]) -> frozenset[str]:
    covered: set[str] = set(roots)
    seen: set[Path] = set()
    todo = [file for root in roots if root not in _NOT_FOLLOWED for file in _source_files(root)]
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        for name in _imported(file):
            target = _module_file(name)
            if target is None or name in _NOT_FOLLOWED:
                continue
            module = name + ".__init__" if target.name == "__init__.py" else name
            if not any(module == root or module.startswith(root + ".") for root in roots):
                covered.add(module)
            todo.append(target)
    return frozenset(covered)


def _source_files(module: str) -> list[Path]:
    """The Python files of a module or (all of) a package of clinrag."""
    relative = Path(*module.split(".")[1:])
    folder = _PACKAGE / relative
    if folder.is_dir():
        return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
    return [folder.with_suffix(".py")]


def _module_file(name: str) -> Path | None:
    """The file of clinrag module ``name`` (a package's ``__init__.py``), None for no such module or a
    namespace package."""
    if name != "clinrag" and not name.startswith("clinrag."):
        return None
    path = _PACKAGE.joinpath(*name.split(".")[1:])
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _imported(file: Path) -> frozenset[str]:
    """The clinrag modules ``file`` imports: ``import M``, ``from M import N`` (``M.N`` when that is a module),
    anywhere but under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    sub = f"{child.module}.{alias.name}"
                    found.add(sub if _module_file(sub) is not None else child.module)
            visit(child)

    visit(ast.parse(file.read_text(encoding="utf-8")))
    return frozenset(name for name in found if name == "clinrag" or name.startswith("clinrag."))


@functools.cache
def source_hash(module: str) -> str:
    """SHA-256 of a clinrag module's source file (``NAME.__init__``: a package's own file), or of every source
    and data file of a package (Python files, YAML lexicons, templates), by relative path."""
    folder = _PACKAGE.joinpath(*module.split(".")[1:])
    if not folder.is_dir():  # a module
        file = _module_file(module.removesuffix(".__init__")) if module.endswith(".__init__") else None
        file = file or folder.with_suffix(".py")
        if not file.is_file():
            raise ValueError(f"no module named {module!r}")
        return file_sha256(file)
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
