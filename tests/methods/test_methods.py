"""Pair construction of DRIFT, SPIN and IterDPO on hand-built records and samples."""
from __future__ import annotations

import pytest

from fakes import FakeSample as S
from nemo_drift.data.records import DsatExample, Provenance, SatExample, SeedPair
from nemo_drift.methods import drift, iterdpo, spin
from nemo_drift.methods.base import SamplePolicy
from nemo_drift.methods.seed import warm_start_pairs

PROV = Provenance("hand.jsonl", "chat_logs", 0, "c1")
CTX = [{"role": "user", "content": "Write a haiku about rain."}]


def dsat(id_: str, feedback: str = "That's not 5-7-5.", split: str = "train") -> DsatExample:
    return DsatExample(id_, CTX, "Rain rain rain.", feedback, None, split, PROV)


def test_drift_rejected_is_the_real_dsat_reply_and_chosen_the_guided_sample():
    records = [dsat("a"), dsat("b", split="heldout")]
    needs = drift.sampling_needs(records)
    assert [n.prompt_id for n in needs] == ["a:guided"]  # held-out never sampled for training
    result = drift.build_pairs(records, {"a:guided": [S("a:guided", 0, "Soft rain on the roof")]})
    (pair,) = result.pairs
    assert (pair.prompt, pair.chosen, pair.rejected, pair.origin) == (CTX, "Soft rain on the roof", "Rain rain rain.", "drift")
    assert pair.meta["prompt_kind"] == "guided"


def test_drift_unguided_and_ultrafeedback_sample_from_the_context():
    assert [n.prompt_id for n in drift.sampling_needs([dsat("a")], guided=False)] == ["a:unguided"]
    # No feedback (UltraFeedback): even guided=True uses the context; the sample replaces the chosen.
    assert [n.kind for n in drift.sampling_needs([dsat("u", feedback="")], guided=True)] == ["unguided"]


def test_drift_skips_flagged_samples_with_reasons_and_keeps_them_when_asked():
    records = [dsat("a"), dsat("b"), dsat("c"), dsat("d")]
    samples = {"a:guided": [S("a:guided", 0, "", empty=True)],
               "b:guided": [S("b:guided", 0, "cut off mid", truncated=True)],
               "c:guided": [S("c:guided", 0, "Rain rain rain.")]}
    result = drift.build_pairs(records, samples)
    assert result.pairs == []
    assert result.skipped == [("a", "empty_sample"), ("b", "truncated_sample"), ("c", "chosen_equals_rejected"),
                              ("d", "no_sample")]
    assert result.counts()["skipped_by_reason"]["no_sample"] == 1
    kept = drift.build_pairs(records, samples, policy=SamplePolicy(on_truncated="keep"))
    assert [p.id for p in kept.pairs] == ["b"]


def test_drift_takes_the_first_usable_sample_in_index_order():
    samples = {"a:guided": [S("a:guided", 1, "second"), S("a:guided", 0, "", empty=True), S("a:guided", 2, "third")]}
    assert drift.build_pairs([dsat("a")], samples).pairs[0].chosen == "second"


def test_spin_chosen_is_the_sat_reply_and_rejected_the_sample():
    sat = [SatExample("s", CTX, "Soft rain falls", "train", PROV)]
    assert [n.prompt_id for n in spin.sampling_needs(sat)] == ["s:unguided"]
    (pair,) = spin.build_pairs(sat, {"s:unguided": [S("s:unguided", 0, "policy text")]}).pairs
    assert (pair.chosen, pair.rejected, pair.origin) == ("Soft rain falls", "policy text", "spin")


def test_iterdpo_wildfeedback_guided_over_unguided():
    needs = iterdpo.sampling_needs([dsat("a")])
    assert [n.prompt_id for n in needs] == ["a:guided", "a:unguided"]
    samples = {"a:guided": [S("a:guided", 0, "better")], "a:unguided": [S("a:unguided", 0, "plain")]}
    (pair,) = iterdpo.build_pairs([dsat("a")], samples).pairs
    assert (pair.chosen, pair.rejected) == ("better", "plain")
    assert pair.rejected != dsat("a").rejected  # both sides are samples, never the DSAT reply


def test_iterdpo_ultrafeedback_ranks_two_samples_with_the_reward_model():
    ex = dsat("u", feedback="")
    (need,) = iterdpo.sampling_needs([ex])
    assert need.n == 2
    samples = {"u:unguided": [S("u:unguided", 0, "short"), S("u:unguided", 1, "a longer reply")]}
    by_length = lambda prompt, replies: [float(len(r)) for r in replies]  # noqa: E731
    (pair,) = iterdpo.build_pairs([ex], samples, reward=by_length).pairs
    assert (pair.chosen, pair.rejected) == ("a longer reply", "short")
    assert pair.meta["rewards"] == [14.0, 5.0]
    with pytest.raises(ValueError, match="method.reward_model"):
        iterdpo.build_pairs([ex], samples, reward=None)


def test_warm_start_pairs_keep_seed_sides():
    (pair,) = warm_start_pairs([SeedPair("k", CTX, "revision", "dsat reply", PROV)])
    assert (pair.chosen, pair.rejected, pair.origin) == ("revision", "dsat reply", "seed")
