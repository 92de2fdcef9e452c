"""The stages of ``clinrag run``, in the order it runs them (:data:`STAGES`); each declares what it reads and
writes on the run, what its cache key holds (:meth:`Stage.payload`, plus the code version of
:func:`clinrag.experiment.cache.code_version`), how it computes its entry and how it loads it back."""

from clinrag.experiment.stages.base import Stage
from clinrag.experiment.stages.cohort import CohortStage, VocabularyStage
from clinrag.experiment.stages.generations import GenerationsStage
from clinrag.experiment.stages.reader import PriorsStage, ReaderStage
from clinrag.experiment.stages.retrieval import MergeStage, RetrievalStage

STAGES: tuple[Stage, ...] = (
    CohortStage(),
    MergeStage(),
    RetrievalStage(),
    ReaderStage(),
    PriorsStage(),
    GenerationsStage(),
)
"""The run's stages in order (the vocabulary stage runs inside the cohort's: the cohort's variables are read
with their vocabulary, and its hash, which every later key holds, sees it)."""

__all__ = [
    "STAGES",
    "CohortStage",
    "GenerationsStage",
    "MergeStage",
    "PriorsStage",
    "ReaderStage",
    "RetrievalStage",
    "Stage",
    "VocabularyStage",
]
