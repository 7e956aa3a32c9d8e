"""Run a test body under torchrun with N gloo processes and collect what each rank reports.

A worker script calls `report(obj)` (from this module) on the ranks that matter; `run_torchrun`
returns the list of reported objects, ordered by rank. The worker's stderr is included in the
assertion message when it fails, so a failing rank is easy to read.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

_REPORT_ENV = "NEMO_DRIFT_TEST_REPORT_DIR"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_torchrun(script: Path, nproc: int, args: list[str], tmp_path: Path, timeout: float = 600) -> list[Any]:
    """Launch `script` with torchrun on `nproc` local processes and return the per-rank reports."""
    report_dir = tmp_path / f"reports_{script.stem}_{nproc}"
    report_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, _REPORT_ENV: str(report_dir), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           f"--master_port={_free_port()}", str(script), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"torchrun {script.name} (nproc={nproc}) failed with {proc.returncode}:\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    reports = sorted(report_dir.glob("rank*.json"), key=lambda p: int(p.stem[4:]))
    return [json.loads(p.read_text()) for p in reports]


def report(obj: Any) -> None:
    """Called inside a worker: record `obj` for this rank (JSON-serialisable)."""
    rank = int(os.environ.get("RANK", "0"))
    out = Path(os.environ[_REPORT_ENV]) / f"rank{rank}.json"
    out.write_text(json.dumps(obj))
