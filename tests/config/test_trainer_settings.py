"""TrainerConfig: the paper's defaults, validation naming the key, and the step/microbatch arithmetic.

Named apart from tests/megatron/test_trainer_config.py: pytest's default import mode needs unique
test-file basenames across folders without __init__.py.
"""
from __future__ import annotations


import pytest

from nemo_drift.config.trainer import TrainerConfig


def test_config_defaults_are_the_papers() -> None:
    cfg = TrainerConfig()
    assert (cfg.lr, cfg.beta, cfg.optimizer, cfg.warmup_ratio, cfg.rpo_alpha, cfg.seed) == (5e-7, 0.1, "rmsprop", 0.1, 0.001, 42)
    assert cfg.validate(dp_size=1) == []


@pytest.mark.parametrize("overrides,key", [
    (dict(global_batch_size=6, micro_batch_size=4), "trainer.global_batch_size: 6 is not divisible by micro_batch_size 4 x data-parallel size 1"),
    (dict(loss="kto"), "trainer.loss"),
    (dict(optimizer="sgd"), "trainer.optimizer"),
    (dict(lr=0.0), "trainer.lr"),
    (dict(warmup_ratio=1.5), "trainer.warmup_ratio"),
    (dict(micro_batch_size=0), "trainer.micro_batch_size"),
    (dict(reference="cached"), "trainer.reference"),
    (dict(reference_path="/base"), "trainer.reference_path"),  # only read with reference_model="base"
    (dict(max_steps=0), "trainer.max_steps"),
    (dict(use_distributed_optimizer="yes"), "trainer.use_distributed_optimizer"),
])
def test_bad_config_names_the_key(overrides: dict, key: str) -> None:
    errors = TrainerConfig(**overrides).validate(dp_size=1)
    assert any(key in e for e in errors), errors


def test_global_batch_accounts_for_data_parallel() -> None:
    cfg = TrainerConfig(global_batch_size=4, micro_batch_size=1)
    assert cfg.validate(dp_size=2) == [] and cfg.num_microbatches(2) == 2
    assert "data-parallel size 3" in cfg.validate(dp_size=3)[0]
