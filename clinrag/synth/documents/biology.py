"""The laboratory results: glucose and lipid panel in g/L or mmol/L."""

from __future__ import annotations

import datetime as dt

from clinrag.synth.builder import Para
from clinrag.synth.documents.formats import fr_number
from clinrag.synth.documents.writer import Draft, Writer


def lab_results(writer: Writer) -> Draft:
    """The biochemistry results of the stay (glucose now and then, LDL unless no lipid panel was drawn)."""
    c = writer.case
    moment = c.arrival + dt.timedelta(hours=writer.rng.randint(1, 20))
    paras = [writer.header("Laboratoire de biochimie", moment, title="RÉSULTATS DE BIOLOGIE")]
    p = Para()
    p.t(
        f"Hémoglobine : {fr_number(writer.rng.uniform(10.5, 16.5), 1)} g/dL. Créatinine : {writer.rng.randint(50, 140)} µmol/L. "
    )
    if c.documented["glycemie_admission"] and c.glycemia is not None and writer.rng.random() < 0.6:
        p.ev("glycemie_admission", f"Glucose : {fr_number(c.glycemia, 1)} mmol/L").t(". ")
    if c.diabete:
        p.t(f"HbA1c : {fr_number(writer.rng.uniform(6.5, 10.5), 1)} %. ")
    if c.documented["ldl"] and c.ldl is not None:
        p.t(f"Cholestérol total : {fr_number(c.ldl + writer.rng.uniform(0.6, 1.0), 2)} g/L. ")
        if writer.rng.random() < 0.6:
            p.ev("ldl", f"LDL-{writer.w('cholestérol')} : {fr_number(c.ldl, 2)} g/L")
        else:
            p.ev("ldl", f"LDL-c : {fr_number(c.ldl / 0.3866, 2)} mmol/L")
        p.t(f". HDL : {fr_number(writer.rng.uniform(0.35, 0.8), 2)} g/L.")
    else:
        p.t("Bilan lipidique : non prélevé.")
    paras.append(p)
    return Draft("biologie", moment, True, paras)
