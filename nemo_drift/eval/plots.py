"""Training-dynamics plots of a run, as in the DRIFT paper's Figure 5: DPO loss and the implicit
chosen/rejected rewards per optimizer step, one segment per iteration (warm start = iteration 0).

Input is the run's `metrics.jsonl` records (`iteration`, `step`, `loss`, `rewards/chosen`,
`rewards/rejected`, ...); output is PNG files in `plots/`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

PANELS = (("loss", "DPO loss"), ("rewards/chosen", "chosen reward"), ("rewards/rejected", "rejected reward"),
          ("rewards/accuracy", "preference accuracy"))


def _series(records: Sequence[dict[str, Any]], key: str) -> dict[int, tuple[list[int], list[float]]]:
    """iteration -> (global step, value) with steps made continuous across iterations."""
    out: dict[int, tuple[list[int], list[float]]] = {}
    offset, last_iter, last_step = 0, None, 0
    for rec in records:
        if key not in rec:
            continue
        it = int(rec.get("iteration", 0))
        if last_iter is not None and it != last_iter:
            offset += last_step
        last_iter, last_step = it, int(rec["step"])
        xs, ys = out.setdefault(it, ([], []))
        xs.append(offset + int(rec["step"]))
        ys.append(float(rec[key]))
    return out


def plot_training_dynamics(records: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write `training_dynamics.png` (4 panels) and return the written paths (empty without records)."""
    train_records = [r for r in records if "loss" in r]
    if not train_records:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (key, title) in zip(axes.flat, PANELS):
        for it, (xs, ys) in sorted(_series(train_records, key).items()):
            label = "warm start" if it == 0 else f"iteration {it}"
            ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.2, label=label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("optimizer step (across iterations)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("DPO training dynamics")
    return [_save(fig, out_dir / "training_dynamics.png")]


HELDOUT_SERIES = (("heldout_dsat", "held-out DSAT replies"), ("heldout_sat", "held-out SAT replies"))


def plot_heldout_trend(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write `heldout_trend.png`: per iteration, the change of the mean per-token log-prob of held-out DSAT
    and SAT replies against the base model, with standard-error bars; nothing without held-out figures."""
    points = {key: [(r["iteration"], r[key], r.get(f"{key}_se") or 0.0) for r in rows if r.get(key) is not None]
              for key, _ in HELDOUT_SERIES}
    if not any(points.values()):
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in HELDOUT_SERIES:
        if points[key]:
            xs, ys, errs = zip(*points[key])
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("iteration (0 = warm start)")
    ax.set_ylabel("per-token log-prob, policy - base")
    ax.set_xticks(sorted({x for series in points.values() for x, _, _ in series}))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Held-out learning signal")
    return [_save(fig, out_dir / "heldout_trend.png")]


def plot_margin_histograms(margins: Sequence[Any], tau: float, out_dir: Path) -> list[Path]:
    """Write `margin_histograms.png`: one panel per iteration (`IterationMargins` from
    nemo_drift/eval/margins.py), the implicit-reward margins of its pairs at the start and the end of the
    epoch, with the margin where sigma(-s) = tau marked; nothing without scored iterations."""
    import math

    panels = [m for m in margins if m.end]
    if not panels:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    learning_edge = math.log((1.0 - tau) / tau)  # sigma(-s) >= tau  <=>  s <= ln((1 - tau) / tau)
    for ax, m in zip(axes.flat, panels):
        values = [*m.start, *m.end]
        lo, hi = min(values), max(values)
        bins = [lo + (hi - lo) * i / 20 for i in range(21)] if hi > lo else 10
        ax.hist(m.start, bins=bins, alpha=0.55, label="start of epoch")
        ax.hist(m.end, bins=bins, alpha=0.55, label="end of epoch")
        if lo <= learning_edge <= hi:
            ax.axvline(learning_edge, color="black", linestyle="--", linewidth=1, label=f"sigma(-s) = {tau:g}")
        ax.set_title("warm start" if m.iteration == 0 else f"iteration {m.iteration}")
        ax.set_xlabel("margin s")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes[0][0].set_ylabel("pairs")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Implicit-reward margins of the pairs each iteration trained on")
    return [_save(fig, out_dir / "margin_histograms.png")]


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write at the report's resolution, and free the figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
