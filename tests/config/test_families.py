"""The model-family registry: every preset names a supported family, config.json decides a checkpoint's
family, and `model.family` problems are refused in one line naming the key, before any model loads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nemo_drift.config.families import FAMILIES, family_for_hf_config
from nemo_drift.config.loader import CONF_DIR, ConfigError, load_config
from nemo_drift.config.model import ModelConfig

SHAPE = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "intermediate_size": 256, "vocab_size": 1000, "max_position_embeddings": 4096}
"""A tiny shape, so the shape checks of `validate` have something to read beside the family."""

MISTRAL = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", **SHAPE}
"""A real architecture that no family covers."""

GEMMA3_MULTIMODAL = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                     "text_config": {"model_type": "gemma3_text", **SHAPE}}
"""config.json of google/gemma-3-12b-it, cut down: the text decoder lives under text_config."""


def model_presets() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


def default_model_preset() -> str:
    """The model preset conf/drift.yaml composes when a command names none."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "drift.yaml"))["defaults"]
    return next(d["model"] for d in defaults if isinstance(d, dict) and "model" in d)


def hf_folder(path: Path, config: dict) -> Path:
    """A folder with only a config.json (enough for validation; loading it would fail)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    return path


def family_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if e.startswith(("model.family:", "model.hf_path:"))]


def preset_problems(model: ModelConfig) -> list[str]:
    """What is wrong with a preset's family: not in the registry, an `architecture` block of another family
    (its activation), or a local checkpoint of another family."""
    if model.family not in FAMILIES:
        return [f"model.family: {model.family!r} is not one of {list(FAMILIES)}"]
    problems = model.family_problems(model.hf_config())  # a local asset on disk must be of that family
    expected = FAMILIES[model.family].activation
    if model.architecture is not None and model.architecture.activation != expected:
        problems.append(f"model.architecture.activation: {model.architecture.activation!r}, family "
                        f"{model.family!r} uses {expected!r}")
    return problems


@pytest.mark.parametrize("preset", model_presets())
def test_every_preset_names_a_supported_family(preset: str) -> None:
    model = load_config([f"model={preset}"], validate=False).model
    if preset == default_model_preset():
        # Composed under every command that names no model (`train init=DIR`, `check-parity DIR`): its folder's
        # config.json decides, so the default preset claims no family (its asset is Llama: checked below).
        assert model.family == ""
        return
    assert preset_problems(model) == [], f"conf/model/{preset}.yaml"


def test_a_wrong_preset_family_is_caught(tmp_path: Path) -> None:
    gemma = load_config(["model=gemma3_12b"], validate=False).model
    assert preset_problems(gemma) == []
    gemma.family = "qwen2"
    assert preset_problems(gemma) == ["model.architecture.activation: 'gelu_pytorch_tanh', family 'qwen2' uses 'silu'"]
    gemma.family = ""
    assert preset_problems(gemma) == ["model.family: '' is not one of ['qwen2', 'qwen3', 'llama', 'gemma3']"]
    qwen3 = hf_folder(tmp_path / "q3", {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", **SHAPE})
    tiny = load_config(["model=tiny_qwen2", f"model.hf_path={qwen3}"], validate=False).model
    assert [p.split(",")[0] for p in preset_problems(tiny)] == ["model.family: 'qwen2'"]


def test_the_default_preset_asset_is_a_llama(smollm2_path: Path) -> None:
    model = load_config([], validate=False).model
    assert Path(model.hf_path) == smollm2_path
    assert family_for_hf_config(model.hf_config()).name == "llama"


@pytest.mark.parametrize("family", FAMILIES.values(), ids=lambda f: f.name)
def test_each_family_is_found_by_architecture_and_by_model_type(family) -> None:
    for architecture in family.architectures:
        assert family_for_hf_config({"architectures": [architecture], "model_type": "other"}) is family
    for model_type in family.model_types:
        assert family_for_hf_config({"model_type": model_type}) is family
    assert family.parity_asset and family.notes


@pytest.mark.parametrize("config", [
    MISTRAL,
    {"architectures": ["Qwen2ForSequenceClassification"], "model_type": "qwen2"},  # not a causal LM
    {"model_type": "mistral"},
    {},
    GEMMA3_MULTIMODAL,
    {"model_type": "gemma3", "text_config": {"model_type": "gemma3_text"}},
])
def test_checkpoints_outside_the_registry_have_no_family(config: dict) -> None:
    assert family_for_hf_config(config) is None


def test_an_unknown_family_name_is_refused(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "m", {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **SHAPE})
    for hf_path in (str(folder), "Qwen/Qwen2.5-7B-Instruct"):  # on disk, and a hub id (planning only)
        (error,) = family_errors(ModelConfig(hf_path=hf_path, family="mistral").validate())
        assert error.startswith("model.family: 'mistral' is not a supported family; supported: ")
        assert all(name in error for name in FAMILIES)


def test_an_architecture_in_no_family_is_refused(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "mistral", MISTRAL)
    (error,) = family_errors(ModelConfig(hf_path=str(folder)).validate())
    assert error.startswith(f"model.hf_path: {folder}/config.json (architectures ['MistralForCausalLM'], "
                            "model_type 'mistral') is in no supported family (")
    assert all(name in error for name in FAMILIES)
    assert "docs/model-families.md" in error and "not proven equal to Hugging Face" in error
    assert "Gemma3ForCausalLM" not in error  # the multimodal hint is for Gemma 3 only


def test_a_multimodal_gemma3_is_refused_with_the_way_out(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "gemma-3-12b-it", GEMMA3_MULTIMODAL)
    for family in ("", "gemma3"):
        (error,) = family_errors(ModelConfig(hf_path=str(folder), family=family).validate())
        assert error.startswith(f"model.hf_path: {folder}/config.json "
                                "(architectures ['Gemma3ForConditionalGeneration']")
        assert "extract the text decoder to a Gemma3ForCausalLM checkpoint first" in error
        assert "docs/model-families.md" in error


def test_a_family_that_contradicts_config_json_is_refused(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "m", {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **SHAPE})
    (error,) = family_errors(ModelConfig(hf_path=str(folder), family="qwen3").validate())
    assert error.startswith(f"model.family: 'qwen3', but {folder}/config.json (")
    assert "is family 'qwen2'; set model.family=qwen2" in error
    assert family_errors(ModelConfig(hf_path=str(folder), family="qwen2").validate()) == []
    assert family_errors(ModelConfig(hf_path=str(folder)).validate()) == []  # "" = config.json decides


def test_a_hub_id_needs_a_family() -> None:
    (error,) = family_errors(ModelConfig(hf_path="Qwen/Qwen3-8B").validate())
    assert error.startswith("model.family: empty, and model.hf_path 'Qwen/Qwen3-8B' has no local config.json")
    assert family_errors(ModelConfig(hf_path="Qwen/Qwen3-8B", family="qwen3").validate()) == []


def test_a_bad_family_stops_the_loader_and_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    folder = hf_folder(tmp_path / "mistral", MISTRAL)
    with pytest.raises(ConfigError, match=r"model\.hf_path: .*in no supported family"):
        load_config([f"model.hf_path={folder}"], groups=("model",))
    qwen3 = hf_folder(tmp_path / "q3", {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", **SHAPE})
    with pytest.raises(ConfigError, match=r"model\.family: 'qwen2', but .* is family 'qwen3'"):
        load_config(["model=tiny_qwen2", f"model.hf_path={qwen3}"], groups=("model",))
    from nemo_drift.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", "model.family=mistral"]) == 2
    err = capsys.readouterr().err
    assert "model.family: 'mistral' is not a supported family" in err and len(err.strip().splitlines()) == 1
