"""IterDPO baseline: both sides are policy samples.

Guided (default; WildFeedback examples with user feedback): chosen = a sample from the guided prompt,
rejected = a sample from the context alone.
Unguided (`method.guided=false`, the paper's Table 5 baseline; paper C.2: unguided variants "generate
responses solely from the original user prompt, matching SPIN's configuration"), and any example
without feedback (UltraFeedback): two samples from the context alone, ranked by a reward model; the
higher-scoring one is chosen, as IterDPO does on UltraFeedback. The reward model comes in as
`MethodInputs.reward`, a function, so this module stays pure (the controller builds it lazily from
`method.reward_model`; see `nemo_drift.eval.reward`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from nemo_drift.config.method import MethodConfig
from nemo_drift.data.records import DsatExample
from nemo_drift.methods.base import (MethodInputs, PairBuildResult, SampleLike, SamplingNeed, train_examples,
                                     usable_samples)
from nemo_drift.methods.registry import Method, register


def _guided(example: DsatExample, guided: bool) -> bool:
    """Whether this example's chosen side comes from the guided prompt."""
    return guided and bool(example.feedback.strip())


@register("iterdpo")
class IterDpo(Method):
    """Reads the DSAT examples; honours `method.guided` and `method.reward_model` (the reward-ranked
    pairs: unguided runs and examples without feedback)."""

    honours = frozenset({"guided", "reward_model"})

    def setting_problems(self, settings: MethodConfig) -> list[str]:
        """The unguided variant ranks every pair with a reward model, so it needs one before any sampling."""
        if not settings.guided and not settings.reward_model:
            return ["method.guided: false makes IterDPO rank two unguided samples with a reward model (paper C.2, "
                    "as on UltraFeedback); set method.reward_model to a local reward model folder"]
        return []

    def sampling_needs(self, inputs: MethodInputs) -> list[SamplingNeed]:
        """Guided + unguided prompts per guided example; 2 unguided samples per reward-ranked one."""
        needs = []
        guided = inputs.settings.guided
        for ex in train_examples(inputs.dsat):
            if _guided(ex, guided):
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
            if _guided(ex, inputs.settings.guided):
                guided, reason_g = usable_samples(samples.get(f"{ex.id}:guided", []), policy)
                unguided, reason_u = usable_samples(samples.get(f"{ex.id}:unguided", []), policy)
                if reason_g or reason_u:
                    result.skip(ex.id, reason_g or reason_u)
                    continue
                chosen, rejected, meta = guided[0], unguided[0], {"ranking": "guided_over_unguided"}
            else:
                if reward is None:
                    raise ValueError("method.reward_model: IterDPO without a guided prompt (method.guided=false, "
                                     "or examples without user feedback) ranks two samples with a reward model; "
                                     "set method.reward_model to a local path")
                kept, reason = usable_samples(samples.get(f"{ex.id}:unguided", []), policy)
                if reason or len(kept) < 2:
                    result.skip(ex.id, reason or "fewer_than_two_samples")
                    continue
                a, b = kept[0], kept[1]
                score_a, score_b = reward(list(ex.context), [a.text, b.text])
                chosen, rejected = (a, b) if score_a >= score_b else (b, a)
                meta = {"ranking": "reward_model", "rewards": sorted([score_a, score_b], reverse=True)}
            result.add(ex, chosen, rejected, origin="iterdpo", meta=meta)
        return result
