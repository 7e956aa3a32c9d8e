"""The benchmark scripts run on a tiny CPU shape (so they cannot rot) and their numbers hang together."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))


def _run(*args: str) -> dict:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.index("{"):])


@pytest.mark.slow
def test_logprob_head_variants_compute_the_same_values():
    got = _run("bench/bench_logprobs.py", "--tokens", "16", "--rows", "4", "--hidden", "32", "--vocab", "512",
               "--steps", "1")
    sums = [got[v]["sum_logps"] for v in ("ours", "before", "megatron_labels", "peer_trl")]
    assert all(abs(x - sums[0]) < 1e-3 * abs(sums[0]) for x in sums), sums
    assert sums[0] < -100  # 32 response tokens x 4 rows of log(1/512)-ish values, not zeros
    assert got["ours"]["seconds_vs_ours"] == 1.0 and got["before"]["seconds"] > 0


@pytest.mark.slow
def test_dpo_step_bench_reports_ratios_and_starts_at_ln2():
    got = _run("bench/bench_dpo_step.py", "--steps", "1", "--warmup", "1", "--variants", "full")
    ours = got["ours_megatron_sdpa_precomputed_ref"]
    assert ours["first_loss"] == pytest.approx(math.log(2), abs=1e-5)  # reference = policy at step 1
    for key in ("ratio_tokens_per_s", "ratio_peak_memory", "ratio_tokens_per_s_vs_fp32_master_peer"):
        assert math.isfinite(got[key]) and got[key] > 0, key
    assert got["tokens_per_step"] == 2 * 2 * 128


@pytest.mark.slow
def test_memory_estimate_counts_parameters_and_optimizer_state_exactly():
    from bench_dpo_step import SHAPES, params_count

    got = _run("bench/estimate_dpo_memory.py", "--shape", "tiny", "--paths", "peer,ours,ours_recompute_full")
    n = params_count(SHAPES["tiny"])
    gib = 2 ** 30
    assert got["ours"]["param"] * gib == pytest.approx(2 * n, rel=1e-6)        # bf16 weights
    assert got["peer"]["param"] * gib == pytest.approx(2 * 2 * n, rel=1e-6)    # policy + resident reference
    assert got["ours"]["opt"] * gib == pytest.approx(4 * n, rel=1e-3)          # RMSprop: one fp32 tensor
    assert got["ours"]["oth"] * gib == pytest.approx(8 * n, rel=1e-3)          # fp32 main params + grad buffer
    assert got["ours_recompute_full"]["act"] < got["ours"]["act"]


def test_packing_workload_lengths_are_heavy_tailed_and_capped():
    from bench_dpo_step import SHAPES
    from bench_packing import LengthDistribution, Workload

    shape = SHAPES["small"]
    lengths = [p + c for p, c, _ in LengthDistribution().draw(4000, shape.seq, seed=0)]
    cut = [min(n, shape.seq) for n in lengths]
    assert sum(cut) / len(cut) > sorted(cut)[len(cut) // 2]  # mean above median: a right tail
    assert 0 < sum(n == shape.seq for n in cut) / len(cut) < 0.1  # a few fill the window, most do not
    uniform = Workload.build(shape, 2, 4, uniform=True)
    assert set(uniform.sequence_lengths(shape.seq, slice(None))) == {shape.seq}


@pytest.mark.slow
def test_packing_bench_packs_real_tokens_and_starts_at_ln2():
    got = _run("bench/bench_packing.py", "--shape", "tiny", "--steps", "1", "--pairs-per-step", "6")
    results = got["results"]
    for path in ("ours_padded", "ours_packed"):
        assert results[path]["first_loss"] == pytest.approx(math.log(2), abs=1e-5), path
    packed, padded = results["ours_packed"], results["ours_padded"]
    assert packed["real_share_of_computed_tokens"] > 0.95  # rows are rounded to 8 tokens only
    assert padded["real_share_of_computed_tokens"] < packed["real_share_of_computed_tokens"]
    assert len(packed["rows_per_step"]) == 2 and all(r >= 1 for r in packed["rows_per_step"])
    assert all(math.isfinite(v) and v > 0 for v in got["ratios"].values())
