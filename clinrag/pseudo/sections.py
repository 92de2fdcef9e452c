"""Section sensitivity: each block of a document labelled ``identity``, ``clinical`` or ``general``.

* **identity**: identity and administrative blocks: letterhead, patient identification, addressee, signature,
  letter formulas, authorship, administrative numbers;
* **clinical**: the clinical narrative (which may embed identifiers: "revu ce jour avec sa fille Mme Durand");
* **general**: text the same for every patient: standard advice, hospital information, leaflets, legal notices.

**Blocks.** edsnlp's ``eds.sections`` finds the section titles (a title alone on its line); a document is then cut
into blocks at those titles, at blank lines and at inline headings ("Motif : ...", "IPP : ..."); within a
paragraph, the short lines of a layout (letterhead, address, signature) stand alone, while the lines of wrapped
prose stay together. A document without any heading so falls back to paragraph and line blocks. Each block keeps
its heading (its own, or the heading line it follows) and the edsnlp section it lies in.

**Weak labels** (:func:`weak_label`) come from rules: the heading's name, the share of the block the identifier
detector covers, administrative vocabulary, signature lines, leaflet and advice vocabulary, and the clinical
signal (medical words, measures, words about one patient). The vocabulary (``sections.yaml``) is written from
French hospital document conventions and says where it comes from. A block no rule decides is left unlabelled.

**Labellers**: :class:`RuleLabeller` (the weak labels, an undecided block counted clinical) or the trainable
:class:`~clinrag.pseudo.section_classifier.SectionClassifier`, which learns from those weak labels
(:func:`~clinrag.pseudo.section_classifier.build_labeller` picks one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from clinrag.pseudo.labels import Span
from clinrag.pseudo.medical_words import medical_words
from clinrag.text.folding import fold

SENSITIVITIES: tuple[str, ...] = ("identity", "clinical", "general")

#: edsnlp's section labels that are administrative rather than clinical.
_EDS_IDENTITY = frozenset({"correspondants"})
#: A line longer than this is prose (it glues to the next prose line); shorter ones are layout lines.
_PROSE_CHARS = 60
#: "Motif :", "IPP :", "Date de naissance :" at a line's start: a capital, at most 5 words and 40 characters.
_INLINE_HEADING = re.compile(r"[ \t]*(?:[-•*][ \t]*)?(?P<head>[A-ZÀ-Ý][^:\n]{0,39}?)[ \t]*:(?=[ \t]|$)")
#: A second field on the same line after a full stop or a dash: "Demandeur : UNV. Indication : bilan".
_MIDLINE_HEADING = re.compile(r"(?:(?<=\. )|(?<= [—–-] ))(?P<head>[A-ZÀ-Ý][^:\n.;]{0,39}?)[ \t]*:(?=[ \t])")
_SALUTATION = re.compile(
    r"(?:mon |ma )?(?:cher|chère|chers|chères|monsieur|madame|mesdames|messieurs)\b[^\n]{0,50},",
    re.IGNORECASE,
)
_SENTENCE_END = (".", "!", "?", ";", ":", ",")
_MEASURE = re.compile(
    r"\d(?:[\d.,]*)\s*(?:mg|g|µg|mcg|ml|l|mmol|µmol|g/l|mmhg|cm|mm|kg|%|/min|bpm|ui|meq|h|min|ans|j)\b",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------------------------------------
# vocabulary
# ---------------------------------------------------------------------------------------------------------
@cache
def vocabulary() -> dict[str, tuple[str, ...]]:
    """``sections.yaml``: the lists of folded phrases (headings, administrative, roles, general, patient markers).

    Raises:
        TypeError: An entry that is not a string.
    """
    from importlib import resources

    import yaml

    with resources.files("clinrag.pseudo").joinpath("sections.yaml").open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    out = {}
    for key, phrases in data.items():
        for phrase in phrases:
            if not isinstance(phrase, str):
                raise TypeError(f"sections.yaml: '{key}' holds {phrase!r}, not a string (quote it)")
        out[key] = tuple(fold_ascii(p) for p in phrases)
    return out


def fold_ascii(text: str) -> str:
    """The form the rules compare text in: lower case, no accents, punctuation as spaces."""
    return fold(text, "ascii")


@cache
def _pattern(key: str) -> re.Pattern[str]:
    phrases = sorted(vocabulary()[key], key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![a-z0-9])")


def _count(key: str, folded: str) -> int:
    return len(_pattern(key).findall(folded))


def heading_kind(heading: str) -> str:
    """Which sensitivity a heading announces (``identity``, ``clinical``, ``general``), or "" when none: a heading
    announces a kind when its folded form starts with one of the kind's headings."""
    folded = fold_ascii(heading)
    if not folded:
        return ""
    best, length = "", 0
    for kind in SENSITIVITIES:
        for phrase in vocabulary()[f"{kind}_headings"]:
            if (folded == phrase or folded.startswith(phrase + " ")) and len(phrase) > length:
                best, length = kind, len(phrase)
    return best


# ---------------------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """One block of a document.

    Attributes:
        start: Offset of its first character.
        end: Offset after its last character (line ends excluded).
        heading: Its heading as written: its own (an edsnlp title or an inline "Motif :"), else the heading line
            it follows in the same paragraph; "" when none.
        own_heading: Whether the block starts with its heading.
        eds_section: The edsnlp section label it lies in ("" before the first title).
        index: Its rank in the document (0-based).
    """

    start: int
    end: int
    heading: str
    own_heading: bool
    eds_section: str
    index: int


@cache
def _section_pipeline() -> Any:
    from clinrag.text.nlp import eds_pipeline

    return eds_pipeline(sections=True)


def eds_titles(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
    """edsnlp's section titles of each text: ``(start, end, label)``."""
    return [
        [(s.start_char, s.end_char, s.label_) for s in doc.spans.get("section_titles", [])]
        for doc in _section_pipeline().pipe(list(texts))
    ]


def segment(text: str, titles: Sequence[tuple[int, int, str]] = ()) -> list[Segment]:
    """Cut a text into blocks (see the module docstring), given edsnlp's section titles."""
    lines = [
        (m.start(), m.end())
        for m in re.finditer(r"[^\n]*", text)
        if m.start() == 0 or text[m.start() - 1] == "\n"
    ]
    pieces: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None  # the previous non-blank line of the paragraph
    inherited = ""
    for start, end in lines:
        line = text[start:end]
        if not line.strip():
            current = previous = None
            inherited = ""
            continue
        stripped = line.strip()
        first = start + len(line) - len(line.lstrip())
        last = start + len(line.rstrip())
        title = next((t for t in titles if first <= t[0] < last or t[0] <= first < t[1]), None)
        inline = _INLINE_HEADING.match(line)
        head = text[title[0] : title[1]] if title else (inline.group("head") if inline else "")
        head_only = bool(head) and not line[(inline.end() if inline else title[1] - start) :].strip(" \t:-")
        prose = len(stripped) > _PROSE_CHARS
        glue = (
            current is not None
            and not head
            and previous is not None
            and (
                previous["head_only"]
                or (previous["prose"] and prose)
                or (previous["prose"] and not previous["text"].endswith(_SENTENCE_END))
            )
        )
        if head_only:
            inherited = head
        if glue:
            current["end"] = last
        else:
            current = {"start": first, "end": last, "heading": head or inherited, "own": bool(head)}
            pieces.append(current)
        previous = {"head_only": head_only, "prose": prose, "text": stripped}
    pieces = [part for piece in pieces for part in _split_fields(text, piece)]
    segments = []
    for index, piece in enumerate(pieces):
        eds = ""
        for t_start, _t_end, label in titles:
            if t_start <= piece["start"]:
                eds = label
        segments.append(Segment(piece["start"], piece["end"], piece["heading"], piece["own"], eds, index))
    return segments


def _split_fields(text: str, piece: dict[str, Any]) -> list[dict[str, Any]]:
    """A one-line block of fields cut before each further field ("IPP : 123 — NDA : 456" is two blocks)."""
    body = text[piece["start"] : piece["end"]]
    if "\n" in body or len(body) > 2 * _PROSE_CHARS:
        return [piece]
    cuts = [(piece["start"] + m.start(), m.group("head")) for m in _MIDLINE_HEADING.finditer(body)]
    if not cuts:
        return [piece]
    parts, start, heading, own = [], piece["start"], piece["heading"], piece["own"]
    for cut, head in cuts:
        end = start + len(text[start:cut].rstrip(" \t—–-"))
        if end > start:
            parts.append({"start": start, "end": end, "heading": heading, "own": own})
        start, heading, own = cut, head, True
    parts.append({"start": start, "end": piece["end"], "heading": heading, "own": own})
    return parts


def segment_texts(texts: Sequence[str]) -> list[list[Segment]]:
    """The blocks of each text (edsnlp's section titles found for all texts in one pass)."""
    return [segment(text, titles) for text, titles in zip(texts, eds_titles(texts), strict=True)]


# ---------------------------------------------------------------------------------------------------------
# signals and weak labels
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signals:
    """What the rules and the classifier read of one block."""

    identifier_share: float
    identifiers: int
    administrative: int
    letter: int
    salutation: bool
    roles: int
    general: int
    patient: int
    medical: int
    measures: int
    digit_share: float
    upper_share: float
    lines: int
    chars: int
    heading_kind: str
    eds_kind: str
    position: float
    from_end: int

    def dense(self) -> list[float]:
        """The signals as the classifier's dense features."""
        log = math.log1p
        return [
            self.identifier_share,
            log(self.identifiers),
            log(self.administrative),
            log(self.letter),
            float(self.salutation),
            log(self.roles),
            log(self.general),
            log(self.patient),
            log(self.medical),
            log(self.measures),
            self.digit_share,
            self.upper_share,
            log(self.lines),
            log(self.chars) / 5,
            self.position,
            float(self.position == 0.0),
            float(self.from_end == 0),
            *(float(self.heading_kind == kind) for kind in SENSITIVITIES),
            *(float(self.eds_kind == kind) for kind in SENSITIVITIES),
        ]


DENSE_FEATURES = (
    "identifier_share", "log_identifiers", "log_administrative", "log_letter", "salutation", "log_roles", "log_general", "log_patient",
    "log_medical", "log_measures", "digit_share", "upper_share", "log_lines", "log_chars", "position", "first",
    "last", "heading_identity", "heading_clinical", "heading_general", "eds_identity", "eds_clinical", "eds_general",
)  # fmt: skip


def signals(text: str, seg: Segment, spans: Sequence[Span], count: int) -> Signals:
    """The signals of one block of ``text`` (one of ``count`` blocks) given the identifier spans of the text."""
    body = text[seg.start : seg.end]
    folded = fold_ascii(body)
    visible = len(body) - sum(c.isspace() for c in body)
    inside = {
        i for s in spans if s.start < seg.end and seg.start < s.end
        for i in range(max(s.start, seg.start), min(s.end, seg.end)) if not text[i].isspace()
    }  # fmt: skip
    covered = len(inside)
    letters = [c for c in body if c.isalpha()]
    words = folded.split()
    medical = sum(1 for w in words if w in medical_words())
    return Signals(
        identifier_share=covered / visible if visible else 0.0,
        identifiers=sum(1 for s in spans if s.start < seg.end and seg.start < s.end),
        administrative=_count("administrative", folded),
        letter=_count("letter", folded),
        salutation="\n" not in body and _SALUTATION.fullmatch(body.strip()) is not None,
        roles=_count("roles", folded),
        general=_count("general", folded),
        patient=_count("patient_markers", folded),
        medical=medical,
        measures=len(_MEASURE.findall(body)),
        digit_share=sum(c.isdigit() for c in body) / max(1, visible),
        upper_share=sum(c.isupper() for c in letters) / max(1, len(letters)),
        lines=body.count("\n") + 1,
        chars=visible,
        heading_kind=heading_kind(seg.heading),
        eds_kind=("identity" if seg.eds_section in _EDS_IDENTITY else "clinical") if seg.eds_section else "",
        position=seg.index / max(1, count - 1),
        from_end=count - 1 - seg.index,
    )


def weak_label(sig: Signals, own_heading: bool) -> tuple[str | None, str]:
    """The rules' label of one block, with the rule that gave it; ``(None, "undecided")`` when no rule decides.

    In order: a heading of its own that names a kind (any heading over a block mostly made of identifiers is
    identity); a block mostly identifiers; a letter salutation, formula or authorship line; administrative words
    with little clinical content, or beside identifiers; a short closing line naming a role (a signature);
    leaflet or advice wording about no patient in particular; the heading line the block follows, or its edsnlp
    section; and last the clinical signal (medical words, measures, words about one patient).
    """
    clinical = sig.medical + sig.measures + sig.patient
    if own_heading and sig.heading_kind:
        if sig.heading_kind != "identity" and sig.identifier_share >= 0.5:
            return "identity", "identifier-dense block under a heading"
        return sig.heading_kind, f"{sig.heading_kind} heading"
    if sig.identifier_share >= 0.4:
        return "identity", "identifier-dense block"
    if sig.salutation or (sig.letter >= 1 and clinical <= 1 and sig.chars <= 200):
        return "identity", "letter formula or authorship"
    if sig.administrative >= 2 and clinical <= 1:
        return "identity", "administrative wording"
    if (
        sig.administrative >= 1
        and sig.identifier_share >= 0.15
        and (clinical <= 2 or sig.identifier_share >= 0.3)
    ):
        return "identity", "identifiers with administrative wording"
    closing = sig.from_end <= 2 or sig.position >= 0.66
    if sig.roles >= 1 and closing and sig.chars <= 100 and sig.lines <= 3 and clinical <= 1:
        return "identity", "signature"
    if sig.patient == 0 and sig.identifiers == 0 and (sig.general >= 2 or (sig.general and not sig.measures)):
        return "general", "advice or leaflet wording"
    if sig.heading_kind in ("identity", "general"):
        return sig.heading_kind, f"under a {sig.heading_kind} heading"
    if sig.eds_kind == "identity":
        return "identity", "edsnlp administrative section"
    if clinical >= 1 or sig.heading_kind == "clinical" or sig.eds_kind == "clinical":
        return "clinical", "clinical signal"
    return None, "undecided"


#: An undecided block this short right after an identity block continues it (a letterhead's or signature's
#: next line: "Chef du service", "Hôpital ...").
_CONTINUATION_CHARS = 80


def weak_labels(blocks: Sequence[tuple[Segment, Signals]]) -> list[tuple[str | None, str]]:
    """The rules' labels of a document's blocks in order: :func:`weak_label`, then an undecided short block right
    after an identity block is identity too."""
    out: list[tuple[str | None, str]] = []
    for seg, sig in blocks:
        label, reason = weak_label(sig, seg.own_heading)
        if label is None and out and out[-1][0] == "identity" and sig.chars <= _CONTINUATION_CHARS:
            label, reason = "identity", "continues an identity block"
        out.append((label, reason))
    return out


# ---------------------------------------------------------------------------------------------------------
# labellers
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelledSegment:
    """A block with its sensitivity and what decided it (a rule's name, or ``classifier``)."""

    segment: Segment
    label: str
    reason: str


def blocks_of(texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[list[tuple[Segment, Signals]]]:
    out = []
    for text, doc_spans, segments in zip(texts, spans, segment_texts(texts), strict=True):
        out.append([(seg, signals(text, seg, doc_spans, len(segments))) for seg in segments])
    return out


class RuleLabeller:
    """The weak-labelling rules as a labeller: a block no rule decides is counted ``clinical`` (identifiers masked,
    medical terms kept: the middle road)."""

    name = "rules"

    def label(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[list[LabelledSegment]]:
        """The labelled blocks of each text, given its identifier spans."""
        out = []
        for blocks in blocks_of(texts, spans):
            labelled = []
            for (seg, _sig), (label, reason) in zip(blocks, weak_labels(blocks), strict=True):
                labelled.append(LabelledSegment(seg, label or "clinical", reason))
            out.append(labelled)
        return out
