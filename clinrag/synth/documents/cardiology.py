"""Cardiology documents: admission ECG, Holter (during the stay or weeks later) and echocardiography."""

from __future__ import annotations

import datetime as dt

from clinrag.synth.builder import Para, Truth
from clinrag.synth.documents.writer import Draft, Writer


def ecg(writer: Writer) -> Draft:
    """The admission 12-lead ECG: atrial fibrillation seen or a sinus rhythm."""
    c = writer.case
    moment = c.arrival + dt.timedelta(minutes=writer.rng.randint(5, 60))
    paras = [writer.header("Cardiologie", moment, title="ECG 12 DÉRIVATIONS")]
    p = Para()
    if c.af_known or c.af_on_ecg:
        text = writer.pick(
            f"{writer.w('fibrillation').capitalize()} atriale à réponse ventriculaire rapide",
            "ACFA à 110/min",
            "Rythme irrégulier : FA",
        )
        term = "ACFA" if "ACFA" in text else "FA" if text.endswith("FA") else text.split(" à ")[0]
        p.ev("fibrillation_atriale", text, Truth("fibrillation_atriale"), term)
    else:
        text = writer.pick(
            "Rythme sinusal régulier, pas de FA sur ce tracé",
            "Rythme sinusal, absence de trouble du rythme à l'ECG d'entrée",
        )
        truth = Truth("fibrillation_atriale", negated=True)
        term = "FA" if "FA" in text else "trouble du rythme"
        # A sinus rhythm on admission supports "no AF" only when nothing is found later.
        if c.af:
            p.t(text, truth, term)
        else:
            p.ev("fibrillation_atriale", text, truth, term)
    p.t(f". QRS fins, PR {writer.rng.randint(140, 200)} ms.")
    paras.append(p)
    return Draft("ecg", moment, True, paras)


def holter(writer: Writer, days_after: int) -> Draft:
    """A Holter ECG ``days_after`` the arrival: AF found or ruled out (a late find revises the etiology)."""
    c = writer.case
    moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days_after), dt.time(10, 0))
    duration = writer.pick("24 heures", "48 heures", "7 jours", "21 jours")
    paras = [
        writer.header(
            "Explorations fonctionnelles cardiologiques", moment, title=f"HOLTER ECG {duration.upper()}"
        )
    ]
    p = Para().t(f"Enregistrement de {duration}. ")
    if c.af and not c.af_known:
        text = writer.pick(
            f"Épisodes de FA paroxystique, le plus long de {writer.rng.randint(2, 300)} minutes",
            f"Passage en {writer.w('fibrillation')} atriale paroxystique",
            "Mise en évidence d'une ACFA paroxystique",
        )
        term = (
            "FA" if text.startswith("Épisodes") else "ACFA" if "ACFA" in text else text[len("Passage en ") :]
        )
        p.ev("fibrillation_atriale", text, Truth("fibrillation_atriale"), term)
        p.t(". Conclusion : ").t("FA paroxystique", Truth("fibrillation_atriale")).t(
            ", indication à une anticoagulation."
        )
        if c.af_late_holter and c.documented["toast"]:
            p.t(" ").ev("toast", "Origine cardioembolique de l'AVC retenue").t(".")
    else:
        text = writer.pick(
            "Absence de fibrillation atriale",
            "Pas de passage en FA",
            "Pas d'épisode de FA ni de flutter",
        )
        term = "fibrillation atriale" if text.startswith("Absence") else "FA"
        p.ev("fibrillation_atriale", text, Truth("fibrillation_atriale", negated=True), term)
        p.t(f". Extrasystoles auriculaires isolées ({writer.rng.randint(10, 900)}/24 h).")
    paras.append(p)
    return Draft("holter", moment, True, paras)


def echocardiography(writer: Writer, days_after: int) -> Draft:
    """A transthoracic echocardiography ``days_after`` the arrival (no registry value)."""
    c = writer.case
    moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days_after), dt.time(14, 0))
    paras = [writer.header("Cardiologie", moment, title="ÉCHOGRAPHIE CARDIAQUE TRANSTHORACIQUE")]
    p = Para().t(
        f"FEVG {writer.rng.randint(45, 70)} %. Oreillette gauche {writer.pick('non dilatée', 'dilatée', 'modérément dilatée')}. "
    )
    text = writer.pick(
        "Pas de thrombus intracavitaire.",
        "Pas de foramen ovale perméable au test aux microbulles.",
        "Valves fines.",
    )
    if text.startswith("Pas de thrombus"):
        p.t(text, Truth("thrombus", negated=True), "thrombus intracavitaire")
    elif text.startswith("Pas de foramen"):
        p.t(text, Truth("fop", negated=True), "foramen ovale perméable")
    else:
        p.t(text)
    paras.append(p)
    return Draft("echographie_cardiaque", moment, True, paras)
