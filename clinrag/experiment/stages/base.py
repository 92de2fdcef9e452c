"""What a stage of ``clinrag run`` is: a name, the cache entries it keys, what it reads and writes on the run,
its key's payload, how it computes its entry into a staging folder and how it loads the entry back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from clinrag.experiment.runner import Run


class Stage:
    """One stage. The default :meth:`execute` keys the payload (with the code version of ``cache``), builds the
    entry when the cache lacks it, loads it and logs the stage; a stage that runs otherwise (a validated cohort
    folder, chunked generations) overrides it.

    Attributes:
        name: The stage's name in logs, ``RunResult.stages`` and the manifest.
        cache: The cache stage its entries live under (a key of :data:`clinrag.experiment.cache.STAGE_CODE`).
        reads: The run's attributes it reads (set by earlier stages).
        writes: The run's attributes it sets.
    """

    name: ClassVar[str]
    cache: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()

    def wanted(self, run: Run) -> bool:
        """Whether the run needs this stage (default: always)."""
        return True

    def payload(self, run: Run) -> dict[str, Any]:
        """What the entry depends on besides code: the inputs' hashes and the settings the stage reads."""
        raise NotImplementedError

    def compute(self, run: Run, staging: Path) -> None:
        """Write the entry into ``staging``."""
        raise NotImplementedError

    def load(self, run: Run, folder: Path) -> str:
        """Set the stage's outputs on the run from its entry; returns the log line's detail."""
        raise NotImplementedError

    def execute(self, run: Run) -> None:
        """Key, build when missing, load, log."""
        key = run.cache.key(self.cache, self.payload(run))
        start = time.perf_counter()
        folder, cached = run.cache.build(self.cache, key, lambda staging: self.compute(run, staging))
        detail = self.load(run, folder)
        run._stage(self.name, key, cached, time.perf_counter() - start, detail)
