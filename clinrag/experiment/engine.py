"""Where cells are read: in this process (``--engine local``, the default) or on Ray workers (``--engine ray``).

Both engines read the same fixed chunks (``cell_batch`` cells of ``clinrag run``'s generations; whole patients in
``clinrag fill``) with the same code (:class:`ChunkWorker`), and the driver, this process, writes each chunk into
the stage cache atomically as soon as it is back: a command killed at any point resumes at its first missing chunk,
whichever engine read the others, and the outputs are written by the driver from the chunks in their order, so
they are the same bytes whichever engine read them (docs/distributed.md).

A Ray worker is an actor that builds its reader (and, for ``fill``, its retriever over the cohort's passages) once,
from the model folders the run's config names, then reads the chunks the driver hands it, one at a time. Ray is an
optional extra (``pip install 'clinrag[ray]'``); this module imports it only for ``--engine ray``. The workers print
nothing (no progress bars, no prompt, no passage) and their output is not forwarded to the driver
(``log_to_driver=False``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinrag.data.cohort import Cohort
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError
from clinrag.experiment.cache import fault_point
from clinrag.io import atomic_write_jsonl
from clinrag.text.passages import Passage, PassageStore

ENGINES = ("local", "ray")
"""The engines ``--engine`` chooses from."""

RAY_EXTRA = "pip install 'clinrag[ray]'"
"""How the Ray extra is installed (said when it is missing)."""

CONNECT_TIMEOUT_S = 10.0
"""How long ``--address`` may take to answer a TCP connection before it is called unreachable (Ray itself retries
an unreachable cluster for minutes)."""


@dataclass(frozen=True)
class EngineSpec:
    """The engine the command line asked for.

    Attributes:
        kind: ``local`` or ``ray``.
        address: A Ray cluster to join (``auto``, ``HOST:PORT`` of its head, ``ray://HOST:PORT`` of its Ray
            Client server); None: start a Ray instance on this machine.
        workers: Ray workers (actors); on this machine also the CPUs the instance may use. None: as many as the
            instance's CPUs (or GPUs, with ``gpus_per_worker``) allow.
        gpus_per_worker: GPUs each Ray worker holds (a fraction shares one); 0 on CPUs.
    """

    kind: str = "local"
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0

    def check(self) -> None:
        """Refuse, before any work, options that do not go together.

        Raises:
            ClinragError: One line naming the option.
        """
        if self.kind not in ENGINES:
            raise ClinragError(f"--engine: unknown engine '{self.kind}' (choose from {', '.join(ENGINES)})")
        if self.kind == "local" and (self.address or self.workers or self.gpus_per_worker):
            raise ClinragError("--address, --workers and --gpus-per-worker need --engine ray")
        if self.workers is not None and self.workers < 1:
            raise ClinragError(f"--workers: {self.workers}; at least 1")
        if self.gpus_per_worker < 0:
            raise ClinragError(f"--gpus-per-worker: {self.gpus_per_worker}; 0 or more")


# ---- what a worker reads ---------------------------------------------------------------------------------------
@dataclass
class ReadingJob:
    """What a worker needs to read chunks, sent to each worker once.

    Attributes:
        reader: The reader's settings (``reader`` section of the config, trained folders filled in).
        cohort: The cohort whose cells are read (a reader of whole records reads it; a retriever indexes it).
        learned: What the run learned from its train split's table
            (:class:`~clinrag.generation.base.Learned`).
        variables: The variables of a patient chunk (``fill``).
        retrieval: The retrieval settings of a worker that retrieves each cell's passages itself (``fill``):
            it indexes ``store`` with them once. None: chunks come as requests with their passages (``run``).
        store: The cohort's passages (with ``retrieval``).
        k: Passages the decoder reads per cell.
        depth: Passages retrieved per cell (the candidate model reads them; default ``k``).
    """

    reader: Any
    cohort: Cohort
    learned: Any
    variables: list[Variable] = dataclasses.field(default_factory=list)
    retrieval: Any = None
    store: PassageStore | None = None
    k: int = 5
    depth: int | None = None


class ChunkWorker:
    """Reads chunks of one :class:`ReadingJob` with one reader (and one retriever), built on the first chunk.

    Both engines use it: the local engine in this process, the Ray engine as an actor on each worker.
    """

    def __init__(self, job: ReadingJob):
        self.job = job
        self.reader = None
        self.retriever = None

    def ready(self) -> str:
        """Build the reader (and the retriever over the cohort's passages); returns the worker's clinrag source
        hash, which must be the driver's (the same code reads the same cells alike)."""
        from clinrag.experiment.cache import source_hash
        from clinrag.generation.base import build_reader

        if self.reader is None:
            job = self.job
            reader = build_reader(job.reader)
            reader.attach(job.cohort, job.learned)
            if job.retrieval is not None and reader.needs_retrieval:
                from clinrag.retrieval.pipeline import make_retriever

                self.retriever = make_retriever(job.retrieval, job.cohort)
                self.retriever.index(job.store)
            self.reader = reader
        return source_hash("clinrag")

    def read(self, number: int, kind: str, unit: list) -> tuple[int, list[dict[str, Any]]]:
        """Chunk ``number``'s result records: ``unit`` is a list of cell requests (``kind`` "requests"), or of
        patients whose cells are retrieved and read here (``kind`` "patients")."""
        from clinrag.generation.pipeline import cell_requests, retrieving

        self.ready()
        job = self.job
        if kind == "patients":
            found = None
            if self.reader.needs_retrieval:
                if job.store is None or self.retriever is None:
                    raise ValueError("a reader that reads retrieved passages needs passages and a retriever")
                found = retrieving(self.retriever, job.store, max(job.k, job.depth or job.k))
            cells = [(pid, var) for pid in unit for var in job.variables]
            unit = cell_requests(cells, job.store, found, job.k)
        return number, [result_record(r) for r in self.reader.read(unit)]


def result_record(result) -> dict[str, Any]:
    """A :class:`~clinrag.generation.base.CellResult` as a chunk file's record (its wall time left out)."""
    record = dataclasses.asdict(result)
    record.pop("seconds", None)  # wall time: not part of the result
    return record


def result_from_record(record: dict[str, Any]):
    """The :class:`~clinrag.generation.base.CellResult` of a chunk file's record."""
    from clinrag.generation.base import CellResult

    support = record.get("support")
    return CellResult(
        patient_id=record["patient_id"],
        variable=record["variable"],
        cell=record["cell"],
        raw=record["raw"],
        failed=record["failed"],
        score=record["score"],
        support=Passage(**support) if support else None,
        tokens=record["tokens"],
        seconds=0.0,
        extra=record.get("extra") or {},
    )


# ---- the engines ------------------------------------------------------------------------------------------------
Task = tuple[int, str, list]
"""A chunk to read: its number, its kind (``requests`` or ``patients``) and its unit."""


class LocalEngine:
    """Reads the chunks in this process, in order, with one worker built on the first missing chunk."""

    kind = "local"

    def describe(self) -> str:
        return "this process"

    def check_devices(self, reader: Any, retriever: Any = None) -> None:
        """Nothing to check: this process reads on the devices the config names."""

    def map(self, job: ReadingJob, tasks: Iterable[Task]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        worker = None
        for number, kind, unit in tasks:
            worker = worker or ChunkWorker(job)
            yield worker.read(number, kind, unit)


class RayEngine:
    """Reads the chunks on Ray actors: each builds its reader (and retriever) once, then reads the chunks the
    driver hands it as it finishes the previous one."""

    kind = "ray"

    def __init__(self, workers: int, gpus_per_worker: float, where: str):
        self.workers, self.gpus_per_worker, self.where = workers, gpus_per_worker, where

    def describe(self) -> str:
        gpus = f", {self.gpus_per_worker:g} GPU each" if self.gpus_per_worker else ""
        return f"{self.workers} Ray worker(s){gpus} on {self.where}"

    def check_devices(self, reader: Any, retriever: Any = None) -> None:
        """Refuse, before any work, a config that reads on a GPU when the workers hold none (Ray would let
        every worker use whichever GPU its machine has).

        Raises:
            ClinragError: One line naming the field.
        """
        from clinrag.retrieval.base import walk_retrievers

        if self.gpus_per_worker:
            return
        fields = [("reader.device", getattr(reader, "device", "cpu"))]
        if retriever is not None:
            fields += [
                (f"{path}.device", getattr(s, "device", "cpu")) for path, s in walk_retrievers(retriever)
            ]
        for name, device in fields:
            if str(device).startswith("cuda"):
                raise ClinragError(
                    f"{name} is {device}: the Ray workers hold no GPU; give --gpus-per-worker (1, or 0.5 to put "
                    "two workers on one GPU)"
                )

    def map(self, job: ReadingJob, tasks: Iterable[Task]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        import ray
        from ray.util import ActorPool

        from clinrag.experiment.cache import source_hash

        tasks = list(tasks)
        if not tasks:
            return
        remote = ray.remote(ChunkWorker).options(num_cpus=1, num_gpus=self.gpus_per_worker)
        job_ref = ray.put(job)  # one copy in the object store, whatever the number of workers
        actors = [remote.remote(job_ref) for _ in range(min(self.workers, len(tasks)))]
        try:
            with _worker_errors():
                hashes = set(ray.get([actor.ready.remote() for actor in actors]))
            if hashes != {source_hash("clinrag")}:
                raise ClinragError(
                    "--engine ray: the Ray workers run another clinrag than this process (its sources differ): "
                    "install the same clinrag on every node"
                )
            pool = ActorPool(actors)
            with _worker_errors():
                yield from pool.map_unordered(lambda actor, task: actor.read.remote(*task), tasks)
        finally:
            for actor in actors:
                ray.kill(actor)


@contextmanager
def _worker_errors() -> Iterator[None]:
    """A worker's ClinragError as this process's (one line); a worker that died as one line saying how to go on."""
    import ray.exceptions

    try:
        yield
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, ClinragError):
            raise ClinragError(str(cause)) from None
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except ray.exceptions.RayActorError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ClinragError(
            f"--engine ray: a Ray worker died ({reason[:200]}); the chunks read so far are kept: run the same "
            "command again to resume"
        ) from None


Engine = LocalEngine | RayEngine


@contextmanager
def open_engine(spec: EngineSpec | None = None, log: Callable[[str], None] | None = None) -> Iterator[Engine]:
    """The engine of ``spec`` (default local), shut down on exit. For Ray: joins the cluster at ``spec.address``,
    else starts an instance on this machine with ``spec.workers`` CPUs; checked before any work.

    Raises:
        ClinragError: Ray is not installed, the address does not answer or is no Ray cluster, or the cluster
            cannot hold one worker (one line).
    """
    spec = spec or EngineSpec()
    spec.check()
    if spec.kind == "local":
        yield LocalEngine()
        return
    ray = _import_ray()
    if spec.address not in (None, "auto"):
        _check_reachable(spec.address)
    started = _init_ray(ray, spec)
    try:
        engine = RayEngine(*_workers(ray, spec), "this machine" if spec.address is None else spec.address)
        if log is not None:
            log(f"[engine] reading on {engine.describe()}")
        yield engine
    finally:
        if started:
            ray.shutdown()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ClinragError(f"--engine ray: Ray is not installed; install the extra: {RAY_EXTRA}") from None
    return ray


def _check_reachable(address: str) -> None:
    """``HOST:PORT`` or ``ray://HOST:PORT`` answers a TCP connection within :data:`CONNECT_TIMEOUT_S`."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClinragError(
            f"--address: '{address}' is not auto, HOST:PORT or ray://HOST:PORT (a Ray cluster's head)"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ClinragError(
            f"--address {address}: unreachable ({reason}); is the Ray cluster started?"
        ) from None


def _init_ray(ray, spec: EngineSpec) -> bool:
    """Start or join Ray (quietly: the workers' output stays on them); whether this process started it."""
    import logging

    from clinrag.io import cache_home

    if ray.is_initialized():  # a caller that started Ray itself (a notebook, a test)
        return False
    # the workers resolve embedded:NAME models under the same cache as this process; on this machine they also
    # import the same clinrag (a source checkout that is not installed)
    env = {"CLINRAG_CACHE_DIR": str(cache_home())}
    if spec.address is None:
        source = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    options: dict[str, Any] = {
        "log_to_driver": False,  # no worker output on this terminal (nor prompts or passages, which none prints)
        "logging_level": logging.ERROR,
        "configure_logging": True,
        "runtime_env": {"env_vars": env},
    }
    if spec.address is None:  # a new instance, even where `ray start` left one running
        cpus = spec.workers or os.cpu_count() or 1
        options.update(address="local", num_cpus=cpus, include_dashboard=False)
    else:
        options["address"] = spec.address
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        where = f"--address {spec.address}" if spec.address else "--engine ray"
        raise ClinragError(f"{where}: Ray did not start ({reason})") from None
    return True


def _workers(ray, spec: EngineSpec) -> tuple[int, float]:
    """How many workers the cluster holds at once (at most ``spec.workers``), and their GPUs each.

    Raises:
        ClinragError: Not one worker fits (no CPU, or fewer GPUs than ``--gpus-per-worker``).
    """
    resources = ray.cluster_resources()
    fits = int(resources.get("CPU", 0))
    if spec.gpus_per_worker:
        gpus = resources.get("GPU", 0)
        fits = min(fits, int(gpus // spec.gpus_per_worker))
        if fits < 1:
            raise ClinragError(
                f"--gpus-per-worker {spec.gpus_per_worker:g}: the Ray cluster has {gpus:g} GPU(s); "
                "give 0 on CPUs"
            )
    if fits < 1:
        raise ClinragError("--engine ray: the Ray cluster has no CPU to run a worker on")
    return min(spec.workers or fits, fits), spec.gpus_per_worker


# ---- the chunk loop ---------------------------------------------------------------------------------------------
def read_chunks(
    folder: Path,
    units: list[tuple[str, Any]],
    job: Callable[[], ReadingJob],
    engine: Engine | None = None,
    progress: bool = False,
    unit_of: Callable[[int], list] | None = None,
    stage: str = "chunks",
) -> tuple[list, int]:
    """Every chunk's results, in chunk order: from its file ``folder/chunk-NNNNN.jsonl`` when there is one,
    else read now by ``engine`` (default local) and written there atomically by this process as it comes back.

    Args:
        folder: The stage cache entry's folder (made when missing).
        units: Each chunk's kind (``requests`` or ``patients``) and what identifies its unit.
        job: Builds the :class:`ReadingJob` (called only when a chunk is missing).
        engine: Where missing chunks are read.
        progress: A bar over the chunks.
        unit_of: Chunk number -> its unit as the workers read it (default: ``units[number][1]``): requests are
            built only for the chunks read now.
        stage: The name of the fault points after each chunk written (``CLINRAG_FAULT=STAGE:NUMBER``).

    Returns:
        The results (:class:`~clinrag.generation.base.CellResult`) and how many chunks were read now.
    """
    from clinrag.progress import bars_allowed

    engine = engine or LocalEngine()
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"chunk-{number:05d}.jsonl" for number in range(len(units))]
    missing = [number for number, file in enumerate(files) if not file.is_file()]
    bar = None
    if bars_allowed(progress):  # none inside clinrag.progress.quiet()
        from tqdm.auto import tqdm

        bar = tqdm(total=len(units), desc="reading (chunks)", unit="chunk", file=sys.stderr)
        bar.update(len(units) - len(missing))
    unit_of = unit_of or (lambda number: units[number][1])
    try:  # a reader that fails (a server gone) leaves the bar's line finished: its error prints on its own
        if missing:
            tasks = ((number, units[number][0], unit_of(number)) for number in missing)
            for number, records in engine.map(job(), tasks):
                atomic_write_jsonl(files[number], records)
                fault_point(f"{stage}:{number}")
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    results = []
    for file in files:
        results.extend(
            result_from_record(json.loads(line)) for line in file.read_text(encoding="utf-8").splitlines()
        )
    (folder / ".complete").write_text("", encoding="utf-8")
    return results, len(missing)


def patient_chunks(patients: list[str], variables: int, cell_batch: int) -> list[list[str]]:
    """Whole patients in chunks of about ``cell_batch`` cells (at least one patient each)."""
    per_chunk = max(1, cell_batch // max(1, variables))
    return [patients[i : i + per_chunk] for i in range(0, len(patients), per_chunk)]
