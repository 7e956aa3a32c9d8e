"""SPIN baseline: chosen = the real SAT reply, rejected = a policy sample for the same context.

The context is the conversation before the SAT-judged reply (WildFeedback); on UltraFeedback the
SAT catalogue holds the dataset's chosen reply, and the sample replaces its rejected one. SPIN never
samples from a guided prompt, so `method.guided` means nothing to it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from nemo_drift.methods.base import MethodInputs, PairBuildResult, SampleLike, SamplingNeed, train_examples
from nemo_drift.methods.registry import Method, register


@register("spin")
class Spin(Method):
    """Reads the SAT catalogue; honours no setting beyond the common ones."""

    def sampling_needs(self, inputs: MethodInputs) -> list[SamplingNeed]:
        """One rejected-side prompt (the context alone) per training SAT example."""
        return [SamplingNeed(f"{ex.id}:unguided", "unguided", ex) for ex in train_examples(inputs.sat)]

    def build_pairs(self, inputs: MethodInputs,
                    samples_by_prompt_id: Mapping[str, Sequence[SampleLike]]) -> PairBuildResult:
        """(context, chosen = SAT reply, rejected = first usable sample) for each training SAT example."""
        result = PairBuildResult()
        for need in self.sampling_needs(inputs):
            sample = result.first_usable(need, samples_by_prompt_id, inputs.policy)
            if sample is not None:
                result.add(need.example, chosen=need.example.reply, rejected=sample, origin="spin",
                           meta={"sample_index": sample.sample_index})
        return result
