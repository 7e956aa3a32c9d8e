"""Real vLLM (generation interpreter) sampling from the exported SmolLM2: n=2, chat template, stop
token, and a generation killed after its first shard that a rerun finishes without redoing it."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from nemo_drift.config.generation import GenerationConfig
from nemo_drift.generation.client import GenerationError, GenerationResult, LocalReplicaLauncher, generate
from nemo_drift.generation.records import SampleRequest, read_samples

QUESTIONS = ["Reply with the single word: yes.", "What is 2 + 2? Answer with a number only.",
             "Name one color.", "Say hello."]


class RecordingLauncher(LocalReplicaLauncher):
    """The local launcher, remembering the sampler processes so the test can kill one."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd, env, log, replica):
        proc = super().start(cmd, env, log, replica)
        self.procs.append(proc)
        return proc


def _requests(model_dir: Path) -> list[SampleRequest]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    return [SampleRequest(f"q{i}", tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                                           add_generation_prompt=True))
            for i, q in enumerate(QUESTIONS)]


@pytest.fixture(scope="module")
def killed_then_resumed(exported_smollm2, gen_python, tmp_path_factory) -> dict:
    """Run 1 is SIGKILLed once shard 0 is on disk; run 2 over the same folder finishes the rest."""
    model, out = exported_smollm2["hf"], tmp_path_factory.mktemp("gen") / "samples"
    cfg = GenerationConfig(python=str(gen_python), n=2, max_tokens=24, prompts_per_shard=1, seed=3)
    requests = _requests(model)
    launcher, errors = RecordingLauncher(), []

    def first_run() -> None:
        try:
            generate(requests, model, out, cfg, launcher=launcher)
        except GenerationError as err:
            errors.append(err)

    thread = threading.Thread(target=first_run)
    thread.start()
    shard0 = out / "shards" / "samples_00000.jsonl"
    deadline = time.monotonic() + 300
    while not shard0.exists() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shard0.exists(), "the first run never finished shard 0"
    os.killpg(launcher.procs[0].pid, signal.SIGKILL)
    thread.join(timeout=60)
    first_mtime = shard0.stat().st_mtime_ns
    finished_before = sorted(p.name for p in (out / "shards").glob("samples_*.jsonl"))
    result: GenerationResult = generate(requests, model, out, cfg)
    return {"errors": errors, "result": result, "out": out, "requests": requests, "shard0": shard0,
            "first_mtime": first_mtime, "finished_before": finished_before}


def test_kill_reports_crash_with_log_tail(killed_then_resumed):
    errors = killed_then_resumed["errors"]
    assert len(errors) == 1, "the killed run must fail, not hang or pass"
    message = str(errors[0])
    assert "exited with code -9" in message and "replica_0.log" in message and "[sampler r0]" in message


def test_rerun_samples_only_unfinished_shards(killed_then_resumed):
    result, before = killed_then_resumed["result"], killed_then_resumed["finished_before"]
    print(f"finished before the kill: {before}; rerun: reused {result.shards_reused}, ran {result.shards_run}")
    assert result.shards_total == 4
    assert 1 <= result.shards_reused == len(before) < 4
    assert result.shards_run == 4 - len(before)
    assert killed_then_resumed["shard0"].stat().st_mtime_ns == killed_then_resumed["first_mtime"]


def test_samples_parse_in_prompt_order_with_n2(killed_then_resumed):
    result, requests = killed_then_resumed["result"], killed_then_resumed["requests"]
    samples = read_samples(result.samples_path)
    assert [(s.prompt_id, s.sample_index) for s in samples] == [(r.prompt_id, i) for r in requests for i in (0, 1)]
    assert result.counts.samples == 8 and result.counts.prompts == 4
    for sample in samples:
        assert sample.token_ids and sample.cumulative_logprob is not None
        assert sample.provenance is not None and sample.provenance.settings["n"] == 2
        assert sample.provenance.model_path == str(Path(sample.provenance.model_path).resolve())
        assert sample.truncated == (sample.finish_reason == "length")
    assert result.counts.truncated == sum(s.truncated for s in samples)


def test_stop_token_ends_replies(killed_then_resumed):
    samples = killed_then_resumed["result"].samples
    stopped = [s for s in samples if s.finish_reason == "stop"]
    assert stopped, "no reply ended on <|im_end|> within 24 tokens"
    for sample in stopped:
        assert sample.token_ids[-1] == 2  # SmolLM2's <|im_end|>
        assert 2 in sample.provenance.settings["stop_token_ids"]
        assert "<|im_end|>" not in sample.text and "<|im_start|>" not in sample.text
    for sample in samples:
        assert 2 not in sample.token_ids[:-1]  # nothing continues past the end of a turn
