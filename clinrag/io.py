"""Small file helpers: every output is written atomically, so a crash never leaves half a file or half a folder."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def cache_home() -> Path:
    """clinrag's cache folder: ``$CLINRAG_CACHE_DIR``, default ``~/.cache/clinrag`` (the stage cache in ``runs/``,
    sentence embeddings in ``embeddings/``, prepared embedded models in ``models/``)."""
    return Path(os.environ.get("CLINRAG_CACHE_DIR", Path.home() / ".cache" / "clinrag"))


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read by blocks of 1 MiB."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stable_hash(payload: Any) -> str:
    """SHA-256 of a JSON-serializable payload (canonical: sorted keys, no spaces), for keys and records."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def folder_sha256(folder: str | Path, file_digest: Callable[[Path], str] | None = None) -> str:
    """SHA-256 over a file or folder's files (relative paths and contents; a cache entry's ``.complete`` marker
    excluded, so an entry and its copy hash alike): the one identity of a model folder (encoder, decoder,
    adapter, merge input). ``file_digest``: each file's SHA-256 (default: :func:`file_sha256`)."""
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


class FileHashes:
    """:func:`folder_sha256` with each file's digest remembered in a JSON file (``memo``) under its path, size
    and modification time, so that a 14 GB model folder is read once, not at every run."""

    def __init__(self, memo: str | Path):
        self.memo = Path(memo)
        self._known: dict[str, Any] | None = None

    def folder_sha256(self, folder: str | Path) -> str:
        """The content hash of ``folder`` (:func:`folder_sha256`), reading only the files not remembered."""
        known = self._load()
        changed = False

        def file_digest(file: Path) -> str:
            nonlocal changed
            stat = file.stat()
            signature = [stat.st_size, stat.st_mtime_ns]
            remembered = known.get(str(file))
            if remembered and remembered[0] == signature:
                return remembered[1]
            digest = file_sha256(file)
            known[str(file)] = [signature, digest]
            changed = True
            return digest

        result = folder_sha256(folder, file_digest)
        if changed:
            atomic_write_json(self.memo, known)
        return result

    def _load(self) -> dict[str, Any]:
        if self._known is None:
            try:
                self._known = json.loads(self.memo.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._known = {}
        return self._known


def model_folder_sha256(folder: str | Path) -> str:
    """The content hash of a model folder (:func:`folder_sha256`), each file's digest remembered where the
    default stage cache remembers it (``runs/file_hashes.json`` under :func:`cache_home`)."""
    return FileHashes(cache_home() / "runs" / "file_hashes.json").folder_sha256(folder)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    Args:
        path: Destination file; its parent folder is created if needed.
        data: The bytes to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files: give the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_jsonl(records: Iterable[dict[str, Any]]) -> str:
    """Serialize records as JSON Lines: one compact object a line, non-ASCII kept as is, keys in given order."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def atomic_write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Write records as JSON Lines to ``path`` atomically."""
    atomic_write_text(path, dumps_jsonl(records))


def dumps_json(obj: Any) -> str:
    """Serialize ``obj`` as clinrag writes every JSON record: indented by 2, non-ASCII kept as is, a final
    newline."""
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (:func:`dumps_json`) to ``path`` atomically."""
    atomic_write_text(path, dumps_json(obj))


def check_output_file(
    path: str | Path, option: str, inputs: Mapping[str, str | Path | None] | None = None
) -> None:
    """Refuse, before any work, a file output that cannot be written: ``path`` is a folder, or a folder above it
    is a file.

    Args:
        path: The file a command writes (missing folders above it are created then).
        option: How the command line names it (``--out``), for the message.
        inputs: The command's input files and folders by what they are: the output may be none of them.

    Raises:
        ClinragError: One line naming ``path`` and ``option``.
    """
    from clinrag.errors import ClinragError

    path = Path(path)
    if path.is_dir():
        raise ClinragError(f"{path}: is a folder, but {option} names the file to write")
    _check_parents(path, option)
    _check_not_an_input(path, option, inputs)


def check_output_folder(
    path: str | Path,
    option: str,
    overwrite: bool | None = None,
    *,
    inputs: Mapping[str, str | Path | None] | None = None,
    marks: tuple[str, ...] = (),
) -> None:
    """Refuse, before any work, a folder output that cannot be written: ``path`` is a file, or a folder above it
    is a file; without ``overwrite``, a folder that is not empty.

    Args:
        path: The folder a command writes.
        option: How the command line names it (``--out``), for the message.
        overwrite: None: the command writes its files into the folder beside any others (what it holds is not
            checked); False: the folder must be absent or empty (the command's ``--overwrite`` was not given);
            True: what it holds is replaced.
        inputs: The command's input folders and files by what they are ("the cohort", "the run"): the output
            may be none of them and may not hold one (writing or replacing it would destroy the input).
        marks: Files of which a folder clinrag wrote holds one (``index.json``, ``manifest.json``): a non-empty
            folder without any is refused when the command would write into it (``overwrite`` None) or replace
            it (True), so ``--overwrite`` never deletes what clinrag did not write.

    Raises:
        ClinragError: One line naming ``path`` and ``option``.
    """
    from clinrag.errors import ClinragError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ClinragError(f"{path}: is a file, but {option} names the folder to write")
    _check_parents(path, option)
    _check_not_an_input(path, option, inputs)
    if overwrite is False and path.is_dir() and any(path.iterdir()):
        raise ClinragError(f"{path}: exists and is not empty (pass --overwrite to replace it)")
    if marks and path.is_dir() and any(path.iterdir()) and not any((path / mark).exists() for mark in marks):
        raise ClinragError(
            f"{path}: holds files clinrag did not write (no {' or '.join(marks)}); {option} must be absent, "
            "empty or a folder this command wrote"
        )


def check_cache_folder(path: str | Path | None) -> None:
    """Refuse, before any work, a stage cache that cannot be written: ``--cache`` (``path``) or, when None,
    ``$CLINRAG_CACHE_DIR/runs`` is a file or lies under one."""
    if path is not None:
        check_output_folder(path, "--cache")
    else:
        check_output_folder(cache_home() / "runs", "$CLINRAG_CACHE_DIR")


def _check_not_an_input(path: Path, option: str, inputs: Mapping[str, str | Path | None] | None) -> None:
    """``path`` (an output) is none of ``inputs`` and holds none of them."""
    from clinrag.errors import ClinragError

    target = path.resolve()
    for what, source in (inputs or {}).items():
        if source is None:
            continue
        source_path = Path(source).resolve()
        if source_path == target:
            raise ClinragError(
                f"{path}: is {what}; {option} must name another path (it would be overwritten)"
            )
        if source_path.is_relative_to(target):
            raise ClinragError(f"{path}: holds {what} ({source}); {option} must name another folder")


def _check_parents(path: Path, option: str) -> None:
    """The nearest existing folder above ``path`` must be a folder (not a file)."""
    from clinrag.errors import ClinragError

    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ClinragError(f"{path}: cannot be written ({option}): {parent} is a file")
            return


def read_component_record(folder: str | Path, file_name: str, component: str, what: str) -> dict[str, Any]:
    """Read the JSON record of a saved clinrag component folder and check which component it is.

    Args:
        folder: The component's folder.
        file_name: Its record (``config.json``, ``clinrag_ner.json``).
        component: The expected ``clinrag_component`` value.
        what: How to name the component in errors ("temporal retriever").

    Raises:
        ClinragError: No record, an unreadable one, or another component's.
    """
    from clinrag.errors import ClinragError

    record_file = Path(folder) / file_name
    if not record_file.is_file():
        raise ClinragError(f"{folder}: not a {what} folder (no {file_name})")
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ClinragError(f"{record_file}: unreadable ({err})") from err
    if not isinstance(record, dict) or record.get("clinrag_component") != component:
        found = record.get("clinrag_component") if isinstance(record, dict) else None
        raise ClinragError(f"{record_file}: not a {what} (component {found!r})")
    return record


def read_optional_json(path: str | Path, what: str, parse: Callable[[Any], T]) -> T | None:
    """``parse`` of the JSON in ``path``; None when the file is absent or holds ``null``.

    Raises:
        ClinragError: The file is unreadable or ``parse`` rejects it (ValueError, KeyError, TypeError):
            "PATH: not WHAT written by clinrag (why)".
    """
    from clinrag.errors import ClinragError

    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return None if data is None else parse(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ClinragError(f"{path}: not {what} written by clinrag ({error})") from None


def package_versions(*dists: str) -> dict[str, str]:
    """The Python version and the installed version of each distribution (those not installed left out), for the
    records that say what made an output."""
    import importlib.metadata
    import platform

    versions = {"python": platform.python_version()}
    for dist in dists:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@contextmanager
def atomic_folder(target: str | Path, replace: bool = False, prefix: str | None = None) -> Iterator[Path]:
    """A staging folder beside ``target`` to write into, renamed to ``target`` when the block ends without error
    and removed when it raises: a reader never sees half a folder.

    Args:
        target: The folder to create; its parent folder is created if needed.
        replace: Replace what ``target`` holds when the block ends (a folder or a file): it is moved aside until
            the rename has succeeded (and put back if it fails), then removed. Without ``replace``, ``target`` may
            only be absent or an empty folder.
        prefix: The staging folder's name prefix (default ``.NAME.``, a hidden sibling). It is always made in
            ``target``'s parent: a rename is atomic only within one file system.

    Yields:
        The staging folder: empty, with the usual permissions.

    Raises:
        FileExistsError: Without ``replace``, ``target`` is a file or a folder that is not empty when the block
            ends (the staging folder is removed).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix or f".{target.name}.", dir=target.parent))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private
        yield staging
        _rename_into_place(staging, target, replace)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _rename_into_place(staging: Path, target: Path, replace: bool) -> None:
    holder = None
    if os.path.lexists(target):
        empty_folder = target.is_dir() and not target.is_symlink() and not any(target.iterdir())
        if not (replace or empty_folder):
            raise FileExistsError(errno.EEXIST, "exists and is not an empty folder", str(target))
        holder = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        target.rename(holder / target.name)
    try:
        staging.rename(target)
    except BaseException:
        if holder is not None:
            (holder / target.name).rename(target)
            holder.rmdir()
        raise
    if holder is not None:
        shutil.rmtree(holder, ignore_errors=True)
