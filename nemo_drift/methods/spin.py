"""SPIN baseline: chosen = the real SAT reply, rejected = a policy sample for the same context.

The context is the conversation before the SAT-judged reply (WildFeedback); on UltraFeedback the
SAT catalogue holds the dataset's chosen reply, and the sample replaces its rejected one.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from nemo_drift.data.records import PreferencePair, SatExample
from nemo_drift.methods.base import (PairBuildResult, SampleLike, SamplePolicy, SamplingNeed, train_examples,
                                     usable_samples)


def sampling_needs(sat: Sequence[SatExample]) -> list[SamplingNeed]:
    """One rejected-side prompt (the context alone) per training SAT example."""
    return [SamplingNeed(f"{ex.id}:unguided", "unguided", ex) for ex in train_examples(sat)]


def build_pairs(sat: Sequence[SatExample], samples: Mapping[str, Sequence[SampleLike]],
                policy: SamplePolicy = SamplePolicy()) -> PairBuildResult:
    """(context, chosen = SAT reply, rejected = first usable sample) for each training SAT example."""
    result = PairBuildResult()
    for need in sampling_needs(sat):
        example = need.example
        kept, reason = usable_samples(samples.get(need.prompt_id, []), policy)
        if reason:
            result.skip(example.id, reason)
            continue
        rejected = kept[0].text
        if rejected.strip() == example.reply.strip():
            result.skip(example.id, "chosen_equals_rejected")
            continue
        result.pairs.append(PreferencePair(
            id=example.id, prompt=list(example.context), chosen=example.reply, rejected=rejected, origin="spin",
            meta={"sample_index": kept[0].sample_index}))
    return result
