"""The segment encoder (clinrag.encoders): segments and offsets, BIO targets and decoding, training of tagging,
class and span heads on a tiny random BERT, the document-sequence mode, the saved folder and its errors.

The toy texts are written here, from French clinical words (not from clinrag's generator): findings to tag among
other words, so that a tiny model learns them in a few seconds.
"""

from __future__ import annotations

import json
import random

import pytest
import torch
from conftest import build_tiny_encoder

from clinrag.encoders.data import (
    IGNORE,
    LabeledSpan,
    Segmenter,
    bio_targets,
    decode_tags,
    non_overlapping,
    tag_names,
)
from clinrag.encoders.segment import (
    HeadConfig,
    SegmentConfig,
    SegmentModel,
    SequenceExample,
    TextExample,
    encoder_layers,
    read_record,
)
from clinrag.errors import ClinragError

FINDINGS = [
    "pneumopathie",
    "hypertension artérielle",
    "diabète",
    "œdème cérébral",
    "fièvre",
    "hémorragie méningée",
    "céphalées",
]
WORDS = ["patient", "admis", "pour", "une", "avec", "ce", "jour", "suivi", "en", "consultation", "traitement"]
WORDS += ["par", "aspirine", "à", "J3", "sortie", "domicile", "scanner", "réalisé", "contrôle"]


def toy_texts(n: int, seed: int) -> list[TextExample]:
    """Texts of 5 to 15 words, a quarter of them findings (tagged FINDING); class "oui" when a finding is there."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        words, spans, position, found = [], [], 0, False
        for _ in range(rng.randint(5, 15)):
            if rng.random() < 0.25:
                word = rng.choice(FINDINGS)
                spans.append((position, position + len(word), "FINDING"))
                found = True
            else:
                word = rng.choice(WORDS)
            words.append(word)
            position += len(word) + 1
        text = " ".join(words) + "."
        examples.append(TextExample(text, {"findings": spans, "any": "oui" if found else "non"}))
    return examples


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    texts = [e.text for e in toy_texts(200, seed=1)]
    return build_tiny_encoder(tmp_path_factory.mktemp("segment") / "tiny-bert", texts)


def config(encoder_dir, **changes) -> SegmentConfig:
    settings = {
        "encoder": str(encoder_dir),
        "heads": {"findings": HeadConfig(kind="tagging"), "any": HeadConfig(kind="class")},
        "epochs": 20,
        "learning_rate": 1e-2,
        "segment_length": 16,
        "lstm_hidden": 64,
        "threads": 1,
    }
    settings.update(changes)
    return SegmentConfig(**settings)


@pytest.fixture(scope="module")
def trained(encoder_dir):
    return SegmentModel(config(encoder_dir)).fit(toy_texts(60, seed=2))


# ---- segments, targets, decoding ------------------------------------------------------------------------------
def test_segments_cover_the_text_with_offsets_on_accented_words(encoder_dir):
    model = SegmentModel(config(encoder_dir))
    text = "Hémorragie méningée à J3 ; œdème cérébral périlésionnel, fièvre à 38,5 °C. Céphalées."
    segmented = Segmenter(model.tokenizer, 8)(text)
    assert len(segmented.segments) > 2
    assert all(len(segment) <= 8 for segment in segmented.segments)
    pieces = model.tokenizer.convert_ids_to_tokens(
        [
            seg[p]
            for seg, positions in zip(segmented.segments, segmented.positions, strict=True)
            for p in positions
        ]
    )
    assert len(pieces) == segmented.n_tokens
    from clinrag.data.values import strip_accents

    for piece, (start, end) in zip(pieces, segmented.offsets, strict=True):
        assert start < end
        # the tiny tokenizer lower-cases and strips accents: each token is its characters so normalized
        assert piece.removeprefix("##") in (strip_accents(text[start:end]).lower(), "[UNK]")
    # each segment is [CLS] tokens [SEP], and cuts fall where a word starts
    cls_id, sep_id = model.tokenizer.cls_token_id, model.tokenizer.sep_token_id
    count = 0
    for segment, positions in zip(segmented.segments, segmented.positions, strict=True):
        assert segment[0] == cls_id and segment[-1] == sep_id
        assert positions == list(range(1, len(segment) - 1))
        count += len(positions)
        if count < segmented.n_tokens:
            boundary = segmented.offsets[count][0]
            if text[boundary - 1].isalnum() and text[boundary].isalnum():
                # a word is cut only when it alone is longer than half a segment (3 of its 6 tokens)
                start, end = boundary, boundary
                while text[start - 1].isalnum():
                    start -= 1
                while end < len(text) and text[end].isalnum():
                    end += 1
                assert sum(start <= s and e <= end for s, e in segmented.offsets) > 3


def test_empty_text_has_no_segment(encoder_dir):
    model = SegmentModel(config(encoder_dir))
    assert model.segmenter("   ").segments == []


def test_bio_targets_and_decoding_round_trip():
    text = "fièvre et hypertension artérielle ce jour"
    offsets = [(0, 6), (7, 9), (10, 15), (15, 22), (23, 33), (34, 36), (37, 41)]
    spans = [LabeledSpan(0, 6, "F"), LabeledSpan(10, 33, "F")]
    tags = bio_targets(offsets, spans, ["F"])
    assert tags == [1, 0, 1, 2, 2, 0, 0]
    probs = [[1.0 if t == i else 0.0 for i in range(3)] for t in tags]
    found = decode_tags(text, offsets, probs, ["F"], threshold=0.5, widen=True)
    assert [(s.start, s.end, s.label) for s in found] == [(0, 6, "F"), (10, 33, "F")]
    assert tag_names(["F"]) == ["O", "B-F", "I-F"]
    # a word cut inside ("hyper" tagged, "tension" not) is widened to the word
    probs[3] = [1.0, 0.0, 0.0]
    probs[4] = [1.0, 0.0, 0.0]
    widened = decode_tags(text, offsets, probs, ["F"], threshold=0.5, widen=True)
    assert (10, 22) in [(s.start, s.end) for s in widened]
    assert (10, 15) in [(s.start, s.end) for s in decode_tags(text, offsets, probs, ["F"], 0.5, widen=False)]
    # the threshold trades precision for recall
    assert decode_tags(text, offsets, [[0.7, 0.3, 0.0]] * 7, ["F"], threshold=0.5, widen=False) == []
    # every token more likely a B- than an I-: a new entity after each space, none inside "hypertension"
    assert len(decode_tags(text, offsets, [[0.7, 0.3, 0.0]] * 7, ["F"], threshold=0.2, widen=False)) == 6
    assert bio_targets([(0, 0), (0, 6)], [LabeledSpan(0, 6, "F")], ["F"]) == [IGNORE, 1]
    assert non_overlapping([LabeledSpan(0, 5, "A"), LabeledSpan(3, 12, "B")]) == [LabeledSpan(3, 12, "B")]


# ---- training, prediction, persistence ------------------------------------------------------------------------
def span_f1(examples, predictions) -> float:
    gold = {(i, s[0], s[1]) for i, e in enumerate(examples) for s in e.targets["findings"]}
    found = {(i, s.start, s.end) for i, p in enumerate(predictions) for s in p["findings"]}
    tp = len(gold & found)
    return 2 * tp / (len(gold) + len(found)) if gold or found else 1.0


def test_tagging_and_class_heads_learn_on_held_out_texts(trained):
    held_out = toy_texts(30, seed=3)
    predictions = trained.predict([e.text for e in held_out])
    assert span_f1(held_out, predictions) > 0.9
    accuracy = sum(
        p["any"].label == e.targets["any"] for e, p in zip(held_out, predictions, strict=True)
    ) / len(held_out)
    assert accuracy > 0.85
    assert trained.summary["epoch_losses"][-1] < trained.summary["epoch_losses"][0] / 3
    assert trained.summary["labels"] == {"findings": ["FINDING"], "any": ["non", "oui"]}
    for prediction, example in zip(predictions, held_out, strict=True):
        for span in prediction["findings"]:
            assert example.text[span.start : span.end].strip() == example.text[span.start : span.end]


def test_long_texts_span_several_segments_and_keep_offsets(trained):
    long = toy_texts(8, seed=4)
    text = " ".join(e.text for e in long)
    assert len(trained.segmenter(text).segments) > 5
    found = trained.predict([text])[0]["findings"]
    right = [text[s.start : s.end] for s in found if text[s.start : s.end] in FINDINGS]
    assert len(right) >= 0.8 * len(found) and len(set(right)) >= 3
    # spans found in the last segments too: the offsets map back through every segment
    assert max(s.end for s in found) > 0.8 * len(text)


def test_same_seed_same_model(encoder_dir):
    a = SegmentModel(config(encoder_dir, epochs=2)).fit(toy_texts(20, seed=2))
    b = SegmentModel(config(encoder_dir, epochs=2)).fit(toy_texts(20, seed=2))
    for (name, x), (_, y) in zip(
        a.network.top.state_dict().items(), b.network.top.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name
    c = SegmentModel(config(encoder_dir, epochs=2, seed=1)).fit(toy_texts(20, seed=2))
    assert not torch.equal(a.network.top["heads"]["any"].weight, c.network.top["heads"]["any"].weight)


def test_save_and_load_give_identical_predictions(trained, tmp_path):
    texts = [e.text for e in toy_texts(10, seed=5)] + [""]
    before = trained.predict(texts)
    folder = trained.save(tmp_path / "model")
    record = json.loads((folder / "clinrag_segment.json").read_text(encoding="utf-8"))
    assert record["clinrag_component"] == "segment_model"
    assert record["heads"] == {
        "findings": {"kind": "tagging", "labels": ["FINDING"]},
        "any": {"kind": "class", "labels": ["non", "oui"]},
    }
    assert {"clinrag", "torch", "transformers"} <= set(record["versions"])
    assert record["training"]["examples"] == 60
    loaded = SegmentModel.load(folder)
    assert loaded.predict(texts) == before
    assert before[-1]["findings"] == []
    with pytest.raises(ClinragError, match="not empty"):
        trained.save(folder)
    trained.save(folder, replace=True)


def test_a_folder_that_is_not_a_segment_model_is_refused(tmp_path, encoder_dir):
    with pytest.raises(ClinragError, match="not a clinrag segment model folder"):
        SegmentModel.load(tmp_path)
    with pytest.raises(ClinragError, match="not found"):
        read_record(tmp_path / "missing")
    (tmp_path / "clinrag_segment.json").write_text('{"clinrag_component": "ner_detector"}', encoding="utf-8")
    with pytest.raises(ClinragError, match="not a clinrag segment model"):
        SegmentModel.load(tmp_path)
    with pytest.raises(ClinragError, match="not a model folder"):
        SegmentModel(config(tmp_path))


def test_bad_examples_and_settings_are_refused(encoder_dir):
    model = SegmentModel(config(encoder_dir))
    with pytest.raises(ClinragError, match="no training example"):
        model.fit([])
    with pytest.raises(ClinragError, match="unknown head 'other'"):
        model.fit([TextExample("fièvre", {"other": "x"})])
    with pytest.raises(ClinragError, match="outside the text"):
        model.fit([TextExample("fièvre", {"findings": [(0, 40, "FINDING")], "any": "oui"})])
    with pytest.raises(ClinragError, match="SequenceExample"):
        SegmentModel(config(encoder_dir, level="sequence", heads={"any": HeadConfig(kind="class")})).fit(
            [TextExample("fièvre", {"any": "oui"})]
        )
    declared = {"findings": HeadConfig(kind="tagging", labels=["OTHER"]), "any": HeadConfig(kind="class")}
    with pytest.raises(ClinragError, match="not in its labels"):
        SegmentModel(config(encoder_dir, heads=declared)).fit(toy_texts(2, seed=0))
    with pytest.raises(ValueError, match="class heads only"):
        config(encoder_dir, level="sequence")
    with pytest.raises(ClinragError, match="not trained"):
        model.predict(["fièvre"])


def test_heads_without_targets_train_the_others(encoder_dir):
    """A corpus annotated for one head only (no class label) trains that head; the other learns elsewhere."""
    examples = toy_texts(40, seed=6)
    mixed = [TextExample(e.text, {"findings": e.targets["findings"]}) for e in examples[:20]] + examples[20:]
    model = SegmentModel(config(encoder_dir)).fit(mixed)
    assert model.summary["targets"] == {"findings": 40, "any": 20}
    held_out = toy_texts(20, seed=7)
    assert span_f1(held_out, model.predict([e.text for e in held_out])) > 0.8


def test_span_head_classifies_given_spans(encoder_dir):
    """A span head: is the finding at these offsets "ancien" (history) or "actuel"? Told by the word before it."""
    rng = random.Random(8)
    examples, spans_of = [], []
    for _ in range(60):
        kind = rng.choice(["ancien", "actuel"])
        cue = "antécédent de" if kind == "ancien" else "admis pour"
        finding = rng.choice(FINDINGS)
        text = f"patient {cue} {finding} ce jour."
        start = text.index(finding)
        examples.append(TextExample(text, {"role": [(start, start + len(finding), kind)]}))
        spans_of.append([(start, start + len(finding))])
    model = SegmentModel(config(encoder_dir, heads={"role": HeadConfig(kind="span")})).fit(examples[:40])
    answers = model.predict([e.text for e in examples[40:]], spans={"role": spans_of[40:]})
    right = sum(
        a["role"][0].label == e.targets["role"][0][2] for a, e in zip(answers, examples[40:], strict=True)
    )
    assert right >= 18
    with pytest.raises(ClinragError, match="not a span head"):
        model.predict(["x"], spans={"other": [[(0, 1)]]})


def test_fine_tuning_changes_the_encoder_and_frozen_does_not(encoder_dir):
    examples = toy_texts(16, seed=9)
    frozen = SegmentModel(config(encoder_dir, epochs=1))
    before = {k: v.clone() for k, v in frozen.encoder.state_dict().items()}
    frozen.fit(examples)
    assert all(torch.equal(before[k], v) for k, v in frozen.encoder.state_dict().items())
    tuned = SegmentModel(
        config(encoder_dir, epochs=1, encoder_training="fine-tune", encoder_learning_rate=1e-3)
    )
    tuned.fit(examples)
    after = tuned.encoder.state_dict()
    changed = [k for k, v in after.items() if not torch.equal(before[k], v)]
    assert changed and all("word_embeddings" not in k for k in changed)


def test_early_stopping_on_development_examples(encoder_dir):
    model = SegmentModel(config(encoder_dir, epochs=6, patience=1)).fit(
        toy_texts(30, seed=10), dev=toy_texts(10, seed=11)
    )
    summary = model.summary
    assert summary["dev_losses"] and len(summary["dev_losses"]) == summary["epochs_run"]
    assert summary["best_epoch"] == summary["dev_losses"].index(min(summary["dev_losses"])) + 1


# ---- document sequences ---------------------------------------------------------------------------------------
def toy_sequences(n: int, seed: int) -> list[SequenceExample]:
    """A patient's 2 to 4 notes in order; "oui" (a complication) when a note after the first ends on a scanner
    showing a finding; "non" when none does, half of them with the finding in the first note (what the patient
    came in with): the answer depends on which document holds the finding."""
    rng = random.Random(seed)
    sequences = []
    for _ in range(n):
        notes = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) for _ in range(rng.randint(2, 4))
        ]
        label = rng.choice(["oui", "non"])
        if label == "oui":
            notes[rng.randrange(1, len(notes))] += " ; scanner : " + rng.choice(FINDINGS)
        elif rng.random() < 0.5:
            notes[0] += " ; scanner : " + rng.choice(FINDINGS)
        sequences.append(SequenceExample(notes, {"complication": label}))
    return sequences


def test_document_sequences_as_one_bilstm_sequence(encoder_dir, tmp_path):
    settings = config(
        encoder_dir, level="sequence", heads={"complication": HeadConfig(kind="class")}, segment_length=8
    )
    model = SegmentModel(settings).fit(toy_sequences(200, seed=12))
    held_out = toy_sequences(40, seed=13)
    inputs = [list(s.texts) for s in held_out]
    answers = model.predict(inputs)
    right = sum(
        a["complication"].label == s.targets["complication"] for a, s in zip(answers, held_out, strict=True)
    )
    assert right >= 36  # a model blind to the documents' order is wrong on about an eighth at best
    assert model.summary["segments"] > 200 * 2
    loaded = SegmentModel.load(model.save(tmp_path / "sequence"))
    assert loaded.predict(inputs) == answers
    with pytest.raises(ClinragError, match="sequences of documents"):
        model.predict(["a text"])


def build_tiny_sentencepiece_encoder(folder, texts):
    """A 2-layer BERT with a Unigram (sentencepiece-like) tokenizer, Metaspace pre-tokenization and ``<s> ...
    </s>`` around each text, as multilingual-e5's XLM-R vocabulary is: words are cut at spaces only."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=specials, unk_token="<unk>")
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_a_sentencepiece_tokenizer_cuts_at_spaces_and_keeps_offsets(tmp_path):
    texts = [e.text for e in toy_texts(200, seed=1)]
    folder = build_tiny_sentencepiece_encoder(tmp_path / "sp", texts)
    model = SegmentModel(config(folder, segment_length=10))
    text = "Hémorragie méningée à J3, œdème cérébral et fièvre l'après-midi."
    segmented = model.segmenter(text)
    begin, end = model.tokenizer.convert_tokens_to_ids(["<s>", "</s>"])
    assert all(seg[0] == begin and seg[-1] == end and len(seg) <= 10 for seg in segmented.segments)
    pieces = model.tokenizer.convert_ids_to_tokens(
        [
            seg[p]
            for seg, positions in zip(segmented.segments, segmented.positions, strict=True)
            for p in positions
        ]
    )
    for piece, (start, stop) in zip(pieces, segmented.offsets, strict=True):
        # offsets leave out the space that "▁" stands for; a lone "▁" covers no character, or the letter after it
        # where no space was written (the text's start)
        assert piece.lstrip("\u2581") in (text[start:stop], "<unk>") or (
            piece == "\u2581" and stop - start <= 1
        )
    model.fit(toy_texts(60, seed=2))
    held_out = toy_texts(20, seed=3)
    assert span_f1(held_out, model.predict([e.text for e in held_out])) > 0.8


def test_bilstm_matches_torch_bidirectional_lstm_and_ignores_padding():
    """The unpacked BiLSTM is torch's bidirectional LSTM on each sequence alone, whatever it is batched with."""
    from clinrag.encoders.model import BiLSTM

    torch.manual_seed(0)
    ours = BiLSTM(6, 5, layers=2, dropout=0.0)
    reference = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for layer in range(2):
            for direction, suffix in ((ours.forward_layers, ""), (ours.backward_layers, "_reverse")):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(reference, f"{name}_l{layer}{suffix}").copy_(
                        getattr(direction[layer], f"{name}_l0")
                    )
    short, long = torch.randn(1, 4, 6), torch.randn(1, 9, 6)
    batch = torch.zeros(2, 9, 6)
    batch[0, :4], batch[1] = short[0], long[0]
    with torch.no_grad():
        together = ours(batch, [4, 9])
        assert torch.allclose(together[0, :4], reference(short)[0][0], atol=1e-6)
        assert torch.allclose(together[1], reference(long)[0][0], atol=1e-6)
        assert torch.allclose(ours(short, [4])[0], together[0, :4], atol=1e-6)


def test_states_of_several_encoder_layers_side_by_side(encoder_dir):
    examples, held_out = toy_texts(60, seed=2), toy_texts(30, seed=3)
    model = SegmentModel(config(encoder_dir, encoder_layers=[1, -1])).fit(examples)
    last = SegmentModel(config(encoder_dir)).fit(examples)
    width = model.encoder.config.hidden_size
    assert model.network.width == 2 * width == 2 * last.network.width
    (first,) = model.network.features([[model.segmenter(held_out[0].text)]], chunk=4)
    (alone,) = last.network.features([[last.segmenter(held_out[0].text)]], chunk=4)
    assert torch.equal(first[:, width:], alone)  # the last layer's states, beside the first layer's
    assert not torch.equal(first[:, :width], alone)
    assert span_f1(held_out, model.predict([e.text for e in held_out])) > 0.9
    with pytest.raises(ClinragError, match="encoder_layers"):
        SegmentModel(config(encoder_dir, encoder_layers=[model.encoder.config.num_hidden_layers + 1]))
    with pytest.raises(ClinragError, match="encoder_layers"):
        SegmentModel(config(encoder_dir, encoder_layers=[]))


def test_thirds_of_any_encoders_depth(encoder_dir):
    # the layers at a third, two thirds and the end, whatever the encoder's depth
    assert encoder_layers("thirds", 12) == [4, 8, 12]
    assert encoder_layers("thirds", 6) == [2, 4, 6]
    assert encoder_layers("thirds", 2) == [1, 2]
    assert encoder_layers("thirds", 1) == [1]
    model = SegmentModel(config(encoder_dir, encoder_layers="thirds"))
    depth = model.encoder.config.num_hidden_layers
    assert model.layers == encoder_layers("thirds", depth)
    with pytest.raises(ValueError, match="encoder_layers"):
        config(encoder_dir, encoder_layers="halves")
