"""Records and shard layout: plain Python, no vLLM, no megatron."""
from __future__ import annotations

import json
import subprocess

import pytest

from nemo_drift.generation.records import (Sample, SampleCounts, SampleProvenance, SampleRequest, flag_sample,
                                           keep_sample, read_requests, read_samples, write_jsonl_atomic)
from nemo_drift.generation.shards import ShardLayout, assign_shards, fingerprint, merge_shards, split_requests


def _sample(pid: str, index: int, text: str = "x", finish: str = "stop") -> Sample:
    empty, truncated = flag_sample(text, finish)
    return Sample(pid, index, text, [5, 2], finish, -1.5, empty, truncated,
                  provenance=SampleProvenance("/m", {"n": 2}))


def test_jsonl_round_trip_and_schema_guard(tmp_path):
    path = tmp_path / "s.jsonl"
    samples = [_sample("a", 0), _sample("a", 1, " ", "stop"), _sample("b", 0, "cut", "length")]
    assert write_jsonl_atomic(path, samples) == 3
    assert read_samples(path) == samples
    assert not list(tmp_path.glob(".*.tmp"))
    write_jsonl_atomic(tmp_path / "r.jsonl", [SampleRequest("p", "text", [1, 2])])
    assert read_requests(tmp_path / "r.jsonl") == [SampleRequest("p", "text", [1, 2])]
    path.write_text(json.dumps({"schema_version": 99, "prompt_id": "a"}) + "\n")
    with pytest.raises(ValueError, match=r"s.jsonl:1: schema_version 99"):
        read_samples(path)


def test_flags_policies_and_counts():
    assert flag_sample("  \n", "stop") == (True, False) and flag_sample("ok", "length") == (False, True)
    empty, cut, fine = _sample("a", 0, ""), _sample("a", 1, "cut", "length"), _sample("b", 0)
    assert not keep_sample(empty, "drop", "keep") and keep_sample(empty, "keep", "keep")
    assert not keep_sample(cut, "keep", "drop") and keep_sample(cut, "keep", "keep")
    counts = SampleCounts.of([empty, cut, fine], prompts=2, on_empty="drop", on_truncated="keep")
    assert (counts.samples, counts.empty, counts.truncated, counts.dropped_by_policy, counts.tokens) == (3, 1, 1, 1, 6)


def test_shards_split_assign_and_merge_in_prompt_order(tmp_path):
    requests = [SampleRequest(f"p{i}", f"t{i}") for i in range(5)]
    shards = split_requests(requests, 2)
    assert [[r.prompt_id for r in s] for s in shards] == [["p0", "p1"], ["p2", "p3"], ["p4"]]
    assert assign_shards([0, 1, 2], 2) == [[0, 2], [1]] and assign_shards([4], 3) == [[4], [], []]
    layout = ShardLayout(tmp_path)
    for index, chunk in enumerate(shards):  # written out of order, as a sampler might
        write_jsonl_atomic(layout.samples_path(index), [_sample(r.prompt_id, i) for r in reversed(chunk) for i in (1, 0)])
    merged = merge_shards(layout, shards)
    assert [(s.prompt_id, s.sample_index) for s in merged] == [(f"p{i}", j) for i in range(5) for j in (0, 1)]
    layout.samples_path(1).write_text("")
    with pytest.raises(RuntimeError, match="no samples for prompt 'p2'"):
        merge_shards(layout, shards)


def test_fingerprint_changes_with_model_settings_and_prompts():
    reqs = [SampleRequest("a", "x")]
    base = fingerprint("/m", {"n": 1}, reqs)
    assert base == fingerprint("/m", {"n": 1}, [SampleRequest("a", "x")])
    assert len({base, fingerprint("/m2", {"n": 1}, reqs), fingerprint("/m", {"n": 2}, reqs),
                fingerprint("/m", {"n": 1}, [SampleRequest("a", "y")])}) == 4


def test_generation_package_imports_in_gen_env_without_megatron(gen_python, repo_root):
    """The generation interpreter (Python 3.11, no megatron) imports every generation module, and
    importing them pulls in neither vLLM (until the sampler runs) nor megatron."""
    code = ("import sys; import nemo_drift.generation.sampler, nemo_drift.generation.client, "
            "nemo_drift.generation.records, nemo_drift.generation.shards, nemo_drift.config.generation; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('vllm', 'megatron')]; assert not bad, bad")
    subprocess.run([str(gen_python), "-c", code], check=True, cwd=repo_root)


def test_training_side_client_does_not_import_vllm():
    import sys

    import nemo_drift.generation.client  # noqa: F401

    assert "vllm" not in sys.modules
