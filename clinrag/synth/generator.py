"""Synthetic French longitudinal stroke cohort: documents, gold table, gold evidence and gold identifiers.

Each patient gets a latent clinical course drawn with realistic dependencies (age drives atrial fibrillation,
large-vessel occlusions drive NIHSS and thrombectomy, NIHSS at discharge and age drive the 3-month mRS...),
then 4 to 12 dated documents written from it over about a year. The records hold what makes the real task hard:

* values that change over time (NIHSS at admission, at 24 h and at discharge; mRS at discharge, 6 weeks,
  3 months and 12 months);
* negations ("pas de diabète"), hypotheses ("FA ? Holter à prévoir"), family history ("père diabétique");
* copy-forward paragraphs (the discharge letter and the rehabilitation letter repeat the admission note);
* abbreviations and typos ("ATCD", "HTA", "DT2", "diabéte"), unit variants (glycemia in g/L or mmol/L,
  LDL in g/L or mmol/L);
* corrections in later documents (an addendum fixing the admission NIHSS; an etiology revised once a Holter
  finds atrial fibrillation after discharge);
* values that need several documents read in order (AF on a Holter days later, mRS at 3 months, not before;
  an onset "la veille" resolved against the note's date);
* undocumented values (empty cells: no lipid panel, lost to follow-up, smoking never asked).

Randomness comes from one ``random.Random`` per patient seeded from (seed, patient index): the same seed gives
byte-identical files, and patient k is the same whatever the cohort's size.

Layout: :mod:`clinrag.synth.patient` draws the latent course; :mod:`clinrag.synth.documents` writes the
record (one module per document type, :func:`~clinrag.synth.documents.record.write_record` choosing and
ordering them); this module assembles the cohort and its gold mentions; :mod:`clinrag.synth.folder` writes it
to a folder.
"""

from __future__ import annotations

import importlib.resources
import random
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from clinrag.data.cohort import Cohort, Document, EvidenceSpan, PhiSpan
from clinrag.data.values import canonical_cell
from clinrag.data.variables import Variable
from clinrag.synth.builder import Rendered, render
from clinrag.synth.documents.record import write_record
from clinrag.synth.documents.writer import Draft
from clinrag.synth.patient import Case, draw_case

SPLIT_SHARES = (0.6, 0.2)  # train, dev; test takes the rest


def synthetic_variables() -> list[Variable]:
    """The registry variables of the synthetic cohort (``clinrag/synth/variables.yaml``)."""
    text = importlib.resources.files("clinrag.synth").joinpath("variables.yaml").read_text(encoding="utf-8")
    return [Variable(**item) for item in yaml.safe_load(text)["variables"]]


def _rendered_documents(case: Case, seed: int) -> Iterator[tuple[str, Draft, Rendered]]:
    """Yield ``(doc_id, draft, rendered)`` for each of a patient's documents, in date order."""
    for number, draft in enumerate(write_record(case, seed), start=1):
        yield f"{case.patient_id}-D{number:02d}", draft, render(draft.paras)


@dataclass(frozen=True)
class GoldMention:
    """A mention of a concept that the generator wrote, with what it meant (see :class:`~clinrag.synth.builder.Truth`)."""

    patient_id: str
    doc_id: str
    start: int
    end: int
    concept: str
    negated: bool
    hypothetical: bool
    family: bool


def synthesize_mentions(n_patients: int, seed: int = 0) -> list[GoldMention]:
    """The qualified mentions the generator writes into the cohort of ``(n_patients, seed)``: risk factors affirmed
    or negated, relatives' conditions, suspected AF, AF and hemorrhage found or ruled out, treatments given or not.
    Offsets index the documents of :func:`synthesize_cohort` with the same arguments (same doc_ids)."""
    mentions = []
    for index in range(n_patients):
        case = draw_case(index, seed)
        for doc_id, _draft, rendered in _rendered_documents(case, seed):
            for start, end, truth in rendered.mentions:
                mentions.append(
                    GoldMention(
                        case.patient_id,
                        doc_id,
                        start,
                        end,
                        truth.concept,
                        truth.negated,
                        truth.hypothetical,
                        truth.family,
                    )
                )
    return mentions


def synthesize_cohort(n_patients: int, seed: int = 0) -> Cohort:
    """Generate a synthetic French stroke cohort.

    Args:
        n_patients: Number of patients (all with a table row; train/dev/test split 60/20/20).
        seed: Random seed; the same seed gives the same cohort, byte for byte.

    Returns:
        The cohort, with table, splits, gold evidence and gold PHI spans.

    Raises:
        ValueError: ``n_patients`` is not positive.
    """
    if n_patients < 1:
        raise ValueError("the number of patients must be at least 1")
    variables = synthetic_variables()
    by_name = {var.name: var for var in variables}
    documents: list[Document] = []
    evidence: list[EvidenceSpan] = []
    phi: list[PhiSpan] = []
    table: dict[str, dict[str, str]] = {}
    splits: dict[str, str] = {}
    order = list(range(n_patients))
    random.Random(f"clinrag-synth-split:{seed}").shuffle(order)
    n_train = round(n_patients * SPLIT_SHARES[0])
    n_dev = round(n_patients * SPLIT_SHARES[1])
    split_of = {
        idx: ("train" if r < n_train else "dev" if r < n_train + n_dev else "test")
        for r, idx in enumerate(order)
    }
    for index in range(n_patients):
        case = draw_case(index, seed)
        for name, cell in case.gold.items():
            assert canonical_cell(by_name[name], cell) == cell, (name, cell)
        found: set[str] = set()
        for doc_id, draft, rendered in _rendered_documents(case, seed):
            documents.append(
                Document(
                    case.patient_id,
                    doc_id,
                    draft.moment.replace(second=0, microsecond=0),
                    draft.doc_type,
                    rendered.text,
                    has_time=draft.has_time,
                )
            )
            for start, end, variable in rendered.evidence:
                if case.gold[variable] == "":
                    raise AssertionError(f"evidence written for undocumented {variable} of {case.patient_id}")
                evidence.append(EvidenceSpan(case.patient_id, variable, doc_id, start, end))
                found.add(variable)
            phi.extend(PhiSpan(doc_id, start, end, label) for start, end, label in rendered.phi)
        missing = [name for name, cell in case.gold.items() if cell and name not in found]
        assert not missing, f"{case.patient_id}: documented values without evidence: {missing}"
        table[case.patient_id] = case.gold
        splits[case.patient_id] = split_of[index]
    return Cohort(
        variables=variables,
        documents=documents,
        table=table,
        table_columns=[var.name for var in variables],
        splits=splits,
        splits_given=True,
        evidence=evidence,
        phi=phi,
    )
