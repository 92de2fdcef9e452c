"""Acute treatment reports: intravenous thrombolysis and mechanical thrombectomy."""

from __future__ import annotations

import datetime as dt

from clinrag.synth import lexicon as lx
from clinrag.synth.builder import Para
from clinrag.synth.documents.formats import fr_time
from clinrag.synth.documents.writer import Draft, Writer
from clinrag.synth.patient import Person


def thrombolysis_report(writer: Writer) -> Draft:
    """The thrombolysis report (the NIHSS before treatment, unless the admission one is corrected later)."""
    c = writer.case
    moment = c.arrival + dt.timedelta(minutes=writer.rng.randint(30, 70))
    paras = [writer.header("Unité neurovasculaire", moment, title="COMPTE RENDU DE THROMBOLYSE")]
    drug = writer.pick("altéplase (Actilyse) 0,9 mg/kg", "ténectéplase (Metalyse) 0,25 mg/kg")
    p = Para().ev("thrombolyse", f"{writer.w('thrombolyse').capitalize()} intraveineuse par {drug}")
    p.t(
        f" débutée à {fr_time(moment)}, délai symptômes-aiguille {int((moment - c.onset).total_seconds() // 60)} min. "
    )
    if c.nihss_corrected_from is None:
        p.t("NIHSS avant thrombolyse : ").ev("nihss_admission", str(c.nihss_adm)).t(". ")
    p.t(f"NIHSS à H24 : {c.nihss_h24}. Surveillance neurologique horaire, pas d'angio-œdème.")
    paras.append(p)
    paras.append(writer.signature())
    return Draft("thrombolyse", moment, True, paras)


def thrombectomy_report(writer: Writer) -> Draft:
    """The interventional neuroradiology report of a mechanical thrombectomy."""
    c = writer.case
    moment = c.arrival + dt.timedelta(minutes=writer.rng.randint(60, 150))
    paras = [
        writer.header(
            "Neuroradiologie interventionnelle", moment, title="COMPTE RENDU DE THROMBECTOMIE MÉCANIQUE"
        )
    ]
    label = {"m1": "M1", "m2": "M2", "carotide_interne": "ACI", "tronc_basilaire": "tronc basilaire"}.get(
        c.site, c.site
    )
    p = Para().t("Anesthésie : sédation consciente. ")
    p.ev(
        "thrombectomie",
        writer.pick(
            "Thrombectomie mécanique par stent retriever",
            "Thrombectomie par aspiration (technique ADAPT)",
            "Thrombectomie combinée aspiration + stent retriever",
        ),
    )
    p.t(f" de l'occlusion {label} {c.side if c.site != 'tronc_basilaire' else ''}".rstrip())
    p.t(
        f", {writer.rng.randint(1, 4)} passage(s). Résultat final : recanalisation {writer.pick('TICI 2b', 'TICI 2c', 'TICI 3', 'mTICI 2b')}."
    )
    paras.append(p)
    paras.append(writer.signature(Person(writer.pick(*lx.MALE_FIRST_NAMES), writer.pick(*lx.SURNAMES))))
    return Draft("thrombectomie", moment, True, paras)
