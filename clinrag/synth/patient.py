"""The latent clinical course of a synthetic patient: identity, risk factors, stroke, treatments, outcome.

Each patient is drawn with realistic dependencies (age drives atrial fibrillation, large-vessel occlusions
drive NIHSS and thrombectomy, NIHSS at discharge and age drive the 3-month mRS...) from one ``random.Random``
seeded by (seed, patient index), so patient k is the same whatever the cohort's size. The order of the draws
is part of the cohort's bytes: moving a draw changes every later value of the patient.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from clinrag.data.values import strip_accents
from clinrag.synth import lexicon as lx

EPOCH_START = dt.date(2021, 1, 4)
EPOCH_DAYS = 1300


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


@dataclass
class Person:
    """An invented identity."""

    first: str
    last: str

    @property
    def email_user(self) -> str:
        """The local part of an e-mail address made of the name (``jean.dupont``)."""
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


def _b(value: bool) -> str:
    return "true" if value else "false"
