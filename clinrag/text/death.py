"""Whether a patient's record says the patient died.

A registry's cells often follow from a death no passage states as a value: the modified Rankin scale is 6 for a
patient who died (whatever the timepoint after the death), a discharge destination is "décès", a follow-up visit
never took place. The value model (:mod:`clinrag.generation.candidates`) learns from the train table what a
death implies for each variable; this module only says whether the record reports one: an affirmed mention of
death (edsnlp's negation and hypothesis qualifiers, and a relative named next to the term: "pas de décès",
"risque de décès", "père décédé" are not the patient's).

Terms: French clinical usage (ATIH's "mode de sortie 9 = décès"; "DCD" as written in notes; "exitus";
"constat de décès", "certificat de décès").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from clinrag.text.persons import RELATIVE

if TYPE_CHECKING:
    from clinrag.text.passages import Passage

DEATH_TERMS = (
    "décès",
    "décédé",
    "décédée",
    "DCD",
    "exitus",
    "constat de décès",
    "certificat de décès",
    "est mort",
    "est morte",
)
_PREFILTER = re.compile(r"d[ée]c[ée]d|d[ée]c[èe]s|\bdcd\b|exitus|\bmorte?\b", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def _pipeline():
    import edsnlp.pipes as eds

    from clinrag.text.annotate import HYPOTHESIS_FOLLOWING, HYPOTHESIS_PRECEDING
    from clinrag.text.nlp import add_qualifiers, eds_pipeline

    nlp = eds_pipeline(sections=False)
    nlp.add_pipe(eds.matcher(terms={"death": list(DEATH_TERMS)}, attr="NORM"))
    hypothesis = {"preceding": HYPOTHESIS_PRECEDING, "following": HYPOTHESIS_FOLLOWING}
    return add_qualifiers(nlp, hypothesis=hypothesis)


_RELATIVE_BEFORE = re.compile(RELATIVE + r"\b[^.\n;]{0,25}$", re.IGNORECASE)
_RELATIVE_AFTER = re.compile(
    r"^\s*(?:de|d'|du|des)\s*(?:son|sa|ses|leur|la|le|l')?\s*" + RELATIVE, re.IGNORECASE
)


def _about_a_relative(text: str, start: int, end: int) -> bool:
    """A relative named in the words right before the death term ("père décédé") or as its complement ("décès
    de son épouse"). edsnlp's family qualifier reads the whole sentence, and a dictated sentence that says
    "en accord avec la famille" would hide the patient's own death."""
    return bool(
        _RELATIVE_BEFORE.search(text[max(0, start - 40) : start]) or _RELATIVE_AFTER.search(text[end:])
    )


def reports_death(texts: list[str]) -> list[bool]:
    """For each text, whether it says, affirmed and of the patient, that the patient died."""
    result = [False] * len(texts)
    kept = [i for i, text in enumerate(texts) if _PREFILTER.search(text)]
    for i, parsed in zip(kept, _pipeline().pipe([texts[i] for i in kept]), strict=True):
        result[i] = any(
            not (ent._.negation or ent._.hypothesis)
            and not _about_a_relative(texts[i], ent.start_char, ent.end_char)
            for ent in parsed.ents
        )
    return result


def deceased_patients(passages: Iterable[Passage]) -> frozenset[str]:
    """The patients one of whose passages reports their death (:func:`reports_death`)."""
    passages = list(passages)
    flags = reports_death([p.text for p in passages])
    return frozenset(p.patient_id for p, dead in zip(passages, flags, strict=True) if dead)
