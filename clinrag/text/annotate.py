"""Sentences, sections and qualified mentions of each variable's terms, with edsnlp's rule-based pipes.

For every document: sentence boundaries (``eds.sentences``), section titles (``eds.sections``: a title alone on
its line) and the mentions of every variable's terms (its ``keywords``; for a category, also its values and
synonyms), each qualified by ``eds.negation``, ``eds.hypothesis`` and ``eds.family``. Retrieval (passages, lexical
features) and weak supervision (is a boolean's term affirmed, negated, hypothetical, about a relative?) read these.

A person word that names a category value about someone else is no mention ("sa femme", "Madame, Monsieur":
:func:`clinrag.text.persons.names_someone_else`); a relative who reports a fact ends a negation's scope and makes
no family history ("non diabétique d'après sa femme tabagisme actif": :mod:`clinrag.text.persons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clinrag.data.cohort import Document
from clinrag.data.variables import Variable
from clinrag.text.nlp import add_qualifiers, eds_pipeline, silence_edsnlp  # noqa: F401  (re-exported)
from clinrag.text.persons import (
    REPORTED_SOURCE,
    in_relatives_clause,
    names_someone_else,
    relative_as_source,
)


@dataclass(frozen=True)
class Mention:
    """A variable's term found in a document.

    Attributes:
        variable: The variable whose term it is.
        value: For a category variable, the canonical value the term names; else "".
        start: Character offset in the document (inclusive).
        end: Character offset (exclusive).
        negated: Under a negation ("pas de FA").
        hypothetical: Under a hypothesis ("FA ?", "à rechercher").
        family: About a relative ("père diabétique").
    """

    variable: str
    value: str
    start: int
    end: int
    negated: bool
    hypothetical: bool
    family: bool

    @property
    def affirmed(self) -> bool:
        """Neither negated, hypothetical nor about a relative."""
        return not (self.negated or self.hypothetical or self.family)


@dataclass
class DocumentAnnotation:
    """What the pipeline found in one document."""

    sentences: list[tuple[int, int]] = field(default_factory=list)
    sections: list[tuple[int, int, str]] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)

    def section_at(self, offset: int) -> str:
        """The label of the section holding ``offset`` ("" before the first title)."""
        label = ""
        for start, _end, name in self.sections:
            if start <= offset:
                label = name
        return label


def variable_terms(var: Variable) -> dict[str, list[str]]:
    """The terms that name a variable in text, keyed by the category value they name ("" for the keywords)."""
    terms: dict[str, list[str]] = {"": list(var.keywords)}
    if var.type != "category":
        return terms
    for value in var.values or []:
        terms[value] = [value.replace("_", " "), *((var.synonyms or {}).get(value, []))]
    return terms


def _negation_preceding() -> list[str]:
    from edsnlp.pipes.qualifiers.negation.patterns import preceding

    # a treatment ruled out before its name: "contre-indication à la thrombolyse", "CI à la thrombolyse"
    ruled_out = [
        f"{word} {article}"
        for word in ("contre-indication", "contre indication", "contre-indications", "CI")
        for article in ("à", "à la", "au", "à une", "formelle à", "formelle à la")
    ]
    return [*preceding, *ruled_out]


NEGATION_PRECEDING = _negation_preceding()
"""edsnlp's negation cues before their term, and those of a treatment ruled out."""


def _negation_following() -> list[str]:
    from edsnlp.pipes.qualifiers.negation.patterns import following

    # a treatment not given, as French notes write it after its name: "thrombolyse contre-indiquée (AOD)",
    # "thrombectomie récusée"
    treatment = [
        f"{word}{ending}"
        for word in ("contre-indiqué", "contre indiqué", "récusé")
        for ending in ("", "e", "s", "es")
    ]
    return [*following, *treatment]


NEGATION_FOLLOWING = _negation_following()
"""edsnlp's negation cues that follow their term, and those of a treatment not given."""


def _negation_pseudo() -> list[str]:
    from edsnlp.pipes.qualifiers.negation.patterns import pseudo

    # "non" that qualifies how a condition is managed, not whether it is there: "HTA non traitée", "diabète non
    # équilibré", "FA non anticoagulée", "DNID" written out "diabète non insulinodépendant", "tabagisme non
    # sevré". edsnlp reads a following "non" as negating the term before it.
    participles = (
        "traité",
        "équilibré",
        "contrôlé",
        "suivi",
        "anticoagulé",
        "appareillé",
        "substitué",
        "sevré",
        "insulinodépendant",
        "insulino-dépendant",
        "insulinorequérant",
        "insulino-requérant",
        "compliant",
        "observant",
    )
    cues = [f"non {word}{ending}" for word in participles for ending in ("", "e", "s", "es")]
    return [*pseudo, *cues]


NEGATION_PSEUDO = _negation_pseudo()
"""edsnlp's pseudo-negations, and a "non" that qualifies a condition's management ("HTA non traitée")."""


def _negation_termination() -> list[str]:
    from edsnlp.pipes.terminations import termination

    # who reported a statement ends the statement: "non diabétique d'après sa femme tabagisme actif" (a
    # dictated note without punctuation) negates the diabetes, not the smoking
    sources = [*REPORTED_SOURCE, *(s.replace("'", "’") for s in REPORTED_SOURCE if "'" in s)]
    return [*termination, *sources]


NEGATION_TERMINATION = _negation_termination()
"""edsnlp's terminations (where a negation's scope ends), and the phrases that name a statement's source
(:data:`~clinrag.text.persons.REPORTED_SOURCE`)."""


def _glued(text: str, start: int, end: int) -> bool:
    """A term of one or two characters written against a letter or figure: the "F" of a catheter's "8F", the
    "M" of the artery segment "M1" are no sex (the tokenizer splits them off)."""
    if end - start > 2:
        return False
    return (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum())


def _same_statement(text: str, cue_end: int, start: int) -> bool:
    """Whether a negation cue ending at ``cue_end`` and a mention at ``start`` after it are one statement: on
    one line, or the cue's line ends with a colon that opens a list ("Absence de :\n- HTA\n- diabète")."""
    between = text[cue_end:start]
    if "\n" not in between:
        return True
    return between.split("\n", 1)[0].rstrip().endswith(":")


def _in_statement(text: str, cue, ent) -> bool:
    """Whether qualifier ``cue`` and mention ``ent`` (spans of ``text``) are one statement for the qualifier: a cue
    before the mention from its line or a list's header (:func:`_same_statement`), a cue after it on its line.
    edsnlp's scope, the sentence, runs over the line breaks of lists and unpunctuated notes."""
    if cue.start_char < ent.start_char:
        return _same_statement(text, cue.end_char, ent.start_char)
    return "\n" not in text[ent.end_char : cue.start_char]


def hypothesis_reaches(ent) -> bool:
    """Whether a hypothesis edsnlp found for mention ``ent`` reaches it: its cue stands in the mention's
    statement (:func:`_in_statement`). A dictated report without punctuation is one edsnlp sentence, and the
    "à discuter" of its last line ("anticoagulation à discuter") would make every line before it hypothetical
    ("plusieurs accès de fibrillation auriculaire\n...\nanticoagulation à discuter")."""
    return any(_in_statement(ent.doc.text, cue, ent) for cue in ent._.hypothesis_cues)


def family_reaches(ent) -> bool:
    """Whether a relative edsnlp's ``eds.family`` found around mention ``ent`` makes it about that relative
    (``ent._.family_cues``; a section of family history always does). edsnlp's scope, the sentence, is too wide
    in two ways:

    * a relative who reports a fact or comes with the patient is the source, not the subject ("selon son épouse
      tabagisme actif", "accompagné de sa fille, HTA traitée": :func:`~clinrag.text.persons.relative_as_source`);
    * a relative on another line is another statement's, as for a negation (:func:`negation_reaches`): edsnlp's
      sentences run over the line breaks of unpunctuated notes ("son épouse ne peut plus l'assumer\nsortie en
      EHPAD"), except from a line that ends with a colon ("Antécédents familiaux :\n- diabète").
    """
    text = ent.doc.text
    for cue in ent._.family_cues:
        if cue.label_ == "FAMILY":  # eds.family's section of family history
            return True
        if relative_as_source(text, cue.start_char):
            continue
        if _in_statement(text, cue, ent):
            return True
    return False


def context_terms() -> dict[str, list[str]]:
    """The terms of the registry lexicon's boolean concepts (conditions, treatments), by concept: where one
    stands next to a variable's mention it bounds the mention's negation (:func:`negation_reaches`), whatever
    variables an :class:`Annotator` is built for."""
    from clinrag.text.vocabulary import load_concepts

    return {
        f"concept:{c.id}": list(dict.fromkeys(c.terms))
        for c in load_concepts()
        if "boolean" in c.types and c.terms
    }


def negation_reaches(ent, variable: str, spans: list[tuple[int, int, str]]) -> bool:
    """Whether the negation edsnlp found for mention ``ent`` (of ``variable``) reaches it, given the other terms
    of its document (``spans``: start, end, variable or lexicon concept; :func:`context_terms`). Two cases where
    edsnlp's scope, the sentence, is too wide, both where another variable's or concept's term (not overlapping
    one of this variable's) stands between the cue and the mention:

    * a "non" after the mention that is the negation of the term right after it: "HTA non diabétique";
    * a negation before the mention that ends at another variable's term juxtaposed to this one, without a
      comma or a conjunction: unpunctuated, dictated notes run two statements together ("pas de diabète fumeur
      actif", "non diabétique tabagisme actif"); an enumeration keeps the negation ("pas de diabète, ni HTA").

    A cue on another line than the mention reaches it only from a line that ends with a colon (a list's
    header): edsnlp's sentences run over the line breaks of lists and of unpunctuated notes ("- pas de diabète
    connu\n- tabagisme actif").
    """
    text = ent.doc.text
    if not ent._.negation_cues:
        return True
    # a cue after the mention on a later line is another statement's ("... HTA\n... non opérable"): edsnlp's
    # sentences run over the line breaks of unpunctuated notes
    cues = [c for c in ent._.negation_cues if _in_statement(text, c, ent)]
    if not cues:
        return False
    own = [(s, e) for s, e, v in spans if v == variable]
    others = [(s, e) for s, e, v in spans if v != variable and not any(s < oe and os < e for os, oe in own)]
    if all(c.start_char >= ent.end_char for c in cues):
        for cue in cues:
            if cue.text.casefold() != "non":
                return True
            after = len(text) - len(text[cue.end_char :].lstrip())
            if after == cue.end_char or not any(s == after for s, _ in others):
                return True
        return False
    if all(c.end_char <= ent.start_char for c in cues):
        last = max(c.end_char for c in cues)
        return not any(
            last <= s and e < ent.start_char and not text[e : ent.start_char].strip() for s, e in others
        )
    return True


def _hypothesis_cues() -> tuple[list[str], list[str]]:
    from edsnlp.pipes.qualifiers.hypothesis.patterns import following, preceding

    # a treatment considered, not (yet) given: "alerte thrombolyse" (the stroke pathway's alert, before the
    # decision), "éligible à une thrombectomie", "thrombolyse discutée"
    before = ["alerte", "éligible à", "éligible à une", "éligibilité à", "candidat à", "candidate à"]
    after = ["discuté", "discutée", "discutés", "discutées", "à discuter", "en discussion"]
    return [*preceding, *before], [*following, *after]


HYPOTHESIS_PRECEDING, HYPOTHESIS_FOLLOWING = _hypothesis_cues()
"""edsnlp's hypothesis cues, and those of a treatment considered, not given."""


class Annotator:
    """An edsnlp pipeline built for a set of variables.

    Args:
        variables: The variables whose terms are matched.
    """

    def __init__(self, variables: list[Variable]):
        import edsnlp.pipes as eds

        self.variables = variables
        self._keys: dict[str, tuple[str, str]] = {}
        terms: dict[str, list[str]] = {}
        for var in variables:
            for value, words in variable_terms(var).items():
                words = [w for w in dict.fromkeys(words) if w.strip()]
                if not words:
                    continue
                key = f"v{len(self._keys)}"
                self._keys[key] = (var.name, value)
                terms[key] = words
        nlp = eds_pipeline(sections=True)
        if terms:
            nlp.add_pipe(eds.matcher(terms=terms, attr="NORM", span_setter=["ents", "clinrag_mentions"]))
            nlp.add_pipe(
                eds.matcher(terms=context_terms(), attr="NORM", span_setter=["clinrag_context"]),
                name="context_matcher",
            )
        # every mention is qualified, the overlapping ones too ("thrombolyse" inside "pas de thrombolyse IV"):
        # edsnlp qualifies the "ents" only, which keep one span of overlapping ones
        spans = ["ents", "clinrag_mentions"]
        self.nlp = add_qualifiers(
            nlp,
            negation={
                "preceding": NEGATION_PRECEDING,
                "following": NEGATION_FOLLOWING,
                "pseudo": NEGATION_PSEUDO,
                "termination": NEGATION_TERMINATION,
                "span_getter": spans,
                "explain": True,
            },
            hypothesis={
                "preceding": HYPOTHESIS_PRECEDING,
                "following": HYPOTHESIS_FOLLOWING,
                "span_getter": spans,
                "explain": True,
            },
            family={"span_getter": spans, "explain": True},
        )

    def annotate(
        self, documents: list[Document], progress: bool | None = None
    ) -> dict[str, DocumentAnnotation]:
        """Annotate documents; returns ``doc_id -> annotation`` (``progress`` as :meth:`annotate_texts`)."""
        annotations = self.annotate_texts([d.text for d in documents], progress)
        return {doc.doc_id: ann for doc, ann in zip(documents, annotations, strict=True)}

    def annotate_texts(self, texts: list[str], progress: bool | None = None) -> list[DocumentAnnotation]:
        """Annotate raw texts (offsets index each text), with a progress bar when ``progress`` (None: for more
        than 2,000 texts)."""
        from clinrag.progress import progress_bar

        result: list[DocumentAnnotation] = []
        show = len(texts) > 2000 if progress is None else progress
        parsed_texts = progress_bar(
            self.nlp.pipe(texts), enabled=show, total=len(texts), desc="annotating", unit="text"
        )
        for parsed in parsed_texts:
            ann = DocumentAnnotation()
            ann.sentences = [(s.start_char, s.end_char) for s in parsed.sents]
            ann.sections = [(s.start_char, s.end_char, s.label_) for s in parsed.spans.get("sections", [])]
            found = [
                e
                for e in parsed.spans.get("clinrag_mentions", [])
                if e.label_ in self._keys
                and not _glued(parsed.text, e.start_char, e.end_char)
                and not (
                    self._keys[e.label_][1] and names_someone_else(parsed.text, e.start_char, e.end_char)
                )
            ]
            spans = [(e.start_char, e.end_char, self._keys[e.label_][0]) for e in found]
            spans += [(e.start_char, e.end_char, e.label_) for e in parsed.spans.get("clinrag_context", [])]
            for ent in found:
                variable, value = self._keys[ent.label_]
                ann.mentions.append(
                    Mention(
                        variable=variable,
                        value=value,
                        start=ent.start_char,
                        end=ent.end_char,
                        negated=bool(ent._.negation) and negation_reaches(ent, variable, spans),
                        hypothetical=bool(ent._.hypothesis) and hypothesis_reaches(ent),
                        family=(bool(ent._.family) and family_reaches(ent))
                        or in_relatives_clause(parsed.text, ent.start_char),
                    )
                )
            result.append(ann)
        return result
