"""Record extraction: labelled conversations and source pairs -> DSAT, SAT and seed records.

Semantics (a label on a user turn judges the assistant reply right before it):
- DSAT at user turn i: context = messages[:i-1], rejected = messages[i-1], feedback = messages[i].
- SAT at user turn i: context = messages[:i-1], reply = messages[i-1] (the SPIN catalogue).
- Seed: DSAT at user turn i, the assistant's revision at i+1, SAT at user turn i+2:
  prompt = messages[:i-1], chosen = messages[i+1], rejected = messages[i-1].
A conversation must be (system?) user, assistant, user, ... with no empty message, and a label may
not sit on the first user turn (there is no reply to judge); otherwise it is rejected whole, since
its labels cannot be trusted to point at the right reply.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from nemo_drift.data.formats.common import Conversation, RowError, SourcePair
from nemo_drift.data.records import DsatExample, Message, Reject, SatExample, SeedPair
from nemo_drift.data.split import TRAIN


@dataclass
class Extracted:
    """The records one conversation or pair yields (possibly none: an unlabelled conversation)."""

    dsat: list[DsatExample] = field(default_factory=list)
    sat: list[SatExample] = field(default_factory=list)
    seeds: list[SeedPair] = field(default_factory=list)


def check_turns(messages: list[dict[str, str]]) -> None:
    """RowError unless roles alternate (system?) user, assistant, ... with non-empty contents and
    feedback only on user turns that follow a reply."""
    start = 1 if messages and messages[0]["role"] == "system" else 0
    for i, message in enumerate(messages):
        role = message["role"]
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        if i >= start and role != expected:
            raise RowError("roles_not_alternating", f"turn {i} is {role!r}, expected {expected!r}")
        if not message["content"].strip():
            reason = "empty_reply" if role == "assistant" else "empty_message"
            raise RowError(reason, f"turn {i} ({role}) is empty")
        feedback = message.get("feedback")
        if feedback and role != "user":
            raise RowError("feedback_on_non_user_message", f"turn {i} ({role}) carries feedback {feedback!r}")
        if feedback and i == start:
            raise RowError(f"{feedback}_on_first_turn", f"turn {i} is labelled {feedback!r} but no reply precedes it")


def plain_messages(messages: list[dict[str, str]]) -> list[Message]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _reject(item: Conversation | SourcePair, err: RowError) -> Reject:
    p = item.provenance
    return Reject(p.source_file, p.row, item.id, err.reason, err.detail, item.snippet, item.n_rows)


def extract_conversation(conv: Conversation, split: str) -> Extracted | Reject:
    """DSAT/SAT records of a labelled conversation, plus its seed pairs (tagged with ``split``: the
    warm start decides whether held-out ones train, `method.warm_start_seeds`)."""
    try:
        check_turns(conv.messages)
    except RowError as err:
        return _reject(conv, err)
    out = Extracted()
    msgs = conv.messages
    for i, message in enumerate(msgs):
        label = message.get("feedback")
        if label is None:
            continue
        context, reply = plain_messages(msgs[: i - 1]), msgs[i - 1]["content"]
        record_id = f"{conv.id}/{label}/{i - 1}"
        if label == "dsat":
            out.dsat.append(DsatExample(record_id, context, reply, message["content"], None, split, conv.provenance))
            revised = i + 2 < len(msgs) and msgs[i + 2].get("feedback") == "sat"
            if revised:
                seed_id = f"{conv.id}/seed/{i - 1}"
                out.seeds.append(SeedPair(seed_id, context, msgs[i + 1]["content"], reply, conv.provenance, split))
        else:
            out.sat.append(SatExample(record_id, context, reply, split, conv.provenance))
    return out


def extract_pair(pair: SourcePair, split: str) -> Extracted | Reject:
    """A DSAT record from a source pair, plus a SAT record when it has a chosen reply."""
    try:
        check_turns(pair.context)
        if not pair.context or pair.context[-1]["role"] != "user":
            raise RowError("context_not_ending_with_user", "the context must end with a user message")
        if not pair.rejected.strip():
            raise RowError("empty_reply", "the rejected reply is empty")
        if pair.chosen is not None and not pair.chosen.strip():
            raise RowError("empty_reply", "the chosen reply is empty")
    except RowError as err:
        return _reject(pair, err)
    context = plain_messages(pair.context)
    out = Extracted()
    out.dsat.append(DsatExample(f"{pair.id}/dsat", context, pair.rejected, pair.feedback, pair.preference,
                                split, pair.provenance))
    if pair.chosen is not None:
        out.sat.append(SatExample(f"{pair.id}/sat", context, pair.chosen, split, pair.provenance))
    return out
