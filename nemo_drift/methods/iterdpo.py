"""IterDPO baseline: both sides are policy samples.

WildFeedback (examples with user feedback): chosen = a sample from the guided prompt, rejected = a
sample from the context alone. UltraFeedback (no feedback): two samples from the same prompt, ranked
by a reward model; the higher-scoring one is chosen. The reward model is passed in as a function so
this module stays pure (the controller loads it; see `nemo_drift.eval.reward`).
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

from nemo_drift.data.records import DsatExample, Message, PreferencePair
from nemo_drift.methods.base import (PairBuildResult, SampleLike, SamplePolicy, SamplingNeed, train_examples,
                                     usable_samples)

RewardFn = Callable[[list[Message], list[str]], list[float]]
"""(prompt messages, candidate replies) -> one scalar reward per reply."""


def _has_feedback(example: DsatExample) -> bool:
    return bool(example.feedback.strip())


def sampling_needs(dsat: Sequence[DsatExample]) -> list[SamplingNeed]:
    """Guided + unguided prompts per example with feedback; 2 unguided samples per example without."""
    needs = []
    for ex in train_examples(dsat):
        if _has_feedback(ex):
            needs += [SamplingNeed(f"{ex.id}:guided", "guided", ex), SamplingNeed(f"{ex.id}:unguided", "unguided", ex)]
        else:
            needs.append(SamplingNeed(f"{ex.id}:unguided", "unguided", ex, n=2))
    return needs


def _pair(ex: DsatExample, chosen: str, rejected: str, meta: dict) -> PreferencePair:
    return PreferencePair(id=ex.id, prompt=list(ex.context), chosen=chosen, rejected=rejected, origin="iterdpo",
                          meta=meta)


def build_pairs(dsat: Sequence[DsatExample], samples: Mapping[str, Sequence[SampleLike]],
                reward: Optional[RewardFn] = None, policy: SamplePolicy = SamplePolicy()) -> PairBuildResult:
    """One pair per training example; see the module docstring for which samples go where."""
    result = PairBuildResult()
    for ex in train_examples(dsat):
        if _has_feedback(ex):
            guided, reason_g = usable_samples(samples.get(f"{ex.id}:guided", []), policy)
            unguided, reason_u = usable_samples(samples.get(f"{ex.id}:unguided", []), policy)
            if reason_g or reason_u:
                result.skip(ex.id, reason_g or reason_u)
                continue
            chosen, rejected, meta = guided[0].text, unguided[0].text, {"ranking": "guided_over_unguided"}
        else:
            if reward is None:
                raise ValueError("method.reward_model: IterDPO on examples without user feedback (UltraFeedback) "
                                 "ranks two samples with a reward model; set method.reward_model to a local path")
            kept, reason = usable_samples(samples.get(f"{ex.id}:unguided", []), policy)
            if reason or len(kept) < 2:
                result.skip(ex.id, reason or "fewer_than_two_samples")
                continue
            a, b = kept[0].text, kept[1].text
            score_a, score_b = reward(list(ex.context), [a, b])
            chosen, rejected = (a, b) if score_a >= score_b else (b, a)
            meta = {"ranking": "reward_model", "rewards": sorted([score_a, score_b], reverse=True)}
        if chosen.strip() == rejected.strip():
            result.skip(ex.id, "chosen_equals_rejected")
            continue
        result.pairs.append(_pair(ex, chosen, rejected, meta))
    return result
