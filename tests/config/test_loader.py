"""The NeMo-style config: presets, overrides, and validation that names the key before any work."""
from __future__ import annotations

import pytest

from nemo_drift.config.loader import ConfigError, load_config, load_config_file, to_yaml


def test_default_is_the_embedded_run(smollm2_path):
    cfg = load_config([])
    assert cfg.method.name == "drift" and cfg.method.warm_start and cfg.method.iterations == 2
    assert cfg.model.hf_path == str(smollm2_path)
    assert cfg.data.source == "sample:wildfeedback_sat_dsat.json"
    assert (cfg.trainer.lr, cfg.trainer.beta, cfg.trainer.optimizer) == (5e-7, 0.1, "rmsprop")


def test_group_presets_and_nemo_style_overrides():
    cfg = load_config(["method=spin", "trainer.lr=1e-6", "++generation.temperature=0.9", "+resume.from_stage=train"])
    assert cfg.method.name == "spin"
    assert cfg.trainer.lr == 1e-6
    assert cfg.generation.temperature == 0.9
    assert cfg.resume.from_stage == "train"


def test_misspelt_key_is_named():
    with pytest.raises(ConfigError, match="trainer.lrr"):
        load_config(["trainer.lrr=1e-6"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match="trainer.lr"):
        load_config(["trainer.lr=fast"])


@pytest.mark.parametrize("override, key", [
    ("method.iterations=-1", "method.iterations"),
    ("trainer.reference_path=/base", "trainer.reference_path"),
    ("model.seq_length=64", "data.max_length"),
    ("trainer.global_batch_size=6", "trainer.global_batch_size"),
    ("generation.top_p=1.5", "generation.top_p"),
    ("data.format=csv", "data.format"),
    ("model.tensor_model_parallel_size=2", "model.tensor_model_parallel_size"),
    ("resume.from_stage=nope", "resume.from_stage"),
    ("cluster.launcher=mpirun", "cluster.launcher"),
])
def test_each_bad_setting_fails_naming_its_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config([override, "trainer.micro_batch_size=4"] if "global_batch" in override else [override])
    assert any(p.startswith(key) for p in err.value.problems), err.value.problems


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config(["method.iterations=-1", "generation.top_p=1.5"])
    assert len(err.value.problems) == 2


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(["method=iterdpo", "trainer.beta=0.2"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    assert load_config_file(path) == cfg


def test_sequence_lengths_agree_across_groups():
    with pytest.raises(ConfigError, match=r"data.max_length: 512 exceeds model.seq_length 64.*data.max_length <= 64"):
        load_config(["model.seq_length=64"])
    small = ["model.seq_length=64", "data.max_length=64", "data.max_prompt_length=32"]
    with pytest.raises(ConfigError, match=r"generation.max_tokens: 128 leaves no room for a sampling prompt"):
        load_config(small)
    assert load_config([*small, "generation.max_tokens=48"]).sampling_prompt_tokens() == 16
    assert load_config([*small, "generation.max_prompt_tokens=40"]).sampling_prompt_tokens() == 40


def test_a_missing_required_setting_is_one_line():
    with pytest.raises(ConfigError) as err:
        load_config(["data=chat_logs"])
    assert str(err.value) == ("invalid configuration: data.source: empty; give a file, directory, dataset name "
                              "or sample:<file>")


def test_groups_limit_validation_to_what_a_command_reads():
    overrides = ["generation.top_p=1.5", "model.tensor_model_parallel_size=1"]
    assert load_config(overrides, groups=("model",)).generation.top_p == 1.5
    with pytest.raises(ConfigError, match="generation.top_p"):
        load_config(overrides, groups=("model", "generation"))
