"""The on-disk layout of one generation: request shards, finished sample shards, logs, merge.

A generation folder holds
    settings.json                  what the sampler needs (model, sampling settings) + a fingerprint
    shards/requests_00000.jsonl    prompts of shard 0 (written by the client)
    shards/samples_00000.jsonl     samples of shard 0 (written atomically by the sampler when done)
    logs/replica_0.log             stdout+stderr of the sampler process of replica 0
    samples.jsonl, summary.json    merged result (written by the client)
A shard whose samples file exists is finished: that is the unit a rerun skips. The fingerprint
(hash of model path, settings and requests) guards reuse: finished shards of a different job are
cleared instead of being merged into this one.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemo_drift.generation.records import Sample, SampleRequest, read_samples, write_jsonl_atomic


@dataclass(frozen=True)
class ShardLayout:
    """Paths of a generation folder."""

    root: Path

    @property
    def settings_path(self) -> Path:
        return self.root / "settings.json"

    @property
    def shard_dir(self) -> Path:
        return self.root / "shards"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def merged_path(self) -> Path:
        return self.root / "samples.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    def requests_path(self, shard: int) -> Path:
        return self.shard_dir / f"requests_{shard:05d}.jsonl"

    def samples_path(self, shard: int) -> Path:
        return self.shard_dir / f"samples_{shard:05d}.jsonl"

    def log_path(self, replica: int) -> Path:
        return self.log_dir / f"replica_{replica}.log"

    def finished(self, shard: int) -> bool:
        """True when the sampler wrote this shard's samples (atomically, so existence means complete)."""
        return self.samples_path(shard).exists()


def split_requests(requests: list[SampleRequest], per_shard: int) -> list[list[SampleRequest]]:
    """Consecutive chunks of `per_shard` requests (the last may be shorter); order is kept."""
    return [requests[i:i + per_shard] for i in range(0, len(requests), per_shard)]


def assign_shards(shards: list[int], replicas: int) -> list[list[int]]:
    """Round-robin the shards over replicas; replicas with nothing to do get an empty list."""
    groups: list[list[int]] = [[] for _ in range(replicas)]
    for position, shard in enumerate(shards):
        groups[position % replicas].append(shard)
    return groups


def fingerprint(model_path: str, settings: dict[str, Any], requests: list[SampleRequest]) -> str:
    """Hash of what determines the samples; a finished shard is reused only under the same hash."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"model": model_path, "settings": settings}, sort_keys=True).encode())
    for request in requests:
        digest.update(json.dumps([request.prompt_id, request.prompt, request.prompt_token_ids]).encode())
    return digest.hexdigest()[:16]


def prepare_layout(layout: ShardLayout, shards: list[list[SampleRequest]], settings: dict[str, Any],
                   digest: str) -> None:
    """Write settings and request shards; clear finished shards left by a job with another fingerprint."""
    old = json.loads(layout.settings_path.read_text()).get("fingerprint") if layout.settings_path.exists() else None
    if old != digest and layout.shard_dir.exists():
        shutil.rmtree(layout.shard_dir)
    layout.shard_dir.mkdir(parents=True, exist_ok=True)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    tmp = layout.settings_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**settings, "fingerprint": digest}, indent=2, sort_keys=True))
    tmp.replace(layout.settings_path)
    for index, chunk in enumerate(shards):
        if not layout.finished(index):
            write_jsonl_atomic(layout.requests_path(index), chunk)


def merge_shards(layout: ShardLayout, shards: list[list[SampleRequest]]) -> list[Sample]:
    """All samples in request order (then sample index); fails if a prompt has no samples."""
    merged: list[Sample] = []
    for index, chunk in enumerate(shards):
        by_prompt: dict[str, list[Sample]] = {}
        for sample in read_samples(layout.samples_path(index)):
            by_prompt.setdefault(sample.prompt_id, []).append(sample)
        for request in chunk:
            found = by_prompt.get(request.prompt_id)
            if not found:
                raise RuntimeError(f"{layout.samples_path(index)}: no samples for prompt {request.prompt_id!r}; "
                                   "delete the file to regenerate that shard")
            merged.extend(sorted(found, key=lambda s: s.sample_index))
    return merged
