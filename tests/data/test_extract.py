"""Extraction semantics on hand-built conversations: a label on a user turn judges the reply before it."""
from __future__ import annotations

from nemo_drift.data.extract import Extracted, extract_conversation, extract_pair
from nemo_drift.data.formats.common import Conversation, SourcePair
from nemo_drift.data.records import Provenance, Reject


def conversation(*turns: tuple, conv_id: str = "conv") -> Conversation:
    """A Conversation from (role, content[, feedback]) tuples; roles 'u', 'a', 's'."""
    roles = {"u": "user", "a": "assistant", "s": "system"}
    messages = []
    for turn in turns:
        message = {"role": roles[turn[0]], "content": turn[1]}
        if len(turn) == 3:
            message["feedback"] = turn[2]
        messages.append(message)
    return Conversation(conv_id, messages, Provenance("hand", "chat_logs", 0, conv_id), None, n_rows=len(turns))


def _ok(result: Extracted | Reject) -> Extracted:
    assert isinstance(result, Extracted), result
    return result


def test_dsat_on_turn_3_of_5():
    conv = conversation(("u", "q1"), ("a", "r1"), ("u", "q2"), ("a", "bad"), ("u", "no, wrong", "dsat"))
    out = _ok(extract_conversation(conv, "train"))
    assert len(out.dsat) == 1 and not out.sat and not out.seeds
    ex = out.dsat[0]
    assert ex.context == [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "r1"},
                          {"role": "user", "content": "q2"}]
    assert (ex.rejected, ex.feedback, ex.split, ex.preference) == ("bad", "no, wrong", "train", None)
    assert ex.id == "conv/dsat/3" and ex.provenance.conversation_id == "conv"


def test_two_dsats_in_one_conversation():
    conv = conversation(("s", "be brief"), ("u", "q1"), ("a", "bad1"), ("u", "fb1", "dsat"),
                        ("a", "bad2"), ("u", "fb2", "dsat"))
    out = _ok(extract_conversation(conv, "train"))
    assert [(d.rejected, d.feedback, len(d.context)) for d in out.dsat] == [("bad1", "fb1", 2), ("bad2", "fb2", 4)]
    assert out.dsat[1].context[-1] == {"role": "user", "content": "fb1"}  # no feedback key leaks into context
    assert not out.seeds


def test_dsat_then_sat_is_a_seed_pair():
    conv = conversation(("u", "q"), ("a", "bad"), ("u", "fix it", "dsat"), ("a", "revised"), ("u", "thanks", "sat"))
    out = _ok(extract_conversation(conv, "train"))
    (seed,) = out.seeds
    assert seed.prompt == [{"role": "user", "content": "q"}]
    assert (seed.chosen, seed.rejected) == ("revised", "bad")
    assert [s.reply for s in out.sat] == ["revised"] and [d.rejected for d in out.dsat] == ["bad"]
    assert seed.split == "train"
    (heldout_seed,) = _ok(extract_conversation(conv, "heldout")).seeds  # the warm start decides (all 491 in the paper)
    assert heldout_seed.split == "heldout"


def test_sat_catalogue():
    conv = conversation(("u", "q"), ("a", "great"), ("u", "perfect", "sat"), ("a", "more"), ("u", "ok"))
    out = _ok(extract_conversation(conv, "heldout"))
    assert [(s.context, s.reply, s.split) for s in out.sat] == [([{"role": "user", "content": "q"}], "great", "heldout")]
    assert not out.dsat


def test_unlabelled_conversation_yields_nothing():
    out = _ok(extract_conversation(conversation(("u", "q"), ("a", "r")), "train"))
    assert not (out.dsat or out.sat or out.seeds)


def test_bad_conversations_are_rejected_with_reasons():
    cases = {
        "dsat_on_first_turn": conversation(("u", "bad!", "dsat"), ("a", "r")),
        "empty_reply": conversation(("u", "q"), ("a", "  "), ("u", "fb", "dsat")),
        "roles_not_alternating": conversation(("u", "q"), ("u", "q again"), ("a", "r")),
        "feedback_on_non_user_message": conversation(("u", "q"), ("a", "r", "sat")),
    }
    for reason, conv in cases.items():
        result = extract_conversation(conv, "train")
        assert isinstance(result, Reject) and result.reason == reason, (reason, result)
        assert result.conversation_id == "conv" and result.n_rows == len(conv.messages)


def test_source_pair_maps_to_dsat_and_sat():
    prov = Provenance("f", "ultrafeedback_binarized", 3, "p1")
    pair = SourcePair("p1", [{"role": "user", "content": "q"}], "worse", "better", "", None, prov, None)
    out = _ok(extract_pair(pair, "train"))
    assert [(d.rejected, d.feedback) for d in out.dsat] == [("worse", "")]
    assert [s.reply for s in out.sat] == ["better"]
    ends_with_reply = SourcePair("p2", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                                 "worse", None, "", None, prov, None)
    assert extract_pair(ends_with_reply, "train").reason == "context_not_ending_with_user"
