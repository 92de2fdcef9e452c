"""A patient's record: which documents the course calls for, when, and in what order they are written.

The documents share the writer's random source, so the order of the calls below is part of the cohort's bytes
(the documents are sorted by date only once all are written).
"""

from __future__ import annotations

from clinrag.synth.documents import (
    biology,
    cardiology,
    discharge,
    emergency,
    followup,
    imaging,
    revascularization,
    unrelated,
)
from clinrag.synth.documents.writer import Draft, Writer
from clinrag.synth.patient import Case


def write_record(case: Case, seed: int) -> list[Draft]:
    """All documents of patient ``case``, in date order, 4 to 12 of them (the same for the same seed)."""
    writer = Writer(case, seed)
    c, rng = case, writer.rng
    drafts = [emergency.admission_note(writer), imaging.admission_imaging(writer)]
    if c.thrombolysis:
        drafts.append(revascularization.thrombolysis_report(writer))
    if c.thrombectomy:
        drafts.append(revascularization.thrombectomy_report(writer))
    if rng.random() < 0.85 or c.documented["ldl"]:
        drafts.append(biology.lab_results(writer))
    if rng.random() < 0.6 or c.af_on_ecg or c.died_in_hospital:
        drafts.append(cardiology.ecg(writer))
    if c.nihss_corrected_from is not None:
        drafts.append(emergency.nihss_addendum(writer))
    if c.control_imaging:
        drafts.append(imaging.control_imaging(writer))
    stay = rng.randint(4, 14) if not c.died_in_hospital else rng.randint(1, 8)
    found_in_stay = c.af and not c.af_known and not c.af_on_ecg and not c.af_late_holter
    holter_in_stay = found_in_stay or (
        not c.af_known and not c.af_late_holter and not c.died_in_hospital and rng.random() < 0.75
    )
    if holter_in_stay:
        drafts.append(cardiology.holter(writer, rng.randint(2, max(2, stay - 1))))
    if rng.random() < 0.35 and not c.died_in_hospital:
        drafts.append(cardiology.echocardiography(writer, rng.randint(1, max(1, stay - 1))))
    drafts.append(discharge.discharge_letter(writer, stay, toast_known=not (c.af and c.af_late_holter)))
    if not c.died_in_hospital:
        if c.af_late_holter:
            drafts.append(cardiology.holter(writer, stay + rng.randint(10, 40)))
        if c.destination == "reeducation" and rng.random() < 0.7:
            drafts.append(discharge.rehab_letter(writer, stay + rng.randint(20, 60)))
        if rng.random() < 0.3:
            drafts.append(followup.consultation(writer, rng.randint(35, 50), "6s"))
        if c.followup_3m:
            drafts.append(followup.consultation(writer, rng.randint(80, 105), "3m"))
        if c.mrs_3m != 6 and rng.random() < 0.5:
            drafts.append(followup.consultation(writer, rng.randint(340, 390), "12m"))
    # Unrelated documents, before or after the stroke.
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        drafts.append(unrelated.unrelated_consultation(writer, rng.randint(-200, 360)))
    while len(drafts) < 4:
        drafts.append(unrelated.unrelated_consultation(writer, rng.randint(-200, 360)))
    # Too many: drop the documents that carry no registry value first (at most 11 others can remain).
    for kind in (
        "consultation_autre",
        "echographie_cardiaque",
        "consultation_6s",
        "consultation_12m",
        "lettre_reeducation",
    ):
        while len(drafts) > 12 and any(d.kind == kind for d in drafts):
            drafts.remove(next(d for d in reversed(drafts) if d.kind == kind))
    drafts.sort(key=lambda d: d.moment)
    return drafts
