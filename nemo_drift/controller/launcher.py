"""How a stage's process is started: a local subprocess (torchrun when it needs several ranks) or,
on a cluster, `srun` inside the job's allocation. The controller only builds a `LaunchSpec`; the
launcher turns it into a command line, runs it, and reports failures with the tail of its log.
Locally the log gets all the process's output and the console its results and progress bars, not
third-party warnings (nemo_drift.controller.console).
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from nemo_drift.controller.console import Console, Log, StreamSplitter, pump


@dataclass
class LaunchSpec:
    """One stage process: `python -m module args` on `nproc` ranks."""

    name: str
    """Stage name, for messages."""
    module: str
    """Python module run with `-m`."""
    args: list[str]
    python: str
    """Interpreter, from the config (`cluster.train_python`), never the controller's own: on a cluster
    the stage may run in an image where only the configured path exists."""
    nproc: int = 1
    """Ranks (one per GPU on a cluster; gloo processes on CPU)."""
    image: Optional[str] = None
    """Container image of the stage (srun launcher only; `cluster.container_image`)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the process."""
    log_path: Path | None = None
    """Where stdout+stderr go; the local launcher also shows stdout and progress bars on the console."""
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
        """Run the stage: its log gets all its output, the console its results and progress bars
        (console.py)."""
        cmd = self.command(spec)
        columns = str(shutil.get_terminal_size(fallback=(120, 24)).columns)  # bars fit the console, not the pipe
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": columns, **spec.env}
        log = Log(spec.log_path)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pumps = _start_pumps(proc, Console(sys.stdout), log)  # live: progress bars reach the console
        try:
            code = proc.wait(timeout=spec.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        finally:
            for thread in pumps:
                thread.join(timeout=10)
            log.close()
        if code is None:
            raise StageFailed(f"stage {spec.name} timed out after {spec.timeout_s:.0f}s: {shlex.join(cmd)}\n"
                              f"--- last lines of {spec.log_path} ---\n{log_tail(spec.log_path)}")
        if code != 0:
            raise StageFailed(f"stage {spec.name} failed (exit {code}): {shlex.join(cmd)}\n"
                              f"--- last lines of {spec.log_path} ---\n{log_tail(spec.log_path)}")


def _start_pumps(proc: subprocess.Popen, console: Console, log: Log) -> list[threading.Thread]:
    """One thread per stream: stdout's lines go to the console and the log, stderr's to the log only;
    progress redraws on either reach both."""
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [threading.Thread(target=pump, args=(stream, StreamSplitter(console, log, to_console)),
                              daemon=True)
             for stream, to_console in ((proc.stdout, True), (proc.stderr, False))]
    for thread in pumps:
        thread.start()
    return pumps


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
        layout = getattr(self.inner, "layout_note", None)
        if layout is not None:
            print(f"# {layout(spec)}")
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(spec.env.items()))
        print(f"[dry-run] {spec.name}: {env + ' ' if env else ''}{shlex.join(cmd)}")
