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
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clinrag.data.cohort import Cohort, Document, EvidenceSpan, PhiSpan
from clinrag.data.values import canonical_cell
from clinrag.data.variables import Variable
from clinrag.synth import lexicon as lx
from clinrag.synth.builder import Para, Truth, render

EPOCH_START = dt.date(2021, 1, 4)
EPOCH_DAYS = 1300
SPLIT_SHARES = (0.6, 0.2)  # train, dev; test takes the rest


def synthetic_variables() -> list[Variable]:
    """The registry variables of the synthetic cohort (``clinrag/synth/variables.yaml``)."""
    text = importlib.resources.files("clinrag.synth").joinpath("variables.yaml").read_text(encoding="utf-8")
    return [Variable(**item) for item in yaml.safe_load(text)["variables"]]


# ---------------------------------------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------------------------------------
def fr_number(value: float, decimals: int) -> str:
    """A number with a French decimal comma: ``fr_number(7.25, 1) == "7,2"``."""
    return f"{value:.{decimals}f}".replace(".", ",")


def fr_date(day: dt.date, style: int) -> str:
    """A date in one of the forms French notes use: 0 ``12/03/2023``, 1 ``12 mars 2023``, 2 ``12.03.23``."""
    if style == 0:
        return day.strftime("%d/%m/%Y")
    if style == 1:
        return f"{day.day} {lx.FRENCH_MONTHS[day.month - 1]} {day.year}"
    return day.strftime("%d.%m.%y")


def fr_time(moment: dt.datetime) -> str:
    """``14h05``."""
    return f"{moment.hour}h{moment.minute:02d}"


def secu_number(sex: str, birth: dt.date, zip_code: str, rng: random.Random) -> str:
    """A French social security number (NIR) with a valid key: 97 - (NIR mod 97)."""
    body = f"{1 if sex == 'homme' else 2}{birth.year % 100:02d}{birth.month:02d}{zip_code[:2]}"
    body += f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    key = 97 - int(body) % 97
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}"


def phone_number(rng: random.Random) -> str:
    """A French phone number in one of its usual spellings."""
    digits = f"0{rng.choice('1234567')}" + "".join(str(rng.randint(0, 9)) for _ in range(8))
    style = rng.randrange(3)
    if style == 0:
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if style == 1:
        return ".".join(digits[i : i + 2] for i in range(0, 10, 2))
    return "+33 " + digits[1] + " " + " ".join(digits[i : i + 2] for i in range(2, 10, 2))


# ---------------------------------------------------------------------------------------------------------
# The latent clinical course
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Person:
    """An invented identity."""

    first: str
    last: str

    @property
    def email_user(self) -> str:
        from clinrag.data.values import strip_accents

        return strip_accents(f"{self.first}.{self.last}").lower().replace(" ", "")


@dataclass
class Case:
    """One patient's latent record: identity, clinical course and the gold table row."""

    index: int
    patient_id: str
    sex: str
    person: Person
    birth: dt.date
    address: str
    city: str
    zip_code: str
    phone: str
    email: str | None
    secu: str
    ipp: str
    nda: str
    hospital: str
    neurologist: Person
    gp: Person
    onset: dt.datetime
    arrival: dt.datetime
    age: int
    hta: bool
    diabete: bool
    dyslipidemie: bool
    tabac: bool | None
    af: bool
    af_known: bool
    af_on_ecg: bool
    af_late_holter: bool
    mrs_pre: int
    site: str
    side: str
    nihss_adm: int
    nihss_h24: int
    nihss_out: int | None
    glycemia: float | None
    ldl: float | None
    thrombolysis: bool
    thrombectomy: bool
    hemorrhage: bool
    control_imaging: bool
    toast: str | None
    destination: str
    died_in_hospital: bool
    mrs_out: int
    mrs_6w: int | None
    mrs_3m: int | None
    mrs_12m: int | None
    followup_3m: bool
    nihss_corrected_from: int | None
    sloppy: bool
    documented: dict[str, bool] = field(default_factory=dict)
    gold: dict[str, str] = field(default_factory=dict)


def _weighted(rng: random.Random, options: dict) -> str:
    keys = list(options)
    return rng.choices(keys, weights=[options[k] for k in keys], k=1)[0]


def _clip(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, round(value))))


def draw_case(index: int, seed: int) -> Case:
    """Draw patient ``index``'s latent course (deterministic in ``(seed, index)``)."""
    rng = random.Random(f"clinrag-synth:{seed}:{index}")
    sex = rng.choice(["homme", "femme"])
    first = rng.choice(lx.MALE_FIRST_NAMES if sex == "homme" else lx.FEMALE_FIRST_NAMES)
    person = Person(first, rng.choice(lx.SURNAMES))
    age = _clip(rng.gauss(72, 13), 24, 99)
    onset_day = EPOCH_START + dt.timedelta(days=rng.randrange(EPOCH_DAYS))
    onset = dt.datetime.combine(onset_day, dt.time(rng.randrange(24), rng.randrange(60)))
    arrival = onset + dt.timedelta(minutes=rng.randint(45, 300))
    birth = onset_day - dt.timedelta(days=int(age * 365.25) + rng.randrange(1, 360))
    age = onset_day.year - birth.year - ((onset_day.month, onset_day.day) < (birth.month, birth.day))
    city, zip_code = rng.choice(lx.CITIES)
    address = f"{rng.randint(1, 120)} {rng.choice(lx.STREET_TYPES)} {rng.choice(lx.STREET_NAMES)}"
    email = (
        f"{person.email_user}{rng.randint(1, 99)}@{rng.choice(lx.MAIL_DOMAINS)}"
        if rng.random() < 0.4
        else None
    )

    hta = rng.random() < min(0.85, 0.35 + 0.006 * (age - 40))
    diabete = rng.random() < 0.22
    dyslipidemie = rng.random() < 0.38
    tabac = rng.random() < (0.35 if age < 65 else 0.12)
    af = rng.random() < max(0.05, min(0.5, 0.08 + 0.007 * (age - 50)))
    af_known = af and rng.random() < 0.45
    af_on_ecg = af and not af_known and rng.random() < 0.35
    af_late_holter = af and not af_known and not af_on_ecg and rng.random() < 0.4
    mrs_pre = _clip(abs(rng.gauss(0, 1.0 + 0.03 * max(0, age - 60))), 0, 5)

    site = _weighted(
        rng,
        {
            "aucune": 45,
            "m1": 20,
            "m2": 12,
            "carotide_interne": 10,
            "tronc_basilaire": 5,
            "acp": 4,
            "aca": 2,
            "vertebrale": 2,
        },
    )
    side = rng.choice(["gauche", "droit"])
    if site in ("m1", "carotide_interne"):
        nihss_adm = _clip(rng.gauss(15, 5), 4, 30)
    elif site == "tronc_basilaire":
        nihss_adm = _clip(rng.gauss(20, 7), 5, 38)
    elif site == "m2":
        nihss_adm = _clip(rng.gauss(9, 4), 2, 22)
    else:
        nihss_adm = _clip(abs(rng.gauss(2, 4)), 0, 16)
    within_window = rng.random() < 0.7
    thrombolysis = within_window and nihss_adm >= 4 and not af_known and rng.random() < 0.75
    lvo = {"m1": 0.85, "carotide_interne": 0.8, "tronc_basilaire": 0.8, "m2": 0.35}
    thrombectomy = rng.random() < lvo.get(site, 0.0)
    hemorrhage = rng.random() < 0.04 + 0.05 * thrombolysis + 0.05 * thrombectomy
    control_imaging = thrombolysis or thrombectomy or rng.random() < 0.5
    recovery = rng.uniform(0.15, 0.8) if (thrombolysis or thrombectomy) else rng.uniform(0.4, 1.0)
    nihss_h24 = _clip(nihss_adm * (1 + recovery) / 2 + rng.gauss(0, 1.5), 0, 42)
    nihss_out_value = _clip(nihss_adm * recovery + (4 if hemorrhage else 0) + rng.gauss(0, 1), 0, 42)
    if nihss_h24 == nihss_adm and nihss_adm > 2:
        nihss_h24 -= 1
    if nihss_out_value == nihss_adm and nihss_adm > 2:
        nihss_out_value -= 1

    death_risk = 0.01 + 0.01 * max(0, nihss_out_value - 10) + 0.004 * max(0, age - 75)
    died_in_hospital = rng.random() < death_risk
    if died_in_hospital:
        destination = "deces"
    elif nihss_out_value <= 4 and mrs_pre <= 2:
        destination = _weighted(rng, {"domicile": 85, "reeducation": 8, "autre_hopital": 7})
    elif age >= 82 and mrs_pre >= 3:
        destination = _weighted(rng, {"ehpad": 60, "reeducation": 25, "autre_hopital": 15})
    else:
        destination = _weighted(rng, {"reeducation": 70, "domicile": 15, "autre_hopital": 10, "ehpad": 5})

    if af:
        toast = "cardioembolique" if rng.random() < 0.92 else "indeterminee"
    elif site == "aucune" and nihss_adm <= 8 and (hta or diabete) and rng.random() < 0.65:
        toast = "lacunaire"
    elif site in ("carotide_interne", "vertebrale") or (dyslipidemie and tabac and rng.random() < 0.5):
        toast = "atherosclerose"
    else:
        toast = _weighted(rng, {"indeterminee": 70, "autre_cause": 20, "atherosclerose": 10})

    glycemia = round(max(3.2, rng.gauss(6.4, 1.2) + (3.5 if diabete else 0.0)), 1)
    ldl = round(min(3.2, max(0.35, rng.gauss(1.25 - (0.3 if dyslipidemie else 0.0), 0.4))), 2)
    mrs_out = (
        6 if died_in_hospital else _clip(mrs_pre + nihss_out_value / 4 + rng.gauss(0.3, 0.8), mrs_pre, 5)
    )
    if died_in_hospital:
        mrs_6w = mrs_3m = mrs_12m = 6
    else:
        late_death = rng.random() < 0.02 + 0.01 * max(0, mrs_out - 3)
        mrs_3m = (
            6 if late_death else _clip(mrs_out - rng.choice([0, 1, 1, 2]) + rng.gauss(0, 0.4), mrs_pre, 5)
        )
        if mrs_3m == mrs_out and 0 < mrs_3m < 6 and rng.random() < 0.6:
            mrs_3m = max(mrs_pre, mrs_3m - 1)
        mrs_6w = _clip((mrs_out + mrs_3m) / 2 + 0.5, mrs_pre, 5) if mrs_3m < 6 else mrs_out
        mrs_12m = 6 if mrs_3m == 6 else _clip(mrs_3m + rng.gauss(-0.3, 0.7), mrs_pre, 6)
    followup_3m = died_in_hospital or rng.random() < 0.88
    if died_in_hospital and af and not af_known:
        # No time for a Holter: the fibrillation is seen on the admission ECG.
        af_on_ecg, af_late_holter = True, False
    if af_late_holter:
        toast = "cardioembolique"

    case = Case(
        index=index,
        patient_id=f"P{index + 1:05d}",
        sex=sex,
        person=person,
        birth=birth,
        address=address,
        city=city,
        zip_code=zip_code,
        phone=phone_number(rng),
        email=email,
        secu="",
        ipp=f"80{rng.randrange(10**8):08d}",
        nda=f"{onset_day.year % 100}{rng.randrange(10**7):07d}",
        hospital=rng.choice(lx.HOSPITALS),
        neurologist=Person(rng.choice(lx.MALE_FIRST_NAMES + lx.FEMALE_FIRST_NAMES), rng.choice(lx.SURNAMES)),
        gp=Person(rng.choice(lx.MALE_FIRST_NAMES + lx.FEMALE_FIRST_NAMES), rng.choice(lx.SURNAMES)),
        onset=onset,
        arrival=arrival,
        age=age,
        hta=hta,
        diabete=diabete,
        dyslipidemie=dyslipidemie,
        tabac=tabac,
        af=af,
        af_known=af_known,
        af_on_ecg=af_on_ecg,
        af_late_holter=af_late_holter,
        mrs_pre=mrs_pre,
        site=site,
        side=side,
        nihss_adm=nihss_adm,
        nihss_h24=nihss_h24,
        nihss_out=None if died_in_hospital else nihss_out_value,
        glycemia=glycemia,
        ldl=ldl,
        thrombolysis=thrombolysis,
        thrombectomy=thrombectomy,
        hemorrhage=hemorrhage,
        control_imaging=control_imaging,
        toast=toast,
        destination=destination,
        died_in_hospital=died_in_hospital,
        mrs_out=mrs_out,
        mrs_6w=mrs_6w,
        mrs_3m=mrs_3m,
        mrs_12m=mrs_12m,
        followup_3m=followup_3m,
        nihss_corrected_from=None,
        sloppy=rng.random() < 0.35,
    )
    case.secu = secu_number(sex, birth, zip_code, rng)
    # What the record documents (the rest are empty cells).
    case.documented = {
        "tabagisme": rng.random() < 0.88,
        "diabete": rng.random() < 0.92,
        "dyslipidemie": rng.random() < 0.9,
        "mrs_pre_avc": rng.random() < 0.9,
        "glycemie_admission": rng.random() < 0.92,
        "ldl": rng.random() < 0.85 and not died_in_hospital,
        "nihss_sortie": not died_in_hospital and rng.random() < 0.95,
        "site_occlusion": rng.random() < 0.95 or thrombectomy,
        "toast": rng.random() < 0.93 and not died_in_hospital,
        "mrs_3_mois": followup_3m,
    }
    if rng.random() < 0.1 and nihss_adm >= 3:
        # The admission note states a wrong score; an addendum corrects it.
        case.nihss_corrected_from = nihss_adm + rng.choice([-2, -1, 1, 2, 3])
    case.gold = _gold_row(case)
    return case


def _gold_row(case: Case) -> dict[str, str]:
    doc = case.documented
    onset_date = case.onset.date()
    row = {
        "age": str(case.age),
        "sexe": case.sex,
        "hta": _b(case.hta),
        "diabete": _b(case.diabete) if doc["diabete"] else "",
        "dyslipidemie": _b(case.dyslipidemie) if doc["dyslipidemie"] else "",
        "tabagisme": _b(case.tabac) if doc["tabagisme"] else "",
        "fibrillation_atriale": _b(case.af),
        "mrs_pre_avc": str(case.mrs_pre) if doc["mrs_pre_avc"] else "",
        "date_avc": onset_date.isoformat(),
        "nihss_admission": str(case.nihss_adm),
        "glycemie_admission": f"{case.glycemia:.1f}" if doc["glycemie_admission"] else "",
        "thrombolyse": _b(case.thrombolysis),
        "thrombectomie": _b(case.thrombectomy),
        "site_occlusion": case.site if doc["site_occlusion"] else "",
        "cote_lesion": case.side,
        "transformation_hemorragique": _b(case.hemorrhage),
        "ldl": f"{case.ldl:.2f}" if doc["ldl"] else "",
        "nihss_sortie": str(case.nihss_out) if doc["nihss_sortie"] and case.nihss_out is not None else "",
        "toast": case.toast if doc["toast"] and case.toast else "",
        "destination_sortie": case.destination,
        "mrs_3_mois": str(case.mrs_3m) if doc["mrs_3_mois"] and case.mrs_3m is not None else "",
    }
    return row


NEGATED_TERMS = ("HTA", "hypertension", "diabétique", "diabète", "DT2", "dyslipidémie")
"""The concept words of the antecedents' negations ("pas d'HTA", "non diabétique"): the mentions' spans."""


def _b(value: bool) -> str:
    return "true" if value else "false"


# ---------------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Draft:
    """A document before rendering."""

    doc_type: str
    moment: dt.datetime
    has_time: bool
    paras: list[Para]
    kind: str = ""
    """The generator's own name for the document (the doc_type alone does not tell a 3-month visit)."""

    def __post_init__(self) -> None:
        self.kind = self.kind or self.doc_type


class Writer:
    """Writes one patient's documents from the latent case."""

    def __init__(self, case: Case, seed: int):
        self.case = case
        self.rng = random.Random(f"clinrag-synth-text:{seed}:{case.index}")
        self.admission_history: Para | None = None
        self.antecedents: Para | None = None

    # ---- small pieces ----------------------------------------------------------------------------------
    def w(self, word: str) -> str:
        """A word, misspelled now and then in a sloppy writer's notes."""
        if self.case.sloppy and word in lx.TYPOS and self.rng.random() < 0.3:
            return self.rng.choice(lx.TYPOS[word])
        return word

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def date_phrase(self, para: Para, day: dt.date) -> Para:
        return para.phi("DATE", fr_date(day, self.rng.randrange(3)))

    def header(self, service: str, moment: dt.datetime, full: bool = False, title: str = "") -> Para:
        """The administrative header of a hospital document (identifiers, with their PHI spans)."""
        c, p = self.case, Para()
        p.phi("HOPITAL", c.hospital).t(f" — {service}\n")
        if title:
            p.t(f"{title}\n")
        p.t(self.pick("Patient : ", "Nom : ", "Identité : "))
        p.phi("NOM", c.person.last).t(" ").phi("PRENOM", c.person.first)
        born = ", né" if c.sex == "homme" else ", née"
        p.t(self.pick(f"{born} le ", f"{born} ", " - DDN : "))
        p.phi("DATE_NAISSANCE", fr_date(c.birth, self.rng.choice([0, 0, 1])))
        p.t("\nIPP : ").phi("IPP", c.ipp)
        if full or self.rng.random() < 0.5:
            p.t(" — NDA : ").phi("NDA", c.nda)
        if full:
            p.t("\nAdresse : ").phi("ADRESSE", c.address).t(", ").phi("ZIP", c.zip_code).t(" ").phi(
                "VILLE", c.city
            )
            p.t("\nTél. : ").phi("TEL", c.phone)
            if c.email:
                p.t(" — Courriel : ").phi("MAIL", c.email)
            p.t("\nN° de sécurité sociale : ").phi("SECU", c.secu)
        p.t("\nDate : ").phi("DATE", fr_date(moment.date(), 0))
        return p

    def signature(self, who: Person | None = None) -> Para:
        who = who or self.case.neurologist
        return (
            Para().t(self.pick("Dr ", "Docteur ", "Pr ")).phi("PRENOM", who.first).t(" ").phi("NOM", who.last)
        )

    # ---- antecedents (copied forward into later letters) ------------------------------------------------
    def make_antecedents(self) -> Para:
        c, p = self.case, Para()
        p.t(self.pick("Antécédents :\n", "ATCD :\n", "Antécédents médicaux :\n"))
        items: list[tuple[str | None, str]] = []
        if c.hta:
            items.append(
                (
                    "hta",
                    self.pick(
                        "HTA", f"{self.w('hypertension')} artérielle", "HTA traitée", "HTA sous bithérapie"
                    ),
                )
            )
        if c.diabete and c.documented["diabete"]:
            items.append(
                (
                    "diabete",
                    self.pick(
                        "diabète de type 2",
                        "DT2",
                        "DNID",
                        f"{self.w('diabète')} sous metformine",
                        "diabète insulinorequérant",
                    ),
                )
            )
        if c.dyslipidemie and c.documented["dyslipidemie"]:
            items.append(
                (
                    "dyslipidemie",
                    self.pick("dyslipidémie", "hypercholestérolémie sous statine", "dyslipidémie traitée"),
                )
            )
        if c.af_known:
            items.append(
                (
                    "fibrillation_atriale",
                    self.pick(
                        "FA paroxystique connue",
                        f"{self.w('fibrillation')} atriale permanente",
                        "ACFA sous AOD",
                    ),
                )
            )
        items.append(
            (
                None,
                self.pick(
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
        self.rng.shuffle(items)
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
            negations.append(("hta", self.pick("pas d'HTA", "pas d'hypertension connue", "absence d'HTA")))
        if not c.diabete and c.documented["diabete"]:
            negations.append(("diabete", self.pick("pas de diabète", "non diabétique", "pas de DT2 connu")))
        if not c.dyslipidemie and c.documented["dyslipidemie"]:
            negations.append(
                ("dyslipidemie", self.pick("pas de dyslipidémie", "bilan lipidique antérieur normal"))
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
        if self.rng.random() < 0.55:
            relative = self.pick("père", "mère", "frère", "sœur")
            condition = self.pick(
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
            p.t("\nAntécédents familiaux :\n").t(
                f"{relative} {condition}", Truth(concept, family=True), term
            ).t(".")
        if c.documented["tabagisme"]:
            p.t("\nMode de vie :\n")
            if c.tabac:
                p.ev(
                    "tabagisme",
                    self.pick(
                        f"tabagisme actif à {self.rng.randint(10, 50)} PA",
                        "fumeur actif",
                        "tabac actif (1 paquet/jour)",
                    ),
                    Truth("tabagisme"),
                )
            else:
                text = self.pick(
                    "non fumeur", "pas de tabagisme", "tabagisme sevré depuis 15 ans", "ne fume pas"
                )
                # a former smoker is neither a negation nor a current smoker: no mention
                term = next((t for t in ("fumeur", "tabagisme", "fume") if t in text), None)
                p.ev("tabagisme", text, None if "sevré" in text else Truth("tabagisme", negated=True), term)
            p.t(".")
        return p

    # ---- documents --------------------------------------------------------------------------------------
    def urgences(self) -> Draft:
        c = self.case
        moment = c.arrival
        paras = [
            self.header(
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
        deficit = self.pick(
            f"{self.w('hémiparésie')}", "hémiplégie", "déficit brachio-facial", "déficit moteur"
        )
        symptom_side = "droite" if c.side == "gauche" else "gauche"
        extra = " et aphasie" if c.side == "gauche" and self.rng.random() < 0.6 else ""
        hist.t(f" adressé(e) pour {deficit} {symptom_side}{extra} ")
        if c.onset.date() != moment.date():
            hist.open("date_avc").t(f"d'installation brutale la veille vers {fr_time(c.onset)}").close(
                "date_avc"
            )
        else:
            hist.open("date_avc").t("d'installation brutale le ")
            self.date_phrase(hist, c.onset.date()).t(f" à {fr_time(c.onset)}").close("date_avc")
        hist.t(". Appel du centre 15, arrivée aux urgences à " + fr_time(moment) + ".")
        self.admission_history = hist
        paras.append(hist)
        self.antecedents = self.make_antecedents()
        paras.append(self.antecedents)
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
                self.pick(
                    f"mRS antérieur à {c.mrs_pre}",
                    f"Rankin pré-AVC {c.mrs_pre}",
                    f"mRS pré-morbide = {c.mrs_pre}",
                ),
            )
            paras.append(p.t("."))
        exam = Para().t(
            "Examen clinique :\nTA " + f"{self.rng.randint(120, 210)}/{self.rng.randint(60, 110)} mmHg, "
        )
        exam.t(
            f"FC {self.rng.randint(55, 120)}/min. signe de Babinski {self.pick('présent', 'absent')} à {symptom_side}. "
        )
        stated = c.nihss_corrected_from if c.nihss_corrected_from is not None else c.nihss_adm
        nihss_text = self.pick(
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
            if self.rng.random() < 0.5:
                grams = c.glycemia / 5.551
                exam.ev("glycemie_admission", f"Glycémie capillaire {fr_number(grams, 2)} g/L")
            else:
                exam.ev("glycemie_admission", f"Dextro {fr_number(c.glycemia, 1)} mmol/L")
            exam.t(".")
        paras.append(exam)
        concl = Para().t(self.pick("Conclusion :\n", "Au total :\n"))
        concl.t(
            f"suspicion d'AVC ischémique {'sylvien ' if c.site in ('m1', 'm2', 'carotide_interne') else ''}{c.side if c.side == 'gauche' else 'droit'}. ",
            Truth("avc", hypothetical=True),
            "AVC ischémique",
        )
        if not c.af_known and self.rng.random() < 0.5:
            text = self.pick(
                "FA ? Holter à prévoir.",
                "Rechercher une FA paroxystique.",
                "Cardiopathie emboligène à éliminer.",
            )
            term = "Cardiopathie emboligène" if text.startswith("Cardio") else "FA"
            concl.t(text, Truth("fibrillation_atriale" if term == "FA" else "toast", hypothetical=True), term)
        paras.append(concl)
        paras.append(self.signature())
        return Draft("urgences", moment, True, paras)

    def imaging(self) -> Draft:
        c = self.case
        moment = c.arrival + dt.timedelta(minutes=self.rng.randint(15, 40))
        modality = self.pick(
            "IRM cérébrale et angio-IRM",
            "Scanner cérébral et angioscanner des TSA",
            "IRM encéphalique avec séquences de diffusion et ARM",
        )
        paras = [
            self.header("Service de neuroradiologie", moment, title=f"COMPTE RENDU : {modality.upper()}")
        ]
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
            self.pick(f"{c.side}" if c.side == "gauche" else "droit", f"de l'hémisphère {c.side}"),
        )
        p.t(f", score ASPECTS {self.rng.randint(5, 10)}. ")
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
                "aucune": self.pick(
                    "pas d'occlusion artérielle proximale", "absence d'occlusion des gros troncs"
                ),
            }[c.site]
            p.t("Angiographie : ").ev("site_occlusion", occl[0].upper() + occl[1:]).t(".")
        else:
            p.t("Séquences angiographiques non réalisées (patient agité).")
        p.t(f" Leucopathie vasculaire ({self.pick(*lx.EPONYMS[8:9])} {self.rng.randint(1, 3)}). ")
        p.t(
            "Pas de saignement intracrânien.",
            Truth("transformation_hemorragique", negated=True),
            "saignement intracrânien",
        )
        paras.append(p)
        paras.append(self.signature(Person(self.pick(*lx.MALE_FIRST_NAMES), self.pick(*lx.SURNAMES))))
        return Draft("imagerie", moment, True, paras)

    def thrombolysis(self) -> Draft:
        c = self.case
        moment = c.arrival + dt.timedelta(minutes=self.rng.randint(30, 70))
        paras = [self.header("Unité neurovasculaire", moment, title="COMPTE RENDU DE THROMBOLYSE")]
        drug = self.pick("altéplase (Actilyse) 0,9 mg/kg", "ténectéplase (Metalyse) 0,25 mg/kg")
        p = Para().ev("thrombolyse", f"{self.w('thrombolyse').capitalize()} intraveineuse par {drug}")
        p.t(
            f" débutée à {fr_time(moment)}, délai symptômes-aiguille {int((moment - c.onset).total_seconds() // 60)} min. "
        )
        if c.nihss_corrected_from is None:
            p.t("NIHSS avant thrombolyse : ").ev("nihss_admission", str(c.nihss_adm)).t(". ")
        p.t(f"NIHSS à H24 : {c.nihss_h24}. Surveillance neurologique horaire, pas d'angio-œdème.")
        paras.append(p)
        paras.append(self.signature())
        return Draft("thrombolyse", moment, True, paras)

    def thrombectomy(self) -> Draft:
        c = self.case
        moment = c.arrival + dt.timedelta(minutes=self.rng.randint(60, 150))
        paras = [
            self.header(
                "Neuroradiologie interventionnelle", moment, title="COMPTE RENDU DE THROMBECTOMIE MÉCANIQUE"
            )
        ]
        label = {"m1": "M1", "m2": "M2", "carotide_interne": "ACI", "tronc_basilaire": "tronc basilaire"}.get(
            c.site, c.site
        )
        p = Para().t("Anesthésie : sédation consciente. ")
        p.ev(
            "thrombectomie",
            self.pick(
                "Thrombectomie mécanique par stent retriever",
                "Thrombectomie par aspiration (technique ADAPT)",
                "Thrombectomie combinée aspiration + stent retriever",
            ),
        )
        p.t(f" de l'occlusion {label} {c.side if c.site != 'tronc_basilaire' else ''}".rstrip())
        p.t(
            f", {self.rng.randint(1, 4)} passage(s). Résultat final : recanalisation {self.pick('TICI 2b', 'TICI 2c', 'TICI 3', 'mTICI 2b')}."
        )
        paras.append(p)
        paras.append(self.signature(Person(self.pick(*lx.MALE_FIRST_NAMES), self.pick(*lx.SURNAMES))))
        return Draft("thrombectomie", moment, True, paras)

    def biology(self) -> Draft:
        c = self.case
        moment = c.arrival + dt.timedelta(hours=self.rng.randint(1, 20))
        paras = [self.header("Laboratoire de biochimie", moment, title="RÉSULTATS DE BIOLOGIE")]
        p = Para()
        p.t(
            f"Hémoglobine : {fr_number(self.rng.uniform(10.5, 16.5), 1)} g/dL. Créatinine : {self.rng.randint(50, 140)} µmol/L. "
        )
        if c.documented["glycemie_admission"] and c.glycemia is not None and self.rng.random() < 0.6:
            p.ev("glycemie_admission", f"Glucose : {fr_number(c.glycemia, 1)} mmol/L").t(". ")
        if c.diabete:
            p.t(f"HbA1c : {fr_number(self.rng.uniform(6.5, 10.5), 1)} %. ")
        if c.documented["ldl"] and c.ldl is not None:
            p.t(f"Cholestérol total : {fr_number(c.ldl + self.rng.uniform(0.6, 1.0), 2)} g/L. ")
            if self.rng.random() < 0.6:
                p.ev("ldl", f"LDL-{self.w('cholestérol')} : {fr_number(c.ldl, 2)} g/L")
            else:
                p.ev("ldl", f"LDL-c : {fr_number(c.ldl / 0.3866, 2)} mmol/L")
            p.t(f". HDL : {fr_number(self.rng.uniform(0.35, 0.8), 2)} g/L.")
        else:
            p.t("Bilan lipidique : non prélevé.")
        paras.append(p)
        return Draft("biologie", moment, True, paras)

    def ecg(self) -> Draft:
        c = self.case
        moment = c.arrival + dt.timedelta(minutes=self.rng.randint(5, 60))
        paras = [self.header("Cardiologie", moment, title="ECG 12 DÉRIVATIONS")]
        p = Para()
        if c.af_known or c.af_on_ecg:
            text = self.pick(
                f"{self.w('fibrillation').capitalize()} atriale à réponse ventriculaire rapide",
                "ACFA à 110/min",
                "Rythme irrégulier : FA",
            )
            term = "ACFA" if "ACFA" in text else "FA" if text.endswith("FA") else text.split(" à ")[0]
            p.ev("fibrillation_atriale", text, Truth("fibrillation_atriale"), term)
        else:
            text = self.pick(
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
        p.t(f". QRS fins, PR {self.rng.randint(140, 200)} ms.")
        paras.append(p)
        return Draft("ecg", moment, True, paras)

    def holter(self, days_after: int) -> Draft:
        c = self.case
        moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days_after), dt.time(10, 0))
        duration = self.pick("24 heures", "48 heures", "7 jours", "21 jours")
        paras = [
            self.header(
                "Explorations fonctionnelles cardiologiques", moment, title=f"HOLTER ECG {duration.upper()}"
            )
        ]
        p = Para().t(f"Enregistrement de {duration}. ")
        if c.af and not c.af_known:
            text = self.pick(
                f"Épisodes de FA paroxystique, le plus long de {self.rng.randint(2, 300)} minutes",
                f"Passage en {self.w('fibrillation')} atriale paroxystique",
                "Mise en évidence d'une ACFA paroxystique",
            )
            term = (
                "FA"
                if text.startswith("Épisodes")
                else "ACFA"
                if "ACFA" in text
                else text[len("Passage en ") :]
            )
            p.ev("fibrillation_atriale", text, Truth("fibrillation_atriale"), term)
            p.t(". Conclusion : ").t("FA paroxystique", Truth("fibrillation_atriale")).t(
                ", indication à une anticoagulation."
            )
            if c.af_late_holter and c.documented["toast"]:
                p.t(" ").ev("toast", "Origine cardioembolique de l'AVC retenue").t(".")
        else:
            text = self.pick(
                "Absence de fibrillation atriale",
                "Pas de passage en FA",
                "Pas d'épisode de FA ni de flutter",
            )
            term = "fibrillation atriale" if text.startswith("Absence") else "FA"
            p.ev("fibrillation_atriale", text, Truth("fibrillation_atriale", negated=True), term)
            p.t(f". Extrasystoles auriculaires isolées ({self.rng.randint(10, 900)}/24 h).")
        paras.append(p)
        return Draft("holter", moment, True, paras)

    def echo(self, days_after: int) -> Draft:
        c = self.case
        moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days_after), dt.time(14, 0))
        paras = [self.header("Cardiologie", moment, title="ÉCHOGRAPHIE CARDIAQUE TRANSTHORACIQUE")]
        p = Para().t(
            f"FEVG {self.rng.randint(45, 70)} %. Oreillette gauche {self.pick('non dilatée', 'dilatée', 'modérément dilatée')}. "
        )
        text = self.pick(
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

    def control_imaging(self) -> Draft:
        c = self.case
        moment = c.arrival + dt.timedelta(hours=self.rng.randint(20, 30))
        paras = [
            self.header("Service de neuroradiologie", moment, title="SCANNER CÉRÉBRAL DE CONTRÔLE À H24")
        ]
        p = Para().t("Comparaison avec l'imagerie initiale. ")
        if c.hemorrhage:
            text = self.pick(
                f"Transformation hémorragique de type {self.pick('HI1', 'HI2', 'PH1', 'PH2')}",
                "Remaniement hémorragique de l'infarctus",
                "Pétéchies hémorragiques au sein de la zone infarcie (HI1)",
            )
            term = " ".join(text.split()[:2])
            p.ev("transformation_hemorragique", text, Truth("transformation_hemorragique"), term)
        else:
            text = self.pick(
                "Pas de transformation hémorragique",
                "Absence de remaniement hémorragique",
                "Pas de saignement",
            )
            term = text.split(" de ", 1)[1]
            p.ev(
                "transformation_hemorragique", text, Truth("transformation_hemorragique", negated=True), term
            )
        p.t(". Œdème cérébral modéré.")
        paras.append(p)
        return Draft("imagerie", moment, True, paras)

    def addendum(self) -> Draft:
        c = self.case
        moment = c.arrival + dt.timedelta(hours=self.rng.randint(6, 30))
        paras = [self.header("Unité neurovasculaire", moment, title="ADDENDUM")]
        p = Para().t("Addendum à l'observation d'admission du ")
        self.date_phrase(p, c.arrival.date()).t(" : ")
        p.ev("nihss_admission", f"le score NIHSS à l'admission était de {c.nihss_adm}")
        p.t(f" et non de {c.nihss_corrected_from} comme indiqué par erreur.")
        paras.append(p)
        paras.append(self.signature())
        return Draft("addendum", moment, True, paras)

    def discharge(self, days: int, toast_known: bool) -> Draft:
        c = self.case
        moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days), dt.time(16, 0))
        paras = [
            self.header(
                "Unité neurovasculaire",
                moment,
                full=self.rng.random() < 0.3,
                title="COMPTE RENDU D'HOSPITALISATION",
            )
        ]
        intro = Para().t("Cher confrère, ").t(self.pick("j'ai pris en charge", "nous avons hospitalisé"))
        intro.t(" votre patient(e) du ")
        self.date_phrase(intro, c.arrival.date()).t(" au ")
        self.date_phrase(intro, moment.date()).t(".")
        paras.append(intro)
        # Copy-forward: the admission note's history and antecedents, verbatim.
        if self.admission_history is not None:
            paras.append(self.admission_history)
        if self.antecedents is not None:
            paras.append(self.antecedents)
        course = Para().t("Évolution :\n")
        if c.thrombolysis:
            text = self.pick(
                "thrombolysé(e) à l'arrivée",
                "traitement par thrombolyse IV",
                "bénéficie d'une thrombolyse intraveineuse",
            )
            term = "thrombolysé(e)" if text.startswith("thrombolysé") else "thrombolyse"
            course.ev("thrombolyse", text, Truth("thrombolyse"), term)
            course.t(". ")
        else:
            text = self.pick(
                "pas de thrombolyse (hors délai)", "thrombolyse non indiquée", "pas de thrombolyse IV"
            )
            # "non indiquée" is a decision, not a negation cue: no mention
            truth = None if "non indiquée" in text else Truth("thrombolyse", negated=True)
            course.ev("thrombolyse", text, truth, "thrombolyse" if truth else None)
            course.t(". ")
        if c.thrombectomy:
            course.ev(
                "thrombectomie",
                self.pick("thrombectomie mécanique", "bénéficie d'une thrombectomie"),
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
        if c.nihss_corrected_from is None and self.rng.random() < 0.5:
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
            course.ev("destination_sortie", self.pick("Décès du patient", "Décès")).t(" le ")
            self.date_phrase(course, moment.date()).t(". ")
            course.ev("mrs_3_mois", "mRS 6 (décès)")
            paras.append(course.t("."))
            paras.append(self.signature())
            return Draft("lettre_sortie", moment, False, paras)
        if c.documented["nihss_sortie"] and c.nihss_out is not None:
            course.ev(
                "nihss_sortie",
                self.pick(
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
        if c.documented["ldl"] and c.ldl is not None and self.rng.random() < 0.5:
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
            "domicile": self.pick("retour à domicile", "RAD avec kinésithérapie en libéral"),
            "reeducation": self.pick("transfert en SSR neurologique", "transfert en rééducation"),
            "ehpad": self.pick("retour en EHPAD", "entrée en EHPAD"),
            "autre_hopital": self.pick(
                "transfert au centre hospitalier de proximité", "retour dans l'hôpital d'origine"
            ),
        }[c.destination]
        dest.ev("destination_sortie", dest_text)
        if c.destination == "reeducation":
            dest.t(" (").phi("HOPITAL", self.pick(*lx.REHAB_CENTERS)).t(")")
        dest.t(". Consultation de suivi neurovasculaire à 3 mois. Traitement : ")
        dest.t("apixaban 5 mg x2/j" if c.af else "aspirine 75 mg/j, atorvastatine 40 mg/j").t(".")
        paras.append(dest)
        paras.append(self.signature())
        return Draft("lettre_sortie", moment, False, paras)

    def rehab_letter(self, days: int) -> Draft:
        c = self.case
        moment = dt.datetime.combine(c.arrival.date() + dt.timedelta(days=days), dt.time(11, 0))
        center = self.pick(*lx.REHAB_CENTERS)
        p0 = (
            Para()
            .phi("HOPITAL", center)
            .t(" — Médecine physique et réadaptation\nCompte rendu de fin de séjour\nPatient : ")
        )
        p0.phi("NOM", c.person.last).t(" ").phi("PRENOM", c.person.first).t("\nDate : ").phi(
            "DATE", fr_date(moment.date(), 0)
        )
        paras = [p0]
        if self.antecedents is not None:
            paras.append(self.antecedents)
        p = Para().t(f"Séjour de rééducation de {days - 10} jours après un AVC ischémique {c.side}. ")
        p.t(
            f"À la sortie : marche {self.pick('sans aide', 'avec canne', 'avec déambulateur')}, mRS {max(c.mrs_pre, (c.mrs_out or 0) - 1)}. "
        )
        p.t(
            self.pick(
                "Persistance d'une aphasie de production discrète.",
                "Spasticité modérée du membre supérieur.",
                "Récupération motrice satisfaisante.",
            )
        )
        paras.append(p)
        paras.append(self.signature(Person(self.pick(*lx.FEMALE_FIRST_NAMES), self.pick(*lx.SURNAMES))))
        return Draft("lettre_reeducation", moment, False, paras)

    def consultation(self, days: int, kind: str) -> Draft:
        """A follow-up consultation: ``6s`` (six weeks), ``3m`` (the registry's timepoint) or ``12m``."""
        c = self.case
        moment = dt.datetime.combine(
            c.arrival.date() + dt.timedelta(days=days), dt.time(self.rng.randint(8, 17), 30)
        )
        title = {
            "6s": "CONSULTATION POST-AVC PRÉCOCE",
            "3m": "CONSULTATION DE SUIVI NEUROVASCULAIRE À 3 MOIS",
            "12m": "CONSULTATION DE SUIVI À 1 AN",
        }[kind]
        if self.rng.random() < 0.5:  # often the title does not say which visit it is
            title = "CONSULTATION DE NEUROLOGIE VASCULAIRE"
        paras = [self.header("Consultation de neurologie vasculaire", moment, title=title)]
        mrs = {"6s": c.mrs_6w, "3m": c.mrs_3m, "12m": c.mrs_12m}[kind]
        if mrs == 6:
            p = Para().t("Appel téléphonique de suivi : la famille nous informe du ")
            where = self.pick("à domicile", "en EHPAD", "lors d'une réhospitalisation")
            if kind == "3m":
                p.ev("mrs_3_mois", "décès du patient (mRS 6)")
            else:
                p.t("décès du patient (mRS 6)")
            p.t(f" survenu {where}.")
            paras[0] = self.header("Consultation de neurologie vasculaire", moment, title="SUIVI À 3 MOIS")
            paras.append(p)
            paras.append(self.signature())
            return Draft("consultation", moment, True, paras, kind=f"consultation_{kind}")
        p = Para().t("Revu(e) en consultation, ")
        p.t(f"{days} jours après l'").open("date_avc").t(f"AVC ischémique {c.side} du ")
        self.date_phrase(p, c.onset.date()).close("date_avc").t(". ")
        if kind == "3m" and c.af and c.af_late_holter:
            p.t("Le Holter de 21 jours réalisé après la sortie a mis en évidence une ")
            p.ev("fibrillation_atriale", "FA paroxystique", Truth("fibrillation_atriale"), "FA").t(". ")
            if c.documented["toast"] and c.toast:
                p.t("L'étiologie est donc révisée : ").ev("toast", "AVC cardioembolique").t(
                    ". Introduction d'un AOD. "
                )
        text = self.pick(
            f"Score de Rankin modifié : {mrs}",
            f"mRS = {mrs}",
            f"Rankin modifié à {mrs}",
            f"échelle de Rankin : {mrs}",
        )
        if kind == "3m":
            p.t(self.pick("Évaluation à 3 mois : ", "Examen : ")).ev("mrs_3_mois", text).t(".")
        else:
            p.t(f"{text}.")
        p.t(
            f" NIHSS {max(0, (c.nihss_out or 0) - self.rng.randint(0, 2))}. {self.pick('Pas de récidive.', 'Pas de nouvel événement.', 'Plainte mnésique.')}"
        )
        paras.append(p)
        paras.append(self.signature())
        return Draft("consultation", moment, True, paras, kind=f"consultation_{kind}")

    def distractor(self, days: int) -> Draft:
        c = self.case
        moment = dt.datetime.combine(
            c.arrival.date() + dt.timedelta(days=days), dt.time(self.rng.randint(8, 17), 0)
        )
        kind = self.rng.randrange(4)
        if kind == 0:
            paras = [self.header("Ophtalmologie", moment, title="CONSULTATION D'OPHTALMOLOGIE")]
            paras.append(
                Para().t(
                    f"Baisse d'acuité visuelle progressive. Acuité {self.rng.randint(3, 9)}/10 à droite. Cataracte nucléaire. Fond d'œil : pas de rétinopathie."
                )
            )
        elif kind == 1:
            paras = [self.header("Anesthésie", moment, title="CONSULTATION D'ANESTHÉSIE")]
            paras.append(
                Para().t(
                    f"Avant arthroscopie du genou. Score ASA {self.rng.randint(1, 3)}. Glycémie à jeun {fr_number(self.rng.uniform(4.5, 6.5), 1)} mmol/L. Intubation prévue sans difficulté (Mallampati 2)."
                )
            )
        elif kind == 2:
            paras = [self.header("Dermatologie", moment, title="CONSULTATION DE DERMATOLOGIE")]
            paras.append(
                Para().t(
                    f"Lésion pigmentée du dos de {self.rng.randint(3, 12)} mm, exérèse programmée. Pas d'autre lésion suspecte."
                )
            )
        else:
            paras = [self.header("Orthopédie", moment, title="COMPTE RENDU DE CONSULTATION D'ORTHOPÉDIE")]
            paras.append(
                Para().t(
                    f"Suites d'une fracture du poignet gauche. Consolidation acquise à {self.rng.randint(6, 10)} semaines. Reprise de la kinésithérapie."
                )
            )
        paras.append(self.signature(Person(self.pick(*lx.MALE_FIRST_NAMES), self.pick(*lx.SURNAMES))))
        return Draft("consultation", moment, True, paras, kind="consultation_autre")

    # ---- the record ---------------------------------------------------------------------------------------
    def record(self) -> list[Draft]:
        """All documents of the patient, in date order, 4 to 12 of them."""
        c, rng = self.case, self.rng
        drafts = [self.urgences(), self.imaging()]
        if c.thrombolysis:
            drafts.append(self.thrombolysis())
        if c.thrombectomy:
            drafts.append(self.thrombectomy())
        if rng.random() < 0.85 or c.documented["ldl"]:
            drafts.append(self.biology())
        if rng.random() < 0.6 or c.af_on_ecg or c.died_in_hospital:
            drafts.append(self.ecg())
        if c.nihss_corrected_from is not None:
            drafts.append(self.addendum())
        if c.control_imaging:
            drafts.append(self.control_imaging())
        stay = rng.randint(4, 14) if not c.died_in_hospital else rng.randint(1, 8)
        found_in_stay = c.af and not c.af_known and not c.af_on_ecg and not c.af_late_holter
        holter_in_stay = found_in_stay or (
            not c.af_known and not c.af_late_holter and not c.died_in_hospital and rng.random() < 0.75
        )
        if holter_in_stay:
            drafts.append(self.holter(rng.randint(2, max(2, stay - 1))))
        if rng.random() < 0.35 and not c.died_in_hospital:
            drafts.append(self.echo(rng.randint(1, max(1, stay - 1))))
        drafts.append(self.discharge(stay, toast_known=not (c.af and c.af_late_holter)))
        if not c.died_in_hospital:
            if c.af_late_holter:
                drafts.append(self.holter(stay + rng.randint(10, 40)))
            if c.destination == "reeducation" and rng.random() < 0.7:
                drafts.append(self.rehab_letter(stay + rng.randint(20, 60)))
            if rng.random() < 0.3:
                drafts.append(self.consultation(rng.randint(35, 50), "6s"))
            if c.followup_3m:
                drafts.append(self.consultation(rng.randint(80, 105), "3m"))
            if c.mrs_3m != 6 and rng.random() < 0.5:
                drafts.append(self.consultation(rng.randint(340, 390), "12m"))
        # Unrelated documents, before or after the stroke.
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            drafts.append(self.distractor(rng.randint(-200, 360)))
        while len(drafts) < 4:
            drafts.append(self.distractor(rng.randint(-200, 360)))
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


# ---------------------------------------------------------------------------------------------------------
# The cohort
# ---------------------------------------------------------------------------------------------------------
def _rendered_documents(case: Case, seed: int):
    """Yield ``(doc_id, draft, rendered)`` for each of a patient's documents, in date order."""
    for number, draft in enumerate(Writer(case, seed).record(), start=1):
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


def write_synthetic_cohort(
    out: str | Path, n_patients: int, seed: int = 0, overwrite: bool = False
) -> Cohort:
    """Generate a cohort and write it to ``out`` (into a temporary sibling first, then renamed into place).

    Raises:
        ClinragError: ``out`` exists and is not empty, and ``overwrite`` is False.
    """
    from clinrag.data.cohort import save_cohort
    from clinrag.errors import ClinragError
    from clinrag.io import atomic_folder

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ClinragError(f"{out}: exists and is not empty (use --overwrite to replace it)")
    cohort = synthesize_cohort(n_patients, seed)
    with atomic_folder(out, replace=overwrite) as staging:
        save_cohort(cohort, staging)
    cohort.root = out
    return cohort
