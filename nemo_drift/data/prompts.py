"""Sampling prompts, always rendered through the policy tokenizer's chat template.

The official DRIFT sampler used a raw "User:/Assistant:" text prompt while training used the chat
template; here sampling and training share the template, so the policy samples in the same format
it is trained on.

Guided prompt = context + the DSAT reply (assistant) + one user turn holding the user's feedback and
then the improvement instruction, then the generation prompt. The instruction goes into that final
user turn (not a separate system or user message) because every template accepts it there: Gemma's
rejects non-alternating roles and most templates allow a system message only first.
Unguided prompt = the context alone (ends with the user turn before the DSAT reply).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from nemo_drift.data.fit import count_tokens, fit_messages, render_prompt
from nemo_drift.data.records import DsatExample, Message


class PromptTooLong(ValueError):
    """The prompt cannot fit ``max_prompt_tokens`` (policy "skip", or even the protected end is too long)."""


class RenderedPrompt(NamedTuple):
    """A sampling prompt as the policy sees it, and whether the over-length policy shortened it."""

    text: str
    cut: bool
    """Turns were dropped or text cut from the left to fit the budget (counted per iteration)."""


def guided_messages(example: DsatExample, instruction: str) -> tuple[list[Message], str]:
    """The guided conversation, and the protected suffix (the instruction) of its last turn."""
    suffix = instruction if not example.feedback.strip() else "\n\n" + instruction
    final_user = (example.feedback.rstrip() if example.feedback.strip() else "") + suffix
    messages = [
        *example.context,
        {"role": "assistant", "content": example.rejected},
        {"role": "user", "content": final_user},
    ]
    return messages, suffix


def _render_fitted(tokenizer: Any, messages: list[Message], max_prompt_tokens: int | None,
                   overlength: str, keep_last: int, protected: str) -> RenderedPrompt:
    text = render_prompt(tokenizer, messages)
    if max_prompt_tokens is None:
        return RenderedPrompt(text, False)
    n_tokens = count_tokens(tokenizer, text)
    if n_tokens <= max_prompt_tokens:
        return RenderedPrompt(text, False)
    fit = fit_messages(tokenizer, messages, max_prompt_tokens, overlength, keep_last, protected, n_tokens)
    if not fit.fits(max_prompt_tokens):
        raise PromptTooLong(f"prompt of {n_tokens} tokens cannot fit generation.max_prompt_tokens={max_prompt_tokens} "
                            f"under data.overlength={overlength!r}")
    return RenderedPrompt(render_prompt(tokenizer, fit.messages), True)


def render_guided(tokenizer: Any, example: DsatExample, instruction: str, max_prompt_tokens: int | None = None,
                  overlength: str = "drop_turns_then_truncate") -> RenderedPrompt:
    """Context + DSAT reply + feedback and instruction, ending with the generation prompt.

    With ``max_prompt_tokens`` the over-length policy (fit.py) applies; the DSAT reply, the feedback
    turn's end and the instruction are kept. Raises PromptTooLong when it cannot fit.
    """
    messages, protected = guided_messages(example, instruction)
    return _render_fitted(tokenizer, messages, max_prompt_tokens, overlength, keep_last=3, protected=protected)


def render_unguided(tokenizer: Any, context: list[Message], max_prompt_tokens: int | None = None,
                    overlength: str = "drop_turns_then_truncate") -> RenderedPrompt:
    """The context alone, ending with the generation prompt (SPIN, IterDPO, unguided DRIFT)."""
    return _render_fitted(tokenizer, list(context), max_prompt_tokens, overlength, keep_last=1, protected="")
