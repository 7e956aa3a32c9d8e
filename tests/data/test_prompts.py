"""Sampling prompts go through the policy's chat template and end with its generation prompt."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from nemo_drift.config.data import DEFAULT_GUIDED_INSTRUCTION as INSTRUCTION
from nemo_drift.data.fit import TEMPLATE_OPTIONS, count_tokens, render_prompt
from nemo_drift.data.prompts import PromptTooLong, guided_messages, render_guided, render_unguided
from nemo_drift.data.records import DsatExample, Provenance

PROV = Provenance("hand", "chat_logs", 0, "c")

# Gemma-like: raises unless roles alternate user/assistant (the reason the instruction is not its own turn).
STRICT_TEMPLATE = (
    "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _example(context_turns: int = 1, feedback: str = "That's wrong, Sydney is not the capital.") -> DsatExample:
    context = []
    for i in range(context_turns - 1):
        context += [{"role": "user", "content": f"Earlier question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]
    context.append({"role": "user", "content": "What is the capital of Australia?"})
    return DsatExample("c/dsat/1", context, "The capital is Sydney.", feedback, None, "train", PROV)


def _generation_prompt(tok: Any) -> str:
    msgs = [{"role": "user", "content": "x"}]
    with_prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **TEMPLATE_OPTIONS)
    return with_prompt[len(tok.apply_chat_template(msgs, tokenize=False, **TEMPLATE_OPTIONS)):]


def test_guided_prompt_is_the_chat_template_ending_with_generation_prompt(any_tok):
    example = _example(context_turns=2)
    text = render_guided(any_tok, example, INSTRUCTION).text
    expected = [*example.context, {"role": "assistant", "content": example.rejected},
                {"role": "user", "content": example.feedback + "\n\n" + INSTRUCTION}]
    assert text == any_tok.apply_chat_template(expected, tokenize=False, add_generation_prompt=True, **TEMPLATE_OPTIONS)
    assert text.endswith(INSTRUCTION + "<|im_end|>\n" + _generation_prompt(any_tok))
    assert _generation_prompt(any_tok).startswith("<|im_start|>assistant")
    assert "User:" not in text and "Assistant:" not in text  # not the official raw-text template


def test_guided_without_feedback_and_unguided(smollm2_tok):
    text = render_guided(smollm2_tok, _example(feedback=""), "Please improve your answer.").text
    assert text.endswith("<|im_start|>user\nPlease improve your answer.<|im_end|>\n<|im_start|>assistant\n")
    context = _example(context_turns=2).context
    assert render_unguided(smollm2_tok, context).text == smollm2_tok.apply_chat_template(
        context, tokenize=False, add_generation_prompt=True)


def test_guided_messages_alternate_so_strict_templates_accept_them(smollm2_tok):
    strict = copy.deepcopy(smollm2_tok)
    strict.chat_template = STRICT_TEMPLATE
    text = render_guided(strict, _example(context_turns=3), INSTRUCTION).text
    assert text.endswith(INSTRUCTION + "<end_of_turn>\n<start_of_turn>model\n")
    messages, _ = guided_messages(_example(context_turns=3), INSTRUCTION)
    example_feedback = _example().feedback  # the instruction as its own user turn would break alternation:
    messages[-1:] = [{"role": "user", "content": example_feedback}, {"role": "user", "content": INSTRUCTION}]
    with pytest.raises(Exception, match="alternate"):
        strict.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def test_overlength_drops_oldest_turns_and_keeps_the_dsat_turns(any_tok):
    example = _example(context_turns=12)
    budget = 150
    assert count_tokens(any_tok, render_guided(any_tok, example, INSTRUCTION).text) > budget
    text, cut = render_guided(any_tok, example, INSTRUCTION, max_prompt_tokens=budget)
    assert cut and count_tokens(any_tok, text) <= budget
    assert not render_guided(any_tok, example, INSTRUCTION, max_prompt_tokens=10_000).cut
    assert "Earlier question 0?" not in text and "Earlier question 10?" in text  # oldest turns went first
    messages, _ = guided_messages(example, INSTRUCTION)
    tail = any_tok.apply_chat_template(messages[-3:], tokenize=False, add_generation_prompt=True, **TEMPLATE_OPTIONS)
    assert text.endswith(tail[tail.index("<|im_start|>user"):])  # last question, DSAT reply, feedback + instruction


def test_overlength_cuts_from_the_left_but_never_the_instruction(any_tok):
    long_feedback = "No. " + "You keep getting this wrong and I am frustrated. " * 40 + "Canberra, please."
    example = _example(context_turns=8, feedback=long_feedback)
    budget = 160
    end = "Canberra, please.\n\n" + INSTRUCTION + "<|im_end|>\n" + _generation_prompt(any_tok)
    for policy in ("drop_turns_then_truncate", "truncate"):
        text = render_guided(any_tok, example, INSTRUCTION, max_prompt_tokens=budget, overlength=policy).text
        assert count_tokens(any_tok, text) <= budget and text.endswith(end), policy
    with pytest.raises(PromptTooLong, match="generation.max_prompt_tokens=160"):
        render_guided(any_tok, example, INSTRUCTION, max_prompt_tokens=budget, overlength="skip").text
    with pytest.raises(PromptTooLong):  # the instruction alone is longer than the budget: refuse, don't cut it
        render_guided(any_tok, example, INSTRUCTION, max_prompt_tokens=10).text


def test_a_thinking_template_renders_an_empty_reasoning_block(qwen_tok):
    """Qwen3-style templates (the Qwen tokenizer here has one) would let the policy open with a reasoning
    block the DSAT replies never have; the prompt closes an empty one instead."""
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    assert render_prompt(qwen_tok, messages).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert qwen_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True).endswith(
        "<|im_start|>assistant\n")  # what the template does when not told
