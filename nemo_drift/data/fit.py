"""The over-length policy: make a chat prompt fit a token budget without losing its end.

``drop_turns_then_truncate`` (default): drop the oldest (user, assistant) turn pairs after the system
message, never the last ``keep_last`` messages; then cut text from the left, starting with the
earliest message, never touching ``protected_suffix`` at the end of the last message (the guided
instruction). ``truncate``: only the second step. ``skip``: no change; the caller drops the item.
Dropping whole pairs keeps the roles alternating, which strict templates (Gemma) require. Tokens
are counted on the rendered chat template, generation prompt included, so the budget is exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nemo_drift.data.records import Message


@dataclass
class FitResult:
    """A prompt after the policy ran."""

    messages: list[Message]
    n_tokens: int
    """Tokens of the rendered prompt (generation prompt included)."""
    dropped_turns: int = 0
    """Messages dropped from the front."""
    truncated: bool = False
    """Text was cut from the left of some message."""

    def fits(self, budget: int) -> bool:
        return self.n_tokens <= budget


TEMPLATE_OPTIONS = {"enable_thinking": False}
"""Passed to every chat template. Qwen3's template opens each reply with a reasoning block unless told
otherwise; the dissatisfied replies DRIFT trains against have none, so samples must not either (an empty
`<think></think>` is rendered instead). Templates without the variable ignore it."""


def apply_template(tokenizer: Any, messages: list[Message], add_generation_prompt: bool) -> str:
    """The one place a chat template is applied (text, not ids)."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                         **TEMPLATE_OPTIONS)


def render_prompt(tokenizer: Any, messages: list[Message]) -> str:
    """The chat template applied to ``messages``, ending with the generation prompt."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no chat template; use an instruct model's tokenizer")
    return apply_template(tokenizer, messages, add_generation_prompt=True)


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens of already-templated text (the template placed any BOS itself)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _cut_left(tokenizer: Any, text: str, n_tokens: int, protected_suffix: str) -> str:
    """``text`` without its first ``n_tokens`` tokens, keeping ``protected_suffix`` whole."""
    head = text[: len(text) - len(protected_suffix)] if protected_suffix and text.endswith(protected_suffix) else text
    tail = text[len(head):]
    ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    return tokenizer.decode(ids[n_tokens:], clean_up_tokenization_spaces=False) + tail


def fit_messages(
    tokenizer: Any,
    messages: list[Message],
    budget: int,
    policy: str = "drop_turns_then_truncate",
    keep_last: int = 1,
    protected_suffix: str = "",
    n_tokens: int | None = None,
) -> FitResult:
    """Apply the over-length policy; ``result.fits(budget)`` is False when even that was not enough
    (policy "skip", or the system message and protected text alone exceed the budget)."""
    msgs = [dict(m) for m in messages]
    count = n_tokens if n_tokens is not None else count_tokens(tokenizer, render_prompt(tokenizer, msgs))
    result = FitResult(msgs, count)
    if count <= budget or policy == "skip":
        return result
    start = 1 if msgs and msgs[0]["role"] == "system" else 0
    if policy == "drop_turns_then_truncate":
        while result.n_tokens > budget and len(msgs) - start - 2 >= keep_last:
            del msgs[start : start + 2]
            result.dropped_turns += 2
            result.n_tokens = count_tokens(tokenizer, render_prompt(tokenizer, msgs))
    for index in range(start, len(msgs)):
        protect = protected_suffix if index == len(msgs) - 1 else ""
        while result.n_tokens > budget and len(msgs[index]["content"]) > len(protect):
            before = msgs[index]["content"]
            msgs[index]["content"] = _cut_left(tokenizer, before, max(1, result.n_tokens - budget), protect)
            if msgs[index]["content"] == before:  # nothing left to cut in this message
                break
            result.truncated = True
            result.n_tokens = count_tokens(tokenizer, render_prompt(tokenizer, msgs))
        if result.n_tokens <= budget:
            break
    return result
