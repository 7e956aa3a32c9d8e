"""The held-out learning signal: did an iteration move the policy on conversations it never trained on?

No judge is needed. Each training job scores the held-out records (`data.heldout_fraction` of the
conversations, split by `prepare`) with the model it starts from and the model it ends with, in the same
forward-only pass as the reference log-probs (nemo_drift/megatron/train_entry.py). The first job's start
is the base model. Per iteration, against the base:

- held-out DSAT replies: the mean per-token log-prob under the policy minus under the base, averaged over
  replies (DRIFT should push it below 0: the policy moves away from replies users disliked);
- held-out SAT replies: the same for replies users were satisfied with (it should not collapse);
- held-out DSAT->SAT pairs (seed pairs of held-out conversations): the share whose implicit reward
  log pi(y)/pi_base(y) is higher for the SAT reply than for the DSAT reply.

Each figure comes with its standard error and count. A held-out reply that a warm start trained on (a
held-out conversation's seed pair, trained under `method.warm_start_seeds=all`) is no longer held out:
`heldout_pairs` leaves it out and counts it.

Plain Python (the controller reads the scores; no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from nemo_drift.data.records import DsatExample, PreferencePair, SatExample, SeedPair
from nemo_drift.eval.stats import Estimate

HELDOUT_TOKENS = "heldout_tokens.jsonl"
"""The pairs stage's tokenized held-out records, scored by the training job."""
SCORES_AT_START, SCORES_AT_END = "heldout_start.jsonl", "heldout_end.jsonl"
"""The training job's scores of the held-out records with the model it started from / ended with."""

DSAT, SAT, PAIR = "dsat", "sat", "pair"
"""Kinds of held-out record; a record's id is `<kind>/<record id>`."""


class Scored(Protocol):
    """The fields of `nemo_drift.megatron.reference.RefLogps` read here: summed log-probs and token counts."""

    id: str
    ref_chosen_logp: float
    ref_rejected_logp: float
    chosen_tokens: int
    rejected_tokens: int


@dataclass
class HeldOutSet:
    """The held-out records as scoreable pairs, and the held-out records left out because training saw them."""

    pairs: list[PreferencePair]
    trained_in_warm_start: int = 0


def heldout_pairs(dsat: Sequence[DsatExample], sat: Sequence[SatExample], seeds: Sequence[SeedPair],
                  warm_start_seeds: Sequence[SeedPair] = ()) -> HeldOutSet:
    """Held-out DSAT and SAT replies as pairs whose two sides are the reply itself (one forward pass scores
    them like any pair), and held-out seed pairs as (SAT revision, DSAT reply); records of the training
    split are ignored, and so is anything `warm_start_seeds` (the seed pairs the warm start trains on)
    contains."""
    trained = {_key(s.prompt, s.rejected) for s in warm_start_seeds}
    trained_ids = {s.id for s in warm_start_seeds}
    out = HeldOutSet(pairs=[])
    for ex in dsat:
        if ex.split != "heldout":
            continue
        if _key(ex.context, ex.rejected) in trained:
            out.trained_in_warm_start += 1
            continue
        out.pairs.append(_self_pair(f"{DSAT}/{ex.id}", ex.context, ex.rejected))
    for ex in sat:
        if ex.split == "heldout":
            out.pairs.append(_self_pair(f"{SAT}/{ex.id}", ex.context, ex.reply))
    for seed in seeds:
        if seed.split == "heldout" and seed.id not in trained_ids:
            out.pairs.append(PreferencePair(f"{PAIR}/{seed.id}", list(seed.prompt), seed.chosen, seed.rejected, "heldout"))
    return out


def _key(context: Sequence[Mapping[str, Any]], reply: str) -> tuple:
    return tuple((m["role"], m["content"]) for m in context), reply


def _self_pair(pair_id: str, context: Sequence[Mapping[str, Any]], reply: str) -> PreferencePair:
    return PreferencePair(pair_id, list(context), reply, reply, "heldout")


@dataclass
class HeldOutSignal:
    """One policy against the base on the held-out records."""

    dsat_delta: Estimate
    """Mean per-token log-prob of held-out DSAT replies, policy minus base."""
    sat_delta: Estimate
    """The same for held-out SAT replies."""
    pair_accuracy: Estimate
    """Share of held-out DSAT->SAT pairs whose implicit reward prefers the SAT reply."""

    def to_record(self) -> dict[str, Any]:
        """Flat figures for the run's metrics.jsonl (rounded; None where there was nothing to measure)."""
        out: dict[str, Any] = {}
        for name, est in (("heldout_dsat", self.dsat_delta), ("heldout_sat", self.sat_delta),
                          ("heldout_pair_acc", self.pair_accuracy)):
            out[name] = None if est.mean is None else round(est.mean, 5)
            out[f"{name}_se"] = None if est.se is None else round(est.se, 5)
            out[f"{name}_n"] = est.n
        return out


def _per_token(score: Scored) -> float:
    return score.ref_rejected_logp / max(score.rejected_tokens, 1)


def heldout_signal(base: Mapping[str, Scored], policy: Mapping[str, Scored]) -> HeldOutSignal:
    """The policy's held-out figures against the base's, over the records both scored."""
    common = sorted(set(base) & set(policy))
    deltas: dict[str, list[float]] = {DSAT: [], SAT: []}
    correct: list[float] = []
    for record_id in common:
        kind = record_id.split("/", 1)[0]
        b, p = base[record_id], policy[record_id]
        if kind in deltas:
            deltas[kind].append(_per_token(p) - _per_token(b))
        elif kind == PAIR:
            chosen = p.ref_chosen_logp - b.ref_chosen_logp
            rejected = p.ref_rejected_logp - b.ref_rejected_logp
            correct.append(1.0 if chosen > rejected else 0.0)
    return HeldOutSignal(Estimate.of(deltas[DSAT]), Estimate.of(deltas[SAT]), Estimate.of(correct))
