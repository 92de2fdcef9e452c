"""Person names: after a title or a field label ("Dr", "Mme", "Nom :"), as a first name next to a surname, and
every further occurrence of a name already found or known.

A run of name words is split into NOM (surname) and PRENOM (first names) the way eds-pseudo annotates them:
consecutive words of the same kind form one span ("Jean Pierre" is one PRENOM, "LE BLEVEC" one NOM).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import common_words, first_names, fold, is_protected

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_LETTER = f"{_UPPER}{_LOWER}"

# Titles before a name. Short forms are case-sensitive ("M." but not "m."), long ones are not.
_TITLE = (
    r"(?:(?i:docteur|professeur|madame|monsieur|mademoiselle|ma[iî]tre)|Dr|DR|Dre|Pr|PR|Prof|Mme|MME|Mmes|Mr|MR|"
    r"Mlle|MLLE|Melle|M|MM|Interne|INTERNE|Externe|Infirmi[eè]re?|IDE)"
)
# Field labels before a name; the value after "Prénom :" is a first name, after "Nom :" a surname first.
_FIELD = (
    r"(?i:nom(?: de naissance| d'usage| marital| de jeune fille| patient)?|pr[ée]noms?|patiente?|pt|p[èe]re|m[èe]re|"
    r"conjointe?|fils|fille|[ée]poux|[ée]pouse|internes?|externes?|m[ée]decins?(?: traitant| r[ée]f[ée]rent)?|"
    r"praticien|r[ée]dig[ée] par|sign[ée] par|valid[ée] par|dict[ée] par|contact|personne de confiance|"
    r"assur[ée](?:\(e\))?|[ée]quipe|staff|pr[ée]sente?s?|destinataires?|copie [àa])"
)
_TITLE_TRIGGER = re.compile(rf"(?<![\w.])(?P<title>{_TITLE})(?:\.[ \t]*|[ \t]+)")
# "le patient Dupont", "la patiente DURAND": the name must follow at once, capitalized.
_PATIENT_TRIGGER = re.compile(r"(?<![\w])(?i:patiente?)[ \t]+(?=[A-ZÀ-ÖØ-Þ])")
_FIELD_TRIGGER = re.compile(rf"(?<![\w])(?P<field>{_FIELD})[ \t]*:[ \t]*")

# One word of a name: an initial ("J.", "M.-P.", "J.M", "B-J.", "DA.", "D"), a particle inside a compound
# surname, or a capitalized or upper-case word with hyphens and apostrophes ("JEAN-FRANCOIS", "N'Diaye",
# "M-Antonin"). Titles written like initials ("Dr.", "PR.") are not initials.
_INITIAL = (
    rf"(?!(?:Dr|Pr|Mr|Me|St|DR|PR|MR|ST|CH|NB|OK)\.)(?:[{_UPPER}][a-z]?|[{_UPPER}]{{2}})\.(?:-?[{_UPPER}]\.?)*(?![a-z])|"
    rf"[{_UPPER}](?:-[{_UPPER}])+\.?(?![a-z])|[{_UPPER}](?=[\s,;:)|]|$)"
)
_PARTICLE = (
    r"(?:de|du|des|d'|le|la|van|von|der|den|ben|bin|el|al|di|da|dos|"
    r"De|Du|Des|Le|La|Van|Von|Ben|El|Al|Di|Da|DE|DU|DES|LE|LA)"
)
_WORD = rf"(?:[{_UPPER}][{_LETTER}]*['’]|[{_UPPER}]-)?[{_UPPER}][{_LETTER}]+(?:-[{_UPPER}][{_LETTER}]+)*"
_TOKEN = re.compile(
    rf"(?P<initial>{_INITIAL})|(?P<particle>{_PARTICLE})(?=[ \t]|['’])['’]?|(?P<word>{_WORD})(?![\w])"
)
_GAP = re.compile(r"[ \t]?")


@dataclass(frozen=True)
class _Token:
    """A word of a name, with what it looks like: ``initial``, ``particle``, ``first`` (a known first name),
    ``caps`` (written in capitals) or ``word`` (capitalized)."""

    start: int
    end: int
    kind: str


def _classify(word: str, kind: str) -> str:
    if kind != "word":
        return kind
    if re.match(rf"[{_UPPER}]-", word):
        return "initial"  # "M-Antonin": an initial joined to a first name
    if fold(word.split("-")[0]) in first_names():
        return "first"  # "Jean-Luc", "MARIE-ROSE"
    return "caps" if word.isupper() else "word"


def _excluded(word: str) -> bool:
    """A word that is never a name: a common word, a title, or a protected clinical term."""
    return fold(word) in common_words() or is_protected(word)


def scan_name(text: str, pos: int, max_words: int = 5) -> list[_Token]:
    """The words of a name starting at ``pos``: at most ``max_words``, on one line, stopping at punctuation,
    at a lower-case word, a common word or a protected term. Particles are kept only inside the name."""
    title = _TITLE_TRIGGER.match(text, pos)
    if title and (title["title"] != "M" or text[title.end() : title.end() + 1].isupper()):
        pos = title.end()  # a title is never part of the name ("M. DUPONT" at the start of a line)
    tokens: list[_Token] = []
    while len([t for t in tokens if t.kind != "particle"]) < max_words:
        if tokens:
            gap = _GAP.match(text, pos)
            pos = gap.end()
        match = _TOKEN.match(text, pos)
        if match is None:
            break
        kind = match.lastgroup or "word"
        if kind == "word" and _excluded(match.group()):
            break
        tokens.append(_Token(match.start(), match.end(), _classify(match.group(), kind)))
        pos = match.end()
    while tokens and tokens[-1].kind == "particle":
        tokens.pop()
    return tokens


# How much each kind of word looks like a first name (PRENOM) or a surname (NOM).
_AS_FIRST = {"initial": 3.0, "first": 2.0, "word": 0.0, "caps": -1.0, "particle": -3.0}
_AS_LAST = {"initial": -3.0, "first": 0.0, "word": 0.0, "caps": 1.0, "particle": 0.0}


def split_name(tokens: list[_Token], forced: str | None = None) -> list[tuple[int, int, str]]:
    """Label the words of a name NOM or PRENOM, merging consecutive words of the same label.

    The name is read as ``NOM PRENOM``, ``PRENOM NOM`` or a NOM alone, whichever the words fit best: initials
    and known first names are first names, words in capitals surnames; a capitalized word next to one in
    capitals reads as a first name ("Smaranda LANDIE"). Ties go to ``NOM PRENOM``, the usual order of
    French medical documents. A single word is a NOM unless it is an initial.

    Args:
        tokens: The words, from :func:`scan_name`.
        forced: ``"PRENOM"`` or ``"NOM"`` when a field label already says which it is.

    Returns:
        ``(start, end, label)`` for each span, in order.
    """
    words = [t for t in tokens if t.kind != "particle"]
    if not words:
        return []
    if forced == "PRENOM":
        labels = ["PRENOM"] * len(tokens)
    elif len(words) == 1:
        labels = ["PRENOM" if words[0].kind == "initial" else "NOM"] * len(tokens)
    else:
        labels = _best_split(tokens)
    return _merge(tokens, labels)


def _best_split(tokens: list[_Token]) -> list[str]:
    has_caps = any(t.kind == "caps" for t in tokens)
    bonus = 0.5 if has_caps else 0.0

    def fit(token: _Token, label: str) -> float:
        if label == "PRENOM":
            return _AS_FIRST[token.kind] + (bonus if token.kind == "word" else 0.0)
        return _AS_LAST[token.kind]

    options: list[list[str]] = []
    n = len(tokens)
    for cut in range(1, n):
        if tokens[cut].kind == "particle" or tokens[cut - 1].kind == "particle":
            continue  # a particle belongs to the surname that follows it
        options.append(["NOM"] * cut + ["PRENOM"] * (n - cut))
        options.append(["PRENOM"] * cut + ["NOM"] * (n - cut))
    options.append(["NOM"] * n)
    # max() keeps the first of equal scores: NOM PRENOM splits come first, NOM alone last.
    return max(options, key=lambda labels: sum(fit(t, lab) for t, lab in zip(tokens, labels, strict=True)))


def _merge(tokens: list[_Token], labels: list[str]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for token, label in zip(tokens, labels, strict=True):
        if spans and spans[-1][2] == label:
            spans[-1] = (spans[-1][0], token.end, label)
        else:
            spans.append((token.start, token.end, label))
    return spans


def _spans(text: str, tokens: list[_Token], forced: str | None = None) -> Iterator[Span]:
    for start, end, label in split_name(tokens, forced):
        yield Span.of(text, start, end, label)


def find_titled_names(text: str) -> Iterator[Span]:
    """Names after a title ("Dr", "Mme", "M.", "Professeur", "Interne"...) or a field label ("Nom :",
    "Prénom :", "Patient :", "Rédigé par :"...)."""
    for match in _TITLE_TRIGGER.finditer(text):
        if match["title"] == "M" and not text[match.end() : match.end() + 1].isupper():
            continue  # "M" without its dot is a title only before a capital ("M DUPONT", not "sexe : M")
        yield from _spans(text, scan_name(text, match.end()))
    for match in _PATIENT_TRIGGER.finditer(text):
        yield from _spans(text, scan_name(text, match.end()))
    for match in _FIELD_TRIGGER.finditer(text):
        field = fold(match["field"])
        forced = "PRENOM" if field.startswith("prenom") else None
        yield from _spans(text, scan_name(text, match.end()), forced)


_NAME_RUN = re.compile(
    rf"(?<![\w'’./-])(?:{_INITIAL}|{_WORD})(?:[ \t](?:{_PARTICLE}[ \t])?(?:{_INITIAL}|{_WORD})){{1,4}}"
)


def find_first_name_pairs(text: str) -> Iterator[Span]:
    """Names without a title: a run of two to five name words holding a known first name or an initial with
    a dot, and at least one other word ("JALONNET Christine", "Rémi Foliet", "J. Delorenzi", "Madec P.J.")."""
    for match in _NAME_RUN.finditer(text):
        if _TITLE_TRIGGER.match(text, match.start()):
            continue  # a title starts the run: find_titled_names reads it
        tokens = scan_name(text, match.start())
        if _looks_like_name(text, tokens):
            yield from _spans(text, tokens)


def _looks_like_name(text: str, tokens: list[_Token]) -> bool:
    """Whether words without a title form a name: a first name or a dotted initial beside a surname."""
    if len(tokens) < 2:
        return False
    has_first = any(
        t.kind == "first" or (t.kind == "initial" and not text[t.start : t.end].isalpha()) for t in tokens
    )
    return has_first and any(t.kind in ("caps", "word") for t in tokens)


# A line, or what follows the colon of a "Label :" line.
_NAME_LINE = re.compile(r"^(?:[^\n:]{1,40}:)?[ \t]*(?P<name>[^\s:][^\n:]*?)[ \t]*$", re.MULTILINE)


def find_name_lines(text: str) -> Iterator[Span]:
    """A line (or the value of a "Label :" line) that is only a name: two to four name words, one of them in
    capitals and one not ("SAHANY Jason", "LEMARCHAND B-J.", "Investigateur : Laure MICHAUD"), as in the
    headers and signatures of letters."""
    for line in _NAME_LINE.finditer(text):
        tokens = scan_name(text, line.start("name"), max_words=4)
        if not tokens or tokens[-1].end != line.end("name") or len(tokens) < 2:
            continue
        kinds = {t.kind for t in tokens}
        if "caps" in kinds and kinds & {"word", "first", "initial"}:
            yield from _spans(text, tokens)


def find_occurrences(text: str, names: Iterable[tuple[str, str]]) -> Iterator[Span]:
    """Every occurrence in ``text`` of the given names, case- and accent-insensitive, on whole words.

    Args:
        text: The document.
        names: ``(name, label)`` pairs; names shorter than 2 letters, common words and protected terms are
            skipped.
    """
    folded = fold(text)
    for name, label in names:
        key = fold(name.strip())
        if len(key.replace(".", "")) < 2 or key in common_words() or is_protected(name):
            continue
        for match in re.finditer(rf"(?<![\w]){re.escape(key)}(?![\w])", folded):
            yield Span.of(text, match.start(), match.end(), label)


def known_name_words(known_names: Iterable[str]) -> Iterator[tuple[str, str]]:
    """The patient's known names as ``(word, label)`` pairs, one per word ("Jean Dupont" gives "Jean" and
    "Dupont"): a word that is a known first name is a PRENOM, any other a NOM."""
    for name in known_names:
        for word in name.split():
            yield word, "PRENOM" if fold(word) in first_names() else "NOM"
