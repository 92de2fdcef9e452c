"""The evaluated cells read in fixed chunks of ``cell_batch`` cells, each chunk written atomically as soon as it
is done: a run killed at any point resumes at its first missing chunk, and the fixed chunks make the result
independent of where it was killed, and of the engine that read them (:mod:`clinrag.experiment.engine`: this
process, or Ray workers)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from clinrag.experiment.cache import stable_hash
from clinrag.experiment.stages.base import Stage

if TYPE_CHECKING:
    from clinrag.experiment.runner import Run


class GenerationsStage(Stage):
    """Every (patient, variable) of the evaluated split read by the configured reader (a reader that reads whole
    records reads whole patients per chunk)."""

    name = "generations"
    cache = "generations"
    reads = (
        "cohort",
        "cohort_hash",
        "store",
        "variables",
        "evaluated",
        "hits",
        "priors",
        "boolean_model",
        "value_model",
        "config",
    )
    writes = ("results",)

    def payload(self, run: Run) -> dict[str, Any]:
        config, patients = run.config, run.evaluated
        return {
            "cohort": run.cohort_hash,
            "reader": run.reader_identity(),
            # the passages each evaluated cell reads (not the whole retrieval stage: a run that also retrieved
            # for training reads the same cells as one that did not)
            "passages": None
            if self.whole_records
            else {
                "chunking": config.chunking.model_dump(),
                "hits": stable_hash({pid: run.hits[pid] for pid in patients}),
            },
            "patients": patients,
            "variables": [v.name for v in run.variables],
            "cell_batch": config.cell_batch,
            "priors": {name: dataclasses.asdict(prior) for name, prior in sorted(run.priors.items())},
            "booleans": run.boolean_model.to_json() if run.boolean_model else None,
            "values": run.value_model.to_json() if run.value_model else None,
        }

    def execute(self, run: Run) -> None:
        from clinrag.experiment.engine import ReadingJob, read_chunks
        from clinrag.generation.base import CellRequest, Learned, reader_class

        config, patients, variables = run.config, run.evaluated, run.variables
        self.whole_records = not reader_class(config.reader.type).needs_retrieval
        key = run.cache.key(self.cache, self.payload(run))
        folder = run.cache.path(self.cache, key)
        if self.whole_records:  # a patient's record is read for all variables at once
            per_chunk = max(1, config.cell_batch // max(1, len(variables)))
            units = [patients[i : i + per_chunk] for i in range(0, len(patients), per_chunk)]
        else:
            cells = [(pid, var) for pid in patients for var in variables]
            units = [cells[i : i + config.cell_batch] for i in range(0, len(cells), config.cell_batch)]

        def requests(number: int) -> list[CellRequest]:
            if self.whole_records:
                return [CellRequest(pid, var, []) for pid in units[number] for var in variables]
            return [run.request(pid, var, config.retrieval.k) for pid, var in units[number]]

        def job() -> ReadingJob:
            learned = Learned(run.priors, run.boolean_model, run.value_model)
            return ReadingJob(config.reader, run.cohort, learned)

        start = time.perf_counter()
        results, computed = read_chunks(
            folder,
            [("requests", unit) for unit in units],
            job,
            run.engine,
            run.progress,
            requests,
            stage="generations",
        )
        run.results = results
        detail = f"{len(results)} cells, {computed} of {len(units)} chunks read now"
        run._stage(self.name, key, computed == 0, time.perf_counter() - start, detail)
