"""Bad settings fail before any work, naming the setting; the command line; the on-disk formats."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemo_drift.config.model import ModelConfig
from nemo_drift.config.trainer import TrainerConfig
from nemo_drift.data.records import TokenizedPair
from nemo_drift.megatron.reference import (RefLogps, read_ref_logps, read_tokenized_pairs, ref_logps_path,
                                           write_ref_logps, write_tokenized_pairs)
from nemo_drift.megatron.train_entry import run_training, split_job_args
from nemo_drift.megatron.data_order import epoch_order, rank_microbatch_indices


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    write_tokenized_pairs(path, [TokenizedPair("a", [1, 2], [3], [4, 5]), TokenizedPair("b", [1], [6, 7], [8])])
    return path


@pytest.mark.parametrize("trainer,model,expected", [
    (dict(global_batch_size=6, micro_batch_size=4), {},
     "trainer.global_batch_size: 6 is not divisible by micro_batch_size 4 x data-parallel size 1"),
    (dict(loss="kto"), {}, "trainer.loss: 'kto' is not one of"),
    (dict(optimizer="lamb"), {}, "trainer.optimizer"),
    ({}, dict(tensor_model_parallel_size=2), "model.tensor_model_parallel_size: TP 2 x PP 1 x CP 1 = 2 does not divide the world size 1"),
])
def test_bad_settings_fail_before_any_work(tiny_qwen_path, pairs_file, tmp_path, trainer, model, expected) -> None:
    out = tmp_path / "out"
    model_cfg = ModelConfig(hf_path=str(tiny_qwen_path), seq_length=32, **model)
    with pytest.raises(ValueError) as err:
        run_training(pairs_file, tiny_qwen_path, out, model_cfg, TrainerConfig(**trainer))
    assert expected in str(err.value)
    assert not out.exists()  # nothing was started


def test_missing_inputs_are_named(tiny_qwen_path, tmp_path) -> None:
    with pytest.raises(ValueError) as err:
        run_training(tmp_path / "nope.jsonl", tmp_path / "no_model", tmp_path / "out",
                     ModelConfig(hf_path=str(tiny_qwen_path)), TrainerConfig())
    assert "pairs:" in str(err.value) and "init:" in str(err.value)


def test_train_command_line_goes_through_the_config_loader(tiny_qwen_path) -> None:
    from nemo_drift.config.loader import ConfigError, load_config

    paths, overrides = split_job_args(["pairs=p.jsonl", f"init={tiny_qwen_path}", "out=/o", "trainer.lr=1e-6",
                                       "++trainer.loss=rpo", "model.seq_length=64"])
    assert paths == {"pairs": "p.jsonl", "init": str(tiny_qwen_path), "out": "/o"}
    cfg = load_config(overrides, groups=("model", "trainer"))
    assert cfg.trainer.lr == 1e-6 and cfg.trainer.loss == "rpo" and cfg.model.seq_length == 64
    assert cfg.model.hf_path == str(tiny_qwen_path)  # init is an HF folder and no override named the model
    assert cfg.trainer.beta == 0.1  # the schema's default, as for `nemo-drift run`
    _, named = split_job_args(["pairs=p", "init=/ckpt", "out=o", "model=tiny_qwen2"])
    assert named == ["model=tiny_qwen2"]
    with pytest.raises(ConfigError, match="trainer.lrr"):
        load_config(split_job_args(["pairs=p", "init=i", "out=o", "trainer.lrr=1"])[1])
    with pytest.raises(ValueError, match="out: required"):
        split_job_args(["pairs=p", "init=i"])


def test_pairs_and_reference_files_round_trip(pairs_file) -> None:
    pairs = read_tokenized_pairs(pairs_file)
    assert [p.id for p in pairs] == ["a", "b"] and pairs[0].rejected_ids == [4, 5]
    ref_path = ref_logps_path(pairs_file)
    assert ref_path.name == "pairs.ref_logps.jsonl"
    write_ref_logps(ref_path, [RefLogps("a", -1.5, -2.0, 1, 2, "/m", 32)])
    assert read_ref_logps(ref_path)["a"].ref_rejected_logp == -2.0
    with pytest.raises(ValueError, match="no reference log-probs for pair 'b'"):
        read_ref_logps(ref_path, ["a", "b"])


def test_pairs_file_errors_name_the_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"schema_version": 1, "id": "x", "prompt_ids": [1], "chosen_ids": [2]}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: missing field 'rejected_ids'"):
        read_tokenized_pairs(path)
    path.write_text(json.dumps({"schema_version": 9, "id": "x"}) + "\n")
    with pytest.raises(ValueError, match="schema_version 9"):
        read_tokenized_pairs(path)


def test_data_order_is_seeded_and_sharded() -> None:
    assert epoch_order(10, seed=42, epoch=0) == epoch_order(10, seed=42, epoch=0)
    assert epoch_order(10, seed=42, epoch=0) != epoch_order(10, seed=42, epoch=1)
    assert sorted(epoch_order(10, seed=42, epoch=0)) == list(range(10))
    cfg = TrainerConfig(global_batch_size=4, micro_batch_size=1)
    order = list(range(100, 112))
    assert rank_microbatch_indices(order, 1, cfg, dp_rank=0, dp_size=2) == [[104], [105]]
    assert rank_microbatch_indices(order, 1, cfg, dp_rank=1, dp_size=2) == [[106], [107]]
    cfg2 = TrainerConfig(global_batch_size=4, micro_batch_size=2)
    assert rank_microbatch_indices(order, 0, cfg2, dp_rank=0, dp_size=1) == [[100, 101], [102, 103]]
