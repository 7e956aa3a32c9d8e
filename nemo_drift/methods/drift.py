"""DRIFT (the paper's Algorithm 1): rejected = the real DSAT reply, chosen = a fresh policy sample.

The chosen reply is sampled from the guided prompt (context + DSAT reply + the user's feedback + an
improvement instruction), or from the context alone with `method.guided=false` (the unguided
ablation). Records without feedback (UltraFeedback) always use the context alone: there the fresh
sample replaces the dataset's original chosen reply. The DPO prompt is the pre-DSAT context.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from nemo_drift.data.records import DsatExample
from nemo_drift.methods.base import MethodInputs, PairBuildResult, SampleLike, SamplingNeed, train_examples
from nemo_drift.methods.registry import Method, register


def _kind(example: DsatExample, guided: bool) -> str:
    return "guided" if guided and example.feedback.strip() else "unguided"


@register("drift")
class Drift(Method):
    """Reads the DSAT examples; honours `method.guided`."""

    honours = frozenset({"guided"})

    def sampling_needs(self, inputs: MethodInputs) -> list[SamplingNeed]:
        """One chosen-side prompt per training DSAT example."""
        guided = inputs.settings.guided
        return [SamplingNeed(f"{ex.id}:{_kind(ex, guided)}", _kind(ex, guided), ex)
                for ex in train_examples(inputs.dsat)]

    def build_pairs(self, inputs: MethodInputs,
                    samples_by_prompt_id: Mapping[str, Sequence[SampleLike]]) -> PairBuildResult:
        """(context, chosen = first usable sample, rejected = DSAT reply) for each training DSAT example."""
        result = PairBuildResult()
        for need in self.sampling_needs(inputs):
            sample = result.first_usable(need, samples_by_prompt_id, inputs.policy)
            if sample is not None:
                result.add(need.example, chosen=sample, rejected=need.example.rejected, origin="drift",
                           meta={"prompt_kind": need.kind, "sample_index": sample.sample_index})
        return result
