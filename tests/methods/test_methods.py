"""Pair construction of DRIFT, SPIN and IterDPO on hand-built records and samples."""
from __future__ import annotations

from typing import Sequence

import pytest

from fakes import FakeSample as S
from nemo_drift.config.method import MethodConfig
from nemo_drift.data.records import DsatExample, Provenance, SatExample, SeedPair
from nemo_drift.methods import MethodInputs, SamplePolicy, get_method
from nemo_drift.methods.reward import RewardFn
from nemo_drift.methods.seed import warm_start_pairs

PROV = Provenance("hand.jsonl", "chat_logs", 0, "c1")
CTX = [{"role": "user", "content": "Write a haiku about rain."}]
DRIFT, SPIN, ITERDPO = get_method("drift"), get_method("spin"), get_method("iterdpo")


def dsat(id_: str, feedback: str = "That's not 5-7-5.", split: str = "train") -> DsatExample:
    return DsatExample(id_, CTX, "Rain rain rain.", feedback, None, split, PROV)


def inputs(dsat: Sequence[DsatExample] = (), sat: Sequence[SatExample] = (), guided: bool = True,
           policy: SamplePolicy = SamplePolicy(), reward: RewardFn | None = None) -> MethodInputs:
    return MethodInputs(settings=MethodConfig(guided=guided), dsat=dsat, sat=sat, policy=policy, reward=reward)


def test_drift_rejected_is_the_real_dsat_reply_and_chosen_the_guided_sample():
    records = [dsat("a"), dsat("b", split="heldout")]
    needs = DRIFT.sampling_needs(inputs(records))
    assert [n.prompt_id for n in needs] == ["a:guided"]  # held-out never sampled for training
    result = DRIFT.build_pairs(inputs(records), {"a:guided": [S("a:guided", 0, "Soft rain on the roof")]})
    (pair,) = result.pairs
    assert (pair.prompt, pair.chosen, pair.rejected, pair.origin) == (CTX, "Soft rain on the roof", "Rain rain rain.", "drift")
    assert pair.meta["prompt_kind"] == "guided"


def test_drift_unguided_and_ultrafeedback_sample_from_the_context():
    assert [n.prompt_id for n in DRIFT.sampling_needs(inputs([dsat("a")], guided=False))] == ["a:unguided"]
    # No feedback (UltraFeedback): even guided=True uses the context; the sample replaces the chosen.
    assert [n.kind for n in DRIFT.sampling_needs(inputs([dsat("u", feedback="")], guided=True))] == ["unguided"]


def test_drift_keeps_cut_samples_by_default_and_drops_them_when_asked():
    records = [dsat("a"), dsat("b"), dsat("c"), dsat("d")]
    samples = {"a:guided": [S("a:guided", 0, "", empty=True)],
               "b:guided": [S("b:guided", 0, "cut off mid", truncated=True)],
               "c:guided": [S("c:guided", 0, "Rain rain rain.")]}
    kept = DRIFT.build_pairs(inputs(records), samples)  # the paper's code keeps every sample
    (pair,) = kept.pairs
    assert (pair.id, pair.chosen, pair.chosen_unfinished, pair.rejected_unfinished) == ("b", "cut off mid", True, False)
    assert kept.skipped == [("a", "empty_sample"), ("c", "chosen_equals_rejected"), ("d", "no_sample")]
    assert kept.counts()["unfinished_kept"] == 1
    dropped = DRIFT.build_pairs(inputs(records, policy=SamplePolicy(on_truncated="drop")), samples)
    assert dropped.pairs == []
    assert dropped.skipped == [("a", "empty_sample"), ("b", "truncated_sample"), ("c", "chosen_equals_rejected"),
                               ("d", "no_sample")]
    assert dropped.counts()["skipped_by_reason"]["no_sample"] == 1 and dropped.counts()["unfinished_kept"] == 0


def test_spin_marks_a_cut_sample_on_the_rejected_side():
    sat = [SatExample("s", CTX, "Soft rain falls", "train", PROV)]
    (pair,) = SPIN.build_pairs(inputs(sat=sat), {"s:unguided": [S("s:unguided", 0, "policy te", truncated=True)]}).pairs
    assert (pair.chosen_unfinished, pair.rejected_unfinished) == (False, True)


def test_drift_takes_the_first_usable_sample_in_index_order():
    samples = {"a:guided": [S("a:guided", 1, "second"), S("a:guided", 0, "", empty=True), S("a:guided", 2, "third")]}
    assert DRIFT.build_pairs(inputs([dsat("a")]), samples).pairs[0].chosen == "second"


def test_spin_chosen_is_the_sat_reply_and_rejected_the_sample():
    sat = [SatExample("s", CTX, "Soft rain falls", "train", PROV)]
    assert [n.prompt_id for n in SPIN.sampling_needs(inputs(sat=sat))] == ["s:unguided"]
    (pair,) = SPIN.build_pairs(inputs(sat=sat), {"s:unguided": [S("s:unguided", 0, "policy text")]}).pairs
    assert (pair.chosen, pair.rejected, pair.origin) == ("Soft rain falls", "policy text", "spin")


def test_spin_never_samples_guided_whatever_method_guided_says():
    sat = [SatExample("s", CTX, "Soft rain falls", "train", PROV)]
    for guided in (True, False):
        assert [n.kind for n in SPIN.sampling_needs(inputs(sat=sat, guided=guided))] == ["unguided"]


def test_iterdpo_wildfeedback_guided_over_unguided():
    needs = ITERDPO.sampling_needs(inputs([dsat("a")]))
    assert [n.prompt_id for n in needs] == ["a:guided", "a:unguided"]
    samples = {"a:guided": [S("a:guided", 0, "better")], "a:unguided": [S("a:unguided", 0, "plain")]}
    (pair,) = ITERDPO.build_pairs(inputs([dsat("a")]), samples).pairs
    assert (pair.chosen, pair.rejected) == ("better", "plain")
    assert pair.rejected != dsat("a").rejected  # both sides are samples, never the DSAT reply


def test_iterdpo_ultrafeedback_ranks_two_samples_with_the_reward_model():
    ex = dsat("u", feedback="")
    (need,) = ITERDPO.sampling_needs(inputs([ex]))
    assert need.n == 2
    samples = {"u:unguided": [S("u:unguided", 0, "short"), S("u:unguided", 1, "a longer reply")]}
    by_length = lambda prompt, replies: [float(len(r)) for r in replies]  # noqa: E731
    (pair,) = ITERDPO.build_pairs(inputs([ex], reward=by_length), samples).pairs
    assert (pair.chosen, pair.rejected) == ("a longer reply", "short")
    assert pair.meta["rewards"] == [14.0, 5.0]
    with pytest.raises(ValueError, match="method.reward_model"):
        ITERDPO.build_pairs(inputs([ex], reward=None), samples)


def test_iterdpo_unguided_ranks_two_context_samples_and_never_asks_for_a_guided_prompt():
    examples = [dsat("a"), dsat("u", feedback="")]
    needs = ITERDPO.sampling_needs(inputs(examples, guided=False))
    assert [(n.prompt_id, n.kind, n.n) for n in needs] == [("a:unguided", "unguided", 2), ("u:unguided", "unguided", 2)]
    samples = {"a:unguided": [S("a:unguided", 0, "short"), S("a:unguided", 1, "a longer reply")]}
    by_length = lambda prompt, replies: [float(len(r)) for r in replies]  # noqa: E731
    (pair,) = ITERDPO.build_pairs(inputs([dsat("a")], guided=False, reward=by_length), samples).pairs
    assert (pair.chosen, pair.rejected, pair.meta["ranking"]) == ("a longer reply", "short", "reward_model")
    assert ITERDPO.setting_problems(MethodConfig(name="iterdpo", guided=False))  # no reward model: refused
    assert ITERDPO.setting_problems(MethodConfig(name="iterdpo", guided=False, reward_model="/rm")) == []


def test_warm_start_pairs_keep_seed_sides():
    (pair,) = warm_start_pairs([SeedPair("k", CTX, "revision", "dsat reply", PROV)])
    assert (pair.chosen, pair.rejected, pair.origin) == ("revision", "dsat reply", "seed")
