"""DPO tokenization: preference pairs -> prompt ids and response-only ids, with explicit truncation.

The response tokens come from the chat template itself: render the prompt with the generation
prompt, render prompt + assistant reply, and take the suffix. That suffix carries the template's
end-of-turn token (``<|im_end|>`` for ChatML) but not the newline after it, so the model learns to
stop exactly as the template ends a turn. A reply the sampler cut at its token budget
(`PreferencePair.chosen_unfinished`) keeps the template's turn header but ends where the reply ends,
without the end-of-turn token: the policy never produced one there, and training it would teach the
model to stop mid-sentence. A template that breaks the prefix property (it renders the last assistant
turn differently) falls back to reply + eos_token, with a warning and a count.
The training side concatenates prompt_ids + response ids and masks the loss to the response.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from nemo_drift.data.fit import apply_template, fit_messages, render_prompt
from nemo_drift.data.records import Message, PreferencePair, TokenizedPair


@dataclass
class TruncationStats:
    """What the over-length policy did to a batch of pairs."""

    pairs_in: int = 0
    pairs_out: int = 0
    skipped: int = 0
    """Pairs dropped because they did not fit (policy "skip", or an unfittable prompt)."""
    prompts_with_dropped_turns: int = 0
    turns_dropped: int = 0
    prompts_truncated: int = 0
    chosen_truncated: int = 0
    rejected_truncated: int = 0
    template_fallbacks: int = 0
    """Replies rendered as reply + eos_token because the template broke the prefix property."""
    unfinished_replies: int = 0
    """Replies cut by the sampler's token budget, tokenized without an end-of-turn token."""


def response_text(tokenizer: Any, prompt: list[Message], prompt_text: str, reply: str,
                  ends_turn: bool = True) -> tuple[str, bool]:
    """The templated assistant turn for ``reply``, up to its end-of-turn token, or up to the reply's last
    character when ``ends_turn`` is False; True if it fell back to the bare reply (+ eos_token)."""
    full = apply_template(tokenizer, [*prompt, {"role": "assistant", "content": reply}], add_generation_prompt=False)
    if full.startswith(prompt_text):
        suffix = full[len(prompt_text):].rstrip()
        if suffix and ends_turn:
            return suffix, False
        for text in (reply, reply.strip()):
            end = suffix.rfind(text) if text else -1
            if end >= 0:
                return suffix[:end + len(text)], False
    return reply + ((tokenizer.eos_token or "") if ends_turn else ""), True


def _batch_ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def tokenize_pairs(
    tokenizer: Any,
    pairs: list[PreferencePair],
    max_length: int,
    max_prompt_length: int,
    overlength: str = "drop_turns_then_truncate",
) -> tuple[list[TokenizedPair], TruncationStats]:
    """Tokenize pairs under the over-length policy (see fit.py and `DataConfig.overlength`).

    Prompts over ``max_prompt_length`` are fitted (oldest turns dropped, then cut from the left;
    never their end); a prompt that still does not fit is cut to its last ``max_prompt_length``
    tokens. Responses are cut from the right to ``max_length - len(prompt)`` and flagged. Under
    "skip", any pair that would need either is dropped and counted instead.
    """
    stats = TruncationStats(pairs_in=len(pairs))
    prompts = [list(p.prompt) for p in pairs]
    texts = [render_prompt(tokenizer, m) for m in prompts]
    prompt_ids = _batch_ids(tokenizer, texts)
    fits = [None] * len(pairs)
    for i, ids in enumerate(prompt_ids):  # slow path only for the over-long few
        if len(ids) > max_prompt_length:
            fits[i] = fit_messages(tokenizer, prompts[i], max_prompt_length, overlength, 1, "", len(ids))
            prompts[i], texts[i] = fits[i].messages, render_prompt(tokenizer, fits[i].messages)
    refit = [i for i, fit in enumerate(fits) if fit is not None]
    for i, ids in zip(refit, _batch_ids(tokenizer, [texts[i] for i in refit])):
        prompt_ids[i] = ids
    chosen, rejected = [], []
    for pair, prompt, text in zip(pairs, prompts, texts):
        for reply, unfinished, out in ((pair.chosen, pair.chosen_unfinished, chosen),
                                       (pair.rejected, pair.rejected_unfinished, rejected)):
            suffix, fallback = response_text(tokenizer, prompt, text, reply, ends_turn=not unfinished)
            out.append(suffix)
            stats.template_fallbacks += fallback
            stats.unfinished_replies += unfinished
    if stats.template_fallbacks:
        warnings.warn(f"{stats.template_fallbacks} replies: the chat template of {tokenizer.name_or_path!r} does "
                      "not render prompt+reply as a prefix extension; used reply + eos_token instead")
    chosen_ids, rejected_ids = _batch_ids(tokenizer, chosen), _batch_ids(tokenizer, rejected)
    result = []
    for i, pair in enumerate(pairs):
        fit, p_ids = fits[i], prompt_ids[i]
        truncated = fit is not None and (fit.truncated or len(p_ids) > max_prompt_length)
        budget = max_length - min(len(p_ids), max_prompt_length)
        c_cut, r_cut = len(chosen_ids[i]) > budget, len(rejected_ids[i]) > budget
        if overlength == "skip" and (fit is not None or c_cut or r_cut):
            stats.skipped += 1
            continue
        dropped = fit.dropped_turns if fit is not None else 0
        result.append(TokenizedPair(pair.id, p_ids[-max_prompt_length:], chosen_ids[i][:budget],
                                    rejected_ids[i][:budget], truncated, dropped, c_cut, r_cut))
        stats.prompts_with_dropped_turns += dropped > 0
        stats.turns_dropped += dropped
        stats.prompts_truncated += truncated
        stats.chosen_truncated += c_cut
        stats.rejected_truncated += r_cut
    stats.pairs_out = len(result)
    return result, stats
