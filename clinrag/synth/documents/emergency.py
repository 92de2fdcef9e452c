"""The admission note written in the emergency room (and the addendum that corrects its NIHSS).

The note's history and antecedents are kept on the writer: the discharge and rehabilitation letters copy them
forward verbatim, as real letters do.
"""

from __future__ import annotations

import datetime as dt

from clinrag.synth.builder import Para, Truth
from clinrag.synth.documents.formats import fr_number, fr_time
from clinrag.synth.documents.writer import Draft, Writer

NEGATED_TERMS = ("HTA", "hypertension", "diabétique", "diabète", "DT2", "dyslipidémie")
"""The concept words of the antecedents' negations ("pas d'HTA", "non diabétique"): the mentions' spans."""


def admission_note(writer: Writer) -> Draft:
    """The emergency/stroke-unit admission note (``urgences``): history, antecedents, exam, conclusion."""
    c = writer.case
    moment = c.arrival
    paras = [
        writer.header(
            "Service d'accueil des urgences / UNV",
            moment,
            full=True,
            title="OBSERVATION MÉDICALE D'ADMISSION",
        )
    ]
    who = "Patient" if c.sex == "homme" else "Patiente"
    hist = Para().t("Histoire de la maladie :\n").open("age").t(f"{who} de {c.age} ans").close("age")
    if c.sex == "homme":
        hist.t(", ").ev("sexe", "Monsieur").t(" ").phi("NOM", c.person.last).t(",")
    else:
        hist.t(", ").ev("sexe", "Madame").t(" ").phi("NOM", c.person.last).t(",")
    deficit = writer.pick(
        f"{writer.w('hémiparésie')}", "hémiplégie", "déficit brachio-facial", "déficit moteur"
    )
    symptom_side = "droite" if c.side == "gauche" else "gauche"
    extra = " et aphasie" if c.side == "gauche" and writer.rng.random() < 0.6 else ""
    hist.t(f" adressé(e) pour {deficit} {symptom_side}{extra} ")
    if c.onset.date() != moment.date():
        hist.open("date_avc").t(f"d'installation brutale la veille vers {fr_time(c.onset)}").close("date_avc")
    else:
        hist.open("date_avc").t("d'installation brutale le ")
        writer.date_phrase(hist, c.onset.date()).t(f" à {fr_time(c.onset)}").close("date_avc")
    hist.t(". Appel du centre 15, arrivée aux urgences à " + fr_time(moment) + ".")
    writer.admission_history = hist
    paras.append(hist)
    writer.antecedents = antecedents_paragraph(writer)
    paras.append(writer.antecedents)
    if c.documented["mrs_pre_avc"]:
        autonomy = {
            0: "totalement autonome",
            1: "autonome",
            2: "autonome pour les gestes simples",
            3: "aide pour la toilette",
            4: "aide pour la marche",
            5: "grabataire",
        }[c.mrs_pre]
        p = Para().t("Autonomie antérieure : " + autonomy + ", ")
        p.ev(
            "mrs_pre_avc",
            writer.pick(
                f"mRS antérieur à {c.mrs_pre}",
                f"Rankin pré-AVC {c.mrs_pre}",
                f"mRS pré-morbide = {c.mrs_pre}",
            ),
        )
        paras.append(p.t("."))
    exam = Para().t(
        "Examen clinique :\nTA " + f"{writer.rng.randint(120, 210)}/{writer.rng.randint(60, 110)} mmHg, "
    )
    exam.t(
        f"FC {writer.rng.randint(55, 120)}/min. signe de Babinski {writer.pick('présent', 'absent')} à {symptom_side}. "
    )
    stated = c.nihss_corrected_from if c.nihss_corrected_from is not None else c.nihss_adm
    nihss_text = writer.pick(
        f"NIHSS à l'arrivée : {stated}",
        f"score NIHSS initial à {stated}",
        f"NIHSS = {stated}/42",
        f"NIH {stated}",
    )
    if c.nihss_corrected_from is None:
        exam.ev("nihss_admission", nihss_text)
    else:
        exam.t(nihss_text)
    exam.t(".")
    if c.documented["glycemie_admission"] and c.glycemia is not None:
        exam.t(" ")
        if writer.rng.random() < 0.5:
            grams = c.glycemia / 5.551
            exam.ev("glycemie_admission", f"Glycémie capillaire {fr_number(grams, 2)} g/L")
        else:
            exam.ev("glycemie_admission", f"Dextro {fr_number(c.glycemia, 1)} mmol/L")
        exam.t(".")
    paras.append(exam)
    concl = Para().t(writer.pick("Conclusion :\n", "Au total :\n"))
    concl.t(
        f"suspicion d'AVC ischémique {'sylvien ' if c.site in ('m1', 'm2', 'carotide_interne') else ''}{c.side if c.side == 'gauche' else 'droit'}. ",
        Truth("avc", hypothetical=True),
        "AVC ischémique",
    )
    if not c.af_known and writer.rng.random() < 0.5:
        text = writer.pick(
            "FA ? Holter à prévoir.",
            "Rechercher une FA paroxystique.",
            "Cardiopathie emboligène à éliminer.",
        )
        term = "Cardiopathie emboligène" if text.startswith("Cardio") else "FA"
        concl.t(text, Truth("fibrillation_atriale" if term == "FA" else "toast", hypothetical=True), term)
    paras.append(concl)
    paras.append(writer.signature())
    return Draft("urgences", moment, True, paras)


def antecedents_paragraph(writer: Writer) -> Para:
    """Antecedents affirmed and negated, family history, smoking (copied forward into later letters)."""
    c, p = writer.case, Para()
    p.t(writer.pick("Antécédents :\n", "ATCD :\n", "Antécédents médicaux :\n"))
    items: list[tuple[str | None, str]] = []
    if c.hta:
        items.append(
            (
                "hta",
                writer.pick(
                    "HTA", f"{writer.w('hypertension')} artérielle", "HTA traitée", "HTA sous bithérapie"
                ),
            )
        )
    if c.diabete and c.documented["diabete"]:
        items.append(
            (
                "diabete",
                writer.pick(
                    "diabète de type 2",
                    "DT2",
                    "DNID",
                    f"{writer.w('diabète')} sous metformine",
                    "diabète insulinorequérant",
                ),
            )
        )
    if c.dyslipidemie and c.documented["dyslipidemie"]:
        items.append(
            (
                "dyslipidemie",
                writer.pick("dyslipidémie", "hypercholestérolémie sous statine", "dyslipidémie traitée"),
            )
        )
    if c.af_known:
        items.append(
            (
                "fibrillation_atriale",
                writer.pick(
                    "FA paroxystique connue",
                    f"{writer.w('fibrillation')} atriale permanente",
                    "ACFA sous AOD",
                ),
            )
        )
    items.append(
        (
            None,
            writer.pick(
                "cholécystectomie",
                "prothèse totale de hanche droite",
                "appendicectomie",
                "cataracte opérée",
                "syndrome d'apnées du sommeil",
                "maladie de Parkinson",
                "maladie de Horton traitée",
            ),
        )
    )
    writer.rng.shuffle(items)
    for index, (var, text) in enumerate(items):
        if index:
            p.t(", ")
        if var:
            p.ev(var, text, Truth(var))
        else:
            p.t(text)
    p.t(".")
    negations = []
    if not c.hta:
        negations.append(("hta", writer.pick("pas d'HTA", "pas d'hypertension connue", "absence d'HTA")))
    if not c.diabete and c.documented["diabete"]:
        negations.append(("diabete", writer.pick("pas de diabète", "non diabétique", "pas de DT2 connu")))
    if not c.dyslipidemie and c.documented["dyslipidemie"]:
        negations.append(
            ("dyslipidemie", writer.pick("pas de dyslipidémie", "bilan lipidique antérieur normal"))
        )
    if negations:
        p.t(" ")
        for index, (var, text) in enumerate(negations):
            p.t(", " if index else "")
            # "bilan lipidique antérieur normal" states no dyslipidemia without a negation: no mention
            truth = None if text.startswith("bilan") else Truth(var, negated=True)
            term = next((t for t in NEGATED_TERMS if t in text), None) if truth else None
            p.ev(var, text[0].upper() + text[1:] if index == 0 else text, truth, term)
        p.t(".")
    # Family history: about relatives, never the patient's own value.
    if writer.rng.random() < 0.55:
        relative = writer.pick("père", "mère", "frère", "sœur")
        condition = writer.pick(
            "diabétique",
            "hypertendu(e)",
            "décédé(e) d'un AVC",
            "en fibrillation atriale",
            "dyslipidémique",
        )
        concept = {
            "diabétique": "diabete",
            "hypertendu(e)": "hta",
            "décédé(e) d'un AVC": "avc",
            "en fibrillation atriale": "fibrillation_atriale",
            "dyslipidémique": "dyslipidemie",
        }[condition]
        term = {"hta": "hypertendu(e)", "avc": "AVC", "fibrillation_atriale": "fibrillation atriale"}.get(
            concept, condition
        )
        p.t("\nAntécédents familiaux :\n").t(f"{relative} {condition}", Truth(concept, family=True), term).t(
            "."
        )
    if c.documented["tabagisme"]:
        p.t("\nMode de vie :\n")
        if c.tabac:
            p.ev(
                "tabagisme",
                writer.pick(
                    f"tabagisme actif à {writer.rng.randint(10, 50)} PA",
                    "fumeur actif",
                    "tabac actif (1 paquet/jour)",
                ),
                Truth("tabagisme"),
            )
        else:
            text = writer.pick(
                "non fumeur", "pas de tabagisme", "tabagisme sevré depuis 15 ans", "ne fume pas"
            )
            # a former smoker is neither a negation nor a current smoker: no mention
            term = next((t for t in ("fumeur", "tabagisme", "fume") if t in text), None)
            p.ev("tabagisme", text, None if "sevré" in text else Truth("tabagisme", negated=True), term)
        p.t(".")
    return p


def nihss_addendum(writer: Writer) -> Draft:
    """The addendum correcting the NIHSS the admission note stated by mistake."""
    c = writer.case
    moment = c.arrival + dt.timedelta(hours=writer.rng.randint(6, 30))
    paras = [writer.header("Unité neurovasculaire", moment, title="ADDENDUM")]
    p = Para().t("Addendum à l'observation d'admission du ")
    writer.date_phrase(p, c.arrival.date()).t(" : ")
    p.ev("nihss_admission", f"le score NIHSS à l'admission était de {c.nihss_adm}")
    p.t(f" et non de {c.nihss_corrected_from} comme indiqué par erreur.")
    paras.append(p)
    paras.append(writer.signature())
    return Draft("addendum", moment, True, paras)
