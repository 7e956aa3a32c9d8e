"""How a stage's process is started: a local subprocess (torchrun when it needs several ranks) or,
on a cluster, `srun` inside the job's allocation. The controller only builds a `LaunchSpec`; the
launcher turns it into a command line, runs it, and reports failures with the tail of its log.
"""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class LaunchSpec:
    """One stage process: `python -m module args` on `nproc` ranks."""

    name: str
    """Stage name, for messages."""
    module: str
    """Python module run with `-m`."""
    args: list[str]
    nproc: int = 1
    """Ranks (one per GPU on a cluster; gloo processes on CPU)."""
    python: str = sys.executable
    """Interpreter (the generation environment's for vLLM stages)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the process."""
    log_path: Path | None = None
    """Where stdout+stderr go (tee'd to the console by the local launcher)."""
    timeout_s: float | None = None


class StageFailed(RuntimeError):
    """A stage process exited non-zero or timed out; the message carries its log tail."""


def log_tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Launcher(Protocol):
    def command(self, spec: LaunchSpec) -> list[str]: ...
    def run(self, spec: LaunchSpec) -> None: ...


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalLauncher:
    """Runs stages on this machine: one process, or `torchrun --nproc_per_node N` for several ranks."""

    def command(self, spec: LaunchSpec) -> list[str]:
        if spec.nproc == 1:
            return [spec.python, "-m", spec.module, *spec.args]
        return [spec.python, "-m", "torch.distributed.run", f"--nproc_per_node={spec.nproc}",
                f"--master_port={_free_port()}", "-m", spec.module, *spec.args]

    def run(self, spec: LaunchSpec) -> None:
        cmd = self.command(spec)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        log = open(spec.log_path, "a") if spec.log_path else None  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        pump = threading.Thread(target=_pump, args=(proc, log), daemon=True)
        pump.start()  # stream: the stage's progress bars reach the console live
        try:
            code = proc.wait(timeout=spec.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        finally:
            pump.join(timeout=10)
            if log:
                log.close()
        if code is None:
            raise StageFailed(f"stage {spec.name} timed out after {spec.timeout_s:.0f}s: {shlex.join(cmd)}\n"
                              f"--- last lines of {spec.log_path} ---\n{log_tail(spec.log_path)}")
        if code != 0:
            raise StageFailed(f"stage {spec.name} failed (exit {code}): {shlex.join(cmd)}\n"
                              f"--- last lines of {spec.log_path} ---\n{log_tail(spec.log_path)}")


def _pump(proc: subprocess.Popen, log) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        if log:
            log.write(line)
            log.flush()


class DryRunLauncher:
    """Prints each stage's exact command and environment instead of running it (`run.dry_run=true`)."""

    def __init__(self, inner: Launcher):
        self.inner = inner
        self.commands: list[list[str]] = []
        self.generation = getattr(inner, "generation", None)
        """The inner launcher's generation-replica launcher (srun), if any."""

    def command(self, spec: LaunchSpec) -> list[str]:
        return self.inner.command(spec)

    def run(self, spec: LaunchSpec) -> None:
        cmd = self.command(spec)
        self.commands.append(cmd)
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(spec.env.items()))
        print(f"[dry-run] {spec.name}: {env + ' ' if env else ''}{shlex.join(cmd)}")
