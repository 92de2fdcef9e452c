"""The evaluated cells read in fixed chunks of ``cell_batch`` cells, each chunk written atomically as soon as it
is done: a run killed at any point resumes at its first missing chunk, and the fixed chunks make the result
independent of where it was killed."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any

from clinrag.experiment.cache import fault_point, stable_hash
from clinrag.experiment.stages.base import Stage
from clinrag.io import atomic_write_jsonl
from clinrag.text.passages import Passage

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
        from clinrag.generation.base import Learned, build_reader, reader_class
        from clinrag.generation.pipeline import cell_requests

        config, patients, variables = run.config, run.evaluated, run.variables
        self.whole_records = not reader_class(config.reader.type).needs_retrieval
        key = run.cache.key(self.cache, self.payload(run))
        folder = run.cache.path(self.cache, key)
        folder.mkdir(parents=True, exist_ok=True)
        if self.whole_records:  # a patient's record is read for all variables at once
            per_chunk = max(1, config.cell_batch // max(1, len(variables)))
            units = [patients[i : i + per_chunk] for i in range(0, len(patients), per_chunk)]
        else:
            cells = [(pid, var) for pid in patients for var in variables]
            units = [cells[i : i + config.cell_batch] for i in range(0, len(cells), config.cell_batch)]
        reader = None
        results = []
        computed = 0
        start = time.perf_counter()
        bar = None
        from clinrag.progress import bars_allowed

        if bars_allowed(run.progress):  # none inside clinrag.progress.quiet()
            from tqdm.auto import tqdm

            bar = tqdm(total=len(units), desc="reading (chunks)", unit="chunk")
        try:  # a reader that fails (a server gone) leaves the bar's line finished: its error prints on its own
            for number, unit in enumerate(units):
                chunk_file = folder / f"chunk-{number:05d}.jsonl"
                if chunk_file.is_file():
                    records = [
                        json.loads(line) for line in chunk_file.read_text(encoding="utf-8").splitlines()
                    ]
                else:
                    if reader is None:
                        reader = build_reader(config.reader)
                        reader.attach(run.cohort, Learned(run.priors, run.boolean_model, run.value_model))
                    if self.whole_records:  # requests without passages
                        cells, found = [(pid, var) for pid in unit for var in variables], None
                    else:
                        cells, found = unit, run.found
                    chunk = reader.read(cell_requests(cells, run.store, found, config.retrieval.k))
                    records = [_result_record(r) for r in chunk]
                    atomic_write_jsonl(chunk_file, records)
                    fault_point(f"generations:{number}")
                    computed += 1
                results.extend(_result_from_record(r) for r in records)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        (folder / ".complete").write_text("", encoding="utf-8")
        run.results = results
        detail = f"{len(results)} cells, {computed} of {len(units)} chunks read now"
        run._stage(self.name, key, computed == 0, time.perf_counter() - start, detail)


def _result_record(result) -> dict[str, Any]:
    record = dataclasses.asdict(result)
    record.pop("seconds", None)  # wall time: not part of the result
    return record


def _result_from_record(record: dict[str, Any]):
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
