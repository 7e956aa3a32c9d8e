"""Run each trainer worker configuration once per pytest process and share its report between tests."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.distributed import run_torchrun

WORKER = Path(__file__).with_name("dpo_worker.py")
_ROOT = Path(tempfile.mkdtemp(prefix="nemo_drift_trainer_tests_"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)  # ~2.5 GB of checkpoints per test run


@functools.lru_cache(maxsize=None)
def worker_report(model_path: str, nproc: int, scenario: str, tp: int = 1, pp: int = 1) -> dict[str, Any]:
    """The rank-0 report of `dpo_worker.py` for this configuration (runs it the first time only)."""
    tmp = _ROOT / f"{scenario}_n{nproc}_tp{tp}_pp{pp}"
    tmp.mkdir(parents=True, exist_ok=True)
    reports = run_torchrun(WORKER, nproc, [model_path, str(tmp / "out"), scenario, str(tp), str(pp)], tmp)
    assert len(reports) == 1, f"expected one report (rank 0), got {len(reports)}"
    return reports[0]
