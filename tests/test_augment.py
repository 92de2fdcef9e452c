"""Augmented training examples (:mod:`clinrag.encoders.augment`, ``training.augment``, ``train-pseudo --set
augment.*``): offsets right after each kind of edit, the weak labeller's re-check, seeded determinism, the config's
refusals, and both trained uses (the identifier model, the segment-BiLSTM reader) training with it.

Every sentence here is written for the tests in the manner of French clinical notes (none from clinrag's
generator)."""

from __future__ import annotations

import random

import pytest

from clinrag.data.variables import Variable
from clinrag.encoders.augment import (
    RULE_KINDS,
    AugmentConfig,
    Labelled,
    Piece,
    abbreviation_pairs,
    augment,
    located,
    rearranged,
    rule_edit,
    same_strings,
)

NOTE = Labelled.of(
    "Mme Lefèvre, 74 ans, adressée par le Dr Moreau pour déficit brachial gauche. Antécédents : HTA traitée; "
    "dyslipidémie. Glycémie à 1,2 g/L à l'entrée. Revue à 3 mois par son médecin traitant à Saint-Étienne.",
    [(4, 11, "NOM"), (40, 46, "NOM"), (191, 204, "VILLE")],
)


def _nobody(_label: str) -> bool:
    return False


def _spans_still_right(original: Labelled, edited: Labelled) -> None:
    assert same_strings(original, edited) and len(edited.spans) == len(original.spans)
    assert all(0 <= s.start < s.end <= len(edited.text) for s in edited.spans)


def test_the_note_is_labelled_where_it_says():
    assert NOTE.strings() == ["Lefèvre", "Moreau", "Saint-Étienne"]


@pytest.mark.parametrize("kind", RULE_KINDS)
def test_each_kind_of_edit_keeps_every_span_at_its_new_offsets(kind):
    changed = 0
    for seed in range(12):
        edited = rule_edit(kind, NOTE, random.Random(seed), _nobody)
        if edited is None:
            continue
        _spans_still_right(NOTE, edited)
        changed += edited.text != NOTE.text
    assert changed >= 3, kind  # the note gives every kind something to edit


def test_the_edits_do_what_they_say():
    edits = {rule_edit(k, NOTE, random.Random(s), _nobody).text for k in RULE_KINDS for s in range(12)}
    assert any("hypertension artérielle traitée" in t for t in edits)  # abbreviation written out
    assert any("Antecedents" in t or "dyslipidemie" in t for t in edits)  # accents dropped
    assert any("1.2 g/L" in t for t in edits) and any("1,2 g/l" in t for t in edits)
    assert any("Revue à trois mois" in t for t in edits)  # a small number in words
    # clauses of a line swapped, each clause's punctuation left in place
    assert any(
        "dyslipidémie. Revue à 3 mois par son médecin traitant à Saint-Étienne. Glycémie à 1,2 g/L à" in t
        for t in edits
    )
    assert not any("Glycémie à 1,2 g/L à l'entrée; dyslipidémie" in t for t in edits)  # only neighbours swap
    typos = [t for t in edits if len(t) == len(NOTE.text) - 1 or sorted(t) == sorted(NOTE.text)]
    assert typos  # one letter dropped or two swapped


def test_a_value_or_a_term_is_rewritten_whole_and_its_span_follows():
    text = "Glycémie capillaire 1,32 g/L. Pas d'HTA connue."
    example = Labelled.of(text, [(20, 28, "value"), (36, 39, "mention")])
    assert example.strings() == ["1,32 g/L", "HTA"]
    seen = set()
    for seed in range(30):
        for kind in ("number", "abbreviation"):
            edited = rule_edit(kind, example, random.Random(seed), lambda label: True)
            if edited is not None:
                seen.update(edited.strings())
                assert len(edited.spans) == 2
    assert {"1.32 g/L", "1,32 g/l", "hypertension artérielle"} <= seen
    # without leave to rewrite, neither span changes
    for seed in range(30):
        for kind in RULE_KINDS:
            edited = rule_edit(kind, example, random.Random(seed), _nobody)
            if edited is not None:
                assert sorted(edited.strings()) == ["1,32 g/L", "HTA"]


def test_an_edit_that_would_cut_a_span_is_refused():
    example = Labelled.of(
        "Infarctus sylvien gauche. Thrombolyse à H3.", [(10, 30, "DIAG")]
    )  # across the clauses
    assert rearranged(example, [Piece(26, 43), Piece(25, 26), Piece(0, 25)], _nobody) is None
    moved = rearranged(
        Labelled.of(example.text, [(0, 9, "DIAG")]), [Piece(26, 43), Piece(25, 26), Piece(0, 25)], _nobody
    )
    assert moved.text == "Thrombolyse à H3. Infarctus sylvien gauche." and moved.strings() == ["Infarctus"]


def test_the_abbreviations_come_from_the_lexicons_and_spell_their_expansion():
    pairs = dict(abbreviation_pairs())
    assert pairs["AVC"] == "accident vasculaire cérébral" and pairs["HTA"] == "hypertension artérielle"
    assert ("DT2", "diabète de type 2") in abbreviation_pairs()
    assert all(not e.isupper() for _, e in abbreviation_pairs())  # "AVC ischémique" is no expansion of AIC


# ---- the re-check ----------------------------------------------------------------------------------------------
def test_a_paraphrase_that_lost_an_identifier_is_dropped_and_counted():
    example = Labelled.of("Patient suivi par le Dr Moreau à Lyon.", [(24, 30, "NOM"), (33, 37, "VILLE")])
    answers = iter(["Le Dr Moreau suit ce patient.", "Patient vu à Lyon par le Dr Moreau."])
    result = augment(
        [example], AugmentConfig(method="llm", per_example=2), paraphraser=lambda ex, seed: next(answers)
    )
    assert result.made == 2 and result.kept == 0  # Lyon lost; then the order of the names changed
    answers = iter(["Suivi par le Dr Moreau, à Lyon."])
    result = augment([example], AugmentConfig(method="llm"), paraphraser=lambda ex, seed: next(answers))
    assert result.kept == 1 and result.variants[0].example.strings() == ["Moreau", "Lyon"]
    assert located(example, "Moreau à Lyon").spans[1].start == 9


def test_the_value_reader_recheck_drops_a_cell_whose_value_the_value_finder_no_longer_reads():
    from clinrag.generation.segment_training import _values_read_again, passage_labelled
    from clinrag.text.passages import Passage

    var = Variable(
        name="nihss_admission", type="integer", description="Score NIHSS à l'arrivée", minimum=0, maximum=42
    )
    text = "Examen à l'arrivée : NIHSS à 12, hémiplégie droite."
    passage = Passage("P1", "D1", 0, len(text), text, "2024-03-01", "CR", "", 0, 0.0)
    labelled, cells = passage_labelled(var, passage, [])
    assert cells == ["12"] and labelled.strings() == ["12"]
    kept = Labelled.of("NIHSS à 12. Examen à l'arrivée, hémiplégie droite.", [(8, 10, "value")])
    assert _values_read_again(var, passage.date, cells, kept)
    lost = located(labelled, "Examen à l'arrivée : hémiplégie droite, revu à J12.")  # "12" now a day
    assert lost is not None and not _values_read_again(var, passage.date, cells, lost)
    result = augment(
        [labelled],
        AugmentConfig(method="llm"),
        check=lambda i, original, variant: _values_read_again(var, passage.date, cells, variant),
        paraphraser=lambda ex, seed: "Examen à l'arrivée : hémiplégie droite, revu à J12.",
    )
    assert (result.made, result.kept) == (1, 0)


# ---- determinism -----------------------------------------------------------------------------------------------
def test_a_seed_gives_the_same_examples_and_another_seed_others():
    texts = [NOTE, Labelled.of("AVC ischémique sylvien droit; FA découverte à l'ECG. Pas de DT2.", [])]
    first = augment(texts, AugmentConfig(method="rules", per_example=4, seed=3))
    again = augment(texts, AugmentConfig(method="rules", per_example=4, seed=3))
    other = augment(texts, AugmentConfig(method="rules", per_example=4, seed=4))
    assert first.variants == again.variants and first.summary() == again.summary()
    assert [v.example.text for v in first.variants] != [v.example.text for v in other.variants]
    assert first.kept == len(first.variants) >= 4
    for variant in first.variants:
        _spans_still_right(texts[variant.source], variant.example)
    assert augment(texts, AugmentConfig()).made == 0  # none: nothing written


# ---- config ----------------------------------------------------------------------------------------------------
def test_an_unknown_method_is_refused_in_one_line(run_cli, tmp_path):
    from clinrag.experiment.config import dump_experiment, load_experiment

    result = run_cli(
        "train-pseudo",
        "--eds-pseudo",
        tmp_path / "x.jsonl",
        "--out",
        tmp_path / "m",
        "--set",
        "augment.method=gpt",
    )
    assert (
        result.code == 2
        and "augment.method" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )
    result = run_cli(
        "run", "configs/segment_reader.yaml", "training.augment.method=gpt", "--out", tmp_path / "r"
    )
    assert result.code == 2 and "training.augment.method" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()
    result = run_cli("run", "configs/default.yaml", "training.augment.method=rules", "--out", tmp_path / "r")
    assert result.code == 2 and "segment_bilstm" in result.stderr and not (tmp_path / "r").exists()
    # none (the default) leaves the run's config.yaml as it was
    assert "augment" not in dump_experiment(load_experiment(None))
    assert "per_example: 2" in dump_experiment(
        load_experiment(
            None,
            ["reader.type=segment_bilstm", "training.augment.method=rules", "training.augment.per_example=2"],
        )
    )


# ---- the two trained uses --------------------------------------------------------------------------------------
def test_train_pseudo_learns_from_augmented_texts_too(tiny_encoder_dir):
    from clinrag.pseudo.labels import Span
    from clinrag.pseudo.ner import Example, NerConfig, NerDetector

    texts = [
        (
            "Mme Lefèvre, 74 ans, suivie par le Dr Moreau à Lyon pour une HTA.",
            [(4, 11, "NOM"), (38, 44, "NOM"), (47, 51, "VILLE")],
        ),
        (
            "M. Girard, hospitalisé à Grenoble le 12/03/2024 pour un AVC sylvien.",
            [(3, 9, "NOM"), (25, 33, "VILLE"), (37, 47, "DATE")],
        ),
    ]
    examples = [Example(t, tuple(Span.of(t, a, b, label) for a, b, label in spans)) for t, spans in texts]
    settings = {"encoder": str(tiny_encoder_dir), "epochs": 1, "segment_length": 32}
    plain = NerDetector.train(examples, NerConfig(**settings))
    assert "augment" not in plain.summary["settings"] and "augmentation" not in plain.summary
    augmented = NerDetector.train(
        examples, NerConfig(**settings, augment={"method": "rules", "per_example": 3, "seed": 1})
    )
    counts = augmented.summary["augmentation"]
    assert counts["method"] == "rules" and counts["kept"] >= 3 and counts["made"] >= counts["kept"]
    assert augmented.summary["examples"] == 2 + counts["kept"]
    assert augmented.summary["settings"]["augment"]["per_example"] == 3


def test_the_segment_reader_trains_on_reverified_augmented_cells(tiny_encoder_dir, tmp_path):
    from test_segment_reader import VARIABLES, _requests, _settings

    from clinrag.data.validate import load_cohort
    from clinrag.generation.segment import SegmentReader
    from clinrag.generation.segment_training import augmented_cells, training_examples
    from clinrag.synth import write_synthetic_cohort

    write_synthetic_cohort(tmp_path / "cohort", 12, seed=5)
    cohort = load_cohort(tmp_path / "cohort")
    requests = _requests(cohort, cohort.split_patients("train"), VARIABLES)
    cells = training_examples(cohort, requests, 5, 160)
    config = AugmentConfig(method="rules", per_example=2, seed=0)
    kept, counts = augmented_cells(cohort, cells, config, 160)
    assert counts["cells"] > 0 and 0 < counts["kept"] == len(kept) <= counts["made"]
    assert counts["passages"]["made"] >= counts["passages"]["kept"] > 0
    again, same = augmented_cells(cohort, cells, config, 160)
    assert [k.text for k in again] == [k.text for k in kept] and same == counts
    originals = {c.example.text for c in cells}
    assert all(k.text not in originals for k in kept)
    record = SegmentReader.train_model(
        _settings(tiny_encoder_dir, epochs=1), cohort, requests, tmp_path / "reader", augment=config
    )
    assert (
        record["training"]["augmentation"]["kept"] == counts["kept"]
        or record["training"]["held_out_patients"]
    )
    plain = SegmentReader.train_model(
        _settings(tiny_encoder_dir, epochs=1), cohort, requests, tmp_path / "plain"
    )
    assert (
        "augmentation" not in plain["training"] and plain["training"]["cells"] < record["training"]["cells"]
    )


def test_the_paraphraser_reads_with_the_readers_decoder_and_samples_by_its_seed(tiny_llama_dir):
    """``method: llm``'s decoder (a tiny random Llama here): loaded as the reader loads one, its sample a string
    that depends on the seed only."""
    from clinrag.encoders.paraphrase import Paraphraser

    paraphraser = Paraphraser(str(tiny_llama_dir), max_new_tokens=12)
    assert paraphraser.decoder.folder == tiny_llama_dir
    first = paraphraser(NOTE, seed=3)
    assert isinstance(first, str) and paraphraser(NOTE, seed=3) == first
