"""Follow-up consultations after the stroke: six weeks, three months (the registry's mRS) and one year."""

from __future__ import annotations

import datetime as dt

from clinrag.synth.builder import Para, Truth
from clinrag.synth.documents.writer import Draft, Writer


def consultation(writer: Writer, days: int, kind: str) -> Draft:
    """A follow-up consultation: ``6s`` (six weeks), ``3m`` (the registry's timepoint) or ``12m``."""
    c = writer.case
    moment = dt.datetime.combine(
        c.arrival.date() + dt.timedelta(days=days), dt.time(writer.rng.randint(8, 17), 30)
    )
    title = {
        "6s": "CONSULTATION POST-AVC PRÉCOCE",
        "3m": "CONSULTATION DE SUIVI NEUROVASCULAIRE À 3 MOIS",
        "12m": "CONSULTATION DE SUIVI À 1 AN",
    }[kind]
    if writer.rng.random() < 0.5:  # often the title does not say which visit it is
        title = "CONSULTATION DE NEUROLOGIE VASCULAIRE"
    paras = [writer.header("Consultation de neurologie vasculaire", moment, title=title)]
    mrs = {"6s": c.mrs_6w, "3m": c.mrs_3m, "12m": c.mrs_12m}[kind]
    if mrs == 6:
        p = Para().t("Appel téléphonique de suivi : la famille nous informe du ")
        where = writer.pick("à domicile", "en EHPAD", "lors d'une réhospitalisation")
        if kind == "3m":
            p.ev("mrs_3_mois", "décès du patient (mRS 6)")
        else:
            p.t("décès du patient (mRS 6)")
        p.t(f" survenu {where}.")
        paras[0] = writer.header("Consultation de neurologie vasculaire", moment, title="SUIVI À 3 MOIS")
        paras.append(p)
        paras.append(writer.signature())
        return Draft("consultation", moment, True, paras, kind=f"consultation_{kind}")
    p = Para().t("Revu(e) en consultation, ")
    p.t(f"{days} jours après l'").open("date_avc").t(f"AVC ischémique {c.side} du ")
    writer.date_phrase(p, c.onset.date()).close("date_avc").t(". ")
    if kind == "3m" and c.af and c.af_late_holter:
        p.t("Le Holter de 21 jours réalisé après la sortie a mis en évidence une ")
        p.ev("fibrillation_atriale", "FA paroxystique", Truth("fibrillation_atriale"), "FA").t(". ")
        if c.documented["toast"] and c.toast:
            p.t("L'étiologie est donc révisée : ").ev("toast", "AVC cardioembolique").t(
                ". Introduction d'un AOD. "
            )
    text = writer.pick(
        f"Score de Rankin modifié : {mrs}",
        f"mRS = {mrs}",
        f"Rankin modifié à {mrs}",
        f"échelle de Rankin : {mrs}",
    )
    if kind == "3m":
        p.t(writer.pick("Évaluation à 3 mois : ", "Examen : ")).ev("mrs_3_mois", text).t(".")
    else:
        p.t(f"{text}.")
    p.t(
        f" NIHSS {max(0, (c.nihss_out or 0) - writer.rng.randint(0, 2))}. {writer.pick('Pas de récidive.', 'Pas de nouvel événement.', 'Plainte mnésique.')}"
    )
    paras.append(p)
    paras.append(writer.signature())
    return Draft("consultation", moment, True, paras, kind=f"consultation_{kind}")
