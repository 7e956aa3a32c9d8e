"""Input formats: a registry of parsers and auto-detection from the first record's keys."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from nemo_drift.config.data import FORMAT_NAMES
from nemo_drift.data.formats import annotation, chat_logs, pairs
from nemo_drift.data.formats.common import Conversation, Item, Parser, SourcePair


@dataclass(frozen=True)
class FormatSpec:
    """One input format: its name, its parser, and how to recognise its first record."""

    name: str
    parse: Parser
    looks_like: Callable[[dict[str, Any]], bool]
    description: str


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(annotation.NAME, annotation.parse, lambda v: annotation.KEYS <= v.keys(),
                   "WildFeedback sat_dsat_annotation (utterance rows: UtterranceId, Role, Content, ...)"),
        FormatSpec("wildfeedback_pairs", pairs.parse_wildfeedback_pairs,
                   lambda v: {"conversations", "chosen", "rejected"} <= v.keys(),
                   "WildFeedback pairs (ShareGPT conversations + chosen/rejected)"),
        FormatSpec("drift_jsonl", pairs.parse_drift_jsonl,
                   lambda v: {"prompt", "rejected", "user_preference"} <= v.keys(),
                   "official DRIFT JSONL (prompt, rejected, user_preference)"),
        FormatSpec(chat_logs.NAME, chat_logs.parse,
                   lambda v: chat_logs.KEYS <= v.keys() and "chosen" not in v,
                   "chat logs JSONL ({id, messages: [{role, content, feedback?}]})"),
        FormatSpec("ultrafeedback_raw", pairs.parse_ultrafeedback_raw,
                   lambda v: {"instruction", "completions"} <= v.keys(),
                   "UltraFeedback raw (openbmb: instruction, completions)"),
        FormatSpec("ultrafeedback_binarized", pairs.parse_ultrafeedback_binarized,
                   lambda v: {"prompt", "chosen", "rejected"} <= v.keys() and isinstance(v.get("chosen"), list),
                   "UltraFeedback binarized (HuggingFaceH4: prompt, chosen, rejected, scores)"),
    )
}
assert tuple(FORMATS) == FORMAT_NAMES, "config.data.FORMAT_NAMES and the registry disagree"


def known_formats() -> str:
    """One line per format we read, for error messages."""
    return "\n".join(f"  {spec.name}: {spec.description}" for spec in FORMATS.values())


def detect_format(first: Any, source: str) -> str:
    """The format whose keys the first record has; a ValueError naming the formats we read otherwise."""
    if isinstance(first, dict):
        for spec in FORMATS.values():
            if spec.looks_like(first):
                return spec.name
        seen = f"its first record has keys {sorted(first)}"
    else:
        seen = "no record could be parsed from its first rows"
    raise ValueError(
        f"{source}: unknown data format ({seen}). Formats we read (set data.format to one):\n{known_formats()}"
    )


__all__ = ["FORMATS", "FormatSpec", "Conversation", "SourcePair", "Item", "detect_format", "known_formats"]
