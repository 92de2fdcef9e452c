"""A new user's mistakes, each answered before any work with `error: ...` lines on stderr and exit status 2, no
traceback and nothing written: broken model folders, output paths of the wrong kind, a key that cannot be written,
predictions that lack cells, an index folder that is not empty, a cohort with many errors, a run whose inputs
are missing, and config typos.

No test here loads a model: each mistake must be refused before one would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from clinrag.cli import main
from clinrag.errors import COHORT_ERRORS_SHOWN

DEFECTS = {
    "broken_json": "config.json is not valid JSON (line 1, column 2",
    "no_weights": "no weights (*.safetensors or pytorch_model*.bin)",
    "no_tokenizer": "no tokenizer (tokenizer.json",
}


def refused(capsys, *args: object) -> list[str]:
    """Run ``clinrag ARGS``, which must exit 2 without a traceback; its stderr lines."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    assert exit_.value.code == 2, captured.err
    assert "Traceback" not in captured.err + captured.out
    return captured.err.strip().splitlines()


def one_error(capsys, *args: object) -> str:
    """Run ``clinrag ARGS``, which must be refused with exactly one line; that line without "error: "."""
    lines = refused(capsys, *args)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0].removeprefix("error: ")


def succeeds(capsys, *args: object) -> str:
    """Run ``clinrag ARGS``, which must succeed; its stderr."""
    capsys.readouterr()
    main([str(a) for a in args])
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """A 6-patient synthetic cohort (read-only: copy it before breaking it)."""
    folder = tmp_path_factory.mktemp("failsafe") / "cohort"
    main(["synth", "--patients", "6", "--out", str(folder)])
    return folder


def broken_model(folder: Path, defect: str) -> Path:
    """A model folder with one defect: a config.json that is not JSON, no weights, or no tokenizer."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{" if defect == "broken_json" else '{"model_type": "llama"}')
    if defect != "no_weights":
        (folder / "model.safetensors").write_bytes(b"")
    if defect != "no_tokenizer":
        (folder / "tokenizer.json").write_text("{}")
    return folder


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# ---- 1. model folders -------------------------------------------------------------------------------------------
MODEL_COMMANDS = {
    "extract": (["extract", "--patients", "test"], "reader.model", "decoder (reader.model)"),
    "train-reader": (["train-reader"], "reader.model", "decoder (reader.model)"),
    "index": (["index", "--retriever", "dense"], "retriever.model", "encoder (retriever.model)"),
    "retrieve": (
        ["retrieve", "--retriever", "dense", "--patient", "P00001", "--variable", "age"],
        "retriever.model",
        "encoder (retriever.model)",
    ),
    "train-retriever": (
        ["train-retriever", "--type", "dense"],
        "retriever.model",
        "encoder (retriever.model)",
    ),
}


@pytest.mark.parametrize("defect", DEFECTS)
@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_a_model_folder_that_cannot_load_is_refused_before_any_work(
    command, defect, cohort, tmp_path, capsys
):
    args, field, what = MODEL_COMMANDS[command]
    model = broken_model(tmp_path / "model", defect)
    out = [] if command == "retrieve" else ["--out", tmp_path / "out"]
    message = one_error(capsys, *args, "--cohort", cohort, *out, "--set", f"{field}={model}")
    assert message.startswith(f"{model}: not a model folder for the {what}: {DEFECTS[defect]}"), message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("defect", DEFECTS)
def test_fill_refuses_a_run_whose_decoder_cannot_load(defect, cohort, tmp_path, capsys):
    from clinrag.experiment.config import ExperimentConfig, dump_experiment

    model = broken_model(tmp_path / "model", defect)
    run = tmp_path / "run"
    run.mkdir()
    config = ExperimentConfig.model_validate(
        {"retriever": {"type": "bm25"}, "training": {"reader": "none"}, "reader": {"model": str(model)}}
    )
    (run / "config.yaml").write_text(dump_experiment(config), encoding="utf-8")
    (run / "predictions.csv").write_text("patient_id,age\n", encoding="utf-8")
    message = one_error(capsys, "fill", "--cohort", cohort, "--run", run, "--out", tmp_path / "out")
    assert message.startswith(
        f"{model}: not a model folder for the decoder (reader.model): {DEFECTS[defect]}"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("defect", DEFECTS)
def test_a_merge_input_that_cannot_load_is_refused(defect, tmp_path, capsys):
    model = broken_model(tmp_path / "model", defect)
    recipe = write_yaml(
        tmp_path / "recipe.yaml",
        {"merge_method": "linear", "models": [{"model": str(model), "parameters": {"weight": 1.0}}]},
    )
    message = one_error(capsys, "merge", recipe, "--out", tmp_path / "out")
    assert message.startswith(f"{recipe}: field 'models[0].model': {model}: not a model folder"), message
    assert DEFECTS[defect] in message
    assert not (tmp_path / "out").exists()


# ---- 2. output paths of the wrong kind ------------------------------------------------------------------------------
FOLDER_OUTPUTS = {
    "index": ["index", "--cohort", "{cohort}", "--retriever", "bm25"],
    "annotate": ["annotate", "--cohort", "{cohort}"],
    "extract": ["extract", "--cohort", "{cohort}"],
    "run": ["run", "{config}", "--cohort", "{cohort}"],
    "fill": ["fill", "--cohort", "{cohort}", "--run", "{tmp}"],
    "train-reader": ["train-reader", "--cohort", "{cohort}"],
    "train-retriever": ["train-retriever", "--cohort", "{cohort}"],
    "train-pseudo": ["train-pseudo", "--cohort", "{cohort}"],
    "train-sections": ["train-sections", "--cohort", "{cohort}"],
    "pseudonymize": ["pseudonymize", "--cohort", "{cohort}"],
}
FILE_OUTPUTS = {
    "baseline": ["baseline", "--cohort", "{cohort}"],
    "evaluate": ["evaluate", "--cohort", "{cohort}", "--predictions", "{tmp}/p.csv"],
    "evaluate-retrieval": ["evaluate-retrieval", "--cohort", "{cohort}", "--retriever", "bm25"],
    "evaluate-pseudo": ["evaluate-pseudo", "--cohort", "{cohort}"],
}


def _args(template: list[str], cohort: Path, tmp: Path) -> list[str]:
    config = write_yaml(tmp / "config.yaml", {"retriever": {"type": "bm25"}})
    return [a.format(cohort=cohort, tmp=tmp, config=config) for a in template]


@pytest.mark.parametrize("command", FOLDER_OUTPUTS)
def test_a_folder_output_that_is_a_file_is_refused(command, cohort, tmp_path, capsys):
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    message = one_error(capsys, *_args(FOLDER_OUTPUTS[command], cohort, tmp_path), "--out", target)
    assert message == f"{target}: is a file, but --out names the folder to write"
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("command", FILE_OUTPUTS)
def test_a_file_output_that_is_a_folder_is_refused(command, cohort, tmp_path, capsys):
    target = tmp_path / "metrics"
    (target / "inside").mkdir(parents=True)
    message = one_error(capsys, *_args(FILE_OUTPUTS[command], cohort, tmp_path), "--out", target)
    assert message == f"{target}: is a folder, but --out names the file to write"
    assert [p.name for p in target.iterdir()] == ["inside"]


def test_a_file_output_under_a_file_is_refused(cohort, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    message = one_error(capsys, "baseline", "--cohort", cohort, "--out", tmp_path / "file" / "p.csv")
    assert (
        message == f"{tmp_path / 'file' / 'p.csv'}: cannot be written (--out): {tmp_path / 'file'} is a file"
    )


# ---- 3. the pseudonymization key ---------------------------------------------------------------------------------
def test_a_key_that_cannot_be_written_is_refused_before_the_cohort_is(cohort, tmp_path, capsys):
    (tmp_path / "keys").mkdir()
    out = tmp_path / "pseudo"
    base = ["pseudonymize", "--cohort", cohort, "--out", out, "--seed", "1"]
    assert one_error(capsys, *base, "--mapping", tmp_path / "keys") == (
        f"{tmp_path / 'keys'}: is a folder, but --mapping names the file to write"
    )
    missing = tmp_path / "nowhere" / "key.json"
    assert one_error(capsys, *base, "--mapping", missing) == (
        f"{missing}: its folder does not exist (create {missing.parent} first)"
    )
    inside = one_error(capsys, *base, "--mapping", out / "key.json")
    assert inside.endswith("the key must not be written inside the output cohort (it would travel with it)")
    earlier = tmp_path / "earlier_key.json"
    earlier.write_text('{"seed": 7}', encoding="utf-8")
    assert one_error(capsys, *base, "--mapping", earlier).startswith(
        f"{earlier}: exists; a key is never overwritten"
    )
    assert earlier.read_text(encoding="utf-8") == '{"seed": 7}'
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier_key.json", "keys"]


# ---- 4. predictions that lack cells ------------------------------------------------------------------------------
def test_predictions_without_a_scored_patient_or_column_are_refused_unless_allowed(cohort, tmp_path, capsys):
    full = tmp_path / "full.csv"
    succeeds(capsys, "baseline", "--cohort", cohort, "--out", full, "--split", "all")
    header, *rows = full.read_text(encoding="utf-8").splitlines()
    columns = header.split(",")
    dropped = columns[-2:]
    partial = tmp_path / "partial.csv"
    kept = [",".join(line.split(",")[:-2]) for line in [header, *rows[2:]]]
    partial.write_text("\n".join(kept) + "\n", encoding="utf-8")
    patients = [row.split(",")[0] for row in rows[:2]]
    metrics = tmp_path / "metrics.json"
    base = ["evaluate", "--cohort", cohort, "--predictions", partial, "--split", "all", "--bootstrap", "10"]
    message = one_error(capsys, *base, "--out", metrics)
    assert message == (
        f"{partial}: no row for 2 scored patient(s) ({', '.join(patients)}) and no column for 2 variable(s) of "
        f"the table ({', '.join(dropped)}); pass --allow-missing to score those cells as abstentions"
    )
    assert not metrics.exists()
    err = succeeds(capsys, *base, "--out", metrics, "--allow-missing")
    assert "warning: " in err and "2 scored patient(s)" in err and "2 variable(s)" in err
    assert json.loads(metrics.read_text())["overall"]["n"] > 0


# ---- 5. an index folder that is not empty -------------------------------------------------------------------------
def test_index_replaces_a_folder_only_with_overwrite_and_whole(cohort, tmp_path, capsys):
    index = tmp_path / "index"
    index.mkdir()
    (index / "embeddings.npy").write_bytes(b"an earlier dense index")
    (index / "index.json").write_text("{}")
    args = ["index", "--cohort", cohort, "--out", index, "--retriever", "bm25", "--quiet"]
    message = one_error(capsys, *args)
    assert message == f"{index}: exists and is not empty (pass --overwrite to replace it)"
    assert sorted(p.name for p in index.iterdir()) == ["embeddings.npy", "index.json"]
    succeeds(capsys, *args, "--overwrite")
    assert sorted(p.name for p in index.iterdir()) == ["index.json", "passages.jsonl"]
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no staging or old folder left beside it


def test_a_broken_index_is_refused_in_one_line(cohort, tmp_path, capsys):
    index = tmp_path / "index"
    succeeds(capsys, "index", "--cohort", cohort, "--out", index, "--retriever", "bm25", "--quiet")
    search = ["retrieve", "--cohort", cohort, "--index", index, "--patient", "P00001", "--variable", "age"]
    (index / "index.json").write_text('{"settings": ', encoding="utf-8")
    assert one_error(capsys, *search).startswith(f"{index / 'index.json'}: not readable JSON (")
    (index / "index.json").write_text("[]", encoding="utf-8")
    assert one_error(capsys, *search) == (
        f"{index / 'index.json'}: no 'settings' mapping; rebuild the index with `clinrag index`"
    )


# ---- 6. a cohort with many errors ----------------------------------------------------------------------------------
def test_an_empty_documents_file_is_one_error_not_its_consequences(cohort, tmp_path, capsys):
    broken = tmp_path / "cohort"
    broken.mkdir()
    for source in cohort.iterdir():
        (broken / source.name).write_bytes(source.read_bytes())
    (broken / "documents.jsonl").write_text("")
    lines = refused(capsys, "validate", broken)
    assert lines == [
        f"error: {broken}/documents.jsonl: no documents",
        f"{broken}: invalid cohort, 1 error(s), 0 warning(s)",
    ]
    assert one_error(capsys, "baseline", "--cohort", broken, "--out", tmp_path / "p.csv") == (
        f"{broken}/documents.jsonl: no documents"
    )
    # malformed variables.yaml too: two root causes, and not one error per table column or evidence span
    (broken / "variables.yaml").write_text("variables: [\n")
    lines = refused(capsys, "validate", broken)
    assert len(lines) == 3 and lines[0].startswith(f"error: {broken}/variables.yaml:1: malformed YAML")
    assert lines[1:] == [
        f"error: {broken}/documents.jsonl: no documents",
        f"{broken}: invalid cohort, 2 error(s), 0 warning(s)",
    ]
    assert not (tmp_path / "p.csv").exists()


def test_a_command_prints_the_first_errors_of_a_cohort_and_counts_the_others(cohort, tmp_path, capsys):
    broken = tmp_path / "cohort"
    broken.mkdir()
    for source in cohort.iterdir():
        (broken / source.name).write_bytes(source.read_bytes())
    with (broken / "documents.jsonl").open("a", encoding="utf-8") as handle:
        handle.writelines(f"not json {n}\n" for n in range(45))
    lines = refused(capsys, "index", "--cohort", broken, "--out", tmp_path / "index", "--retriever", "bm25")
    assert len(lines) == COHORT_ERRORS_SHOWN + 1
    assert all(line.startswith(f"error: {broken}/documents.jsonl:") for line in lines[:-1])
    assert (
        lines[-1] == f"… and {45 - COHORT_ERRORS_SHOWN} more errors (run `clinrag validate {broken}` for all)"
    )
    assert len(refused(capsys, "validate", broken)) == 45 + 1  # every error, then the summary line
    assert not (tmp_path / "index").exists()


# ---- 7. a run's inputs, checked before its first stage ------------------------------------------------------------
RUN_INPUTS = {
    "reader.model": ("reader.model={model}", "not a model folder for the decoder (reader.model): no weights"),
    "reader.adapter": ("reader.adapter={tmp}/nowhere", "adapter folder not found (reader.adapter)"),
    "retriever.path": ("retriever.path={tmp}/nowhere", "not a temporal retriever folder (no config.json)"),
    "retriever.encoder": (
        "retriever.encoder={model}",
        "not a model folder for the encoder (retriever.encoder)",
    ),
    "vocabulary.lexicon": ("vocabulary.lexicon={tmp}/nowhere.yaml", "no such lexicon"),
    "merge": ("merge={tmp}/nowhere.yaml", "nowhere.yaml: no such config file"),
    "cohort.path": ("cohort.path={tmp}/nowhere", "nowhere: cohort folder not found"),
}


@pytest.mark.parametrize("field", RUN_INPUTS)
def test_a_run_checks_every_input_before_its_first_stage(field, cohort, tmp_path, capsys):
    model = broken_model(tmp_path / "model", "no_weights")
    override, expected = RUN_INPUTS[field]
    cohort_option = [] if field == "cohort.path" else ["--cohort", cohort]
    message = one_error(
        capsys,
        "run",
        write_yaml(tmp_path / "config.yaml", {"training": {"reader": "none"}}),
        override.format(model=model, tmp=tmp_path),
        *cohort_option,
        "--out",
        tmp_path / "run",
        "--cache",
        tmp_path / "cache",
    )
    assert expected in message, message
    assert not (tmp_path / "run").exists()
    assert not any(
        (tmp_path / "cache").iterdir()
    )  # no stage ran: not the cohort's, not the retriever's training


def test_given_adapters_with_lora_training_are_refused_before_the_first_stage(cohort, tmp_path, capsys):
    message = one_error(
        capsys,
        "run",
        write_yaml(tmp_path / "config.yaml", {"training": {"reader": "lora"}}),
        f"reader.adapter={tmp_path / 'adapter'}",
        "--cohort",
        cohort,
        "--out",
        tmp_path / "run",
        "--cache",
        tmp_path / "cache",
    )
    assert message.startswith("reader.adapter is set and training.reader=lora")
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


# ---- 8. config errors ----------------------------------------------------------------------------------------------
def test_an_override_typo_names_the_override_and_suggests_the_field(cohort, tmp_path, capsys):
    config = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
    assert one_error(capsys, "run", config, "reader.lora.epoch=3", "--out", tmp_path / "run") == (
        "override 'reader.lora.epoch=3': unknown field 'reader.lora.epoch' (did you mean 'epochs'?)"
    )
    assert (
        one_error(
            capsys, "index", "--cohort", cohort, "--out", tmp_path / "i", "--set", "retriever.tipe=bm25"
        )
        == "override 'retriever.tipe=bm25': unknown field 'retriever.tipe' (did you mean 'type'?)"
    )
    assert not (tmp_path / "run").exists() and not (tmp_path / "i").exists()


def test_every_config_error_is_shown_in_plain_words_with_its_file_and_line(cohort, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "retrieval:\n  k: two\nreader:\n  batch_size: 0\n  dtype: float8\n  lora:\n    epoch: 3\nrerank: true\n",
        encoding="utf-8",
    )
    lines = refused(
        capsys, "run", bad, "evaluation.split=tset", "--cohort", cohort, "--out", tmp_path / "run"
    )
    assert sorted(lines) == sorted(
        [
            f"error: {bad}:2: field 'retrieval.k': expected an integer, got 'two'",
            f"error: {bad}:4: field 'reader.batch_size': must be ≥ 1, got 0",
            f"error: {bad}:5: field 'reader.dtype': 'float8' is not one of: float32, bfloat16, float16 (did you "
            "mean 'float32'?)",
            f"error: {bad}:7: unknown field 'reader.lora.epoch' (did you mean 'epochs'?)",
            f"error: {bad}:8: unknown field 'rerank'",
            "error: override 'evaluation.split=tset': field 'evaluation.split': 'tset' is not one of: dev, test "
            "(did you mean 'test'?)",
        ]
    )
    many = [f"x{n}=1" for n in range(14)]
    lines = refused(capsys, "run", bad, *many, "--cohort", cohort, "--out", tmp_path / "run")
    assert len(lines) == 11 and lines[-1] == "… and 9 more errors"  # 5 + 14, 10 shown
    assert not (tmp_path / "run").exists()


# ---- 9. outputs that would destroy an input, and --overwrite of what clinrag did not write -----------------------
def cohort_copy(cohort: Path, folder: Path) -> Path:
    folder.mkdir()
    for source in cohort.iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(cohort, tmp_path, capsys):
    mine = cohort_copy(cohort, tmp_path / "mine")
    before = snapshot(mine)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text("{}")
    assert one_error(capsys, "fill", "--cohort", mine, "--run", run_dir, "--out", mine) == (
        f"{mine}: is the cohort; --out must name another path (it would be overwritten)"
    )
    assert one_error(capsys, "fill", "--cohort", mine, "--run", run_dir, "--out", run_dir).startswith(
        f"{run_dir}: is the run;"
    )
    assert one_error(capsys, "run", "configs/default.yaml", "--cohort", mine, "--out", mine).startswith(
        f"{mine}: is the cohort;"
    )
    assert one_error(capsys, "run", "configs/default.yaml", "--cohort", mine, "--out", tmp_path).startswith(
        f"{tmp_path}: holds the cohort ("
    )
    index = ["index", "--cohort", mine, "--retriever", "bm25", "--out", mine, "--overwrite"]
    assert one_error(capsys, *index).startswith(f"{mine}: is the cohort;")
    assert one_error(capsys, "baseline", "--cohort", mine, "--out", mine / "table.csv").startswith(
        f"{mine / 'table.csv'}: is the cohort's table.csv;"
    )
    predictions = tmp_path / "p.csv"
    succeeds(capsys, "baseline", "--cohort", mine, "--out", predictions)
    kept = predictions.read_bytes()
    evaluate = ["evaluate", "--cohort", mine, "--predictions", predictions, "--out", predictions]
    assert one_error(capsys, *evaluate).startswith(f"{predictions}: is the predictions;")
    assert predictions.read_bytes() == kept
    assert snapshot(mine) == before


def test_overwrite_replaces_only_what_clinrag_wrote(cohort, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "important.txt").write_text("mine")
    synth = ["synth", "--patients", "3", "--overwrite", "--out"]
    assert one_error(capsys, *synth, notes).startswith(f"{notes}: holds files clinrag did not write (no ")
    assert (notes / "important.txt").read_text() == "mine"
    a_file = tmp_path / "f.txt"
    a_file.write_text("mine")
    assert one_error(capsys, *synth, a_file) == f"{a_file}: is a file, but --out names the folder to write"
    assert a_file.read_text() == "mine"
    run = ["run", "configs/default.yaml", "--cohort", cohort, "--out", notes]
    assert one_error(capsys, *run).startswith(f"{notes}: holds files clinrag did not write (no manifest.json")
    succeeds(capsys, *synth, tmp_path / "syn")  # absent: written
    succeeds(capsys, *synth, tmp_path / "syn")  # a cohort clinrag wrote: replaced


def test_a_cache_that_is_a_file_is_refused_before_any_work(cohort, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "cache.txt"
    a_file.write_text("")
    run = ["run", "configs/default.yaml", "--cohort", cohort, "--out", tmp_path / "run"]
    assert (
        one_error(capsys, *run, "--cache", a_file)
        == f"{a_file}: is a file, but --cache names the folder to write"
    )
    monkeypatch.setenv("CLINRAG_CACHE_DIR", str(a_file))
    assert (
        one_error(capsys, *run)
        == f"{a_file / 'runs'}: cannot be written ($CLINRAG_CACHE_DIR): {a_file} is a file"
    )
    fill = ["fill", "--cohort", cohort, "--run", tmp_path / "r", "--out", tmp_path / "filled"]
    assert one_error(capsys, *fill).endswith(f"{a_file} is a file")
    assert not (tmp_path / "run").exists() and not (tmp_path / "filled").exists()


def test_an_encoder_given_as_the_reader_is_refused_before_any_work(cohort, tmp_path, capsys):
    encoder = broken_model(tmp_path / "e5", "none")
    (encoder / "config.json").write_text('{"architectures": ["BertModel"], "model_type": "bert"}')
    run = [
        "run",
        "configs/default.yaml",
        f"reader.model={encoder}",
        "--cohort",
        cohort,
        "--out",
        tmp_path / "r",
    ]
    assert one_error(capsys, *run, "--cache", tmp_path / "cache") == (
        f"{encoder}: not a causal language model (*ForCausalLM) for the decoder (reader.model): its config.json "
        "names BertModel"
    )
    embedded = [
        "run",
        "configs/default.yaml",
        "reader.model=embedded:multilingual-e5-small",
        "--cohort",
        cohort,
    ]
    assert one_error(capsys, *embedded, "--out", tmp_path / "r", "--cache", tmp_path / "cache") == (
        "embedded:multilingual-e5-small: is a sentence encoder, not a decoder (decoder (reader.model))"
    )
    assert not (tmp_path / "r").exists()
    assert not any((tmp_path / "cache").iterdir())  # no stage ran


# ---- 10. messages that would quote patient text ------------------------------------------------------------------
def test_a_cell_of_free_text_is_not_quoted_and_a_short_one_is(cohort, tmp_path, capsys):
    mine = cohort_copy(cohort, tmp_path / "mine")
    header, first, second, *rest = (mine / "table.csv").read_text(encoding="utf-8").splitlines()
    column = header.split(",").index("thrombolyse")
    cells = first.split(",")
    cells[column] = "Mme Dupont refuse le traitement"
    other = second.split(",")
    other[column] = "peut-être"
    (mine / "table.csv").write_text("\n".join([header, ",".join(cells), ",".join(other), *rest]) + "\n")
    lines = refused(capsys, "validate", mine)
    assert "Dupont" not in "\n".join(lines)
    assert (
        f"error: {mine}/table.csv:2: field 'thrombolyse': a value of 31 characters is not a boolean"
        in lines[0]
    )
    assert "'peut-être' is not a boolean" in lines[1]


def test_a_todo_description_is_a_warning(cohort, tmp_path, capsys):
    mine = cohort_copy(cohort, tmp_path / "mine")
    text = (mine / "variables.yaml").read_text(encoding="utf-8")
    variables = yaml.safe_load(text)
    variables["variables"][0]["description"] = "TODO: décrire la variable"
    (mine / "variables.yaml").write_text(yaml.safe_dump(variables, allow_unicode=True), encoding="utf-8")
    err = succeeds(capsys, "validate", mine)
    assert "field 'description': still a TODO" in err


def test_a_baseline_of_no_patient_is_refused(cohort, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert one_error(capsys, "baseline", "--cohort", cohort, "--out", out, "--split", "unlabeled") == (
        f"{cohort}: no unlabeled patient to predict"
    )
    assert not out.exists()
