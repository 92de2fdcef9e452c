"""Documents unrelated to the stroke (other specialties' consultations): distractors for retrieval."""

from __future__ import annotations

import datetime as dt

from clinrag.synth import lexicon as lx
from clinrag.synth.builder import Para
from clinrag.synth.documents.formats import fr_number
from clinrag.synth.documents.writer import Draft, Writer
from clinrag.synth.patient import Person


def unrelated_consultation(writer: Writer, days: int) -> Draft:
    """A consultation of another specialty ``days`` after the arrival (or before it, when negative)."""
    c = writer.case
    moment = dt.datetime.combine(
        c.arrival.date() + dt.timedelta(days=days), dt.time(writer.rng.randint(8, 17), 0)
    )
    kind = writer.rng.randrange(4)
    if kind == 0:
        paras = [writer.header("Ophtalmologie", moment, title="CONSULTATION D'OPHTALMOLOGIE")]
        paras.append(
            Para().t(
                f"Baisse d'acuité visuelle progressive. Acuité {writer.rng.randint(3, 9)}/10 à droite. Cataracte nucléaire. Fond d'œil : pas de rétinopathie."
            )
        )
    elif kind == 1:
        paras = [writer.header("Anesthésie", moment, title="CONSULTATION D'ANESTHÉSIE")]
        paras.append(
            Para().t(
                f"Avant arthroscopie du genou. Score ASA {writer.rng.randint(1, 3)}. Glycémie à jeun {fr_number(writer.rng.uniform(4.5, 6.5), 1)} mmol/L. Intubation prévue sans difficulté (Mallampati 2)."
            )
        )
    elif kind == 2:
        paras = [writer.header("Dermatologie", moment, title="CONSULTATION DE DERMATOLOGIE")]
        paras.append(
            Para().t(
                f"Lésion pigmentée du dos de {writer.rng.randint(3, 12)} mm, exérèse programmée. Pas d'autre lésion suspecte."
            )
        )
    else:
        paras = [writer.header("Orthopédie", moment, title="COMPTE RENDU DE CONSULTATION D'ORTHOPÉDIE")]
        paras.append(
            Para().t(
                f"Suites d'une fracture du poignet gauche. Consolidation acquise à {writer.rng.randint(6, 10)} semaines. Reprise de la kinésithérapie."
            )
        )
    paras.append(writer.signature(Person(writer.pick(*lx.MALE_FIRST_NAMES), writer.pick(*lx.SURNAMES))))
    return Draft("consultation", moment, True, paras, kind="consultation_autre")
