"""IterDPO baseline: both sides are policy samples.

WildFeedback (examples with user feedback): chosen = a sample from the guided prompt, rejected = a
sample from the context alone. UltraFeedback (no feedback): two samples from the same prompt, ranked
by a reward model; the higher-scoring one is chosen. The reward model comes in as
`MethodInputs.reward`, a function, so this module stays pure (the controller builds it lazily from
`method.reward_model`; see `nemo_drift.eval.reward`). The chosen side is always guided: IterDPO does
not honour `method.guided`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from nemo_drift.data.records import DsatExample
from nemo_drift.methods.base import (MethodInputs, PairBuildResult, SampleLike, SamplingNeed, train_examples,
                                     usable_samples)
from nemo_drift.methods.registry import Method, register


def _has_feedback(example: DsatExample) -> bool:
    return bool(example.feedback.strip())


@register("iterdpo")
class IterDpo(Method):
    """Reads the DSAT examples; honours `method.reward_model` (examples without feedback)."""

    honours = frozenset({"reward_model"})

    def sampling_needs(self, inputs: MethodInputs) -> list[SamplingNeed]:
        """Guided + unguided prompts per example with feedback; 2 unguided samples per example without."""
        needs = []
        for ex in train_examples(inputs.dsat):
            if _has_feedback(ex):
                needs += [SamplingNeed(f"{ex.id}:guided", "guided", ex),
                          SamplingNeed(f"{ex.id}:unguided", "unguided", ex)]
            else:
                needs.append(SamplingNeed(f"{ex.id}:unguided", "unguided", ex, n=2))
        return needs

    def build_pairs(self, inputs: MethodInputs,
                    samples_by_prompt_id: Mapping[str, Sequence[SampleLike]]) -> PairBuildResult:
        """One pair per training example; see the module docstring for which samples go where."""
        samples, policy, reward = samples_by_prompt_id, inputs.policy, inputs.reward
        result = PairBuildResult()
        for ex in train_examples(inputs.dsat):
            if _has_feedback(ex):
                guided, reason_g = usable_samples(samples.get(f"{ex.id}:guided", []), policy)
                unguided, reason_u = usable_samples(samples.get(f"{ex.id}:unguided", []), policy)
                if reason_g or reason_u:
                    result.skip(ex.id, reason_g or reason_u)
                    continue
                chosen, rejected, meta = guided[0].text, unguided[0].text, {"ranking": "guided_over_unguided"}
            else:
                if reward is None:
                    raise ValueError("method.reward_model: IterDPO on examples without user feedback "
                                     "(UltraFeedback) ranks two samples with a reward model; set "
                                     "method.reward_model to a local path")
                kept, reason = usable_samples(samples.get(f"{ex.id}:unguided", []), policy)
                if reason or len(kept) < 2:
                    result.skip(ex.id, reason or "fewer_than_two_samples")
                    continue
                a, b = kept[0].text, kept[1].text
                score_a, score_b = reward(list(ex.context), [a, b])
                chosen, rejected = (a, b) if score_a >= score_b else (b, a)
                meta = {"ranking": "reward_model", "rewards": sorted([score_a, score_b], reverse=True)}
            result.add(ex, chosen, rejected, origin="iterdpo", meta=meta)
        return result
