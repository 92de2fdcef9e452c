"""Scoring corpus annotation: entity spans against a gold standard, and qualifiers against known truth.

Span detection is scored two ways: **exact** (same start and end) and **overlap** (a predicted span counts when it
shares at least one character with a gold span, and a gold span is found when a predicted one overlaps it; the
lenient scoring of i2b2 and n2c2). Gold spans come, for instance, from E3C's UIMA XMI files
(:func:`read_e3c_xmi`: CLINENTITY annotations, the disorders of its clinical-entity layer).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clinrag.errors import ClinragError

XMI_NS = "http://www.omg.org/XMI"
CAS_NS = "http:///uima/cas.ecore"
CUSTOM_NS = "http:///webanno/custom.ecore"


@dataclass(frozen=True)
class GoldSpan:
    """An annotated span of a text: offsets, the annotation's type and its concept id (a UMLS CUI, or "")."""

    start: int
    end: int
    kind: str
    concept: str = ""


def read_e3c_xmi(path: str | Path, kinds: Iterable[str] = ("CLINENTITY",)) -> tuple[str, list[GoldSpan]]:
    """The text and the annotations of ``kinds`` of an E3C UIMA XMI file.

    The text is the ``sofaString`` of the ``cas:Sofa`` element; annotations are the elements of the WebAnno
    custom namespace with ``begin`` and ``end`` character offsets (CLINENTITY's concept: ``entityID``, else
    ``entityIDEN``). Each element is one span: E3C writes a discontinuous entity as several elements.

    Raises:
        ClinragError: Not XML, no Sofa, or an annotation without integer offsets inside the text.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise ClinragError(f"{path}: not a readable XMI file ({err})") from None
    sofa = root.find(f"{{{CAS_NS}}}Sofa")
    if sofa is None or sofa.get("sofaString") is None:
        raise ClinragError(f"{path}: no cas:Sofa element with a sofaString (the text)")
    text = sofa.get("sofaString")
    wanted = set(kinds)
    spans = []
    for element in root:
        if not element.tag.startswith(f"{{{CUSTOM_NS}}}"):
            continue
        kind = element.tag.split("}", 1)[1]
        if kind not in wanted:
            continue
        ident = element.get(f"{{{XMI_NS}}}id", "?")
        try:
            start, end = int(element.get("begin")), int(element.get("end"))
        except (TypeError, ValueError):
            raise ClinragError(f"{path}: {kind} xmi:id={ident}: field 'begin'/'end': not integers") from None
        if not 0 <= start < end <= len(text):
            raise ClinragError(f"{path}: {kind} xmi:id={ident}: field 'begin'/'end': outside the text")
        concept = element.get("entityID") or element.get("entityIDEN") or ""
        spans.append(GoldSpan(start, end, kind, concept))
    return text, sorted(spans, key=lambda s: (s.start, s.end))


def _prf(tp_pred: int, n_pred: int, tp_gold: int, n_gold: int) -> dict[str, Any]:
    precision = tp_pred / n_pred if n_pred else 0.0
    recall = tp_gold / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def span_scores(
    gold: dict[str, list[tuple[int, int]]], predicted: dict[str, list[tuple[int, int]]]
) -> dict[str, Any]:
    """Exact and overlap precision, recall and F1 of predicted spans, micro-averaged over documents.

    Args:
        gold: ``doc -> [(start, end)]``.
        predicted: ``doc -> [(start, end)]`` (documents missing here have no prediction).
    """
    counts = {"gold": 0, "predicted": 0, "exact": 0, "overlap_predicted": 0, "overlap_gold": 0}
    for doc in set(gold) | set(predicted):
        gold_spans = set(gold.get(doc, []))
        pred_spans = set(predicted.get(doc, []))
        counts["gold"] += len(gold_spans)
        counts["predicted"] += len(pred_spans)
        counts["exact"] += len(gold_spans & pred_spans)
        counts["overlap_predicted"] += sum(
            any(s < ge and gs < e for gs, ge in gold_spans) for s, e in pred_spans
        )
        counts["overlap_gold"] += sum(any(s < ge and gs < e for s, e in pred_spans) for gs, ge in gold_spans)
    return {
        "exact": _prf(counts["exact"], counts["predicted"], counts["exact"], counts["gold"]),
        "overlap": _prf(
            counts["overlap_predicted"], counts["predicted"], counts["overlap_gold"], counts["gold"]
        ),
        "counts": counts,
    }


def binary_scores(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """Precision, recall, F1 (of the positive class) and accuracy of ``(gold, predicted)`` booleans."""
    tp = sum(g and p for g, p in pairs)
    fp = sum(p and not g for g, p in pairs)
    fn = sum(g and not p for g, p in pairs)
    tn = len(pairs) - tp - fp - fn
    result = _prf(tp, tp + fp, tp, tp + fn)
    result.update(
        accuracy=round((tp + tn) / len(pairs), 4) if pairs else 0.0,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        n=len(pairs),
    )
    return result


def _document_counts(gold: list[tuple[int, int]], predicted: list[tuple[int, int]]) -> list[int]:
    """gold, predicted, exact, overlap_predicted, overlap_gold of one document (as :func:`span_scores`)."""
    result = span_scores({"d": gold}, {"d": predicted})["counts"]
    return [result[k] for k in ("gold", "predicted", "exact", "overlap_predicted", "overlap_gold")]


def span_scores_with_intervals(
    gold: dict[str, list[tuple[int, int]]],
    systems: dict[str, dict[str, list[tuple[int, int]]]],
    spec: Any = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """:func:`span_scores` of several systems on the same documents, with percentile intervals from a bootstrap
    over documents (the resampling unit: a document's spans are correlated), the same resamples for every system,
    and each system's F1 difference from ``reference`` with its paired interval and p-value.

    Args:
        gold: ``doc -> [(start, end)]``; the documents scored.
        systems: ``name -> (doc -> [(start, end)])``.
        spec: A :class:`~clinrag.evaluation.bootstrap.BootstrapSpec` (default: 1000 resamples, seed 0).
        reference: The system the others are compared with (None: no comparison).

    Returns:
        ``name -> {"exact"|"overlap": {precision, recall, f1, *_ci}, "counts", "vs_reference"}`` and
        ``"bootstrap"`` (the settings; unit: document).
    """
    from clinrag.evaluation.bootstrap import (
        BootstrapSpec,
        bootstrap_p_value,
        draw_resamples,
        percentile_interval,
        ratio_replicates,
    )

    spec = spec or BootstrapSpec()
    docs = sorted(gold)
    resamples = draw_resamples(len(docs), spec)
    result: dict[str, Any] = {"bootstrap": {**spec.to_json(), "unit": "document"}, "documents": len(docs)}
    replicates: dict[str, dict[str, np.ndarray]] = {}
    for name, predicted in systems.items():
        counts = np.array([_document_counts(gold[d], predicted.get(d, [])) for d in docs], dtype=float)
        n_gold, n_pred, exact, over_pred, over_gold = counts.T
        scores: dict[str, Any] = {}
        replicates[name] = {}
        for kind, (tp_pred, tp_gold) in {"exact": (exact, exact), "overlap": (over_pred, over_gold)}.items():
            precision, p_reps = ratio_replicates(tp_pred, n_pred, resamples)
            recall, r_reps = ratio_replicates(tp_gold, n_gold, resamples)
            with np.errstate(invalid="ignore", divide="ignore"):
                f_reps = np.where(p_reps + r_reps > 0, 2 * p_reps * r_reps / (p_reps + r_reps), 0.0)
            f_reps = np.where(np.isnan(p_reps) | np.isnan(r_reps), np.nan, f_reps)
            precision, recall = precision or 0.0, recall or 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            scores[kind] = {
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
                "precision_ci": percentile_interval(p_reps, spec),
                "recall_ci": percentile_interval(r_reps, spec),
                "f1_ci": percentile_interval(f_reps, spec),
            }
            replicates[name][kind] = f_reps
        scores["counts"] = {"gold": int(n_gold.sum()), "predicted": int(n_pred.sum())}
        result[name] = scores
    if reference is not None:
        for name in systems:
            if name == reference:
                continue
            result[name]["vs_reference"] = {"reference": reference}
            for kind in ("exact", "overlap"):
                diff = replicates[name][kind] - replicates[reference][kind]
                point = result[name][kind]["f1"] - result[reference][kind]["f1"]
                result[name]["vs_reference"][kind] = {
                    "f1_difference": round(point, 4),
                    "ci": percentile_interval(diff, spec),
                    "p_value": bootstrap_p_value(diff),
                }
    return result
