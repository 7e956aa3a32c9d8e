"""What the benchmark scripts share: running one measured path in a fresh process, and the JSON report."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]


def run_fresh(name: str, cmd: list[str]) -> dict[str, Any]:
    """Run `cmd` (a script printing one JSON object on its last stdout line) in a new process, so its
    peak memory is its own; a failure stops the benchmark with the child's stderr tail."""
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def emit(report: dict[str, Any], out: Optional[Path]) -> None:
    """Print the report as JSON on stdout (what tests/bench parse) and write it to `out` when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.write_text(text)
