"""A sampler that crashes or stalls fails `generate` with its log tail instead of hanging."""
from __future__ import annotations

import json
import shutil

import pytest

from nemo_drift.config.generation import GenerationConfig
from nemo_drift.generation.client import GenerationError, generate
from nemo_drift.generation.records import SampleRequest

REQUESTS = [SampleRequest("a", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")]


@pytest.mark.slow
def test_crashing_sampler_raises_with_log_tail(smollm2_path, gen_python, tmp_path):
    broken = tmp_path / "broken_model"
    shutil.copytree(smollm2_path, broken, ignore=shutil.ignore_patterns("*.safetensors"))
    (broken / "config.json").write_text(json.dumps({"architectures": ["NoSuchForCausalLM"], "model_type": "nosuch"}))
    cfg = GenerationConfig(python=str(gen_python), max_tokens=4, shard_timeout_s=300)
    with pytest.raises(GenerationError, match=r"exited with code [1-9]") as err:
        generate(REQUESTS, broken, tmp_path / "out", cfg)
    assert "replica_0.log" in str(err.value) and "Error" in str(err.value)


def test_stalled_sampler_is_killed_after_shard_timeout(smollm2_path, gen_python, tmp_path):
    cfg = GenerationConfig(python=str(gen_python), max_tokens=4, shard_timeout_s=1.5)
    with pytest.raises(GenerationError, match="no progress for 2s"):
        generate(REQUESTS, smollm2_path, tmp_path / "out", cfg)


def test_invalid_config_is_refused_before_launch(tmp_path):
    with pytest.raises(ValueError, match=r"generation.top_p: 1.5 is not in \(0, 1\]"):
        generate(REQUESTS, tmp_path, tmp_path / "out", GenerationConfig(top_p=1.5))
