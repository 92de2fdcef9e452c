"""Model merging (clinrag.merging, ``clinrag merge``, an experiment's ``merge``): each method against a hand
computation on tiny random Llamas built in code, LoRA inputs, input checks before any weight is read, CLI errors,
and merge recipes as a config axis."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import build_tiny_llama
from safetensors.torch import load_file, save_file

from clinrag.errors import ClinragError
from clinrag.merging import RECORD_FILE, build_merge, folder_sha256, load_recipe

TEXTS = ["Patient admis pour AVC ischémique, NIHSS 12, thrombolyse, pas de diabète, FA au Holter."] * 8
NORM = "model.layers.0.input_layernorm.weight"  # 32 values: small enough to write by hand


@pytest.fixture(scope="module")
def llamas(tmp_path_factory) -> dict[str, Path]:
    """A base and two fine-tunes of it: same config and tokenizer, every tensor moved by a seeded delta, and the
    first layer norm set to hand-chosen values."""
    root = tmp_path_factory.mktemp("merge")
    base = build_tiny_llama(root / "base", TEXTS, seed=0)
    weights = load_file(base / "model.safetensors")
    weights[NORM] = torch.zeros(32)
    save_file(weights, base / "model.safetensors", metadata={"format": "pt"})
    hand = {
        "one": [3.0, -1.0, 0.5, 2.0, 0.25],
        "two": [-2.0, -4.0, 1.0, 0.125, 0.375],
    }
    folders = {"base": base}
    for number, name in enumerate(("one", "two"), start=1):
        folder = root / name
        shutil.copytree(base, folder)
        generator = torch.Generator().manual_seed(100 + number)
        tuned = {k: v + 0.01 * torch.randn(v.shape, generator=generator) for k, v in weights.items()}
        norm = torch.zeros(32)
        norm[:5] = torch.tensor(hand[name])
        tuned[NORM] = norm
        save_file(tuned, folder / "model.safetensors", metadata={"format": "pt"})
        folders[name] = folder
    return folders


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def _merge(tmp_path: Path, recipe: dict, name: str = "out", seed: int | None = None) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return build_merge(load_recipe(path, seed=seed), tmp_path / name)


# ---- each method against a hand computation -------------------------------------------------------------------
def test_linear_is_the_weighted_average(llamas, tmp_path):
    recipe = {
        "merge_method": "linear",
        "models": [
            {"model": str(llamas["one"]), "parameters": {"weight": 0.25}},
            {"model": str(llamas["two"]), "parameters": {"weight": 0.75}},
        ],
        "dtype": "float32",
    }
    merged = _tensors(_merge(tmp_path, recipe))
    one, two = _tensors(llamas["one"]), _tensors(llamas["two"])
    # values and weights that are exact in binary floating point: the average is exact
    assert merged[NORM][:5].tolist() == [-0.75, -3.25, 0.875, 0.59375, 0.34375]
    for name, tensor in merged.items():
        torch.testing.assert_close(
            tensor, 0.25 * one[name] + 0.75 * two[name], rtol=0, atol=1e-6
        )  # FMA: 1 ulp
    assert set(merged) == set(one)


def test_task_arithmetic_adds_weighted_deltas(llamas, tmp_path):
    recipe = {
        "merge_method": "task_arithmetic",
        "base_model": str(llamas["base"]),
        "models": [
            {"model": str(llamas["one"]), "parameters": {"weight": 1.0}},
            {"model": str(llamas["two"]), "parameters": {"weight": 0.5}},
        ],
        "dtype": "float32",
    }
    merged = _tensors(_merge(tmp_path, recipe))
    base, one, two = _tensors(llamas["base"]), _tensors(llamas["one"]), _tensors(llamas["two"])
    assert merged[NORM][:5].tolist() == [2.0, -3.0, 1.0, 2.0625, 0.4375]
    for name, tensor in merged.items():
        expected = base[name] + 1.0 * (one[name] - base[name]) + 0.5 * (two[name] - base[name])
        torch.testing.assert_close(tensor, expected, rtol=0, atol=1e-6)


def _ties_reference(base, deltas, weights, density):
    """TIES by hand: keep each delta's top-density magnitudes, elect each entry's sign by the summed (weighted)
    mass, average the deltas that agree with it (weighted), add to the base."""
    trimmed = []
    for delta in deltas:
        k = max(1, int(density * delta.numel()))
        keep = torch.zeros(delta.numel())
        keep[torch.argsort(delta.abs().reshape(-1), descending=True)[:k]] = 1
        trimmed.append(delta * keep.reshape(delta.shape))
    stacked = torch.stack([w * t for w, t in zip(weights, trimmed, strict=True)])
    elected = torch.where(stacked.sum(0) >= 0, 1.0, -1.0)
    agree = stacked.sign() == elected
    weight_of = torch.tensor(weights).reshape(-1, *([1] * base.dim()))
    divisor = (weight_of * agree).sum(0)
    divisor[divisor == 0] = 1
    return base + (stacked * agree).sum(0) / divisor


def test_ties_trims_elects_signs_and_averages_disjointly(llamas, tmp_path):
    recipe = {
        "merge_method": "ties",
        "base_model": str(llamas["base"]),
        "models": [
            {"model": str(llamas["one"]), "parameters": {"weight": 1.0, "density": 0.125}},
            {"model": str(llamas["two"]), "parameters": {"weight": 1.0, "density": 0.125}},
        ],
        "dtype": "float32",
    }
    merged = _tensors(_merge(tmp_path, recipe))
    # by hand, density 0.125 of 32 values = the top 4 of each delta:
    #   one [3, -1, 0.5, 2, (0.25 trimmed)]      two [-2, -4, 1, (0.125 trimmed), 0.375]
    #   summed [1, -5, 1.5, 2, 0.375] -> signs + - + + +
    #   agreeing: [3], [-1, -4], [0.5, 1], [2], [0.375] -> disjoint means 3, -2.5, 0.75, 2, 0.375
    assert merged[NORM][:5].tolist() == [3.0, -2.5, 0.75, 2.0, 0.375]
    assert merged[NORM][5:].abs().sum() == 0
    base, one, two = _tensors(llamas["base"]), _tensors(llamas["one"]), _tensors(llamas["two"])
    for name, tensor in merged.items():
        expected = _ties_reference(
            base[name], [one[name] - base[name], two[name] - base[name]], [1.0, 1.0], 0.125
        )
        torch.testing.assert_close(tensor, expected, rtol=0, atol=1e-6)


def _dare_recipe(llamas, method: str, density: float, seed: int | None = None, models=("one",)) -> dict:
    recipe = {
        "merge_method": method,
        "base_model": str(llamas["base"]),
        "models": [
            {"model": str(llamas[m]), "parameters": {"weight": 1.0, "density": density}} for m in models
        ],
        "dtype": "float32",
    }
    if seed is not None:
        recipe["random_seed"] = seed
    return recipe


def test_dare_drops_at_random_and_rescales_what_it_keeps(llamas, tmp_path):
    density = 0.5
    merged = _tensors(_merge(tmp_path, _dare_recipe(llamas, "dare_linear", density, seed=7), "a"))
    again = _tensors(_merge(tmp_path, _dare_recipe(llamas, "dare_linear", density, seed=7), "b"))
    other = _tensors(_merge(tmp_path, _dare_recipe(llamas, "dare_linear", density, seed=8), "c"))
    base, one = _tensors(llamas["base"]), _tensors(llamas["one"])
    name = "model.embed_tokens.weight"  # vocabulary x 32: thousands of entries
    for key in merged:  # the same seed drops the same entries; another seed, others
        assert torch.equal(merged[key], again[key])
    assert not torch.equal(merged[name], other[name])
    delta = one[name] - base[name]
    kept_delta = merged[name] - base[name]
    kept = kept_delta != 0
    # dropped entries are the base's exactly; about `density` of the entries are kept
    assert torch.equal(merged[name][~kept], base[name][~kept])
    assert abs(kept.float().mean().item() - density) < 0.03
    # kept entries are rescaled: mergekit 0.1.5 matches the delta's L1 norm (DARE's 1/density in expectation)
    scale = delta.abs().sum() / delta[kept].abs().sum()
    torch.testing.assert_close(kept_delta[kept], delta[kept] * scale, rtol=1e-5, atol=1e-6)
    assert abs(scale.item() * density - 1) < 0.06
    # ... so over many entries the merged delta keeps the original's expectation
    assert abs(kept_delta.mean().item() - delta.mean().item()) < 0.1 * delta.abs().mean().item()
    assert abs(kept_delta.abs().sum().item() / delta.abs().sum().item() - 1) < 1e-4


def test_dare_with_equal_magnitudes_rescales_by_one_over_the_kept_share(llamas, tmp_path):
    """With every delta of the same magnitude the L1 rescaling is exactly N / kept, i.e. 1/density up to the
    sampling of the mask."""
    folder = tmp_path / "flat"
    shutil.copytree(llamas["base"], folder)
    base = _tensors(llamas["base"])
    signs = torch.where(torch.arange(base["model.embed_tokens.weight"].numel()) % 3 == 0, -1.0, 1.0)
    flat = dict(base)
    flat["model.embed_tokens.weight"] = base["model.embed_tokens.weight"] + 0.5 * signs.reshape(
        base["model.embed_tokens.weight"].shape
    )
    save_file(flat, folder / "model.safetensors", metadata={"format": "pt"})
    llamas = {**llamas, "flat": folder}
    merged = _tensors(_merge(tmp_path, _dare_recipe(llamas, "dare_linear", 0.25, seed=0, models=("flat",))))
    name = "model.embed_tokens.weight"
    delta = merged[name] - base[name]
    kept = delta != 0
    n, k = kept.numel(), int(kept.sum())
    torch.testing.assert_close(delta[kept].abs(), torch.full((k,), 0.5 * n / k), rtol=1e-5, atol=1e-6)
    assert abs(k / n - 0.25) < 0.03


def test_dare_ties_is_seeded_and_elects_signs(llamas, tmp_path):
    first = _tensors(_merge(tmp_path, _dare_recipe(llamas, "dare_ties", 0.5, 3, ("one", "two")), "a"))
    second = _tensors(
        _merge(tmp_path, _dare_recipe(llamas, "dare_ties", 0.5, None, ("one", "two")), "b", seed=3)
    )
    for key in first:  # the recipe's random_seed and --seed are the same thing
        assert torch.equal(first[key], second[key])
    base, one, two = _tensors(llamas["base"]), _tensors(llamas["one"]), _tensors(llamas["two"])
    name = "model.embed_tokens.weight"
    merged_delta = first[name] - base[name]
    # wherever both deltas agree in sign, the merged delta (if any) has that sign
    d1, d2 = one[name] - base[name], two[name] - base[name]
    agree = (d1.sign() == d2.sign()) & (merged_delta != 0)
    assert torch.equal(merged_delta[agree].sign(), d1[agree].sign())


# ---- LoRA inputs, outputs that load ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def adapter(llamas, tmp_path_factory) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(5)
    model = AutoModelForCausalLM.from_pretrained(llamas["base"], local_files_only=True)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    peft_model.save_pretrained(folder)
    return folder


def test_base_plus_adapter_equals_merge_and_unload(llamas, adapter, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    recipe = {
        "merge_method": "linear",
        "models": [{"model": f"{llamas['base']}+{adapter}", "parameters": {"weight": 1.0}}],
        "dtype": "float32",
    }
    out = _merge(tmp_path, recipe)
    model = AutoModelForCausalLM.from_pretrained(llamas["base"], local_files_only=True)
    expected = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().state_dict()
    merged = _tensors(out)
    q = "model.layers.1.self_attn.q_proj.weight"
    assert not torch.equal(merged[q], _tensors(llamas["base"])[q])  # the adapter changed it
    for name, tensor in merged.items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=1e-6)
    assert (out / "tokenizer.json").is_file()  # the base's tokenizer, though the LoRA-merged input has none


def test_merged_folder_records_its_making_and_loads_as_a_decoder(llamas, adapter, tmp_path):
    from clinrag.generation.config import ReaderConfig
    from clinrag.generation.decoder import Decoder

    recipe = _dare_recipe(llamas, "ties", 0.5, 11, ("one", "two"))
    recipe["models"][1]["model"] = f"{llamas['two']}+{adapter}"
    out = _merge(tmp_path, recipe)
    record = json.loads((out / RECORD_FILE).read_text(encoding="utf-8"))
    assert record["merge_method"] == "ties" and record["random_seed"] == 11
    assert record["recipe"]["models"][1]["model"] == f"{llamas['two'].resolve()}+{adapter.resolve()}"
    assert len(record["recipe_sha256"]) == 64
    assert [i["field"] for i in record["inputs"]] == ["base_model", "models[0].model", "models[1].model"]
    assert record["inputs"][2]["adapter"]["sha256"] == folder_sha256(adapter)
    assert record["inputs"][1]["model"]["sha256"] == folder_sha256(llamas["one"])
    assert {"mergekit", "torch", "transformers", "peft", "clinrag"} <= set(record["versions"])
    assert (out / "mergekit_config.yml").is_file()
    decoder = Decoder(ReaderConfig(model=str(out)))
    scored = decoder.prompt_ids([{"role": "user", "content": "NIHSS ?"}])
    assert (
        scored
        and decoder.model.config.vocab_size
        == json.loads((llamas["base"] / "config.json").read_text())["vocab_size"]
    )
    assert not list(tmp_path.glob(".out.*"))  # no staging or LoRA cache left beside the output


# ---- input checks, before any weight is read ------------------------------------------------------------------
@pytest.fixture
def no_weight_reads(monkeypatch):
    """Any read of weights fails the test (safetensors, torch.load, from_pretrained, mergekit's run_merge)."""
    import mergekit.merge
    import safetensors
    import safetensors.torch
    import transformers

    def forbidden(*args, **kwargs):
        raise AssertionError("weights were read before the inputs were checked")

    monkeypatch.setattr(safetensors, "safe_open", forbidden)
    monkeypatch.setattr(safetensors.torch, "load_file", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(transformers.PreTrainedModel, "from_pretrained", forbidden)
    monkeypatch.setattr(mergekit.merge, "run_merge", forbidden)


def _variant(llamas, tmp_path, name, config_edit=None, tokenizer_edit=None) -> Path:
    folder = tmp_path / name
    shutil.copytree(llamas["one"], folder)
    if config_edit:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config.update(config_edit)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    if tokenizer_edit:
        tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        tokenizer_edit(tokenizer)
        (folder / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    return folder


def _swap_two_tokens(tokenizer: dict) -> None:
    vocab = tokenizer["model"]["vocab"]
    first, second = list(vocab)[10:12]
    vocab[first], vocab[second] = vocab[second], vocab[first]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"config_edit": {"vocab_size": 999}}, "vocab_size 999 differs from the base's"),
        (
            {"config_edit": {"architectures": ["MistralForCausalLM"], "model_type": "mistral"}},
            "different architectures",
        ),
        ({"config_edit": {"num_hidden_layers": 3}}, "num_hidden_layers 3 differs"),
        ({"tokenizer_edit": _swap_two_tokens}, "tokenizer's vocabulary differs"),
    ],
)
def test_mismatched_inputs_are_refused_before_any_weight_is_read(
    llamas, tmp_path, run_cli, no_weight_reads, edit, expected
):
    other = _variant(llamas, tmp_path, "other", **edit)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "merge_method": "ties",
                "base_model": str(llamas["base"]),
                "models": [
                    {"model": str(llamas["one"]), "parameters": {"weight": 1.0, "density": 0.5}},
                    {"model": str(other), "parameters": {"weight": 1.0, "density": 0.5}},
                ],
            }
        ),
        encoding="utf-8",
    )
    result = run_cli("merge", recipe, "--out", tmp_path / "out")
    assert result.code == 2, result.stderr
    assert (
        expected in result.stderr
        and "field 'models[1].model'" in result.stderr
        and str(recipe) in result.stderr
    )
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_adapter_of_another_model_is_refused(llamas, tmp_path, no_weight_reads):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2
    )
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(tmp_path / "wide-adapter")
    recipe = {
        "merge_method": "linear",
        "models": [{"model": f"{llamas['base']}+{tmp_path / 'wide-adapter'}", "parameters": {"weight": 1.0}}],
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(ClinragError, match=r"lora_A.weight has shape \[2, 48\], which does not fit"):
        load_recipe(path)


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ({"merge_method": "linear", "models": [{"model": "MISSING", "parameters": {"weight": 1}}]}, "model folder not found"),
        ({"merge_method": "linear", "models": [{"model": "NOCONFIG", "parameters": {"weight": 1}}]}, "no config.json"),
        ({"merge_method": "linear", "models": [{"model": "BASE+NOCONFIG", "parameters": {"weight": 1}}]}, "no adapter_config.json"),
        ({"merge_method": "linear", "models": [{"model": "BASE+MISSING", "parameters": {"weight": 1}}]}, "adapter folder not found"),
        ({"merge_method": "soup", "models": [{"model": "BASE"}]}, "field 'merge_method': unknown method 'soup'"),
        ({"merge_method": "ties", "base_model": "BASE", "models": [{"model": "BASE", "parameters": {"densty": 1}}]}, "field 'models[0].parameters.densty': not a parameter of ties"),
        ({"merge_method": "linear", "model": [{"model": "BASE"}]}, "field 'model': unknown key"),
        ({"merge_method": "linear", "models": [{"model": "BASE", "weight": 1}]}, "field 'models[0].weight': unknown key"),
        ({"merge_method": "linear", "models": [{"model": "BASE", "parameters": {"weight": 1}}], "random_seed": "x"}, "field 'random_seed'"),
        ({"models": [{"model": "BASE"}]}, "field 'merge_method': required"),
        ({"merge_method": "linear", "models": [{"model": "BASE"}]}, "field 'models[0].parameters.weight': required by linear"),
        ({"merge_method": "ties", "models": [{"model": "BASE", "parameters": {"weight": 1}}]}, "field 'base_model': ties needs a base model"),
    ],
)  # fmt: skip
def test_bad_recipes_are_one_line_errors(llamas, tmp_path, run_cli, recipe, expected):
    (tmp_path / "NOCONFIG").mkdir()
    text = yaml.safe_dump(recipe).replace("BASE", str(llamas["base"]))
    text = text.replace("NOCONFIG", str(tmp_path / "NOCONFIG")).replace("MISSING", str(tmp_path / "missing"))
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("merge", path, "--out", tmp_path / "out")
    assert result.code == 2
    assert expected in result.stderr and str(path) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_malformed_yaml_non_empty_out_and_overwrite(llamas, tmp_path, run_cli):
    bad = tmp_path / "bad.yaml"
    bad.write_text("merge_method: linear\nmodels: [\n", encoding="utf-8")
    result = run_cli("merge", bad, "--out", tmp_path / "x")
    assert result.code == 2 and f"{bad}:" in result.stderr and "malformed YAML" in result.stderr
    recipe = tmp_path / "ok.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {"merge_method": "linear", "models": [{"model": str(llamas["one"]), "parameters": {"weight": 1}}]}
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x", encoding="utf-8")
    result = run_cli("merge", recipe, "--out", out, "--quiet")
    assert result.code == 2 and "not empty" in result.stderr and (out / "keep.txt").is_file()
    result = run_cli("merge", recipe, "--out", out, "--overwrite", "--quiet")  # not a merge: never replaced
    assert (
        result.code == 2
        and "holds files clinrag did not write" in result.stderr
        and (out / "keep.txt").is_file()
    )
    (out / "clinrag_merge.json").write_text("{}", encoding="utf-8")  # an earlier merge's folder
    result = run_cli("merge", recipe, "--out", out, "--overwrite", "--quiet")
    assert result.code == 0, result.stderr
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert "merged 1 input(s) with linear (seed 0)" in result.stdout


def test_an_interrupted_merge_leaves_nothing(llamas, tmp_path, monkeypatch):
    import mergekit.merge

    def crash(config, out_path, options, config_source=None):
        (Path(out_path) / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed")

    monkeypatch.setattr(mergekit.merge, "run_merge", crash)
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {"merge_method": "linear", "models": [{"model": str(llamas["one"]), "parameters": {"weight": 1}}]}
        ),
        encoding="utf-8",
    )
    with pytest.raises(ClinragError, match="mergekit refused the merge: killed"):
        build_merge(load_recipe(path), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]


# ---- a merge recipe as a config axis ---------------------------------------------------------------------------
def test_a_run_builds_its_merge_once_and_a_grid_compares_merges(llamas, tmp_path, run_cli):
    from clinrag.experiment.config import load_experiment
    from clinrag.experiment.runner import run_experiment
    from clinrag.synth import write_synthetic_cohort

    cohort = tmp_path / "cohort"
    write_synthetic_cohort(cohort, 12, seed=5)
    recipes = {}
    for name, method in (("soup", "linear"), ("ties", "ties")):
        recipe = {
            "merge_method": method,
            "models": [
                {"model": str(llamas["one"]), "parameters": {"weight": 0.5, "density": 0.5}},
                {"model": str(llamas["two"]), "parameters": {"weight": 0.5, "density": 0.5}},
            ],
            "dtype": "float32",
        }
        if method == "linear":
            for model in recipe["models"]:
                del model["parameters"]["density"]
        else:
            recipe["base_model"] = str(llamas["base"])
        recipes[name] = tmp_path / f"{name}.yaml"
        recipes[name].write_text(yaml.safe_dump(recipe), encoding="utf-8")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "variables": ["thrombolyse", "toast"],
                "retriever": {"type": "bm25"},
                "retrieval": {"k": 1, "eval_ks": [1]},
                "reader": {"model": str(llamas["base"]), "max_passage_chars": 60},
                "training": {"reader": "none"},
                "evaluation": {"bootstrap": 20, "retrieval": False, "baselines": []},
                "merge": str(recipes["soup"]),
                "cell_batch": 8,
            }
        ),
        encoding="utf-8",
    )
    config = load_experiment(config_file)
    logs: list[str] = []
    first = run_experiment(
        config, tmp_path / "run1", cohort, tmp_path / "cache", progress=False, log=logs.append
    )
    manifest = json.loads((first.run_dir / "manifest.json").read_text(encoding="utf-8"))
    merge_stage = next(s for s in manifest["stages"] if s["stage"] == "merge")
    assert merge_stage["cached"] is False
    assert manifest["merge"]["recipe_file"] == str(recipes["soup"])
    assert manifest["merge"]["merge_method"] == "linear" and len(manifest["merge"]["recipe_sha256"]) == 64
    assert manifest["models"]["decoder"]["path"] == manifest["merge"]["folder"]
    assert yaml.safe_load((first.run_dir / "config.yaml").read_text(encoding="utf-8"))["merge"] == str(
        recipes["soup"]
    )
    assert (first.run_dir / "models" / "merged" / RECORD_FILE).is_file()
    second = run_experiment(
        config, tmp_path / "run2", cohort, tmp_path / "cache", progress=False, log=logs.append
    )
    stages = {s["stage"]: s["cached"] for s in second.stages}
    assert stages["merge"] is True and stages["generations"] is True
    assert (second.run_dir / "predictions.csv").read_bytes() == (
        first.run_dir / "predictions.csv"
    ).read_bytes()
    # `clinrag fill` reads with the run's merged model (models/merged), as the run did
    result = run_cli(
        "fill", "--cohort", cohort, "--run", first.run_dir, "--out", tmp_path / "filled", "--patients", "test",
        "--quiet",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    filled = (tmp_path / "filled" / "predictions.csv").read_text(encoding="utf-8").splitlines()
    assert sorted(filled) == sorted(
        (first.run_dir / "predictions.csv").read_text(encoding="utf-8").splitlines()
    )
    # changing an input's weights changes the merge's key: it is built again
    changed = tmp_path / "two-changed"
    shutil.copytree(llamas["two"], changed)
    weights = _tensors(changed)
    weights[NORM] = weights[NORM] + 1
    save_file(weights, changed / "model.safetensors", metadata={"format": "pt"})
    recipes["soup"].write_text(
        recipes["soup"].read_text().replace(str(llamas["two"]), str(changed)), encoding="utf-8"
    )
    third = run_experiment(
        load_experiment(config_file),
        tmp_path / "run3",
        cohort,
        tmp_path / "cache",
        progress=False,
        log=logs.append,
    )
    assert {s["stage"]: s["cached"] for s in third.stages}["merge"] is False
    # the grid: no merge (null) against a TIES recipe, one axis
    result = run_cli(
        "grid", config_file, "--axis", f"merge=null,{recipes['ties']}", "--cohort", cohort,
        "--out", tmp_path / "grid", "--cache", tmp_path / "cache", "--quiet",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    summary = json.loads((tmp_path / "grid" / "summary.json").read_text(encoding="utf-8"))
    assert [r["label"] for r in summary["rows"]] == ["merge=null", f"merge={recipes['ties']}"]
    # a bad recipe in a grid is refused before the first run
    broken = tmp_path / "broken.yaml"
    broken.write_text("merge_method: linear\nmodels: [{model: /nowhere}]\n", encoding="utf-8")
    result = run_cli(
        "grid", config_file, "--axis", f"merge={recipes['soup']},{broken}", "--cohort", cohort,
        "--out", tmp_path / "grid2", "--cache", tmp_path / "cache", "--quiet",
    )  # fmt: skip
    assert result.code == 2 and str(broken) in result.stderr and not (tmp_path / "grid2" / "runs").exists()


def test_embedded_names_resolve_in_recipes(llamas, adapter, tmp_path, monkeypatch):
    import clinrag.generation.decoder

    monkeypatch.setattr(clinrag.generation.decoder, "prepare_embedded_decoder", lambda: llamas["base"])
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "merge_method": "task_arithmetic",
                "base_model": "embedded:smollm2-135m-instruct",
                "models": [
                    {"model": f"embedded:smollm2-135m-instruct+{adapter}", "parameters": {"weight": 1.0}}
                ],
            }
        ),
        encoding="utf-8",
    )
    recipe = load_recipe(path)
    assert [i.model for i in recipe.inputs] == [llamas["base"].resolve()] * 2
    assert recipe.inputs[1].adapter == adapter.resolve()
    assert recipe.data["base_model"] == str(llamas["base"].resolve())
    assert recipe.data["models"][0]["model"] == f"{llamas['base'].resolve()}+{adapter.resolve()}"


def test_a_base_converted_from_gguf_merges_with_an_adapter(llamas, adapter, tmp_path):
    """The embedded SmolLM2 folder's config.json keeps GGUF's quantization_config (its weights are plain float32):
    transformers refuses to save such a model, which mergekit does when it applies an adapter; clinrag merges
    through a view of the folder without it, and the merged config has none."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    gguf_base = tmp_path / "gguf-base"
    shutil.copytree(llamas["base"], gguf_base)
    config = json.loads((gguf_base / "config.json").read_text(encoding="utf-8"))
    config["quantization_config"] = {"quant_method": "gguf", "dequantize": False, "gguf_file": "m.gguf"}
    (gguf_base / "config.json").write_text(json.dumps(config), encoding="utf-8")
    recipe = {
        "merge_method": "task_arithmetic",
        "base_model": str(gguf_base),
        "models": [{"model": f"{gguf_base}+{adapter}", "parameters": {"weight": 1.0}}],
        "dtype": "float32",
    }
    out = _merge(tmp_path, recipe)
    assert "quantization_config" not in json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert str(gguf_base) in (out / "README.md").read_text(encoding="utf-8")
    model = AutoModelForCausalLM.from_pretrained(llamas["base"], local_files_only=True)
    expected = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().state_dict()
    for name, tensor in _tensors(out).items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gguf-base", "out", "out.yaml"]
