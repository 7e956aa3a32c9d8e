"""High-reward coverage: how much of a prompt's high-reward region each method's samples reach (DRIFT
paper, section 4.3; docs/paper-reference.md, "Diversity measure").

For one prompt, every method's N samples are embedded (`embed_texts`) and projected to 2-D together,
one projection over all methods' samples (`project_2d`); `coverage_shares` then works on the 2-D
points and the samples' rewards only (pure numpy/scipy, so it can be tested on synthetic points):

1. Z_all: a reward-weighted Gaussian KDE over ALL samples (`scipy.stats.gaussian_kde` with
   `weights=`), evaluated on a `grid_size` x `grid_size` grid that spans all points plus a margin of
   `GRID_MARGIN` (10%) of the span on each side. Rewards become weights by a min-max shift to [0, 1]
   plus `WEIGHT_EPS` (1e-3): the lowest-reward sample keeps a tiny positive weight, the result does
   not change when rewards are shifted or scaled by a positive factor, and equal rewards give equal
   weights (Z_all is then the unweighted KDE). The kernel (bandwidth) is scipy's default for that
   weighted KDE: Scott's factor on the effective sample size, times the weighted data covariance.
2. H, the high-reward region: the grid points where Z_all >= its `quantile` (0.8) quantile over the
   grid, i.e. the top 20% of the grid's area by reward-weighted density.
3. D_m: each method's own unweighted KDE on the same grid with the SAME kernel covariance as Z_all.
   scipy cannot be told that kernel: `gaussian_kde` always uses its own data set's covariance times
   a scalar factor, so no `bw_method` gives two data sets one kernel unless their covariances happen
   to be proportional. D_m (and D_all) are therefore evaluated here as the Gaussian mixture with
   Z_all's `covariance` matrix (`_kernel_density`); a test checks that this evaluator reproduces
   scipy's Z_all to rounding. With one kernel, D_all = sum_m (n_m / n) D_m exactly.
4. z_high, the density threshold: the `density_quantile` (0.8) quantile over the grid of D_all, the
   unweighted KDE of all samples together with the same kernel. Every method is judged against this
   one common threshold, and it is defined like H (same kind of quantile, same grid), but on where
   the samples are rather than where the reward is: a grid point counts as reached by a method when
   its density there is as high as the pooled samples' density is on their densest 20% of the map.
   Each D_m integrates to 1, so the threshold does not favour a method for having more samples.
5. Share(m) = |{g in H : D_m(g) >= z_high}| / |H|; `summary_table` averages shares over prompts.

H and z_high are quantiles over the grid, so they depend on the grid's extent (hence the fixed,
documented margin); UMAP spreads a prompt's samples over the plane, so the occupied area is a
large part of that grid in practice.

Grid layout everywhere: array[i, j] is the value at (x[j], y[i]), as `numpy.meshgrid(x, y)` and
matplotlib's `contourf(x, y, Z)` have it.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

WEIGHT_EPS = 1e-3
"""Added to min-max-scaled rewards so that every sample keeps a positive KDE weight."""

GRID_MARGIN = 0.1
"""Margin added on each side of the points' span, as a fraction of that span (per axis)."""

PLOT_SIZE_PX = (800, 650)
"""(width, height) in pixels of the PNG written by `plot_prompt_coverage`."""

_PLOT_DPI = 100


@dataclass(frozen=True, eq=False)
class PromptCoverage:
    """Result of `coverage_shares` for one prompt.

    shares: method -> Share(m) in [0, 1]. x, y: the grid axes (grid_size each). z_all: the
    reward-weighted KDE over all samples on the grid, [len(y), len(x)]. h_mask: bool, Z_all >= h_level.
    densities: method -> D_m on the grid (same kernel as z_all). d_all: the unweighted KDE of all
    samples with the same kernel. bandwidth: the 2x2 kernel covariance shared by every surface.
    bandwidth_factor: scipy's Scott factor for the weighted KDE (bandwidth = factor**2 x weighted data
    covariance). h_level: the quantile of z_all that defines H. z_high: the density threshold (the
    `density_quantile` quantile of d_all). quantile, density_quantile: the settings used.
    """

    shares: dict[str, float]
    x: np.ndarray
    y: np.ndarray
    z_all: np.ndarray
    h_mask: np.ndarray
    densities: dict[str, np.ndarray]
    d_all: np.ndarray
    bandwidth: np.ndarray
    bandwidth_factor: float
    h_level: float
    z_high: float
    quantile: float
    density_quantile: float

    def covered(self, method: str) -> np.ndarray:
        """Bool mask of the part of H that `method` reaches: h_mask & (D_m >= z_high)."""
        return self.h_mask & (self.densities[method] >= self.z_high)


def project_2d(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """UMAP projection of [n, dim] embeddings to [n, 2] float64 points (`umap-learn`,
    n_neighbors=min(15, n - 1), umap's other defaults). Project all methods' samples of one prompt in
    ONE call, so that their points share a map. A fixed `seed` makes the result reproducible (umap then
    runs single-threaded). The first call in a process compiles umap's numba code (tens of seconds)."""
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise ValueError(f"project_2d needs a 2-D array [n, dim], got shape {emb.shape}")
    n = emb.shape[0]
    if n < 3:
        raise ValueError(f"project_2d needs at least 3 samples (umap's n_neighbors >= 2), got {n}")
    if not np.all(np.isfinite(emb)):
        raise ValueError("project_2d: embeddings contain NaN or inf")
    import umap  # lazy: importing umap compiles numba code (seconds to tens of seconds)

    reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, n - 1))
    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": the determinism we asked for.
        warnings.filterwarnings("ignore", message=".*overridden to 1 by setting random_state.*")
        points = reducer.fit_transform(emb)
    return np.asarray(points, dtype=np.float64)


@functools.lru_cache(maxsize=2)
def _sentence_model(path: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, local_files_only=True)


def embed_texts(texts: list[str], model_path: str) -> np.ndarray:
    """Embed `texts` with the sentence-transformers model in the local folder `model_path`; returns
    [len(texts), dim] float32 (what the model's own modules give: MiniLM-L6 mean-pools and
    L2-normalises, dim 384). Never downloads: a path that is not an existing folder raises ValueError.
    The loaded model is cached per path, so repeated calls (one per prompt) load it once."""
    path = Path(model_path)
    if not path.is_dir():
        raise ValueError(f"embedding model folder {model_path} does not exist (a local folder is required; "
                         "nothing is downloaded)")
    if not texts:
        raise ValueError("embed_texts needs at least one text")
    model = _sentence_model(str(path.resolve()))
    emb = model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(emb, dtype=np.float32)


def _kernel_density(points: np.ndarray, weights: np.ndarray | None, covariance: np.ndarray,
                    grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE with a given kernel covariance: sum_i w_i N(g; p_i, covariance) / sum_i w_i for
    each row g of grid [G, 2] (the same estimate scipy's gaussian_kde computes once it has chosen its
    covariance). Uniform weights when `weights` is None."""
    chol = np.linalg.cholesky(covariance)
    # Whitened coordinates: |L^-1 (g - p)|^2 is the Mahalanobis distance under `covariance`.
    wp = np.linalg.solve(chol, points.T).T
    wg = np.linalg.solve(chol, grid.T).T
    w = np.full(len(points), 1.0 / len(points)) if weights is None else weights / weights.sum()
    norm = 1.0 / (2.0 * math.pi * float(np.prod(np.diag(chol))))
    out = np.empty(len(grid))
    for start in range(0, len(grid), 4096):  # bounds memory at 4096 x n distances
        d2 = ((wg[start:start + 4096, None, :] - wp[None, :, :]) ** 2).sum(-1)
        out[start:start + 4096] = np.exp(-0.5 * d2) @ w
    return out * norm


def _reward_weights(rewards: np.ndarray) -> np.ndarray:
    """KDE weights from rewards: min-max scaled to [0, 1] plus WEIGHT_EPS (all ones if rewards are all
    equal). Invariant to adding a constant to, or positively scaling, the rewards."""
    r = np.asarray(rewards, dtype=np.float64)
    span = float(r.max() - r.min())
    if span == 0.0:
        return np.ones_like(r)
    return (r - r.min()) / span + WEIGHT_EPS


def _validate(points: Mapping[str, np.ndarray], rewards: Mapping[str, np.ndarray]
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    if len(points) < 2:
        raise ValueError(f"coverage needs at least 2 methods to compare, got {len(points)}: {sorted(points)}")
    pts: dict[str, np.ndarray] = {}
    rws: dict[str, np.ndarray] = {}
    for method, p in points.items():
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
            raise ValueError(f"method {method!r}: points must be a non-empty [n, 2] array, got shape {p.shape}")
        if method not in rewards:
            raise ValueError(f"method {method!r} has points but no rewards")
        r = np.asarray(rewards[method], dtype=np.float64).reshape(-1)
        if len(r) != len(p):
            raise ValueError(f"method {method!r}: {len(p)} points but {len(r)} rewards")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(r))):
            raise ValueError(f"method {method!r}: points or rewards contain NaN or inf")
        pts[method], rws[method] = p, r
    extra = sorted(set(rewards) - set(points))
    if extra:
        raise ValueError(f"methods {extra} have rewards but no points")
    return pts, rws


def coverage_shares(points: dict[str, np.ndarray], rewards: dict[str, np.ndarray], quantile: float = 0.8,
                    grid_size: int = 100, *, density_quantile: float = 0.8) -> PromptCoverage:
    """Share of the high-reward region H that each method's samples reach, for one prompt (see the
    module docstring for the definitions of Z_all, H, D_m and z_high).

    points: method -> [n_m, 2] projected samples (one projection over all methods); rewards: method ->
    [n_m] rewards of the same samples. quantile: H is where Z_all >= its `quantile` quantile.
    density_quantile: z_high is the `density_quantile` quantile of D_all. grid_size: grid points per
    axis. Raises ValueError for fewer than 2 methods, mismatched lengths (naming the method), or
    points that lie on a line (no 2-D kernel exists for them)."""
    from scipy import stats

    for name, q in (("quantile", quantile), ("density_quantile", density_quantile)):
        if not 0.0 <= q < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {q}")
    if grid_size < 2:
        raise ValueError(f"grid_size must be >= 2, got {grid_size}")
    pts, rws = _validate(points, rewards)
    methods = list(pts)
    all_pts = np.concatenate([pts[m] for m in methods])
    weights = _reward_weights(np.concatenate([rws[m] for m in methods]))

    try:
        kde = stats.gaussian_kde(all_pts.T, weights=weights)
    except np.linalg.LinAlgError as exc:
        raise ValueError("coverage: the points are degenerate (all on one line or one point), so no 2-D "
                         "kernel exists") from exc
    covariance = np.array(kde.covariance, dtype=np.float64)

    lo, hi = all_pts.min(0), all_pts.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - GRID_MARGIN * span, hi + GRID_MARGIN * span
    x = np.linspace(lo[0], hi[0], grid_size)
    y = np.linspace(lo[1], hi[1], grid_size)
    gx, gy = np.meshgrid(x, y)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    shape = (grid_size, grid_size)

    z_all = kde(grid.T).reshape(shape)
    h_level = float(np.quantile(z_all, quantile))
    h_mask = z_all >= h_level
    densities = {m: _kernel_density(pts[m], None, covariance, grid).reshape(shape) for m in methods}
    n_total = len(all_pts)
    d_all = sum((len(pts[m]) / n_total) * densities[m] for m in methods)  # = the pooled unweighted KDE
    z_high = float(np.quantile(d_all, density_quantile))
    h_count = int(h_mask.sum())
    shares = {m: int((h_mask & (densities[m] >= z_high)).sum()) / h_count for m in methods}
    return PromptCoverage(shares=shares, x=x, y=y, z_all=z_all, h_mask=h_mask, densities=densities,
                          d_all=d_all, bandwidth=covariance, bandwidth_factor=float(kde.factor),
                          h_level=h_level, z_high=z_high, quantile=quantile, density_quantile=density_quantile)


def plot_prompt_coverage(result: PromptCoverage, points: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Write one PNG of PLOT_SIZE_PX pixels (matplotlib, Agg): the reward terrain Z_all (filled
    contours), the boundary of H (dashed black line), each method's points, and the part of H each method
    reaches (hatched, outlined in the method's colour; the legend gives the shares). Returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(PLOT_SIZE_PX[0] / _PLOT_DPI, PLOT_SIZE_PX[1] / _PLOT_DPI), dpi=_PLOT_DPI)
    try:
        terrain = ax.contourf(result.x, result.y, result.z_all, levels=14, cmap="Greys", alpha=0.85)
        fig.colorbar(terrain, ax=ax, label="reward-weighted density Z_all")
        handles = [Patch(facecolor="none", edgecolor="black", linewidth=1.8, linestyle="--",
                         label=f"high-reward region H (top {100 * (1 - result.quantile):.0f}% of Z_all)")]
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        hatches = ("//", "\\\\", "||", "--", "++", "xx", "..", "oo")
        for k, (method, share) in enumerate(result.shares.items()):
            color, hatch = colors[k % len(colors)], hatches[k % len(hatches)]
            covered = result.covered(method).astype(float)
            if covered.any():
                ax.contourf(result.x, result.y, covered, levels=[0.5, 1.5], colors="none", hatches=[hatch])
                ax.contour(result.x, result.y, covered, levels=[0.5], colors=[color], linewidths=1.2)
            p = np.asarray(points[method])
            ax.scatter(p[:, 0], p[:, 1], s=9, color=color, alpha=0.8, edgecolors="none")
            handles.append(Patch(facecolor=color, edgecolor=color, hatch=hatch, alpha=0.6,
                                 label=f"{method}: share of H {share:.2f}"))
        # H's boundary last, dashed, so a method's outline that follows it does not hide it.
        ax.contour(result.x, result.y, result.h_mask.astype(float), levels=[0.5], colors="black",
                   linewidths=1.8, linestyles="--")
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)
        ax.set_title(title)
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        fig.savefig(path, dpi=_PLOT_DPI)  # no bbox_inches="tight": it would change the pixel size
    finally:
        plt.close(fig)
    return path


def summary_table(shares_per_prompt: Sequence[dict[str, float]]) -> str:
    """Markdown table, one row per method (in order of first appearance): mean share over the prompts
    it appears in, sample standard deviation (ddof=1; 0 for a single prompt), number of prompts."""
    if not shares_per_prompt:
        raise ValueError("summary_table needs the shares of at least one prompt")
    per_method: dict[str, list[float]] = {}
    for shares in shares_per_prompt:
        for method, share in shares.items():
            per_method.setdefault(method, []).append(float(share))
    lines = ["| method | mean share | std | prompts |", "|---|---:|---:|---:|"]
    for method, values in per_method.items():
        arr = np.asarray(values)
        std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
        lines.append(f"| {method} | {arr.mean():.3f} | {std:.3f} | {len(arr)} |")
    return "\n".join(lines)
