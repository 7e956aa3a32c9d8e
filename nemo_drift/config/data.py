"""The `data` config group: where the input is, how to read it, and how to fit it into the context."""
from __future__ import annotations

from dataclasses import dataclass

from nemo_drift.config.declare import setting

FORMAT_NAMES = (
    "sat_dsat_annotation",
    "wildfeedback_pairs",
    "drift_jsonl",
    "chat_logs",
    "ultrafeedback_raw",
    "ultrafeedback_binarized",
)
"""Input formats `prepare` reads (see nemo_drift/data/formats/)."""

OVERLENGTH_POLICIES = ("drop_turns_then_truncate", "truncate", "skip")
"""What to do with a prompt longer than `max_prompt_length` (see `DataConfig.overlength`)."""

DEFAULT_GUIDED_INSTRUCTION = (
    "Based on my feedback above, please provide an improved response that addresses my concerns."
)


@dataclass
class DataConfig:
    """Input data, record extraction and tokenization settings (`data.*` on the command line)."""

    source: str = setting("sample:wildfeedback_sat_dsat.json", invalidates=("prepare",))
    """A file, a directory of files, a Hugging Face dataset name, or ``sample:<file>`` for a sample
    shipped in nemo_drift/data/samples/ (the embedded default)."""
    format: str = setting("auto", invalidates=("prepare",))
    """"auto" (detected from the first record) or one of `FORMAT_NAMES`."""
    hf_split: str = setting("train", invalidates=("prepare",))
    """Split to read when `source` is a Hugging Face dataset name (e.g. "train_prefs")."""
    seed_source: str = setting("", invalidates=("prepare",))
    """A file or folder of DSAT->SAT seed pairs for the warm start, used instead of the seed pairs found in
    the conversations: the official DRIFT seed data (github.com/cacayaya/DRIFT, data/seed-data), TRL or
    Alignment Handbook preference rows, or a seed_pairs.jsonl / pairs.jsonl written by nemo-drift (shapes:
    nemo_drift/data/seed_source.py). Bad rows go to rejects.jsonl with their reason. Empty: seed pairs
    come from the conversations (a DSAT reply, its revision, then a SAT turn)."""
    heldout_fraction: float = setting(0.05, invalidates=("prepare",))
    """Share of conversations kept out of training for evaluation, chosen by a hash of the
    conversation id (so adding data never moves an old conversation between splits)."""
    seed: int = setting(42, invalidates=("prepare",))
    """Salt of the held-out hash; changing it draws a different held-out set."""
    max_length: int = setting(2048, invalidates=("pairs",))
    """Prompt + response tokens per DPO sequence (paper: 2048)."""
    max_prompt_length: int = setting(1024, invalidates=("pairs",))
    """Prompt tokens per DPO sequence (the paper's training limit: 1024). Sampling prompts have their own
    budget, `generation.max_prompt_tokens`."""
    overlength: str = setting("drop_turns_then_truncate", invalidates=("generate", "pairs"))
    """Over-long prompts: "drop_turns_then_truncate" drops the oldest (user, assistant) turns, then
    cuts the earliest remaining text from the left; "truncate" only cuts from the left; "skip" drops
    the pair (counted). The end of the prompt and the guided instruction are never cut; responses
    over the remaining budget are cut from the right and flagged (or dropped under "skip")."""
    guided_instruction: str = setting(DEFAULT_GUIDED_INSTRUCTION, invalidates=("generate",))
    """Improvement instruction appended to the user's feedback turn in guided sampling prompts."""
    reject_snippet_chars: int = setting(300, invalidates=("prepare",))
    """Characters of raw input kept with each reject, to identify the row."""

    def validate(self) -> list[str]:
        """One message per bad setting, each naming its key; empty when the config is usable."""
        problems = []
        if not self.source:
            problems.append("data.source: empty; give a file, directory, dataset name or sample:<file>")
        if self.format != "auto" and self.format not in FORMAT_NAMES:
            problems.append(f"data.format: {self.format!r} is not one of auto, {', '.join(FORMAT_NAMES)}")
        if not 0.0 <= self.heldout_fraction < 1.0:
            problems.append(f"data.heldout_fraction: {self.heldout_fraction} must be in [0, 1)")
        if self.max_prompt_length <= 0:
            problems.append(f"data.max_prompt_length: {self.max_prompt_length} must be > 0")
        if self.max_length <= self.max_prompt_length:
            problems.append(
                f"data.max_length: {self.max_length} must exceed data.max_prompt_length "
                f"({self.max_prompt_length}) to leave room for the response"
            )
        if self.overlength not in OVERLENGTH_POLICIES:
            problems.append(f"data.overlength: {self.overlength!r} is not one of {', '.join(OVERLENGTH_POLICIES)}")
        if not self.guided_instruction.strip():
            problems.append("data.guided_instruction: empty; guided prompts need an improvement instruction")
        if self.reject_snippet_chars < 0:
            problems.append(f"data.reject_snippet_chars: {self.reject_snippet_chars} must be >= 0")
        return problems
