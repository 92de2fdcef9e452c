"""Sentences, sections and qualified mentions of each variable's terms, with edsnlp's rule-based pipes.

For every document: sentence boundaries (``eds.sentences``), section titles (``eds.sections``: a title alone on
its line) and the mentions of every variable's terms (its ``keywords``; for a category, also its values and
synonyms), each qualified by ``eds.negation``, ``eds.hypothesis`` and ``eds.family``. Retrieval (passages, lexical
features) and weak supervision (is a boolean's term affirmed, negated, hypothetical, about a relative?) read these.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from clinrag.data.cohort import Document
from clinrag.data.variables import Variable


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


def silence_edsnlp() -> None:
    """Quiet edsnlp's own logging: it warns that eds.sections is in beta at every construction and shows a
    progress bar while adding terms; that is known, not news."""
    logging.getLogger("edsnlp").setLevel(logging.ERROR)
    try:
        from loguru import logger as loguru_logger

        loguru_logger.disable("edsnlp")
    except ImportError:  # pragma: no cover - edsnlp depends on loguru
        pass


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


class Annotator:
    """An edsnlp pipeline built for a set of variables.

    Args:
        variables: The variables whose terms are matched.
    """

    def __init__(self, variables: list[Variable]):
        import edsnlp
        import edsnlp.pipes as eds

        silence_edsnlp()
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
        nlp = edsnlp.blank("eds")
        nlp.add_pipe(eds.sentences())
        nlp.add_pipe(eds.normalizer())
        nlp.add_pipe(eds.sections())
        if terms:
            nlp.add_pipe(eds.matcher(terms=terms, attr="NORM", span_setter=["ents", "clinrag_mentions"]))
        # every mention is qualified, the overlapping ones too ("thrombolyse" inside "pas de thrombolyse IV"):
        # edsnlp qualifies the "ents" only, which keep one span of overlapping ones
        spans = ["ents", "clinrag_mentions"]
        nlp.add_pipe(eds.negation(following=NEGATION_FOLLOWING, pseudo=NEGATION_PSEUDO, span_getter=spans))
        nlp.add_pipe(eds.hypothesis(span_getter=spans))
        nlp.add_pipe(eds.family(span_getter=spans))
        self.nlp = nlp

    def annotate(self, documents: list[Document]) -> dict[str, DocumentAnnotation]:
        """Annotate documents; returns ``doc_id -> annotation``."""
        annotations = self.annotate_texts([d.text for d in documents])
        return {doc.doc_id: ann for doc, ann in zip(documents, annotations, strict=True)}

    def annotate_texts(self, texts: list[str]) -> list[DocumentAnnotation]:
        """Annotate raw texts (offsets index each text)."""
        result: list[DocumentAnnotation] = []
        parsed_texts = self.nlp.pipe(texts)
        if len(texts) > 2000:
            from tqdm.auto import tqdm

            parsed_texts = tqdm(parsed_texts, total=len(texts), desc="annotating", unit="text")
        for parsed in parsed_texts:
            ann = DocumentAnnotation()
            ann.sentences = [(s.start_char, s.end_char) for s in parsed.sents]
            ann.sections = [(s.start_char, s.end_char, s.label_) for s in parsed.spans.get("sections", [])]
            for ent in parsed.spans.get("clinrag_mentions", []):
                if ent.label_ not in self._keys:
                    continue
                variable, value = self._keys[ent.label_]
                ann.mentions.append(
                    Mention(
                        variable=variable,
                        value=value,
                        start=ent.start_char,
                        end=ent.end_char,
                        negated=bool(ent._.negation),
                        hypothetical=bool(ent._.hypothesis),
                        family=bool(ent._.family),
                    )
                )
            result.append(ann)
        return result
