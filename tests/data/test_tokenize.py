"""DPO tokenization: response-only ids from the chat template, and the over-length accounting."""
from __future__ import annotations

import copy

import pytest

from nemo_drift.data.fit import TEMPLATE_OPTIONS
from nemo_drift.data.records import PreferencePair
from nemo_drift.data.tokenize import tokenize_pairs

PROMPT = [{"role": "user", "content": "What is 15% of 80?"}]


def _pair(i: int = 0, turns: int = 1, chosen: str = "15% of 80 is 12.", rejected: str = "It is 15.") -> PreferencePair:
    prompt = []
    for t in range(turns - 1):
        prompt += [{"role": "user", "content": f"Old question {t}?"}, {"role": "assistant", "content": f"Old answer {t}."}]
    return PreferencePair(f"p{i}", prompt + PROMPT, chosen, rejected, "drift")


def test_response_ids_come_from_the_template_and_end_with_end_of_turn(any_tok):
    (tp,), stats = tokenize_pairs(any_tok, [_pair(turns=2)], max_length=256, max_prompt_length=128)
    im_end = any_tok.convert_tokens_to_ids("<|im_end|>")
    for ids in (tp.chosen_ids, tp.rejected_ids):
        assert ids[-1] == im_end  # the end-of-turn token is learnt, the newline after it is not
    full = any_tok.apply_chat_template([*_pair(turns=2).prompt, {"role": "assistant", "content": "15% of 80 is 12."}],
                                       tokenize=False, **TEMPLATE_OPTIONS)
    assert any_tok.decode(tp.prompt_ids + tp.chosen_ids) == full.rstrip()
    assert any_tok.decode(tp.chosen_ids).endswith("15% of 80 is 12.<|im_end|>")
    assert stats.template_fallbacks == 0 and not (tp.prompt_truncated or tp.chosen_truncated or tp.dropped_turns)
    ids, mask = tp.sequence("rejected")
    assert ids == tp.prompt_ids + tp.rejected_ids and sum(mask) == len(tp.rejected_ids) and mask[-1] == 1
    assert mask[: len(tp.prompt_ids)] == [0] * len(tp.prompt_ids)


def test_overlength_policy_is_counted(smollm2_tok):
    long_reply = "word " * 300
    pairs = [_pair(0), _pair(1, turns=30), _pair(2, chosen=long_reply)]
    out, stats = tokenize_pairs(smollm2_tok, pairs, max_length=200, max_prompt_length=120)
    short, many_turns, long_resp = out
    assert len(many_turns.prompt_ids) <= 120 and many_turns.dropped_turns > 0
    assert smollm2_tok.decode(many_turns.prompt_ids).endswith("What is 15% of 80?<|im_end|>\n<|im_start|>assistant\n")
    assert long_resp.chosen_truncated and not long_resp.rejected_truncated
    assert len(long_resp.prompt_ids) + len(long_resp.chosen_ids) == 200
    assert (stats.pairs_in, stats.pairs_out, stats.prompts_with_dropped_turns, stats.chosen_truncated) == (3, 3, 1, 1)
    assert stats.turns_dropped == many_turns.dropped_turns and stats.skipped == 0
    assert short.prompt_ids == tokenize_pairs(smollm2_tok, [_pair(0)], 2048, 1024)[0][0].prompt_ids

    kept, skip_stats = tokenize_pairs(smollm2_tok, pairs, max_length=200, max_prompt_length=120, overlength="skip")
    assert [t.id for t in kept] == ["p0"] and skip_stats.skipped == 2


def test_one_long_user_turn_is_cut_from_the_left(smollm2_tok):
    pair = PreferencePair("p", [{"role": "user", "content": "blah " * 400 + "So what is 15% of 80?"}], "12", "15", "x")
    (tp,), stats = tokenize_pairs(smollm2_tok, [pair], max_length=128, max_prompt_length=64)
    assert len(tp.prompt_ids) <= 64 and tp.prompt_truncated and stats.prompts_truncated == 1
    assert smollm2_tok.decode(tp.prompt_ids).endswith("So what is 15% of 80?<|im_end|>\n<|im_start|>assistant\n")


def test_template_breaking_the_prefix_property_falls_back_loudly(smollm2_tok):
    odd = copy.deepcopy(smollm2_tok)  # numbers the turns in a header, so prompt+reply is no extension of prompt
    odd.chat_template = ("[{{ messages | length }} turns]{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                         "{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
                         "{% endif %}")
    with pytest.warns(UserWarning, match="prefix"):
        (tp,), stats = tokenize_pairs(odd, [_pair()], max_length=256, max_prompt_length=128)
    assert stats.template_fallbacks == 2 and odd.decode(tp.chosen_ids) == "15% of 80 is 12.<|im_end|>"


def test_a_reply_cut_by_the_sampler_trains_without_an_end_of_turn_token(any_tok):
    cut = "15% of 80 is twelve because ten percent is eight and"
    pair = _pair(chosen=cut)
    pair.chosen_unfinished = True
    (tp,), stats = tokenize_pairs(any_tok, [pair], max_length=256, max_prompt_length=128)
    im_end = any_tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end not in tp.chosen_ids and tp.rejected_ids[-1] == im_end
    assert any_tok.decode(tp.prompt_ids + tp.chosen_ids).endswith(cut)
    assert stats.unfinished_replies == 1 and stats.template_fallbacks == 0
    (finished,), _ = tokenize_pairs(any_tok, [_pair(chosen=cut)], max_length=256, max_prompt_length=128)
    assert finished.chosen_ids == [*tp.chosen_ids, im_end]  # the same reply, finished: only the end-of-turn differs
