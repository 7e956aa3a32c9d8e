"""IterDPO on UltraFeedback-style records with a real (tiny, locally built) reward model: the sample the
model scores higher becomes the chosen side."""
from __future__ import annotations

import pytest
import torch

from fakes import FakeSample as S
from nemo_drift.data.records import DsatExample, Provenance
from nemo_drift.eval.reward import RewardModel
from nemo_drift.config.method import MethodConfig
from nemo_drift.methods import MethodInputs, get_method


@pytest.fixture(scope="module")
def reward_model_path(tmp_path_factory, tiny_qwen_path):
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForSequenceClassification

    path = tmp_path_factory.mktemp("rm")
    tok = AutoTokenizer.from_pretrained(tiny_qwen_path)
    cfg = Qwen2Config(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, num_labels=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    Qwen2ForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.slow
def test_iterdpo_ultrafeedback_takes_the_higher_reward(reward_model_path):
    reward = RewardModel(reward_model_path)
    prompt = [{"role": "user", "content": "Name a prime number."}]
    replies = ["Seven is prime.", "The moon is made of cheese, obviously and entirely."]
    scores = reward(prompt, replies)
    assert len(scores) == 2 and scores[0] != scores[1]
    ex = DsatExample("u1", prompt, "orig rejected", "", None, "train", Provenance("f", "ultrafeedback_binarized", 0, "u1"))
    samples = {"u1:unguided": [S("u1:unguided", 0, replies[0]), S("u1:unguided", 1, replies[1])]}
    inputs = MethodInputs(settings=MethodConfig(name="iterdpo"), dsat=[ex], reward=reward)
    (pair,) = get_method("iterdpo").build_pairs(inputs, samples).pairs
    best = replies[scores.index(max(scores))]
    assert pair.chosen == best and pair.rejected != best
    # Same samples in the other order: the choice follows the scores, not the position.
    swapped = {"u1:unguided": [S("u1:unguided", 0, replies[1]), S("u1:unguided", 1, replies[0])]}
    assert get_method("iterdpo").build_pairs(inputs, swapped).pairs[0].chosen == best


def test_reward_model_path_must_be_local_and_single_output(tmp_path):
    with pytest.raises(FileNotFoundError, match="method.reward_model"):
        RewardModel(tmp_path / "missing")
