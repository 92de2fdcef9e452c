"""Surrogates by identifier kind: the built-in French lists, one generator per label, how two writings of one
identifier are compared, and how a surrogate is written like the occurrence it replaces (case, layout).

:class:`clinrag.pseudo.replace.PatientKey` draws from these generators; :func:`clinrag.pseudo.replace.replace`
writes each occurrence with :func:`render`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from clinrag.data.values import strip_accents
from clinrag.pseudo._numbers import nir_key
from clinrag.pseudo.vocabulary import fold

# ---------------------------------------------------------------------------------------------------------
# built-in surrogate lists (common French names and places, written by hand)
# ---------------------------------------------------------------------------------------------------------
SURNAMES: tuple[str, ...] = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
    "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard",
    "Bonnet", "Dupuis", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André",
    "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Perrin",
    "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand",
)  # fmt: skip
MALE_FIRST_NAMES: tuple[str, ...] = (
    "Alain", "Antoine", "Bernard", "Bruno", "Christophe", "Daniel", "David", "Éric", "François", "Frédéric",
    "Gérard", "Guillaume", "Henri", "Jacques", "Jean", "Julien", "Laurent", "Louis", "Luc", "Marc",
    "Michel", "Nicolas", "Olivier", "Patrick", "Paul", "Philippe", "Pierre", "Thierry", "Vincent", "Yves",
)  # fmt: skip
FEMALE_FIRST_NAMES: tuple[str, ...] = (
    "Anne", "Brigitte", "Catherine", "Cécile", "Chantal", "Christine", "Claire", "Danielle", "Élise", "Françoise",
    "Hélène", "Isabelle", "Jacqueline", "Jeanne", "Julie", "Laure", "Louise", "Lucie", "Madeleine", "Marie",
    "Martine", "Monique", "Nathalie", "Nicole", "Odile", "Pauline", "Simone", "Sophie", "Sylvie", "Valérie",
)  # fmt: skip
CITIES: tuple[str, ...] = (
    "Amiens", "Angers", "Besançon", "Bordeaux", "Brest", "Caen", "Clermont-Ferrand", "Dijon", "Grenoble",
    "Le Havre", "Le Mans", "Lille", "Limoges", "Lyon", "Marseille", "Metz", "Montpellier", "Mulhouse", "Nancy",
    "Nantes", "Nice", "Nîmes", "Orléans", "Perpignan", "Poitiers", "Reims", "Rennes", "Rouen", "Saint-Étienne",
    "Strasbourg", "Toulon", "Toulouse", "Tours", "Valence", "Vannes",
)  # fmt: skip
_HOSPITAL_FORMS: tuple[str, ...] = ("CHU de {city}", "Centre hospitalier de {city}", "Hôpital de {city}")
_STREET_KINDS: tuple[str, ...] = ("rue", "avenue", "boulevard", "place", "allée", "impasse", "chemin")
_STREET_NAMES: tuple[str, ...] = (
    "des Lilas", "des Acacias", "des Tilleuls", "du Moulin", "de la Gare", "de l'Église", "Victor Hugo",
    "Jean Jaurès", "Pasteur", "de la République", "des Écoles", "du Château", "des Peupliers", "du Stade",
)  # fmt: skip
_MAIL_DOMAINS: tuple[str, ...] = ("exemple.fr", "exemple.com", "courriel.exemple.fr")

#: How many draws a surrogate gets to differ from the original and from the patient's other surrogates.
MAX_DRAWS = 50
#: The leap year in which a day and month without a year ("29/02") are shifted.


def normalize_identifier(label: str, text: str) -> str:
    """How two writings of one identifier are compared: letters and digits only (upper case) for numbers,
    folded with whitespace collapsed otherwise."""
    if label in LAYOUT_LABELS:
        return "".join(c for c in text if c.isalnum()).upper()
    return " ".join(fold(text).split())


def leaks(originals: set[str], candidate: str) -> bool:
    """Whether a (normalized) surrogate is, or contains, one of the patient's identifiers of 3+ characters."""
    return any(
        original == candidate or (len(original) >= 3 and original in candidate) for original in originals
    )


# ---------------------------------------------------------------------------------------------------------
# surrogate generators: (rng, normalized original) -> canonical surrogate
# ---------------------------------------------------------------------------------------------------------
_MALE = frozenset(
    fold(name) for name in (*MALE_FIRST_NAMES, "jean-pierre", "jean-claude", "jean-marc", "rene")
)
_FEMALE = frozenset(
    fold(name) for name in (*FEMALE_FIRST_NAMES, "marie-claire", "mireille", "josiane", "eva")
)


def _surname(rng: random.Random, original: str) -> str:
    return rng.choice(SURNAMES)


def _first_name(rng: random.Random, original: str) -> str:
    """A first name of the original's gender when a small list knows it (a compound name by its first part)."""
    first = original.split("-")[0].split()[0] if original.split() else original
    if original in _MALE or first in _MALE:
        return rng.choice(MALE_FIRST_NAMES)
    if original in _FEMALE or first in _FEMALE:
        return rng.choice(FEMALE_FIRST_NAMES)
    return rng.choice(MALE_FIRST_NAMES + FEMALE_FIRST_NAMES)


def _city(rng: random.Random, original: str) -> str:
    return rng.choice(CITIES)


def _hospital(rng: random.Random, original: str) -> str:
    return rng.choice(_HOSPITAL_FORMS).format(city=rng.choice(CITIES))


def _address(rng: random.Random, original: str) -> str:
    street = f"{rng.choice(_STREET_KINDS)} {rng.choice(_STREET_NAMES)}"
    return f"{rng.randint(1, 120)} {street}" if original[:1].isdigit() else street


def _mail(rng: random.Random, original: str) -> str:
    first = strip_accents(rng.choice(MALE_FIRST_NAMES + FEMALE_FIRST_NAMES)).lower()
    last = strip_accents(rng.choice(SURNAMES)).lower()
    return f"{first}.{last}@{rng.choice(_MAIL_DOMAINS)}"


def _random_like(rng: random.Random, original: str, keep: int = 0) -> str:
    """Random characters of the original's kinds (digit for digit, letter for letter), the first ``keep``
    kept; a leading non-zero digit stays non-zero so the length does not look truncated."""
    out = list(original[:keep])
    for index, char in enumerate(original[keep:], start=keep):
        if char.isdigit():
            out.append(str(rng.randint(1 if index == 0 and char != "0" else 0, 9)))
        else:
            out.append(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
    return "".join(out)


def _phone(rng: random.Random, original: str) -> str:
    """Keeps the first two digits ("06" for a mobile, "33" of +33): they say the kind of line, not whose."""
    return _random_like(rng, original, keep=2 if len(original) >= 9 else 0)


def _postcode(rng: random.Random, original: str) -> str:
    if len(original) != 5 or not original.isdigit():
        return _random_like(rng, original)
    department = rng.choice([d for d in range(1, 96) if d != 20])
    return f"{department:02d}{rng.randint(0, 999):03d}"


def _social_security(rng: random.Random, original: str) -> str:
    """A well-formed NIR of the original's length (13 characters, or 15 with a valid key)."""
    if len(original) not in (13, 15):
        return _random_like(rng, original)
    sex = original[0] if original[0] in "12" else rng.choice("12")
    department = rng.choice([d for d in range(1, 96) if d != 20])
    body = (
        f"{sex}{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{department:02d}"
        f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    )
    return body if len(original) == 13 else f"{body}{nir_key(body):02d}"


GENERATORS: dict[str, Callable[[random.Random, str], str]] = {
    "NOM": _surname,
    "PRENOM": _first_name,
    "VILLE": _city,
    "HOPITAL": _hospital,
    "ADRESSE": _address,
    "MAIL": _mail,
    "TEL": _phone,
    "ZIP": _postcode,
    "SECU": _social_security,
    "IPP": _random_like,
    "NDA": _random_like,
}
#: Labels whose surrogate keeps the original's layout: the same separators, only its letters and digits drawn.
LAYOUT_LABELS = frozenset({"TEL", "ZIP", "SECU", "IPP", "NDA"})
DATE_LABELS = frozenset({"DATE", "DATE_NAISSANCE"})


# ---------------------------------------------------------------------------------------------------------
# writing a surrogate like the original
# ---------------------------------------------------------------------------------------------------------
def match_case(new: str, like: str) -> str:
    """``new`` in the case style of ``like``: upper ("DUPONT"), lower, or as ``new`` is written with its first
    letter capitalized ("Dupont" -> "Martin", "Mars" -> "Avril", "CHU de Lyon" -> "Hôpital de Nantes")."""
    letters = [c for c in like if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return new.upper()
    if letters and all(c.islower() for c in letters):
        return new.lower()
    return new[:1].upper() + new[1:]


def _in_layout(characters: str, original: str) -> str:
    """The surrogate's characters put in the original's places, its separators kept ("06 12 34 56 78")."""
    chars = iter(characters)
    return "".join(next(chars, "0") if c.isalnum() else c for c in original)


def render(label: str, canonical: str, original: str) -> str:
    """How one occurrence of an identifier is written, from the patient's canonical surrogate."""
    if canonical == mask_of(label):  # no surrogate could be drawn (see PatientKey.surrogate)
        return canonical
    if label in LAYOUT_LABELS:
        return _in_layout(canonical, original)
    if label == "MAIL":
        return canonical
    return match_case(canonical, original)


def mask_of(label: str) -> str:
    """The mask of a label: ``"[NOM]"``, ``"[DATE]"``..."""
    return f"[{label}]"
