"""The utterance reader streams: peak memory stays flat on a 200 MB file (WildFeedback's is 1.6 GB)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))  # developer tools are scripts, not an installed package

from synthetic_annotation import write_annotation_file  # noqa: E402

CHILD = """
import json, sys
import psutil
from nemo_drift.data.extract import extract_conversation
from nemo_drift.data.formats import FORMATS
from nemo_drift.data.formats.common import Conversation
from nemo_drift.data.rows import iter_rows

baseline = psutil.Process().memory_info().rss
conversations = dsat = 0
for item in FORMATS["sat_dsat_annotation"].parse(iter_rows(sys.argv[1])):
    assert isinstance(item, Conversation), item
    conversations += 1
    dsat += len(extract_conversation(item, "train").dsat)
# VmHWM is this process image's peak; ru_maxrss would also count the parent's RSS at fork time.
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({"baseline": baseline, "peak": peak, "conversations": conversations, "dsat": dsat}))
"""


@pytest.mark.slow
def test_peak_rss_stays_flat_on_a_200mb_file(tmp_path: Path):
    path = tmp_path / "big.json"
    rows = write_annotation_file(path, target_bytes=200 * 2**20, pad_chars=1000)
    size = path.stat().st_size
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=300)
    finally:
        path.unlink()
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["conversations"] == rows // 5 == result["dsat"]
    growth = result["peak"] - result["baseline"]
    # Loose bound: json.load of this file needs several times its size; streaming needs buffers only.
    assert growth < 64 * 2**20, f"peak RSS grew {growth / 2**20:.0f} MiB reading a {size / 2**20:.0f} MiB file"
