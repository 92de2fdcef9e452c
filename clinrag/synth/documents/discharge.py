"""Letters at the end of a stay: the stroke unit's discharge letter and the rehabilitation centre's.

Both copy the admission note's paragraphs forward verbatim.
"""

from __future__ import annotations

import datetime as dt

from clinrag.synth import lexicon as lx
from clinrag.synth.builder import Para, Truth
from clinrag.synth.documents.formats import fr_date, fr_number
from clinrag.synth.documents.writer import Draft, Writer
from clinrag.synth.patient import Person


def discharge_letter(writer: Writer, days: int, toast_known: bool) -> Draft:
    """The discharge letter ``days`` after arrival: course, work-up, etiology (when known), destination."""
    c = writer.case
    moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days), dt.time(16, 0))
    paras = [
        writer.header(
            "Unité neurovasculaire",
            moment,
            full=writer.rng.random() < 0.3,
            title="COMPTE RENDU D'HOSPITALISATION",
        )
    ]
    intro = Para().t("Cher confrère, ").t(writer.pick("j'ai pris en charge", "nous avons hospitalisé"))
    intro.t(" votre patient(e) du ")
    writer.date_phrase(intro, c.arrival.date()).t(" au ")
    writer.date_phrase(intro, moment.date()).t(".")
    paras.append(intro)
    # Copy-forward: the admission note's history and antecedents, verbatim.
    if writer.admission_history is not None:
        paras.append(writer.admission_history)
    if writer.antecedents is not None:
        paras.append(writer.antecedents)
    course = Para().t("Évolution :\n")
    if c.thrombolysis:
        text = writer.pick(
            "thrombolysé(e) à l'arrivée",
            "traitement par thrombolyse IV",
            "bénéficie d'une thrombolyse intraveineuse",
        )
        term = "thrombolysé(e)" if text.startswith("thrombolysé") else "thrombolyse"
        course.ev("thrombolyse", text, Truth("thrombolyse"), term)
        course.t(". ")
    else:
        text = writer.pick(
            "pas de thrombolyse (hors délai)", "thrombolyse non indiquée", "pas de thrombolyse IV"
        )
        # "non indiquée" is a decision, not a negation cue: no mention
        truth = None if "non indiquée" in text else Truth("thrombolyse", negated=True)
        course.ev("thrombolyse", text, truth, "thrombolyse" if truth else None)
        course.t(". ")
    if c.thrombectomy:
        course.ev(
            "thrombectomie",
            writer.pick("thrombectomie mécanique", "bénéficie d'une thrombectomie"),
            Truth("thrombectomie"),
            "thrombectomie",
        ).t(" avec bonne recanalisation. ")
    elif c.site in ("m1", "m2", "carotide_interne", "tronc_basilaire"):
        course.ev(
            "thrombectomie",
            "pas de thrombectomie (occlusion distale / terrain)",
            Truth("thrombectomie", negated=True),
            "thrombectomie",
        ).t(". ")
    else:
        course.ev(
            "thrombectomie",
            "pas d'indication de thrombectomie",
            Truth("thrombectomie", negated=True),
            "thrombectomie",
        ).t(". ")
    if c.nihss_corrected_from is None and writer.rng.random() < 0.5:
        course.t("NIHSS initial ").ev("nihss_admission", str(c.nihss_adm)).t(", ")
    course.t(f"NIHSS à H24 {c.nihss_h24}. ")
    if c.control_imaging:
        course.ev(
            "transformation_hemorragique",
            "transformation hémorragique au scanner de contrôle"
            if c.hemorrhage
            else "pas de transformation hémorragique au contrôle",
            Truth("transformation_hemorragique", negated=not c.hemorrhage),
            "transformation hémorragique",
        )
        course.t(". ")
    else:
        course.ev(
            "transformation_hemorragique",
            "pas de complication hémorragique" if not c.hemorrhage else "complication hémorragique",
            Truth("transformation_hemorragique", negated=not c.hemorrhage),
            "complication hémorragique",
        ).t(". ")
    if c.died_in_hospital:
        course.t("Aggravation neurologique secondaire. ")
        course.ev("destination_sortie", writer.pick("Décès du patient", "Décès")).t(" le ")
        writer.date_phrase(course, moment.date()).t(". ")
        course.ev("mrs_3_mois", "mRS 6 (décès)")
        paras.append(course.t("."))
        paras.append(writer.signature())
        return Draft("lettre_sortie", moment, False, paras)
    if c.documented["nihss_sortie"] and c.nihss_out is not None:
        course.ev(
            "nihss_sortie",
            writer.pick(
                f"NIHSS de sortie : {c.nihss_out}",
                f"NIHSS à la sortie à {c.nihss_out}",
                f"score NIHSS de sortie {c.nihss_out}",
            ),
        )
        course.t(f", mRS de sortie {c.mrs_out}. ")
    else:
        course.t(f"mRS de sortie {c.mrs_out}. ")
    paras.append(course)
    bilan = Para().t("Examens complémentaires :\n")
    if c.af_known or c.af_on_ecg:
        bilan.ev(
            "fibrillation_atriale",
            "FA" if c.af_known else "FA découverte à l'ECG d'entrée",
            Truth("fibrillation_atriale"),
            "FA",
        ).t(", anticoagulation introduite. ")
    elif c.af and not c.af_late_holter:
        bilan.ev(
            "fibrillation_atriale",
            "FA paroxystique découverte au Holter",
            Truth("fibrillation_atriale"),
            "FA",
        ).t(", anticoagulation par AOD. ")
    elif c.af:
        # Written before the late Holter: true then, wrong in the end (not evidence).
        bilan.t(
            "pas de FA au scope ni au Holter des 24 h. ",
            Truth("fibrillation_atriale", negated=True),
            "FA",
        )
    else:
        bilan.ev(
            "fibrillation_atriale",
            "pas de FA au scope ni au Holter",
            Truth("fibrillation_atriale", negated=True),
            "FA",
        ).t(". ")
    if c.documented["ldl"] and c.ldl is not None and writer.rng.random() < 0.5:
        bilan.ev("ldl", f"LDL {fr_number(c.ldl, 2)} g/L").t(". ")
    if c.documented["toast"] and c.toast:
        labels = {
            "cardioembolique": "AVC d'origine cardioembolique",
            "atherosclerose": "AVC athéromateux (athérosclérose des gros troncs)",
            "lacunaire": "infarctus lacunaire (microangiopathie)",
            "autre_cause": "AVC de cause déterminée autre (dissection)",
            "indeterminee": "AVC d'étiologie indéterminée",
        }
        if toast_known:
            bilan.t("\nConclusion :\n").ev("toast", labels[c.toast]).t(".")
        else:
            bilan.t("\nConclusion :\nétiologie indéterminée à ce stade, Holter longue durée prévu.")
    paras.append(bilan)
    dest = Para().t("Modalités de sortie :\n")
    dest_text = {
        "domicile": writer.pick("retour à domicile", "RAD avec kinésithérapie en libéral"),
        "reeducation": writer.pick("transfert en SSR neurologique", "transfert en rééducation"),
        "ehpad": writer.pick("retour en EHPAD", "entrée en EHPAD"),
        "autre_hopital": writer.pick(
            "transfert au centre hospitalier de proximité", "retour dans l'hôpital d'origine"
        ),
    }[c.destination]
    dest.ev("destination_sortie", dest_text)
    if c.destination == "reeducation":
        dest.t(" (").phi("HOPITAL", writer.pick(*lx.REHAB_CENTERS)).t(")")
    dest.t(". Consultation de suivi neurovasculaire à 3 mois. Traitement : ")
    dest.t("apixaban 5 mg x2/j" if c.af else "aspirine 75 mg/j, atorvastatine 40 mg/j").t(".")
    paras.append(dest)
    paras.append(writer.signature())
    return Draft("lettre_sortie", moment, False, paras)


def rehab_letter(writer: Writer, days: int) -> Draft:
    """The rehabilitation centre's end-of-stay letter ``days`` after the arrival."""
    c = writer.case
    moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days), dt.time(11, 0))
    center = writer.pick(*lx.REHAB_CENTERS)
    p0 = (
        Para()
        .phi("HOPITAL", center)
        .t(" — Médecine physique et réadaptation\nCompte rendu de fin de séjour\nPatient : ")
    )
    p0.phi("NOM", c.person.last).t(" ").phi("PRENOM", c.person.first).t("\nDate : ").phi(
        "DATE", fr_date(moment.date(), 0)
    )
    paras = [p0]
    if writer.antecedents is not None:
        paras.append(writer.antecedents)
    p = Para().t(f"Séjour de rééducation de {days - 10} jours après un AVC ischémique {c.side}. ")
    p.t(
        f"À la sortie : marche {writer.pick('sans aide', 'avec canne', 'avec déambulateur')}, mRS {max(c.mrs_pre, (c.mrs_out or 0) - 1)}. "
    )
    p.t(
        writer.pick(
            "Persistance d'une aphasie de production discrète.",
            "Spasticité modérée du membre supérieur.",
            "Récupération motrice satisfaisante.",
        )
    )
    paras.append(p)
    paras.append(writer.signature(Person(writer.pick(*lx.FEMALE_FIRST_NAMES), writer.pick(*lx.SURNAMES))))
    return Draft("lettre_reeducation", moment, False, paras)
