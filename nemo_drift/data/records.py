"""Typed records that every stage after `prepare` reads and writes, and their JSONL storage.

Messages are plain ``list[dict]`` with keys ``role`` ("system" | "user" | "assistant") and
``content``; they are handed to ``tokenizer.apply_chat_template`` unchanged. Every record carries a
``Provenance`` (which file, which row, which conversation) so an error or a surprising pair can be
traced back to its input. Files are read and written through `nemo_drift.data.jsonl` (re-exported
here): each line is one record plus ``schema_version``, and reading a file written with another
schema version fails loudly instead of guessing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nemo_drift.data.jsonl import JsonlWriter, atomic_text, iter_jsonl, read_jsonl, write_jsonl

SCHEMA_VERSION = 1
"""Layout version of this module's records (each carries it as ``SCHEMA_VERSION``); bump it when a
field changes meaning, and readers refuse files of other versions."""

Message = dict[str, str]


@dataclass
class Provenance:
    """Where a record came from: enough to find the input row again."""

    source_file: str
    """Path (or hub dataset name) of the input."""
    source_format: str
    """Reader that parsed it (one of `nemo_drift.data.formats.FORMATS`)."""
    row: int | None
    """0-based row of the first input row: array item, JSONL line, or dataset row."""
    conversation_id: str
    """Id of the conversation (given by the input, else a hash of its content)."""


@dataclass
class DsatExample:
    """An assistant reply the user was dissatisfied with: the DPO rejected side of DRIFT."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    id: str
    context: list[Message]
    """All messages before the judged reply (ends with a user message): the DPO prompt."""
    rejected: str
    """The dissatisfying assistant reply."""
    feedback: str
    """The user's message that judged the reply ("" when the source has none, e.g. UltraFeedback)."""
    preference: str | None
    """Extracted preference text when the source provides one, else None."""
    split: str
    """"train" or "heldout" (hash of the conversation id, see `split.py`)."""
    provenance: Provenance


@dataclass
class SatExample:
    """A reply the user was satisfied with: the SAT catalogue the SPIN baseline trains towards."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    id: str
    context: list[Message]
    reply: str
    split: str
    provenance: Provenance


@dataclass
class SeedPair:
    """DSAT reply -> the assistant's revision -> a SAT user turn: a warm-start DPO pair."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    id: str
    prompt: list[Message]
    """Context before the DSAT reply."""
    chosen: str
    """The revision the user was satisfied with."""
    rejected: str
    """The DSAT reply."""
    provenance: Provenance
    split: str = "train"
    """The split of the conversation it came from. The warm start trains on every split by default (the
    paper trains on all seed pairs; `method.warm_start_seeds`); a seed file has no held-out part."""


@dataclass
class HeldOutPrompt:
    """A context from a held-out conversation, for evaluation only (never trained on)."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    id: str
    context: list[Message]
    provenance: Provenance


@dataclass
class PreferencePair:
    """What a method builds and DPO training consumes: prompt messages, chosen and rejected text."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    id: str
    prompt: list[Message]
    chosen: str
    rejected: str
    origin: str
    """Which method/stage made it, e.g. "drift", "spin", "iterdpo", "seed"."""
    meta: dict[str, Any] = field(default_factory=dict)
    chosen_unfinished: bool = False
    """The chosen reply is a sample cut by `generation.max_tokens`: tokenized without the end-of-turn
    token the policy never produced, so DPO does not teach it to stop mid-sentence."""
    rejected_unfinished: bool = False
    """The same for the rejected reply."""


@dataclass
class TokenizedPair:
    """Token ids of one preference pair, as `tokens.jsonl` stores them for the reference and training jobs.

    ``chosen_ids``/``rejected_ids`` are the response tokens only; training concatenates
    ``prompt_ids`` + response and masks the loss to the response. The truncation flags say what
    the over-length policy did (see `nemo_drift.data.tokenize`); pairs built without it (tests,
    benchmarks) leave them at their defaults.
    """

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    id: str
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    prompt_truncated: bool = False
    dropped_turns: int = 0
    """Oldest conversation turns dropped to fit the prompt."""
    chosen_truncated: bool = False
    rejected_truncated: bool = False

    def sequence(self, side: str) -> tuple[list[int], list[int]]:
        """(input_ids, loss_mask) for side "chosen" or "rejected": prompt + response, mask 1 on the response."""
        response = self.chosen_ids if side == "chosen" else self.rejected_ids
        return self.prompt_ids + response, [0] * len(self.prompt_ids) + [1] * len(response)


@dataclass
class RefLogps:
    """Summed log-probs of one pair's two replies under one model, and the response token counts they cover:
    the reference pass writes them (nemo_drift/megatron/reference.py), and so does the held-out scoring of
    each training job (nemo_drift/eval/heldout.py reads those)."""

    SCHEMA_VERSION: ClassVar[int] = 1

    id: str
    ref_chosen_logp: float
    ref_rejected_logp: float
    chosen_tokens: int
    rejected_tokens: int
    reference_model: str = ""
    """Path of the model that computed them (a stored file from another model is recomputed)."""
    seq_length: int = 0
    """model.seq_length they were computed with (truncation changes the log-probs)."""


@dataclass
class Reject:
    """An input row (or group of rows) that produced no record, and why."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    source_file: str
    row: int | None
    """0-based row/line of the first rejected row (None when unknown)."""
    conversation_id: str | None
    reason: str
    """Short code, e.g. "malformed_json", "missing_field", "duplicate_conversation"."""
    detail: str
    """One human sentence naming the field or turn at fault."""
    snippet: str
    """The first characters of the raw input."""
    n_rows: int = 1
    """Input rows this reject accounts for (a rejected conversation covers all its rows)."""


def write_json(path: Path | str, data: Any) -> None:
    """Write one JSON document (a summary, not records) atomically."""
    with atomic_text(path) as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


__all__ = ["SCHEMA_VERSION", "DsatExample", "HeldOutPrompt", "JsonlWriter", "Message", "PreferencePair", "Provenance",
           "Reject", "SatExample", "SeedPair", "TokenizedPair", "iter_jsonl", "read_jsonl", "write_json", "write_jsonl"]
