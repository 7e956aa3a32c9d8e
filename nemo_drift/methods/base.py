"""What every pair-construction method shares: the inputs it is given, the prompts it asks the
sampler for, the samples it gets back, and the result it returns (pairs + every skipped example with
its reason).

Methods are pure functions of `MethodInputs` and samples: no torch, no I/O, no tokenizer. The
controller renders each `SamplingNeed` through the policy's chat template (nemo_drift.data.prompts),
runs the sampler, and hands the samples back by prompt id.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Protocol, Sequence

from nemo_drift.config.generation import GenerationConfig
from nemo_drift.data.records import DsatExample, Message, PreferencePair, SatExample
from nemo_drift.generation.records import keep_sample
from nemo_drift.methods.reward import RewardFn

PromptKind = Literal["guided", "unguided"]


@dataclass(frozen=True)
class SamplingNeed:
    """One prompt a method needs samples for."""

    prompt_id: str
    """Stable id: `<example id>:<kind>`; samples come back under it."""
    kind: PromptKind
    """"guided" = context + DSAT reply + feedback + instruction; "unguided" = context only."""
    example: DsatExample | SatExample
    """The record the prompt is built from."""
    n: int = 1
    """Samples wanted for this prompt."""

    @property
    def context(self) -> list[Message]:
        return self.example.context


class SampleLike(Protocol):
    """The fields of `nemo_drift.generation.records.Sample` a method reads."""

    prompt_id: str
    sample_index: int
    text: str
    empty: bool
    truncated: bool


@dataclass
class SamplePolicy:
    """What to do with flagged samples: `generation.on_empty` / `generation.on_truncated`, with their
    defaults."""

    on_empty: str = GenerationConfig.on_empty
    on_truncated: str = GenerationConfig.on_truncated


@dataclass(frozen=True, kw_only=True)
class MethodInputs:
    """Everything a method may read. Every method takes this one type, so the controller calls each the
    same way and a new method needs no controller change."""

    settings: Any
    """The `method.*` settings (a `nemo_drift.config.method.MethodConfig`; typed loosely so this layer
    imports no config). A method reads only the settings it declares in `Method.honours`."""
    dsat: Sequence[DsatExample] = ()
    """DSAT examples (WildFeedback: the judged reply with the user's feedback; UltraFeedback: no feedback)."""
    sat: Sequence[SatExample] = ()
    """The SAT catalogue: replies users were satisfied with, with their context."""
    policy: SamplePolicy = field(default_factory=SamplePolicy)
    """What to do with empty or truncated samples."""
    reward: Optional[RewardFn] = None
    """Scores replies to a prompt; None when `method.reward_model` is unset. The controller passes a
    `LazyReward`, so the model loads only if a method calls it."""


@dataclass
class PairBuildResult:
    """Pairs built by a method, and every example that gave none, with its reason."""

    pairs: list[PreferencePair] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(example id, reason) for each example that produced no pair."""

    def skip(self, example_id: str, reason: str) -> None:
        self.skipped.append((example_id, reason))

    def first_usable(self, need: SamplingNeed, samples_by_prompt_id: Mapping[str, Sequence[SampleLike]],
                     policy: SamplePolicy) -> SampleLike | None:
        """The first of `need`'s samples that passes the policy; None, with the skip recorded under the
        need's example and its reason, when none does."""
        kept, reason = usable_samples(samples_by_prompt_id.get(need.prompt_id, []), policy)
        if reason:
            self.skip(need.example.id, reason)
            return None
        return kept[0]

    def add(self, example: DsatExample | SatExample, chosen: str | SampleLike, rejected: str | SampleLike,
            origin: str, meta: dict[str, Any]) -> None:
        """The pair (example's context, chosen, rejected), or a `chosen_equals_rejected` skip when the two
        replies are the same text (such a pair has no gradient and only dilutes the batch). A side given
        as a sample carries its `truncated` flag into the pair (`PreferencePair.chosen_unfinished`)."""
        chosen_text, rejected_text = _text(chosen), _text(rejected)
        if chosen_text.strip() == rejected_text.strip():
            self.skip(example.id, "chosen_equals_rejected")
            return
        self.pairs.append(PreferencePair(id=example.id, prompt=list(example.context), chosen=chosen_text,
                                         rejected=rejected_text, origin=origin, meta=meta,
                                         chosen_unfinished=_unfinished(chosen),
                                         rejected_unfinished=_unfinished(rejected)))

    def counts(self) -> dict[str, Any]:
        """Pairs built and skipped, with skips by reason, and pairs holding a sample cut by
        `generation.max_tokens` (kept under `generation.on_truncated=keep`), for metrics and the manifest."""
        return {"pairs": len(self.pairs), "skipped": len(self.skipped),
                "skipped_by_reason": dict(Counter(reason for _, reason in self.skipped)),
                "unfinished_kept": sum(p.chosen_unfinished or p.rejected_unfinished for p in self.pairs)}


def _text(side: str | SampleLike) -> str:
    return side if isinstance(side, str) else side.text


def _unfinished(side: str | SampleLike) -> bool:
    return not isinstance(side, str) and bool(side.truncated)


def usable_samples(samples: Sequence[SampleLike], policy: SamplePolicy) -> tuple[list[SampleLike], str | None]:
    """Samples that pass the policy (`generation.records.keep_sample`), in sample order, and the
    reason when none does."""
    if not samples:
        return [], "no_sample"
    ordered = sorted(samples, key=lambda s: s.sample_index)
    kept = [s for s in ordered if keep_sample(s, policy.on_empty, policy.on_truncated)]  # type: ignore[arg-type]
    if kept:
        return kept, None
    last = ordered[-1]
    return [], "empty_sample" if last.empty and policy.on_empty == "drop" else "truncated_sample"


def train_examples(records: Sequence[Any]) -> list[Any]:
    """Records of the training split (held-out conversations are never trained on)."""
    return [r for r in records if getattr(r, "split", "train") == "train"]
