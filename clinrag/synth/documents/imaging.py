"""Neuroradiology reports: the admission imaging and the 24-hour control scan."""

from __future__ import annotations

import datetime as dt

from clinrag.synth import lexicon as lx
from clinrag.synth.builder import Para, Truth
from clinrag.synth.documents.writer import Draft, Writer
from clinrag.synth.patient import Person


def admission_imaging(writer: Writer) -> Draft:
    """The admission MRI or CT with angiography: lesion side and occlusion site."""
    c = writer.case
    moment = c.arrival + dt.timedelta(minutes=writer.rng.randint(15, 40))
    modality = writer.pick(
        "IRM cérébrale et angio-IRM",
        "Scanner cérébral et angioscanner des TSA",
        "IRM encéphalique avec séquences de diffusion et ARM",
    )
    paras = [writer.header("Service de neuroradiologie", moment, title=f"COMPTE RENDU : {modality.upper()}")]
    p = Para().t("Indication : déficit neurologique aigu. Résultat : ")
    territory = {
        "m1": "sylvien",
        "m2": "sylvien",
        "carotide_interne": "sylvien",
        "aca": "cérébral antérieur",
        "acp": "cérébral postérieur",
        "tronc_basilaire": "vertébro-basilaire",
        "vertebrale": "vertébro-basilaire",
        "aucune": "sylvien superficiel",
    }[c.site]
    p.t(f"hypersignal diffusion du territoire {territory} ")
    p.ev(
        "cote_lesion",
        writer.pick(f"{c.side}" if c.side == "gauche" else "droit", f"de l'hémisphère {c.side}"),
    )
    p.t(f", score ASPECTS {writer.rng.randint(5, 10)}. ")
    if c.documented["site_occlusion"]:
        side_adj = c.side if c.side == "gauche" else "droite"
        occl = {
            "m1": f"occlusion du segment M1 de l'artère cérébrale moyenne {side_adj}",
            "m2": f"occlusion d'une branche M2 {side_adj}",
            "carotide_interne": f"occlusion de l'artère carotide interne {side_adj}",
            "tronc_basilaire": "occlusion du tronc basilaire",
            "vertebrale": f"occlusion de l'artère vertébrale {side_adj} (V4)",
            "aca": f"occlusion de l'artère cérébrale antérieure {side_adj}",
            "acp": f"occlusion de l'artère cérébrale postérieure {side_adj}",
            "aucune": writer.pick(
                "pas d'occlusion artérielle proximale", "absence d'occlusion des gros troncs"
            ),
        }[c.site]
        p.t("Angiographie : ").ev("site_occlusion", occl[0].upper() + occl[1:]).t(".")
    else:
        p.t("Séquences angiographiques non réalisées (patient agité).")
    p.t(f" Leucopathie vasculaire ({writer.pick(*lx.EPONYMS[8:9])} {writer.rng.randint(1, 3)}). ")
    p.t(
        "Pas de saignement intracrânien.",
        Truth("transformation_hemorragique", negated=True),
        "saignement intracrânien",
    )
    paras.append(p)
    paras.append(writer.signature(Person(writer.pick(*lx.MALE_FIRST_NAMES), writer.pick(*lx.SURNAMES))))
    return Draft("imagerie", moment, True, paras)


def control_imaging(writer: Writer) -> Draft:
    """The control CT at 24 hours: hemorrhagic transformation found or ruled out."""
    c = writer.case
    moment = c.arrival + dt.timedelta(hours=writer.rng.randint(20, 30))
    paras = [writer.header("Service de neuroradiologie", moment, title="SCANNER CÉRÉBRAL DE CONTRÔLE À H24")]
    p = Para().t("Comparaison avec l'imagerie initiale. ")
    if c.hemorrhage:
        text = writer.pick(
            f"Transformation hémorragique de type {writer.pick('HI1', 'HI2', 'PH1', 'PH2')}",
            "Remaniement hémorragique de l'infarctus",
            "Pétéchies hémorragiques au sein de la zone infarcie (HI1)",
        )
        term = " ".join(text.split()[:2])
        p.ev("transformation_hemorragique", text, Truth("transformation_hemorragique"), term)
    else:
        text = writer.pick(
            "Pas de transformation hémorragique",
            "Absence de remaniement hémorragique",
            "Pas de saignement",
        )
        term = text.split(" de ", 1)[1]
        p.ev("transformation_hemorragique", text, Truth("transformation_hemorragique", negated=True), term)
    p.t(". Œdème cérébral modéré.")
    paras.append(p)
    return Draft("imagerie", moment, True, paras)
