"""Shared fixtures: a small synthetic cohort, the public data folder, and an in-process CLI runner."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from clinrag.cli import main
from clinrag.synth import write_synthetic_cohort

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """torch's CPU thread count put back after each test: a test that sets it (the benchmark scripts run
    in-process with one thread) would otherwise change the float sums of every later in-process run, and the
    tests comparing an in-process result with a fresh process's bytes (tests/test_distributed.py,
    tests/test_retrieval.py) would see it."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run ``clinrag ARGS`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def synth_cohort_dir(tmp_path_factory) -> Path:
    """A 60-patient synthetic cohort, written once per session (read-only: copy it before breaking it)."""
    out = tmp_path_factory.mktemp("cohort") / "synth60"
    write_synthetic_cohort(out, 60, seed=11)
    return out


@pytest.fixture
def cohort_copy(synth_cohort_dir, tmp_path) -> Path:
    """A private copy of the session cohort, free to modify."""
    target = tmp_path / "cohort"
    shutil.copytree(synth_cohort_dir, target)
    return target


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data not found at {SHARED_DATA} (tests that read real text are skipped)")
    return SHARED_DATA


def build_tiny_encoder(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A 2-layer BERT (hidden 32) with a WordPiece tokenizer trained on ``texts``, saved as a plain Hugging Face
    folder (sentence-transformers adds mean pooling when it loads it, as for CamemBERT-bio or DrBERT)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=800, special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, synth_cohort_dir) -> Path:
    """A tiny random encoder whose tokenizer knows the synthetic cohort's words."""
    import json

    texts = [
        json.loads(line)["text"]
        for line in (synth_cohort_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny-bert", texts)


@pytest.fixture(scope="session", autouse=True)
def _private_cache_for_shared_fixtures(tmp_path_factory):
    """The same private cache for module and session fixtures, which are set up before the function-scoped
    fixture below: what they compute must not depend on the models prepared on this machine (the default
    identifier model in ~/.cache makes ``pseudonymize``'s default detector the hybrid one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLINRAG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "clinrag-cache"))
        yield


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Embedding caches of tests live in a session temp folder, never in the user's ~/.cache."""
    monkeypatch.setenv("CLINRAG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "clinrag-cache"))


def build_tiny_llama(
    folder: Path, texts: list[str], seed: int = 0, chat_template: bool = True, initializer_range: float = 0.02
) -> Path:
    """A 2-layer Llama (hidden 32) with a byte-level BPE tokenizer trained on ``texts`` (any text encodes),
    saved with ``save_pretrained``, in the manner of mergekit's ``make_picollama``. With the default 0.02
    initialization the output layer's logits cannot spread (a final RMSNorm bounds the hidden state): tests that
    must learn something use a larger ``initializer_range``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token="<|im_start|>",
    )
    if chat_template:
        fast.chat_template = (
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        initializer_range=initializer_range,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def tiny_run_config(tiny_llama_dir: Path, **extra) -> dict:
    """A small experiment config on the tiny Llama (bm25, k 2, the decoder LoRA-tuned and reading the dates), with
    ``extra`` top-level fields replacing its own (``variables`` among them)."""
    config = {
        "name": "tiny",
        "retriever": {"type": "bm25"},
        "retrieval": {"k": 2, "eval_ks": [1, 2]},
        "reader": {
            "model": str(tiny_llama_dir),
            "max_passage_chars": 80,
            # the decoder reads the dates here, so that the LoRA stage runs (by default dates are candidates)
            "dates": "llm",
            "lora": {"r": 4, "alpha": 8, "epochs": 1, "last_layers": 1, "max_pairs": 24, "batch_size": 4},
        },
        "training": {"reader": "lora"},
        "evaluation": {"bootstrap": 50},
        "cell_batch": 4,
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, synth_cohort_dir) -> Path:
    """A tiny random Llama whose tokenizer was trained on the synthetic cohort's text."""
    import json

    texts = [
        json.loads(line)["text"]
        for line in (synth_cohort_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return build_tiny_llama(tmp_path_factory.mktemp("decoder") / "tiny-llama", texts)


CHROMIUM_NAMES = ("chromium", "chromium-headless-shell", "chrome-headless-shell", "chromium-browser")


@pytest.fixture
def chromium_dom(tmp_path):
    """A function rendering an HTML file in headless Chromium and returning the DOM its scripts leave (the test
    skips where no Chromium is installed, as in CI)."""
    browser = next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
    if browser is None:
        pytest.skip("no chromium binary on PATH: the browser check is skipped")

    def render(page: Path) -> str:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert "<body" in done.stdout, f"chromium failed (exit {done.returncode}): {done.stderr[-2000:]}"
        return done.stdout

    return render
