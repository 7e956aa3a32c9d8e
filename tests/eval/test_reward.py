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
