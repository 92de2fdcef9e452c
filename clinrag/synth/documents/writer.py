"""The pen that writes one patient's documents: its random source, small pieces and what it copies forward.

Every document is a function of a :class:`Writer` (``documents/<type>.py``) returning a :class:`Draft`. The
writer's ``random.Random`` is seeded by (seed, patient index) and shared by all of a patient's documents, so
the order in which :func:`~clinrag.synth.documents.record.write_record` calls them is part of the cohort's
bytes.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from clinrag.synth import lexicon as lx
from clinrag.synth.builder import Para
from clinrag.synth.documents.formats import fr_date
from clinrag.synth.patient import Case, Person


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
        # Set by the admission note, copied forward verbatim by the discharge and rehabilitation letters.
        self.admission_history: Para | None = None
        self.antecedents: Para | None = None

    def w(self, word: str) -> str:
        """A word, misspelled now and then in a sloppy writer's notes."""
        if self.case.sloppy and word in lx.TYPOS and self.rng.random() < 0.3:
            return self.rng.choice(lx.TYPOS[word])
        return word

    def pick(self, *options: str) -> str:
        """One of ``options``, drawn."""
        return self.rng.choice(options)

    def date_phrase(self, para: Para, day: dt.date) -> Para:
        """Append ``day`` to ``para`` as a DATE identifier, in a drawn style."""
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
        """The signing doctor (the patient's neurologist unless ``who`` is given), the name as PHI."""
        who = who or self.case.neurologist
        return (
            Para().t(self.pick("Dr ", "Docteur ", "Pr ")).phi("PRENOM", who.first).t(" ").phi("NOM", who.last)
        )
