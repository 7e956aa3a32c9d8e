"""Requests to the sampler and the samples it returns, and their JSONL storage.

Plain Python only (no torch, no vLLM): both the training process and the generation interpreter
import this module. Files go through `nemo_drift.data.jsonl`: one record plus ``schema_version`` per
line, written to a temporary name and renamed, so a killed writer never leaves a half file that
looks finished.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional

from nemo_drift.data.jsonl import iter_jsonl, read_jsonl
from nemo_drift.data.jsonl import write_jsonl as write_jsonl_atomic

SCHEMA_VERSION = 1
"""Layout version of `SampleRequest` and `Sample` files; bump it when a field changes meaning, and
readers refuse files of other versions."""


@dataclass
class SampleRequest:
    """One prompt to sample from: already rendered with the policy's chat template by the data layer."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    prompt_id: str
    """Stable id (the DSAT example / prompt id); samples are merged back in request order."""
    prompt: str
    """Chat-templated text ending with the generation prompt (e.g. ``<|im_start|>assistant\\n``)."""
    prompt_token_ids: Optional[list[int]] = None
    """Token ids of `prompt` when the data layer already has them; else the sampler tokenizes the text
    without adding special tokens (the template already holds any BOS)."""


@dataclass
class SampleProvenance:
    """Which model and settings produced a sample."""

    model_path: str
    settings: dict[str, Any]
    """The generation settings (GenerationConfig as a dict, plus the stop token ids used)."""


@dataclass
class Sample:
    """One completion of one request."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    prompt_id: str
    sample_index: int
    """0..n-1 within the prompt."""
    text: str
    """Decoded completion without the stop token."""
    token_ids: list[int]
    """Completion token ids as sampled, including the end-of-turn token when it stopped there."""
    finish_reason: str
    """"stop" (end-of-turn token / eos) or "length" (cut by max_tokens)."""
    cumulative_logprob: Optional[float]
    """Sum of the raw (before temperature/top_p) log-probs of `token_ids`."""
    empty: bool
    """The text is empty or whitespace only."""
    truncated: bool
    """Cut by max_tokens (finish_reason == "length")."""
    token_logprobs: Optional[list[float]] = None
    """Raw log-prob of each token in `token_ids` as vLLM computed it (used by the parity check)."""
    prompt_token_ids: Optional[list[int]] = None
    """Prompt ids vLLM saw; stored only when prompt log-probs were requested."""
    prompt_logprobs: Optional[list[Optional[float]]] = None
    """Log-prob of each prompt token given the ones before (None for the first); parity check only."""
    provenance: Optional[SampleProvenance] = None


def flag_sample(text: str, finish_reason: str) -> tuple[bool, bool]:
    """(empty, truncated) for a completion."""
    return (not text.strip(), finish_reason == "length")


def keep_sample(sample: Sample, on_empty: str, on_truncated: str) -> bool:
    """The pair builder's filter: False when a policy ("drop"|"keep") says to drop this sample."""
    if sample.empty and on_empty == "drop":
        return False
    if sample.truncated and on_truncated == "drop":
        return False
    return True


def read_requests(path: Path) -> list[SampleRequest]:
    """All requests of a file."""
    return read_jsonl(path, SampleRequest)


def read_samples(path: Path) -> list[Sample]:
    """All samples of a file."""
    return read_jsonl(path, Sample)


@dataclass
class SampleCounts:
    """What a generation produced (reported in the manifest and the run log)."""

    prompts: int = 0
    samples: int = 0
    empty: int = 0
    truncated: int = 0
    dropped_by_policy: int = 0
    """Samples the on_empty/on_truncated policies would drop."""
    tokens: int = 0
    """Completion tokens in all samples."""

    @classmethod
    def of(cls, samples: list[Sample], prompts: int, on_empty: str, on_truncated: str) -> "SampleCounts":
        """Counts for a merged sample list."""
        return cls(prompts=prompts, samples=len(samples), empty=sum(s.empty for s in samples),
                   truncated=sum(s.truncated for s in samples),
                   dropped_by_policy=sum(not keep_sample(s, on_empty, on_truncated) for s in samples),
                   tokens=sum(len(s.token_ids) for s in samples))


__all__ = ["SCHEMA_VERSION", "Sample", "SampleCounts", "SampleProvenance", "SampleRequest", "flag_sample",
           "iter_jsonl", "keep_sample", "read_requests", "read_samples", "write_jsonl_atomic"]
