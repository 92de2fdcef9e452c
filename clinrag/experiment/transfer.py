"""Which of a trained run's variables a cohort defines, for ``clinrag fill`` on a cohort written by others.

A run trained at one hospital reads another's cohort on the variables both define. Another registry names them
its own way (``nihss_h0`` for the run's ``nihss_admission``, ``H``/``F`` for ``homme``/``femme``, glycemia in
g/L rather than mmol/L), so a cohort variable is matched to a run variable by name, or else by what its
definition says: the same concept of the registry lexicon, the same type, the same timepoint, category values that
name the same lexicon values, units the concept converts. It is then read as the run's variable (the trained
retriever and adapters know that one), with both vocabularies, and each answer is translated back into the
cohort's coding (its category codes, its unit).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from clinrag.data.cohort import Cohort
from clinrag.data.values import format_value, parse_value
from clinrag.data.variables import Variable
from clinrag.errors import ClinragError


@dataclass
class Transfer:
    """A cohort variable read as one of the run's.

    Attributes:
        target: The cohort's variable (its name is the output column).
        internal: The variable the run reads: the run's definition, with the cohort's terms added.
        how: ``name`` or ``concept:<id>``.
        values: Run category code -> cohort code.
        factor: Run unit -> cohort unit (numbers).
        unread: Cohort category values the run has no counterpart for: never answered.
    """

    target: Variable
    internal: Variable
    how: str
    values: dict[str, str] = field(default_factory=dict)
    factor: float = 1.0
    unread: list[str] = field(default_factory=list)

    def translate(self, cell: str) -> str:
        """A canonical cell of the run's variable in the cohort's coding."""
        if not cell:
            return cell
        if self.target.type == "category":
            return self.values.get(cell, "")
        if self.target.type == "number" and self.factor != 1.0:
            value = float(parse_value(self.internal, cell)) * self.factor
            return format_value(self.target, round(value, 3))
        return cell


def run_variables(run_dir: Path) -> list[Variable] | None:
    """The variables a run read (``variables.yaml`` of the run folder, with their vocabulary), or None for runs
    written before clinrag saved them."""
    from clinrag.data.validate import read_variables

    path = run_dir / "variables.yaml"
    if not path.is_file():
        return None
    issues: list = []
    variables = read_variables(path, issues, file_name=str(path))
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ClinragError(str(errors[0]))
    return variables


def _units_factor(source: Variable, target: Variable, concepts) -> float | None:
    """The factor from ``source``'s unit into ``target``'s (1 when they agree), or None when unknown."""
    from clinrag.text.vocabulary import fold

    if not source.unit or not target.unit or fold(source.unit) == fold(target.unit):
        return 1.0
    for concept in concepts:
        into_base = {fold(u): f for u, f in concept.conversions.items()}
        if fold(source.unit) in into_base and fold(target.unit) in into_base:
            return into_base[fold(source.unit)] / into_base[fold(target.unit)]
    return None


def _value_map(source: Variable, target: Variable, concepts) -> tuple[dict[str, str], list[str]]:
    """Run code -> cohort code for the cohort values with a run counterpart (same code, or the same lexicon value
    of a shared concept), and the cohort values without one."""
    from clinrag.text.vocabulary import _match_value, fold

    mapping: dict[str, str] = {}
    unread: list[str] = []
    for code in target.values or []:
        same = [c for c in source.values or [] if fold(c) == fold(code)]
        if not same:
            for concept in concepts:
                wanted = _match_value(code, concept)
                same = [
                    c
                    for c in source.values or []
                    if wanted is not None and _match_value(c, concept) == wanted
                ]
                if same:
                    break
        if not same:
            unread.append(code)
            continue
        mapping[same[0]] = code
    return mapping, unread


def match_variables(
    cohort: Cohort, run: list[Variable], columns: list[str], cohort_dir: Path
) -> tuple[list[Transfer], list[str]]:
    """The cohort variables the run can fill (in the cohort's order), and the cohort's variables it cannot.

    Raises:
        ClinragError: A variable of the same name but another type.
    """
    from clinrag.text.timepoints import timepoint_label
    from clinrag.text.vocabulary import load_concepts, matching_concepts

    concepts = load_concepts()
    by_name = {v.name: v for v in run if v.name in columns}
    transfers: list[Transfer] = []
    missing: list[str] = []
    used: set[str] = set()
    for target in cohort.variables:
        source, how = by_name.get(target.name), "name"
        if source is not None and source.type != target.type:
            raise ClinragError(
                f"{cohort_dir}/variables.yaml: field 'type' of '{target.name}': {target.type}, "
                f"the run learned {source.type}"
            )
        shared = []
        own = matching_concepts(target, concepts)
        if source is None:
            # the same concept and type; the same timepoint, or the only such variable when one of the two
            # definitions states none ("âge" and "âge à l'admission")
            ids = {c.id for c in own}
            when = timepoint_label(target.timepoint)
            candidates = []
            for candidate in by_name.values():
                if candidate.name in used or candidate.type != target.type:
                    continue
                common = [c for c in matching_concepts(candidate, concepts) if c.id in ids]
                if common:
                    candidates.append((candidate, common, timepoint_label(candidate.timepoint)))
            same = [c for c in candidates if c[2] == when]
            if not same and len(candidates) == 1 and None in (when, candidates[0][2]):
                same = candidates
            if same:
                source, shared = same[0][0], same[0][1]
                how = f"concept:{shared[0].id}"
        if source is None:
            missing.append(target.name)
            continue
        shared = shared or own
        values: dict[str, str] = {}
        unread: list[str] = []
        factor = 1.0
        if target.type == "category":
            values, unread = _value_map(source, target, shared)
            # most of its values must have a counterpart; the others are never answered (the manifest says so)
            if len(values) < len(unread) or not values:
                missing.append(target.name)
                continue
        if target.type == "number":
            converted = _units_factor(source, target, shared)
            if converted is None:
                missing.append(target.name)
                continue
            factor = converted
        used.add(source.name)
        internal = _internal(source, target, values)
        if target.type == "number" and factor != 1.0:
            # a bare number in this cohort's documents is in its own unit: read in it, nothing to convert after
            internal, factor = _in_unit(internal, target.unit, factor, shared), 1.0
        transfers.append(Transfer(target, internal, how, values, factor, unread))
    return transfers, missing


def _in_unit(var: Variable, unit: str, factor: float, concepts) -> Variable:
    """``var`` (a number) read in ``unit``, ``factor`` converting its own unit into it: its range scaled, and
    every unit it knew (its own, its conversions, the concepts') converted into ``unit``."""
    from clinrag.text.vocabulary import fold

    conversions = {var.unit: factor} if var.unit else {}
    for other, into_var in (var.unit_conversions or {}).items():
        conversions[other] = into_var * factor
    for concept in concepts:
        into_base = {fold(u): (u, f) for u, f in concept.conversions.items()}
        if fold(unit) in into_base:
            base = into_base[fold(unit)][1]
            for written, into in into_base.values():
                conversions.setdefault(written, into / base)
    conversions = {u: f for u, f in conversions.items() if fold(u) != fold(unit)}
    low, high = var.minimum, var.maximum
    return var.model_copy(
        update={
            "unit": unit,
            "unit_conversions": conversions or None,
            "minimum": None if low is None else low * factor,
            "maximum": None if high is None else high * factor,
        }
    )


def _internal(source: Variable, target: Variable, values: dict[str, str]) -> Variable:
    """The run's variable with the cohort variable's terms (its keywords, its definition's vocabulary) added."""
    from clinrag.text.vocabulary import definition_vocabulary

    vocab = definition_vocabulary(target)
    keywords = list(dict.fromkeys([*source.keywords, *target.keywords, *(t for t, _ in vocab.terms)]))
    update: dict = {"keywords": keywords}
    if source.type == "category":
        synonyms = {code: list(words) for code, words in (source.synonyms or {}).items()}
        for run_code, code in values.items():
            extra = [t for t, _ in vocab.values.get(code, [])] + list((target.synonyms or {}).get(code, []))
            synonyms[run_code] = list(dict.fromkeys([*synonyms.get(run_code, []), *extra]))
        update["synonyms"] = synonyms
    return source.model_copy(update=update)


def translate_results(results: list, transfers: list[Transfer]) -> list:
    """Reader results of the internal variables, renamed and recoded into the cohort's variables."""
    by_internal = {t.internal.name: t for t in transfers}
    out = []
    for result in results:
        transfer = by_internal[result.variable]
        out.append(
            dataclasses.replace(result, variable=transfer.target.name, cell=transfer.translate(result.cell))
        )
    return out
